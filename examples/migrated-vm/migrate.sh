#!/bin/sh
# A schema migration: idempotent, runs to completion before the app starts.
set -eu
mkdir -p "$DATA_DIR"
if [ ! -f "$DATA_DIR/schema" ]; then
  echo "applying migration 1"
  echo 1 > "$DATA_DIR/schema"
else
  echo "schema at version $(cat "$DATA_DIR/schema"); nothing to do"
fi
