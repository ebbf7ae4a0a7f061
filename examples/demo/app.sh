#!/bin/sh
# The main service: becomes ready (the log line tend waits for), works a while, then
# exits 0 — which ends the whole demo in order: web and flaky stop first.
sleep 0.3
echo "listening on :8080"
for i in 1 2 3 4 5; do
  sleep 1
  echo "handled request $i"
done
echo "work finished; exiting 0"
