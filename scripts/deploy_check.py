#!/usr/bin/env python3
"""Cross-checks of the deployment files that no schema expresses (scripts/deploy-check.sh).

    python3 scripts/deploy_check.py BUILT_DIR

BUILT_DIR holds the `kubectl kustomize` outputs of deploy/k8s (or the base manifests copied
file by file). Prints one line per problem and exits 1 when there is any.
"""

import json
import pathlib
import re
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROBLEMS: list[str] = []

# The environment variables config.rs reads besides APP__SECTION__KEY.
SEED_VARIABLES = {
    "APP_PROFILE", "SPRING_PROFILES_ACTIVE", "APP_CONFIG_DIR", "DATABASE_URL", "POSTGRES_USER",
    "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_HOST", "POSTGRES_PORT", "PAYMENT_SERVICE_URL",
    "CREW_SERVICE_URL", "AMQP_URL", "REDIS_URL", "LOG_LEVEL", "AQUASTREAM_RATE_LIMIT_ENABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME",
}
# [auth.jwt] is commented out in config/default.toml (off by default): its keys (JwtSection).
JWT_KEYS = {"issuer", "audiences", "authorized_parties", "jwks_url", "roles_claim",
            "algorithms", "leeway_seconds"}
PROFILES = {"dev", "stage", "prod", "test"}


def problem(text: str) -> None:
    PROBLEMS.append(text)


def config_keys() -> set[str]:
    """Every leaf key of config/default.toml as `section.sub.key`."""
    keys: set[str] = set()

    def walk(prefix: str, table: dict) -> None:
        for k, v in table.items():
            path = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                walk(path, v)
            else:
                keys.add(path)

    walk("", tomllib.loads((ROOT / "config/default.toml").read_text()))
    keys.update(f"auth.jwt.{k}" for k in JWT_KEYS)
    return keys


KEYS = config_keys()


def check_variable(where: str, name: str, value: object) -> None:
    """An environment variable given to the service must be one it reads."""
    if name.startswith("APP__"):
        key = ".".join(part.lower() for part in name[len("APP__"):].split("__"))
        if key not in KEYS:
            problem(f"{where}: {name} names no configuration key ({key} is not in config/default.toml)")
    elif name not in SEED_VARIABLES:
        problem(f"{where}: {name} is not read by backend-event")
    if name in ("APP_PROFILE", "SPRING_PROFILES_ACTIVE") and "$" not in str(value) and value not in PROFILES:
        problem(f"{where}: {name}={value} is not a profile ({', '.join(sorted(PROFILES))})")


# --- runbooks -----------------------------------------------------------------------------

def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: pathlib.Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if fenced:
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            found.add(s if n == 0 else f"{s}-{n}")
    return found


def check_runbooks() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    count = 0
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            count += 1
            name = rule["alert"]
            url = rule.get("annotations", {}).get("runbook_url", "")
            if "#" not in url:
                problem(f"alert {name}: no runbook_url with an anchor")
                continue
            path, anchor = url.split("#", 1)
            doc = ROOT / path
            if not doc.is_file():
                problem(f"alert {name}: runbook_url {url}: no file {path}")
            elif anchor not in anchors(doc):
                problem(f"alert {name}: runbook_url {url}: no heading with anchor #{anchor} in {path}")
    print(f"runbooks: {count} alerts checked")


# --- Dockerfile ---------------------------------------------------------------------------

def check_dockerfile() -> None:
    text = (ROOT / "deploy/Dockerfile").read_text()
    lines = [l.strip() for l in re.sub(r"\\\n", " ", text).splitlines() if l.strip() and not l.strip().startswith("#")]
    stages = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
    final = lines[stages[-1]:]
    base = final[0].split()[1]
    if not (base.startswith("gcr.io/distroless/cc-debian12:nonroot") or base.startswith("debian:bookworm-slim")):
        problem(f"Dockerfile: final image {base} is neither distroless cc-debian12:nonroot nor bookworm-slim")
    users = [l.split()[1] for l in final if l.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problem("Dockerfile: the final stage does not switch to a non-root USER")
    exposed = {p for l in final if l.upper().startswith("EXPOSE ") for p in l.split()[1:]}
    if not {"8102", "9102"} <= exposed:
        problem(f"Dockerfile: EXPOSE 8102 9102 expected, found {sorted(exposed)}")
    health = [l for l in final if l.upper().startswith("HEALTHCHECK ")]
    if not health:
        problem("Dockerfile: no HEALTHCHECK")
    else:
        cmd = health[0].split(" CMD ", 1)
        try:
            argv = json.loads(cmd[1]) if len(cmd) == 2 else None
        except json.JSONDecodeError:
            argv = None
        if not argv or argv[-1] != "healthcheck":
            problem("Dockerfile: HEALTHCHECK must run `backend-event healthcheck` in exec form (no shell)")
    for arg in ("BACKEND_EVENT_VERSION", "BACKEND_EVENT_GIT_SHA"):
        if not re.search(rf"^ARG {arg}\b", text, re.M):
            problem(f"Dockerfile: no build argument {arg}")
    if not any(l.upper().startswith("VOLUME ") and "/app/data" in l for l in final):
        problem("Dockerfile: the SQLite directory /app/data is not a declared VOLUME")
    print("Dockerfile: checked")


# --- compose ------------------------------------------------------------------------------

def check_compose() -> None:
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        if isinstance(depends, dict):
            for target, spec in depends.items():
                if target not in services:
                    problem(f"compose: {name} depends on unknown service {target}")
                elif spec.get("condition") == "service_healthy" and "healthcheck" not in services[target]:
                    problem(f"compose: {name} waits for {target} to be healthy, but {target} has no healthcheck")
    event = services["backend-event"]
    if event.get("read_only") is not True:
        problem("compose: backend-event must run with read_only: true")
    if str(event.get("user", "0")).split(":")[0] in ("0", "root"):
        problem("compose: backend-event must run as a non-root user")
    for var, value in event.get("environment", {}).items():
        check_variable("compose backend-event", var, value)
    # every ${VAR} of the file has a placeholder in .env.example, and secrets only placeholders
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "deploy/compose.yaml").read_text()))
    example = {}
    for line in (ROOT / "deploy/.env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            example[k] = v
    for var in sorted(used - set(example)):
        problem(f"compose: ${{{var}}} has no line in deploy/.env.example")
    for k, v in example.items():
        if re.search(r"PASSWORD|SECRET", k) and not v.startswith("change-me"):
            problem(f".env.example: {k} must hold a change-me placeholder, not a value")
    print(f"compose: {len(services)} services checked")


# --- Kubernetes ---------------------------------------------------------------------------

def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_pod_spec(where: str, spec: dict, config: dict) -> None:
    pod_sc = spec.get("securityContext", {})
    if pod_sc.get("runAsNonRoot") is not True:
        problem(f"{where}: securityContext.runAsNonRoot must be true")
    for c in spec.get("containers", []):
        sc = c.get("securityContext", {})
        cw = f"{where} container {c['name']}"
        if sc.get("readOnlyRootFilesystem") is not True:
            problem(f"{cw}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problem(f"{cw}: allowPrivilegeEscalation must be false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problem(f"{cw}: capabilities must drop ALL")
        if not c.get("resources", {}).get("limits", {}).get("memory"):
            problem(f"{cw}: no memory limit")
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe not in c:
                continue
            port = c[probe].get("httpGet", {}).get("port")
            if isinstance(port, str) and port not in ports:
                problem(f"{cw}: {probe} uses port {port}, which the container does not declare")
            if isinstance(port, int) and port not in ports.values():
                problem(f"{cw}: {probe} uses port {port}, which the container does not declare")
        for source in c.get("envFrom", []):
            ref = source.get("configMapRef")
            if ref and ref["name"] not in config:
                problem(f"{cw}: envFrom ConfigMap {ref['name']} is not in the build")
        for env in c.get("env", []):
            check_variable(cw, env["name"], env.get("value", ""))


def check_kubernetes(built: pathlib.Path) -> None:
    docs = []
    for f in sorted(built.glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc:
                docs.append((f.name, doc))
    if not docs:
        problem("kubernetes: nothing built")
        return
    by_file: dict[str, list[dict]] = {}
    for f, doc in docs:
        by_file.setdefault(f, []).append(doc)
    for f, objs in by_file.items():
        kinds = {}
        for o in objs:
            kinds.setdefault(o["kind"], []).append(o)
        config = {o["metadata"]["name"]: o.get("data", {}) for o in kinds.get("ConfigMap", [])}
        for name, data in config.items():
            for var, value in data.items():
                check_variable(f"{f} ConfigMap {name}", var, value)
        deployments = kinds.get("Deployment", [])
        for d in deployments:
            where = f"{f} Deployment {d['metadata']['name']}"
            template = d["spec"]["template"]
            if not matches(d["spec"]["selector"]["matchLabels"], template["metadata"].get("labels", {})):
                problem(f"{where}: the selector does not match the pod template's labels")
            spec = template["spec"]
            check_pod_spec(where, spec, config)
            shutdown = 30
            for c in spec["containers"]:
                for source in c.get("envFrom", []):
                    ref = source.get("configMapRef")
                    if ref and ref["name"] in config:
                        shutdown = int(config[ref["name"]].get("APP__SERVER__SHUTDOWN_TIMEOUT_SECONDS", shutdown))
                pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
                grace = spec.get("terminationGracePeriodSeconds", 30)
                if grace < shutdown + pre_stop:
                    problem(f"{where}: terminationGracePeriodSeconds {grace} < preStop {pre_stop} s + "
                            f"server.shutdown_timeout_seconds {shutdown} s")
        for j in kinds.get("Job", []):
            check_pod_spec(f"{f} Job {j['metadata']['name']}", j["spec"]["template"]["spec"], config)
        pods = [d["spec"]["template"]["metadata"].get("labels", {}) for d in deployments]
        services = kinds.get("Service", [])
        for s in services:
            if not any(matches(s["spec"].get("selector", {}), labels) for labels in pods):
                problem(f"{f} Service {s['metadata']['name']}: the selector matches no Deployment's pods")
            for p in s["spec"]["ports"]:
                if "appProtocol" not in p:
                    problem(f"{f} Service {s['metadata']['name']} port {p.get('name')}: no appProtocol")
        for kind in ("PodDisruptionBudget",):
            for o in kinds.get(kind, []):
                if not any(matches(o["spec"]["selector"]["matchLabels"], labels) for labels in pods):
                    problem(f"{f} {kind} {o['metadata']['name']}: the selector matches no Deployment's pods")
        for h in kinds.get("HorizontalPodAutoscaler", []):
            ref = h["spec"]["scaleTargetRef"]
            if not any(d["metadata"]["name"] == ref["name"] for d in deployments if ref["kind"] == "Deployment"):
                problem(f"{f} HorizontalPodAutoscaler {h['metadata']['name']}: no {ref['kind']} {ref['name']}")
        for n in kinds.get("NetworkPolicy", []):
            if not any(matches(n["spec"]["podSelector"].get("matchLabels", {}), labels) for labels in pods):
                problem(f"{f} NetworkPolicy {n['metadata']['name']}: applies to no Deployment's pods")
        for m in kinds.get("ServiceMonitor", []):
            targets = [s for s in services if matches(m["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))]
            if not targets:
                problem(f"{f} ServiceMonitor {m['metadata']['name']}: selects no Service")
            names = {p.get("name") for s in targets for p in s["spec"]["ports"]}
            for e in m["spec"]["endpoints"]:
                if e.get("port") not in names:
                    problem(f"{f} ServiceMonitor {m['metadata']['name']}: port {e.get('port')} is on no selected Service")
                if e.get("path") != "/actuator/prometheus":
                    problem(f"{f} ServiceMonitor {m['metadata']['name']}: path must be /actuator/prometheus")
        print(f"kubernetes: {f}: {len(objs)} objects checked")


def main() -> int:
    built = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else None
    check_runbooks()
    check_dockerfile()
    check_compose()
    if built:
        check_kubernetes(built)
    for p in PROBLEMS:
        print(f"  {p}", file=sys.stderr)
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
