"""Records every signal it receives (one number per line in argv[1]).
Writes "ready" to argv[1]+".ready" once its handlers are installed.
Exits 0 on SIGTERM only if argv[2] == "exit-on-term"."""
import os
import signal
import sys
import time

out = sys.argv[1]
exit_on_term = len(sys.argv) > 2 and sys.argv[2] == "exit-on-term"


def handler(sig, frame):
    with open(out, "a") as f:
        f.write(f"{sig}\n")
    if exit_on_term and sig == signal.SIGTERM:
        sys.exit(0)


for s in range(1, signal.SIGRTMAX + 1):
    if s in (signal.SIGKILL, signal.SIGSTOP):
        continue
    try:
        signal.signal(s, handler)
    except (OSError, ValueError, RuntimeError):
        pass
with open(out + ".ready", "w") as f:
    f.write(f"{os.getpid()}\n")
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    time.sleep(0.05)
sys.exit(3)
