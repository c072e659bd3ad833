//! Storage over a fault-injecting disk (on PostgreSQL: a connection to the database that is
//! cut): the write that hits the fault is not acknowledged, readiness turns 503, and a restart
//! on a healthy disk (database) finds every acknowledged write and nothing else.

use crate::common;

use common::{TestApp, problem};
use serde_json::json;
use shopd::storage::FaultSwitch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_error_is_not_acknowledged_and_flips_readiness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let switch = FaultSwitch::new();
    let proxy = match common::backend::is_postgres() {
        true => Some(common::backend::PgProxy::start(dir.path()).await),
        false => None,
    };
    let app = match &proxy {
        Some(p) => {
            let mut cfg = common::test_config(dir.path());
            cfg.storage.postgres_url = shopd::config::Secret::new(&p.url);
            cfg.storage.postgres_statement_timeout_ms = 2_000;
            TestApp::spawn_with(cfg, None).await
        }
        None => TestApp::spawn_in(dir.path(), Some(switch.clone())).await,
    };
    let mut acked = Vec::new();
    for i in 0..30 {
        let key = format!("w{i:03}");
        let r = app
            .admin_post_json("/api/v1/admin/diagnostics/notes", &json!({"key": key}))
            .await;
        assert_eq!(r.status(), 201);
        acked.push(key);
    }
    assert_eq!(app.get("/readyz").await.status(), 200);

    match &proxy {
        Some(p) => p.cut(),
        None => switch.fail_writes(),
    }
    // Concurrent writes hitting the fault: none may be acknowledged.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let client = app.admin.clone();
        let url = app.url("/api/v1/admin/diagnostics/notes");
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"key": format!("lost{i}")}))
                .send()
                .await
                .expect("send")
        }));
    }
    for t in tasks {
        let r = t.await.expect("join");
        let body = problem(r, 503, "storage_unavailable").await;
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("nothing was saved"))
        );
    }
    problem(app.get("/readyz").await, 503, "storage_unavailable").await;
    // Liveness stays up: the process is alive, just not ready.
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;

    // Healthy disk again.
    let app = TestApp::spawn_in(dir.path(), None).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let page: serde_json::Value = app
        .admin_get("/api/v1/admin/diagnostics/notes?per_page=100")
        .await
        .json()
        .await
        .expect("json");
    let keys: Vec<String> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|n| n["key"].as_str().expect("key").to_owned())
        .collect();
    assert_eq!(keys, acked, "exactly the acknowledged writes survive");
    app.stop().await;
}
