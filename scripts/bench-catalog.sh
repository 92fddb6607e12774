#!/usr/bin/env bash
# Catalog read benchmark (docs/benchmarks.md, "Catalog and details from the read cache"): against
# a service already running on PORT (release build, dev profile, the event-list limit raised so
# that the limiter runs without refusing), creates 200 published events as an organizer, then runs
# wrk at 64 connections on the first catalog page and on one event's details, as a guest
# (the shared cache) and as ADMIN (a personal view: the cache-miss path).
#
#   APP__RATE_LIMITS__EVENT_LIST_PER_MINUTE=1000000000 LOG_LEVEL=warn \
#     APP__SERVER__PORT=28102 APP__GRPC__PORT=29102 target/release/backend-event &
#   scripts/bench-catalog.sh 28102 [seconds]
#
# Needs curl, python3 and wrk (Debian package wrk).
set -euo pipefail
port=${1:?usage: scripts/bench-catalog.sh PORT [seconds]}
secs=${2:-15}
base="http://127.0.0.1:$port/api/v1"
org=(-H 'X-User-Id: 00000000-0000-4000-8000-00000000000a' -H 'X-User-Role: ORGANIZER' -H 'Content-Type: application/json')
admin=(-H 'X-User-Id: 00000000-0000-4000-8000-0000000000ad' -H 'X-User-Role: ADMIN')
for i in $(seq 1 200); do
  curl -fs -o /dev/null "${org[@]}" "$base/events" \
    -d "{\"name\":\"Event $i\",\"start_date\":\"2030-06-01T09:00:00Z\",\"max_participants\":100,\"price\":\"100.00\",\"auto_publish\":true}"
done
id=$(curl -fs "$base/events" | python3 -c 'import sys, json; print(json.load(sys.stdin)["events"][0]["id"])')
run() {
  echo "--- $1"
  shift
  wrk -t2 -c64 -d"${secs}s" --latency "$@" | grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx|Socket errors"
}
run "catalog, guest (shared cache)" "$base/events"
run "details $id, guest (shared cache)" "$base/events/$id"
run "catalog, ADMIN (not cached)" "${admin[@]}" "$base/events"
run "details $id, ADMIN (not cached)" "${admin[@]}" "$base/events/$id"
curl -fs "${admin[@]}" "http://127.0.0.1:$port/actuator/prometheus" | grep '^aquastream_cache_requests_total'
