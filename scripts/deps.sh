#!/bin/sh
# Checks (and with --install, installs) the Debian packages that building and
# testing oxinit need. `make` and `make test` call it; .ci/run calls --install.
#   deps.sh --build     what `make` needs
#   deps.sh --dist      what `make dist` needs: the cross compilers and the
#                       multiarch musl-dev:ARCH of every arch (build-aux/musl-machine.py),
#                       or of the arches in $DIST_ARCHES
#   deps.sh             everything, for `make test`
# musl-dev:ARCH needs `dpkg --add-architecture ARCH`, done here before installing.
set -eu
cd "$(dirname "$0")/.."
BUILD_PKGS="meson ninja-build g++ musl-tools doctest-dev python3"
TEST_PKGS="util-linux procps strace kmod e2fsprogs busybox-static podman runc uidmap slirp4netns fuse-overlayfs qemu-system-x86 cpio tini dumb-init catatonit clang libclang-rt-14-dev clang-tidy cppcheck groff-base qemu-user-static mmdebstrap"
case "${1:-}" in
  --build) pkgs="$BUILD_PKGS"; dist=0 ;;
  --dist) pkgs="$BUILD_PKGS"; dist=1 ;;
  *) pkgs="$BUILD_PKGS $TEST_PKGS"; dist=1 ;;
esac
install=0
for a in "$@"; do [ "$a" = --install ] && install=1; done

missing_of() {
  m=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || m="$m $p"
  done
  echo "$m"
}

install_pkgs() {
  [ -z "$1" ] && return 0
  if [ "$install" = 1 ] || [ "$(id -u)" = 0 ]; then
    echo "deps: installing:$1" >&2
    export DEBIAN_FRONTEND=noninteractive
    # A half-synced mirror fails one index of many; what the install needs
    # is checked by the install itself.
    # A mirror mid-sync heals within minutes: refresh the indexes and retry.
    try=1
    until apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends $1 >/dev/null; do
      if [ "$try" -ge 4 ]; then
        echo "deps: apt-get install failed $try times:$1" >&2
        exit 1
      fi
      echo "deps: apt-get install failed (try $try of 4); refreshing the indexes" >&2
      try=$((try + 1))
      sleep 20
      apt-get -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3 update -q >/dev/null || true
    done
  else
    echo "deps: missing packages; run: sudo apt-get install -y$1" >&2
    exit 1
  fi
}

install_pkgs "$(missing_of $pkgs)"

if [ "$dist" = 1 ]; then
  cross=$(python3 build-aux/musl-machine.py --packages ${DIST_ARCHES:-})
  missing=$(missing_of $cross)
  if [ -n "$missing" ]; then
    for p in $missing; do
      case "$p" in *:*)
        arch=${p#*:}
        if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
          if [ "$install" = 1 ] || [ "$(id -u)" = 0 ]; then
            echo "deps: dpkg --add-architecture $arch" >&2
            dpkg --add-architecture "$arch"
            added=1
          else
            echo "deps: run: sudo dpkg --add-architecture $arch" >&2
          fi
        fi ;;
      esac
    done
    if [ "${added:-0}" = 1 ]; then
      apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null || true
    fi
    install_pkgs "$missing"
  fi
fi
exit 0
