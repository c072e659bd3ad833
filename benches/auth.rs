//! Password hashing stays off the request workers: `/healthz` latency while 20 logins per second
//! (argon2id, OWASP parameters) run in parallel, against the same probe without login load.
//!
//! `cargo bench --bench auth -- [--seconds 10] [--logins-per-sec 20]`

#[path = "driver/mod.rs"]
mod driver;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use driver::{Server, arg, bin, percentile, runtime};

const EMAIL: &str = "bench@shopd.test";
const PASSWORD: &str = "Bench-Passw0rd-42";

fn create_user(dir: &std::path::Path) {
    let mut child = Command::new(bin())
        .args(["admin", "create", "--email", EMAIL, "--data-dir"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n{PASSWORD}\n").as_bytes())
        .expect("write");
    assert!(child.wait().expect("wait").success());
}

/// Sequential /healthz probes for `d`, every 5 ms; latencies in ms.
async fn probe(base: &str, d: Duration) -> Vec<f64> {
    let c = reqwest::Client::new();
    let mut lat = Vec::new();
    let mut failed = 0;
    let end = Instant::now() + d;
    while Instant::now() < end && lat.len() < 100_000 {
        let t = Instant::now();
        let ok = match c.get(format!("{base}/healthz")).send().await {
            Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
            Err(_) => false,
        };
        if !ok {
            failed += 1;
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    driver::unexpected("GET /healthz probe", failed);
    lat.sort_by(|a, b| a.total_cmp(b));
    lat
}

fn line(name: &str, lat: &[f64]) -> String {
    format!(
        "{name:<34} n={:<6} p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
        lat.len(),
        percentile(lat, 50.0),
        percentile(lat, 95.0),
        percentile(lat, 99.0),
        lat.last().copied().unwrap_or(0.0)
    )
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let seconds: u64 = arg("--seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 1 } else { 10 });
    let rate: u64 = arg("--logins-per-sec")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().expect("tempdir");
    create_user(dir.path());
    let env = [
        ("SHOPD_AUTH_LOGIN_PER_IP_PER_MINUTE", "1000000"),
        ("SHOPD_AUTH_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR", "1000000"),
    ];
    let server = Server::start_in(dir.path(), &env);
    let base = server.base.clone();
    let rt = runtime();
    rt.block_on(async {
        let idle = probe(&base, Duration::from_secs(seconds)).await;
        println!("{}", line("GET /healthz, idle", &idle));

        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        // `rate` clients, each signing in once per second.
        for i in 0..rate {
            let (base, stop) = (base.clone(), stop.clone());
            workers.push(tokio::spawn(async move {
                let c = reqwest::Client::new();
                let mut lat = Vec::new();
                tokio::time::sleep(Duration::from_millis(1000 * i / rate.max(1))).await;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                while !stop.load(Ordering::Relaxed) && lat.len() < 10_000 {
                    tick.tick().await;
                    let t = Instant::now();
                    let r = c
                        .post(format!("{base}/api/v1/auth/login"))
                        .json(&serde_json::json!({"email": EMAIL, "password": PASSWORD}))
                        .send()
                        .await;
                    let ok = matches!(&r, Ok(r) if r.status() == 200);
                    assert!(ok, "login failed: {r:?}");
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lat
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let busy = probe(&base, Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::SeqCst);
        let mut logins = Vec::new();
        for w in workers {
            logins.extend(w.await.expect("join"));
        }
        logins.sort_by(|a, b| a.total_cmp(b));
        println!("{}", line(&format!("GET /healthz, {rate} logins/s"), &busy));
        println!("{}", line("POST /api/v1/auth/login", &logins));
        println!(
            "healthz p99 ratio busy/idle: {:.2}x; logins completed {:.1}/s",
            percentile(&busy, 99.0) / percentile(&idle, 99.0).max(1e-9),
            logins.len() as f64 / (seconds as f64 + 0.5)
        );
    });
    println!(
        "server RSS {:.1} MiB (peak {:.1} MiB)",
        server.rss_mib(),
        server.peak_rss_mib()
    );
    driver::finish();
}
