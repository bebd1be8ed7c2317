#!/bin/sh
# The critical app: it uses the web server once a second. A fatal error is
# simulated by writing an exit code to /tmp/app.fail, e.g.
#   podman exec CONTAINER sh -c 'echo 3 > /tmp/app.fail'
# oxinit then stops the other services and the container exits with that code.
trap 'echo "stopping"; exit 0' TERM
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
  sleep 1 & wait $!
done
