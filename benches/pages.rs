//! Storefront pages on a generated catalog (100,000 products by default): latency per page type
//! at 16 concurrent clients (home, product, category, collection, search with typos and
//! facets, cart), and the bytes a browser downloads for each page type (HTML + CSS + JS).
//! Latency is measured by the client over loopback, so it bounds the server's time from above.
//!
//! `cargo bench --bench pages -- [--products 100000] [--seconds 10] [--concurrency 16]`

#[path = "driver/mod.rs"]
mod driver;

use std::sync::Arc;
use std::time::Duration;

use driver::{Load, MakeRequest, Server, arg, drive, runtime};

/// Search pages as shoppers type them: plain words, typos, a facet, a sort order.
const SEARCHES: &[&str] = &[
    "q=mug",
    "q=tshrit",
    "q=backpak",
    "q=organic%20cotton",
    "q=notebok&sort=price_asc",
    "q=wool&option.Color=Blue",
    "q=vintage%20hood",
    "q=linen&in_stock=true",
];

/// The bytes of a page and of the stylesheets and scripts it references (uncompressed).
fn weight(base: &str, path: &str) -> (usize, usize, usize) {
    let rt = runtime();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let r = c.get(format!("{base}{path}")).send().await.expect("page");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let html = r.text().await.expect("html");
        let (mut css, mut js) = (0, 0);
        for (attr, ext) in [("href=\"", ".css"), ("src=\"", ".js")] {
            for part in html.split(attr).skip(1) {
                let url = part.split('"').next().unwrap_or_default();
                if url.starts_with("/assets/") && url.ends_with(ext) {
                    let n = c
                        .get(format!("{base}{url}"))
                        .send()
                        .await
                        .expect("asset")
                        .bytes()
                        .await
                        .expect("bytes")
                        .len();
                    if ext == ".css" { css += n } else { js += n }
                }
            }
        }
        (html.len(), css, js)
    })
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
    let (dir, took, _) = driver::demo_catalog(products);
    println!(
        "generate + index {products} products: {:.1} s",
        took.as_secs_f64()
    );
    let server = Server::start_in(dir.path(), &[]);
    println!(
        "server ready in {:.0} ms; RSS {:.1} MiB",
        server.ready_after.as_secs_f64() * 1000.0,
        server.rss_mib()
    );

    let base = server.base.clone();
    let products = Arc::new(driver::listed(
        &base,
        "/api/v1/products?per_page=100",
        "slug",
        2_000,
    ));
    let categories = Arc::new(driver::listed(&base, "/api/v1/categories", "slug", 1_000));
    let collections = Arc::new(driver::listed(&base, "/api/v1/collections", "slug", 100));
    assert!(!products.is_empty() && !categories.is_empty() && !collections.is_empty());

    let pages: Vec<(&str, String)> = vec![
        ("home", "/".into()),
        ("product", format!("/products/{}", products[0])),
        ("category", format!("/categories/{}", categories[0])),
        ("collection", format!("/collections/{}", collections[0])),
        ("search", format!("/search?{}", SEARCHES[1])),
        ("cart (empty)", "/cart".into()),
    ];
    for (name, path) in &pages {
        let (html, css, js) = weight(&base, path);
        println!(
            "bytes {name:<13} HTML {:>6.1} KB + CSS {:>5.1} KB + JS {:>4.1} KB = {:>6.1} KB",
            html as f64 / 1024.0,
            css as f64 / 1024.0,
            js as f64 / 1024.0,
            (html + css + js) as f64 / 1024.0
        );
    }

    let load = Load {
        concurrency,
        duration: Duration::from_secs(seconds),
        max_requests: 5_000_000,
        warmup: Duration::from_millis(if smoke { 50 } else { 1000 }),
        expected: &[],
    };
    let p = products.clone();
    let product: MakeRequest = Arc::new(move |c: &reqwest::Client, base: &str, n| {
        c.get(format!("{base}/products/{}", p[n as usize % p.len()]))
    });
    let cats = categories.clone();
    let category: MakeRequest = Arc::new(move |c: &reqwest::Client, base: &str, n| {
        let page = 1 + (n / cats.len() as u64) % 3;
        c.get(format!(
            "{base}/categories/{}?page={page}",
            cats[n as usize % cats.len()]
        ))
    });
    let cols = collections.clone();
    let collection: MakeRequest = Arc::new(move |c: &reqwest::Client, base: &str, n| {
        c.get(format!(
            "{base}/collections/{}",
            cols[n as usize % cols.len()]
        ))
    });
    let search: MakeRequest = Arc::new(|c: &reqwest::Client, base: &str, n| {
        c.get(format!(
            "{base}/search?{}",
            SEARCHES[n as usize % SEARCHES.len()]
        ))
    });
    let home: MakeRequest =
        Arc::new(|c: &reqwest::Client, base: &str, _| c.get(format!("{base}/")));
    let cart: MakeRequest =
        Arc::new(|c: &reqwest::Client, base: &str, _| c.get(format!("{base}/cart")));
    for (name, make) in [
        ("page: product", product),
        ("page: category", category),
        ("page: search", search),
        ("page: collection", collection),
        ("page: home", home),
        ("page: cart (empty)", cart),
    ] {
        println!("{}", drive(name, &base, &load, make).line());
    }
    println!(
        "server RSS {:.1} MiB (peak {:.1} MiB)",
        server.rss_mib(),
        server.peak_rss_mib()
    );
    driver::finish();
}
