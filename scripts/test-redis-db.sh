#!/usr/bin/env bash
# Print a Redis URL for one test run: the first database (1-13) nobody else's run holds.
# A run claims its database with a key that expires after 3 hours (a crashed run frees it
# by itself); `release` gives it back. Database 0 is left to development, 14 to the bench.
set -euo pipefail
host=${REDIS_TEST_HOST:-127.0.0.1}
port=${REDIS_TEST_PORT:-6379}
key=gih:test-run

if [ "${1:-}" = "release" ]; then
  db=${2##*/}
  redis-cli -h "$host" -p "$port" -n "$db" del "$key" >/dev/null || true
  exit 0
fi

for db in $(seq 1 13); do
  if [ "$(redis-cli -h "$host" -p "$port" -n "$db" set "$key" "$$" nx ex 10800)" = "OK" ]; then
    echo "redis://$host:$port/$db"
    exit 0
  fi
done
echo "No free Redis database for the test run (1-13 are all held)." >&2
exit 1
