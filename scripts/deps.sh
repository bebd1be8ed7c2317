#!/bin/sh
# Checks (and with --install, installs) the Debian packages that building and
# testing oxinit need. `make` and `make test` call it; .ci/run calls --install.
set -eu
BUILD_PKGS="meson ninja-build g++ musl-tools doctest-dev python3"
TEST_PKGS="util-linux procps kmod e2fsprogs busybox-static podman runc uidmap slirp4netns fuse-overlayfs qemu-system-x86 cpio tini dumb-init catatonit clang libclang-rt-14-dev clang-tidy cppcheck groff-base"
case "${1:-}" in
  --build) pkgs="$BUILD_PKGS" ;;
  *) pkgs="$BUILD_PKGS $TEST_PKGS" ;;
esac
install=0
for a in "$@"; do [ "$a" = --install ] && install=1; done
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$install" = 1 ] || [ "$(id -u)" = 0 ]; then
  echo "deps: installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends $missing >/dev/null || {
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
else
  echo "deps: missing packages; run: sudo apt-get install -y$missing" >&2
  exit 1
fi
