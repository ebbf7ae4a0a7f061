#!/bin/sh
# The nightly report of the VM's crontab, now every five minutes under tend.
lines=$(wc -l < "$DATA_DIR/access.log" 2>/dev/null || echo 0)
echo "report: $lines requests so far"
