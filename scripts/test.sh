#!/usr/bin/env bash
# The test command of backend-event: starts the local services the adapter tests use
# (PostgreSQL, Redis, RabbitMQ), then runs fmt, clippy and the whole test suite.
#
#   scripts/test.sh                     tests whose service is missing print SKIPPED
#   scripts/test.sh --require-services  a missing service is an error (also when CI=true)
#   scripts/test.sh --no-lint           skip cargo fmt and clippy (quick local run)
set -euo pipefail
cd "$(dirname "$0")/.."

require_services=0
lint=1
if [[ "${CI:-}" == "true" ]]; then require_services=1; fi
for arg in "$@"; do
  case "$arg" in
    --require-services) require_services=1 ;;
    --no-lint) lint=0 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }

# ensure_service NAME SECONDS CHECK START: runs START when CHECK fails, then retries CHECK.
ensure_service() {
  local name=$1 seconds=$2 check=$3 start=$4
  if eval "$check" >/dev/null 2>&1; then echo "$name: up"; return 0; fi
  echo "$name: not answering, starting it"
  eval "$start" >/dev/null 2>&1 || true
  for ((i = 0; i < seconds; i++)); do
    if eval "$check" >/dev/null 2>&1; then echo "$name: up"; return 0; fi
    sleep 1
  done
  if ((require_services)); then
    echo "error: $name does not answer after ${seconds}s and services are required" >&2
    exit 1
  fi
  echo "warning: $name does not answer; its tests will print SKIPPED" >&2
}

step "local services"
ensure_service PostgreSQL 30 "pg_isready -q -h 127.0.0.1 -p 5432" \
  'pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start'
ensure_service Redis 15 "redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG" \
  'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""'
ensure_service RabbitMQ 60 "timeout 2 bash -c '</dev/tcp/127.0.0.1/5672'" \
  "rabbitmq-server -detached"

# promtool validates and unit-tests deploy/prometheus/alerts.yml (Debian package `prometheus`).
step "promtool"
if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "promtool: not installed, installing the Debian package prometheus"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends prometheus; } >/dev/null 2>&1 || true
fi
if command -v promtool >/dev/null 2>&1; then
  echo "promtool: $(promtool --version 2>&1 | head -n1)"
elif ((require_services)); then
  echo "error: promtool is missing and services are required" >&2
  exit 1
else
  echo "warning: promtool missing; the alert-rule test will print SKIPPED" >&2
fi

# The deployment files (deploy/): hadolint, yamllint, compose schema, kustomize + Kubernetes
# schemas, cross-checks, promtool, runbook links (scripts/deploy-check.sh).
step "deployment files"
deploy_flags=()
if ((require_services)); then deploy_flags+=(--require); fi
bash scripts/deploy-check.sh "${deploy_flags[@]}"

# openapi-spec-validator (PyPI) for the OpenAPI document test, and the generated-client check
# after the tests; both in a virtualenv under the target directory.
step "OpenAPI tools"
openapi_flags=()
if ((require_services)); then openapi_flags+=(--require); fi
bash scripts/openapi-client-check.sh --install "${openapi_flags[@]}"
export OPENAPI_CHECK_VENV="${OPENAPI_CHECK_VENV:-${CARGO_TARGET_DIR:-$(pwd)/target}/openapi-check-venv}"
if [[ -x "$OPENAPI_CHECK_VENV/bin/python" ]]; then
  export PYTHON="$OPENAPI_CHECK_VENV/bin/python"
fi

if ((require_services)); then export EVENT_TEST_REQUIRE_SERVICES=1; fi
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export TEST_AMQP_URL="${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"

if ((lint)); then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

# Doc tests first: the last runner summary printed is then the whole suite's.
step "doc tests"
cargo test --workspace --doc --locked --quiet

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked
else
  echo "cargo-nextest not installed, using cargo test"
  cargo test --workspace --locked
fi

# The served document, a client generated from it, one flow driven with that client.
step "OpenAPI client check"
bash scripts/openapi-client-check.sh "${openapi_flags[@]}"

step "all green"
