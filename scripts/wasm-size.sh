#!/usr/bin/env bash
# Prints the size of the console's wasm as browsers download it: raw and
# gzipped (gzip -9), for every file in target/site/pkg, as built by
# `cargo leptos build --release --split` (run that first, or pass --build),
# then what every page loads (shoal.wasm and the JS) and what the lazy
# routes' chunks add, fetched only when such a page is shown.
#
#   scripts/wasm-size.sh              sizes of target/site/pkg/*
#   scripts/wasm-size.sh --build      cargo leptos build --release --split first
#   scripts/wasm-size.sh --breakdown  also where the main module's bytes go,
#                                     by crate: runs wasm-bindgen and wasm-opt
#                                     (the flags cargo-leptos uses, plus -g to
#                                     keep the function names) on the split
#                                     cargo output in target/front, then
#                                     scripts/wasm-breakdown.py
#
# SHOAL_TARGET_DIR moves target/ (e.g. a private CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

build=0
breakdown=0
for arg in "$@"; do
  case "$arg" in
    --build) build=1 ;;
    --breakdown) breakdown=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "wasm-size: unknown argument $arg" >&2; exit 2 ;;
  esac
done

target="${SHOAL_TARGET_DIR:-target}"
if [ "$build" = 1 ]; then
  cargo leptos build --release --split
fi

pkg="$target/site/pkg"
shopt -s nullglob
files=("$pkg"/*.wasm "$pkg"/*.js)
if [ ${#files[@]} -eq 0 ]; then
  echo "wasm-size: nothing in $pkg: run 'cargo leptos build --release --split' (or pass --build)" >&2
  exit 1
fi

printf '%-40s %12s %12s\n' file raw gzip-9
every=0
lazy=0
for file in "${files[@]}"; do
  raw=$(wc -c <"$file")
  gz=$(gzip -9 -c "$file" | wc -c)
  printf '%-40s %12s %12s   (%d KB raw, %d KB gzipped)\n' "$file" "$raw" "$gz" $(((raw + 512) / 1024)) $(((gz + 512) / 1024))
  case "$(basename "$file")" in
    shoal.wasm | shoal.js | __wasm_split*.js) every=$((every + gz)) ;;
    *.wasm) lazy=$((lazy + gz)) ;;
  esac
done
echo
echo "every page loads: $every bytes gzipped ($(((every + 512) / 1024)) KB: shoal.wasm and the JS)"
echo "lazy routes' chunks: $lazy bytes gzipped ($(((lazy + 512) / 1024)) KB, fetched when such a page is shown)"

if [ "$breakdown" = 1 ]; then
  # The main module as `--split` leaves it, before wasm-bindgen.
  input="$target/front/wasm32-unknown-unknown/wasm-release/shoal_frontend_split.wasm"
  if [ ! -f "$input" ]; then
    echo "wasm-size: $input is missing: run 'cargo leptos build --release --split'" >&2
    exit 1
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  wasm-bindgen --target web --keep-lld-exports --out-name shoal_frontend --out-dir "$work" "$input"
  # The flags Cargo.toml has cargo-leptos pass to wasm-opt, plus -g for the names.
  wasm-opt -Oz --one-caller-inline-max-function-size=0 --enable-bulk-memory --enable-nontrapping-float-to-int -g \
    "$work/shoal_frontend_bg.wasm" -o "$work/named.wasm"
  echo
  python3 scripts/wasm-breakdown.py "$work/named.wasm" --top "${SHOAL_BREAKDOWN_TOP:-30}"
fi
