#!/usr/bin/env bash
# Sets up everything the tests need (skipping what is present) and runs the
# whole suite: formatting, lints, the release build, unit, integration, Docker
# and browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# A from-scratch run gains nothing from incremental caches, and they would
# double the debug build's size on disk.
export CARGO_INCREMENTAL=0

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

scripts/setup.sh --with-browser --with-registry
scripts/ensure-docker.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (server side and tests)"
cargo clippy --workspace --exclude shoal-frontend --all-targets -- -D warnings
step "cargo clippy (wasm front end)"
cargo clippy -p shoal-frontend --target wasm32-unknown-unknown -- -D warnings

# The browser tests run against this build: a broken wasm-opt shows only in
# a browser, never in the build's exit code.
# --split: the console's lazy routes become wasm files of their own
# (app/src/lib.rs); without it the bundle cannot load.
step "cargo leptos build --release --split"
cargo leptos build --release --split
step "cargo build --release -p shoal-agent (for the browser tests' nodes)"
# The same RUSTFLAGS as cargo-leptos gives the server (always-erase-components
# in Cargo.toml): the agent then reuses the server's compiled dependencies
# instead of building them all again. The agent has no views to erase.
RUSTFLAGS="--cfg erase_components" cargo build --release -p shoal-agent

# The images the Docker tests run; built here once rather than by whichever
# test comes first.
step "demo images"
scripts/build-demo-images.sh

# The front end is left out: it is the wasm crate, built above, and unifying
# its `hydrate` feature with the server's `ssr` would build a third variant.
step "cargo test"
cargo test --workspace --exclude shoal-frontend

step "all tests passed"
