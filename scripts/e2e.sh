#!/usr/bin/env bash
# Browser end-to-end tests against a fresh platform: starts devstack WITH the
# client in the background (temporary data directory, free gateway port,
# ORDER_EXPIRATION_WINDOW=10s), waits until it is ready, runs the client's
# e2e suite (`npm run e2e`), stops the platform and checks that no process of
# it is left. Exits with the e2e suite's status (1 if the platform misbehaved).
#
#   E2E_READY_TIMEOUT  seconds to wait for the platform, client build included (default 600)
#   KEEP_E2E_DATA=1    keep the temporary directory (log and data) afterwards
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
ready_timeout="${E2E_READY_TIMEOUT:-600}"
window=10

work="$(mktemp -d -t ticketing-e2e.XXXXXX)"
data="$work/data"
log="$work/devstack.log"
say() { printf 'e2e: %s\n' "$*"; }

say "building devstack"
go build -o "$work/devstack" ./devstack

say "starting the platform (log: $log)"
env -u DEVSTACK_SKIP DATA_DIR="$data" GATEWAY_ADDR=127.0.0.1:0 ORDER_EXPIRATION_WINDOW="${window}s" ORDER_EXPIRATION_GRACE=5s \
  "$work/devstack" >"$log" 2>&1 &
pid=$!

stopped=0
stop_platform() {
  [ "$stopped" = 1 ] && return 0
  stopped=1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 180); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    say "devstack did not stop within 90s"; kill -KILL "$pid" 2>/dev/null || true; return 1
  fi
  wait "$pid" 2>/dev/null || true
  local left
  left="$(DATA_DIR="$data" "$work/devstack" ps)"
  if [ -n "$left" ]; then
    say "processes left after the stop: $(echo $left)"
    DATA_DIR="$data" "$work/devstack" down >/dev/null 2>&1 || true
    return 1
  fi
  say "platform stopped, no process left"
}
cleanup() {
  stop_platform || true
  if [ "${KEEP_E2E_DATA:-}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

deadline=$((SECONDS + ready_timeout))
until grep -q '^\[devstack\] ready: open ' "$log"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    say "devstack exited before it was ready:"; tail -n 60 "$log"; exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "platform not ready within ${ready_timeout}s:"; tail -n 60 "$log"; exit 1
  fi
  sleep 1
done
if ! grep -q '^\[client\]' "$log"; then
  say "the client did not start:"; grep '^\[devstack\]' "$log" | tail -n 20; exit 1
fi
url="$(jq -r .url "$data/devstack.json")"
say "platform ready at $url"

set +e
# The trace viewer (traces.test.mjs waits for Jaeger if it is still building).
traces="$(jq -r '.components.traces // empty' "$data/devstack.json")"
(cd client && E2E_BASE_URL="$url" E2E_EXPIRATION_SECONDS="$window" E2E_TRACES_URL="$traces" npm run e2e)
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  say "e2e failed ($rc); platform log tail:"; grep -v '"msg":"request"' "$log" | tail -n 60
fi
stop_platform || rc=1
exit "$rc"
