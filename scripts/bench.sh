#!/usr/bin/env bash
# Runs one load-generator scenario against the release binary on a fresh database and prints the
# figures (docs/benchmarks.md lists the commands its figures came from).
#
#   scripts/bench.sh postgres flash-sale --connections 64 --duration 20
#   scripts/bench.sh sqlite   flash-sale --connections 64 --attempts 10000 --seats 2000
#   BENCH_ENV="APP__APP__BOOKING__BATCH__MAX_SIZE=16" scripts/bench.sh postgres flash-sale …
#   BENCH_DB_URL_PREFIX=postgres://postgres@localhost/ BENCH_DB_URL_SUFFIX='?host=/var/run/postgresql' \
#     scripts/bench.sh postgres flash-sale …     # PostgreSQL over its Unix socket instead of TCP
#
# The service runs in the dev profile (gateway-header auth, as the generator uses) with
# LOG_LEVEL=warn, the scheduler and the outbox relay as configured; its RSS is sampled by the
# generator (--service-pid). Build first: cargo build --release -p bootstrap -p loadtest
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:?usage: scripts/bench.sh postgres|sqlite <scenario> [loadtest options]}
shift
target=${CARGO_TARGET_DIR:-target}
bin="$target/release/backend-event"
gen="$target/release/loadtest"
port=${BENCH_PORT:-18102}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

db_env=()
case "$backend" in
  postgres)
    name="bench_$$"
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
    db_env=(DATABASE_URL="${BENCH_DB_URL_PREFIX:-postgres://postgres@127.0.0.1:5432/}$name${BENCH_DB_URL_SUFFIX:-}")
    ;;
  sqlite) db_env=(APP__DATABASE__SQLITE_PATH="$work/bench.db") ;;
  *) echo "backend must be postgres or sqlite" >&2; exit 2 ;;
esac

# shellcheck disable=SC2086
env "${db_env[@]}" APP__SERVER__PORT="$port" APP__GRPC__PORT=$((port + 1000)) LOG_LEVEL=warn \
  ${BENCH_ENV:-} "$bin" >"$work/service.log" 2>&1 &
pid=$!
up=0
for _ in $(seq 1 60); do
  kill -0 "$pid" 2>/dev/null || break # exited (the port taken, a bad setting): its log says why
  if curl -fs --max-time 2 "http://127.0.0.1:$port/actuator/health" >/dev/null 2>&1; then up=1; break; fi
  sleep 0.5
done
if ((up == 0)); then
  echo "the service did not come up; its log:" >&2
  tail -n 20 "$work/service.log" >&2
  exit 3
fi
status=0
"$gen" "$@" --url "http://127.0.0.1:$port" --service-pid "$pid" || status=$?
if [[ "$backend" == postgres ]]; then
  kill "$pid"; wait "$pid" 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $name"
fi
exit $status
