//! Shopify import benchmark on a generated export in Shopify's real shape (5,000 products with
//! 4 variants each by default: product rows with every product column, variant rows, image
//! rows, apostrophe barcodes, a metafield and a Google Shopping column that shopd keeps).
//!
//! Scenarios: `shopd import products` into a fresh data dir (3 runs, median), the same file
//! again (every product updated), `--dry-run`, and the admin API importing 100-product files one
//! after another (latency per file). Any refused product or non-2xx answer fails the bench.
//!
//! `cargo bench --bench import -- [--products 5000] [--variants 4] [--runs 3]`

#[path = "driver/mod.rs"]
mod driver;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use driver::{Server, admin_token, bin, create_admin, finish, percentile, runtime, unexpected};

const HEADER: &[&str] = &[
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Fulfillment Service",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Requires Shipping",
    "Variant Taxable",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Gift Card",
    "SEO Title",
    "SEO Description",
    "Google Shopping / Gender",
    "Color (product.metafields.shopify.color-pattern)",
    "Variant Image",
    "Variant Weight Unit",
    "Variant Tax Code",
    "Cost per item",
    "Status",
];

const SIZES: &[&str] = &["XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL"];
const COLORS: &[&str] = &["Black", "White", "Navy", "Sand", "Olive", "Rust"];

fn col(name: &str) -> usize {
    HEADER.iter().position(|h| *h == name).expect("column")
}

/// Writes `products` products (`first` onwards) of `variants` variants each, as Shopify does.
fn shopify_file(first: usize, products: usize, variants: usize) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(HEADER).expect("header");
    let body = "<p>Heavyweight organic cotton, garment-dyed and pre-shrunk. Relaxed fit with \
                dropped shoulders.</p><ul><li>240 g/m²</li><li>Made in Portugal</li></ul>"
        .repeat(3);
    for p in first..first + products {
        let handle = format!("heavy-tee-{p}");
        let colors = variants
            .div_ceil(SIZES.len().min(variants))
            .min(COLORS.len());
        for v in 0..variants {
            let mut row = vec![String::new(); HEADER.len()];
            let set = |row: &mut Vec<String>, k: &str, val: String| row[col(k)] = val;
            set(&mut row, "Handle", handle.clone());
            let (size, color) = (SIZES[v / colors % SIZES.len()], COLORS[v % colors]);
            set(&mut row, "Option1 Value", size.into());
            set(&mut row, "Option2 Value", color.into());
            set(&mut row, "Variant SKU", format!("HT-{p}-{size}-{color}"));
            set(&mut row, "Variant Grams", "240.5".into());
            set(&mut row, "Variant Inventory Tracker", "shopify".into());
            set(&mut row, "Variant Inventory Qty", (v * 3).to_string());
            set(
                &mut row,
                "Variant Inventory Policy",
                ["deny", "continue"][v % 2].into(),
            );
            set(&mut row, "Variant Fulfillment Service", "manual".into());
            set(&mut row, "Variant Price", format!("{}.00", 20 + p % 50));
            set(
                &mut row,
                "Variant Compare At Price",
                format!("{}.00", 30 + p % 50),
            );
            set(&mut row, "Variant Requires Shipping", "TRUE".into());
            set(&mut row, "Variant Taxable", "TRUE".into());
            set(&mut row, "Variant Barcode", format!("'{:013}", p * 16 + v));
            set(&mut row, "Variant Weight Unit", "g".into());
            set(&mut row, "Cost per item", "7.40".into());
            if v < 2 {
                let img = format!("https://cdn.shopify.com/s/files/1/heavy-tee-{p}-{v}.jpg");
                set(&mut row, "Image Src", img.clone());
                set(&mut row, "Image Position", (v + 1).to_string());
                set(
                    &mut row,
                    "Image Alt Text",
                    format!("Heavy tee {p}, view {v}"),
                );
                set(&mut row, "Variant Image", img);
            }
            if v == 0 {
                set(&mut row, "Title", format!("Heavy Tee {p}"));
                set(&mut row, "Body (HTML)", body.clone());
                set(&mut row, "Vendor", "North Loom".into());
                set(
                    &mut row,
                    "Product Category",
                    "Apparel & Accessories > Clothing > Clothing Tops > T-Shirts".into(),
                );
                set(&mut row, "Type", "T-Shirts".into());
                set(
                    &mut row,
                    "Tags",
                    format!("cotton, heavyweight, drop-{}", p % 40),
                );
                set(&mut row, "Published", "TRUE".into());
                set(&mut row, "Option1 Name", "Size".into());
                set(&mut row, "Option2 Name", "Color".into());
                set(&mut row, "Gift Card", "FALSE".into());
                set(&mut row, "SEO Title", format!("Heavy Tee {p} | North Loom"));
                set(
                    &mut row,
                    "SEO Description",
                    "A heavyweight organic tee.".into(),
                );
                set(&mut row, "Google Shopping / Gender", "unisex".into());
                set(
                    &mut row,
                    "Color (product.metafields.shopify.color-pattern)",
                    "shopify.black; shopify.white".into(),
                );
                set(&mut row, "Status", "active".into());
            }
            w.write_record(&row).expect("row");
        }
    }
    w.into_inner().expect("csv")
}

fn bench_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("shopd-bench-")
        .tempdir_in(
            std::env::var("SHOPD_BENCH_DIR")
                .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
        )
        .expect("tempdir")
}

/// Largest resident set of any child waited for so far, in MiB.
fn children_peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    #[allow(unsafe_code)]
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    };
    ru.ru_maxrss as f64 / 1024.0
}

/// Runs the CLI import; returns seconds and checks the report (`expect` created, updated).
fn cli_import(file: &Path, data: &Path, extra: &[&str], expect: (u64, u64)) -> f64 {
    let report = data.with_extension("report.json");
    let started = Instant::now();
    let out = Command::new(bin())
        .args(["import", "products"])
        .arg(file)
        .args(extra)
        .arg("--report")
        .arg(&report)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("shopd import");
    let secs = started.elapsed().as_secs_f64();
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or_default();
    let got = (
        r["created"].as_u64().unwrap_or(0),
        r["updated"].as_u64().unwrap_or(0),
    );
    let failed = r["failed"].as_u64().unwrap_or(u64::MAX);
    if !out.status.success() || failed != 0 || got != expect {
        eprintln!(
            "import {extra:?}: exit {:?}, {got:?} (want {expect:?}), {failed} failed\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout)
        );
        unexpected("cli import", failed.max(1));
    }
    secs
}

/// The admin API importing `files` files of `per` products, one after another.
fn http_imports(files: usize, per: usize, variants: usize) {
    let dir = bench_dir();
    create_admin(dir.path());
    let server = Server::start_in(dir.path(), &[]);
    let rt = runtime();
    let (lat, secs) = rt.block_on(async {
        let c = reqwest::Client::new();
        let token = admin_token(&c, &server.base).await;
        let bodies: Vec<Vec<u8>> = (0..files)
            .map(|f| shopify_file(f * per, per, variants))
            .collect();
        let started = Instant::now();
        let mut lat = Vec::with_capacity(files);
        for body in bodies {
            let t = Instant::now();
            let r = c
                .post(format!("{}/api/v1/admin/products/import", server.base))
                .bearer_auth(&token)
                .header("content-type", "text/csv")
                .body(body)
                .send()
                .await;
            let ok = match r {
                Ok(r) if r.status() == 200 => {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    v["failed"] == 0 && v["created"] == per
                }
                _ => false,
            };
            if !ok {
                unexpected("http import", 1);
            }
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        (lat, started.elapsed().as_secs_f64())
    });
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "admin API, {files} files × {per} products: {:>7.0} products/s  per file p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  server RSS {:.1} MiB (peak {:.1})",
        (files * per) as f64 / secs,
        percentile(&sorted, 50.0),
        percentile(&sorted, 95.0),
        percentile(&sorted, 99.0),
        server.rss_mib(),
        server.peak_rss_mib()
    );
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let num = driver::num;
    let products = num("--products", 5000, 200);
    let variants = num("--variants", 4, 4).clamp(1, SIZES.len() * COLORS.len());
    let runs = num("--runs", 3, 1).max(1);
    let dir = bench_dir();
    let file = dir.path().join("products_export.csv");
    let csv = shopify_file(0, products, variants);
    std::fs::write(&file, &csv).expect("write file");
    println!(
        "file: {products} products, {} variants, {:.1} MB",
        products * variants,
        csv.len() as f64 / 1e6
    );
    let n = products as f64;
    let mut fresh = Vec::new();
    for run in 0..runs {
        let data = dir.path().join(format!("data-{run}"));
        let s = cli_import(&file, &data, &[], (products as u64, 0));
        println!(
            "  run {}: import into a fresh data dir {:.2} s, {:.0} products/s",
            run + 1,
            s,
            n / s
        );
        fresh.push(n / s);
    }
    let data = dir.path().join("data-0");
    let update = n / cli_import(&file, &data, &[], (0, products as u64));
    let dry = n / cli_import(&file, &data, &["--dry-run"], (0, products as u64));
    println!(
        "cli import (median of {runs}): {:>7.0} products/s ({:.0} variants/s); re-import (all updated) {:.0} products/s; --dry-run {:.0} products/s; peak RSS {:.1} MiB",
        driver::median(fresh.clone()),
        driver::median(fresh) * variants as f64,
        update,
        dry,
        children_peak_rss_mib()
    );
    http_imports(if smoke { 2 } else { 20 }, 100, variants);
    finish();
}
