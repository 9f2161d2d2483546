#!/usr/bin/env bash
# Builds the shoal-demo binary statically and packages it into three local
# images FROM scratch: <repo>:v1, <repo>:v2 and <repo>:bad. Nothing is pulled.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/build-demo-images.sh [REPO]

Builds shoal-demo as a static binary and packages it FROM scratch into:

  REPO:v1   SHOAL_DEMO_VERSION=v1, healthy
  REPO:v2   SHOAL_DEMO_VERSION=v2, healthy
  REPO:bad  SHOAL_DEMO_VERSION=bad, SHOAL_DEMO_FAIL=health (/health answers 503)

Each image listens on 8080, carries the label shoal.demo=1 and a HEALTHCHECK
running `/shoal-demo check` every 2s. No base image is pulled.

REPO defaults to $SHOAL_DEMO_REPO, else "shoal-demo". The binary is built in
$CARGO_TARGET_DIR/demo (else target/demo) so the workspace's usual build
cache stays untouched. Running the script again rebuilds and retags; images
the new tags replace are removed. The images carry the label
shoal.demo.revision, which the tests' harness checks before using them.
EOF
}

case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
esac
if [[ $# -gt 1 ]]; then
    usage >&2
    exit 2
fi

repo="${1:-${SHOAL_DEMO_REPO:-shoal-demo}}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target=x86_64-unknown-linux-gnu
target_dir="${CARGO_TARGET_DIR:-$root/target}/demo"
binary="$target_dir/$target/release/shoal-demo"
# Raised whenever the program gains a route or a subcommand that tests use,
# so that a test harness rebuilds images older than what it needs.
revision=3

echo "==> building a static shoal-demo ($target, release)"
# An explicit --target keeps RUSTFLAGS off build scripts, which must not be
# static; `$CARGO` is the cargo that runs us when a test calls this script.
(cd "$root" && RUSTFLAGS="-C target-feature=+crt-static" "${CARGO:-cargo}" build \
    --release -p shoal-demo --target "$target" --target-dir "$target_dir")

# A scratch image has no dynamic loader, so a dynamic binary would fail only
# when a container starts, with a confusing "no such file or directory".
if command -v ldd >/dev/null && ldd "$binary" 2>&1 | grep -q '=>'; then
    echo "error: $binary is dynamically linked:" >&2
    ldd "$binary" >&2
    exit 1
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/shoal-demo"

# The shared part comes first so all three images share its layers.
common='FROM scratch
COPY shoal-demo /shoal-demo
USER 65534:65534
EXPOSE 8080
HEALTHCHECK --interval=2s --timeout=2s --retries=2 CMD ["/shoal-demo", "check"]
ENTRYPOINT ["/shoal-demo"]
LABEL shoal.demo="1"
LABEL shoal.demo.revision="'"$revision"'"'

build() {
    local tag="$1" env="$2"
    local image="$repo:$tag" old new
    old="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
    printf '%s\nLABEL shoal.demo.version="%s"\nENV %s\n' "$common" "$tag" "$env" \
        >"$context/Dockerfile.$tag"
    # The classic builder needs nothing beyond the engine (no BuildKit, no
    # buildx) and, with FROM scratch, never contacts a registry.
    DOCKER_BUILDKIT=0 docker build --quiet --file "$context/Dockerfile.$tag" \
        --tag "$image" "$context" >/dev/null
    new="$(docker image inspect --format '{{.Id}}' "$image")"
    # Rebuilding after a code change leaves the previous image untagged;
    # remove it unless a container still uses it.
    if [[ -n "$old" && "$old" != "$new" ]] &&
        [[ "$(docker image inspect --format '{{len .RepoTags}}' "$old" 2>/dev/null)" == 0 ]]; then
        docker image rm "$old" >/dev/null 2>&1 || true
    fi
}

echo "==> building images FROM scratch"
build v1 'SHOAL_DEMO_VERSION=v1'
build v2 'SHOAL_DEMO_VERSION=v2'
build bad 'SHOAL_DEMO_VERSION=bad SHOAL_DEMO_FAIL=health'

echo "==> built"
for tag in v1 v2 bad; do
    docker image inspect --format "$repo:$tag  {{.Id}}  {{.Size}} bytes" "$repo:$tag"
done
