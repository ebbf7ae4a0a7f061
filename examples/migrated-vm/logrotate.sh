#!/bin/sh
# The VM's logrotate for the app's own access log (tend rotates service output itself;
# this is for files the app writes on its own). Copy-truncate, keep 3, every 30 s.
trap 'exit 0' TERM
log="$DATA_DIR/access.log"
while :; do
  size=$(stat -c %s "$log" 2>/dev/null || echo 0)
  if [ "$size" -gt "$MAX_BYTES" ]; then
    for i in 2 1; do [ -f "$log.$i" ] && mv "$log.$i" "$log.$((i + 1))"; done
    cp "$log" "$log.1" && : > "$log"
    echo "rotated $log ($size bytes)"
  fi
  sleep 30 & wait $!
done
