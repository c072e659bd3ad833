//! Payments over HTTP with the built-in `test` provider: a whole purchase through confirmation,
//! the confirmation mail (real SMTP) and two partial refunds with restock; every decline card
//! and 3-D Secure; races between confirmations and staff mark-paid; money that arrives after
//! the order expired (revived, or refunded automatically when the stock is gone).

use crate::common;

use std::time::Duration;

use common::shop::{add_to_cart, checkout, checkout_body, new_cart, product, set_stock, stock};
use common::{SmtpSink, TestApp, problem};
use serde_json::{Value, json};

pub async fn json_ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert!(status.is_success(), "{status}: {v}");
    v
}

/// A placed order: (order id, guest order token, payment id).
pub struct Placed {
    pub order: String,
    pub token: String,
    pub payment: String,
}

impl Placed {
    /// The ids a checkout answer names.
    pub fn of(checkout: &Value) -> Placed {
        Placed {
            order: checkout["id"].as_str().expect("id").to_owned(),
            token: checkout["order_token"].as_str().expect("token").to_owned(),
            payment: checkout["payment"]["id"]
                .as_str()
                .expect("payment")
                .to_owned(),
        }
    }
}

/// Checks out `units` of `variant` as a guest.
pub async fn place(app: &TestApp, variant: &str, units: i64, key: &str) -> Placed {
    let cart = new_cart(app).await;
    assert_eq!(add_to_cart(app, &cart, variant, units).await.status(), 201);
    let o = json_ok(checkout(app, &cart, key, &checkout_body("pay@example.com")).await).await;
    assert_eq!(o["payment"]["provider"], "test");
    assert_eq!(o["payment"]["status"], "requires_payment_method");
    Placed {
        order: o["id"].as_str().expect("id").to_owned(),
        token: o["order_token"].as_str().expect("token").to_owned(),
        payment: o["payment"]["id"].as_str().expect("payment").to_owned(),
    }
}

pub fn card(number: &str) -> Value {
    json!({"card_number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"})
}

/// `POST /api/v1/payments/{id}/{action}` as the order's guest.
pub async fn pay(app: &TestApp, p: &Placed, action: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/payments/{}/{action}", p.payment)))
        .header("X-Order-Token", &p.token)
        .json(body)
        .send()
        .await
        .expect("pay")
}

pub async fn order(app: &TestApp, id: &str) -> Value {
    json_ok(app.admin_get(&format!("/api/v1/admin/orders/{id}")).await).await
}

/// How often the order's history says it was paid (`pay` or `revive`).
pub fn times_paid(order: &Value) -> usize {
    order["history"].as_array().map_or(0, |h| {
        h.iter()
            .filter(|e| matches!(e["event"].as_str(), Some("pay" | "revive")))
            .count()
    })
}

pub async fn payments(app: &TestApp, order: &str) -> Vec<Value> {
    let v = json_ok(
        app.admin_get(&format!("/api/v1/admin/orders/{order}/payments"))
            .await,
    )
    .await;
    v.as_array().expect("list").clone()
}

async fn refund(app: &TestApp, order: &str, key: &str, body: &Value) -> reqwest::Response {
    app.admin
        .post(app.url(&format!("/api/v1/admin/orders/{order}/refunds")))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("refund")
}

async fn events(app: &TestApp, type_: &str) -> Vec<Value> {
    let v = json_ok(
        app.admin_get(&format!("/api/v1/admin/events?type={type_}&per_page=100"))
            .await,
    )
    .await;
    v["data"].as_array().expect("data").clone()
}

async fn wait_status(app: &TestApp, id: &str, status: &str) -> Value {
    common::eventually(Duration::from_secs(10), || async {
        let o = order(app, id).await;
        (o["status"] == status).then_some(o)
    })
    .await
    .unwrap_or_else(|| panic!("order {id} never became {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_is_confirmed_mailed_and_refunded_in_two_parts_with_restock() {
    let temp = tempfile::tempdir().expect("tempdir");
    let sink = SmtpSink::start(&temp.path().join("smtp"));
    let app = TestApp::spawn_with(
        common::smtp_config(&temp.path().join("data"), sink.port),
        None,
    )
    .await;
    let (_, v) = product(&app, "PAY", 2, 10).await;
    let cart = new_cart(&app).await;
    add_to_cart(&app, &cart, &v[0], 2).await;
    add_to_cart(&app, &cart, &v[1], 1).await;
    let o = json_ok(checkout(&app, &cart, "buy-1", &checkout_body("ada@example.com")).await).await;
    let id = o["id"].as_str().expect("id").to_owned();
    let total = o["totals"]["total"]["amount"].as_i64().expect("total");
    assert_eq!(total, 2 * 1000 + 1100 + 500);
    let p = Placed {
        order: id.clone(),
        token: o["order_token"].as_str().expect("t").to_owned(),
        payment: o["payment"]["id"].as_str().expect("p").to_owned(),
    };
    assert!(p.payment.starts_with("pay_"));
    // Nothing is mailed before the money is in.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sink.to("ada@example.com").is_empty(),
        "no mail before payment"
    );

    // The amount is the order's: the client sends only the card.
    let paid = json_ok(pay(&app, &p, "confirm", &card("4242 4242 4242 4242")).await).await;
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(paid["amount"]["amount"], total);
    assert_eq!(paid["captured"]["amount"], total);
    assert_eq!(paid["attempts"][0]["card_last4"], "4242");
    assert!(
        paid.get("reference").is_none(),
        "customers do not see the provider reference"
    );
    let o = order(&app, &id).await;
    assert_eq!(o["status"], "paid");
    assert_eq!(o["totals"]["paid"]["amount"], total);
    assert_eq!(stock(&app, &v[0]).await["on_hand"], 8);
    // Confirming again answers the same payment and takes nothing more.
    let again = json_ok(pay(&app, &p, "confirm", &card("4242424242424242")).await).await;
    assert_eq!(again["version"], paid["version"]);

    let mail = common::eventually(Duration::from_secs(10), || async {
        sink.to("ada@example.com")
            .into_iter()
            .find(|m| m.contains(&id))
    })
    .await
    .expect("confirmation mail over SMTP");
    assert!(mail.contains("Total"), "{mail}");

    // First refund: one unit of the first line, restocked.
    let line0 = o["lines"][0]["id"].as_str().expect("line").to_owned();
    let body = json!({"amount": 1000, "reason": "one arrived broken",
                      "restock": [{"line_id": line0, "quantity": 1}]});
    let r1 = refund(&app, &id, "ref-1", &body).await;
    assert_eq!(r1.status(), 201);
    let r1: Value = r1.json().await.expect("json");
    assert_eq!(r1["status"], "pending");
    assert_eq!(r1["kind"], "staff");
    assert_eq!(stock(&app, &v[0]).await["on_hand"], 9, "restocked at once");
    // The same key and body replays the refund instead of refunding twice.
    let replay = refund(&app, &id, "ref-1", &body).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.expect("json")["id"], r1["id"]);
    let partly = wait_status(&app, &id, "partially_refunded").await;
    assert_eq!(partly["totals"]["refunded"]["amount"], 1000);
    // More than what is left is refused; the rest is refunded when no amount is given.
    let over = refund(
        &app,
        &id,
        "ref-2",
        &json!({"amount": total, "reason": "too much"}),
    )
    .await;
    let pr = problem(over, 422, "validation_failed").await;
    assert_eq!(pr["errors"][0]["code"], "over_refund");
    let r2 = refund(
        &app,
        &id,
        "ref-3",
        &json!({"reason": "customer returned the rest"}),
    )
    .await;
    assert_eq!(r2.status(), 201);
    let r2: Value = r2.json().await.expect("json");
    assert_eq!(r2["amount"]["amount"], total - 1000);
    let done = wait_status(&app, &id, "refunded").await;
    assert_eq!(done["totals"]["refunded"]["amount"], total);
    let refunds = &payments(&app, &id).await[0]["refunds"];
    assert_eq!(refunds.as_array().map(Vec::len), Some(2));
    assert!(
        refunds
            .as_array()
            .expect("r")
            .iter()
            .all(|r| r["status"] == "succeeded")
    );
    problem(
        refund(&app, &id, "ref-4", &json!({"reason": "again"})).await,
        422,
        "validation_failed",
    )
    .await;

    // Each fact is one event.
    let of_order = |evs: Vec<Value>| {
        evs.into_iter()
            .filter(|e| e["data"]["id"] == id.as_str() || e["data"]["order_id"] == id.as_str())
            .count()
    };
    assert_eq!(of_order(events(&app, "order.paid").await), 1);
    assert_eq!(of_order(events(&app, "refund.created").await), 2);
    assert_eq!(of_order(events(&app, "refund.succeeded").await), 2);
    assert_eq!(of_order(events(&app, "order.refunded").await), 2);
    let confirmations = sink
        .to("ada@example.com")
        .into_iter()
        .filter(|m| {
            m.contains(&format!("Your Test Shop order {id}")) || m.contains(&format!("order {id}"))
        })
        .count();
    assert!(confirmations >= 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_decline_card_gives_its_code_and_the_order_stays_payable() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "DEC", 1, 100).await;
    let p = place(&app, &v[0], 1, "dec-1").await;
    let cards = [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
        ("4000000000000119", "processing_error"),
        ("4242424242424241", "incorrect_number"),
    ];
    for (i, (number, code)) in cards.iter().enumerate() {
        let pr = problem(
            pay(&app, &p, "confirm", &card(number)).await,
            402,
            "card_declined",
        )
        .await;
        assert_eq!(pr["decline_code"], *code, "{number}");
        let got = json_ok(
            app.client
                .get(app.url(&format!("/api/v1/payments/{}", p.payment)))
                .header("X-Order-Token", &p.token)
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(got["status"], "requires_payment_method");
        assert_eq!(got["last_decline"]["decline_code"], *code);
        assert_eq!(got["attempts"].as_array().map(Vec::len), Some(i + 1));
        assert_eq!(order(&app, &p.order).await["status"], "pending_payment");
    }
    // A card past its expiry month is declined as expired.
    let old =
        json!({"card_number": "4242424242424242", "exp_month": 1, "exp_year": 2020, "cvc": "123"});
    let pr = problem(pay(&app, &p, "confirm", &old).await, 402, "card_declined").await;
    assert_eq!(pr["decline_code"], "expired_card");
    // Malformed card fields are a 422 naming each field, and no attempt.
    let bad = json!({"card_number": "42", "exp_month": 13, "exp_year": 2034, "cvc": "x"});
    let pr = problem(
        pay(&app, &p, "confirm", &bad).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(pr["errors"].as_array().map(Vec::len), Some(3));
    // Another card on the same payment pays the order.
    let ok = json_ok(pay(&app, &p, "confirm", &card("4242424242424242")).await).await;
    assert_eq!(ok["status"], "succeeded");
    assert_eq!(ok["attempts"].as_array().map(Vec::len), Some(8));
    assert_eq!(order(&app, &p.order).await["status"], "paid");
    assert_eq!(events(&app, "payment.failed").await.len(), 7);
    // Someone else's payment is not found, whoever asks.
    let other = place(&app, &v[0], 1, "dec-2").await;
    let r = app
        .client
        .post(app.url(&format!("/api/v1/payments/{}/confirm", other.payment)))
        .header("X-Order-Token", &p.token)
        .json(&card("4242424242424242"))
        .send()
        .await
        .expect("post");
    problem(r, 404, "not_found").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_d_secure_approves_and_denies() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "TDS", 1, 100).await;
    let a = place(&app, &v[0], 1, "tds-1").await;
    let pending = json_ok(pay(&app, &a, "confirm", &card("4000002760003184")).await).await;
    assert_eq!(pending["status"], "requires_action");
    assert_eq!(order(&app, &a.order).await["status"], "pending_payment");
    // A second card while authentication is pending is refused.
    problem(
        pay(&app, &a, "confirm", &card("4242424242424242")).await,
        409,
        "payment_not_payable",
    )
    .await;
    let ok = json_ok(pay(&app, &a, "authenticate", &json!({"outcome": "approve"})).await).await;
    assert_eq!(ok["status"], "succeeded");
    assert_eq!(order(&app, &a.order).await["status"], "paid");

    let b = place(&app, &v[0], 1, "tds-2").await;
    json_ok(pay(&app, &b, "confirm", &card("4000002760003184")).await).await;
    let pr = problem(
        pay(&app, &b, "authenticate", &json!({"outcome": "deny"})).await,
        402,
        "card_declined",
    )
    .await;
    assert_eq!(pr["decline_code"], "authentication_failed");
    assert_eq!(order(&app, &b.order).await["status"], "pending_payment");
    problem(
        pay(&app, &b, "authenticate", &json!({"outcome": "approve"})).await,
        409,
        "payment_not_payable",
    )
    .await;
    problem(
        pay(&app, &b, "authenticate", &json!({"outcome": "maybe"})).await,
        422,
        "validation_failed",
    )
    .await;
    let ok = json_ok(pay(&app, &b, "confirm", &card("4242424242424242")).await).await;
    assert_eq!(ok["status"], "succeeded");
    app.stop().await;
}

fn mails_about(app: &TestApp, order: &str) -> usize {
    let dir = app.data_dir.join("mail").join("outbox");
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter(|m| m.contains(order) && m.contains("Total"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_confirmations_and_mark_paid_pay_each_order_once() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "RACE", 1, 1000).await;
    let mut placed = Vec::new();
    for i in 0..100 {
        placed.push(place(&app, &v[0], 1, &format!("race-{i}")).await);
    }
    // Two confirmations of the same card at once, and for every other order staff mark-paid
    // at the same moment as the customer's card.
    let visa = card("4242424242424242");
    let mut tasks = Vec::new();
    for (i, p) in placed.iter().enumerate() {
        let (app, visa) = (&app, &visa);
        let a = pay(app, p, "confirm", visa);
        let b = async move {
            if i % 2 == 0 {
                pay(app, p, "confirm", visa).await.status().as_u16()
            } else {
                app.admin_post_json(
                    &format!("/api/v1/admin/orders/{}/mark-paid", p.order),
                    &json!({}),
                )
                .await
                .status()
                .as_u16()
            }
        };
        tasks.push(async move {
            let (a, b) = tokio::join!(a, b);
            (a.status().as_u16(), b)
        });
    }
    let answers = futures_util::future::join_all(tasks).await;
    for (i, (a, b)) in answers.iter().enumerate() {
        assert!(matches!(a, 200 | 409), "confirm {i}: {a}");
        assert!(matches!(b, 200 | 409), "other {i}: {b}");
    }
    for (i, p) in placed.iter().enumerate() {
        let o = order(&app, &p.order).await;
        assert_eq!(o["status"], "paid", "{}", p.order);
        let pays = times_paid(&o);
        assert_eq!(pays, 1, "paid once: {}", p.order);
        let ps = payments(&app, &p.order).await;
        let secured: Vec<&Value> = ps.iter().filter(|x| x["status"] == "succeeded").collect();
        let refunded: usize = ps
            .iter()
            .map(|x| x["refunds"].as_array().map_or(0, Vec::len))
            .sum();
        if i % 2 == 0 {
            // One attempt key: the same charge twice is one charge.
            assert_eq!(
                (ps.len(), secured.len(), refunded),
                (1, 1, 0),
                "{}",
                p.order
            );
        } else {
            // The card may have lost the race (409) or been charged too: then it is refunded.
            assert_eq!(secured.len() - 1, refunded, "{}: {ps:?}", p.order);
        }
    }
    assert_eq!(stock(&app, &v[0]).await["on_hand"], 900);
    // One confirmation mail per order.
    let ids: Vec<String> = placed.iter().map(|p| p.order.clone()).collect();
    let all = common::eventually(Duration::from_secs(20), || async {
        ids.iter()
            .all(|id| mails_about(&app, id) >= 1)
            .then_some(())
    })
    .await;
    assert!(all.is_some(), "every order got its mail");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        assert_eq!(mails_about(&app, id), 1, "one mail for {id}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_after_expiry_revives_the_order_or_is_refunded_when_the_stock_is_gone() {
    let mut app = TestApp::spawn().await;
    let (_, v) = product(&app, "LATE", 2, 1).await;
    let keep = place(&app, &v[0], 1, "late-1").await;
    let lose = place(&app, &v[1], 1, "late-2").await;
    // The reconciliation (every 60 s) cancels the open payments of lapsed orders. It runs
    // once more while the orders still wait, so its next run falls after the payments below:
    // the window this test is about, money arriving after the expiry.
    let reconciled = |app: &TestApp| {
        let url = app.url("/api/v1/admin/jobs?state=done&kind=payment.reconcile&per_page=100");
        let c = app.admin.clone();
        async move {
            let v: Value = c.get(url).send().await.ok()?.json().await.ok()?;
            v["data"].as_array().map(Vec::len)
        }
    };
    let before = reconciled(&app).await.expect("jobs");
    app.clock.advance(Duration::from_secs(14 * 60 + 50));
    let ran = common::eventually(Duration::from_secs(10), || async {
        reconciled(&app).await.filter(|n| *n > before)
    })
    .await;
    assert!(ran.is_some(), "a reconciliation ran before the expiry");
    // Past the 15-minute reservation and the next 30-second sweep (admin tokens live 15 min).
    app.clock.advance(Duration::from_secs(41));
    let fresh = app
        .auth
        .login(common::ADMIN_EMAIL, common::ADMIN_PASSWORD, "127.0.0.1")
        .await
        .expect("login")
        .access_token;
    app.admin = common::bearer_client(&fresh);
    wait_status(&app, &keep.order, "expired").await;
    wait_status(&app, &lose.order, "expired").await;
    // Someone else buys the only unit of the second variant meanwhile.
    let other = place(&app, &v[1], 1, "late-3").await;
    json_ok(pay(&app, &other, "confirm", &card("4242424242424242")).await).await;

    // Stock left: the order is revived and paid, the history says why.
    let ok = json_ok(pay(&app, &keep, "confirm", &card("4242424242424242")).await).await;
    assert_eq!(ok["status"], "succeeded");
    let o = order(&app, &keep.order).await;
    assert_eq!(o["status"], "paid");
    let last = o["history"]
        .as_array()
        .expect("h")
        .last()
        .expect("entry")
        .clone();
    assert_eq!(last["event"], "revive");
    assert!(
        last["reason"].as_str().expect("r").contains("expired"),
        "{last}"
    );
    assert_eq!(stock(&app, &v[0]).await["on_hand"], 0);

    // No stock: the money is refunded automatically and staff see why.
    let ok = json_ok(pay(&app, &lose, "confirm", &card("4242424242424242")).await).await;
    assert_eq!(ok["status"], "succeeded");
    let refunded = common::eventually(Duration::from_secs(10), || async {
        let ps = payments(&app, &lose.order).await;
        let r = ps[0]["refunds"][0].clone();
        (r["status"] == "succeeded").then_some(r)
    })
    .await
    .expect("automatic refund");
    assert_eq!(refunded["kind"], "unfulfillable");
    assert_eq!(refunded["actor"], "system");
    assert_eq!(refunded["amount"], ok["amount"]);
    let o = order(&app, &lose.order).await;
    assert_eq!(o["status"], "expired");
    assert!(
        o["notes"][0]["text"]
            .as_str()
            .expect("note")
            .contains("refunded automatically")
    );
    let evs = events(&app, "payment.refunded_unfulfillable").await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["data"]["order_id"], lose.order.as_str());
    assert_eq!(stock(&app, &v[1]).await["on_hand"], 0);
    // The buyer's order is untouched.
    assert_eq!(order(&app, &other.order).await["status"], "paid");
    set_stock(&app, &v[1], 0).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_money_for_100_expired_orders_revives_while_stock_lasts_and_refunds_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = common::test_config(dir.path());
    // Once the clock moves past their expiry, these open payments are also older than the
    // reconciliation's 5 minutes, and a pass would cancel them (their orders lapsed) before
    // the late money below arrives; on a slow run it did. Late money is this test's subject.
    cfg.payments.reconcile_after_secs = 3600;
    let mut app = TestApp::spawn_with(cfg, None).await;
    let (_, v) = product(&app, "LATE100", 1, 150).await;
    let mut late = Vec::new();
    for i in 0..100 {
        late.push(place(&app, &v[0], 1, &format!("l100-{i}")).await);
    }
    app.clock.advance(Duration::from_secs(15 * 60 + 31));
    let fresh = app
        .auth
        .login(common::ADMIN_EMAIL, common::ADMIN_PASSWORD, "127.0.0.1")
        .await
        .expect("login")
        .access_token;
    app.admin = common::bearer_client(&fresh);
    for p in &late {
        wait_status(&app, &p.order, "expired").await;
    }
    // Other shoppers buy 100 of the 150 units meanwhile.
    for i in 0..2 {
        let p = place(&app, &v[0], 50, &format!("l100-buyer-{i}")).await;
        json_ok(pay(&app, &p, "confirm", &card("4242424242424242")).await).await;
    }
    // All hundred late payments at once: 50 units are left for them.
    let visa = card("4242424242424242");
    let answers =
        futures_util::future::join_all(late.iter().map(|p| pay(&app, p, "confirm", &visa))).await;
    let mut refused = Vec::new();
    for r in answers {
        if r.status() != 200 {
            refused.push(format!(
                "{} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ));
        }
    }
    assert!(refused.is_empty(), "late payments refused: {refused:?}");
    let mut revived = 0;
    let mut refunded = 0;
    for p in &late {
        let o = order(&app, &p.order).await;
        match o["status"].as_str() {
            Some("paid") => revived += 1,
            Some("expired") => {
                let r = common::eventually(Duration::from_secs(10), || async {
                    let ps = payments(&app, &p.order).await;
                    let r = ps[0]["refunds"][0].clone();
                    (r["status"] == "succeeded").then_some(r)
                })
                .await
                .expect("refunded");
                assert_eq!(r["kind"], "unfulfillable");
                refunded += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((revived, refunded), (50, 50));
    let s = stock(&app, &v[0]).await;
    assert_eq!(
        (
            s["on_hand"].as_i64(),
            s["sold"].as_i64(),
            s["reserved"].as_i64()
        ),
        (Some(0), Some(150), Some(0))
    );
    assert_eq!(
        events(&app, "payment.refunded_unfulfillable").await.len(),
        50
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_capture_authorizes_at_checkout_and_captures_on_the_first_fulfilment() {
    let temp = tempfile::tempdir().expect("tempdir");
    let mut cfg = common::test_config(temp.path());
    cfg.payments.capture = "manual".into();
    let app = TestApp::spawn_with(cfg, None).await;
    let (_, v) = product(&app, "CAP", 1, 10).await;
    let p = place(&app, &v[0], 2, "cap-1").await;
    let held = json_ok(pay(&app, &p, "confirm", &card("4242424242424242")).await).await;
    assert_eq!(held["status"], "requires_capture");
    assert_eq!(held["captured"]["amount"], 0);
    let o = order(&app, &p.order).await;
    assert_eq!(
        o["status"], "paid",
        "the order is paid once the money is held"
    );
    // Nothing captured cannot be refunded yet.
    let r = refund(&app, &p.order, "cap-r", &json!({"reason": "early"})).await;
    problem(r, 409, "payment_not_payable").await;
    // The first fulfilment captures.
    let f = app
        .admin
        .post(app.url(&format!("/api/v1/admin/orders/{}/fulfilments", p.order)))
        .header("Idempotency-Key", "cap-f")
        .json(&json!({"carrier": "DHL", "tracking_number": "CAP1", "lines": [{"line_id": o["lines"][0]["id"], "quantity": 1}]}))
        .send()
        .await
        .expect("fulfil");
    assert_eq!(f.status(), 201);
    let captured = common::eventually(Duration::from_secs(10), || async {
        let ps = payments(&app, &p.order).await;
        (ps[0]["status"] == "succeeded").then(|| ps[0].clone())
    })
    .await
    .expect("captured on the first fulfilment");
    assert_eq!(captured["captured"], captured["amount"]);
    // A second order is captured by staff.
    let q = place(&app, &v[0], 1, "cap-2").await;
    json_ok(pay(&app, &q, "confirm", &card("4242424242424242")).await).await;
    let c = json_ok(
        app.admin_post_json(
            &format!("/api/v1/admin/payments/{}/capture", q.payment),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(c["status"], "succeeded");
    // An authorization left uncaptured for six days is flagged for staff before Stripe's
    // seven-day limit.
    let held = place(&app, &v[0], 1, "cap-3").await;
    json_ok(pay(&app, &held, "confirm", &card("4242424242424242")).await).await;
    let key = crate::webhooks::admin_key(&app).await;
    app.clock.advance(Duration::from_secs(6 * 24 * 3600 + 120));
    let flagged = common::eventually(Duration::from_secs(10), || async {
        let f: Value = key
            .get(app.url("/api/v1/admin/payments/flagged"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        f.as_array()?
            .iter()
            .find(|p| p["id"] == held.payment.as_str())
            .cloned()
    })
    .await
    .expect("flagged before the authorization lapses");
    assert!(
        flagged["review"]
            .as_str()
            .expect("why")
            .contains("authorization")
    );
    // Capturing again answers the payment as it is.
    let again = json_ok(
        key.post(app.url(&format!("/api/v1/admin/payments/{}/capture", p.payment)))
            .send()
            .await
            .expect("capture"),
    )
    .await;
    assert_eq!(again["version"], captured["version"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_payment_left_open_after_staff_record_a_transfer_is_cancelled_by_reconciliation() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "XFER", 1, 10).await;
    let p = place(&app, &v[0], 1, "xfer-1").await;
    let paid = json_ok(
        app.admin_post_json(
            &format!("/api/v1/admin/orders/{}/mark-paid", p.order),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(paid["status"], "paid");
    let ps = payments(&app, &p.order).await;
    assert_eq!(
        (ps[0]["provider"].as_str(), ps[0]["status"].as_str()),
        (Some("test"), Some("requires_payment_method"))
    );
    assert_eq!(
        (ps[1]["provider"].as_str(), ps[1]["status"].as_str()),
        (Some("manual"), Some("succeeded"))
    );
    // The customer can no longer pay it, and reconciliation closes it.
    problem(
        pay(&app, &p, "confirm", &card("4242424242424242")).await,
        409,
        "payment_not_payable",
    )
    .await;
    let key = crate::webhooks::admin_key(&app).await;
    app.clock.advance(Duration::from_secs(6 * 60));
    let closed = common::eventually(Duration::from_secs(10), || async {
        let ps: Value = key
            .get(app.url(&format!("/api/v1/admin/orders/{}/payments", p.order)))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (ps[0]["status"] == "canceled").then_some(ps)
    })
    .await
    .expect("the open card payment is cancelled");
    assert_eq!(closed[1]["status"], "succeeded");
    app.stop().await;
}
