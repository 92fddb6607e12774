#!/usr/bin/env bash
# Probes a running backend-event for the holes of issue 12 that can be seen from outside
# (1, 2, 3, 7, 10) and prints PASS/FAIL per probe with totals. It starts nothing itself, except
# the service binary for the start-up probes of hole 3 (which must refuse to start).
#
#   scripts/security-probe.sh BASE_URL [PROFILE] [--binary PATH] [--peer-url URL]
#
#   BASE_URL    the service as reached from this machine, e.g. http://127.0.0.1:8102
#   PROFILE     the profile it runs (default dev). The flow probes (1, 2, 10) need identities:
#               gateway headers from the loopback, as in dev and test.
#   --binary    the service binary (target/debug/bootstrap): runs it with the prod profile and
#               unsafe settings, expecting exit 78 each time (hole 3). Skipped without it.
#   --peer-url  the same service reached through a non-loopback address of this machine
#               (default: BASE_URL with the host replaced by the first address of
#               `hostname -I`): identity headers and X-Forwarded-For sent from there must be
#               ignored (hole 7). The service must listen on 0.0.0.0 (the default).
#
# Needs bash, curl, python3. Exit status: 0 when every probe passed, 1 otherwise.
set -u

BASE="${1:?usage: security-probe.sh BASE_URL [PROFILE] [--binary PATH] [--peer-url URL]}"
shift
PROFILE=dev
if [[ $# -gt 0 && $1 != --* ]]; then PROFILE=$1; shift; fi
BINARY=""
PEER=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --binary) BINARY=$2; shift 2 ;;
    --peer-url) PEER=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
BASE=${BASE%/}
if [[ -z $PEER ]]; then
  addr=$(hostname -I 2>/dev/null | awk '{print $1}')
  [[ -n $addr ]] && PEER=$(printf '%s' "$BASE" | sed -E "s#//(127\.0\.0\.1|localhost)#//$addr#")
fi

PASSED=0
FAILED=0
SENT_LOG=$(mktemp) # one line per request (req runs in subshells: a variable would not count)
pass() { PASSED=$((PASSED + 1)); printf 'PASS  %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL  %s — %s\n' "$1" "$2"; }
uuid() { python3 -c 'import uuid; print(uuid.uuid4())'; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1" 2>/dev/null; }

BODY=$(mktemp)
trap 'rm -f "$BODY" "$SENT_LOG"' EXIT
sent() { echo >>"$SENT_LOG"; }

# req METHOD PATH [USER_ID ROLE] [JSON] [extra curl args…]: prints the status; the body is in $BODY.
req() {
  local method=$1 path=$2 who=${3:-} role=${4:-} data=${5:-}
  shift 5 2>/dev/null || shift $#
  local args=(-s -o "$BODY" -w '%{http_code}' -X "$method" "$BASE$path" -H 'Content-Type: application/json')
  [[ -n $who ]] && args+=(-H "X-User-Id: $who" -H "X-User-Role: $role")
  [[ -n $data ]] && args+=(--data-raw "$data")
  sent
  curl "${args[@]}" "$@"
}

echo "# probing $BASE (profile $PROFILE)"
ORG=$(uuid); ALICE=$(uuid); BOB=$(uuid)

# --- set-up: an event, a booking and a payment each for Alice and Bob ---
START=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
status=$(req POST /api/v1/events "$ORG" ORGANIZER \
  "{\"name\":\"Probe event\",\"start_date\":\"$START\",\"max_participants\":10,\"price\":\"100.00\",\"booking_deadline_hours\":0,\"auto_publish\":true}")
EVENT=$(json 'd["id"]' <"$BODY")
if [[ $status != 201 || -z $EVENT ]]; then
  echo "set-up failed: POST /api/v1/events answered $status: $(cat "$BODY")" >&2
  SETUP=false
else
  SETUP=true
  req POST /api/v1/bookings "$ALICE" USER "{\"event_id\":$EVENT,\"quantity\":1}" >/dev/null
  A_BOOKING=$(json 'd["id"]' <"$BODY")
  req POST /api/v1/bookings "$BOB" USER "{\"event_id\":$EVENT,\"quantity\":1}" >/dev/null
  B_BOOKING=$(json 'd["id"]' <"$BODY")
fi

# --- hole 1: sandbox references are unguessable; the page tells the outcome only ---
if $SETUP; then
  req POST /api/v1/payments "$ALICE" USER "{\"booking_id\":$A_BOOKING,\"payment_method\":\"CARD\"}" >/dev/null
  PAYMENT_ID=$(json 'd["id"]' <"$BODY")
  REFERENCE=$(json 'd["gateway_reference"]' <"$BODY")
  # What an attacker computes from the payment id and the secret shipped in the repository.
  PREDICTED=$(python3 - "$PAYMENT_ID" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
for part in ["sandbox-webhook-secret", "payment", f"payment-{sys.argv[1]}"]:
    h.update(part.encode()); h.update(b"\0")
print("sbx_" + h.hexdigest()[:32])
EOF
)
  if [[ -n $REFERENCE && $REFERENCE != "$PREDICTED" ]]; then
    pass "hole 1: sandbox reference is not derived from the payment id"
  else
    fail "hole 1: sandbox reference is not derived from the payment id" "reference $REFERENCE = predicted $PREDICTED"
  fi
  status=$(req POST "/sandbox/payments/$REFERENCE" "" "" '{"outcome":"success"}')
  if [[ $status == 200 ]] && ! grep -qiE 'ticket|booking|100\.00' "$BODY"; then
    pass "hole 1: sandbox page answers the outcome only"
  else
    fail "hole 1: sandbox page answers the outcome only" "$status $(head -c 300 "$BODY")"
  fi
else
  fail "hole 1" "no set-up"
fi

# --- hole 2: an Idempotency-Key reused by another user is never a 500 ---
if $SETUP; then
  KEY="probe-$(uuid)"
  req POST /api/v1/payments "$BOB" USER "{\"booking_id\":$B_BOOKING,\"payment_method\":\"CARD\"}" -H "Idempotency-Key: $KEY" >/dev/null
  req POST /api/v1/bookings "$ALICE" USER "{\"event_id\":$EVENT,\"quantity\":1}" >/dev/null # already booked: fine
  status=$(req POST /api/v1/payments "$ALICE" USER "{\"booking_id\":$A_BOOKING,\"payment_method\":\"CARD\"}" -H "Idempotency-Key: $KEY")
  if [[ $status =~ ^(200|201|409)$ ]]; then
    pass "hole 2: a reused Idempotency-Key of another user answers $status, not 500"
  else
    fail "hole 2: a reused Idempotency-Key of another user is not a 500" "$status $(head -c 300 "$BODY")"
  fi
else
  fail "hole 2" "no set-up"
fi

# --- hole 3: prod refuses to start with unsafe settings (exit 78) ---
if [[ -n $BINARY ]]; then
  GOOD_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  probe_start() { # name, the key the refusal must name, env…
    local name=$1 key=$2; shift 2
    local dir; dir=$(mktemp -d)
    sent
    (cd "$dir" && env -i PATH="$PATH" HOME="$dir" APP_PROFILE=prod \
      APP__SERVER__PORT="$(free_port)" APP__GRPC__PORT="$(free_port)" \
      APP__DATABASE__URL="sqlite://$dir/probe.db?mode=rwc" "$@" timeout 20 "$BINARY" >"$dir/out" 2>&1)
    local code=$?
    if [[ $code == 78 ]] && grep -q "$key" "$dir/out"; then
      pass "hole 3: prod refuses to start: $name (exit 78, $key)"
    else
      fail "hole 3: prod refuses to start: $name" "exit $code: $(tail -c 200 "$dir/out")"
    fi
    rm -rf "$dir"
  }
  ISSUER=APP__AUTH__JWT__ISSUER=https://issuer.example/realms/x
  probe_start "shipped configuration (no webhook secret)" payments.gateways.http.webhook_secret
  probe_start "sandbox enabled" payments.gateways.sandbox.kind APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET="$GOOD_SECRET" \
    "$ISSUER" APP__PAYMENTS__GATEWAYS__SANDBOX__ENABLED=true
  probe_start "short webhook secret" payments.gateways.http.webhook_secret APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET=short "$ISSUER"
  probe_start "shipped webhook secret" payments.gateways.http.webhook_secret \
    APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET=sandbox-webhook-secret "$ISSUER"
  probe_start "no authentication" auth APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET="$GOOD_SECRET"
else
  echo "SKIP  hole 3 (no --binary)"
fi

# --- hole 7: identity headers and X-Forwarded-For from an untrusted peer are ignored ---
if [[ -n $PEER && $PEER != "$BASE" ]]; then
  sent
  status=$(curl -s -o "$BODY" -w '%{http_code}' "$PEER/api/v1/admin/audit" \
    -H "X-User-Id: $(uuid)" -H 'X-User-Role: ADMIN' -H 'X-Forwarded-For: 127.0.0.1')
  if [[ $status == 401 ]]; then
    pass "hole 7: ADMIN headers from an untrusted peer are ignored (401)"
  else
    fail "hole 7: ADMIN headers from an untrusted peer are ignored" "$status via $PEER"
  fi
else
  echo "SKIP  hole 7 (no non-loopback address to reach the service through)"
fi

# --- hole 10: a role that can never use a route is refused before its body is read ---
for body in '{}' '{not json' '{"name": 1}'; do
  status=$(req POST /api/v1/events "$ALICE" USER "$body")
  if [[ $status == 403 ]]; then
    pass "hole 10: USER posting $body to /api/v1/events is 403"
  else
    fail "hole 10: USER posting $body to /api/v1/events is 403" "$status $(head -c 200 "$BODY")"
  fi
done
status=$(req POST /api/v1/bookings "" "" '{not json')
if [[ $status == 401 ]]; then
  pass "hole 10: a guest posting a broken body to /api/v1/bookings is 401"
else
  fail "hole 10: a guest posting a broken body to /api/v1/bookings is 401" "$status"
fi
status=$(req POST /api/v1/categories "$ORG" ORGANIZER '{}')
if [[ $status == 403 ]]; then
  pass "hole 10: ORGANIZER posting {} to /api/v1/categories is 403"
else
  fail "hole 10: ORGANIZER posting {} to /api/v1/categories is 403" "$status"
fi

echo "# requests sent: $(wc -l <"$SENT_LOG") (a start-up of the binary counts as one); probes: $((PASSED + FAILED)), passed: $PASSED, failed: $FAILED"
[[ $FAILED == 0 ]]
