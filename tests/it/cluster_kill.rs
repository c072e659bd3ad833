//! Three nodes on one PostgreSQL database under checkout and payment load while one node at a
//! time is SIGKILLed at random moments and started again: no acknowledged order or payment is
//! lost, no idempotency key places two orders (retries go to another node), no order is paid
//! twice, the mail jobs a killed node held under lease are finished by the others once the
//! lease ends, and jobs whose effect commits with their ack (diagnostic effect jobs, enqueued
//! through every node meanwhile) apply it exactly once. PostgreSQL leg of the suite only.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Proc;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

const NODES: usize = 3;
const KILLS: usize = 12;
const CLIENTS: usize = 4;

/// What a client was told: by idempotency key, the order and whether its payment succeeded.
#[derive(Clone, Debug, Default)]
struct Told {
    order: Option<String>,
    email: String,
    paid: bool,
}

type Ledger = Arc<Mutex<BTreeMap<String, Told>>>;

/// The nodes' addresses; `None` while a node is down.
type Bases = Arc<Mutex<Vec<Option<String>>>>;

fn live(bases: &Bases, pick: usize) -> Option<String> {
    let b = bases.lock().expect("bases");
    let up: Vec<&String> = b.iter().flatten().collect();
    (!up.is_empty()).then(|| up[pick % up.len()].clone())
}

async fn json_of(r: reqwest::Response) -> Option<(u16, Value)> {
    let status = r.status().as_u16();
    r.json().await.ok().map(|v| (status, v))
}

/// One customer: cart and checkout (retried once on another node with the same key if the
/// answer is lost), then the card payment.
async fn customer(c: &reqwest::Client, bases: &Bases, variant: &str, n: usize, ledger: &Ledger) {
    let key = format!("kill-{n}");
    let email = format!("k{n}@example.com");
    let Some(base) = live(bases, n) else { return };
    let Ok(r) = c
        .post(format!("{base}/api/v1/cart"))
        .json(&json!({}))
        .send()
        .await
    else {
        return;
    };
    let Some((201, cart)) = json_of(r).await else {
        return;
    };
    let token = cart["cart_token"].as_str().unwrap_or_default().to_owned();
    let added = c
        .post(format!("{base}/api/v1/cart/items"))
        .header("X-Cart-Token", &token)
        .json(&json!({"variant_id": variant, "quantity": 1}))
        .send()
        .await;
    if !added.is_ok_and(|r| r.status().as_u16() == 201) {
        return;
    }
    ledger.lock().expect("ledger").insert(
        key.clone(),
        Told {
            email: email.clone(),
            ..Told::default()
        },
    );
    let body = common::shop::checkout_body(&email);
    let mut placed = None;
    for attempt in 0..2 {
        let Some(base) = live(bases, n + 1 + attempt) else {
            return;
        };
        let sent = c
            .post(format!("{base}/api/v1/checkout"))
            .header("X-Cart-Token", &token)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        if let Ok(r) = sent {
            if let Some((201, o)) = json_of(r).await {
                placed = Some(o);
            }
            break;
        }
    }
    let Some(o) = placed else { return };
    let (order, payment, order_token) = (
        o["id"].as_str().unwrap_or_default().to_owned(),
        o["payment"]["id"].as_str().unwrap_or_default().to_owned(),
        o["order_token"].as_str().unwrap_or_default().to_owned(),
    );
    if let Some(t) = ledger.lock().expect("ledger").get_mut(&key) {
        t.order = Some(order);
    }
    let Some(base) = live(bases, n + 2) else {
        return;
    };
    let paid = c
        .post(format!("{base}/api/v1/payments/{payment}/confirm"))
        .header("X-Order-Token", &order_token)
        .json(&json!({"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}))
        .send()
        .await;
    if let Ok(r) = paid
        && let Some((200, p)) = json_of(r).await
        && p["status"] == "succeeded"
        && let Some(t) = ledger.lock().expect("ledger").get_mut(&key)
    {
        t.paid = true;
    }
}

/// Diagnostic effect jobs enqueued through the live nodes until `stop`: the keys acknowledged,
/// and those whose answer was lost (retried once through another node: dedupe keeps one job).
async fn enqueue_effects(
    c: &reqwest::Client,
    bases: &Bases,
    admin: &str,
    stop: &AtomicBool,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut acked, mut lost) = (BTreeSet::new(), BTreeSet::new());
    let started = Instant::now();
    let mut n = 0;
    // Bounded: stops when told, after 5 minutes, or at 3,000 keys.
    while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(300) && n < 3000 {
        n += 1;
        let key = format!("effect-{n}");
        for attempt in 0..2 {
            let Some(base) = live(bases, n + attempt) else {
                break;
            };
            let r = c
                .post(format!("{base}/api/v1/admin/diagnostics/jobs"))
                .bearer_auth(admin)
                .json(&json!({ "key": key }))
                .send()
                .await;
            if r.is_ok_and(|r| r.status().as_u16() == 202) {
                acked.insert(key.clone());
                lost.remove(&key);
                break;
            }
            lost.insert(key.clone());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (acked, lost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_nodes_under_load_loses_nothing_and_pays_nothing_twice() {
    if !common::backend::is_postgres() {
        return; // one node by construction on the embedded store
    }
    let seed: u64 = std::env::var("SHOPD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("cluster kill test seed {seed} (rerun with SHOPD_TEST_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mail_dir = tempfile::tempdir().expect("tempdir");
    let sink = common::SmtpSink::start(mail_dir.path());
    let port = sink.port.to_string();
    let env: Vec<(&str, &str)> = vec![
        ("SHOPD_JOBS_LEASE_SECS", "3"),
        ("SHOPD_AUTH_ACCESS_TOKEN_TTL_SECS", "3600"),
        ("SHOPD_MAIL_SMTP_HOST", "127.0.0.1"),
        ("SHOPD_MAIL_SMTP_PORT", port.as_str()),
        ("SHOPD_MAIL_SMTP_SECURITY", "none"),
        ("SHOPD_MAIL_SMTP_TIMEOUT_SECS", "2"),
        ("SHOPD_MAIL_FROM", "Test Shop <shop@shopd.test>"),
    ];
    let root = tempfile::tempdir().expect("tempdir");
    let dirs: Vec<std::path::PathBuf> = (0..NODES)
        .map(|i| root.path().join(format!("node{i}")))
        .collect();
    let refs: Vec<&std::path::Path> = dirs.iter().map(|d| d.as_path()).collect();
    common::backend::share_database(&refs);
    let mut nodes: Vec<Option<Proc>> = dirs.iter().map(|d| Some(Proc::serve(d, &env))).collect();
    let bases: Bases = Arc::new(Mutex::new(
        nodes
            .iter()
            .flatten()
            .map(|p| Some(p.base.clone()))
            .collect(),
    ));
    let admin = nodes[0]
        .as_ref()
        .map(|p| p.admin_token.clone())
        .expect("node");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let base0 = live(&bases, 0).expect("up");
    let product = ("Kill Tee", "KILL-1", 1200);
    let variant = common::shop::stocked_variant(&client, &base0, &admin, product, 100_000).await;

    let ledger: Ledger = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (bases, ledger, stop, next, client, variant) = (
                bases.clone(),
                ledger.clone(),
                stop.clone(),
                next.clone(),
                client.clone(),
                variant.clone(),
            );
            tokio::spawn(async move {
                // Bounded: stops when told, or after 5 minutes at the most.
                let started = Instant::now();
                while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(300) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    customer(&client, &bases, &variant, n, &ledger).await;
                }
            })
        })
        .collect();
    let effects = {
        let (client, bases, admin, stop) =
            (client.clone(), bases.clone(), admin.clone(), stop.clone());
        tokio::spawn(async move { enqueue_effects(&client, &bases, &admin, &stop).await })
    };
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut taken_over = 0;
    for k in 0..KILLS {
        assert!(Instant::now() < deadline, "kill test ran out of time");
        tokio::time::sleep(Duration::from_millis(rng.random_range(700..2500))).await;
        let victim = rng.random_range(0..NODES);
        if let Some(p) = nodes[victim].take() {
            bases.lock().expect("bases")[victim] = None;
            p.kill9();
        }
        // Every fourth victim stays down past its leases (3 s), so the others must take over
        // the jobs it held; the rest come back at once and take back their own.
        let down = if k % 4 == 3 {
            4_000
        } else {
            rng.random_range(100..800)
        };
        tokio::time::sleep(Duration::from_millis(down)).await;
        taken_over += nodes
            .iter()
            .flatten()
            .filter(|p| p.log_text().contains("leases ended"))
            .count();
        let (dir, env2) = (
            dirs[victim].clone(),
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        );
        let p = tokio::task::spawn_blocking(move || {
            let e: Vec<(&str, &str)> = env2.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            Proc::serve(&dir, &e)
        })
        .await
        .expect("restart");
        bases.lock().expect("bases")[victim] = Some(p.base.clone());
        nodes[victim] = Some(p);
    }
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.await.expect("client");
    }
    let (effects_acked, effects_lost) = effects.await.expect("effects");
    let told = ledger.lock().expect("ledger").clone();
    let acked: Vec<(&String, &Told)> = told.iter().filter(|(_, t)| t.order.is_some()).collect();
    let paid: Vec<&Told> = told.values().filter(|t| t.paid).collect();
    println!(
        "{KILLS} kills: {} checkouts tried, {} acknowledged, {} paid; leases taken over by a live node seen {taken_over} times",
        told.len(),
        acked.len(),
        paid.len()
    );
    assert!(
        acked.len() >= 20 && paid.len() >= 10,
        "too little load got through"
    );

    // Every acknowledged order exists; a retry of its key on each node answers the same order;
    // every acknowledged payment left its order paid exactly once.
    let get = |path: String| {
        let (client, admin) = (client.clone(), admin.clone());
        let base = live(&bases, 0).expect("a node is up");
        async move {
            let r = client
                .get(format!("{base}{path}"))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("get");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    for (key, t) in &acked {
        let id = t.order.clone().expect("order");
        let (status, o) = get(format!("/api/v1/admin/orders/{id}")).await;
        assert_eq!(status, 200, "acknowledged order {id} ({key}) lost");
        let pays = o["history"].as_array().map_or(0, |h| {
            h.iter()
                .filter(|e| matches!(e["event"].as_str(), Some("pay" | "revive")))
                .count()
        });
        assert!(pays <= 1, "order {id} paid {pays} times");
        if t.paid {
            assert_eq!(o["status"], "paid", "{o}");
            assert_eq!(pays, 1);
        }
    }
    let (_, list) = get("/api/v1/admin/orders?per_page=100".into()).await;
    let mut total = list["data"].as_array().map_or(0, Vec::len);
    let mut cursor = list["next_cursor"].as_str().map(str::to_owned);
    while let Some(cur) = cursor {
        let (_, page) = get(format!("/api/v1/admin/orders?per_page=100&cursor={cur}")).await;
        total += page["data"].as_array().map_or(0, Vec::len);
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert!(
        total <= told.len(),
        "{total} orders for {} keys: a key placed two orders",
        told.len()
    );

    // The confirmation of every acknowledged payment is mailed, also when the node holding the
    // mail job died: its lease ends and another node sends it. One Message-ID per order.
    let wait_until = Instant::now() + Duration::from_secs(60);
    let mails = loop {
        let msgs = sink.messages();
        let missing = paid
            .iter()
            .filter(|t| {
                !msgs
                    .iter()
                    .any(|m| common::header(m, "To").is_some_and(|to| to.contains(&t.email)))
            })
            .count();
        if missing == 0 || Instant::now() > wait_until {
            assert_eq!(missing, 0, "confirmations never sent");
            break msgs;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for t in &paid {
        let ids: std::collections::BTreeSet<String> = mails
            .iter()
            .filter(|m| common::header(m, "To").is_some_and(|to| to.contains(&t.email)))
            .filter(|m| {
                common::header(m, "Subject").is_some_and(|s| s.to_lowercase().contains("order"))
            })
            .filter_map(|m| common::header(m, "Message-ID"))
            .collect();
        assert_eq!(ids.len(), 1, "{}: {ids:?}", t.email);
    }
    // Nothing stays claimed by a dead node once leases have ended.
    let (_, jobs) = get("/api/v1/admin/jobs?state=in_flight&per_page=100".into()).await;
    let stuck: Vec<&Value> = jobs["data"]
        .as_array()
        .map(|a| a.iter().filter(|j| j["kind"] == "mail.send").collect())
        .unwrap_or_default();
    assert!(stuck.is_empty(), "mail jobs still claimed: {stuck:?}");
    effects_applied_once(&get, &effects_acked, &effects_lost).await;
    drop(sink);
    for p in nodes.into_iter().flatten() {
        assert_eq!(p.terminate().code(), Some(0));
    }
}

/// Every acknowledged effect job ran, and no effect job (acknowledged or not) applied its
/// effect twice, though nodes died between running jobs and acknowledging them.
async fn effects_applied_once<F, Fut>(get: &F, acked: &BTreeSet<String>, lost: &BTreeSet<String>)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    println!(
        "{} effect jobs acknowledged, {} answers lost",
        acked.len(),
        lost.len()
    );
    assert!(acked.len() >= 100, "too few effect jobs got through");
    let summary = common::eventually(Duration::from_secs(60), || async {
        let (_, s) = get("/api/v1/admin/diagnostics/jobs/summary".into()).await;
        (s["pending"] == 0).then_some(s)
    })
    .await
    .expect("effect jobs drained");
    common::assert_effects_applied_once(&summary);
    for key in acked {
        let (status, s) = get(format!("/api/v1/admin/diagnostics/jobs/{key}")).await;
        assert_eq!(status, 200, "{key} lost: {s}");
        assert_eq!(
            (s["state"].as_str(), s["effect_count"].as_u64()),
            (Some("done"), Some(1)),
            "{key}: {s}"
        );
    }
}
