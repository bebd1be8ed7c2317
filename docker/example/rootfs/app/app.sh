#!/bin/sh
# The critical app: it uses the web server once a second. A fatal error is
# simulated by writing an exit code to /tmp/app.fail, e.g.
#   podman exec CONTAINER sh -c 'echo 3 > /tmp/app.fail'
# oxinit then stops the other services and the container exits with that code.
trap 'echo "stopping"; exit 0' TERM
# `after = ["worker"]` orders start-up, it does not wait for readiness: give
# the web server up to 5 s to listen.
i=0
until wget -q -O /dev/null http://127.0.0.1:8080/ 2>/dev/null || [ $i -ge 50 ]; do
  sleep 0.1
  i=$((i + 1))
done
while :; do
  if [ -f /tmp/app.fail ]; then
    code=$(cat /tmp/app.fail)
    echo "fatal error, exiting with $code"
    exit "$code"
  fi
  if body=$(wget -q -O - http://127.0.0.1:8080/ 2>&1); then
    echo "web says: $body"
  else
    echo "web not answering: $body"
  fi
  # Sleep in the background so the TERM trap runs at once; 2>/dev/null keeps
  # the shell's "Terminated" note for the killed sleep out of the log.
  sleep 1 & wait $! 2>/dev/null
done
