#!/usr/bin/env python3
"""`make test`: every suite in turn, then one closing line for all of them.

Each suite is a command that prints its own "N passed, N failed" line (the
doctest binary prints its own summary, parsed here). A suite that cannot run
(a tool missing, a build failing) counts as failed: nothing passes silently.
Run a subset with: tests/run_all.py unit integration
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable or "/usr/bin/python3"

# Through make, so each suite first builds what it runs (a fresh clone has
# no build/ yet).
SUITES = [
    ("unit", ["make", "-s", "unit"], 600),
    ("docs", ["make", "-s", "docs"], 300),
    ("integration", ["make", "-s", "integration"], 900),
    ("container", ["make", "-s", "container"], 900),
    ("vm", ["make", "-s", "vm"], 900),
    ("dist", ["make", "-s", "dist-test"], 3600),
    ("bench", ["make", "-s", "bench-smoke"], 600),
    # `make check-all`, a suite each, so a slow one (ASan under load) is
    # bounded on its own and the others still report.
    ("asan", ["make", "-s", "asan"], 1500),
    ("fuzz", ["make", "-s", "fuzz"], 900),
    ("lint", ["make", "-s", "lint"], 900),
]


def counts(output):
    """Adds up every summary a suite printed: doctest's, and the plain
    "N passed, N failed" lines (check-all runs several suites in one)."""
    found = [(int(p), int(f)) for _, p, f in
             re.findall(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", output)]
    found += [(int(p), int(f)) for p, f in
              re.findall(r"^(?:\S+: )?(\d+) passed, (\d+) failed", output, re.M)]
    if not found:
        return None
    return sum(p for p, _ in found), sum(f for _, f in found)


def main():
    wanted = sys.argv[1:]
    total_p = total_f = 0
    summary = []
    for name, cmd, limit in SUITES:
        if wanted and name not in wanted:
            continue
        print(f"=== {name}: {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            # The limit holds even for a suite that hangs with its output
            # open: the whole session (make and what it started) is killed.
            expired = []

            def kill_suite():
                expired.append(True)
                os.killpg(proc.pid, signal.SIGKILL)
            timer = threading.Timer(limit, kill_suite)
            timer.start()
            out = []
            try:
                for raw in proc.stdout:
                    line = raw.decode(errors="replace")
                    out.append(line)
                    sys.stdout.write(line)
                    sys.stdout.flush()
                rc = proc.wait()
            finally:
                timer.cancel()
            if expired:
                out.append(f"{name}: killed after its limit of {limit}s\n")
                print(out[-1], end="")
        except OSError as e:
            rc, out = 1, [f"{name}: could not run: {e}\n"]
            print(out[0], end="")
        text = "".join(out)
        c = counts(text)
        if c is None:
            p, f = 0, 1  # printed no count: it did not run
        else:
            p, f = c
        if rc != 0 and f == 0:
            f = 1  # exited non-zero without saying which test failed
        total_p += p
        total_f += f
        summary.append(f"{name}: {p} passed, {f} failed (exit {rc}, {time.monotonic() - t0:.0f}s)")
    print("=== summary")
    for s in summary:
        print(s)
    print(f"{total_p} passed, {total_f} failed", flush=True)
    sys.exit(1 if total_f or not total_p else 0)


if __name__ == "__main__":
    main()
