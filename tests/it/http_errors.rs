//! Every class of bad input gets its status and a problem+json body, and the server keeps
//! serving afterwards.

use crate::common;

use common::{TestApp, problem};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_classes_get_problem_json_and_server_survives() {
    let app = TestApp::spawn().await;
    let notes = app.url("/api/v1/admin/diagnostics/notes");

    // Malformed JSON → 400
    let r = app
        .admin
        .post(&notes)
        .header("content-type", "application/json")
        .body("{\"key\": ")
        .send()
        .await
        .expect("send");
    problem(r, 400, "malformed_request").await;

    // Wrong content type → 415
    let r = app
        .admin
        .post(&notes)
        .header("content-type", "text/plain")
        .body("{\"key\":\"a\"}")
        .send()
        .await
        .expect("send");
    problem(r, 415, "unsupported_media_type").await;

    // Well-formed but wrong shape → 422 with field errors
    let r = app
        .admin_post_json("/api/v1/admin/diagnostics/notes", &json!({"value": "x"}))
        .await;
    let body = problem(r, 422, "validation_failed").await;
    assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()));

    // Invalid value → 422 naming the field
    let r = app
        .admin_post_json(
            "/api/v1/admin/diagnostics/notes",
            &json!({"key": "has space"}),
        )
        .await;
    let body = problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "key");

    // Oversized body → 413 (default limit 1 MiB)
    let big = format!(
        "{{\"key\":\"k\",\"value\":\"{}\"}}",
        "a".repeat(1024 * 1024 + 10)
    );
    let r = app
        .admin
        .post(&notes)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    problem(r, 413, "payload_too_large").await;

    // Unknown route → 404: problem+json under /api/, the HTML error page elsewhere, one code.
    problem(app.get("/api/v1/no/such/route").await, 404, "not_found").await;
    error_page(app.get("/no/such/route").await, 404, "not_found").await;

    // Method not allowed → 405
    let r = app
        .client
        .delete(app.url("/api/v1/admin/products"))
        .send()
        .await
        .expect("send");
    problem(r, 405, "method_not_allowed").await;
    let r = app
        .client
        .delete(app.url("/healthz"))
        .send()
        .await
        .expect("send");
    error_page(r, 405, "method_not_allowed").await;

    // Unknown query parameter → 400
    problem(
        app.admin_get("/api/v1/admin/diagnostics/notes?colour=red")
            .await,
        400,
        "malformed_request",
    )
    .await;

    // Panic in a handler → 500 without internals
    let r = app.admin_get("/api/v1/admin/diagnostics/panic").await;
    assert!(r.headers().contains_key("x-request-id"));
    let body = problem(r, 500, "internal_error").await;
    assert!(!body.to_string().contains("secret internals"), "{body}");

    // Still serving, and still accepting writes.
    for _ in 0..3 {
        let r = app.get("/healthz").await;
        assert_eq!(r.status(), 200);
        let r = app.admin_get("/api/v1/admin/diagnostics/panic").await;
        assert_eq!(r.status(), 500);
    }
    let r = app
        .admin_post_json("/api/v1/admin/diagnostics/notes", &json!({"key": "after"}))
        .await;
    assert_eq!(r.status(), 201);
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_is_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("send");
    let rid = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(rid, "bad id with spaces");
    assert_eq!(rid.len(), 32);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_is_configurable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = common::test_config(dir.path());
    cfg.server.body_limit = 2048;
    let app = TestApp::spawn_with(cfg, None).await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/diagnostics/notes",
            &json!({"key": "k", "value": "x".repeat(3000)}),
        )
        .await;
    problem(r, 413, "payload_too_large").await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/diagnostics/notes",
            &json!({"key": "k", "value": "x".repeat(100)}),
        )
        .await;
    assert_eq!(r.status(), 201);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_pagination_walks_every_note_once() {
    let app = TestApp::spawn().await;
    for i in 0..45 {
        let r = app
            .admin_post_json(
                "/api/v1/admin/diagnostics/notes",
                &json!({"key": format!("n{i:03}")}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?per_page=20&cursor={c}"),
            None => "?per_page=20".into(),
        };
        let page: serde_json::Value = app
            .admin_get(&format!("/api/v1/admin/diagnostics/notes{q}"))
            .await
            .json()
            .await
            .expect("json");
        for n in page["data"].as_array().expect("data") {
            seen.push(n["key"].as_str().expect("key").to_owned());
        }
        if page["has_more"] == true {
            cursor = Some(page["next_cursor"].as_str().expect("cursor").to_owned());
        } else {
            assert!(page["next_cursor"].is_null());
            break;
        }
    }
    let expected: Vec<String> = (0..45).map(|i| format!("n{i:03}")).collect();
    assert_eq!(seen, expected);
    problem(
        app.admin_get("/api/v1/admin/diagnostics/notes?per_page=101")
            .await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        app.admin_get("/api/v1/admin/diagnostics/notes?cursor=zz")
            .await,
        422,
        "validation_failed",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_and_embedded_docs() {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(doc["info"]["title"], "shopd");
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/admin/diagnostics/jobs",
        "/api/v1/admin/diagnostics/notes",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());

    let r = app.get("/api/docs/").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("html");
    assert!(html.contains("swagger-ui"));
    // Every script and stylesheet is served by shopd itself.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!html.contains(attr), "external asset reference {attr}");
    }
    for asset in [
        "/api/docs/swagger-ui.css",
        "/api/docs/swagger-ui-bundle.js",
        "/api/docs/swagger-initializer.js",
    ] {
        let r = app.get(asset).await;
        assert_eq!(r.status(), 200, "{asset}");
    }
    let init = app
        .get("/api/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .expect("js");
    assert!(init.contains("/api/openapi.json"));
    // `/` is the storefront (the start-up log names the docs' URL).
    let r = app.get("/").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("<link rel=\"canonical\"")
    );
    app.stop().await;
}

/// Reads an HTML error page and checks it carries the status and the stable code.
async fn error_page(resp: reqwest::Response, status: u16, code: &str) {
    assert_eq!(resp.status().as_u16(), status);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(ct.starts_with("text/html"), "content-type {ct}");
    let html = resp.text().await.expect("html");
    assert!(html.contains(&format!("data-code=\"{code}\"")), "{html}");
    assert!(html.contains(&status.to_string()), "{html}");
}
