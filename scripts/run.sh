#!/usr/bin/env bash
# Sets up everything Shoal needs (skipping what is present), builds the release
# console and server, and runs the server on SQLite in ./data.
# Extra arguments go to shoal-server (see `shoal-server --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh
printf '\033[1m==> building the console and server (release)\033[0m\n'
cargo leptos build --release
printf '\033[1m==> starting shoal-server (ctrl-c stops it)\033[0m\n'
exec target/release/shoal-server --data-dir "${SHOAL_DATA_DIR:-./data}" "$@"
