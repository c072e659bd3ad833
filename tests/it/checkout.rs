//! Checkout over HTTP: idempotency keys (replay, reuse with another body, concurrent
//! duplicates, 20 concurrent requests → one order), validation, out of stock, and no
//! overselling when 1,000 checkouts race for 10 units under either reservation strategy.

use crate::common;

use std::collections::HashSet;

use common::shop::{add_to_cart, checkout, checkout_body, new_cart, product, stock};
use common::{TestApp, problem};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_replay_refuse_and_serialise() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "ID", 1, 50).await;
    let t = new_cart(&app).await;
    assert_eq!(add_to_cart(&app, &t, &v[0], 2).await.status(), 201);
    let body = checkout_body("ada@example.com");

    // No key, or a bad one: refused before anything happens.
    let r = app
        .client
        .post(app.url("/api/v1/checkout"))
        .header("X-Cart-Token", &t)
        .json(&body)
        .send()
        .await
        .expect("send");
    problem(r, 400, "idempotency_key_required").await;
    problem(
        checkout(&app, &t, &"k".repeat(256), &body).await,
        400,
        "idempotency_key_required",
    )
    .await;

    // First request creates the order.
    let first = checkout(&app, &t, "order-1", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_bytes = first.bytes().await.expect("bytes");
    let order: Value = serde_json::from_slice(&first_bytes).expect("json");
    assert_eq!(order["status"], "pending_payment");
    assert!(order["order_token"].as_str().expect("t").starts_with("ot_"));
    assert_eq!(order["totals"]["total"]["amount"], 2 * 1000 + 500);

    // Same key, same body: the same response, byte for byte, and no second order.
    let again = checkout(&app, &t, "order-1", &body).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.bytes().await.expect("bytes"), first_bytes);
    // Same body with keys in another order and other whitespace is the same body.
    let reordered = r#"{"shipping_address": {"country": "GB", "postal_code": "SW1Y 4JH",
        "city": "London", "line1": "12 St James's Square", "name": "Ada Lovelace"},
        "email": "ada@example.com"}"#;
    let r = app
        .client
        .post(app.url("/api/v1/checkout"))
        .header("X-Cart-Token", &t)
        .header("Idempotency-Key", "order-1")
        .header("content-type", "application/json")
        .body(reordered)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    assert_eq!(r.bytes().await.expect("bytes"), first_bytes);

    // Same key, different body: 422.
    let other = checkout_body("someone-else@example.com");
    problem(
        checkout(&app, &t, "order-1", &other).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    let s = stock(&app, &v[0]).await;
    assert_eq!(s["reserved"], 2, "one order's worth reserved: {s}");

    // 20 concurrent requests with one new key: one order, and every request gets it (those
    // that arrive while the first runs wait for it in the store and replay its outcome).
    let t2 = new_cart(&app).await;
    add_to_cart(&app, &t2, &v[0], 1).await;
    let reqs = (0..20).map(|_| checkout(&app, &t2, "burst", &body));
    let results = futures_util::future::join_all(reqs).await;
    let mut bodies = HashSet::new();
    let mut replayed = 0;
    for r in results {
        assert_eq!(r.status(), 201, "every duplicate gets the order");
        if r.headers().get("idempotent-replayed").is_some() {
            replayed += 1;
        }
        bodies.insert(r.bytes().await.expect("bytes"));
    }
    assert_eq!(replayed, 19, "one fresh answer, 19 replays");
    assert_eq!(bodies.len(), 1, "every 201 carries the same order");
    assert_eq!(
        stock(&app, &v[0]).await["reserved"],
        3,
        "exactly one more order"
    );
    let list: Value = app
        .admin_get("/api/v1/admin/orders?per_page=100")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["data"].as_array().expect("d").len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_checkouts_get_clear_errors_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "BC", 1, 3).await;
    let t = new_cart(&app).await;
    add_to_cart(&app, &t, &v[0], 3).await;
    let mut body = checkout_body("not-an-email");
    body["shipping_address"]["country"] = json!("Germany");
    body["shipping_address"]["city"] = json!("");
    let p = problem(
        checkout(&app, &t, "bad-1", &body).await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("f"))
        .collect();
    assert_eq!(
        fields,
        vec!["email", "shipping_address.city", "shipping_address.country"]
    );
    let mut body = checkout_body("a@example.com");
    body["shipping_method"] = json!("teleport");
    problem(
        checkout(&app, &t, "bad-2", &body).await,
        422,
        "validation_failed",
    )
    .await;
    body["gift_wrap"] = json!(true);
    // Unknown fields are refused, not ignored.
    problem(
        checkout(&app, &t, "bad-3", &body).await,
        422,
        "validation_failed",
    )
    .await;
    // Someone else bought the stock meanwhile: out of stock, and nothing reserved.
    let other = new_cart(&app).await;
    add_to_cart(&app, &other, &v[0], 1).await;
    assert_eq!(
        checkout(&app, &other, "o-1", &checkout_body("b@example.com"))
            .await
            .status(),
        201
    );
    let p = problem(
        checkout(&app, &t, "bad-4", &checkout_body("a@example.com")).await,
        409,
        "out_of_stock",
    )
    .await;
    assert!(p["detail"].as_str().expect("d").contains("only 2"), "{p}");
    assert_eq!(stock(&app, &v[0]).await["reserved"], 1);
    // An emptied cart cannot be checked out; a checked-out cart is gone.
    let p = problem(
        checkout(&app, &other, "o-2", &checkout_body("b@example.com")).await,
        404,
        "not_found",
    )
    .await;
    assert!(p["detail"].as_str().is_some());
    app.stop().await;
}

/// 1,000 concurrent checkouts of one unit each for a variant with 10 units left.
async fn race(strategy: &str, seed: u64) {
    let mut cfg = common::test_config(tempfile::tempdir().expect("tmp").keep().as_path());
    cfg.checkout.reservation_strategy = strategy.into();
    cfg.server.workers = 4;
    let app = TestApp::spawn_with(cfg, None).await;
    let (_, v) = product(&app, &format!("R{seed}"), 1, 10).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Each buyer has a cart with one unit (carts check stock, not reserve it).
    let mut carts = Vec::new();
    for _ in 0..1000 {
        let t = new_cart(&app).await;
        assert_eq!(add_to_cart(&app, &t, &v[0], 1).await.status(), 201);
        carts.push(t);
    }
    carts.shuffle(&mut rng);
    let delays: Vec<u64> = (0..1000).map(|_| rng.random_range(0..3)).collect();
    let body = checkout_body("racer@example.com");
    let reqs = carts.iter().zip(&delays).enumerate().map(|(i, (t, d))| {
        let (app, body) = (&app, &body);
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(*d)).await;
            checkout(app, t, &format!("race-{i}"), body).await
        }
    });
    let results = futures_util::future::join_all(reqs).await;
    let (mut created, mut refused) = (0, 0);
    let mut ids = HashSet::new();
    for r in results {
        match r.status().as_u16() {
            201 => {
                created += 1;
                let o: Value = r.json().await.expect("json");
                ids.insert(o["id"].as_str().expect("id").to_owned());
            }
            409 => {
                problem(r, 409, "out_of_stock").await;
                refused += 1;
            }
            s => panic!(
                "{strategy}/{seed}: unexpected status {s}: {:?}",
                r.text().await
            ),
        }
    }
    assert_eq!(created, 10, "{strategy}/{seed}: exactly the stock is sold");
    assert_eq!(refused, 990, "{strategy}/{seed}");
    assert_eq!(ids.len(), 10);
    let s = stock(&app, &v[0]).await;
    assert_eq!(
        (
            s["on_hand"].as_i64(),
            s["reserved"].as_i64(),
            s["available"].as_i64()
        ),
        (Some(10), Some(10), Some(0)),
        "{strategy}/{seed}: {s}"
    );
    // Paying every order sells exactly the stock: on hand + sold stays 10, never negative.
    for id in &ids {
        let r = app
            .admin_post_json(&format!("/api/v1/admin/orders/{id}/mark-paid"), &json!({}))
            .await;
        assert_eq!(r.status(), 200);
    }
    let s = stock(&app, &v[0]).await;
    assert_eq!(
        (
            s["on_hand"].as_i64(),
            s["sold"].as_i64(),
            s["reserved"].as_i64()
        ),
        (Some(0), Some(10), Some(0)),
        "{strategy}/{seed}: {s}"
    );
    let dir = app.data_dir.clone();
    app.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_overselling_pessimistic() {
    for seed in [1, 2, 3] {
        race("pessimistic", seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_overselling_optimistic() {
    for seed in [1, 2, 3] {
        race("optimistic", seed).await;
    }
}

/// Digital goods (`requires_shipping: false`, as Shopify's `Variant Requires Shipping`) check
/// out with a billing address only and pay no shipping; a cart with one line that ships still
/// needs a shipping address, and nothing is written when it is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digital_lines_need_no_shipping_address_or_rate() {
    let app = TestApp::spawn().await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/products",
            &json!({"title": "E-book", "status": "active", "variants": [{
                "option_values": [], "requires_shipping": false, "track_inventory": false,
                "price": {"amount": 900, "currency": "USD"}}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let ebook: Value = r.json().await.expect("json");
    let ebook = ebook["variants"][0]["id"].as_str().expect("id").to_owned();
    let (_, shirt) = product(&app, "SHIP", 1, 5).await;
    let billing = json!({"name": "Ada Lovelace", "line1": "12 St James's Square",
                         "city": "London", "country": "GB"});

    let t = new_cart(&app).await;
    assert_eq!(add_to_cart(&app, &t, &ebook, 1).await.status(), 201);
    let r = checkout(&app, &t, "nobill-1", &json!({"email": "ada@example.com"})).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "billing_address", "{p}");
    let body = json!({"email": "ada@example.com", "billing_address": billing});
    let r = checkout(&app, &t, "digital-1", &body).await;
    assert_eq!(r.status(), 201);
    let o: Value = r.json().await.expect("json");
    assert_eq!(o["shipping_address"], Value::Null, "{o}");
    assert_eq!(o["shipping_method"], Value::Null);
    assert_eq!(o["totals"]["shipping"]["amount"], 0);
    assert_eq!(o["totals"]["total"]["amount"], 900);
    assert_eq!(o["billing_address"]["name"], "Ada Lovelace");
    assert_eq!(o["lines"][0]["requires_shipping"], false);
    assert_eq!(o["lines"][0]["sku"], Value::Null, "no SKU is invented");

    let t = new_cart(&app).await;
    assert_eq!(add_to_cart(&app, &t, &ebook, 1).await.status(), 201);
    assert_eq!(add_to_cart(&app, &t, &shirt[0], 1).await.status(), 201);
    let r = checkout(&app, &t, "mixed-1", &body).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "shipping_address", "{p}");
    assert_eq!(
        stock(&app, &shirt[0]).await["reserved"],
        0,
        "a refused checkout reserves nothing"
    );
    let r = checkout(&app, &t, "mixed-2", &checkout_body("ada@example.com")).await;
    assert_eq!(r.status(), 201);
    let o: Value = r.json().await.expect("json");
    assert_eq!(o["shipping_method"], "standard");
    assert_eq!(
        o["totals"]["shipping"]["amount"], 500,
        "the default flat rate, once a line ships"
    );
    assert_eq!(o["shipping_address"]["city"], "London");
    app.stop().await;
}
