//! The dependency rule of the workspace, checked against the real dependency graph:
//! `domain` ← `ports` ← `application` ← inbound `adapters-*` ← `bootstrap`, and
//! `ports` ← outbound `adapters-*` ← `bootstrap` (see docs/architecture.md). Only the inbound
//! adapters and bootstrap may depend on the use cases, so editing one rebuilds nothing else.
//!
//! The graph is the `resolve` section of `cargo metadata`. Only normal dependencies count:
//! dev- and build-dependencies never end up in the shipped code. Target-specific normal
//! dependencies do count, whatever the target, so a forbidden crate cannot hide behind a `cfg`.
//! Packages are matched by name, never by the format of their id.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The only crates `domain` may depend on directly.
const DOMAIN_ALLOWED: &[&str] = &["chrono", "rust_decimal", "uuid", "thiserror", "serde"];

/// Runtime, I/O and framework crates `domain` must not reach, even transitively.
const DOMAIN_FORBIDDEN: &[&str] = &[
    "tokio",
    "sea-orm",
    "sea-query",
    "sqlx",
    "actix-web",
    "tonic",
    "prost",
    "lapin",
    "redis",
    "deadpool-redis",
    "reqwest",
    "hyper",
    "async-trait",
    "futures",
];

/// Infrastructure crates `ports` and `application` must not reach, even transitively.
const APPLICATION_FORBIDDEN: &[&str] = &[
    "sea-orm",
    "sqlx",
    "actix-web",
    "tonic",
    "lapin",
    "redis",
    "deadpool-redis",
    "reqwest",
    "hyper",
];

const ADAPTER_PREFIX: &str = "adapters-";
const BOOTSTRAP: &str = "bootstrap";
const PORTS: &str = "ports";
const APPLICATION: &str = "application";
/// The adapters that drive the use cases; every other adapter implements ports only.
const INBOUND_ADAPTERS: &[&str] = &["adapters-http", "adapters-grpc"];
/// The one crate that validates tokens; both edges reach it through the `Authenticate` port.
const AUTH_ADAPTER: &str = "adapters-auth";
/// Token-validation libraries only [`AUTH_ADAPTER`] may depend on.
const AUTH_ONLY: &[&str] = &["jsonwebtoken", "openidconnect"];

/// Every broken rule in a `cargo metadata --format-version 1` document, one readable line each.
fn violations(metadata: &Value) -> Vec<String> {
    let graph = match Graph::parse(metadata) {
        Ok(graph) => graph,
        Err(problem) => return vec![problem],
    };
    let mut found = Vec::new();
    check_domain(&graph, &mut found);
    check_ports(&graph, &mut found);
    check_application(&graph, &mut found);
    check_use_case_dependents(&graph, &mut found);
    check_adapters(&graph, &mut found);
    check_authentication(&graph, &mut found);
    check_nothing_depends_on_bootstrap(&graph, &mut found);
    found
}

fn check_domain(graph: &Graph<'_>, found: &mut Vec<String>) {
    let Some(domain) = graph.member("domain") else {
        found.push("workspace member `domain` not found in cargo metadata".to_owned());
        return;
    };
    for dep in graph.direct_deps(domain) {
        let name = graph.name(dep);
        if !DOMAIN_ALLOWED.contains(&name) {
            found.push(format!(
                "domain: direct dependency on `{name}` is not allowed (allowed: {})",
                DOMAIN_ALLOWED.join(", ")
            ));
        }
    }
    report_forbidden(graph, domain, DOMAIN_FORBIDDEN, found);
}

fn check_ports(graph: &Graph<'_>, found: &mut Vec<String>) {
    let Some(ports) = graph.member(PORTS) else {
        found.push(format!(
            "workspace member `{PORTS}` not found in cargo metadata"
        ));
        return;
    };
    for dep in graph.direct_deps(ports) {
        let name = graph.name(dep);
        if graph.is_member(dep) && name != "domain" {
            found.push(format!(
                "{PORTS}: depends on `{name}`; ports may depend on domain only, everything \
                 else depends on them"
            ));
        }
    }
    report_forbidden(graph, ports, APPLICATION_FORBIDDEN, found);
}

/// Only the inbound adapters and bootstrap may depend on the use cases (`application`).
fn check_use_case_dependents(graph: &Graph<'_>, found: &mut Vec<String>) {
    let Some(application) = graph.member(APPLICATION) else {
        return;
    };
    let mut dependents: Vec<&str> = graph
        .normal_deps
        .iter()
        .filter(|(_, deps)| deps.contains(&application))
        .map(|(&package, _)| graph.name(package))
        .filter(|name| *name != BOOTSTRAP && !INBOUND_ADAPTERS.contains(name))
        .collect();
    dependents.sort_unstable();
    for dependent in dependents {
        found.push(format!(
            "{dependent}: depends on `{APPLICATION}` (the use cases); only the inbound adapters \
             ({}) and {BOOTSTRAP} may, everything else depends on `{PORTS}`",
            INBOUND_ADAPTERS.join(", ")
        ));
    }
}

fn check_application(graph: &Graph<'_>, found: &mut Vec<String>) {
    let Some(application) = graph.member("application") else {
        found.push("workspace member `application` not found in cargo metadata".to_owned());
        return;
    };
    for dep in graph.direct_deps(application) {
        let name = graph.name(dep);
        if graph.is_member(dep) && (name.starts_with(ADAPTER_PREFIX) || name == BOOTSTRAP) {
            found.push(format!(
                "application: depends on `{name}`; application may depend on domain and ports \
                 only, the inbound adapters and bootstrap depend on it"
            ));
        }
    }
    report_forbidden(graph, application, APPLICATION_FORBIDDEN, found);
}

fn check_adapters(graph: &Graph<'_>, found: &mut Vec<String>) {
    let adapters: Vec<&str> = graph
        .members()
        .filter(|&id| graph.name(id).starts_with(ADAPTER_PREFIX))
        .collect();
    if adapters.is_empty() {
        found.push(format!(
            "no `{ADAPTER_PREFIX}*` workspace member found in cargo metadata"
        ));
    }
    for adapter in adapters {
        let adapter_name = graph.name(adapter);
        for dep in graph.direct_deps(adapter) {
            let name = graph.name(dep);
            if !graph.is_member(dep) {
                continue;
            }
            if name.starts_with(ADAPTER_PREFIX) {
                found.push(format!(
                    "{adapter_name}: depends on `{name}`; an adapter never depends on another \
                     adapter (share code through application)"
                ));
            } else if name == BOOTSTRAP {
                found.push(format!(
                    "{adapter_name}: depends on `{BOOTSTRAP}`; only bootstrap wires adapters"
                ));
            }
        }
    }
}

/// Authentication is decided in one place for REST and gRPC: only the auth adapter validates
/// tokens, so the rules (and the JWKS cache) cannot drift apart between the edges.
fn check_authentication(graph: &Graph<'_>, found: &mut Vec<String>) {
    if graph.member(AUTH_ADAPTER).is_none() {
        found.push(format!(
            "workspace member `{AUTH_ADAPTER}` not found in cargo metadata"
        ));
    }
    for member in graph.members() {
        let member_name = graph.name(member);
        if member_name == AUTH_ADAPTER {
            continue;
        }
        for dep in graph.direct_deps(member) {
            let name = graph.name(dep);
            if AUTH_ONLY.contains(&name) {
                found.push(format!(
                    "{member_name}: depends on `{name}`; tokens are validated in \
                     `{AUTH_ADAPTER}` only (use the Authenticate port)"
                ));
            }
        }
    }
}

fn check_nothing_depends_on_bootstrap(graph: &Graph<'_>, found: &mut Vec<String>) {
    let Some(bootstrap) = graph.member(BOOTSTRAP) else {
        found.push(format!(
            "workspace member `{BOOTSTRAP}` not found in cargo metadata"
        ));
        return;
    };
    let mut dependents: Vec<&str> = graph
        .normal_deps
        .iter()
        .filter(|(_, deps)| deps.contains(&bootstrap))
        .map(|(&package, _)| graph.name(package))
        .collect();
    dependents.sort_unstable();
    for dependent in dependents {
        found.push(format!(
            "{dependent}: depends on `{BOOTSTRAP}`; nothing may depend on the binary crate"
        ));
    }
}

/// Reports every package named in `forbidden` reachable from `root`, with the shortest path.
fn report_forbidden(graph: &Graph<'_>, root: &str, forbidden: &[&str], found: &mut Vec<String>) {
    let root_name = graph.name(root);
    for path in graph.shortest_paths_from(root) {
        let Some(&reached) = path.last() else {
            continue;
        };
        let name = graph.name(reached);
        if forbidden.contains(&name) {
            let shown: Vec<&str> = path.iter().map(|&id| graph.name(id)).collect();
            found.push(format!(
                "{root_name}: must not reach `{name}`, but does via {}",
                shown.join(" -> ")
            ));
        }
    }
}

/// The normal-dependency graph of a `cargo metadata` document, keyed by package id.
struct Graph<'a> {
    names: HashMap<&'a str, &'a str>,
    normal_deps: HashMap<&'a str, Vec<&'a str>>,
    members: Vec<&'a str>,
}

impl<'a> Graph<'a> {
    fn parse(metadata: &'a Value) -> Result<Self, String> {
        let packages = metadata["packages"]
            .as_array()
            .ok_or("cargo metadata has no `packages` array")?;
        let names = packages
            .iter()
            .filter_map(|package| Some((package["id"].as_str()?, package["name"].as_str()?)))
            .collect();
        let nodes = metadata["resolve"]["nodes"]
            .as_array()
            .ok_or("cargo metadata has no `resolve.nodes` graph (was it run with --no-deps?)")?;
        let normal_deps = nodes
            .iter()
            .filter_map(|node| {
                let deps = node["deps"].as_array().into_iter().flatten();
                let normal = deps
                    .filter(|dep| is_normal(dep))
                    .filter_map(|dep| dep["pkg"].as_str());
                Some((node["id"].as_str()?, normal.collect()))
            })
            .collect();
        let members = metadata["workspace_members"]
            .as_array()
            .ok_or("cargo metadata has no `workspace_members` array")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        Ok(Self {
            names,
            normal_deps,
            members,
        })
    }

    /// The package name of an id (the id itself if the package list does not know it).
    fn name(&self, id: &'a str) -> &'a str {
        self.names.get(id).copied().unwrap_or(id)
    }

    fn members(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.members.iter().copied()
    }

    fn member(&self, name: &str) -> Option<&'a str> {
        self.members().find(|&id| self.name(id) == name)
    }

    fn is_member(&self, id: &str) -> bool {
        self.members.contains(&id)
    }

    fn direct_deps(&self, id: &str) -> impl Iterator<Item = &'a str> + '_ {
        self.normal_deps.get(id).into_iter().flatten().copied()
    }

    /// Breadth-first walk over normal dependencies: the shortest path from `root` to each
    /// package it reaches (root first, reached package last).
    fn shortest_paths_from(&self, root: &'a str) -> Vec<Vec<&'a str>> {
        let mut parent: HashMap<&'a str, &'a str> = HashMap::new();
        let mut seen: HashSet<&'a str> = HashSet::from([root]);
        let mut queue = VecDeque::from([root]);
        let mut reached = Vec::new();
        while let Some(current) = queue.pop_front() {
            for dep in self.direct_deps(current) {
                if seen.insert(dep) {
                    parent.insert(dep, current);
                    reached.push(dep);
                    queue.push_back(dep);
                }
            }
        }
        reached
            .into_iter()
            .map(|target| {
                let mut path = vec![target];
                let mut at = target;
                while let Some(&up) = parent.get(at) {
                    path.push(up);
                    at = up;
                }
                path.reverse();
                path
            })
            .collect()
    }
}

/// A resolved dependency edge is normal when one of its kinds is `null` (not "dev", not "build").
fn is_normal(dep: &Value) -> bool {
    match dep["dep_kinds"].as_array() {
        Some(kinds) => kinds.iter().any(|kind| kind["kind"].is_null()),
        // Cargo older than 1.41 has no dep_kinds: count the edge rather than miss it.
        None => true,
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cargo_metadata() -> Result<Value, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace_root())
        .output()
        .map_err(|error| format!("cannot run {cargo:?} metadata: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo metadata` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("`cargo metadata` printed invalid JSON: {error}"))
}

#[test]
fn workspace_respects_the_dependency_rule() {
    let metadata = cargo_metadata().unwrap_or_else(|problem| panic!("{problem}"));
    let found = violations(&metadata);
    assert!(
        found.is_empty(),
        "the dependency rule (docs/architecture.md) is broken, {} violation(s):\n  - {}\n",
        found.len(),
        found.join("\n  - ")
    );
}

/// The checker itself, fed synthetic metadata shaped like `cargo metadata --format-version 1`.
mod checker {
    use serde_json::{Value, json};

    use super::violations;

    const MEMBERS: &[&str] = &[
        "domain",
        "ports",
        "application",
        "adapters-http",
        "adapters-postgres",
        "adapters-auth",
        "bootstrap",
    ];

    /// A workspace graph built edge by edge; `None` is a normal dependency, like cargo's `kind`.
    struct Fixture {
        edges: Vec<(&'static str, &'static str, Option<&'static str>)>,
    }

    impl Fixture {
        /// A graph that respects every rule, with the kinds of crates the real one has.
        fn clean() -> Self {
            let fixture = Self { edges: Vec::new() };
            fixture
                .dep("domain", "chrono")
                .dep("domain", "rust_decimal")
                .dep("domain", "uuid")
                .dep("domain", "thiserror")
                .dep("domain", "serde")
                .dep("chrono", "num-traits")
                .dev_dep("domain", "proptest")
                .dep("ports", "domain")
                .dep("ports", "async-trait")
                .dev_dep("ports", "mockall")
                .dep("application", "domain")
                .dep("application", "ports")
                .dep("application", "async-trait")
                .dep("application", "serde")
                .dev_dep("application", "tokio")
                .dev_dep("application", "mockall")
                .dep("adapters-http", "domain")
                .dep("adapters-http", "ports")
                .dep("adapters-http", "application")
                .dep("adapters-http", "actix-web")
                .dep("actix-web", "tokio")
                .dep("adapters-postgres", "domain")
                .dep("adapters-postgres", "ports")
                .dep("adapters-postgres", "sea-orm")
                .dep("sea-orm", "sqlx")
                .dep("sqlx", "tokio")
                .build_dep("sqlx", "cc")
                .dep("bootstrap", "domain")
                .dep("bootstrap", "application")
                .dep("adapters-auth", "domain")
                .dep("adapters-auth", "ports")
                .dep("adapters-auth", "jsonwebtoken")
                .dep("bootstrap", "adapters-http")
                .dep("bootstrap", "adapters-postgres")
                .dep("bootstrap", "adapters-auth")
                .dep("bootstrap", "tokio")
                .dev_dep("bootstrap", "serde_json")
        }

        fn dep(self, from: &'static str, to: &'static str) -> Self {
            self.edge(from, to, None)
        }

        fn dev_dep(self, from: &'static str, to: &'static str) -> Self {
            self.edge(from, to, Some("dev"))
        }

        fn build_dep(self, from: &'static str, to: &'static str) -> Self {
            self.edge(from, to, Some("build"))
        }

        fn edge(
            mut self,
            from: &'static str,
            to: &'static str,
            kind: Option<&'static str>,
        ) -> Self {
            self.edges.push((from, to, kind));
            self
        }

        fn id(name: &str) -> String {
            if MEMBERS.contains(&name) {
                format!("path+file:///work/main/crates/{name}#0.1.0")
            } else {
                format!("registry+https://github.com/rust-lang/crates.io-index#{name}@1.0.0")
            }
        }

        fn metadata(&self) -> Value {
            let mut names: Vec<&str> = MEMBERS.to_vec();
            for &(from, to, _) in &self.edges {
                for name in [from, to] {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            let packages: Vec<Value> = names
                .iter()
                .map(|&name| {
                    let source = (!MEMBERS.contains(&name))
                        .then_some("registry+https://github.com/rust-lang/crates.io-index");
                    json!({ "name": name, "version": "1.0.0", "id": Self::id(name), "source": source })
                })
                .collect();
            let nodes: Vec<Value> = names.iter().map(|&name| self.node(name)).collect();
            let members: Vec<String> = MEMBERS.iter().map(|name| Self::id(name)).collect();
            json!({
                "packages": packages,
                "workspace_members": members,
                "resolve": { "nodes": nodes, "root": null },
                "workspace_root": "/work/main",
                "version": 1,
            })
        }

        /// One resolve node; several kinds of the same edge share one `deps` entry, as in cargo.
        fn node(&self, name: &str) -> Value {
            let mut targets: Vec<&str> = Vec::new();
            for &(from, to, _) in &self.edges {
                if from == name && !targets.contains(&to) {
                    targets.push(to);
                }
            }
            let deps: Vec<Value> = targets
                .iter()
                .map(|&to| {
                    let kinds: Vec<Value> = self
                        .edges
                        .iter()
                        .filter(|&&(from, dep, _)| from == name && dep == to)
                        .map(|&(_, _, kind)| json!({ "kind": kind, "target": null }))
                        .collect();
                    json!({ "name": to.replace('-', "_"), "pkg": Self::id(to), "dep_kinds": kinds })
                })
                .collect();
            let ids: Vec<String> = targets.iter().map(|to| Self::id(to)).collect();
            json!({ "id": Self::id(name), "dependencies": ids, "deps": deps, "features": [] })
        }
    }

    fn assert_reported(found: &[String], words: &[&str]) {
        assert!(
            found
                .iter()
                .any(|line| words.iter().all(|word| line.contains(word))),
            "expected a violation mentioning {words:?}, got {found:#?}"
        );
    }

    #[test]
    fn a_clean_graph_has_no_violations() {
        assert_eq!(
            violations(&Fixture::clean().metadata()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn domain_depending_on_tokio_is_reported() {
        let found = violations(&Fixture::clean().dep("domain", "tokio").metadata());
        assert_reported(&found, &["domain", "tokio"]);
    }

    #[test]
    fn domain_depending_on_a_crate_outside_its_whitelist_is_reported() {
        let found = violations(&Fixture::clean().dep("domain", "regex").metadata());
        assert_reported(&found, &["domain", "regex"]);
    }

    #[test]
    fn domain_reaching_tokio_through_an_allowed_crate_is_reported_with_the_path() {
        let found = violations(&Fixture::clean().dep("chrono", "tokio").metadata());
        assert_reported(&found, &["domain", "domain -> chrono -> tokio"]);
    }

    #[test]
    fn a_dev_dependency_of_domain_on_tokio_is_not_a_violation() {
        let found = violations(&Fixture::clean().dev_dep("domain", "tokio").metadata());
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn a_build_dependency_does_not_leak_into_the_closure() {
        let fixture = Fixture::clean()
            .dep("uuid", "helper")
            .build_dep("helper", "tokio");
        assert_eq!(violations(&fixture.metadata()), Vec::<String>::new());
    }

    #[test]
    fn an_edge_that_is_both_dev_and_normal_counts_as_normal() {
        let fixture = Fixture::clean()
            .dev_dep("domain", "tokio")
            .dep("domain", "tokio");
        assert_reported(&violations(&fixture.metadata()), &["domain", "tokio"]);
    }

    #[test]
    fn an_adapter_depending_on_another_adapter_is_reported() {
        let found = violations(
            &Fixture::clean()
                .dep("adapters-http", "adapters-postgres")
                .metadata(),
        );
        assert_reported(&found, &["adapters-http", "adapters-postgres"]);
    }

    #[test]
    fn an_edge_depending_on_the_auth_adapter_is_reported() {
        let found = violations(
            &Fixture::clean()
                .dep("adapters-http", "adapters-auth")
                .metadata(),
        );
        assert_reported(&found, &["adapters-http", "adapters-auth"]);
    }

    #[test]
    fn token_validation_outside_the_auth_adapter_is_reported() {
        let found = violations(
            &Fixture::clean()
                .dep("adapters-http", "jsonwebtoken")
                .metadata(),
        );
        assert_reported(&found, &["adapters-http", "jsonwebtoken", "adapters-auth"]);
    }

    #[test]
    fn application_depending_on_an_adapter_is_reported() {
        let found = violations(
            &Fixture::clean()
                .dep("application", "adapters-postgres")
                .metadata(),
        );
        assert_reported(&found, &["application", "adapters-postgres"]);
    }

    #[test]
    fn an_outbound_adapter_depending_on_the_use_cases_is_reported() {
        let found = violations(
            &Fixture::clean()
                .dep("adapters-postgres", "application")
                .metadata(),
        );
        assert_reported(&found, &["adapters-postgres", "application", "ports"]);
    }

    #[test]
    fn a_dev_dependency_of_an_outbound_adapter_on_the_use_cases_is_not_a_violation() {
        let found = violations(
            &Fixture::clean()
                .dev_dep("adapters-postgres", "application")
                .metadata(),
        );
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn ports_depending_on_the_use_cases_is_reported() {
        let found = violations(&Fixture::clean().dep("ports", "application").metadata());
        assert_reported(&found, &["ports", "application"]);
    }

    #[test]
    fn ports_reaching_an_infrastructure_crate_is_reported() {
        let found = violations(&Fixture::clean().dep("ports", "sea-orm").metadata());
        assert_reported(&found, &["ports", "sea-orm"]);
    }

    #[test]
    fn application_reaching_an_infrastructure_crate_is_reported() {
        let found = violations(&Fixture::clean().dep("async-trait", "hyper").metadata());
        assert_reported(&found, &["application -> async-trait -> hyper"]);
    }

    #[test]
    fn anything_depending_on_bootstrap_is_reported() {
        let found = violations(
            &Fixture::clean()
                .dep("adapters-http", "bootstrap")
                .metadata(),
        );
        assert_reported(&found, &["adapters-http", "bootstrap"]);
    }

    #[test]
    fn metadata_without_a_resolve_graph_is_reported_not_passed() {
        let mut metadata = Fixture::clean().metadata();
        metadata["resolve"] = Value::Null;
        assert_reported(&violations(&metadata), &["resolve"]);
    }
}
