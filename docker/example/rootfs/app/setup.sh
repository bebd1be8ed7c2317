#!/bin/sh
# oneshot: prepare what the web server serves, then exit 0.
set -e
mkdir -p /srv/www
echo "hello from oxinit" > /srv/www/index.html
echo "wrote /srv/www/index.html"
