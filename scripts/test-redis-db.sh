#!/usr/bin/env bash
# Print a Redis URL for one test run: the first database (1-13) nobody else's run holds.
# A run claims its database with a key that expires after 3 hours (a crashed run frees it
# by itself); `release` gives it back. Database 0 is left to development, 14 to the bench.
# The claims live in database 15, not in the claimed database: tests flush theirs
# (cache.clear() is FLUSHDB), which would free the claim and let a second run share the broker.
set -euo pipefail
host=${REDIS_TEST_HOST:-127.0.0.1}
port=${REDIS_TEST_PORT:-6379}
claims=15

if [ "${1:-}" = "release" ]; then
  db=${2##*/}
  redis-cli -h "$host" -p "$port" -n "$claims" del "gih:test-run:$db" >/dev/null || true
  redis-cli -h "$host" -p "$port" -n "$db" del gih:test-run >/dev/null || true
  exit 0
fi

for db in $(seq 1 13); do
  if [ "$(redis-cli -h "$host" -p "$port" -n "$db" exists gih:test-run)" = "0" ] &&
    [ "$(redis-cli -h "$host" -p "$port" -n "$claims" set "gih:test-run:$db" "$$" nx ex 10800)" = "OK" ]; then
    # The old place too, for checkouts whose script still looks only there.
    redis-cli -h "$host" -p "$port" -n "$db" set gih:test-run "$$" ex 10800 >/dev/null
    echo "redis://$host:$port/$db"
    exit 0
  fi
done
echo "No free Redis database for the test run (1-13 are all held)." >&2
exit 1
