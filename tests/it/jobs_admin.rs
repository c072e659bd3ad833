//! Job administration over HTTP against the real server and a real SMTP server: mails the
//! server refuses for good die at their first attempt; staff list jobs by state and kind
//! (paged, without payloads), inspect one (payload, attempts, last error), retry it (it runs
//! again with a fresh budget) and discard another; finished jobs refuse both; customers are
//! refused; the oldest-ready age is a metric.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::{SmtpSink, TestApp, eventually, free_port, problem, smtp_config};
use serde_json::{Value, json};

async fn jobs(app: &TestApp, query: &str) -> Value {
    let r = app.admin_get(&format!("/api/v1/admin/jobs{query}")).await;
    assert_eq!(r.status(), 200, "{query}");
    r.json().await.expect("json")
}

async fn dead_mails(app: &TestApp, n: usize) -> Vec<Value> {
    eventually(Duration::from_secs(30), || async {
        let page = jobs(app, "?state=dead&kind=mail.send").await;
        let dead = page["data"].as_array().cloned().unwrap_or_default();
        (dead.len() >= n).then_some(dead)
    })
    .await
    .expect("the mails die while the SMTP server is down")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_list_inspect_retry_and_discard_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut sink = SmtpSink::start_on(port, dir.path().join("sink").as_path());
    let app = TestApp::spawn_with(smtp_config(dir.path(), port), None).await;
    // The server refuses these mailboxes for good (550): each mail dies at its first attempt.
    for who in ["ada", "grace"] {
        let r = app
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": format!("{who}@reject.test"), "password": "Tr0ub4dor&3-horse", "name": who}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let dead = dead_mails(&app, 2).await;
    assert!(
        dead.iter().all(|j| j.get("payload").is_none()),
        "no payloads in lists"
    );
    let id = dead[0]["id"].as_str().expect("id").to_owned();
    let other = dead[1]["id"].as_str().expect("id").to_owned();
    let one = job(&app, &id).await;
    assert_eq!(one["state"], "dead");
    assert_eq!(
        one["attempts"], 1,
        "a permanent refusal is not retried: {one}"
    );
    assert!(
        one["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("refused by the mail server")),
        "{one}"
    );
    assert!(one["payload"].is_object(), "{one}");
    let shown = one["payload"].to_string();
    assert!(
        shown.contains("<redacted>") && !shown.contains("token="),
        "one-time links are never shown: {shown}"
    );

    // Every job exactly once, a page of one at a time, across states.
    let mut seen = HashSet::new();
    let mut cursor = String::new();
    for _ in 0..200 {
        let page = jobs(&app, &format!("?per_page=1{cursor}")).await;
        for j in page["data"].as_array().expect("data") {
            assert!(
                seen.insert(j["id"].as_str().expect("id").to_owned()),
                "twice: {j}"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert!(seen.contains(&id) && seen.contains(&other), "{seen:?}");
    let first = jobs(&app, "?state=dead&per_page=1").await;
    let c = first["next_cursor"].as_str().expect("a second dead job");
    let r = app
        .admin_get(&format!("/api/v1/admin/jobs?state=ready&cursor={c}"))
        .await;
    problem(r, 400, "malformed_request").await;

    // A recurring run schedules the next one itself: it cannot be discarded.
    let sweep = jobs(&app, "?state=ready&kind=order.expire_due").await;
    let sweep = sweep["data"][0]["id"]
        .as_str()
        .expect("the expiry sweep")
        .to_owned();
    let r = app
        .admin
        .delete(app.url(&format!("/api/v1/admin/jobs/{sweep}")))
        .send()
        .await
        .expect("discard");
    problem(r, 409, "conflict").await;

    // A retry runs the job again with a fresh budget (refused again: dead after one attempt).
    let r = app
        .admin
        .post(app.url(&format!("/api/v1/admin/jobs/{id}/retry")))
        .send()
        .await
        .expect("retry");
    assert_eq!(r.status(), 200);
    let ready: Value = r.json().await.expect("json");
    assert_eq!(
        (&ready["state"], &ready["attempts"]),
        (&json!("ready"), &json!(0))
    );
    let again = eventually(Duration::from_secs(20), || async {
        let j = job(&app, &id).await;
        (j["state"] == "dead").then_some(j)
    })
    .await
    .expect("the retried job ran");
    assert_eq!(again["attempts"], 1);
    let r = app
        .admin
        .delete(app.url(&format!("/api/v1/admin/jobs/{other}")))
        .send()
        .await
        .expect("discard");
    assert_eq!(r.status(), 204);
    let r = app.admin_get(&format!("/api/v1/admin/jobs/{other}")).await;
    problem(r, 404, "not_found").await;
    let r = app
        .admin
        .post(app.url(&format!("/api/v1/admin/jobs/{other}/retry")))
        .send()
        .await
        .expect("retry");
    problem(r, 404, "not_found").await;

    // A delivered mail's job is done: neither retried nor discarded.
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "ok@example.com", "password": "Tr0ub4dor&3-horse", "name": "ok"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let done = eventually(Duration::from_secs(20), || async {
        let page = jobs(&app, "?state=done&kind=mail.send").await;
        page["data"][0]["id"].as_str().map(str::to_owned)
    })
    .await
    .expect("a delivered mail");
    assert_eq!(sink.to("ok@example.com").len(), 1);
    for (method, path) in [
        (
            reqwest::Method::POST,
            format!("/api/v1/admin/jobs/{done}/retry"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/admin/jobs/{done}"),
        ),
    ] {
        let r = app
            .admin
            .request(method, app.url(&path))
            .send()
            .await
            .expect("send");
        problem(r, 409, "conflict").await;
    }
    sink.stop();
    app.stop().await;
}

async fn job(app: &TestApp, id: &str) -> Value {
    let r = app.admin_get(&format!("/api/v1/admin/jobs/{id}")).await;
    assert_eq!(r.status(), 200, "{id}");
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_filters_customers_and_metrics() {
    let app = TestApp::spawn().await;
    let r = app.admin_get("/api/v1/admin/jobs?state=sleeping").await;
    problem(r, 422, "validation_failed").await;
    let r = app.admin_get("/api/v1/admin/jobs?cursor=nonsense").await;
    problem(r, 400, "malformed_request").await;
    let r = app.admin_get("/api/v1/admin/jobs/job_nope").await;
    problem(r, 404, "not_found").await;
    let token = app.customer_token("shopper@example.com").await;
    let r = common::bearer_client(&token)
        .get(app.url("/api/v1/admin/jobs"))
        .send()
        .await
        .expect("get");
    problem(r, 403, "forbidden").await;
    let text = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        text.contains("jobs_oldest_ready_age_seconds"),
        "metric exported"
    );
    app.stop().await;
}

/// A policy refusal (`550 5.7.1 relaying denied`) is the server's configuration, not the
/// mailbox: after the failed attempt the mail is scheduled again instead of dying (the test
/// clock stands still, so the retry waits for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_refusal_is_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut sink = SmtpSink::start_on(port, dir.path().join("sink").as_path());
    let app = TestApp::spawn_with(smtp_config(dir.path(), port), None).await;
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "ada@policy.test", "password": "Tr0ub4dor&3-horse", "name": "ada"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let retried = eventually(Duration::from_secs(20), || async {
        let page = jobs(&app, "?kind=mail.send").await;
        let j = page["data"][0].clone();
        j["last_error"].is_string().then_some(j)
    })
    .await
    .expect("an attempt failed");
    assert_eq!(
        (&retried["state"], &retried["attempts"]),
        (&json!("ready"), &json!(1)),
        "scheduled again, not dead: {retried}"
    );
    assert!(
        retried["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("5.7.1")),
        "{retried}"
    );
    sink.stop();
    app.stop().await;
}
