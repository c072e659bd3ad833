//! Gift cards over HTTP: staff issue (code shown once, mailed to a recipient), a card pays part
//! or all of an order before the provider (all: paid at once, no payment), a balance that fell
//! since the cart was priced is a 409, 50 racing checkouts never overdraw a card and its ledger
//! balances, and a gift-card product sold becomes a card mailed to the buyer.

use std::time::Duration;

use crate::common;
use crate::payments::{card, json_ok};

use common::shop::{add_to_cart, checkout, checkout_body, new_cart, product, set_stock, usd};
use common::{SmtpSink, TestApp, problem};
use serde_json::{Value, json};

async fn issue(app: &TestApp, amount: i64, recipient: Option<&str>) -> Value {
    let mut body = json!({"amount": usd(amount)});
    if let Some(r) = recipient {
        body["recipient_email"] = json!(r);
    }
    let r = app.admin_post_json("/api/v1/admin/gift-cards", &body).await;
    assert_eq!(r.status(), 201);
    r.json().await.expect("json")
}

async fn tender(app: &TestApp, cart: &str, code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/cart/gift-cards"))
        .header("X-Cart-Token", cart)
        .json(&json!({"code": code}))
        .send()
        .await
        .expect("tender")
}

async fn card_detail(app: &TestApp, id: &str) -> Value {
    json_ok(
        app.admin_get(&format!("/api/v1/admin/gift-cards/{id}"))
            .await,
    )
    .await
}

/// The ledger adds up to the balance and never shows a negative balance.
fn ledger_balances(detail: &Value) -> i64 {
    let mut running = 0;
    for e in detail["ledger"].as_array().expect("ledger") {
        running += e["amount"]["amount"].as_i64().expect("amount");
        assert_eq!(e["balance"]["amount"].as_i64(), Some(running), "{detail}");
        assert!(running >= 0, "overdrawn: {detail}");
    }
    assert_eq!(detail["balance"]["amount"].as_i64(), Some(running));
    running
}

/// A code printed in a mail (`XXXX-XXXX-XXXX-XXXX`).
fn code_in(mail: &str) -> Option<String> {
    let text = mail.replace("=\r\n", "").replace("=\n", "");
    text.split(|c: char| c.is_whitespace() || c == '<' || c == '>')
        .find(|w| w.len() == 19 && w.split('-').count() == 4 && w.split('-').all(|g| g.len() == 4))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_pays_all_or_part_of_an_order_before_the_provider() {
    let temp = tempfile::tempdir().expect("tempdir");
    let sink = SmtpSink::start(&temp.path().join("smtp"));
    let app = TestApp::spawn_with(
        common::smtp_config(&temp.path().join("data"), sink.port),
        None,
    )
    .await;
    let (_, v) = product(&app, "GCP", 1, 100).await; // 10.00
    // Issued with a recipient: the code is shown once and mailed; lists never show it.
    let a = issue(&app, 2500, Some("friend@example.com")).await;
    let code_a = a["code"].as_str().expect("code").to_owned();
    assert!(a["id"].as_str().expect("id").starts_with("gc_"));
    assert_eq!(a["last4"].as_str(), Some(&code_a[code_a.len() - 4..]));
    let mail = common::eventually(Duration::from_secs(10), || async {
        sink.to("friend@example.com").into_iter().next()
    })
    .await
    .expect("gift card mail");
    assert_eq!(code_in(&mail).as_deref(), Some(code_a.as_str()), "{mail}");
    let list = json_ok(app.admin_get("/api/v1/admin/gift-cards").await).await;
    assert!(list["data"][0].get("code").is_none());
    let ev = json_ok(
        app.admin_get("/api/v1/admin/events?type=gift_card.issued")
            .await,
    )
    .await;
    assert!(!ev.to_string().contains(&code_a[..15]), "no code in events");

    // 2 × 10.00 + 5.00 shipping = 25.00, all on the card: paid at once, no payment needed.
    let t = new_cart(&app).await;
    add_to_cart(&app, &t, &v[0], 2).await;
    let c = json_ok(tender(&app, &t, &code_a.to_lowercase().replace('-', " ")).await).await;
    assert_eq!(
        c["gift_cards"][0]["amount"],
        usd(2000),
        "shipping comes at checkout: {c}"
    );
    let o = json_ok(checkout(&app, &t, "all", &checkout_body("ada@example.com")).await).await;
    assert_eq!(o["status"], "paid", "{o}");
    assert_eq!(o["payment"], Value::Null);
    assert_eq!(
        (
            o["totals"]["gift_cards"].clone(),
            o["totals"]["amount_due"].clone()
        ),
        (usd(2500), usd(0))
    );
    let d = card_detail(&app, a["id"].as_str().expect("id")).await;
    assert_eq!(ledger_balances(&d), 0);
    assert_eq!(d["ledger"][1]["order_id"], o["id"]);
    let confirmation = common::eventually(Duration::from_secs(10), || async {
        sink.to("ada@example.com").into_iter().next()
    })
    .await;
    assert!(confirmation.is_some(), "the confirmation is mailed at once");
    // An empty card, or a mistyped one, is refused.
    let t = new_cart(&app).await;
    add_to_cart(&app, &t, &v[0], 2).await;
    problem(tender(&app, &t, &code_a).await, 422, "gift_card_invalid").await;
    let mut typo = code_a.clone().into_bytes();
    typo[0] = if typo[0] == b'A' { b'B' } else { b'A' };
    problem(
        tender(&app, &t, std::str::from_utf8(&typo).expect("utf8")).await,
        422,
        "gift_card_invalid",
    )
    .await;

    // A 10.00 card pays part: 15.00 is left for the card payment.
    let b = issue(&app, 1000, None).await;
    json_ok(tender(&app, &t, b["code"].as_str().expect("code")).await).await;
    let o = json_ok(checkout(&app, &t, "part", &checkout_body("ada@example.com")).await).await;
    assert_eq!(
        (o["status"].as_str(), o["totals"]["amount_due"].clone()),
        (Some("pending_payment"), usd(1500))
    );
    let placed = crate::payments::Placed::of(&o);
    let paid =
        json_ok(crate::payments::pay(&app, &placed, "confirm", &card("4242 4242 4242 4242")).await)
            .await;
    assert_eq!(paid["amount"], usd(1500));
    let o = crate::payments::order(&app, &placed.order).await;
    // Paid counts the card's part too.
    assert_eq!(
        (o["status"].as_str(), o["totals"]["paid"].clone()),
        (Some("paid"), usd(2500))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_balance_that_fell_since_the_cart_was_priced_is_a_conflict() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "GCF", 1, 100).await;
    let g = issue(&app, 5000, None).await;
    let code = g["code"].as_str().expect("code");
    let mut carts = Vec::new();
    for _ in 0..2 {
        let t = new_cart(&app).await;
        add_to_cart(&app, &t, &v[0], 2).await;
        json_ok(tender(&app, &t, code).await).await;
        carts.push(t);
    }
    let first =
        json_ok(checkout(&app, &carts[0], "a", &checkout_body("a@example.com")).await).await;
    assert_eq!(first["totals"]["gift_cards"], usd(2500));
    let p = problem(
        checkout(&app, &carts[1], "b", &checkout_body("b@example.com")).await,
        409,
        "gift_card_balance_changed",
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .expect("d")
            .contains(&code[code.len() - 4..]),
        "{p}"
    );
    // The cart now shows what is left; checking out again goes through.
    let c: Value = app
        .client
        .get(app.url("/api/v1/cart"))
        .header("X-Cart-Token", &carts[1])
        .send()
        .await
        .expect("cart")
        .json()
        .await
        .expect("json");
    assert_eq!(c["gift_cards"][0]["balance"], usd(2500));
    let second =
        json_ok(checkout(&app, &carts[1], "b2", &checkout_body("b@example.com")).await).await;
    assert_eq!(
        (
            second["totals"]["gift_cards"].clone(),
            second["status"].as_str()
        ),
        (usd(2500), Some("paid"))
    );
    assert_eq!(
        ledger_balances(&card_detail(&app, g["id"].as_str().expect("id")).await),
        0
    );
    app.stop().await;
}

/// 50 buyers check out 15.00 each with the same 100.00 card at once, each retrying when told
/// the balance changed: the card pays exactly 100.00 in total, never goes below zero, and its
/// ledger adds up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racing_checkouts_never_overdraw_a_card() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "GCR", 1, 1000).await;
    let g = issue(&app, 10_000, None).await;
    let code = g["code"].as_str().expect("code").to_owned();
    let shop = &app;
    let variant = &v[0];
    let totals = futures_util::future::join_all((0..50).map(|i| {
        let code = code.clone();
        async move {
            let t = new_cart(shop).await;
            add_to_cart(shop, &t, variant, 1).await;
            json_ok(tender(shop, &t, &code).await).await;
            for attempt in 0..20 {
                let r = checkout(
                    shop,
                    &t,
                    &format!("race-{i}-{attempt}"),
                    &checkout_body(&format!("b{i}@example.com")),
                )
                .await;
                match r.status().as_u16() {
                    201 => {
                        let o: Value = r.json().await.expect("json");
                        return (
                            o["totals"]["gift_cards"]["amount"].as_i64().expect("g"),
                            o["totals"]["total"]["amount"].as_i64().expect("t"),
                        );
                    }
                    409 => continue,
                    s => panic!("unexpected {s}: {}", r.text().await.unwrap_or_default()),
                }
            }
            panic!("buyer {i} never checked out");
        }
    }))
    .await;
    let paid_by_card: i64 = totals.iter().map(|(g, _)| g).sum();
    assert_eq!(paid_by_card, 10_000, "{totals:?}");
    assert!(totals.iter().all(|(g, t)| *g >= 0 && g <= t));
    let d = card_detail(&app, g["id"].as_str().expect("id")).await;
    assert_eq!(ledger_balances(&d), 0);
    let redemptions = d["ledger"]
        .as_array()
        .expect("l")
        .iter()
        .filter(|e| e["kind"] == "redeem")
        .count();
    assert_eq!(redemptions, totals.iter().filter(|(g, _)| *g > 0).count());
    app.stop().await;
}

/// A gift-card product: never discounted or taxed; when the order is paid, each unit becomes a
/// card worth its price, mailed to the buyer, and that card then pays another order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gift_card_product_sold_becomes_cards_mailed_to_the_buyer() {
    let temp = tempfile::tempdir().expect("tempdir");
    let sink = SmtpSink::start(&temp.path().join("smtp"));
    let app = TestApp::spawn_with(
        common::smtp_config(&temp.path().join("data"), sink.port),
        None,
    )
    .await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/products",
            &json!({"title": "Gift card", "status": "active", "gift_card": true,
                    "options": [{"name": "Value", "values": ["50"]}],
                    "variants": [{"option_values": ["50"], "price": usd(5000), "requires_shipping": false}]}),
        )
        .await;
    let p = json_ok(r).await;
    let variant = p["variants"][0]["id"].as_str().expect("v").to_owned();
    set_stock(&app, &variant, 10).await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/promotions",
            &json!({"name": "Everything 10 %", "effect": {"type": "percentage", "percent": 10}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let t = new_cart(&app).await;
    assert_eq!(add_to_cart(&app, &t, &variant, 2).await.status(), 201);
    let body = json!({"email": "buyer@example.com", "billing_address": {"name": "Bea", "line1": "1 Road",
                      "city": "Town", "country": "US"}});
    let o = json_ok(checkout(&app, &t, "gc-buy", &body).await).await;
    assert_eq!(
        o["totals"]["total"],
        usd(10_000),
        "no discount, no tax, no shipping: {o}"
    );
    let placed = crate::payments::Placed::of(&o);
    json_ok(crate::payments::pay(&app, &placed, "confirm", &card("4242 4242 4242 4242")).await)
        .await;
    let codes = common::eventually(Duration::from_secs(15), || async {
        let codes: Vec<String> = sink
            .to("buyer@example.com")
            .iter()
            .filter_map(|m| code_in(m))
            .collect();
        (codes.len() >= 2).then_some(codes)
    })
    .await
    .expect("two gift card mails");
    assert_eq!(codes.len(), 2);
    assert_ne!(codes[0], codes[1]);
    let list = json_ok(app.admin_get("/api/v1/admin/gift-cards").await).await;
    let sold: Vec<&Value> = list["data"]
        .as_array()
        .expect("d")
        .iter()
        .filter(|c| c["order_id"] == o["id"])
        .collect();
    assert_eq!(sold.len(), 2);
    assert!(sold.iter().all(|c| c["balance"] == usd(5000)));
    // The card pays for another order (10.00 less the automatic 10 %, plus 5.00 shipping).
    let (_, v) = product(&app, "GCU", 1, 10).await;
    let t = new_cart(&app).await;
    add_to_cart(&app, &t, &v[0], 1).await;
    json_ok(tender(&app, &t, &codes[0]).await).await;
    let o2 = json_ok(checkout(&app, &t, "use", &checkout_body("c@example.com")).await).await;
    assert_eq!(
        (o2["status"].as_str(), o2["totals"]["gift_cards"].clone()),
        (Some("paid"), usd(1400))
    );
    app.stop().await;
}

/// Refunds by line read the stored quote: 2 × 30.00 and 1 × 15.00 with 10 % off, NY tax
/// 8.875 %, 5.00 shipping, 20.00 of it on a gift card. Refunding one unit of the first line
/// returns its share (27.00 + 2.40 tax = 29.40), the gift card first; the rest of the lines and
/// shipping return exactly what is left of the total, and nothing more can be refunded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_by_line_return_what_the_lines_cost_gift_cards_first() {
    let app = TestApp::spawn().await;
    let create = |title: &str, price: i64| json!({"title": title, "status": "active", "variants": [{"price": usd(price)}]});
    let mut vs = Vec::new();
    for (t, price) in [("Coat", 3000), ("Hat", 1500)] {
        let p = json_ok(
            app.admin_post_json("/api/v1/admin/products", &create(t, price))
                .await,
        )
        .await;
        let v = p["variants"][0]["id"].as_str().expect("v").to_owned();
        set_stock(&app, &v, 10).await;
        vs.push(v);
    }
    json_ok(
        app.admin_post_json(
            "/api/v1/admin/tax-zones",
            &json!({"name": "New York", "areas": [{"country": "US", "regions": ["NY"]}],
                    "rates": [{"category": "standard", "rate": "8.875"}]}),
        )
        .await,
    )
    .await;
    json_ok(
        app.admin_post_json(
            "/api/v1/admin/promotions",
            &json!({"name": "Ten", "effect": {"type": "percentage", "percent": 10}}),
        )
        .await,
    )
    .await;
    let g = issue(&app, 2000, None).await;
    let t = new_cart(&app).await;
    add_to_cart(&app, &t, &vs[0], 2).await;
    add_to_cart(&app, &t, &vs[1], 1).await;
    json_ok(tender(&app, &t, g["code"].as_str().expect("code")).await).await;
    let body = json!({"email": "r@example.com", "shipping_address": {"name": "R", "line1": "1 Main",
                      "city": "NYC", "region": "NY", "postal_code": "10001", "country": "US"}});
    let o = json_ok(checkout(&app, &t, "refund-me", &body).await).await;
    // Lines: coat 6000 − 600 = 5400, tax 479.25 → 479; hat 1500 − 150 = 1350, tax 119.81 →
    // 120; shipping 500 + 44.38 → 44. Total 5400 + 479 + 1350 + 120 + 500 + 44 = 7893.
    assert_eq!(o["totals"]["total"], usd(7893), "{o}");
    assert_eq!(o["lines"][0]["total"], usd(5879));
    let placed = crate::payments::Placed::of(&o);
    json_ok(crate::payments::pay(&app, &placed, "confirm", &card("4242 4242 4242 4242")).await)
        .await;
    let id = placed.order.clone();
    let refund = |key: &str, body: Value| {
        app.admin
            .post(app.url(&format!("/api/v1/admin/orders/{id}/refunds")))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let coat = o["lines"][0]["id"].as_str().expect("l").to_owned();
    let hat = o["lines"][1]["id"].as_str().expect("l").to_owned();
    // One coat: half of 5879, the larger half first (2940), all of it to the gift card.
    let r1 = json_ok(
        refund(
            "r1",
            json!({"reason": "too big", "lines": [{"line_id": coat, "quantity": 1}],
                                          "restock": [{"line_id": coat, "quantity": 1}]}),
        )
        .await
        .expect("r1"),
    )
    .await;
    assert_eq!(
        (
            r1["amount"].clone(),
            r1["to_gift_cards"].clone(),
            r1["to_provider"].clone()
        ),
        (usd(2940), usd(2000), usd(940)),
        "{r1}"
    );
    assert_eq!(
        ledger_balances(&card_detail(&app, g["id"].as_str().expect("id")).await),
        2000
    );
    // Both an amount and lines: refused.
    let p = problem(
        refund(
            "bad",
            json!({"reason": "x", "amount": 100, "lines": [{"line_id": hat, "quantity": 1}]}),
        )
        .await
        .expect("bad"),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "amount");
    // Two coats when one is left: refused with what is left.
    problem(
        refund(
            "too-many",
            json!({"reason": "x", "lines": [{"line_id": coat, "quantity": 2}]}),
        )
        .await
        .expect("tm"),
        422,
        "validation_failed",
    )
    .await;
    // The rest: the other coat, the hat and shipping return exactly what is left.
    let r2 = json_ok(
        refund(
            "r2",
            json!({"reason": "returned", "shipping": true,
        "lines": [{"line_id": coat, "quantity": 1}, {"line_id": hat, "quantity": 1}]}),
        )
        .await
        .expect("r2"),
    )
    .await;
    assert_eq!(r2["amount"], usd(7893 - 2940), "{r2}");
    assert_eq!(
        r2["to_gift_cards"],
        usd(0),
        "the card got all it paid back already"
    );
    let done = common::eventually(Duration::from_secs(10), || async {
        let o = crate::payments::order(&app, &id).await;
        (o["status"] == "refunded").then_some(o)
    })
    .await
    .expect("refunded");
    assert_eq!(done["totals"]["refunded"], usd(7893));
    problem(
        refund("r3", json!({"reason": "again", "shipping": true}))
            .await
            .expect("r3"),
        422,
        "validation_failed",
    )
    .await;
    problem(
        refund("r4", json!({"reason": "again"})).await.expect("r4"),
        422,
        "validation_failed",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_issue_makes_one_card_and_never_repeats_its_code() {
    let app = TestApp::spawn().await;
    let send = |body: Value, key: &'static str| {
        let (c, url) = (app.admin.clone(), app.url("/api/v1/admin/gift-cards"));
        async move {
            c.post(url)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .expect("POST")
        }
    };
    let body = json!({"amount": usd(3000), "note": "keyed"});
    let first = send(body.clone(), "issue-1").await;
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let first: Value = first.json().await.expect("json");
    assert!(first["code"].is_string(), "the first answer shows the code");
    let again = send(body.clone(), "issue-1").await;
    assert_eq!(again.status(), 200, "a replay");
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["id"], first["id"]);
    assert!(again["code"].is_null(), "the code is not kept: {again}");
    let other = json!({"amount": usd(4000), "note": "keyed"});
    problem(send(other, "issue-1").await, 422, "idempotency_key_reused").await;
    let list = json_ok(app.admin_get("/api/v1/admin/gift-cards").await).await;
    let keyed = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|c| c["note"] == "keyed")
        .count();
    assert_eq!(keyed, 1);
    app.stop().await;
}
