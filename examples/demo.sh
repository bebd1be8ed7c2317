#!/bin/sh
# The demo `make demo` runs under oxinit as PID 1 of a new PID namespace:
# it leaves zombies behind (orphans whose parents exit at once), starts a
# leftover that cleans up on SIGTERM, then exits 3. oxinit reaps the orphans
# (-w prints each), forwards signals, gives the leftover its grace period and
# exits with the script's code.
echo "demo: I am pid $$ under oxinit (pid 1)"
for i in 1 2 3; do
  (sleep 0.2 &)   # the subshell exits at once: its sleep becomes an orphan
done
sh -c 'trap "echo leftover: got SIGTERM, cleaning up; sleep 0.2; echo leftover: done; exit 0" TERM
       while :; do sleep 0.1; done' &
trap 'echo "demo: got SIGTERM"; exit 143' TERM
sleep 1
echo "demo: exiting with 3; oxinit now stops the leftover (pid $!)"
exit 3
