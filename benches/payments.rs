//! Payments benchmark, against the release binary:
//!
//! - **Stripe webhooks**: verified events per second at 32 clients — each delivery's
//!   `Stripe-Signature` checked on the raw body, the event id recorded and the event applied
//!   through the settle path in one durable write. The events are Stripe's own shapes
//!   (`tests/fixtures/stripe/fixtures3.json`): `payment_intent.succeeded` for real unpaid
//!   orders (each order paid: stock sold, mail and `order.paid` queued), every one delivered a
//!   second time (a duplicate, acknowledged and ignored), and as many events of a type shopd
//!   ignores. The orders' PaymentIntents come from the stand-in for Stripe's API
//!   (`tests/support/stripe_api.py`) at checkout.
//! - **Purchases with the `test` provider**: full checkout + test-card confirmation flows per
//!   second at 32 clients (two durable writes per flow).
//!
//! Every non-2xx answer fails the bench. Three runs each; the medians are printed last.
//! `cargo bench --bench payments -- [--events 4000] [--flows 6000] [--concurrency 32]`

#[path = "driver/mod.rs"]
mod driver;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use driver::shop::{carts, catalog};
use driver::{Load, MakeRequest, Report, Server, admin_token, arg, create_admin, drive, runtime};
use serde_json::{Value, json};

const SECRET: &str = "whsec_bench_secret";

struct StripeApi(Child, u16);

impl StripeApi {
    fn start() -> StripeApi {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/stripe_api.py");
        let mut child = Command::new("python3")
            .args([script, "serve", &port.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready");
        assert_eq!(line.trim(), "READY");
        StripeApi(child, port)
    }
}

impl Drop for StripeApi {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Stripe's signature of `payload` at `ts` (`t=…,v1=hex(HMAC-SHA256(secret, "t.payload"))`).
fn sign(payload: &str, ts: i64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{ts}.{payload}").as_bytes());
    format!("t={ts},v1={}", hex(tag.as_ref()))
}

fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stripe/fixtures3.json"
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixtures")).expect("json");
    v["resources"].clone()
}

/// A signed event of `type_` whose object is the fixture of `kind` with `object` applied.
fn event(
    res: &Value,
    id: &str,
    type_: &str,
    kind: &str,
    object: Value,
    ts: i64,
) -> (String, String) {
    let mut obj = res[kind].clone();
    for (k, v) in object.as_object().expect("object") {
        obj[k] = v.clone();
    }
    let mut ev = res["event"].clone();
    ev["id"] = json!(id);
    ev["type"] = json!(type_);
    ev["created"] = json!(ts);
    ev["data"] = json!({"object": obj});
    let payload = ev.to_string();
    let sig = sign(&payload, ts);
    (payload, sig)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Places `n` orders with the `stripe` provider; their (PaymentIntent, total).
async fn stripe_orders(
    c: &reqwest::Client,
    base: &str,
    cart_tokens: &[String],
) -> Vec<(String, i64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let tokens = Arc::new(cart_tokens.to_vec());
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (c, base, next, tokens) = (c.clone(), base.to_owned(), next.clone(), tokens.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = tokens.get(i) else { return out };
                let o: Value = c
                    .post(format!("{base}/api/v1/checkout"))
                    .header("X-Cart-Token", t)
                    .header("Idempotency-Key", format!("s-{i}"))
                    .json(&json!({"email": "bench@example.com", "shipping_address": {"name": "B", "line1": "1 St", "city": "Berlin", "country": "DE"}}))
                    .send()
                    .await
                    .expect("checkout")
                    .json()
                    .await
                    .expect("json");
                let secret = o["payment"]["client_secret"].as_str().expect("client secret");
                let pi = secret.split("_secret_").next().expect("pi").to_owned();
                out.push((pi, o["totals"]["total"]["amount"].as_i64().expect("total")));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("join"));
    }
    all
}

fn webhooks(events_per_run: usize, concurrency: usize, runs: usize) -> Vec<Report> {
    let api = StripeApi::start();
    let dir = tempfile::tempdir().expect("tempdir");
    create_admin(dir.path());
    let server = Server::start_in(
        dir.path(),
        &[
            ("SHOPD_PAYMENTS_PROVIDER", "stripe"),
            ("SHOPD_PAYMENTS_STRIPE_SECRET_KEY", "sk_test_bench"),
            ("SHOPD_PAYMENTS_STRIPE_WEBHOOK_SECRETS", SECRET),
            (
                "SHOPD_PAYMENTS_STRIPE_API_BASE",
                &format!("http://127.0.0.1:{}/", api.1),
            ),
        ],
    );
    let res = fixtures();
    let orders_per_run = events_per_run / 3;
    let rt = runtime();
    let orders = rt.block_on(async {
        let c = reqwest::Client::new();
        let token = admin_token(&c, &server.base).await;
        let variants = catalog(&c, &server.base, &token).await;
        let cart_tokens = carts(&c, &server.base, &variants, orders_per_run * runs).await;
        stripe_orders(&c, &server.base, &cart_tokens).await
    });
    drop(rt);
    println!("{} orders with PaymentIntents ready", orders.len());
    let mut reports = Vec::new();
    for run in 0..runs {
        let ts = now_secs();
        let mine = &orders[run * orders_per_run..(run + 1) * orders_per_run];
        let mut events = Vec::with_capacity(orders_per_run * 3);
        for (i, (pi, total)) in mine.iter().enumerate() {
            let paid = event(
                &res,
                &format!("evt_b{run}_{i}"),
                "payment_intent.succeeded",
                "payment_intent",
                json!({"id": pi, "status": "succeeded", "amount": total, "amount_received": total,
                       "currency": "usd", "latest_charge": format!("ch_b{run}_{i}"), "last_payment_error": null, "metadata": {}}),
                ts,
            );
            let other = event(
                &res,
                &format!("evt_o{run}_{i}"),
                "charge.succeeded",
                "charge",
                json!({"id": format!("ch_b{run}_{i}"), "amount": total}),
                ts,
            );
            events.push(paid.clone());
            events.push(other);
            events.push(paid);
        }
        let events = Arc::new(events);
        let n = events.len() as u64;
        let make: MakeRequest = Arc::new(move |c: &reqwest::Client, base: &str, i| {
            let (payload, sig) = &events[i as usize % events.len()];
            c.post(format!("{base}/api/v1/payments/stripe/webhook"))
                .header("content-type", "application/json")
                .header("Stripe-Signature", sig)
                .body(payload.clone())
        });
        let load = Load {
            concurrency,
            duration: Duration::from_secs(60),
            max_requests: n,
            warmup: Duration::ZERO,
            expected: &[],
        };
        let r = drive("stripe webhooks", &server.base, &load, make);
        println!("{}", r.line());
        reports.push(r);
    }
    println!(
        "server RSS {:.1} MiB (peak {:.1} MiB)",
        server.rss_mib(),
        server.peak_rss_mib()
    );
    reports
}

/// Checkout + confirm flows with the `test` provider: (flows/s, p50, p95, p99) per run.
fn flows(per_run: usize, concurrency: usize, runs: usize) -> Vec<(f64, f64, f64, f64)> {
    let dir = tempfile::tempdir().expect("tempdir");
    create_admin(dir.path());
    let server = Server::start_in(dir.path(), &[]);
    let rt = runtime();
    let tokens = rt.block_on(async {
        let c = reqwest::Client::new();
        let token = admin_token(&c, &server.base).await;
        let variants = catalog(&c, &server.base, &token).await;
        carts(&c, &server.base, &variants, per_run * runs).await
    });
    let tokens = Arc::new(tokens);
    let mut out = Vec::new();
    for run in 0..runs {
        let next = Arc::new(AtomicUsize::new(run * per_run));
        let end = (run + 1) * per_run;
        let bad = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let lat = rt.block_on(async {
            let c = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
            let mut tasks = Vec::new();
            for _ in 0..concurrency {
                let (c, base, next, tokens, bad) = (c.clone(), server.base.clone(), next.clone(), tokens.clone(), bad.clone());
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= end || started.elapsed() > Duration::from_secs(60) {
                            return lat;
                        }
                        let t = Instant::now();
                        let o = c.post(format!("{base}/api/v1/checkout"))
                            .header("X-Cart-Token", &tokens[i])
                            .header("Idempotency-Key", format!("f-{i}"))
                            .json(&json!({"email": "bench@example.com", "shipping_address": {"name": "B", "line1": "1 St", "city": "Berlin", "country": "DE"}}))
                            .send().await;
                        let Ok(o) = o.map_err(|_| ()).and_then(|r| if r.status().is_success() { Ok(r) } else { Err(()) }) else {
                            bad.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        let o: Value = o.json().await.unwrap_or_default();
                        let (Some(pay), Some(ot)) = (o["payment"]["id"].as_str(), o["order_token"].as_str()) else {
                            bad.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        let r = c.post(format!("{base}/api/v1/payments/{pay}/confirm"))
                            .header("X-Order-Token", ot)
                            .json(&json!({"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}))
                            .send().await;
                        match r {
                            Ok(r) if r.status().is_success() => {
                                let _ = r.bytes().await;
                                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                            }
                            _ => {
                                bad.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap_or_default());
            }
            all
        });
        let elapsed = started.elapsed().as_secs_f64();
        driver::unexpected("checkout + confirm", bad.load(Ordering::SeqCst));
        let mut lat = lat;
        lat.sort_by(|a, b| a.total_cmp(b));
        let r = (
            lat.len() as f64 / elapsed,
            driver::percentile(&lat, 50.0),
            driver::percentile(&lat, 95.0),
            driver::percentile(&lat, 99.0),
        );
        println!(
            "checkout + confirm flows      c={concurrency:<3} {:>9.0} flows/s  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  ({} flows)",
            r.0,
            r.1,
            r.2,
            r.3,
            lat.len()
        );
        out.push(r);
    }
    println!(
        "server RSS {:.1} MiB (peak {:.1} MiB)",
        server.rss_mib(),
        server.peak_rss_mib()
    );
    out
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let concurrency: usize = arg("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let events: usize = arg("--events")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 150 } else { 12_000 });
    let per_run: usize = arg("--flows")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 100 } else { 6_000 });
    let runs = if smoke { 1 } else { 3 };
    let w = webhooks(events, concurrency, runs);
    let f = flows(per_run, concurrency, runs);
    println!(
        "median of {runs}: {:.0} verified Stripe webhook events/s at {concurrency} clients, p95 {:.2} ms (target >= 5000/s, p95 < 10 ms)",
        driver::median(w.iter().map(|r| r.rps).collect()),
        driver::median(w.iter().map(|r| r.p95).collect())
    );
    println!(
        "median of {runs}: {:.0} checkout + test-card confirm flows/s at {concurrency} clients, p95 {:.2} ms (target >= 2000/s)",
        driver::median(f.iter().map(|r| r.0).collect()),
        driver::median(f.iter().map(|r| r.2).collect())
    );
    driver::finish();
}
