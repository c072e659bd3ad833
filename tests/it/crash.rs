//! Crash safety with the real binary: jobs enqueued by acknowledged requests while the process
//! is SIGKILLed at random moments and restarted. Afterwards every acknowledged job has run,
//! none is lost, and each job's effect is applied exactly once.

use crate::common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Proc;
use rand::{RngExt, SeedableRng};

const TARGET_ACKED: usize = 1000;
const MAX_ROUNDS: usize = 60;
const CLIENTS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_enqueue_and_processing_loses_and_duplicates_nothing() {
    let seed: u64 = std::env::var("SHOPD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash test seed {seed} (rerun with SHOPD_TEST_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let unacked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut rounds = 0;
    while acked.lock().expect("lock").len() < TARGET_ACKED && rounds < MAX_ROUNDS {
        assert!(Instant::now() < deadline, "crash test ran out of time");
        rounds += 1;
        let proc = Proc::serve(dir.path(), &[]);
        let url = proc.url("/api/v1/admin/diagnostics/jobs");
        let token = proc.admin_token.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Retry a few keys whose earlier attempt got no answer: dedupe must keep them single.
        let retries: Vec<String> = unacked
            .lock()
            .expect("lock")
            .iter()
            .take(5)
            .cloned()
            .collect();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (client, url, acked, unacked, next, stop, token) = (
                client.clone(),
                url.clone(),
                acked.clone(),
                unacked.clone(),
                next.clone(),
                stop.clone(),
                token.clone(),
            );
            let mut retry = if c == 0 { retries.clone() } else { Vec::new() };
            tasks.push(tokio::spawn(async move {
                let mut sent = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) && sent < 15 {
                    sent += 1;
                    let key = retry.pop().unwrap_or_else(|| {
                        format!(
                            "c{:06}",
                            next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                        )
                    });
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&serde_json::json!({ "key": key }))
                        .send()
                        .await;
                    match r {
                        Ok(resp) if resp.status().as_u16() == 202 => {
                            unacked.lock().expect("lock").remove(&key);
                            acked.lock().expect("lock").insert(key);
                        }
                        _ => {
                            if !acked.lock().expect("lock").contains(&key) {
                                unacked.lock().expect("lock").insert(key);
                            }
                            break;
                        }
                    }
                }
            }));
        }
        let life = Duration::from_millis(rng.random_range(30..400));
        tokio::time::sleep(life).await;
        proc.kill9();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in tasks {
            let _ = t.await;
        }
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= TARGET_ACKED,
        "only {} acknowledged in {rounds} rounds",
        acked.len()
    );
    println!(
        "{} acknowledged jobs over {rounds} SIGKILLed runs",
        acked.len()
    );
    assert!(rounds >= 8, "too few crashes to mean anything ({rounds})");

    // Final run: let the queue drain, then audit.
    let proc = Proc::serve(dir.path(), &[]);
    let summary = common::eventually(Duration::from_secs(120), || {
        let client = client.clone();
        let url = proc.url("/api/v1/admin/diagnostics/jobs/summary");
        let token = proc.admin_token.clone();
        async move {
            let s: serde_json::Value = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (s["pending"] == 0).then_some(s)
        }
    })
    .await
    .expect("queue drained");
    common::assert_effects_applied_once(&summary);
    for key in &acked {
        let s: serde_json::Value = client
            .get(proc.url(&format!("/api/v1/admin/diagnostics/jobs/{key}")))
            .bearer_auth(&proc.admin_token)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        assert_eq!(s["state"], "done", "{key}: {s}");
        assert_eq!(s["effect_count"], 1, "{key}: {s}");
    }
    assert_eq!(proc.terminate().code(), Some(0));
}
