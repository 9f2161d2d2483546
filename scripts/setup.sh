#!/usr/bin/env bash
# Installs what building and testing Shoal needs on a fresh Debian machine with
# Rust 1.95 and Docker. Every step is skipped when its tool is already there,
# so running it again takes seconds.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/setup.sh [--with-browser] [--with-registry]

Installs, each only when missing:
  - the wasm32-unknown-unknown Rust target
  - cargo-leptos 0.3.10 (about 25 minutes to compile on 2 cores)
  - wasm-bindgen-cli at exactly the version in Cargo.lock
  - wasm-opt from crates.io (Debian's binaryen breaks release builds)
  - with --with-browser: chromium and chromium-driver (Debian packages),
    and axe-core (the PyPI package axe-core-python) for the accessibility
    check the browser tests run on every page
  - with --with-registry: docker-registry (Debian's package), for the
    webhook test that pushes to a real registry
USAGE
}

with_browser=0
with_registry=0
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=1 ;;
    --with-registry) with_registry=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup: unknown argument $arg" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# The tools' own release profiles ask for full LTO with one codegen unit,
# which triples their build time on 2 cores for no benefit to us.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

apt_updated=0
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install Debian packages: $*; run 'sudo apt-get install $*' and try again" >&2
    exit 1
  fi
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q '0\.3\.10'; then
  step "installing cargo-leptos 0.3.10 (about 25 minutes on 2 cores; only once)"
  cargo install cargo-leptos --version 0.3.10 --locked --features no_downloads
fi

wbg_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q " $wbg_version\$"; then
  step "installing wasm-bindgen-cli $wbg_version (matches Cargo.lock)"
  # Without --locked: its own lock file names a crate version this registry lacks.
  cargo install wasm-bindgen-cli --version "$wbg_version" --force
fi

if [ ! -x "$HOME/.cargo/bin/wasm-opt" ]; then
  step "installing wasm-opt from crates.io (about 10 minutes; only once)"
  cargo install wasm-opt --locked
fi

if [ "$with_browser" = 1 ]; then
  if ! have chromium || ! have chromedriver; then
    step "installing chromium and chromium-driver"
    apt_install chromium chromium-driver
  fi
  if ! python3 -c 'import axe_core_python' 2>/dev/null; then
    step "installing axe-core (axe-core-python from PyPI)"
    python3 -m pip install --quiet --root-user-action=ignore axe-core-python==0.1.0
  fi
fi

# Service networks: the agent adds a NAT rule in each networked container's
# namespace, and tests make namespaces of their own.
if ! have iptables || ! have unshare; then
  step "installing iptables and util-linux (service networks)"
  apt_install iptables util-linux
fi

if [ "$with_registry" = 1 ] && ! have docker-registry; then
  step "installing docker-registry"
  apt_install docker-registry
fi

step "setup complete"
