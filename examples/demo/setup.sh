#!/bin/sh
# A oneshot: prepares something, then exits 0 so app may start.
echo "preparing the work directory"
sleep 0.5
echo "done"
