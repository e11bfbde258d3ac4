#!/usr/bin/env bash
# Drives the platform's whole flow with curl against a running platform
# (`make up`, or `devstack` with a short ORDER_EXPIRATION_WINDOW):
#   sign up a seller and a buyer, sell a ticket, order it, pay, see the order
#   complete; order another ticket, let it expire, see it cancelled and the
#   ticket on sale again.
# Exits non-zero with a message at the first deviation. Every wait is bounded.
#
#   BASE_URL            the gateway (default http://localhost:8080)
#   EXPIRATION_SECONDS  the platform's ORDER_EXPIRATION_WINDOW in seconds; by default it is
#                       read from the order itself (expiresAt − now)
#   SMOKE_MAX_EXPIRATION  refuse to wait for a longer window (default 300 s)
#   SMOKE_GRACE         the platform's ORDER_EXPIRATION_GRACE in seconds: how long after
#                       expiresAt an unpaid order is cancelled (default 30, devstack's)
#   SMOKE_WAIT          seconds any eventually-consistent step may take (default 30)
set -euo pipefail

BASE_URL="${BASE_URL:-http://localhost:8080}"
BASE_URL="${BASE_URL%/}"
EXPIRATION_SECONDS="${EXPIRATION_SECONDS:-}"
SMOKE_MAX_EXPIRATION="${SMOKE_MAX_EXPIRATION:-300}"
SMOKE_WAIT="${SMOKE_WAIT:-30}"
SMOKE_GRACE="${SMOKE_GRACE:-30}"

for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool is needed (apt-get install $tool)" >&2; exit 2; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
run_id="$(date +%s)-$RANDOM$RANDOM"
started=$SECONDS

step() { printf 'smoke: %s\n' "$*"; }
fail() { printf 'smoke: FAIL: %s\n' "$*" >&2; exit 1; }

# req METHOD PATH JAR [JSON]: sets STATUS, BODY (and HEADERS, a file).
req() {
  local method="$1" path="$2" jar="$3" data="${4:-}"
  local args=(-sS -X "$method" --max-time 15 -o "$work/body" -D "$work/headers" -w '%{http_code}'
    -b "$work/$jar.jar" -c "$work/$jar.jar" -H 'Accept: application/json')
  if [ -n "$data" ]; then args+=(-H 'Content-Type: application/json' --data "$data"); fi
  STATUS="$(curl "${args[@]}" "$BASE_URL$path")" || fail "$method $path: curl failed (is the platform running at $BASE_URL?)"
  BODY="$(cat "$work/body")"
  HEADERS="$work/headers"
}

# expect STATUS... : the last request answered one of these statuses.
expect() {
  local s
  for s in "$@"; do [ "$STATUS" = "$s" ] && return 0; done
  fail "expected HTTP $* but got $STATUS: $BODY"
}

field() { jq -er "$1" <<<"$BODY" 2>/dev/null || fail "no $1 in: $BODY"; }

# until_ok SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.5 s.
until_ok() {
  local limit="$1" what="$2"; shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not within ${limit}s (last: HTTP $STATUS $BODY)"
    sleep 0.5
  done
}

# The orders replica learns of a new ticket through an event: 404 for a moment.
order_ticket() { req POST /api/orders "$1" "{\"ticketId\":\"$2\"}"; [ "$STATUS" != 404 ]; }
order_status_is() { req GET "/api/orders/$2" "$1"; [ "$STATUS" = 200 ] && [ "$(jq -r .status <<<"$BODY")" = "$3" ]; }
ticket_reserved_by() { req GET "/api/tickets/$1" seller; [ "$STATUS" = 200 ] && [ "$(jq -r '.orderId // ""' <<<"$BODY")" = "$2" ]; }

# ticket_listed ID: the ticket is in GET /api/tickets, following rel="next" pages.
ticket_listed() {
  local path="/api/tickets?limit=100" pages=0 next
  while [ -n "$path" ] && [ "$pages" -lt 200 ]; do
    req GET "$path" seller
    [ "$STATUS" = 200 ] || return 1
    if jq -e --arg id "$1" 'any(.[]; .id == $id)' <<<"$BODY" >/dev/null; then return 0; fi
    next="$(grep -i '^link:' "$HEADERS" | sed -n 's/.*<\([^>]*\)>; *rel="\{0,1\}next"\{0,1\}.*/\1/p' | tr -d '\r')"
    path="${next#"$BASE_URL"}"
    if [[ "$path" == http* ]]; then path="/${path#*//*/}"; fi
    pages=$((pages + 1))
  done
  return 1
}
ticket_not_listed() { ! ticket_listed "$1" && [ "$STATUS" = 200 ]; }

password="smoke-pass-1"
seller="seller-$run_id@smoke.test"
buyer="buyer-$run_id@smoke.test"

step "signing up $seller and $buyer at $BASE_URL"
req POST /api/users/signup seller "{\"email\":\"$seller\",\"password\":\"$password\"}"
expect 201
req POST /api/users/signup buyer "{\"email\":\"$buyer\",\"password\":\"$password\"}"
expect 201
buyer_id="$(field .id)"
req GET /api/users/currentuser buyer
expect 200
[ "$(jq -r .currentUser.email <<<"$BODY")" = "$buyer" ] || fail "currentuser is not the buyer: $BODY"

step "selling a ticket"
req POST /api/tickets seller "{\"title\":\"Smoke concert $run_id\",\"price\":20.5}"
expect 201
ticket="$(field .id)"
[ "$(field .version)" = 0 ] || fail "a new ticket has version 0: $BODY"
[ "$(field .price)" = 20.5 ] || fail "price 20.5 expected: $BODY"

step "ordering ticket $ticket as the buyer"
until_ok "$SMOKE_WAIT" "orders learning of the ticket" order_ticket buyer "$ticket"
expect 201
order="$(field .id)"
[ "$(field .status)" = created ] || fail "a new order is created: $BODY"
[ "$(field .userId)" = "$buyer_id" ] || fail "the order belongs to the buyer: $BODY"
[ "$(field .ticket.id)" = "$ticket" ] || fail "the order is for the ticket: $BODY"
req POST /api/orders buyer "{\"ticketId\":\"$ticket\"}"
expect 400
until_ok "$SMOKE_WAIT" "ticket reserved by order $order" ticket_reserved_by "$ticket" "$order"
until_ok "$SMOKE_WAIT" "reserved ticket gone from the list" ticket_not_listed "$ticket"

step "paying order $order with tok_visa"
pay() { req POST /api/payments "$1" "{\"token\":\"tok_visa\",\"orderId\":\"$2\"}"; [ "$STATUS" != 404 ]; }
until_ok "$SMOKE_WAIT" "payments learning of the order" pay buyer "$order"
expect 201
[ "$(field .orderId)" = "$order" ] || fail "payment for another order: $BODY"
field .stripeId >/dev/null
until_ok "$SMOKE_WAIT" "order $order complete" order_status_is buyer "$order" complete
req DELETE "/api/orders/$order" buyer
expect 400

step "ordering a second ticket and letting it expire"
req POST /api/tickets seller "{\"title\":\"Smoke expiring $run_id\",\"price\":5}"
expect 201
ticket2="$(field .id)"
until_ok "$SMOKE_WAIT" "orders learning of the second ticket" order_ticket buyer "$ticket2"
expect 201
order2="$(field .id)"
if [ -z "$EXPIRATION_SECONDS" ]; then
  expires_at="$(field .expiresAt)"
  expires="$(date -d "$expires_at" +%s 2>/dev/null)" || fail "expiresAt is not a date: $expires_at"
  EXPIRATION_SECONDS=$((expires - $(date +%s) + 1))
  [ "$EXPIRATION_SECONDS" -ge 0 ] || EXPIRATION_SECONDS=0
fi
if [ "$EXPIRATION_SECONDS" -gt "$SMOKE_MAX_EXPIRATION" ]; then
  fail "the order expires in ${EXPIRATION_SECONDS}s: run the platform with a short window, e.g. \`make up ORDER_EXPIRATION_WINDOW=10s\`"
fi
step "waiting up to ${EXPIRATION_SECONDS}s + ${SMOKE_GRACE}s grace (+${SMOKE_WAIT}s) for order $order2 to expire"
until_ok "$SMOKE_WAIT" "second ticket reserved" ticket_reserved_by "$ticket2" "$order2"
until_ok "$((EXPIRATION_SECONDS + SMOKE_GRACE + SMOKE_WAIT))" "order $order2 cancelled by expiration" order_status_is buyer "$order2" cancelled
until_ok "$SMOKE_WAIT" "second ticket free again" ticket_reserved_by "$ticket2" ""
until_ok "$SMOKE_WAIT" "second ticket listed again" ticket_listed "$ticket2"
req POST /api/payments buyer "{\"token\":\"tok_visa\",\"orderId\":\"$order2\"}"
expect 400

step "signing out revokes the session on every service"
cp "$work/seller.jar" "$work/copied.jar" # the cookie as anyone who copied it holds it
req POST /api/users/signout seller
expect 200
sell_refused() { req POST /api/tickets copied "{\"title\":\"After sign-out $run_id\",\"price\":5}"; [ "$STATUS" = 401 ]; }
until_ok "$SMOKE_WAIT" "tickets refusing the signed-out cookie" sell_refused
until_ok "$SMOKE_WAIT" "orders refusing the signed-out cookie" eval 'req GET /api/orders copied; [ "$STATUS" = 401 ]'
req GET /api/users/currentuser copied
[ "$(jq -c .currentUser <<<"$BODY")" = null ] || fail "auth still knows the signed-out cookie: $BODY"

step "OK in $((SECONDS - started))s (orders $order complete, $order2 expired)"
