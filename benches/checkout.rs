//! Checkout benchmark: durable checkouts per second at 64 concurrent clients (each checkout is
//! one write transaction: re-pricing, stock reservation, order, event, mail and expiry jobs,
//! idempotency record, cart removal; acknowledged only once committed) and their latency,
//! against baselines measured in the same run: the store's raw single-writer durable commit rate
//! (a 200-byte insert per commit), one client's checkouts/s, 64 clients' checkouts/s with every
//! checkout committed alone (`storage.group_commit_max_batch = 1`), and replaying the same
//! checkouts (idempotent replays write nothing: the HTTP path and load driver's own ceiling).
//!
//! With `--code`, it compares instead (three rounds each, alternating, medians): checkouts of
//! carts holding a 10 % discount code with a usage limit (priced in the write, its use
//! counted there) against the same checkouts without one.
//!
//! With `--exposures`, it compares checkouts alone against the same checkouts while another
//! client sends 1,000 experiment exposures per second (each a distinct subject, so each is
//! written), three alternating rounds each: exposures are batched, so they should cost
//! checkouts less than 10 %.
//!
//! With `--backend postgres --nodes 1,2,3`, it measures instead, in one run, durable checkouts/s
//! and their latency on PostgreSQL with each number of shopd nodes sharing one database
//! (requests spread round-robin), beside the embedded store's figure: three alternating rounds,
//! medians. The server is Debian's `postgresql` started on a loopback port with its durability
//! kept (`tests/support/postgres.sh … durable`), or the one `SHOPD_TEST_POSTGRES` names.
//!
//! `cargo bench --bench checkout -- [--seconds 10] [--concurrency 64] [--strategy both|pessimistic|optimistic] [--code] [--exposures] [--backend postgres --nodes 1,2,3]`

#[path = "driver/mod.rs"]
mod driver;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use driver::shop::{apply_code, carts, catalog};
use driver::{Load, MakeRequest, Server, admin_token, arg, create_admin, drive, runtime};
use serde_json::json;

fn run(
    strategy: &str,
    max_batch: usize,
    concurrency: usize,
    seconds: u64,
    smoke: bool,
) -> (driver::Report, driver::Report) {
    run_with(
        strategy,
        max_batch,
        concurrency,
        seconds,
        smoke,
        Extra::default(),
    )
}

/// What a run adds to plain checkouts.
#[derive(Clone, Copy, Default)]
struct Extra {
    /// Every cart carries a discount code.
    code: bool,
    /// Experiment exposures per second sent alongside (0: none).
    exposures: u64,
}

/// Exposures sent alongside a run, and how they went.
struct ExposureLoad {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(u64, u64, f64)>,
}

/// Sends `rate` exposures per second, in ticks of 10 ms, each for a new subject, until stopped.
fn exposures(base: String, token: String, rate: u64) -> ExposureLoad {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        runtime().block_on(async move {
            let c = reqwest::Client::new();
            let per_tick = (rate / 100).max(1);
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let (mut sent, mut bad) = (0u64, 0u64);
            let start = Instant::now();
            // Bounded: stops with the run it accompanies, and after 10 minutes at the most.
            while !flag.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(600) {
                tick.tick().await;
                let batch = (0..per_tick).map(|k| {
                    c.post(format!("{base}/api/v1/experiments/events"))
                        .bearer_auth(&token)
                        .json(&json!({"type": "exposure", "experiment": "bench", "subject": format!("s{}", sent + k)}))
                        .send()
                });
                for r in futures_util::future::join_all(batch).await {
                    if !r.is_ok_and(|r| r.status().as_u16() == 202) {
                        bad += 1;
                    }
                }
                sent += per_tick;
            }
            (sent, bad, start.elapsed().as_secs_f64())
        })
    });
    ExposureLoad { stop, handle }
}

fn run_with(
    strategy: &str,
    max_batch: usize,
    concurrency: usize,
    seconds: u64,
    smoke: bool,
    extra: Extra,
) -> (driver::Report, driver::Report) {
    let code = extra.code;
    let dir = tempfile::Builder::new()
        .prefix("shopd-bench-")
        .tempdir_in(
            std::env::var("SHOPD_BENCH_DIR")
                .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
        )
        .expect("tempdir");
    create_admin(dir.path());
    let server = Server::start_in(
        dir.path(),
        &[
            ("SHOPD_CHECKOUT_RESERVATION_STRATEGY", strategy),
            (
                "SHOPD_STORAGE_GROUP_COMMIT_MAX_BATCH",
                &max_batch.to_string(),
            ),
        ],
    );
    // Enough carts for the whole run at well above the expected rate; the run stops early
    // (bounded in count) if they run out.
    let per_second = if concurrency == 1 { 2_000 } else { 9_000 };
    let n = if smoke {
        200
    } else {
        per_second * seconds as usize
    };
    let rt = runtime();
    let (carts, token) = rt.block_on(async {
        let c = reqwest::Client::new();
        let token = admin_token(&c, &server.base).await;
        if extra.exposures > 0 {
            let r = c
                .post(format!("{}/api/v1/admin/experiments", server.base))
                .bearer_auth(&token)
                .json(&json!({"key": "bench", "status": "running"}))
                .send()
                .await
                .expect("experiment");
            assert_eq!(r.status(), 201);
        }
        let variants = catalog(&c, &server.base, &token).await;
        let carts = carts(&c, &server.base, &variants, n).await;
        if code {
            let r = c
                .post(format!("{}/api/v1/admin/promotions", server.base))
                .bearer_auth(&token)
                .json(
                    &json!({"name": "Bench ten", "code": "BENCH10", "usage_limit": 1_000_000_000u64,
                              "effect": {"type": "percentage", "percent": 10}}),
                )
                .send()
                .await
                .expect("promotion");
            assert_eq!(r.status(), 201);
            apply_code(&c, &server.base, &carts, "BENCH10").await;
        }
        (carts, token)
    });
    drop(rt);
    println!(
        "{} carts ready{}; {strategy} checkouts at {concurrency} clients",
        carts.len(),
        if code {
            " (each with a discount code)"
        } else {
            ""
        }
    );
    let carts = Arc::new(carts);
    let body = json!({"email": "bench@example.com", "shipping_address": {
        "name": "Bench", "line1": "1 Load Street", "city": "Berlin", "postal_code": "10115", "country": "DE"}});
    let body = Arc::new(body);
    let make: MakeRequest = Arc::new(move |c: &reqwest::Client, base: &str, i| {
        let i = i as usize % carts.len();
        c.post(format!("{base}/api/v1/checkout"))
            .header("X-Cart-Token", &carts[i])
            .header("Idempotency-Key", format!("bench-{i}"))
            .json(&*body)
    });
    let load = Load {
        concurrency,
        duration: Duration::from_secs(seconds),
        max_requests: n as u64,
        warmup: Duration::from_millis(if smoke { 0 } else { 500 }),
        // Optimistic reservations may give up after their retries: 503 `stock_contention`.
        expected: if strategy == "optimistic" {
            &[503]
        } else {
            &[]
        },
    };
    let side =
        (extra.exposures > 0).then(|| exposures(server.base.clone(), token, extra.exposures));
    let r = drive(
        &format!(
            "checkout ({strategy}{}{})",
            if code { ", code" } else { "" },
            if extra.exposures > 0 {
                ", exposures"
            } else {
                ""
            }
        ),
        &server.base,
        &load,
        make.clone(),
    );
    println!("{}", r.line());
    if let Some(side) = side {
        side.stop.store(true, Ordering::Relaxed);
        let (sent, bad, secs) = side.handle.join().expect("exposure load");
        println!(
            "  alongside: {sent} exposures in {secs:.1} s = {:.0}/s, {bad} not accepted",
            sent as f64 / secs.max(1e-9)
        );
        assert_eq!(bad, 0, "every exposure is accepted (202)");
    }
    println!(
        "server RSS {:.1} MiB (peak {:.1} MiB)",
        server.rss_mib(),
        server.peak_rss_mib()
    );
    // The same requests again: every one is an idempotent replay of a committed checkout, so
    // the server parses the same body and sends the same bytes but writes nothing. This is the
    // rate the HTTP path and load driver allow on this machine, a ceiling for any write path.
    let done = r.requests.max(1);
    let replay: MakeRequest =
        Arc::new(move |c: &reqwest::Client, base: &str, i| make(c, base, i % done));
    let ceiling = drive(
        &format!("replay ({strategy})"),
        &server.base,
        &Load {
            max_requests: done,
            warmup: Duration::ZERO,
            ..load
        },
        replay,
    );
    println!("{}", ceiling.line());
    (r, ceiling)
}

/// Plain checkouts against the same checkouts with `extra`, alternating rounds (three, one
/// in the smoke run): medians of (plain req/s, plain p95, extra req/s, extra p95).
fn compare(concurrency: usize, seconds: u64, smoke: bool, extra: Extra) -> [f64; 4] {
    let rounds = if smoke { 1 } else { 3 };
    let (mut plain, mut with) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let run = |e: Extra| run_with("pessimistic", 512, concurrency, seconds, smoke, e).0;
        plain.push(run(Extra::default()));
        with.push(run(extra));
    }
    let m = driver::median_of;
    [
        m(&plain, |r| r.rps),
        m(&plain, |r| r.p95),
        m(&with, |r| r.rps),
        m(&with, |r| r.p95),
    ]
}

/// Checkouts with a discount code against the same without.
fn compare_code(concurrency: usize, seconds: u64, smoke: bool) {
    let code = Extra {
        code: true,
        ..Extra::default()
    };
    let [p, p95, c, c95] = compare(concurrency, seconds, smoke, code);
    println!(
        "without a code: {p:.0} durable checkouts/s, p95 {p95:.2} ms; with a code: {c:.0}/s, p95 {c95:.2} ms (medians of {}); with a code = {:.1}% of without",
        if smoke { 1 } else { 3 },
        100.0 * c / p.max(1e-9)
    );
}

/// Checkouts alone against checkouts with 1,000 exposures/s alongside.
fn compare_exposures(concurrency: usize, seconds: u64, smoke: bool) {
    let busy = Extra {
        exposures: 1_000,
        ..Extra::default()
    };
    let [a, a95, b, b95] = compare(concurrency, seconds, smoke, busy);
    println!(
        "checkouts alone: {a:.0}/s, p95 {a95:.2} ms; with 1,000 exposures/s: {b:.0}/s, p95 {b95:.2} ms (medians of {}); with exposures = {:.1}% of alone",
        if smoke { 1 } else { 3 },
        100.0 * b / a.max(1e-9)
    );
}

/// Checkouts spread round-robin over `nodes` shopd processes sharing the fresh database `url`.
fn run_nodes(
    url: &str,
    nodes: usize,
    concurrency: usize,
    seconds: u64,
    smoke: bool,
) -> driver::Report {
    let servers = driver::cluster::nodes(url, nodes, &[]);
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    // Enough carts for a run well above the rate seen here (bounded: the run stops early if
    // they run out; cart creation on PostgreSQL is itself a write per cart).
    let n = if smoke { 200 } else { 1_500 * seconds as usize };
    let rt = runtime();
    let carts = rt.block_on(async {
        let c = reqwest::Client::new();
        let token = admin_token(&c, &bases[0]).await;
        let variants = catalog(&c, &bases[0], &token).await;
        carts(&c, &bases[0], &variants, n).await
    });
    drop(rt);
    let carts = Arc::new(carts);
    let body = Arc::new(json!({"email": "bench@example.com", "shipping_address": {
        "name": "Bench", "line1": "1 Load Street", "city": "Berlin", "postal_code": "10115", "country": "DE"}}));
    let targets = Arc::new(bases.clone());
    let make: MakeRequest = Arc::new(move |c: &reqwest::Client, _base: &str, i| {
        let i = i as usize % carts.len();
        c.post(format!("{}/api/v1/checkout", targets[i % targets.len()]))
            .header("X-Cart-Token", &carts[i])
            .header("Idempotency-Key", format!("bench-{i}"))
            .json(&*body)
    });
    let load = Load {
        concurrency,
        duration: Duration::from_secs(seconds),
        max_requests: n as u64,
        warmup: Duration::from_millis(if smoke { 0 } else { 500 }),
        expected: &[],
    };
    let r = drive(
        &format!(
            "checkout (postgres, {nodes} node{})",
            if nodes == 1 { "" } else { "s" }
        ),
        &bases[0],
        &load,
        make,
    );
    println!("{}", r.line());
    let rss: Vec<String> = servers
        .iter()
        .map(|s| format!("{:.0}", s.rss_mib()))
        .collect();
    println!("  node RSS MiB: {}", rss.join(", "));
    r
}

/// PostgreSQL with each node count in `counts` beside the embedded store, alternating rounds.
fn compare_backends(counts: &[usize], concurrency: usize, seconds: u64, smoke: bool) {
    let pg = driver::cluster::Postgres::start();
    let rounds = if smoke { 1 } else { 3 };
    let mut embedded = Vec::new();
    let mut by_nodes: Vec<Vec<driver::Report>> = vec![Vec::new(); counts.len()];
    for _ in 0..rounds {
        embedded.push(run("pessimistic", 512, concurrency, seconds, smoke).0);
        for (k, &n) in counts.iter().enumerate() {
            by_nodes[k].push(run_nodes(&pg.database(), n, concurrency, seconds, smoke));
        }
    }
    let m = driver::median_of;
    let (e, e95) = (m(&embedded, |r| r.rps), m(&embedded, |r| r.p95));
    println!("medians of {rounds} at {concurrency} clients:");
    println!("  embedded (1 node):     {e:>7.0} durable checkouts/s  p95 {e95:>7.2} ms");
    let one = m(&by_nodes[0], |r| r.rps);
    for (k, &n) in counts.iter().enumerate() {
        let (r, p95) = (m(&by_nodes[k], |r| r.rps), m(&by_nodes[k], |r| r.p95));
        println!(
            "  postgres, {n} node{}: {r:>7.0} durable checkouts/s  p95 {p95:>7.2} ms  = {:.2}x embedded, {:.2}x {} node{}",
            if n == 1 { " " } else { "s" },
            r / e.max(1e-9),
            r / one.max(1e-9),
            counts[0],
            if counts[0] == 1 { "" } else { "s" },
        );
    }
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let postgres = arg("--backend").as_deref() == Some("postgres");
    // The smoke run (the test command) drives PostgreSQL too when the test server is there.
    if postgres || (smoke && std::env::var("SHOPD_TEST_POSTGRES").is_ok_and(|u| !u.is_empty())) {
        let counts: Vec<usize> = arg("--nodes")
            .unwrap_or_else(|| if smoke { "1,2".into() } else { "1,2,3".into() })
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .filter(|n| *n > 0)
            .collect();
        let seconds: u64 = arg("--seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(if smoke { 1 } else { 10 });
        let concurrency: usize = arg("--concurrency")
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        compare_backends(&counts, concurrency, seconds, smoke);
        if !smoke {
            driver::finish();
            return;
        }
    }
    if std::env::args().any(|a| a == "--exposures") || smoke {
        let seconds: u64 = arg("--seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(if smoke { 1 } else { 5 });
        let concurrency: usize = arg("--concurrency")
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        compare_exposures(concurrency, seconds, smoke);
        if !smoke {
            driver::finish();
            return;
        }
    }
    if std::env::args().any(|a| a == "--code") || smoke {
        let seconds: u64 = arg("--seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(if smoke { 1 } else { 5 });
        let concurrency: usize = arg("--concurrency")
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        compare_code(concurrency, seconds, smoke);
        if !smoke {
            driver::finish();
            return;
        }
    }
    let seconds: u64 = arg("--seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 1 } else { 10 });
    let concurrency: usize = arg("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let strategies: Vec<&str> = match arg("--strategy").as_deref() {
        Some("pessimistic") => vec!["pessimistic"],
        Some("optimistic") => vec!["optimistic"],
        _ => vec!["pessimistic", "optimistic"],
    };
    let single = driver::commits::run(1, if smoke { 1 } else { 3 });
    println!(
        "baseline: 1 writer {:.0} durable commits/s (p50 {:.2} ms)",
        single.commits_per_sec, single.p50
    );
    // One client: every checkout commits alone (no group commit), the other baseline.
    let (alone, _) = run("pessimistic", 512, 1, if smoke { 1 } else { 3 }, smoke);
    // Same 64 clients, but the store commits every checkout on its own (one fsync each).
    let (unbatched, _) = run(
        "pessimistic",
        1,
        concurrency,
        if smoke { 1 } else { 5 },
        smoke,
    );
    for s in strategies {
        let (r, ceiling) = run(s, 512, concurrency, seconds, smoke);
        println!(
            "{s}: {:.0} durable checkouts/s at {concurrency} clients = {:.1}x the single-commit rate, {:.1}x one client's checkouts/s; p95 {:.2} ms",
            r.rps,
            r.rps / single.commits_per_sec.max(1e-9),
            r.rps / alone.rps.max(1e-9),
            r.p95
        );
        println!(
            "{s}: {:.1}x the checkouts/s at {concurrency} clients with every checkout committed alone",
            r.rps / unbatched.rps.max(1e-9)
        );
        println!(
            "{s}: replaying the same checkouts (no writes) runs at {:.0}/s = {:.1}x the single-commit rate; checkouts reach {:.0}% of that ceiling",
            ceiling.rps,
            ceiling.rps / single.commits_per_sec.max(1e-9),
            100.0 * r.rps / ceiling.rps.max(1e-9)
        );
    }
    driver::finish();
}
