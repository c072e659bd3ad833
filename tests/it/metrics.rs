//! `/metrics` passes `promtool check metrics` and carries the promised families.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_cover_http_storage_and_jobs() {
    let app = TestApp::spawn().await;
    // Generate traffic of every kind first.
    app.get("/healthz").await;
    app.get("/nope").await;
    let r = app
        .admin_post_json("/api/v1/admin/diagnostics/jobs", &json!({"key": "m1"}))
        .await;
    assert_eq!(r.status(), 202);
    common::eventually(Duration::from_secs(10), || async {
        let s: serde_json::Value = app
            .admin_get("/api/v1/admin/diagnostics/jobs/m1")
            .await
            .json()
            .await
            .ok()?;
        (s["state"] == "done").then_some(())
    })
    .await
    .expect("job done");

    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/plain")
    );
    let text = r.text().await.expect("text");
    for needle in [
        "shopd_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}",
        "shopd_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
        "shopd_http_request_duration_seconds_bucket",
        "shopd_storage_commit_duration_seconds_bucket",
        "shopd_storage_commit_batch_size_bucket",
        "shopd_jobs_queue_depth{state=\"done\",kind=\"diagnostics.effect\"} 1",
        "shopd_jobs_outcomes_total{kind=\"diagnostics.effect\",outcome=\"succeeded\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }

    let promtool = which("promtool").expect(
        "promtool not found: install Debian's `prometheus` package (the test command in README does)",
    );
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    app.stop().await;
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(cmd))
        .find(|p| p.is_file())
}
