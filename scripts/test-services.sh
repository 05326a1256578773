#!/usr/bin/env bash
# Make sure what the test suite talks to is up: PostgreSQL, Redis, Debian's Chromium
# for the browser test and GNU gettext for the translation test. Starts/installs only what is missing.
set -euo pipefail

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "Starting PostgreSQL..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Starting Redis..."
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser test..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is not installed: the browser test will be skipped." >&2
  fi
fi

# Fonts for the Chinese and Thai pages in the browser tests' screenshots (else they show empty boxes).
if command -v fc-list >/dev/null 2>&1 && { [ -z "$(fc-list :lang=zh)" ] || [ -z "$(fc-list :lang=th)" ]; }; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chinese and Thai fonts for the browser screenshots..."
    fonts="fonts-wqy-microhei fonts-thai-tlwg"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $fonts >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $fonts >/dev/null; } || true
  fi
fi

if ! command -v xgettext >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing GNU gettext for the translation test..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null
  else
    echo "GNU gettext (xgettext) is not installed: the translation test will fail. apt-get install gettext" >&2
  fi
fi
