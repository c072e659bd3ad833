//! Pricing over HTTP: staff set up tax zones, shipping zones and promotions; carts take codes
//! (one refusal reason each, the same the explanation names); checkout charges what the quote
//! says and stores it on the order; usage limits hold exactly when checkouts race.

use crate::common;

use common::shop::{add_to_cart, checkout, checkout_body, new_cart, product, usd};
use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn created(r: reqwest::Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body
}

async fn promotion(app: &TestApp, body: Value) -> Value {
    created(app.admin_post_json("/api/v1/admin/promotions", &body).await).await
}

async fn add_code(app: &TestApp, cart: &str, code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/cart/discounts"))
        .header("X-Cart-Token", cart)
        .json(&json!({"code": code}))
        .send()
        .await
        .expect("add code")
}

async fn cart(app: &TestApp, token: &str) -> Value {
    app.client
        .get(app.url("/api/v1/cart"))
        .header("X-Cart-Token", token)
        .send()
        .await
        .expect("cart")
        .json()
        .await
        .expect("json")
}

/// A cart holding `units` of `variant`, with `code` applied when given.
async fn cart_with(app: &TestApp, variant: &str, units: i64, code: Option<&str>) -> String {
    let t = new_cart(app).await;
    assert_eq!(add_to_cart(app, &t, variant, units).await.status(), 201);
    if let Some(c) = code {
        let r = add_code(app, &t, c).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_apply_case_insensitively_and_each_refusal_has_one_reason() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "PC", 1, 100).await; // 10.00 each
    let p = promotion(
        &app,
        json!({"name": "Ten percent", "code": "save10",
               "effect": {"type": "percentage", "percent": "10"}}),
    )
    .await;
    assert_eq!(
        (p["code"].as_str(), p["automatic"].as_bool()),
        (Some("SAVE10"), Some(false))
    );
    promotion(
        &app,
        json!({"name": "Big spenders", "code": "BIG",
               "effect": {"type": "fixed", "amount": usd(2000)},
               "conditions": {"min_subtotal": usd(100_000)}}),
    )
    .await;
    promotion(
        &app,
        json!({"name": "Old sale", "code": "OLD", "effect": {"type": "free_shipping"},
               "ends_at": "2026-01-01T00:00:00Z"}),
    )
    .await;
    promotion(
        &app,
        json!({"name": "Next year", "code": "SOON", "effect": {"type": "free_shipping"},
               "starts_at": "2027-06-01T00:00:00Z"}),
    )
    .await;
    promotion(
        &app,
        json!({"name": "Members", "code": "MEMBERS", "effect": {"type": "free_shipping"},
               "conditions": {"signed_in_only": true}}),
    )
    .await;
    promotion(
        &app,
        json!({"name": "Exclusive", "code": "SOLO", "combinable": false,
               "effect": {"type": "percentage", "percent": 5}}),
    )
    .await;
    // The code's own name conflicts are refused at creation.
    problem(
        app.admin_post_json(
            "/api/v1/admin/promotions",
            &json!({"name": "Dup", "code": "Save10", "effect": {"type": "free_shipping"}}),
        )
        .await,
        409,
        "code_taken",
    )
    .await;

    let t = cart_with(&app, &v[0], 3, None).await;
    let r = add_code(&app, &t, "  save10 ").await;
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.expect("json");
    assert_eq!(c["codes"], json!(["SAVE10"]));
    assert_eq!(c["totals"]["subtotal"], usd(3000));
    assert_eq!(c["totals"]["discount"], usd(300));
    assert_eq!(c["totals"]["total"], usd(2700));
    assert_eq!(c["discounts"][0]["code"], "SAVE10");
    let applied: Vec<&Value> = c["explanation"]
        .as_array()
        .expect("explanation")
        .iter()
        .filter(|e| e["applied"] == true)
        .collect();
    assert!(applied.iter().any(
        |e| e["rule"].as_str().expect("r").starts_with("code SAVE10") && e["amount"] == usd(300)
    ));

    for (code, reason) in [
        ("NOPE", "unknown"),
        ("BIG", "minimum_not_met"),
        ("OLD", "expired"),
        ("SOON", "not_started"),
        ("MEMBERS", "not_applicable"),
        ("SOLO", "not_combinable"),
        ("bad code!", "unknown"),
    ] {
        let p = problem(add_code(&app, &t, code).await, 422, reason).await;
        assert!(
            p["detail"].as_str().expect("detail").contains(reason),
            "{p}"
        );
    }
    // Refused codes were not kept; removing one that is there works once.
    assert_eq!(cart(&app, &t).await["codes"], json!(["SAVE10"]));
    let del = |code: &str| {
        app.client
            .delete(app.url(&format!("/api/v1/cart/discounts/{code}")))
            .header("X-Cart-Token", &t)
            .send()
    };
    let c: Value = del("save10")
        .await
        .expect("del")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (c["codes"].clone(), c["totals"]["total"].clone()),
        (json!([]), usd(3000))
    );
    problem(del("SAVE10").await.expect("del"), 404, "not_found").await;

    // A code that stops applying while on a cart: the cart's explanation names the same
    // reason a 422 gives for it.
    assert_eq!(add_code(&app, &t, "SAVE10").await.status(), 200);
    let id = p["id"].as_str().expect("id");
    let r = app
        .admin_send(
            Method::PUT,
            &format!("/api/v1/admin/promotions/{id}"),
            &json!({"name": "Ten percent", "code": "SAVE10", "ends_at": "2026-02-01T00:00:00Z",
                    "effect": {"type": "percentage", "percent": "10"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let c = cart(&app, &t).await;
    let e = c["explanation"]
        .as_array()
        .expect("explanation")
        .iter()
        .find(|e| e["rule"].as_str().expect("r").starts_with("code SAVE10"))
        .cloned()
        .expect("listed");
    assert_eq!(
        (e["applied"].clone(), e["reason"].clone()),
        (json!(false), json!("expired"))
    );
    assert_eq!(c["totals"]["discount"], usd(0));
    let t2 = cart_with(&app, &v[0], 1, None).await;
    problem(add_code(&app, &t2, "save10").await, 422, "expired").await;
    // Checking out the cart that still holds it: 409, the code taken off, the cart re-priced.
    let p = problem(
        checkout(&app, &t, "expired", &checkout_body("ada@example.com")).await,
        409,
        "promotion_unavailable",
    )
    .await;
    assert_eq!(p["errors"][0]["code"], "expired");
    assert_eq!(cart(&app, &t).await["codes"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_codes_are_unique_single_use_and_export_as_csv() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "GC", 1, 100).await;
    let p = promotion(
        &app,
        json!({"name": "Newsletter", "effect": {"type": "fixed", "amount": usd(500), "per": "order"}}),
    )
    .await;
    let id = p["id"].as_str().expect("id");
    assert_eq!(p["automatic"], true);
    let made = created(
        app.admin_post_json(
            &format!("/api/v1/admin/promotions/{id}/codes"),
            &json!({"count": 250, "prefix": "news"}),
        )
        .await,
    )
    .await;
    let codes: Vec<String> = made["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("c").to_owned())
        .collect();
    assert_eq!(codes.len(), 250);
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 250);
    assert!(
        codes
            .iter()
            .all(|c| c.starts_with("NEWS-") && c.len() == 15)
    );
    // With codes it is no longer automatic.
    let p: Value = app
        .admin_get(&format!("/api/v1/admin/promotions/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (p["automatic"].as_bool(), p["generated_codes"].as_u64()),
        (Some(false), Some(250))
    );
    // Paged list and the CSV.
    let page: Value = app
        .admin_get(&format!("/api/v1/admin/promotions/{id}/codes?per_page=100"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["data"].as_array().expect("d").len(), 100);
    assert_eq!(page["has_more"], true);
    let next = page["next_cursor"].as_str().expect("cursor");
    let page2: Value = app
        .admin_get(&format!(
            "/api/v1/admin/promotions/{id}/codes?per_page=100&cursor={next}"
        ))
        .await
        .json()
        .await
        .expect("json");
    assert!(page2["data"][0]["code"].as_str() > page["data"][99]["code"].as_str());
    let csv = app
        .admin_get(&format!("/api/v1/admin/promotions/{id}/codes.csv"))
        .await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.expect("csv");
    assert_eq!(text.lines().count(), 251);
    assert!(text.starts_with("code,single_use,used\n"));

    // One use each: the first order uses it, a second cart is refused.
    let t = cart_with(&app, &v[0], 1, Some(&codes[0].to_lowercase())).await;
    let r = checkout(&app, &t, "gc-1", &checkout_body("ada@example.com")).await;
    let order: Value = r.json().await.expect("json");
    assert_eq!(order["totals"]["discount"], usd(500), "{order}");
    let t2 = cart_with(&app, &v[0], 1, None).await;
    problem(
        add_code(&app, &t2, &codes[0]).await,
        422,
        "usage_limit_reached",
    )
    .await;
    assert_eq!(add_code(&app, &t2, &codes[1]).await.status(), 200);
    let text = app
        .admin_get(&format!("/api/v1/admin/promotions/{id}/codes.csv"))
        .await
        .text()
        .await
        .expect("csv");
    assert!(text.contains(&format!("{},true,1\n", codes[0])));
    let p: Value = app
        .admin_get(&format!("/api/v1/admin/promotions/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["times_used"], 1);
    // Deleting the promotion takes its codes with it.
    let r = app
        .admin_send(
            Method::DELETE,
            &format!("/api/v1/admin/promotions/{id}"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let t3 = cart_with(&app, &v[0], 1, None).await;
    problem(add_code(&app, &t3, &codes[2]).await, 422, "unknown").await;
    // The events record the promotion's life.
    let ev: Value = app
        .admin_get("/api/v1/admin/events?type=promotion.created")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(ev["data"][0]["data"]["id"], json!(id));
    app.stop().await;
}

/// US sales tax by state, prices before tax: New York taxes shipping, California does not.
/// 2 × 10.00 and shipping 5.00 (the zone's `standard`); NY 8.875 %: 20.00 → 1.78 (1.775
/// rounds up), shipping 0.44; CA 7.25 %: 1.45, shipping untaxed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_charges_the_states_tax_and_the_zones_shipping_and_keeps_the_quote() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "TX", 1, 100).await;
    for (name, region, rate, shipping_tax) in [
        ("New York", "NY", "8.875", "standard"),
        ("California", "CA", "7.25", "none"),
    ] {
        created(
            app.admin_post_json(
                "/api/v1/admin/tax-zones",
                &json!({"name": name, "areas": [{"country": "US", "regions": [region]}],
                        "rates": [{"category": "standard", "rate": rate}], "shipping_tax": shipping_tax}),
            )
            .await,
        )
        .await;
    }
    created(
        app.admin_post_json(
            "/api/v1/admin/shipping-zones",
            &json!({"name": "United States", "areas": [{"country": "US"}], "methods": [
                {"code": "standard", "name": "Ground", "rate": {"type": "flat", "price": usd(500)}},
                {"code": "express", "name": "Express", "rate": {"type": "weight", "brackets": [
                    {"up_to_grams": 1000, "price": usd(1500)}]}},
                {"code": "pickup", "name": "Pick up in store", "pickup": true,
                 "rate": {"type": "flat", "price": usd(0)}}]}),
        )
        .await,
    )
    .await;
    let zones: Value = app
        .admin_get("/api/v1/admin/shipping-zones")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        zones["data"].as_array().expect("d").len(),
        2,
        "the default zone and the US"
    );

    let t = cart_with(&app, &v[0], 2, None).await;
    let offers: Value = app
        .client
        .get(app.url("/api/v1/cart/shipping-methods?country=US&region=NY&postal_code=10001"))
        .header("X-Cart-Token", &t)
        .send()
        .await
        .expect("offers")
        .json()
        .await
        .expect("json");
    let codes: Vec<&str> = offers
        .as_array()
        .expect("offers")
        .iter()
        .map(|o| o["code"].as_str().expect("c"))
        .collect();
    assert_eq!(
        codes,
        vec!["pickup", "standard", "express"],
        "cheapest first: {offers}"
    );
    // Elsewhere the default zone's flat rate applies.
    let gb: Value = app
        .client
        .get(app.url("/api/v1/cart/shipping-methods?country=GB"))
        .header("X-Cart-Token", &t)
        .send()
        .await
        .expect("offers")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (gb[0]["code"].as_str(), gb[0]["price"].clone()),
        (Some("standard"), usd(500))
    );

    let body = |region: &str| {
        json!({"email": "ada@example.com", "shipping_address": {"name": "Ada <b>L</b>", "line1": "1 Main St",
               "city": "Town", "region": region, "postal_code": "10001", "country": "US"}})
    };
    let ny: Value = checkout(&app, &t, "ny", &body("NY"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(ny["totals"]["subtotal"], usd(2000), "{ny}");
    assert_eq!(ny["totals"]["shipping"], usd(500));
    assert_eq!(ny["totals"]["tax"], usd(178 + 44));
    assert_eq!(ny["totals"]["total"], usd(2000 + 500 + 222));
    assert_eq!(ny["totals"]["amount_due"], usd(2722));
    assert_eq!(ny["tax_inclusive"], false);
    assert_eq!(ny["lines"][0]["tax"], usd(178));
    assert_eq!(ny["shipping_method"], "standard");
    // The payment asks for what the quote says, and the test card pays it in full.
    let pays: Value = app
        .admin_get(&format!(
            "/api/v1/admin/orders/{}/payments",
            ny["id"].as_str().expect("id")
        ))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(pays[0]["amount"], usd(2722), "{pays}");
    let paid = app
        .client
        .post(app.url(&format!("/api/v1/payments/{}/confirm", ny["payment"]["id"].as_str().expect("id"))))
        .header("X-Order-Token", ny["order_token"].as_str().expect("token"))
        .json(&json!({"card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}))
        .send()
        .await
        .expect("confirm");
    assert_eq!(
        paid.status(),
        200,
        "{}",
        paid.text().await.unwrap_or_default()
    );
    let order: Value = app
        .admin_get(&format!(
            "/api/v1/admin/orders/{}",
            ny["id"].as_str().expect("id")
        ))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (order["status"].as_str(), order["totals"]["paid"].clone()),
        (Some("paid"), usd(2722))
    );
    assert_eq!(order["invoice_number"], "INV-000001");
    let names: Vec<&str> = order["tax_lines"]
        .as_array()
        .expect("tax lines")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        vec!["New York shipping 8.875%", "New York standard 8.875%"]
    );
    assert_eq!(order["tax_lines"][1]["amount"], usd(178));
    // The printable invoice: the guest's token opens it; the tax lines are on it.
    let inv = app
        .client
        .get(app.url(&format!(
            "/api/v1/orders/{}/invoice",
            ny["id"].as_str().expect("id")
        )))
        .header("X-Order-Token", ny["order_token"].as_str().expect("token"))
        .send()
        .await
        .expect("invoice");
    assert_eq!(inv.status(), 200);
    assert_eq!(inv.headers()["content-type"], "text/html; charset=utf-8");
    let html = inv.text().await.expect("html");
    for needle in [
        "Invoice INV-000001",
        "New York standard 8.875%",
        "1.78 USD",
        "27.22 USD",
        "Product TX",
        "Ada &lt;b&gt;L&lt;&#x2f;b&gt;",
    ] {
        assert!(html.contains(needle), "{needle} in\n{html}");
    }
    // Without the token (and not signed in): 401.
    let r = app
        .get(&format!(
            "/api/v1/orders/{}/invoice",
            ny["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(r.status(), 401);

    let t = cart_with(&app, &v[0], 2, None).await;
    let mut b = body("CA");
    b["shipping_method"] = json!("express");
    let ca: Value = checkout(&app, &t, "ca", &b)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(ca["totals"]["shipping"], usd(1500), "{ca}");
    assert_eq!(ca["totals"]["tax"], usd(145));
    assert_eq!(ca["totals"]["total"], usd(2000 + 1500 + 145));
    // Not paid yet: no invoice number, no invoice.
    assert_eq!(ca["invoice_number"], Value::Null);
    let r = app
        .admin_get(&format!(
            "/api/v1/admin/orders/{}/invoice",
            ca["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(r.status(), 404);
    // A method the zone does not offer is refused, naming the ones it does.
    let t = cart_with(&app, &v[0], 2, None).await;
    let mut b = body("CA");
    b["shipping_method"] = json!("drone");
    let p = problem(
        checkout(&app, &t, "drone", &b).await,
        422,
        "validation_failed",
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .expect("d")
            .contains("pickup, standard, express"),
        "{p}"
    );
    // A rule change applies to new quotes only: the NY order keeps its tax.
    let zones: Value = app
        .admin_get("/api/v1/admin/tax-zones")
        .await
        .json()
        .await
        .expect("json");
    let ny_zone = zones["data"][0]["id"].as_str().expect("id");
    let r = app
        .admin_send(
            Method::PUT,
            &format!("/api/v1/admin/tax-zones/{ny_zone}"),
            &json!({"name": "New York", "areas": [{"country": "US", "regions": ["NY"]}],
                    "rates": [{"category": "standard", "rate": "10"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let order: Value = app
        .admin_get(&format!(
            "/api/v1/admin/orders/{}",
            ny["id"].as_str().expect("id")
        ))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(order["totals"]["tax"], usd(222));
    app.stop().await;
}

/// Inclusive prices (EU): the price shown is what is paid; VAT is contained in it.
/// 2 × 10.00 at 19 % → 20.00 contains 3.19 (20.00 × 19/119 = 3.193); shipping 5.00 at the
/// standard rate contains 0.80 (0.798).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inclusive_prices_contain_their_tax() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "EU", 1, 100).await;
    let de = created(
        app.admin_post_json(
            "/api/v1/admin/tax-zones",
            &json!({"name": "Germany", "areas": [{"country": "DE"}],
                    "rates": [{"category": "standard", "rate": 19}, {"category": "reduced", "rate": 7}]}),
        )
        .await,
    )
    .await;
    let r = app
        .admin_send(
            Method::PUT,
            "/api/v1/admin/tax-settings",
            &json!({"prices_include_tax": true, "home_zone_id": de["id"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let t = cart_with(&app, &v[0], 2, None).await;
    // Before an address is known, the cart estimates with the home zone.
    let c = cart(&app, &t).await;
    assert_eq!(
        (c["totals"]["total"].clone(), c["totals"]["tax"].clone()),
        (usd(2000), usd(319))
    );
    assert_eq!(c["tax_inclusive"], true);
    // A book in the reduced category: 10.70 contains 0.70 at 7 %.
    let book = created(
        app.admin_post_json(
            "/api/v1/admin/products",
            &json!({"title": "Book", "status": "active", "tax_category": "reduced",
                    "variants": [{"price": usd(1070)}]}),
        )
        .await,
    )
    .await;
    assert_eq!(book["tax_category"], "reduced");
    let bv = book["variants"][0]["id"].as_str().expect("v").to_owned();
    common::shop::set_stock(&app, &bv, 10).await;
    assert_eq!(add_to_cart(&app, &t, &bv, 1).await.status(), 201);
    let mut body = checkout_body("ada@example.com");
    body["shipping_address"]["country"] = json!("DE");
    let o: Value = checkout(&app, &t, "de", &body)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(o["totals"]["total"], usd(2000 + 1070 + 500), "{o}");
    assert_eq!(o["lines"][1]["tax"], usd(70), "{o}");
    // Shipping at the standard rate: 500 × 19/119 = 79.8 → 80.
    assert_eq!(o["totals"]["tax"], usd(319 + 70 + 80));
    assert_eq!(o["tax_inclusive"], true);
    app.stop().await;
}

/// A code with 100 uses and 1,000 checkouts racing for it: exactly 100 orders carry it; every
/// other checkout is told the code ran out (409, the cart re-priced without it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_with_100_uses_is_carried_by_exactly_100_of_1000_racing_orders() {
    let mut cfg = common::test_config(tempfile::tempdir().expect("tmp").keep().as_path());
    cfg.server.workers = 4;
    let app = TestApp::spawn_with(cfg, None).await;
    let (_, v) = product(&app, "RACE", 1, 5000).await;
    let p = promotion(
        &app,
        json!({"name": "First hundred", "code": "HUNDRED", "usage_limit": 100,
               "effect": {"type": "fixed", "amount": usd(100)}}),
    )
    .await;
    let carts: Vec<String> = futures_util::future::join_all(
        (0..1000).map(|_| cart_with(&app, &v[0], 1, Some("hundred"))),
    )
    .await;
    let shop = &app;
    let results = futures_util::future::join_all(carts.iter().enumerate().map(|(i, t)| {
        let body = checkout_body(&format!("buyer{i}@example.com"));
        async move {
            let r = checkout(shop, t, &format!("race-{i}"), &body).await;
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("json"))
        }
    }))
    .await;
    let mut with_code = 0;
    let mut refused = 0;
    for (status, body) in &results {
        match status {
            201 => {
                assert_eq!(body["totals"]["discount"], usd(100), "{body}");
                with_code += 1;
            }
            409 => {
                assert_eq!(body["code"], "promotion_unavailable", "{body}");
                assert_eq!(body["errors"][0]["code"], "usage_limit_reached");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((with_code, refused), (100, 900));
    let p: Value = app
        .admin_get(&format!(
            "/api/v1/admin/promotions/{}",
            p["id"].as_str().expect("id")
        ))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["times_used"], 100);
    // A refused cart lost the code and now checks out at full price.
    let (i, _) = results
        .iter()
        .enumerate()
        .find(|(_, (s, _))| *s == 409)
        .expect("a refusal");
    let c = cart(&app, &carts[i]).await;
    assert_eq!(
        (c["codes"].clone(), c["totals"]["total"].clone()),
        (json!([]), usd(1000))
    );
    let o: Value = checkout(
        &app,
        &carts[i],
        "retry",
        &checkout_body(&format!("buyer{i}@example.com")),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(o["totals"]["discount"], usd(0), "{o}");
    app.stop().await;
}

/// One customer (by email) with a per-customer limit of 1 and 50 concurrent checkouts of
/// carts holding the code: exactly one order carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_customer_limit_of_one_holds_under_50_concurrent_checkouts() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "ONCE", 1, 500).await;
    promotion(
        &app,
        json!({"name": "Welcome", "code": "WELCOME", "per_customer_limit": 1,
               "effect": {"type": "percentage", "percent": 20}}),
    )
    .await;
    let carts: Vec<String> =
        futures_util::future::join_all((0..50).map(|_| cart_with(&app, &v[0], 1, Some("WELCOME"))))
            .await;
    let body = checkout_body("same@example.com");
    let shop = &app;
    let statuses: Vec<u16> =
        futures_util::future::join_all(carts.iter().enumerate().map(|(i, t)| {
            let body = body.clone();
            async move {
                checkout(shop, t, &format!("once-{i}"), &body)
                    .await
                    .status()
                    .as_u16()
            }
        }))
        .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 49);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_rules_are_validated_and_need_the_pricing_scope() {
    let app = TestApp::spawn().await;
    let p = problem(
        app.admin_post_json(
            "/api/v1/admin/promotions",
            &json!({"name": "", "effect": {"type": "tiered", "tiers": [
                {"min_subtotal": usd(5000), "percent": 10}, {"min_subtotal": usd(1000), "amount": usd(100)}]},
                "usage_limit": 0, "starts_at": "2027-01-02T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("e")
        .iter()
        .map(|e| e["field"].as_str().expect("f"))
        .collect();
    for f in ["name", "usage_limit", "ends_at", "effect.tiers"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    problem(
        app.admin_post_json(
            "/api/v1/admin/tax-zones",
            &json!({"name": "X", "areas": [{"country": "Germany"}], "rates": [{"category": "luxury", "rate": "19.5"}]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    // Floats are not money or rates on the wire.
    problem(
        app.admin_post_json(
            "/api/v1/admin/tax-zones",
            &json!({"name": "X", "rates": [{"category": "standard", "rate": 19.5}]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    // A merchant category becomes usable in rates.
    created(
        app.admin_post_json(
            "/api/v1/admin/tax-categories",
            &json!({"key": "luxury", "name": "Luxury"}),
        )
        .await,
    )
    .await;
    created(
        app.admin_post_json(
            "/api/v1/admin/tax-zones",
            &json!({"name": "X", "areas": [{"country": "DE"}], "rates": [{"category": "luxury", "rate": "19.5"}]}),
        )
        .await,
    )
    .await;
    let cats: Value = app
        .admin_get("/api/v1/admin/tax-categories")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(cats["data"].as_array().expect("d").len(), 5);
    // A customer may not touch pricing.
    let token = app.customer_token("eve@example.com").await;
    let r = common::bearer_client(&token)
        .get(app.url("/api/v1/admin/promotions"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);
    app.stop().await;
}

/// A business customer with a tax id buys without tax; others in the same zone pay it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tax_exempt_customers_pay_no_tax() {
    let app = TestApp::spawn().await;
    let (_, v) = product(&app, "B2B", 1, 100).await;
    created(
        app.admin_post_json(
            "/api/v1/admin/tax-zones",
            &json!({"name": "UK", "areas": [{"country": "GB"}], "rates": [{"category": "standard", "rate": 20}]}),
        )
        .await,
    )
    .await;
    let token = app.customer_token("buyer@business.example").await;
    let me: Value = common::bearer_client(&token)
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    let id = me["id"].as_str().expect("id").to_owned();
    let buy = |key: &'static str| {
        let token = token.clone();
        let app = &app;
        let v = v[0].clone();
        async move {
            let c = common::bearer_client(&token);
            let r = c
                .post(app.url("/api/v1/cart/items"))
                .json(&json!({"variant_id": v, "quantity": 1}))
                .send()
                .await
                .expect("add");
            assert_eq!(r.status(), 201);
            let r = c
                .post(app.url("/api/v1/checkout"))
                .header("Idempotency-Key", key)
                .json(&checkout_body("buyer@business.example"))
                .send()
                .await
                .expect("checkout");
            r.json::<Value>().await.expect("json")
        }
    };
    let taxed = buy("before").await;
    assert_eq!(taxed["totals"]["tax"], usd(300), "{taxed}");
    let path = format!("/api/v1/admin/customers/{id}/tax-exemption");
    problem(app.admin_get(&path).await, 404, "not_found").await;
    let r = app
        .admin_send(Method::PUT, &path, &json!({"tax_id": "GB123456789"}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(
        app.admin_get(&path)
            .await
            .json::<Value>()
            .await
            .expect("json")["tax_id"],
        "GB123456789"
    );
    let exempt = buy("after").await;
    assert_eq!(
        (
            exempt["totals"]["tax"].clone(),
            exempt["totals"]["total"].clone()
        ),
        (usd(0), usd(1500)),
        "{exempt}"
    );
    let unknown = app
        .admin_send(
            Method::PUT,
            "/api/v1/admin/customers/cus_01JZZZZZZZZZZZZZZZZZZZZZZZ/tax-exemption",
            &json!({"tax_id": "X"}),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        app.admin_send(Method::DELETE, &path, &json!({}))
            .await
            .status(),
        204
    );
    app.stop().await;
}

/// `shopd serve --demo` sets up the whole pricing story: US and EU tax zones, three shipping
/// methods, two automatic promotions, a code and a gift card whose code the log names.
#[test]
fn serve_demo_sets_up_tax_shipping_promotions_a_code_and_a_gift_card() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::create_admin(dir.path());
    let mut cmd = common::backend::shopd(dir.path());
    cmd.args([
        "serve",
        "--demo",
        "--bind",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--data-dir",
    ])
    .arg(dir.path())
    .env("SHOPD_SERVER_WORKERS", "2")
    .env_remove("RUST_LOG")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    let mut p = common::Proc::start(cmd);
    p.admin_token = common::login_blocking(&p.base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let admin = common::bearer_client(&p.admin_token);
        let get = |path: &str| {
            let url = p.url(path);
            let admin = admin.clone();
            async move {
                admin
                    .get(url)
                    .send()
                    .await
                    .expect("get")
                    .json::<Value>()
                    .await
                    .expect("json")
            }
        };
        assert_eq!(
            get("/api/v1/admin/tax-zones").await["data"]
                .as_array()
                .map(Vec::len),
            Some(6)
        );
        assert_eq!(
            get("/api/v1/admin/shipping-zones").await["data"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        let promos = get("/api/v1/admin/promotions").await;
        assert_eq!(promos["data"].as_array().map(Vec::len), Some(3));
        assert!(promos.to_string().contains("WELCOME10"));
        let log = p.log_text();
        let line = log
            .lines()
            .find(|l| l.contains("demo pricing created"))
            .expect("demo line");
        let v: Value = serde_json::from_str(line).expect("json log");
        let code = v["gift_card"].as_str().expect("gift card code").to_owned();
        // A demo product to a New York address: three methods, the code and the card apply.
        let products = get("/api/v1/products?per_page=1").await;
        let variant = products["data"][0]["variants"][0]["id"]
            .as_str()
            .expect("variant")
            .to_owned();
        let c = reqwest::Client::new();
        let cart: Value = c
            .post(p.url("/api/v1/cart"))
            .send()
            .await
            .expect("cart")
            .json()
            .await
            .expect("json");
        let t = cart["cart_token"].as_str().expect("token").to_owned();
        let r = c
            .post(p.url("/api/v1/cart/items"))
            .header("X-Cart-Token", &t)
            .json(&json!({"variant_id": variant, "quantity": 1}))
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 201);
        let offers: Value = c
            .get(p.url("/api/v1/cart/shipping-methods?country=US&region=NY"))
            .header("X-Cart-Token", &t)
            .send()
            .await
            .expect("offers")
            .json()
            .await
            .expect("json");
        let mut codes: Vec<&str> = offers
            .as_array()
            .expect("offers")
            .iter()
            .map(|o| o["code"].as_str().expect("c"))
            .collect();
        codes.sort_unstable();
        assert_eq!(codes, vec!["express", "pickup", "standard"]);
        for (path, body) in [
            ("/api/v1/cart/discounts", json!({"code": "welcome10"})),
            ("/api/v1/cart/gift-cards", json!({"code": code})),
        ] {
            let r = c
                .post(p.url(path))
                .header("X-Cart-Token", &t)
                .json(&body)
                .send()
                .await
                .expect("post");
            assert_eq!(
                r.status(),
                200,
                "{path}: {}",
                r.text().await.unwrap_or_default()
            );
        }
    });
    p.terminate();
}
