#!/bin/sh
# The app: writes a request log line every 0.2 s; crashes with status 3 after
# $CRASH_AFTER seconds when that is set (to show that the container then stops with 3).
mkdir -p "$LOG_DIR"
trap 'echo "app: SIGTERM, bye"; exit 0' TERM
echo "app: serving"
n=0
while :; do
  n=$((n + 1))
  echo "$(date +%T) GET /item/$n 200" >> "$LOG_DIR/app.log"
  if [ "$CRASH_AFTER" -gt 0 ] && [ "$n" -ge $((CRASH_AFTER * 5)) ]; then
    echo "app: crashing" >&2
    exit 3
  fi
  sleep 0.2 & wait $!
done
