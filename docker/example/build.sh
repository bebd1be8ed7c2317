#!/bin/sh
# Build the example image from local files: build/oxinit and a static busybox.
# Usage: docker/example/build.sh [podman|docker] [TAG]
set -eu
engine=${1:-podman}
tag=${2:-oxinit-example}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
oxinit=${OXINIT:-$root/build/oxinit}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$oxinit" ] || { echo "build.sh: $oxinit missing: run make" >&2; exit 1; }
# A FROM scratch image has no dynamic loader: both binaries must be static.
for b in "$oxinit" "$busybox"; do
  if grep -q -e /ld-linux -e /ld-musl "$b"; then
    echo "build.sh: $b is dynamically linked (busybox: apt-get install busybox-static)" >&2
    exit 1
  fi
done
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp -a "$here/Dockerfile" "$here/rootfs" "$ctx/"
cp "$oxinit" "$ctx/oxinit"
cp "$busybox" "$ctx/busybox"
"$engine" build --network none -t "$tag" "$ctx"
