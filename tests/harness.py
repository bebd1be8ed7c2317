"""A tiny test harness shared by the integration, container and VM suites.

Stdlib only (Debian's python3), so a fresh machine needs nothing from PyPI.
Usage in a suite:

    from harness import test, main
    @test
    def exit_code_passes_through(): ...
    if __name__ == "__main__": main()

Each test runs in-process with a per-test time bound (SIGALRM); a failing
assertion or exception marks it failed. The last line is the plain
"N passed, N failed" that CI reads. Filter with: run.py -k SUBSTRING; leave
out tests that do not apply to a build (e.g. the static-binary check against
an ASan build) with -x SUBSTRING (repeatable; each one is listed as "skip").
"""
import os
import signal
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OXINIT = os.environ.get("OXINIT", os.path.join(ROOT, "build", "oxinit"))

_tests = []


def test(fn=None, *, timeout=60):
    """Register a test; timeout bounds its whole run in seconds."""
    def reg(f):
        _tests.append((f.__name__, f, timeout))
        return f
    return reg(fn) if fn else reg


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout("test exceeded its time bound")


def wait_until(pred, timeout=10.0, step=0.02, what="condition"):
    """Poll pred() until true or timeout (bounded in time and count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def main(suite_name=None):
    name = suite_name or os.path.basename(os.path.dirname(os.path.abspath(sys.argv[0])))
    only = None
    if "-k" in sys.argv:
        only = sys.argv[sys.argv.index("-k") + 1]
    excluded = [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "-x"]
    signal.signal(signal.SIGALRM, _alarm)
    passed = failed = 0
    failures = []
    for tname, fn, tmo in _tests:
        if only and only not in tname:
            continue
        if any(x in tname for x in excluded):
            print(f"skip {name}/{tname} (excluded with -x)", flush=True)
            continue
        start = time.monotonic()
        signal.alarm(tmo)
        try:
            fn()
            ok, err = True, None
        except BaseException as e:  # noqa: BLE001 - a test harness reports everything
            if isinstance(e, KeyboardInterrupt):
                raise
            ok, err = False, traceback.format_exc()
        finally:
            signal.alarm(0)
        dt = time.monotonic() - start
        if ok:
            passed += 1
            print(f"ok   {name}/{tname} ({dt:.2f}s)", flush=True)
        else:
            failed += 1
            failures.append(tname)
            print(f"FAIL {name}/{tname} ({dt:.2f}s)\n{err}", flush=True)
    if failures:
        print(f"{name}: failed: {', '.join(failures)}")
    print(f"{name}: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or passed == 0 else 0)
