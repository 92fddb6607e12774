//! The module rules of the crate (issue 15): a route module imports `dto`, `extract`, `problem`,
//! `auth`, `state`, `idempotency`, never another route module; `extract` does not reach the
//! routes through the OpenAPI document, nor `state` the actuator.

use std::path::Path;

fn source(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of `text` that mention one of `needles`, with their line numbers.
fn mentions(text: &str, needles: &[&str]) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| needles.iter().any(|n| line.contains(n)))
        .map(|(i, line)| format!("{}: {}", i + 1, line.trim()))
        .collect()
}

#[test]
fn route_modules_do_not_import_each_other() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut offences = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "mod.rs" || !name.ends_with(".rs") {
            continue;
        }
        seen += 1;
        let text = source(&format!("routes/{name}"));
        // `super::` outside `use super::*` in a test module would reach a sibling too.
        for hit in mentions(&text, &["crate::routes", "super::"]) {
            if !hit.ends_with("use super::*;") {
                offences.push(format!("routes/{name}:{hit}"));
            }
        }
    }
    assert!(
        seen >= 10,
        "only {seen} route modules found in {}",
        dir.display()
    );
    assert!(
        offences.is_empty(),
        "route modules importing each other:\n{}",
        offences.join("\n")
    );
}

#[test]
fn extract_and_state_close_no_circle() {
    let extract = mentions(&source("extract.rs"), &["crate::openapi", "crate::routes"]);
    assert!(extract.is_empty(), "extract.rs: {extract:?}");
    let state = mentions(&source("state.rs"), &["crate::actuator", "crate::routes"]);
    assert!(state.is_empty(), "state.rs: {state:?}");
    let dto_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dto");
    let mut dto_files = vec!["dto.rs".to_owned()];
    for entry in std::fs::read_dir(&dto_dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        dto_files.push(format!("dto/{name}"));
    }
    for file in dto_files {
        let dto = mentions(&source(&file), &["crate::routes", "crate::state"]);
        assert!(dto.is_empty(), "{file}: {dto:?}");
    }
}
