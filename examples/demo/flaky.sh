#!/bin/sh
# Crashes after ~1.5 s every time; restart: on-failure brings it back with backoff.
echo "flaky starting"
sleep 1.5
echo "flaky crashing" >&2
exit 3
