//! routes ⊆ docs: every actix route attribute in the sources is an operation of
//! `openapi::document()` with the same method and path, and every handler carries a
//! `#[utoipa::path(...)]` right above it. (`crates/bootstrap/tests/e2e_openapi.rs` checks
//! docs ⊆ routes against the running app.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;

/// A route found in the sources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    method: String,
    path: String,
    /// `file:line` of the attribute.
    at: String,
}

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// `#[get("/events/{id}")]` → `("get", "/events/{id}")`.
fn route_attribute(line: &str) -> Option<(&'static str, String)> {
    let line = line.trim();
    METHODS.into_iter().find_map(|m| {
        let rest = line.strip_prefix(&format!("#[{m}(\""))?;
        let (path, tail) = rest.split_once('"')?;
        (tail.starts_with(')') || tail.starts_with(',')).then(|| (m, path.to_owned()))
    })
}

/// The routes of one source file, mounted under `prefix`; pushes handlers without an
/// OpenAPI annotation to `unannotated`.
fn scan(file: &Path, prefix: &str, unannotated: &mut Vec<String>) -> Vec<Route> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let mut routes = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((method, path)) = route_attribute(line) else {
            continue;
        };
        let at = format!("{name}:{}", i + 1);
        // The attribute right above: the nearest line opening an attribute is
        // `#[utoipa::path(`, and its block closes on the line just before the route.
        let annotated = i > 0
            && lines[i - 1].trim_end().ends_with(")]")
            && lines[..i]
                .iter()
                .rposition(|l| l.trim_start().starts_with("#["))
                .is_some_and(|o| lines[o].trim_start().starts_with("#[utoipa::path("));
        if !annotated {
            unannotated.push(format!("{at} #[{method}(\"{path}\")]"));
        }
        routes.push(Route {
            method: method.to_owned(),
            path: format!("{prefix}{path}"),
            at,
        });
    }
    routes
}

/// Every route of the sources, with its full path.
fn source_routes(unannotated: &mut Vec<String>) -> Vec<Route> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut routes = scan(&src.join("actuator.rs"), "", unannotated);
    let mut files: Vec<_> = std::fs::read_dir(src.join("routes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for file in files {
        // lib.rs `configure`: the resources under /api/v1; the sandbox page and the jobs'
        // routes at the root.
        let prefix = if file
            .file_name()
            .is_some_and(|n| n == "sandbox.rs" || n == "jobs.rs")
        {
            ""
        } else {
            "/api/v1"
        };
        routes.extend(scan(&file, prefix, unannotated));
    }
    routes
}

/// `(method, path)` of every operation of the document.
fn documented() -> BTreeSet<(String, String)> {
    let doc = adapters_http::openapi::document();
    let mut ops = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let present = [
            ("get", item.get.is_some()),
            ("post", item.post.is_some()),
            ("put", item.put.is_some()),
            ("delete", item.delete.is_some()),
            ("patch", item.patch.is_some()),
        ];
        for (method, is) in present {
            if is {
                ops.insert((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn the_scanner_reads_route_attributes() {
    assert_eq!(
        route_attribute(r#"#[get("/events/{id}")]"#),
        Some(("get", "/events/{id}".to_owned()))
    );
    assert_eq!(
        route_attribute(r#"  #[post("/payments/webhook/{gateway}", wrap = "X")]"#),
        Some(("post", "/payments/webhook/{gateway}".to_owned()))
    );
    assert_eq!(route_attribute(r#"#[getter("/x")]"#), None);
    assert_eq!(
        route_attribute("// #[get] in a comment is not at the start"),
        None
    );
}

#[test]
fn every_route_is_documented_with_its_method() {
    let mut unannotated = Vec::new();
    let routes = source_routes(&mut unannotated);
    assert!(
        routes.len() >= 20,
        "only {} routes found: {routes:?}",
        routes.len()
    );
    let documented = documented();
    let missing: Vec<String> = routes
        .iter()
        .filter(|r| !documented.contains(&(r.method.clone(), r.path.clone())))
        .map(|r| format!("{} {} ({})", r.method.to_uppercase(), r.path, r.at))
        .collect();
    assert!(
        missing.is_empty(),
        "{} route(s) missing from adapters_http::openapi::document():\n{}",
        missing.len(),
        missing.join("\n")
    );
    // No route is declared twice.
    let distinct: BTreeSet<_> = routes.iter().map(|r| (&r.method, &r.path)).collect();
    assert_eq!(distinct.len(), routes.len(), "duplicate routes: {routes:?}");
}

#[test]
fn every_handler_has_a_utoipa_path_annotation_right_above_it() {
    let mut unannotated = Vec::new();
    let _ = source_routes(&mut unannotated);
    assert!(
        unannotated.is_empty(),
        "handlers without #[utoipa::path(...)] right above the route attribute:\n{}",
        unannotated.join("\n")
    );
}
