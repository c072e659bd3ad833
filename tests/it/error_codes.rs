//! The error-code table is complete and lean: every code in `core::errors::TABLE` is used by
//! some module, and every code an answer carries is in the table (the OpenAPI document lists
//! the table as the `code` enum of the problem schema, which the contract check enforces).

use std::path::Path;

use shopd::core::errors::TABLE;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).expect("read");
            out.push((p.display().to_string(), text));
        }
    }
}

#[test]
fn every_listed_code_is_used_somewhere() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let unused: Vec<&str> = TABLE
        .iter()
        .filter(|c| {
            let ident = c.name.to_ascii_uppercase();
            !files.iter().any(|(path, text)| {
                !path.ends_with("core/errors.rs")
                    && (text.contains(&format!("codes::{ident}"))
                        || text.contains(&format!("errors::{ident}")))
            })
        })
        .map(|c| c.name)
        .collect();
    assert!(unused.is_empty(), "listed but never used: {unused:?}");
}

#[test]
fn the_document_lists_the_table_as_the_problem_codes() {
    let doc = serde_json::to_value(shopd::http::docs::openapi()).expect("doc");
    let listed: Vec<&str> = doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .expect("code enum")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let table: Vec<&str> = TABLE.iter().map(|c| c.name).collect();
    assert_eq!(listed, table);
}

#[test]
fn an_unlisted_code_breaks_the_contract() {
    let body = serde_json::json!({"type": "urn:shopd:problem:made_up", "title": "Conflict",
        "status": 409, "detail": "x", "code": "made_up"});
    let rec = shopd::http::middleware::TapRecord {
        method: "POST".into(),
        route: Some("/api/v1/cart/items".into()),
        status: 409,
        content_type: Some("application/problem+json".into()),
        body: serde_json::to_vec(&body).expect("bytes").into(),
    };
    let why = crate::common::contract::check(&rec);
    assert!(why.is_some_and(|w| w.contains("/code")));
}
