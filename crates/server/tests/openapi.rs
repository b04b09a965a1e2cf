//! The OpenAPI document is generated from the route table; the committed copy must not drift
//! from it, and it must describe every route the table serves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    let generated = canopy_server::openapi::document();
    let committed: serde_json::Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    assert!(
        committed == generated,
        "{} is not the API's document; regenerate it: cargo run -q -p canopy-cli -- openapi > openapi.json",
        path.display()
    );
}

#[test]
fn every_operation_has_an_id_a_tag_and_a_problem_answer() {
    let doc = canopy_server::openapi::document();
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_string()), "{id} twice");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id}: no tag"
            );
            assert!(
                op["responses"]["default"].is_object(),
                "{id}: no problem answer"
            );
        }
    }
    assert!(ids.len() >= 50, "only {} operations", ids.len());
}
