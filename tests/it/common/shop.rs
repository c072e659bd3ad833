//! Shop fixtures shared by the cart, checkout and order suites: products with stock, carts.

use reqwest::Method;
use serde_json::{Value, json};

use super::TestApp;

/// An amount in US dollars as the API writes it.
pub fn usd(amount: i64) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

/// Creates an active product with `n` variants priced 1000, 1100, … and `stock` units each.
pub async fn product(app: &TestApp, sku: &str, n: usize, stock: i64) -> (String, Vec<String>) {
    let values: Vec<String> = (0..n).map(|i| format!("V{i}")).collect();
    let variants: Vec<Value> = (0..n)
        .map(|i| {
            json!({"sku": format!("{sku}-{i}"), "option_values": [values[i]],
                   "price": {"amount": 1000 + 100 * i as i64, "currency": "USD"}})
        })
        .collect();
    let r = app
        .admin_post_json(
            "/api/v1/admin/products",
            &json!({"title": format!("Product {sku}"), "status": "active",
                    "options": [{"name": "Size", "values": values}], "variants": variants}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let p: Value = r.json().await.expect("json");
    let ids: Vec<String> = p["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["id"].as_str().expect("id").to_owned())
        .collect();
    for v in &ids {
        set_stock(app, v, stock).await;
    }
    (p["id"].as_str().expect("id").to_owned(), ids)
}

pub async fn set_stock(app: &TestApp, variant: &str, on_hand: i64) {
    let r = app
        .admin_send(
            Method::PUT,
            &format!("/api/v1/admin/variants/{variant}/stock"),
            &json!({"on_hand": on_hand}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

pub async fn new_cart(app: &TestApp) -> String {
    let r = app.post_json("/api/v1/cart", &json!({})).await;
    assert_eq!(r.status(), 201);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap_or("").starts_with("shopd_cart="))
    );
    let c: Value = r.json().await.expect("json");
    assert_eq!(c["lines"], json!([]));
    let token = c["cart_token"].as_str().expect("cart_token").to_owned();
    assert!(token.len() > 40, "unguessable token");
    token
}

/// Adds `quantity` of `variant` to the anonymous cart `token`; returns the response.
pub async fn add_to_cart(
    app: &TestApp,
    token: &str,
    variant: &str,
    quantity: i64,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/cart/items"))
        .header("X-Cart-Token", token)
        .json(&json!({"variant_id": variant, "quantity": quantity}))
        .send()
        .await
        .expect("add")
}

/// A valid checkout body.
pub fn checkout_body(email: &str) -> Value {
    json!({"email": email, "shipping_address": {
        "name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
        "postal_code": "SW1Y 4JH", "country": "GB"}})
}

/// Checks out the anonymous cart `token` with `key`.
pub async fn checkout(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/checkout"))
        .header("X-Cart-Token", token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("checkout")
}

/// A variant's stock as staff see it.
pub async fn stock(app: &TestApp, variant: &str) -> Value {
    app.admin_get(&format!("/api/v1/admin/variants/{variant}/stock"))
        .await
        .json()
        .await
        .expect("stock json")
}

/// Imports a Shopify product CSV through the admin API (`query`: e.g. `?dry_run=true`); the
/// report.
pub async fn import_csv(app: &TestApp, csv: &str, query: &str) -> Value {
    let r = app
        .admin
        .post(app.url(&format!("/api/v1/admin/products/import{query}")))
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

/// Exports every product as a Shopify CSV through the admin API.
pub async fn export_csv(app: &TestApp) -> String {
    let r = app.admin_get("/api/v1/admin/products/export").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/csv")
    );
    r.text().await.expect("text")
}

/// One paid order by the bearer `client` of `lines` (variant, quantity), paid with the test
/// card; returns its total in minor units.
pub async fn customer_buys(
    app: &TestApp,
    client: &reqwest::Client,
    lines: &[(&str, i64)],
    key: &str,
) -> i64 {
    for (variant, quantity) in lines {
        let r = client
            .post(app.url("/api/v1/cart/items"))
            .json(&json!({"variant_id": variant, "quantity": quantity}))
            .send()
            .await
            .expect("add");
        assert_eq!(r.status(), 201);
    }
    let o: Value = client
        .post(app.url("/api/v1/checkout"))
        .header("Idempotency-Key", key)
        .json(&checkout_body("buyer@example.com"))
        .send()
        .await
        .expect("checkout")
        .json()
        .await
        .expect("json");
    let pay = o["payment"]["id"].as_str().expect("payment");
    let r = client
        .post(app.url(&format!("/api/v1/payments/{pay}/confirm")))
        .json(&crate::payments::card("4242424242424242"))
        .send()
        .await
        .expect("pay");
    assert_eq!(r.status(), 200);
    o["totals"]["total"]["amount"].as_i64().expect("total")
}

/// Creates, through the running server at `base` (a child process), an active product with
/// one variant `sku` at `amount` US cents and `stock` units; returns its variant's id.
pub async fn stocked_variant(
    client: &reqwest::Client,
    base: &str,
    admin_token: &str,
    (title, sku, amount): (&str, &str, i64),
    stock: i64,
) -> String {
    let r = client
        .post(format!("{base}/api/v1/admin/products"))
        .bearer_auth(admin_token)
        .json(&json!({"title": title, "status": "active",
                      "variants": [{"sku": sku, "price": usd(amount)}]}))
        .send()
        .await
        .expect("create product");
    assert_eq!(r.status(), 201);
    let p: Value = r.json().await.expect("json");
    let v = p["variants"][0]["id"].as_str().expect("id").to_owned();
    let r = client
        .put(format!("{base}/api/v1/admin/variants/{v}/stock"))
        .bearer_auth(admin_token)
        .json(&json!({"on_hand": stock}))
        .send()
        .await
        .expect("stock");
    assert_eq!(r.status(), 200);
    v
}
