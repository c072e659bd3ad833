//! Payments under crashes, with the real binary and the `stripe` provider (against the
//! stand-in for Stripe's API): while customers check out, pay at Stripe, come back (the return
//! call) and signed webhooks arrive, the process is SIGKILLed at random moments (at least 20
//! times) and restarted. Afterwards, once the webhooks have been delivered again (as Stripe
//! retries them) and reconciliation has run: every order paid at Stripe is paid exactly once,
//! each paid order has one confirmation mail, no refund lacks a reason, and no payment is
//! left open.

use crate::common;
use crate::stripe::StripeApi;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Proc;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

const SECRET: &str = "whsec_crash_secret";
const MIN_KILLS: usize = 20;
const CLIENTS: usize = 4;

fn env(api: &StripeApi) -> Vec<(&'static str, String)> {
    vec![
        ("SHOPD_PAYMENTS_PROVIDER", "stripe".into()),
        ("SHOPD_PAYMENTS_STRIPE_SECRET_KEY", "sk_test_crash".into()),
        ("SHOPD_PAYMENTS_STRIPE_WEBHOOK_SECRETS", SECRET.into()),
        ("SHOPD_PAYMENTS_STRIPE_API_BASE", api.base()),
        ("SHOPD_PAYMENTS_RECONCILE_AFTER_SECS", "5".into()),
        ("SHOPD_CHECKOUT_RESERVATION_TTL_MINUTES", "1".into()),
        ("SHOPD_AUTH_ACCESS_TOKEN_TTL_SECS", "3600".into()),
    ]
}

fn serve(dir: &std::path::Path, api: &StripeApi) -> Proc {
    let e = env(api);
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Proc::serve(dir, &e)
}

/// Stripe's signature scheme (the webhook tests sign with Stripe's own library).
fn signed(event: &Value) -> (String, String) {
    let payload = event.to_string();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{ts}.{payload}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    (payload, format!("t={ts},v1={hex}"))
}

fn succeeded(pi: &str, total: i64, n: usize) -> Value {
    json!({"id": format!("evt_crash_{pi}"), "object": "event", "type": "payment_intent.succeeded",
        "created": 1, "livemode": false, "pending_webhooks": 1, "api_version": null, "request": null,
        "data": {"object": {"id": pi, "object": "payment_intent", "status": "succeeded", "amount": total,
            "amount_received": total, "currency": "usd", "latest_charge": format!("ch_crash_{n}"), "metadata": {}}}})
}

/// One order of the run: its payment, token, PaymentIntent and total; whether the customer
/// paid at Stripe.
#[derive(Clone, Debug)]
struct Placed {
    payment: String,
    token: String,
    pi: String,
    total: i64,
    paid_at_stripe: bool,
}

async fn place(
    c: &reqwest::Client,
    base: &str,
    variant: &str,
    key: &str,
) -> Result<(String, Placed), ()> {
    let cart: Value = c
        .post(format!("{base}/api/v1/cart"))
        .send()
        .await
        .map_err(|_| ())?
        .json()
        .await
        .map_err(|_| ())?;
    let token = cart["cart_token"].as_str().ok_or(())?.to_owned();
    let r = c
        .post(format!("{base}/api/v1/cart/items"))
        .header("X-Cart-Token", &token)
        .json(&json!({"variant_id": variant, "quantity": 1}))
        .send()
        .await
        .map_err(|_| ())?;
    if r.status() != 201 {
        return Err(());
    }
    let o = c.post(format!("{base}/api/v1/checkout")).header("X-Cart-Token", &token).header("Idempotency-Key", key)
        .json(&json!({"email": "crash@example.com", "shipping_address": {"name": "C", "line1": "1 Road", "city": "Town", "country": "DE"}}))
        .send().await.map_err(|_| ())?;
    if o.status() != 201 {
        return Err(());
    }
    let o: Value = o.json().await.map_err(|_| ())?;
    let secret = o["payment"]["client_secret"].as_str().ok_or(())?;
    Ok((
        o["id"].as_str().ok_or(())?.to_owned(),
        Placed {
            payment: o["payment"]["id"].as_str().ok_or(())?.to_owned(),
            token: o["order_token"].as_str().ok_or(())?.to_owned(),
            pi: secret.split("_secret_").next().ok_or(())?.to_owned(),
            total: o["totals"]["total"]["amount"].as_i64().ok_or(())?,
            paid_at_stripe: false,
        },
    ))
}

async fn webhook(c: &reqwest::Client, base: &str, p: &Placed, n: usize) -> bool {
    let (payload, sig) = signed(&succeeded(&p.pi, p.total, n));
    c.post(format!("{base}/api/v1/payments/stripe/webhook"))
        .header("Stripe-Signature", sig)
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

async fn admin_json(c: &reqwest::Client, p: &Proc, path: &str) -> Value {
    c.get(p.url(path))
        .bearer_auth(&p.admin_token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_payments_settle_pays_each_order_once() {
    let seed: u64 = std::env::var("SHOPD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("payment crash test seed {seed} (rerun with SHOPD_TEST_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let api = StripeApi::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(240);
    let first = serve(dir.path(), &api);
    let product = ("Crash Pay", "CP-1", 1200);
    let variant =
        common::shop::stocked_variant(&client, &first.base, &first.admin_token, product, 100_000)
            .await;
    first.terminate();

    let orders: Arc<Mutex<BTreeMap<String, Placed>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut kills = 0;
    while kills < MIN_KILLS {
        assert!(Instant::now() < deadline, "crash test ran out of time");
        let proc = serve(dir.path(), &api);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let (c, base, orders, next, stop, variant, port) = (
                client.clone(),
                proc.base.clone(),
                orders.clone(),
                next.clone(),
                stop.clone(),
                variant.clone(),
                api.port,
            );
            tasks.push(tokio::spawn(async move {
                let ctl = reqwest::Client::new();
                for _ in 0..100 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Ok((id, mut p)) = place(&c, &base, &variant, &format!("cp{n:05}")).await else { return };
                    // Two in three customers pay at Stripe; then the return call, the webhook, or both.
                    if n % 3 != 2 {
                        let r = ctl.post(format!("http://127.0.0.1:{port}/_control/intents/{}", p.pi))
                            .json(&json!({"status": "succeeded", "amount_received": p.total, "latest_charge": format!("ch_crash_{n}")}))
                            .send().await;
                        assert!(r.is_ok_and(|r| r.status() == 200));
                        p.paid_at_stripe = true;
                    }
                    orders.lock().expect("lock").insert(id, p.clone());
                    if p.paid_at_stripe {
                        if n % 2 == 0 {
                            let _ = c.post(format!("{base}/api/v1/payments/{}/return", p.payment)).header("X-Order-Token", &p.token).send().await;
                        }
                        if n % 4 != 0 && !webhook(&c, &base, &p, n).await {
                            return;
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..700))).await;
        proc.kill9();
        kills += 1;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in tasks {
            let _ = t.await;
        }
    }

    // Stripe delivers every success again (it retries until answered); then the unpaid orders
    // lapse, and reconciliation settles or cancels what is left open.
    let proc = serve(dir.path(), &api);
    let all: Vec<(String, Placed)> = orders
        .lock()
        .expect("lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (n, (_, p)) in all.iter().enumerate() {
        if p.paid_at_stripe {
            assert!(webhook(&client, &proc.base, p, n).await, "webhook answered");
        }
    }
    let audit = common::eventually(Duration::from_secs(200), || {
        let (client, proc, all) = (&client, &proc, &all);
        async move {
            let mut open = 0;
            for (id, _) in all {
                let ps =
                    admin_json(client, proc, &format!("/api/v1/admin/orders/{id}/payments")).await;
                open += ps
                    .as_array()?
                    .iter()
                    .filter(|p| !matches!(p["status"].as_str(), Some("succeeded" | "canceled")))
                    .count();
            }
            (open == 0).then_some(())
        }
    })
    .await;
    assert!(
        audit.is_some(),
        "payments left open after reconciliation; log:\n{}",
        proc.log_text()
    );

    let outbox = dir.path().join("mail").join("outbox");
    let mails: Vec<String> = std::fs::read_dir(&outbox)
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    let mut paid = 0;
    for (id, p) in &all {
        let o = admin_json(&client, &proc, &format!("/api/v1/admin/orders/{id}")).await;
        let pays = crate::payments::times_paid(&o);
        let ps = admin_json(
            &client,
            &proc,
            &format!("/api/v1/admin/orders/{id}/payments"),
        )
        .await;
        for r in ps
            .as_array()
            .expect("ps")
            .iter()
            .flat_map(|p| p["refunds"].as_array().cloned().unwrap_or_default())
        {
            assert!(
                !r["reason"].as_str().unwrap_or("").is_empty(),
                "a refund without a reason: {r}"
            );
        }
        if p.paid_at_stripe {
            let refunded = ps[0]["refunds"].as_array().is_some_and(|r| !r.is_empty());
            assert!(
                o["status"] == "paid" || refunded,
                "{id} paid at Stripe: {o}"
            );
            if o["status"] == "paid" {
                paid += 1;
                assert_eq!(pays, 1, "{id} paid once: {o}");
                // Mail is at least once; receivers deduplicate on Message-ID: one per order.
                let ids: BTreeSet<String> = mails
                    .iter()
                    .filter(|m| m.contains(id.as_str()) && m.contains("Total"))
                    .filter_map(|m| common::header(m, "Message-ID"))
                    .collect();
                assert_eq!(ids.len(), 1, "{id}: one confirmation mail");
            }
        } else {
            assert_eq!(pays, 0, "{id} was never paid: {o}");
            assert_ne!(o["status"], "paid");
        }
    }
    println!(
        "{} orders over {kills} SIGKILLs, {paid} paid exactly once",
        all.len()
    );
    assert!(paid > 0);
    proc.terminate();
}
