//! The built-in experiments over real HTTP: a running `recommendation_strategy` experiment
//! picks the recommendation strategy per visitor, a running `reservation_strategy` experiment
//! the checkout's stock reservation; both record exposures and outcomes.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::shop::{add_to_cart, checkout, checkout_body, new_cart, product};
use crate::payments::{Placed, card, json_ok, pay};

/// A paid guest order of one unit of `variant`.
async fn paid(app: &TestApp, variant: &str, key: &str) {
    let cart = new_cart(app).await;
    assert_eq!(add_to_cart(app, &cart, variant, 1).await.status(), 201);
    let o = json_ok(checkout(app, &cart, key, &checkout_body("buyer@example.com")).await).await;
    let r = pay(app, &Placed::of(&o), "confirm", &card("4242424242424242")).await;
    assert_eq!(r.status(), 200);
}

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> Value {
    let r = client.get(app.url(path)).send().await.expect("GET");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_experiment_picks_the_strategy_per_visitor_and_records_exposures() {
    let app = TestApp::spawn().await;
    let (a, va) = product(&app, "A", 1, 100).await;
    paid(&app, &va[0], "a").await;
    crate::common::experiments::create(&app, json!({"key": "recommendation_strategy", "status": "running",
                    "variants": [{"key": "popular", "weight": 50}, {"key": "trending", "weight": 50}],
                    "metrics": {"primary": "add_to_cart"}})).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..12 {
        // A fresh visitor each time (a client without cookies), twice with its own cookie.
        let r = app
            .client
            .get(app.url("/api/v1/recommendations/for-me"))
            .send()
            .await
            .expect("GET");
        let cookie = r
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .expect("a visitor cookie")
            .to_owned();
        let first: Value = r.json().await.expect("json");
        let strategy = first["strategy"].as_str().expect("strategy").to_owned();
        assert_eq!(first["experiment"]["variant"], strategy.as_str());
        let again: Value = app
            .client
            .get(app.url("/api/v1/recommendations/for-me"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json");
        assert_eq!(again["strategy"], strategy.as_str(), "sticky");
        seen.insert(strategy);
    }
    assert_eq!(seen.len(), 2, "12 visitors reach both arms: {seen:?}");
    // A named strategy is not the experiment's.
    let named = get(
        &app.client,
        &app,
        &format!("/api/v1/products/{a}/recommendations?strategy=similar"),
    )
    .await;
    assert!(named["experiment"].is_null());
    let r = crate::common::experiments::results_with(&app, "recommendation_strategy", "", 12).await;
    assert!(r.is_some(), "each visitor exposed once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_experiment_picks_the_reservation_strategy_and_records_placed_orders() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "A", 1, 1000).await;
    crate::common::experiments::create(&app, json!({"key": "reservation_strategy", "status": "running",
                    "variants": [{"key": "pessimistic", "weight": 50}, {"key": "optimistic", "weight": 50}],
                    "metrics": {"primary": "custom:order_placed"}})).await;
    // Twelve API guests, each a new visitor: each checkout is exposed and converts once.
    for i in 0..12 {
        paid(&app, &v[0], &format!("guest-{i}")).await;
    }
    // A shopper on the pages, known by the visitor cookie the storefront's API calls set.
    let browser = crate::common::pages::browser();
    let a: Value = browser
        .get(app.url("/api/v1/experiments/reservation_strategy/assignment"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert!(a["variant"].is_string(), "{a}");
    let order_page = crate::common::pages::buy(&browser, &app, "/products/product-a", &v[0]).await;
    assert!(order_page.starts_with("/orders/"), "{order_page}");
    // An exposure and its conversion may reach the results in different event batches: wait
    // for both, then check what was read (a lost conversion fails below, naming the arm).
    use crate::common::experiments::{results, results_when, subjects};
    let arms = |r: &Value| {
        r["metrics"][0]["variants"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let converted = |r: &Value| {
        subjects(r) == 13
            && arms(r)
                .iter()
                .all(|a| a["total"].as_f64() == a["subjects"].as_f64())
    };
    let r = match results_when(&app, "reservation_strategy", "", converted).await {
        Some(r) => r,
        None => results(&app, "reservation_strategy", "")
            .await
            .expect("results"),
    };
    assert_eq!(subjects(&r), 13, "thirteen checkouts exposed: {r}");
    let variants = arms(&r);
    for arm in &variants {
        assert_eq!(
            arm["total"],
            arm["subjects"].as_f64().expect("n"),
            "every checkout placed: {arm}"
        );
    }
    assert!(
        variants.iter().all(|a| a["subjects"].as_u64() > Some(0)),
        "both strategies ran: {variants:?}"
    );
    app.stop().await;
}
