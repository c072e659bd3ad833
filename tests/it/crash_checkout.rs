//! Checkout under crashes, with the real binary: a checkout loop while the process is SIGKILLed
//! at random moments and restarted. Afterwards every acknowledged order exists, no idempotency
//! key produced two orders, and once the reservation TTL has passed, sold + available units
//! equal the starting stock with nothing left reserved.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Proc;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

const START_STOCK: i64 = 5000;
const TARGET_ACKED: usize = 200;
const MIN_ROUNDS: usize = 12;
const MAX_ROUNDS: usize = 60;
const CLIENTS: usize = 4;
/// Every attempt: its cart token, and the order once acknowledged.
type Attempts = Arc<Mutex<BTreeMap<String, (String, Option<String>)>>>;

fn env() -> [(&'static str, &'static str); 2] {
    [
        // The shortest TTL the config allows, so the audit can wait for expiry.
        ("SHOPD_CHECKOUT_RESERVATION_TTL_MINUTES", "1"),
        ("SHOPD_AUTH_ACCESS_TOKEN_TTL_SECS", "3600"),
    ]
}

async fn setup(client: &reqwest::Client, p: &Proc) -> String {
    let product = ("Crash Tee", "CRASH-1", 1500);
    common::shop::stocked_variant(client, &p.base, &p.admin_token, product, START_STOCK).await
}

async fn checkout(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    key: &str,
) -> Result<Option<String>, ()> {
    let body = json!({"email": "crash@example.com", "shipping_address": {
        "name": "C", "line1": "1 Road", "city": "Town", "country": "DE"}});
    let r = client
        .post(format!("{base}/api/v1/checkout"))
        .header("X-Cart-Token", token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .map_err(|_| ())?;
    match r.status().as_u16() {
        201 => {
            let o: Value = r.json().await.map_err(|_| ())?;
            Ok(Some(o["id"].as_str().ok_or(())?.to_owned()))
        }
        // The cart vanished with a crash before its creation was durable: nothing ordered.
        404 => Ok(None),
        _ => Err(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_checkout_loses_and_duplicates_no_order() {
    let seed: u64 = std::env::var("SHOPD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("checkout crash test seed {seed} (rerun with SHOPD_TEST_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let attempts: Attempts = Arc::default();
    let paid: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(240);

    let first = Proc::serve(dir.path(), &env());
    let variant = setup(&client, &first).await;
    first.terminate();

    let acked = |a: &Attempts| {
        a.lock()
            .expect("lock")
            .values()
            .filter(|(_, o)| o.is_some())
            .count()
    };
    let mut rounds = 0;
    while (acked(&attempts) < TARGET_ACKED || rounds < MIN_ROUNDS) && rounds < MAX_ROUNDS {
        assert!(Instant::now() < deadline, "crash test ran out of time");
        rounds += 1;
        let proc = Proc::serve(dir.path(), &env());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Unanswered keys are retried with their cart: they must yield at most one order.
        let retries: Vec<(String, String)> = attempts
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, (_, o))| o.is_none())
            .take(5)
            .map(|(k, (t, _))| (k.clone(), t.clone()))
            .collect();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (client, base, admin, attempts, paid, next, stop, variant) = (
                client.clone(),
                proc.base.clone(),
                proc.admin_token.clone(),
                attempts.clone(),
                paid.clone(),
                next.clone(),
                stop.clone(),
                variant.clone(),
            );
            let mut retry = if c == 0 { retries.clone() } else { Vec::new() };
            tasks.push(tokio::spawn(async move {
                // Bounded; normally the kill ends the loop first.
                for _ in 0..200 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let (key, token) = match retry.pop() {
                        Some(kt) => kt,
                        None => {
                            let Ok(r) = client.post(format!("{base}/api/v1/cart")).send().await
                            else {
                                return;
                            };
                            let Ok(cart) = r.json::<Value>().await else {
                                return;
                            };
                            let Some(token) = cart["cart_token"].as_str() else {
                                return;
                            };
                            let added = client
                                .post(format!("{base}/api/v1/cart/items"))
                                .header("X-Cart-Token", token)
                                .json(&json!({"variant_id": variant, "quantity": 1}))
                                .send()
                                .await;
                            if !added.is_ok_and(|r| r.status().as_u16() == 201) {
                                return;
                            }
                            let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            (format!("k{n:05}"), token.to_owned())
                        }
                    };
                    attempts
                        .lock()
                        .expect("lock")
                        .entry(key.clone())
                        .or_insert_with(|| (token.clone(), None));
                    match checkout(&client, &base, &token, &key).await {
                        Ok(Some(order)) => {
                            {
                                let mut a = attempts.lock().expect("lock");
                                let e = a.get_mut(&key).expect("attempt");
                                if let Some(earlier) = &e.1 {
                                    assert_eq!(earlier, &order, "one key, one order");
                                }
                                e.1 = Some(order.clone());
                            }
                            // Pay every third order: payment turns its reservation into a sale.
                            if order.as_bytes()[order.len() - 1] % 3 == 0 {
                                let r = client
                                    .post(format!("{base}/api/v1/admin/orders/{order}/mark-paid"))
                                    .bearer_auth(&admin)
                                    .send()
                                    .await;
                                if r.is_ok_and(|r| r.status().as_u16() == 200) {
                                    paid.lock().expect("lock").insert(order);
                                }
                            }
                        }
                        Ok(None) => {
                            attempts.lock().expect("lock").remove(&key);
                        }
                        Err(()) => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..600))).await;
        proc.kill9();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in tasks {
            let _ = t.await;
        }
    }
    assert!(
        rounds >= MIN_ROUNDS,
        "too few crashes to mean anything ({rounds})"
    );

    // Final run: retry every unanswered key (each yields its one order or none), then wait for
    // the TTL so unpaid orders expire, and audit.
    let proc = Proc::serve(dir.path(), &env());
    let pending: Vec<(String, String)> = attempts
        .lock()
        .expect("lock")
        .iter()
        .filter(|(_, (_, o))| o.is_none())
        .map(|(k, (t, _))| (k.clone(), t.clone()))
        .collect();
    let unanswered = pending.len();
    let mut committed = 0;
    for (key, token) in pending {
        let r = checkout(&client, &proc.base, &token, &key)
            .await
            .expect("retry answered");
        let mut a = attempts.lock().expect("lock");
        match r {
            Some(order) => {
                committed += 1;
                a.get_mut(&key).expect("attempt").1 = Some(order);
            }
            None => {
                a.remove(&key);
            }
        }
    }
    println!(
        "{unanswered} checkouts left unanswered by a crash, retried: {committed} yielded an order"
    );
    let orders_by_key: BTreeMap<String, String> = attempts
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|(k, (_, o))| o.clone().map(|o| (k.clone(), o)))
        .collect();
    let distinct: BTreeSet<&String> = orders_by_key.values().collect();
    assert_eq!(
        distinct.len(),
        orders_by_key.len(),
        "two keys share an order"
    );

    // Every order in the store: each belongs to exactly one key, and every key's order is there.
    let mut stored = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = proc.url("/api/v1/admin/orders?per_page=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(&proc.admin_token)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        for o in page["data"].as_array().expect("data") {
            stored.insert(
                o["id"].as_str().expect("id").to_owned(),
                o["status"].as_str().expect("status").to_owned(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for o in orders_by_key.values() {
        assert!(stored.contains_key(o), "acknowledged order {o} is missing");
    }
    assert_eq!(
        stored.len(),
        orders_by_key.len(),
        "orders exist that no key accounts for (a duplicate)"
    );
    println!(
        "{} orders over {rounds} SIGKILLed runs, {} paid",
        stored.len(),
        paid.lock().expect("lock").len()
    );

    // After the TTL every unpaid order has expired and released its units.
    let audit = common::eventually(Duration::from_secs(150), || {
        let (client, url, token) = (
            client.clone(),
            proc.url(&format!("/api/v1/admin/variants/{variant}/stock")),
            proc.admin_token.clone(),
        );
        async move {
            let s: Value = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (s["reserved"] == 0).then_some(s)
        }
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "reservations left after the TTL; server log:\n{}",
            proc.log_text()
        )
    });
    let sold = audit["sold"].as_i64().expect("sold");
    let available = audit["available"].as_i64().expect("available");
    assert_eq!(sold + available, START_STOCK, "{audit}");
    assert_eq!(audit["on_hand"].as_i64(), Some(START_STOCK - sold));
    let paid_count = stored.values().filter(|s| *s == "paid").count() as i64;
    assert_eq!(sold, paid_count, "each paid order sold one unit: {audit}");
    assert!(
        paid.lock()
            .expect("lock")
            .iter()
            .all(|o| stored.get(o).is_some_and(|s| s == "paid"))
    );
    proc.terminate();
}
