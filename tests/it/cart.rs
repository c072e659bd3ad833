//! Carts over HTTP: anonymous carts by token, validation, the anonymous → customer merge at
//! sign-in, another customer's token rejected, price changes reported, idle expiry.

use crate::common;

use std::time::Duration;

use common::shop::{new_cart, product, set_stock};
use common::{TestApp, bearer_client, problem};
use reqwest::Method;
use serde_json::{Value, json};

/// A request with an optional cart token and an optional bearer client.
async fn send(
    app: &TestApp,
    client: Option<&reqwest::Client>,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let c = client.unwrap_or(&app.client);
    let mut rb = c.request(method, app.url(path));
    if let Some(t) = token {
        rb = rb.header("X-Cart-Token", t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    rb.send().await.expect("send")
}

async fn add(
    app: &TestApp,
    client: Option<&reqwest::Client>,
    token: Option<&str>,
    variant: &str,
    quantity: i64,
) -> reqwest::Response {
    send(
        app,
        client,
        token,
        Method::POST,
        "/api/v1/cart/items",
        Some(json!({"variant_id": variant, "quantity": quantity})),
    )
    .await
}

fn qty_of(cart: &Value, variant: &str) -> Option<i64> {
    cart["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["variant_id"] == variant)
        .map(|l| l["quantity"].as_i64().expect("q"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_cart_lines_and_validation() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "CA", 2, 5).await;
    let t = new_cart(&app).await;
    let r = add(&app, None, Some(&t), &v[0], 2).await;
    assert_eq!(r.status(), 201);
    let r = add(&app, None, Some(&t), &v[0], 1).await;
    let c: Value = r.json().await.expect("json");
    assert_eq!(
        c["lines"].as_array().expect("l").len(),
        1,
        "same variant, one line"
    );
    assert_eq!(qty_of(&c, &v[0]), Some(3));
    let r = add(&app, None, Some(&t), &v[1], 1).await;
    let c: Value = r.json().await.expect("json");
    assert_eq!(c["item_count"], 4);
    assert_eq!(
        c["subtotal"],
        json!({"amount": 3 * 1000 + 1100, "currency": "USD"})
    );
    let line = c["lines"][1]["id"].as_str().expect("line").to_owned();
    assert!(line.starts_with("line_"));
    // Change and remove a line.
    let r = send(
        &app,
        None,
        Some(&t),
        Method::PATCH,
        &format!("/api/v1/cart/items/{line}"),
        Some(json!({"quantity": 2})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.expect("json");
    assert_eq!(qty_of(&c, &v[1]), Some(2));
    let r = send(
        &app,
        None,
        Some(&t),
        Method::DELETE,
        &format!("/api/v1/cart/items/{line}"),
        None,
    )
    .await;
    let c: Value = r.json().await.expect("json");
    assert_eq!(qty_of(&c, &v[1]), None);

    // Validation: quantity range, stock, unknown variant, drafts, missing and unknown carts.
    problem(
        add(&app, None, Some(&t), &v[1], 0).await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        add(&app, None, Some(&t), &v[1], 100).await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        add(&app, None, Some(&t), &v[0], 3).await,
        409,
        "out_of_stock",
    )
    .await;
    problem(
        add(&app, None, Some(&t), "var_01J0000000000000000000000A", 1).await,
        404,
        "not_found",
    )
    .await;
    problem(
        add(&app, None, Some(&t), "not-an-id", 1).await,
        422,
        "validation_failed",
    )
    .await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/products",
            &json!({"title": "Draft", "status": "draft",
                    "variants": [{"sku": "DR-1", "price": {"amount": 100, "currency": "USD"}, "track_inventory": false}]}),
        )
        .await;
    let draft: Value = r.json().await.expect("json");
    let dv = draft["variants"][0]["id"].as_str().expect("id");
    problem(
        add(&app, None, Some(&t), dv, 1).await,
        409,
        "product_unavailable",
    )
    .await;
    problem(
        send(&app, None, None, Method::GET, "/api/v1/cart", None).await,
        400,
        "cart_required",
    )
    .await;
    problem(
        send(
            &app,
            None,
            Some("ct_guess"),
            Method::GET,
            "/api/v1/cart",
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    // A token naming this very cart but carrying another secret finds nothing either.
    let (named, _secret) = t.split_once('.').expect("ct_<cart id>.<secret>");
    assert!(named.starts_with("ct_cart_"), "{t}");
    for forged in [
        format!("{named}.x"),
        format!("{named}.{}", "A".repeat(43)),
        named.to_owned(),
    ] {
        problem(
            send(&app, None, Some(&forged), Method::GET, "/api/v1/cart", None).await,
            404,
            "not_found",
        )
        .await;
    }
    // Nothing the refused requests did changed the cart.
    let c: Value = send(&app, None, Some(&t), Method::GET, "/api/v1/cart", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(c["item_count"], 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_cart_merges_at_login_and_other_customers_are_rejected() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "MG", 2, 10).await;
    let alice = bearer_client(&app.customer_token("alice@example.com").await);
    // Alice already has a cart with one unit of v0.
    assert_eq!(add(&app, Some(&alice), None, &v[0], 1).await.status(), 201);
    // Anonymously she adds two more of v0 and one of v1.
    let t = new_cart(&app).await;
    add(&app, None, Some(&t), &v[0], 2).await;
    add(&app, None, Some(&t), &v[1], 1).await;
    // Stock of v0 falls to 2 meanwhile: the merge caps the line at what can be bought.
    set_stock(&app, &v[0], 2).await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("X-Cart-Token", &t)
        .json(&json!({"email": "alice@example.com", "password": "Tr0ub4dor&3-horse"}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200);
    let c: Value = send(&app, Some(&alice), None, Method::GET, "/api/v1/cart", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(qty_of(&c, &v[0]), Some(2), "{c}");
    assert_eq!(qty_of(&c, &v[1]), Some(1), "{c}");
    // The old token now leads to Alice's cart, for Alice only.
    let c2: Value = send(
        &app,
        Some(&alice),
        Some(&t),
        Method::GET,
        "/api/v1/cart",
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(c2["id"], c["id"]);
    problem(
        send(&app, None, Some(&t), Method::GET, "/api/v1/cart", None).await,
        404,
        "not_found",
    )
    .await;
    let bob = bearer_client(&app.customer_token("bob@example.com").await);
    problem(
        send(
            &app,
            Some(&bob),
            Some(&t),
            Method::GET,
            "/api/v1/cart",
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        add(&app, Some(&bob), Some(&t), &v[1], 1).await,
        404,
        "not_found",
    )
    .await;
    // Bob's own cart is untouched and separate.
    let b: Value = send(&app, Some(&bob), None, Method::GET, "/api/v1/cart", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(b["lines"], json!([]));
    assert_ne!(b["id"], c["id"]);

    // A merge also happens when a signed-in customer first uses an anonymous cart's token.
    let t2 = new_cart(&app).await;
    add(&app, None, Some(&t2), &v[1], 2).await;
    let b: Value = send(
        &app,
        Some(&bob),
        Some(&t2),
        Method::GET,
        "/api/v1/cart",
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(qty_of(&b, &v[1]), Some(2));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_changes_are_reported_and_checkout_waits_for_them() {
    let app = TestApp::spawn().await;
    let (pid, v) = product(&app, "PC", 1, 10).await;
    let t = new_cart(&app).await;
    add(&app, None, Some(&t), &v[0], 2).await;
    // Staff raise the price.
    let mut p: Value = app
        .admin_get(&format!("/api/v1/admin/products/{pid}"))
        .await
        .json()
        .await
        .expect("json");
    p["variants"][0]["price"]["amount"] = json!(1250);
    for k in ["id", "created_at", "updated_at", "version"] {
        p.as_object_mut().expect("obj").remove(k);
    }
    let r = app
        .admin_send(Method::PUT, &format!("/api/v1/admin/products/{pid}"), &p)
        .await;
    assert_eq!(r.status(), 200);
    let c: Value = send(&app, None, Some(&t), Method::GET, "/api/v1/cart", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        c["price_changes"],
        json!([{"line_id": c["lines"][0]["id"], "variant_id": v[0],
                "previous": {"amount": 1000, "currency": "USD"},
                "current": {"amount": 1250, "currency": "USD"}}])
    );
    assert_eq!(c["subtotal"]["amount"], 2500);
    // Checkout refuses once, naming the change, and the cart then carries the new price.
    let body = json!({"email": "guest@example.com", "shipping_address": {
        "name": "G", "line1": "1 Road", "city": "Town", "postal_code": "1000", "country": "us"}});
    let checkout = |key: &'static str| {
        app.client
            .post(app.url("/api/v1/checkout"))
            .header("X-Cart-Token", &t)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let r = checkout("k1").await.expect("send");
    let pr = problem(r, 409, "price_changed").await;
    assert!(pr["detail"].as_str().expect("d").contains("12.50"), "{pr}");
    let c: Value = send(&app, None, Some(&t), Method::GET, "/api/v1/cart", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(c["price_changes"], json!([]));
    let r = checkout("k2").await.expect("send");
    assert_eq!(r.status(), 201);
    let o: Value = r.json().await.expect("json");
    assert_eq!(o["totals"]["subtotal"]["amount"], 2500);
    assert_eq!(
        o["totals"]["total"]["amount"], 3000,
        "flat-rate shipping 5.00"
    );
    assert_eq!(o["shipping_address"]["country"], "US");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_carts_expire_and_the_sweeper_removes_them() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "EX", 1, 10).await;
    let t = new_cart(&app).await;
    add(&app, None, Some(&t), &v[0], 1).await;
    // 29 days idle: still there (and touching it restarts the clock).
    app.clock.advance(Duration::from_secs(29 * 24 * 3600));
    let r = send(&app, None, Some(&t), Method::GET, "/api/v1/cart", None).await;
    assert_eq!(r.status(), 200);
    app.clock.advance(Duration::from_secs(2 * 24 * 3600));
    problem(
        send(&app, None, Some(&t), Method::GET, "/api/v1/cart", None).await,
        404,
        "not_found",
    )
    .await;
    // The hourly sweeper (due now that the clock moved on) deletes it for good.
    let swept = common::eventually(Duration::from_secs(10), || async {
        let m = app.get("/metrics").await.text().await.ok()?;
        m.lines()
            .find(|l| {
                l.starts_with(
                    "shopd_jobs_outcomes_total{kind=\"cart.sweep\",outcome=\"succeeded\"}",
                )
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .filter(|n| *n >= 2)
    })
    .await;
    assert!(
        swept.is_some(),
        "the sweeper ran again after the clock moved"
    );
    app.stop().await;
}
