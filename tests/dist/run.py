#!/usr/bin/env python3
"""Dist suite (`make dist-test`): what users get, tested for real.

- the binaries of `make dist`, every arch, under qemu-user as PID 1
  (test_binaries.py);
- the .deb of `make deb`, installed with apt-get in a Debian 12 container
  (test_deb.py);
- docker/Dockerfile built with podman for two platforms into one manifest
  (test_docker.py);
- the Kubernetes examples under `podman kube play` (test_kube.py).

Needs root, qemu-user-static, mmdebstrap and podman (scripts/deps.sh). The
Debian root the container tests use is made once with mmdebstrap and kept in
$OXINIT_CACHE (default /var/cache/oxinit-test).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_binaries  # noqa: E402,F401
for mod in ("test_deb", "test_docker", "test_kube"):
    try:
        __import__(mod)
    except ModuleNotFoundError as e:
        if e.name != mod:
            raise
from harness import main  # noqa: E402

if os.geteuid() != 0:
    print("dist: these tests need root (unshare --pid, podman)")
    print("dist: 0 passed, 1 failed")
    sys.exit(1)
main("dist")
