#!/usr/bin/env python3
"""Integration suite: build/oxinit for real, as PID 1 of a new PID namespace."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_exec  # noqa: E402,F401
try:
    import test_services  # noqa: E402,F401
except ModuleNotFoundError as e:
    if e.name != "test_services":
        raise
try:
    import test_hardening  # noqa: E402,F401
except ModuleNotFoundError as e:
    if e.name != "test_hardening":
        raise
import test_trust  # noqa: E402,F401
import test_config  # noqa: E402,F401
import test_contain  # noqa: E402,F401
import test_ready  # noqa: E402,F401
import test_ctl  # noqa: E402,F401
from harness import main  # noqa: E402

if os.geteuid() != 0:
    print("integration: these tests need root (unshare --pid)")
    print("integration: 0 passed, 1 failed")
    sys.exit(1)
main("integration")
