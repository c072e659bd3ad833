//! The other recommendation strategies over real HTTP: `popular` counts a 30-day window,
//! `trending` prefers what sells now, `similar` follows content, `buy_again` and `for_you`
//! follow the customer's own history (worked out by hand below).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::shop::{add_to_cart, checkout, checkout_body, customer_buys, new_cart, product};
use crate::common::{TestApp, bearer_client, eventually};
use crate::payments::{Placed, card, json_ok, pay};

const DAY: Duration = Duration::from_secs(86_400);

/// A paid guest order of `lines` (variant, units).
async fn paid(app: &TestApp, lines: &[(&str, i64)], key: &str) {
    let cart = new_cart(app).await;
    for (v, q) in lines {
        assert_eq!(add_to_cart(app, &cart, v, *q).await.status(), 201);
    }
    let o = json_ok(checkout(app, &cart, key, &checkout_body("buyer@example.com")).await).await;
    let r = pay(app, &Placed::of(&o), "confirm", &card("4242424242424242")).await;
    assert_eq!(r.status(), 200);
}

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> Value {
    let r = client.get(app.url(path)).send().await.expect("GET");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

fn titles(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| p["title"].as_str().expect("title").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popular_counts_a_window_and_trending_prefers_recent_sales() {
    let app = TestApp::spawn().await;
    let mut v = Vec::new();
    for sku in ["P", "Q", "R"] {
        v.push(product(&app, sku, 1, 100).await.1[0].clone());
    }
    // R: 5 units 40 days ago; P: 3 units 20 days ago; Q: 2 units today.
    paid(&app, &[(&v[2], 5)], "r").await;
    app.clock.advance(DAY * 20);
    paid(&app, &[(&v[0], 3)], "p").await;
    app.clock.advance(DAY * 20);
    paid(&app, &[(&v[1], 2)], "q").await;
    // Once the last order is counted, the shop-wide lists are ranked within 10 s.
    let counted = eventually(Duration::from_secs(15), || async {
        let t = titles(
            &get(
                &app.client,
                &app,
                "/api/v1/recommendations/for-me?strategy=popular",
            )
            .await,
        );
        t.contains(&"Product Q".to_owned()).then_some(())
    })
    .await;
    assert!(counted.is_some(), "Q's order is counted");
    app.clock.advance(Duration::from_secs(11));
    let trending = eventually(Duration::from_secs(15), || async {
        let t = titles(
            &get(
                &app.client,
                &app,
                "/api/v1/recommendations/for-me?strategy=trending",
            )
            .await,
        );
        (t.first().map(String::as_str) == Some("Product Q")).then_some(t)
    })
    .await
    .expect("trending is ranked after the last order");
    // Q's 2 units today outweigh P's 3 at 20 days (halved every 3 days); R is too old.
    assert_eq!(trending, ["Product Q", "Product P"]);
    // Popular: units in the last 30 days (P 3, Q 2), then all-time orders (R).
    let popular = titles(
        &get(
            &app.client,
            &app,
            "/api/v1/recommendations/for-me?strategy=popular",
        )
        .await,
    );
    assert_eq!(popular, ["Product P", "Product Q", "Product R"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_again_and_for_you_follow_the_customers_history() {
    let app = TestApp::spawn().await;
    let mut v = Vec::new();
    for sku in ["A", "B", "C", "D", "E"] {
        v.push(product(&app, sku, 1, 100).await.1[0].clone());
    }
    // Others: A with C twice, B with D once, E alone three times (the best-seller).
    paid(&app, &[(&v[0], 1), (&v[2], 1)], "ac1").await;
    paid(&app, &[(&v[0], 1), (&v[2], 1)], "ac2").await;
    paid(&app, &[(&v[1], 1), (&v[3], 1)], "bd").await;
    for i in 0..3 {
        paid(&app, &[(&v[4], 1)], &format!("e{i}")).await;
    }
    // The customer bought A twice and B once.
    let token = app.customer_token("regular@example.com").await;
    let me = bearer_client(&token);
    customer_buys(&app, &me, &[(&v[0], 1)], "me-a1").await;
    customer_buys(&app, &me, &[(&v[0], 1)], "me-a2").await;
    customer_buys(&app, &me, &[(&v[1], 1)], "me-b").await;
    let again = eventually(Duration::from_secs(15), || async {
        let t = titles(
            &get(
                &me,
                &app,
                "/api/v1/recommendations/for-me?strategy=buy_again",
            )
            .await,
        );
        (t.len() == 2).then_some(t)
    })
    .await
    .expect("the customer's orders are counted");
    assert_eq!(again, ["Product A", "Product B"], "repeat purchases first");
    // Co-occurrence: A is in 4 orders, C in 2, both in 2: cos = 2/√8 = 0.707, pulled by A
    // with 1 + ln 2 = 1.69; B (2 orders) with D (1): cos = 1/√2 = 0.707, pulled with 1.
    // Scaled to a best of 1: C 1.0, D 0.59; buy-again (A 2, B 1) scaled and halved: A 0.5,
    // B 0.25. Then popular fills: E.
    let fy = eventually(Duration::from_secs(15), || async {
        let body = get(&me, &app, "/api/v1/recommendations/for-me").await;
        let t = titles(&body);
        (t.len() == 5 && t[0] == "Product C").then_some((t, body))
    })
    .await;
    let (fy, body) = fy.expect("for_you ranks the partners first");
    assert_eq!(
        fy,
        [
            "Product C",
            "Product D",
            "Product A",
            "Product B",
            "Product E"
        ]
    );
    assert_eq!(body["strategy"], "for_you");
    assert!(body["experiment"].is_null());
    // A visitor has no history: for_you is popular (E in 3 orders, A in 4).
    let anon = titles(&get(&app.client, &app, "/api/v1/recommendations/for-me?limit=2").await);
    assert_eq!(anon, ["Product A", "Product E"]);
    // buy_again needs a customer.
    let none = get(
        &app.client,
        &app,
        "/api/v1/recommendations/for-me?strategy=buy_again",
    )
    .await;
    assert!(titles(&none).is_empty());
    app.stop().await;
}

async fn tagged(app: &TestApp, title: &str, tags: &[&str], description: &str) -> (String, String) {
    let sku = title.replace(' ', "-").to_uppercase();
    // The option value follows the first tag, so products without a tag in common share no
    // option value either.
    let kind = tags.first().copied().unwrap_or("plain");
    let r = app
        .admin_post_json(
            "/api/v1/admin/products",
            &json!({"title": title, "status": "active", "tags": tags, "description": description,
                    "options": [{"name": "Kind", "values": [kind]}],
                    "variants": [{"sku": sku, "option_values": [kind],
                                  "price": {"amount": 1500, "currency": "USD"}}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let p: Value = r.json().await.expect("json");
    let variant = p["variants"][0]["id"].as_str().expect("variant").to_owned();
    crate::common::shop::set_stock(app, &variant, 10).await;
    (p["id"].as_str().expect("id").to_owned(), variant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn similar_follows_tags_and_words_and_skips_what_is_not_on_sale() {
    let app = TestApp::spawn().await;
    let (cup, _) = tagged(
        &app,
        "Espresso Cup",
        &["coffee", "ceramic"],
        "A small ceramic cup for espresso coffee.",
    )
    .await;
    let (mug, mug_v) = tagged(
        &app,
        "Latte Mug",
        &["coffee", "ceramic"],
        "A large ceramic mug for latte coffee.",
    )
    .await;
    tagged(
        &app,
        "Coffee Grinder",
        &["coffee"],
        "Grinds beans for espresso.",
    )
    .await;
    tagged(&app, "Garden Hose", &["garden"], "Twenty metres of hose.").await;
    let path = format!("/api/v1/products/{cup}/recommendations?strategy=similar");
    let got = eventually(Duration::from_secs(15), || async {
        let t = titles(&get(&app.client, &app, &path).await);
        (t.len() == 2).then_some(t)
    })
    .await
    .expect("similar lists are ranked as products are indexed");
    assert_eq!(
        got,
        ["Latte Mug", "Coffee Grinder"],
        "nothing shares anything with the hose"
    );
    // Out of stock: dropped at once from the cached list.
    crate::common::shop::set_stock(&app, &mug_v, 0).await;
    assert_eq!(
        titles(&get(&app.client, &app, &path).await),
        ["Coffee Grinder"]
    );
    crate::common::shop::set_stock(&app, &mug_v, 5).await;
    let r = app
        .admin
        .post(app.url("/api/v1/admin/products/bulk-status"))
        .json(&json!({"ids": [mug], "status": "archived"}))
        .send()
        .await
        .expect("archive");
    assert!(r.status().is_success());
    assert_eq!(
        titles(&get(&app.client, &app, &path).await),
        ["Coffee Grinder"]
    );
    app.stop().await;
}

/// The section of `html` with `id`, up to its end.
fn section<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let start = html.find(&format!("<section id=\"{id}\""))?;
    let end = html[start..].find("</section>")?;
    Some(&html[start..start + end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storefront_shows_recommendations_on_product_cart_and_home_pages() {
    use crate::common::pages::{browser, csrf, page, post, sign_in};
    let app = TestApp::spawn().await;
    let mut v = Vec::new();
    for sku in ["A", "B", "C"] {
        v.push(product(&app, sku, 1, 100).await.1[0].clone());
    }
    paid(&app, &[(&v[0], 1), (&v[1], 1)], "ab1").await;
    paid(&app, &[(&v[0], 1), (&v[1], 1)], "ab2").await;
    let token = app.customer_token("fan@example.com").await;
    customer_buys(&app, &bearer_client(&token), &[(&v[0], 1)], "fan-a").await;
    let c = browser();
    let together = eventually(Duration::from_secs(15), || async {
        let (_, html) = page(&c, &app, "/products/product-a").await;
        section(&html, "bought-together").map(str::to_owned)
    })
    .await
    .expect("the product page shows what is bought with it");
    assert!(
        together.contains("Product B") && !together.contains("Product A"),
        "{together}"
    );
    // The cart: what goes with its lines.
    let (_, html) = page(&c, &app, "/products/product-a").await;
    let r = post(
        &c,
        &app,
        "/cart/items",
        &[
            ("_csrf", &csrf(&html)),
            ("variant_id", &v[0]),
            ("quantity", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, cart) = page(&c, &app, "/cart").await;
    let slot = section(&cart, "bought-together").expect("a cart slot");
    assert!(slot.contains("Product B"), "{slot}");
    // Home: a visitor sees no personal slot; the customer sees their partners.
    let (_, home) = page(&c, &app, "/").await;
    assert!(section(&home, "for-you").is_none());
    sign_in(&c, &app, "fan@example.com", "Tr0ub4dor&3-horse").await;
    let mine = eventually(Duration::from_secs(15), || async {
        let (_, html) = page(&c, &app, "/").await;
        section(&html, "for-you").map(str::to_owned)
    })
    .await
    .expect("a signed-in customer with history sees for_you");
    assert!(
        mine.contains("Recommended for you") && mine.contains("Product B"),
        "{mine}"
    );
    app.stop().await;
}
