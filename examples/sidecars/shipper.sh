#!/bin/sh
# The log shipper: follows the app's log file and "ships" each line (prints it).
# tail -F keeps following across the app's restarts and rotations.
exec tail -n 0 -F "$LOG_DIR/app.log"
