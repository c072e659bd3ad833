//! Stock over HTTP: set and adjust with movement history, validation, backorders, the
//! low-stock event, and staff-only access.

use crate::common;

use common::{TestApp, bearer_client, problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn variant(app: &TestApp, sku: &str) -> String {
    let body = json!({
        "title": format!("Product {sku}"), "status": "active",
        "variants": [{"sku": sku, "price": {"amount": 1000, "currency": "USD"}}]
    });
    let r = app.admin_post_json("/api/v1/admin/products", &body).await;
    assert_eq!(r.status(), 201);
    let p: Value = r.json().await.expect("json");
    p["variants"][0]["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_is_set_adjusted_and_every_change_is_a_movement() {
    let app = TestApp::spawn().await;
    let v = variant(&app, "INV-1").await;
    let stock = format!("/api/v1/admin/variants/{v}/stock");
    let s: Value = app.admin_get(&stock).await.json().await.expect("json");
    assert_eq!(
        (s["on_hand"].as_i64(), s["available"].as_i64()),
        (Some(0), Some(0))
    );
    let r = app
        .admin_send(
            Method::PUT,
            &stock,
            &json!({"on_hand": 12, "low_stock_threshold": 3, "reason": "stocktake"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .admin_post_json(
            &format!("{stock}/adjustments"),
            &json!({"delta": 5, "reason": "delivery"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let s: Value = r.json().await.expect("json");
    assert_eq!(s["on_hand"], 17);
    assert_eq!(s["available"], 17);
    // Taking away more than is there is refused while backorders are denied.
    let r = app
        .admin_post_json(
            &format!("{stock}/adjustments"),
            &json!({"delta": -18, "reason": "damaged"}),
        )
        .await;
    problem(r, 409, "out_of_stock").await;
    let r = app
        .admin_post_json(
            &format!("{stock}/adjustments"),
            &json!({"delta": -15, "reason": "damaged"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let m: Value = app
        .admin_get(&format!("{stock}/movements?per_page=2"))
        .await
        .json()
        .await
        .expect("json");
    let data = m["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["delta"], -15);
    assert_eq!(data[0]["reason"], "damaged");
    assert_eq!(data[0]["on_hand_after"], 2);
    assert!(
        data[0]["actor"]
            .as_str()
            .expect("actor")
            .starts_with("cus_")
    );
    assert_eq!(data[1]["delta"], 5);
    assert_eq!(m["has_more"], true);
    let rest: Value = app
        .admin_get(&format!(
            "{stock}/movements?cursor={}",
            m["next_cursor"].as_str().expect("cursor")
        ))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rest["data"][0]["delta"], 12);
    assert_eq!(rest["data"][0]["kind"], "set");
    assert_eq!(rest["has_more"], false);

    // Falling to the threshold emitted one low-stock event with the level.
    let e: Value = app
        .admin_get("/api/v1/admin/events?type=inventory.low_stock")
        .await
        .json()
        .await
        .expect("json");
    let events = e["data"].as_array().expect("data");
    assert_eq!(events.len(), 1, "{e}");
    assert!(events[0]["id"].as_str().expect("id").starts_with("evt_"));
    assert_eq!(events[0]["data"]["variant_id"], v.as_str());
    assert_eq!(events[0]["data"]["available"], 2);

    // With backorders allowed, stock may be sold below zero; adjustments still cannot make
    // on hand negative through a stocktake.
    let r = app
        .admin_send(
            Method::PUT,
            &stock,
            &json!({"on_hand": 0, "backorder": "allow"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.expect("json");
    assert_eq!(s["backorder"], "allow");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stock_requests_get_clear_errors() {
    let app = TestApp::spawn().await;
    let v = variant(&app, "INV-2").await;
    let stock = format!("/api/v1/admin/variants/{v}/stock");
    let r = app
        .admin_send(Method::PUT, &stock, &json!({"on_hand": -1}))
        .await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "on_hand");
    let r = app
        .admin_send(Method::PUT, &stock, &json!({"on_hand": 10_000_000_000_i64}))
        .await;
    problem(r, 422, "validation_failed").await;
    // Valid JSON of the wrong type is a 422 naming the field, not a 400 "not valid JSON".
    for (body, field) in [
        (json!({"on_hand": "ten"}), "on_hand"),
        (json!({"on_hand": 1, "backorder": {}}), "backorder"),
        (
            json!({"on_hand": 1, "low_stock_threshold": -1}),
            "low_stock_threshold",
        ),
    ] {
        let r = app.admin_send(Method::PUT, &stock, &body).await;
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], field, "{body}: {p}");
    }
    let r = app
        .admin_send(
            Method::PUT,
            &stock,
            &json!({"on_hand": 0, "low_stock_threshold": 0}),
        )
        .await;
    assert_eq!(r.status(), 200, "0 is a valid threshold");
    let r = app
        .admin_post_json(
            &format!("{stock}/adjustments"),
            &json!({"delta": 1, "reason": ""}),
        )
        .await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "reason");
    // Unknown and malformed variant ids are 404s.
    let r = app
        .admin_get("/api/v1/admin/variants/var_01J0000000000000000000000A/stock")
        .await;
    problem(r, 404, "not_found").await;
    let r = app
        .admin_send(
            Method::PUT,
            "/api/v1/admin/variants/prod_01J0000000000000000000000A/stock",
            &json!({"on_hand": 1}),
        )
        .await;
    problem(r, 404, "not_found").await;
    // Nothing was recorded by the refused requests.
    let m: Value = app
        .admin_get(&format!("{stock}/movements"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(m["data"], json!([]));

    // Customers and anonymous callers cannot touch stock.
    let customer = bearer_client(&app.customer_token("shopper@example.com").await);
    for (method, path) in [
        (Method::GET, stock.clone()),
        (Method::PUT, stock.clone()),
        (Method::POST, format!("{stock}/adjustments")),
        (Method::GET, format!("{stock}/movements")),
        (Method::GET, "/api/v1/admin/events".to_owned()),
    ] {
        let r = customer
            .request(method.clone(), app.url(&path))
            .json(&json!({"on_hand": 1, "delta": 1, "reason": "x"}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 403, "{method} {path}");
        let r = app
            .client
            .request(method.clone(), app.url(&path))
            .json(&json!({"on_hand": 1}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401, "{method} {path}");
    }
    app.stop().await;
}
