//! Recommendations benchmark on a generated shop (100,000 products and a history of
//! 1,000,000 order lines by default): time to generate, count and rank it, then answers per
//! second and latency at 16 concurrent clients for each strategy read from the cached lists —
//! `bought_together` and `similar` over 2,000 products, `popular` and `trending`, and `for_you`
//! for a visitor — three rounds each, medians printed. Every answer must be 200.
//!
//! `cargo bench --bench recommend -- [--products 100000] [--order-lines 1000000]
//! [--seconds 10] [--concurrency 16]`

#[path = "driver/mod.rs"]
mod driver;

use std::sync::Arc;
use std::time::Duration;

use driver::{Load, MakeRequest, Report, Server, drive, runtime};

/// How many of `ids` have a non-empty answer for `strategy` (lists really are served).
fn served(base: &str, ids: &[String], strategy: &str) -> usize {
    runtime().block_on(async {
        let c = reqwest::Client::new();
        let mut n = 0;
        for id in ids.iter().take(200) {
            let v: serde_json::Value = c
                .get(format!(
                    "{base}/api/v1/products/{id}/recommendations?strategy={strategy}"
                ))
                .send()
                .await
                .expect("GET")
                .json()
                .await
                .expect("json");
            n += usize::from(v["data"].as_array().is_some_and(|a| !a.is_empty()));
        }
        n
    })
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let products = driver::num("--products", 100_000, 500);
    let lines = driver::num("--order-lines", 1_000_000, 5_000);
    let seconds = driver::num("--seconds", 10, 1) as u64;
    let concurrency = driver::num("--concurrency", 16, 16);
    let rounds = if smoke { 1 } else { 3 };
    let (dir, took, printed) =
        driver::demo_catalog_with(products, &["--order-lines", &lines.to_string()]);
    println!(
        "generate {products} products and {lines} order lines, count and rank: {:.1} s ({printed})",
        took.as_secs_f64()
    );
    let server = Server::start_in(dir.path(), &[]);
    println!(
        "server start: {:.0} ms to ready; RSS {:.1} MiB",
        server.ready_after.as_secs_f64() * 1000.0,
        server.rss_mib()
    );
    // Oldest first: the demo ranks `similar` lists for the oldest 10,000 products.
    let ids = Arc::new(driver::listed(
        &server.base,
        "/api/v1/products?per_page=100&sort=oldest",
        "id",
        2_000,
    ));
    println!(
        "of 200 products asked: {} with bought_together, {} with similar",
        served(&server.base, &ids, "bought_together"),
        served(&server.base, &ids, "similar")
    );
    let load = Load {
        concurrency,
        duration: Duration::from_secs(seconds),
        max_requests: 5_000_000,
        warmup: Duration::from_millis(if smoke { 50 } else { 1000 }),
        expected: &[],
    };
    let scenarios: Vec<(&str, MakeRequest)> = ["bought_together", "similar"]
        .into_iter()
        .map(|s| {
            let ids = ids.clone();
            let make: MakeRequest = Arc::new(move |c: &reqwest::Client, base: &str, n| {
                let id = &ids[n as usize % ids.len()];
                c.get(format!(
                    "{base}/api/v1/products/{id}/recommendations?strategy={s}"
                ))
            });
            (s, make)
        })
        .chain(["popular", "trending", "for_you"].into_iter().map(|s| {
            let make: MakeRequest = Arc::new(move |c: &reqwest::Client, base: &str, _| {
                c.get(format!("{base}/api/v1/recommendations/for-me?strategy={s}"))
            });
            (s, make)
        }))
        .collect();
    for (name, make) in scenarios {
        let runs: Vec<Report> = (0..rounds)
            .map(|_| {
                let r = drive(name, &server.base, &load, make.clone());
                println!("{}", r.line());
                r
            })
            .collect();
        println!(
            "{name}: median of {rounds}: {:.0} req/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
            driver::median_of(&runs, |r| r.rps),
            driver::median_of(&runs, |r| r.p50),
            driver::median_of(&runs, |r| r.p95),
            driver::median_of(&runs, |r| r.p99),
        );
    }
    println!(
        "server RSS {:.1} MiB (peak {:.1} MiB)",
        server.rss_mib(),
        server.peak_rss_mib()
    );
    drop(server);
    driver::finish();
}
