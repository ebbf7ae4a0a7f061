#!/bin/sh
# A sidecar that runs until tend stops it.
echo "web up (app is ready)"
while :; do
  sleep 2
  echo "GET /healthz 200"
done
