"""Makes argv[1] orphans (double fork, the grandchild exits at once), then
waits until no zombie is left in this PID namespace (bounded) and prints the
count of zombies left: 0 means oxinit reaped every one."""
import os
import sys
import time

n = int(sys.argv[1])
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)


def zombies():
    count = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        if st[st.rindex(")") + 2] == "Z":
            count += 1
    return count


deadline = time.monotonic() + 20
z = zombies()
while z and time.monotonic() < deadline:
    time.sleep(0.05)
    z = zombies()
print(f"zombies={z}", flush=True)
sys.exit(0 if z == 0 else 1)
