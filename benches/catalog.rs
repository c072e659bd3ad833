//! Catalog benchmark on a generated catalog (100,000 products by default): time to generate and
//! index it, search latency at 16 concurrent clients over a mixed query set (plain text, typos,
//! filters + facets) — as shoppers repeat it, and with every filter set new so no facet count
//! is cached — and product-by-slug reads per second.
//!
//! `cargo bench --bench catalog -- [--products 100000] [--seconds 10] [--concurrency 16]`

#[path = "driver/mod.rs"]
mod driver;

use std::sync::Arc;
use std::time::Duration;

use driver::{Load, MakeRequest, Server, arg, drive};

const QUERIES: &[&str] = &[
    "q=mug",
    "q=organic%20cotton",
    "q=tshrit",
    "q=backpak",
    "q=notebok&sort=price_asc",
    "q=ceramic&min_price=1000&max_price=5000",
    "q=wool&option.Color=Blue",
    "q=candle&tag=soy",
    "q=vintage%20hood",
    "q=travel%20bottle&sort=newest",
    "option.Size=M&sort=price_desc",
    "q=linen&in_stock=true",
];

/// Request `n` of the mix with a filter set no earlier request had and the same matches: a
/// price cap above every price, or for the query with a price range, bounds moved within the
/// gaps between demo prices (every demo price ends in 99 cents, so 1000–1099 and 5000–5098
/// bound the same products as 1000 and 5000).
fn never_seen(n: u64) -> String {
    let q = QUERIES[n as usize % QUERIES.len()];
    let round = n / QUERIES.len() as u64;
    match q.strip_suffix("&min_price=1000&max_price=5000") {
        Some(text) => format!(
            "{text}&min_price={}&max_price={}",
            1000 + round % 100,
            5000 + round / 100 % 99
        ),
        None => format!("{q}&max_price={}", 1_000_000_000 + n),
    }
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let products: usize = arg("--products")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 500 } else { 100_000 });
    let seconds: u64 = arg("--seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 1 } else { 10 });
    let concurrency: usize = arg("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let (dir, took, printed) = driver::demo_catalog(products);
    println!(
        "generate + index {products} products: {:.1} s ({printed})",
        took.as_secs_f64()
    );
    let server = Server::start_in(dir.path(), &[]);
    println!(
        "server start on the catalog: {:.0} ms to ready; RSS {:.1} MiB",
        server.ready_after.as_secs_f64() * 1000.0,
        server.rss_mib()
    );

    // Slugs to read, gathered from the public list.
    let slugs = driver::listed(&server.base, "/api/v1/products?per_page=100", "slug", 2000);
    let load = Load {
        concurrency,
        duration: Duration::from_secs(seconds),
        max_requests: 5_000_000,
        warmup: Duration::from_millis(if smoke { 50 } else { 1000 }),
        expected: &[],
    };
    if std::env::args().any(|a| a == "--per-query") {
        // One client, one query type at a time: where does a search spend its time?
        let single = Load {
            concurrency: 1,
            duration: Duration::from_secs(2),
            max_requests: 2_000,
            warmup: Duration::from_millis(200),
            expected: &[],
        };
        for q in QUERIES {
            let qs = q.to_string();
            let make: MakeRequest = Arc::new(move |c: &reqwest::Client, base: &str, _n| {
                c.get(format!("{base}/api/v1/search?{qs}"))
            });
            println!(
                "{}",
                drive(&format!("1 client: {q}"), &server.base, &single, make).line()
            );
        }
    }
    let search: MakeRequest = Arc::new(|c: &reqwest::Client, base: &str, n| {
        c.get(format!(
            "{base}/api/v1/search?{}",
            QUERIES[n as usize % QUERIES.len()]
        ))
    });
    println!(
        "{}",
        drive("search (mixed queries)", &server.base, &load, search).line()
    );
    // The same mix with a filter set never seen before on every request (a distinct, never
    // binding price cap), so nothing comes from the facet-count cache: the cost of a new query.
    let fresh: MakeRequest = Arc::new(|c: &reqwest::Client, base: &str, n| {
        c.get(format!("{base}/api/v1/search?{}", never_seen(n)))
    });
    println!(
        "{}",
        drive(
            "search (mixed, every filter set new)",
            &server.base,
            &load,
            fresh
        )
        .line()
    );
    let slugs = Arc::new(slugs);
    let read: MakeRequest = Arc::new(move |c: &reqwest::Client, base: &str, n| {
        c.get(format!(
            "{base}/api/v1/products/{}",
            slugs[n as usize % slugs.len().max(1)]
        ))
    });
    println!(
        "{}",
        drive("GET product by slug", &server.base, &load, read).line()
    );
    println!(
        "server RSS {:.1} MiB (peak {:.1} MiB)",
        server.rss_mib(),
        server.peak_rss_mib()
    );
    driver::finish();
}
