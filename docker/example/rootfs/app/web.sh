#!/bin/sh
# busybox httpd in the foreground on 127.0.0.1:8080; -v logs each request.
httpd -f -v -p 127.0.0.1:8080 -h /srv/www &
pid=$!
trap 'echo "stopping"; kill $pid 2>/dev/null; wait $pid 2>/dev/null; echo "stopped"; exit 0' TERM
echo "listening on 127.0.0.1:8080"
wait $pid 2>/dev/null
