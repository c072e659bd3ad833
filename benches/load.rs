//! HTTP load benchmark against the real binary.
//!
//! `cargo bench --bench load -- [--concurrency 16] [--seconds 5] [--scenario all|healthz|write|enqueue]`
//! prints requests/s, p50/p95/p99 and server memory per scenario, plus time-to-ready.

#[path = "driver/mod.rs"]
mod driver;

use std::sync::Arc;
use std::time::Duration;

use driver::{Load, MakeRequest, Server, arg, drive};

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: do a short smoke run only.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let concurrency: usize = arg("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let seconds: u64 = arg("--seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 1 } else { 5 });
    let scenario = arg("--scenario").unwrap_or_else(|| "all".into());
    let load = Load {
        concurrency,
        duration: Duration::from_secs(seconds),
        max_requests: 2_000_000,
        warmup: Duration::from_millis(if smoke { 50 } else { 500 }),
        expected: &[],
    };

    // Start-up: median time from spawn to a 200 on /readyz over a few fresh starts.
    let mut starts: Vec<f64> = (0..5)
        .map(|_| Server::start(&[]).ready_after.as_secs_f64() * 1000.0)
        .collect();
    starts.sort_by(|a, b| a.total_cmp(b));
    println!(
        "startup: spawn → /readyz 200: median {:.1} ms, max {:.1} ms (5 fresh data dirs)",
        starts[2], starts[4]
    );

    // The diagnostics routes need an admin: create one with the real CLI and sign in.
    let dir = tempfile::tempdir().expect("tempdir");
    driver::create_admin(dir.path());
    let server = Server::start_in(dir.path(), &[("SHOPD_DIAGNOSTICS_ENABLED", "true")]);
    let token: Arc<str> = driver::runtime()
        .block_on(driver::admin_token(&reqwest::Client::new(), &server.base))
        .into();
    println!("server idle RSS {:.1} MiB", server.rss_mib());
    let (t1, t2) = (token.clone(), token);
    let scenarios: Vec<(&str, MakeRequest)> = vec![
        (
            "GET /healthz",
            Arc::new(|c: &reqwest::Client, base: &str, _n| c.get(format!("{base}/healthz"))),
        ),
        (
            "POST notes (durable write)",
            Arc::new(move |c: &reqwest::Client, base: &str, n| {
                c.post(format!("{base}/api/v1/admin/diagnostics/notes"))
                    .bearer_auth(&t1)
                    .header("content-type", "application/json")
                    .body(format!("{{\"key\":\"n{n}\",\"value\":\"bench\"}}"))
            }),
        ),
        (
            "POST jobs (write + enqueue)",
            Arc::new(move |c: &reqwest::Client, base: &str, n| {
                c.post(format!("{base}/api/v1/admin/diagnostics/jobs"))
                    .bearer_auth(&t2)
                    .header("content-type", "application/json")
                    .body(format!("{{\"key\":\"j{n}\"}}"))
            }),
        ),
    ];
    for (name, make) in scenarios {
        let wanted = match scenario.as_str() {
            "all" => true,
            "healthz" => name.contains("healthz"),
            "write" => name.contains("notes"),
            "enqueue" => name.contains("jobs"),
            _ => false,
        };
        if wanted {
            let report = drive(name, &server.base, &load, make);
            println!("{}", report.line());
        }
    }
    println!(
        "server RSS {:.1} MiB (peak {:.1} MiB)",
        server.rss_mib(),
        server.peak_rss_mib()
    );
    driver::finish();
}
