#!/usr/bin/env bash
# Sets up everything Shoal needs (skipping what is present), builds the
# release console, server and agent, and runs the server on SQLite in ./data
# with one local agent joined as a worker node. ctrl-c stops both.
# Extra arguments go to shoal-server (see `shoal-server --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

scripts/setup.sh
step "building the console and server (release)"
# --split: the console's lazy routes become wasm files of their own
# (app/src/lib.rs); without it the bundle cannot load.
cargo leptos build --release --split
step "building the agent (release)"
# The same RUSTFLAGS as cargo-leptos gives the server (always-erase-components
# in Cargo.toml): the agent then reuses the server's compiled dependencies
# instead of building them all again. The agent has no views to erase.
RUSTFLAGS="--cfg erase_components" cargo build --release -p shoal-agent

data="${SHOAL_DATA_DIR:-./data}"
listen="${SHOAL_LISTEN:-127.0.0.1:8300}"
agent_listen="${SHOAL_AGENT_LISTEN:-127.0.0.1:8302}"
export SHOAL_DATA_DIR="$data" SHOAL_LISTEN="$listen" SHOAL_AGENT_LISTEN="$agent_listen"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM

step "starting shoal-server"
target/release/shoal-server "$@" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs "http://$listen/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

agent_dir="$data/local-agent"
if [ -f "$agent_dir/node.json" ]; then
  step "starting the local agent (already joined)"
  target/release/shoal-agent run --data-dir "$agent_dir" &
  pids+=($!)
elif docker info >/dev/null 2>&1; then
  step "joining this host as a worker node"
  token=$(target/release/shoal-server admin join-token worker)
  target/release/shoal-agent join --token "$token" --data-dir "$agent_dir" "127.0.0.1:${agent_listen##*:}" &
  pids+=($!)
else
  echo "run: no Docker engine answers here, so no local agent is started (scripts/ensure-docker.sh starts one)" >&2
fi
wait "${pids[0]}"
