#!/usr/bin/env bash
# Checks the served OpenAPI document the way a client author would: starts the debug binary
# (dev profile, embedded SQLite in a temporary directory) on free ports, validates
# /api-docs/openapi.json against OpenAPI 3.1 (openapi-spec-validator), generates a Python
# client from it (openapi-python-client) and drives one flow with that client
# (scripts/openapi_client_flow.py): create event → publish → book → a second booking by the same
# user is a typed 409 Problem.
#
#   scripts/openapi-client-check.sh             missing Python tools: warning, exit 0
#   scripts/openapi-client-check.sh --require   missing Python tools: error (also when CI=true)
#   scripts/openapi-client-check.sh --install   only install the tools (scripts/test.sh, so that
#                                               the document test finds openapi-spec-validator)
#
# The tools are installed with pip into a virtualenv (OPENAPI_CHECK_VENV, default
# $CARGO_TARGET_DIR/openapi-check-venv) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

require=0
install_only=0
if [[ "${CI:-}" == "true" ]]; then require=1; fi
for arg in "$@"; do
  case "$arg" in
    --require) require=1 ;;
    --install) install_only=1 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done

target_dir=${CARGO_TARGET_DIR:-$repo/target}
venv=${OPENAPI_CHECK_VENV:-$target_dir/openapi-check-venv}
tools=("openapi-python-client==0.29.1" "openapi-spec-validator==0.9.0")

unavailable() {
  if ((require)); then
    echo "error: $*" >&2
    exit 1
  fi
  echo "warning: $*; the OpenAPI client check is SKIPPED" >&2
  exit 0
}

if [[ ! -x "$venv/bin/openapi-python-client" || ! -x "$venv/bin/openapi-spec-validator" ]]; then
  echo "installing ${tools[*]} into $venv"
  { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "${tools[@]}"; } ||
    unavailable "cannot install ${tools[*]} with pip"
fi
if ((install_only)); then exit 0; fi

cargo build --quiet --locked -p bootstrap
bin=$target_dir/debug/backend-event

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
grpc_port=$(free_port)
base=http://127.0.0.1:$http_port
work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

(
  cd "$work"
  APP_PROFILE=dev APP_CONFIG_DIR="$repo/config" \
    APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT="$http_port" APP__GRPC__PORT="$grpc_port" \
    APP__SERVER__PUBLIC_BASE_URL="$base" APP__DATABASE__URL="" \
    APP__DATABASE__SQLITE_PATH="$work/check.db" APP__MANAGEMENT__PORT=0 \
    APP__LOGGING__ACCESS=errors \
    exec "$bin" >"$work/server.log" 2>&1
) &
server_pid=$!

ready=0
for _ in $(seq 1 120); do
  if curl -fsS "$base/actuator/health/readiness" >/dev/null 2>&1; then ready=1; break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.5
done
if ((!ready)); then
  echo "error: the service did not become ready on $base; its log:" >&2
  tail -n 40 "$work/server.log" >&2
  exit 1
fi

curl -fsS "$base/api-docs/openapi.json" -o "$work/openapi.json"
echo "==> the served document against OpenAPI 3.1"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

echo "==> generating a client (openapi-python-client)"
cat >"$work/generator.yml" <<'YAML'
package_name_override: event_client
project_name_override: event-client
YAML
(cd "$work" && "$venv/bin/openapi-python-client" generate --path openapi.json \
  --config generator.yml --meta none --output-path "$work/gen/event_client" >"$work/generate.log" 2>&1) || {
  cat "$work/generate.log" >&2
  echo "error: openapi-python-client could not generate a client" >&2
  exit 1
}
# The generator warns about what it leaves out ("Unable to parse …"): nothing may be.
if grep -q "Unable to" "$work/generate.log"; then
  grep -v "ruff" "$work/generate.log" >&2
  echo "error: the generator left parts of the document out" >&2
  exit 1
fi

echo "==> one flow with the generated client"
"$venv/bin/python" scripts/openapi_client_flow.py "$work/gen" "$base"
