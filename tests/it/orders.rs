//! Orders over HTTP: who may see an order, the life of an order through payment, fulfilment
//! and completion with its history, invalid transitions, cancellation and expiry releasing
//! stock, staff filters, order mails and events.

use crate::common;

use std::time::Duration;

use common::shop::{add_to_cart, checkout, checkout_body, new_cart, product, stock};
use common::{TestApp, bearer_client, problem};
use serde_json::{Value, json};

/// Staff ship units of `order` with an idempotency key.
async fn fulfil(app: &TestApp, order: &str, key: &str, body: &Value) -> reqwest::Response {
    app.admin
        .post(app.url(&format!("/api/v1/admin/orders/{order}/fulfilments")))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("fulfil")
}

async fn json_of(r: reqwest::Response) -> Value {
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert!(status.is_success(), "{status}: {v}");
    v
}

/// Mails written by the file transport so far (test config has no SMTP host).
fn mails(app: &TestApp) -> Vec<String> {
    let dir = app.data_dir.join("mail").join("outbox");
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path()) {
                out.push(s);
            }
        }
    }
    out
}

async fn wait_mail(app: &TestApp, needle: &str) -> String {
    common::eventually(Duration::from_secs(10), || async {
        mails(app).into_iter().find(|m| m.contains(needle))
    })
    .await
    .unwrap_or_else(|| panic!("no mail containing {needle:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_lives_through_payment_fulfilment_and_completion() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "OL", 2, 10).await;
    let token = app.customer_token("ada@example.com").await;
    let ada = bearer_client(&token);
    for (variant, q) in [(&v[0], 2), (&v[1], 1)] {
        let r = ada
            .post(app.url("/api/v1/cart/items"))
            .json(&json!({"variant_id": variant, "quantity": q}))
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 201);
    }
    let o = json_of(
        ada.post(app.url("/api/v1/checkout"))
            .header("Idempotency-Key", "ada-1")
            .json(&checkout_body("ada@example.com"))
            .send()
            .await
            .expect("checkout"),
    )
    .await;
    let id = o["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("ord_"));
    assert_eq!(o["totals"]["subtotal"]["amount"], 2 * 1000 + 1100);
    assert_eq!(o["totals"]["tax"]["amount"], 0);
    assert_eq!(o["lines"][0]["variant_title"], "V0");
    assert_eq!(o["history"][0]["event"], "create");
    assert_eq!(stock(&app, &v[0]).await["reserved"], 2);
    // The cart is gone after checkout.
    let c = json_of(ada.get(app.url("/api/v1/cart")).send().await.expect("cart")).await;
    assert_eq!(c["lines"], json!([]));

    // Ada sees it, in her list too; another customer and anonymous callers do not.
    let mine = json_of(
        ada.get(app.url("/api/v1/orders"))
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(mine["data"][0]["id"], id.as_str());
    assert!(mine["data"][0].get("order_token").is_none());
    let got = json_of(
        ada.get(app.url(&format!("/api/v1/orders/{id}")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert!(
        got.get("notes").is_none(),
        "customers do not see staff notes"
    );
    let bob = bearer_client(&app.customer_token("bob@example.com").await);
    let r = bob
        .get(app.url(&format!("/api/v1/orders/{id}")))
        .send()
        .await
        .expect("get");
    problem(r, 404, "not_found").await;
    problem(
        app.get(&format!("/api/v1/orders/{id}")).await,
        401,
        "unauthenticated",
    )
    .await;
    let r = bob
        .get(app.url(&format!("/api/v1/admin/orders/{id}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);

    // The event is recorded at checkout; the confirmation mail waits for the payment.
    let ev = json_of(
        app.admin_get("/api/v1/admin/events?type=order.created")
            .await,
    )
    .await;
    assert_eq!(ev["data"][0]["data"]["id"], id.as_str());

    // Fulfilling before payment is refused, naming the state.
    let ful = json!({"carrier": "DHL", "tracking_number": "JD0001"});
    let p = problem(
        fulfil(&app, &id, "f-0", &ful).await,
        409,
        "invalid_transition",
    )
    .await;
    assert!(
        p["detail"].as_str().expect("d").contains("pending_payment"),
        "{p}"
    );

    // Payment sells the reserved stock.
    let paid = json_of(
        app.admin_post_json(&format!("/api/v1/admin/orders/{id}/mark-paid"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["totals"]["paid"], paid["totals"]["total"]);
    let m = wait_mail(&app, &format!("Your shopd order {id}")).await;
    assert!(m.contains("ada@example.com"));
    assert!(m.contains("Total"), "{m}");
    let s = stock(&app, &v[0]).await;
    assert_eq!(
        (
            s["on_hand"].as_i64(),
            s["sold"].as_i64(),
            s["reserved"].as_i64()
        ),
        (Some(8), Some(2), Some(0))
    );

    // Ship one unit of the first line, then the rest.
    let line0 = paid["lines"][0]["id"].as_str().expect("line").to_owned();
    let one = json!({"lines": [{"line_id": line0, "quantity": 1}], "carrier": "DHL", "tracking_number": "JD0001"});
    let first = fulfil(&app, &id, "f-1", &one).await;
    assert_eq!(first.status(), 201);
    let first_bytes = first.bytes().await.expect("bytes");
    let part: Value = serde_json::from_slice(&first_bytes).expect("json");
    assert_eq!(part["status"], "partially_fulfilled");
    assert_eq!(part["lines"][0]["fulfilled_quantity"], 1);
    // A retry with the same key ships nothing more and answers the same bytes; the key with
    // another body, or no key at all, is refused.
    let again = fulfil(&app, &id, "f-1", &one).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.bytes().await.expect("bytes"), first_bytes);
    problem(
        fulfil(&app, &id, "f-1", &ful).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    problem(
        app.admin_post_json(&format!("/api/v1/admin/orders/{id}/fulfilments"), &ful)
            .await,
        400,
        "idempotency_key_required",
    )
    .await;
    // More than is left on the line is refused.
    problem(
        fulfil(
            &app,
            &id,
            "f-2",
            &json!({"lines": [{"line_id": line0, "quantity": 2}], "carrier": "DHL", "tracking_number": "JD0002"}),
        )
        .await,
        409,
        "invalid_transition",
    )
    .await;
    let done = json_of(fulfil(&app, &id, "f-3", &ful).await).await;
    assert_eq!(done["status"], "fulfilled");
    assert_eq!(done["fulfilments"].as_array().expect("f").len(), 2);
    let shipped = wait_mail(&app, "JD0001").await;
    assert!(shipped.contains("has shipped"), "{shipped}");

    // Notes, completion, and a terminal state that stays terminal.
    let noted = json_of(
        app.admin_post_json(
            &format!("/api/v1/admin/orders/{id}/notes"),
            &json!({"text": "Gift wrap requested by phone"}),
        )
        .await,
    )
    .await;
    assert_eq!(noted["notes"][0]["text"], "Gift wrap requested by phone");
    let closed = json_of(
        app.admin_post_json(&format!("/api/v1/admin/orders/{id}/complete"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(closed["status"], "completed");
    let p = problem(
        app.admin_post_json(&format!("/api/v1/admin/orders/{id}/cancel"), &json!({}))
            .await,
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(p["detail"], "cannot cancel an order that is completed");
    let events: Vec<&str> = closed["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["event"].as_str().expect("e"))
        .collect();
    assert_eq!(
        events,
        ["create", "pay", "fulfil", "fulfil", "fulfil", "complete"]
    );
    let admin_id = closed["history"][1]["actor"].as_str().expect("actor");
    assert!(admin_id.starts_with("cus_"));
    assert_eq!(
        closed["history"][0]["actor"],
        mine["data"][0]["customer_id"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_use_the_order_token_and_unpaid_orders_release_stock() {
    // The test clock jumps past the reservation TTL; staff tokens must outlive that.
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = common::test_config(dir.path());
    cfg.auth.access_token_ttl_secs = 86_400;
    let app = TestApp::spawn_with(cfg, None).await;
    let (_, v) = product(&app, "GU", 1, 5).await;
    let t = new_cart(&app).await;
    add_to_cart(&app, &t, &v[0], 2).await;
    let o = json_of(checkout(&app, &t, "g-1", &checkout_body("guest@example.com")).await).await;
    let (id, ot) = (
        o["id"].as_str().expect("id").to_owned(),
        o["order_token"].as_str().expect("token").to_owned(),
    );
    let view = |token: String| {
        let url = app.url(&format!("/api/v1/orders/{id}"));
        let c = app.client.clone();
        async move {
            c.get(url)
                .header("X-Order-Token", token)
                .send()
                .await
                .expect("get")
        }
    };
    let got = json_of(view(ot.clone()).await).await;
    assert_eq!(got["status"], "pending_payment");
    assert!(got.get("order_token").is_none(), "the token is shown once");
    problem(view("ot_wrong".into()).await, 404, "not_found").await;
    // The guest cancels: stock comes back, a mail says so.
    let r = app
        .client
        .post(app.url(&format!("/api/v1/orders/{id}/cancel")))
        .header("X-Order-Token", &ot)
        .json(&json!({"reason": "changed my mind"}))
        .send()
        .await
        .expect("cancel");
    let c = json_of(r).await;
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["history"][1]["reason"], "changed my mind");
    assert_eq!(stock(&app, &v[0]).await["available"], 5);
    wait_mail(&app, &format!("order {id} was cancelled")).await;

    // An order left unpaid expires after the reservation TTL (15 minutes) and frees its stock.
    let t2 = new_cart(&app).await;
    add_to_cart(&app, &t2, &v[0], 3).await;
    let o2 = json_of(checkout(&app, &t2, "g-2", &checkout_body("guest@example.com")).await).await;
    let id2 = o2["id"].as_str().expect("id").to_owned();
    assert_eq!(stock(&app, &v[0]).await["available"], 2);
    app.clock.advance(Duration::from_secs(14 * 60));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        json_of(app.admin_get(&format!("/api/v1/admin/orders/{id2}")).await).await["status"],
        "pending_payment"
    );
    app.clock.advance(Duration::from_secs(2 * 60));
    let expired = common::eventually(Duration::from_secs(10), || async {
        let o: Value = app
            .admin_get(&format!("/api/v1/admin/orders/{id2}"))
            .await
            .json()
            .await
            .ok()?;
        (o["status"] == "expired").then_some(o)
    })
    .await
    .expect("order expired");
    assert_eq!(expired["history"][1]["actor"], "system");
    assert_eq!(stock(&app, &v[0]).await["available"], 5);
    // Money that arrives for an expired order whose stock is still there revives it: the
    // stock is reserved again and sold, and the history says why.
    let revived = json_of(
        app.admin_post_json(&format!("/api/v1/admin/orders/{id2}/mark-paid"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(revived["status"], "paid");
    let last = &revived["history"][2];
    assert_eq!(
        (last["from"].as_str(), last["event"].as_str()),
        (Some("expired"), Some("revive"))
    );
    assert!(
        last["reason"]
            .as_str()
            .expect("reason")
            .contains("after the order was expired")
    );
    assert_eq!(stock(&app, &v[0]).await["available"], 2);
    // A paid order cannot be marked paid again.
    problem(
        app.admin_post_json(&format!("/api/v1/admin/orders/{id2}/mark-paid"), &json!({}))
            .await,
        409,
        "invalid_transition",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_filter_orders_by_status_customer_date_and_total() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "SF", 2, 100).await;
    let ada_token = app.customer_token("ada@example.com").await;
    let ada = bearer_client(&ada_token);
    let me = json_of(ada.get(app.url("/api/v1/me")).send().await.expect("me")).await;
    let ada_id = me["id"].as_str().expect("id").to_owned();
    let mut ids = Vec::new();
    // Three guest orders of 1, 2, 3 units (totals 1500, 2500, 3500), a minute apart.
    for q in 1..=3 {
        let t = new_cart(&app).await;
        add_to_cart(&app, &t, &v[0], q).await;
        let o =
            json_of(checkout(&app, &t, &format!("s{q}"), &checkout_body("g@example.com")).await)
                .await;
        ids.push(o["id"].as_str().expect("id").to_owned());
        app.clock.advance(Duration::from_secs(60));
    }
    // Ada's order (1100 + 500).
    ada.post(app.url("/api/v1/cart/items"))
        .json(&json!({"variant_id": v[1], "quantity": 1}))
        .send()
        .await
        .expect("add");
    let o = json_of(
        ada.post(app.url("/api/v1/checkout"))
            .header("Idempotency-Key", "ada")
            .json(&checkout_body("ada@example.com"))
            .send()
            .await
            .expect("checkout"),
    )
    .await;
    let ada_order = o["id"].as_str().expect("id").to_owned();
    json_of(
        app.admin_post_json(
            &format!("/api/v1/admin/orders/{}/mark-paid", ids[1]),
            &json!({}),
        )
        .await,
    )
    .await;

    let list = |q: String| {
        let app = &app;
        async move {
            let v = json_of(app.admin_get(&format!("/api/v1/admin/orders?{q}")).await).await;
            v["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|o| o["id"].as_str().expect("id").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(String::new()).await,
        vec![
            ada_order.clone(),
            ids[2].clone(),
            ids[1].clone(),
            ids[0].clone()
        ],
        "newest first"
    );
    assert_eq!(list("status=paid".into()).await, vec![ids[1].clone()]);
    assert_eq!(
        list(format!("customer={ada_id}")).await,
        vec![ada_order.clone()]
    );
    assert_eq!(
        list("min_total=2000&max_total=3000".into()).await,
        vec![ids[1].clone()]
    );
    // created_to is exclusive: from the second order up to the third.
    let second: Value = json_of(
        app.admin_get(&format!("/api/v1/admin/orders/{}", ids[1]))
            .await,
    )
    .await;
    let third: Value = json_of(
        app.admin_get(&format!("/api/v1/admin/orders/{}", ids[2]))
            .await,
    )
    .await;
    assert_eq!(
        list(format!(
            "created_from={}&created_to={}",
            second["created_at"].as_str().expect("t"),
            third["created_at"].as_str().expect("t")
        ))
        .await,
        vec![ids[1].clone()]
    );
    // Pages without gaps or duplicates.
    let p1 = json_of(app.admin_get("/api/v1/admin/orders?per_page=3").await).await;
    assert_eq!(p1["has_more"], true);
    let p2 = json_of(
        app.admin_get(&format!(
            "/api/v1/admin/orders?per_page=3&cursor={}",
            p1["next_cursor"].as_str().expect("cursor")
        ))
        .await,
    )
    .await;
    assert_eq!(p2["data"][0]["id"], ids[0].as_str());
    assert_eq!(p2["has_more"], false);
    // Bad filters are clear 4xx.
    problem(
        app.admin_get("/api/v1/admin/orders?status=lost").await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        app.admin_get("/api/v1/admin/orders?created_from=yesterday")
            .await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        app.admin_get("/api/v1/admin/orders?colour=red").await,
        400,
        "malformed_request",
    )
    .await;
    app.stop().await;
}
