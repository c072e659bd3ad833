//! Visitors in experiments: a guest's paid order counts for the arm its visitor id (the
//! `shopd_vid` cookie) was exposed to, and at sign-in the visitor's history becomes the
//! account's, so the customer keeps the visitor's arm and their orders count there.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::shop::{add_to_cart, checkout_body, customer_buys, new_cart, product};
use crate::common::{TestApp, bearer_client, eventually};
use crate::payments::{Placed, card, json_ok, pay};

const EXP: &str = "visitors";

async fn arm(c: &reqwest::Client, app: &TestApp, cookie: Option<&str>) -> String {
    let mut r = c.get(app.url(&format!("/api/v1/experiments/{EXP}/assignment")));
    if let Some(v) = cookie {
        r = r.header("cookie", format!("shopd_vid={v}"));
    }
    let a: Value = r.send().await.expect("GET").json().await.expect("json");
    a["variant"].as_str().expect("an arm").to_owned()
}

async fn expose(app: &TestApp, visitor: &str) {
    let r = app
        .client
        .post(app.url("/api/v1/experiments/events"))
        .header("cookie", format!("shopd_vid={visitor}"))
        .json(&json!({"type": "exposure", "experiment": EXP}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 202);
}

/// Per arm: (variant, subjects, orders paid) of the primary metric `order_paid`.
async fn results(app: &TestApp) -> Vec<(String, u64, f64)> {
    let r = crate::common::experiments::results(app, EXP, "")
        .await
        .expect("results");
    r["metrics"][0]["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| {
            (
                v["variant"].as_str().unwrap_or_default().to_owned(),
                v["subjects"].as_u64().unwrap_or(0),
                v["total"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_orders_count_for_the_visitor_and_sign_in_joins_the_history() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "A", 1, 100).await;
    crate::common::experiments::create(
        &app,
        json!({"key": EXP, "status": "running", "metrics": {"primary": "order_paid"}}),
    )
    .await;

    // A guest: exposed as a visitor, checks out with the cookie, pays.
    let guest = "guestvisitor00000001";
    let guest_arm = arm(&app.client, &app, Some(guest)).await;
    expose(&app, guest).await;
    let cart = new_cart(&app).await;
    assert_eq!(add_to_cart(&app, &cart, &v[0], 1).await.status(), 201);
    let o = json_ok(
        app.client
            .post(app.url("/api/v1/checkout"))
            .header("X-Cart-Token", &cart)
            .header("Idempotency-Key", "guest-order")
            .header("cookie", format!("shopd_vid={guest}"))
            .json(&checkout_body("guest@example.com"))
            .send()
            .await
            .expect("checkout"),
    )
    .await;
    let r = pay(&app, &Placed::of(&o), "confirm", &card("4242424242424242")).await;
    assert_eq!(r.status(), 200);
    let counted = eventually(Duration::from_secs(10), || async {
        let rs = results(&app).await;
        rs.iter()
            .any(|(a, n, paid)| *a == guest_arm && *n == 1 && *paid == 1.0)
            .then_some(rs)
    })
    .await;
    assert!(
        counted.is_some(),
        "the guest's paid order counts in its arm: {:?}",
        results(&app).await
    );

    // A customer, and a visitor id whose arm differs from the account's own.
    let token = app.customer_token("joiner@example.com").await;
    let me = bearer_client(&token);
    let own = arm(&me, &app, None).await;
    let mut visitor = None;
    for i in 0..64 {
        let candidate = format!("joinvisitor{i:09}");
        if arm(&app.client, &app, Some(&candidate)).await != own {
            visitor = Some(candidate);
            break;
        }
    }
    let visitor = visitor.expect("a visitor id with the other arm");
    let visitor_arm = arm(&app.client, &app, Some(&visitor)).await;
    expose(&app, &visitor).await;
    // Signing in with the visitor cookie joins its history to the account.
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("cookie", format!("shopd_vid={visitor}"))
        .json(&json!({"email": "joiner@example.com", "password": "Tr0ub4dor&3-horse"}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200);
    let kept = eventually(Duration::from_secs(10), || async {
        let a = arm(&me, &app, None).await;
        (a == visitor_arm).then_some(a)
    })
    .await;
    assert_eq!(
        kept.as_deref(),
        Some(visitor_arm.as_str()),
        "the customer keeps the visitor's arm"
    );
    customer_buys(&app, &me, &[(&v[0], 1)], "joiner-order").await;
    let joined = eventually(Duration::from_secs(10), || async {
        let rs = results(&app).await;
        let subjects: u64 = rs.iter().map(|r| r.1).sum();
        let paid: f64 = rs.iter().map(|r| r.2).sum();
        (subjects == 2 && paid == 2.0).then_some(rs)
    })
    .await
    .expect("two subjects (the joined visitor is one), two paid orders");
    let in_arm = joined
        .iter()
        .find(|r| r.0 == visitor_arm)
        .expect("the visitor's arm");
    assert!(
        in_arm.2 >= 1.0,
        "the customer's order counts in the visitor's arm: {joined:?}"
    );
    app.stop().await;
}
