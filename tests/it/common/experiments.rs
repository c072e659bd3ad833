//! Reading an experiment's results as staff, and waiting for batched events to reach them.

use std::time::Duration;

use serde_json::Value;

use super::{TestApp, eventually};

/// `GET /api/v1/admin/experiments/{key}/results{query}` as staff (`query` e.g. `?method=fixed`).
pub async fn results(app: &TestApp, key: &str, query: &str) -> Option<Value> {
    app.admin
        .get(app.url(&format!("/api/v1/admin/experiments/{key}/results{query}")))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Subjects over the variants of the first (primary) metric.
pub fn subjects(r: &Value) -> u64 {
    r["metrics"][0]["variants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v["subjects"].as_u64().unwrap_or(0))
        .sum()
}

/// The results once `n` subjects are counted (events are written in batches), within 10 s.
pub async fn results_with(app: &TestApp, key: &str, query: &str, n: u64) -> Option<Value> {
    results_when(app, key, query, |r| subjects(r) == n).await
}

/// The results once `done` holds of them (events are written in batches), within 10 s.
pub async fn results_when(
    app: &TestApp,
    key: &str,
    query: &str,
    done: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let done = &done;
    eventually(Duration::from_secs(10), || async move {
        let r = results(app, key, query).await?;
        done(&r).then_some(r)
    })
    .await
}

/// Creates an experiment as staff (`POST /api/v1/admin/experiments`), which must succeed.
pub async fn create(app: &TestApp, body: Value) -> Value {
    let r = app
        .admin_post_json("/api/v1/admin/experiments", &body)
        .await;
    assert_eq!(r.status(), 201, "experiment {body}");
    r.json().await.expect("json")
}
