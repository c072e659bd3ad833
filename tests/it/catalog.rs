//! Catalog over HTTP against the real server: CRUD, validation, draft visibility, ETags,
//! optimistic concurrency, slug and SKU uniqueness, categories and role checks.

use crate::common;

use common::{TestApp, bearer_client, problem};
use serde_json::{Value, json};

fn product(title: &str, sku: &str) -> Value {
    json!({
        "title": title,
        "description": "<p>Soft cotton.</p>",
        "status": "active",
        "vendor": "Acme",
        "tags": ["cotton", "Cotton", "summer"],
        "images": [{"url": "https://img.example/t.jpg", "alt": "front"}],
        "options": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [
            {"sku": format!("{sku}-S"), "option_values": ["S"], "price": {"amount": 1999, "currency": "USD"}},
            {"sku": format!("{sku}-M"), "option_values": ["M"], "price": {"amount": 2199, "currency": "USD"}, "compare_at_price": {"amount": 2999, "currency": "USD"}}
        ]
    })
}

async fn create(app: &TestApp, body: &Value) -> reqwest::Response {
    app.admin_post_json("/api/v1/admin/products", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_update_delete_with_etags() {
    let app = TestApp::spawn().await;
    let r = create(&app, &product("Basic T-Shirt", "TS")).await;
    assert_eq!(r.status(), 201);
    let etag = r.headers()["etag"].to_str().expect("etag").to_owned();
    let p: Value = r.json().await.expect("json");
    let id = p["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("prod_"));
    assert_eq!(p["slug"], "basic-t-shirt");
    assert_eq!(
        p["tags"],
        json!(["cotton", "summer"]),
        "tags deduplicated case-insensitively"
    );
    assert_eq!(
        p["variants"][1]["price"],
        json!({"amount": 2199, "currency": "USD"})
    );

    // Public read by id and by slug; ETag + If-None-Match → 304.
    let r = app.get("/api/v1/products/basic-t-shirt").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"].to_str().expect("etag"), etag);
    let r = app
        .client
        .get(app.url(&format!("/api/v1/products/{id}")))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 304);

    // Update with the right If-Match; a stale one is 412.
    let mut body = product("Basic T-Shirt v2", "TS");
    body["slug"] = json!("basic-t-shirt");
    body["variants"][0]["id"] = p["variants"][0]["id"].clone();
    let r = app
        .admin
        .put(app.url(&format!("/api/v1/admin/products/{id}")))
        .header("if-match", &etag)
        .json(&body)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    let new_etag = r.headers()["etag"].to_str().expect("etag").to_owned();
    assert_ne!(new_etag, etag);
    let p2: Value = r.json().await.expect("json");
    assert_eq!(p2["title"], "Basic T-Shirt v2");
    assert_eq!(
        p2["variants"][0]["id"], p["variants"][0]["id"],
        "variant id kept"
    );
    assert_ne!(
        p2["variants"][1]["id"], p["variants"][1]["id"],
        "variant without id is new"
    );
    let r = app
        .admin
        .put(app.url(&format!("/api/v1/admin/products/{id}")))
        .header("if-match", &etag)
        .json(&body)
        .send()
        .await
        .expect("put");
    problem(r, 412, "precondition_failed").await;
    // The old ETag no longer yields 304.
    let r = app
        .client
        .get(app.url(&format!("/api/v1/products/{id}")))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);

    let r = app
        .admin
        .delete(app.url(&format!("/api/v1/admin/products/{id}")))
        .header("if-match", &new_etag)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    problem(
        app.get(&format!("/api/v1/products/{id}")).await,
        404,
        "not_found",
    )
    .await;
    // The SKU is free again.
    assert_eq!(create(&app, &product("Another", "TS")).await.status(), 201);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_lists_every_bad_field() {
    let app = TestApp::spawn().await;
    let body = json!({
        "title": "",
        "slug": "Bad Slug",
        "status": "live",
        "options": [{"name": "Size", "values": ["S"]}],
        "images": [{"url": "javascript:alert(1)"}],
        "variants": [
            {"sku": "A\u{1}1", "option_values": ["XL"], "price": {"amount": -1, "currency": "USD"}},
            {"sku": "B", "option_values": ["S"], "price": {"amount": 100, "currency": "EUR"}, "compare_at_price": {"amount": -50, "currency": "EUR"}}
        ]
    });
    let r = create(&app, &body).await;
    let p = problem(r, 422, "validation_failed").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    for f in [
        "title",
        "slug",
        "status",
        "images[0].url",
        "variants[0].sku",
        "variants[0].option_values[0]",
        "variants[0].price.amount",
        "variants[1].price.currency",
        "variants[1].compare_at_price.amount",
    ] {
        assert!(fields.contains(&f), "{f} not reported in {fields:?}");
    }
    let code = p["errors"]
        .as_array()
        .expect("e")
        .iter()
        .find(|e| e["field"] == "variants[0].price.amount")
        .expect("price")["code"]
        .clone();
    assert_eq!(code, "must_not_be_negative");
    // Malformed money is a 422 too (shape), bad JSON a 400.
    let r = create(&app, &json!({"title": "x", "variants": [{"sku": "X", "price": {"amount": 1.5, "currency": "USD"}}]})).await;
    problem(r, 422, "validation_failed").await;
    let r = create(&app, &json!({"title": "x", "variants": [{"sku": "X", "price": {"amount": 1, "currency": "US"}}]})).await;
    problem(r, 422, "validation_failed").await;
    // Only ISO 4217 codes; the error names the field.
    let r = create(&app, &json!({"title": "x", "variants": [{"sku": "X", "price": {"amount": 1, "currency": "ZZZ"}}]})).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "variants[0].price.currency", "{p}");
    // compare_at_price is bounded like price (it was stored up to i64::MAX).
    let r = create(
        &app,
        &json!({"title": "x", "variants": [{"sku": "X", "price": {"amount": 100, "currency": "USD"},
        "compare_at_price": {"amount": i64::MAX, "currency": "USD"}}]}),
    )
    .await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(
        p["errors"][0]["field"], "variants[0].compare_at_price.amount",
        "{p}"
    );
    assert_eq!(p["errors"][0]["code"], "too_large", "{p}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_are_invisible_and_bulk_status_publishes() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut b = product(&format!("Draft {i}"), &format!("D{i}"));
        b["status"] = json!("draft");
        let p: Value = create(&app, &b).await.json().await.expect("json");
        ids.push(p["id"].as_str().expect("id").to_owned());
    }
    problem(
        app.get(&format!("/api/v1/products/{}", ids[0])).await,
        404,
        "not_found",
    )
    .await;
    problem(app.get("/api/v1/products/draft-0").await, 404, "not_found").await;
    let list: Value = app
        .get("/api/v1/products")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["data"].as_array().expect("data").len(), 0);
    assert_eq!(
        app.admin_get(&format!("/api/v1/admin/products/{}", ids[0]))
            .await
            .status(),
        200
    );

    let r = app
        .admin_post_json(
            "/api/v1/admin/products/bulk-status",
            &json!({"ids": [ids[0], ids[1]], "status": "active"}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.expect("json")["changed"], 2);
    let list: Value = app
        .get("/api/v1/products")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["data"].as_array().expect("data").len(), 2);
    // All or nothing: one unknown id changes nothing.
    let r = app
        .admin_post_json(
            "/api/v1/admin/products/bulk-status",
            &json!({"ids": [ids[2], "prod_01J0000000000000000000000A"], "status": "active"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    problem(
        app.get(&format!("/api/v1/products/{}", ids[2])).await,
        404,
        "not_found",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slugs_are_unique_and_skus_may_repeat() {
    let app = TestApp::spawn().await;
    assert_eq!(create(&app, &product("Mug", "MUG")).await.status(), 201);
    // Derived slug gets a suffix.
    let p: Value = create(&app, &product("Mug", "MUG2"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["slug"], "mug-2");
    // Explicit slug clash is an error.
    let mut b = product("Other mug", "MUG3");
    b["slug"] = json!("mug");
    problem(create(&app, &b).await, 409, "slug_taken").await;
    // SKUs are not unique (Shopify allows the same SKU on several variants).
    assert_eq!(
        create(&app, &product("Third mug", "mug")).await.status(),
        201
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_form_a_tree_and_filter_products() {
    let app = TestApp::spawn().await;
    let root: Value = app
        .admin_post_json("/api/v1/admin/categories", &json!({"name": "Clothing"}))
        .await
        .json()
        .await
        .expect("json");
    let rid = root["id"].as_str().expect("id").to_owned();
    let child: Value = app
        .admin_post_json(
            "/api/v1/admin/categories",
            &json!({"name": "T-Shirts", "parent_id": rid}),
        )
        .await
        .json()
        .await
        .expect("json");
    let cid = child["id"].as_str().expect("id").to_owned();
    assert_eq!(child["slug"], "t-shirts");
    // Moving the root under its child would be a cycle.
    let r = app
        .admin
        .put(app.url(&format!("/api/v1/admin/categories/{rid}")))
        .json(&json!({"name": "Clothing", "parent_id": cid}))
        .send()
        .await
        .expect("put");
    problem(r, 422, "validation_failed").await;

    let mut b = product("Tee", "TEE");
    b["category_ids"] = json!([cid]);
    assert_eq!(create(&app, &b).await.status(), 201);
    assert_eq!(create(&app, &product("Hat", "HAT")).await.status(), 201);
    let list: Value = app
        .get(&format!("/api/v1/products?category={cid}"))
        .await
        .json()
        .await
        .expect("json");
    let titles: Vec<&str> = list["data"]
        .as_array()
        .expect("d")
        .iter()
        .map(|p| p["title"].as_str().expect("t"))
        .collect();
    assert_eq!(titles, vec!["Tee"]);
    let mut bad = product("Ghost", "GHOST");
    bad["category_ids"] = json!(["cat_01J0000000000000000000000A"]);
    problem(create(&app, &bad).await, 422, "validation_failed").await;
    let tree: Value = app
        .get("/api/v1/categories")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(tree["data"].as_array().expect("d").len(), 2);
    // A used category cannot be deleted; an unused leaf can.
    let r = app
        .admin
        .delete(app.url(&format!("/api/v1/admin/categories/{rid}")))
        .send()
        .await
        .expect("delete");
    problem(r, 409, "conflict").await;
    // A draft product holds its category too (found through the member index, not a scan);
    // once the product is gone the empty leaf can be deleted.
    let leaf: Value = app
        .admin_post_json("/api/v1/admin/categories", &json!({"name": "Socks"}))
        .await
        .json()
        .await
        .expect("json");
    let lid = leaf["id"].as_str().expect("id").to_owned();
    let mut draft = product("Sock", "SOCK");
    draft["status"] = json!("draft");
    draft["category_ids"] = json!([lid]);
    let r = create(&app, &draft).await;
    assert_eq!(r.status(), 201);
    let sock_etag = r.headers()["etag"].to_str().expect("etag").to_owned();
    let sock: Value = r.json().await.expect("json");
    let delete_leaf = || {
        app.admin
            .delete(app.url(&format!("/api/v1/admin/categories/{lid}")))
            .send()
    };
    problem(delete_leaf().await.expect("delete"), 409, "conflict").await;
    let r = app
        .admin
        .delete(app.url(&format!(
            "/api/v1/admin/products/{}",
            sock["id"].as_str().expect("id")
        )))
        .header("if-match", &sock_etag)
        .send()
        .await
        .expect("delete product");
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(delete_leaf().await.expect("delete").status(), 204);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_walks_every_product_once() {
    let app = TestApp::spawn().await;
    for i in 0..25 {
        assert_eq!(
            create(&app, &product(&format!("P{i:02}"), &format!("P{i:02}")))
                .await
                .status(),
            201
        );
    }
    let mut seen = Vec::new();
    let mut url = "/api/v1/products?per_page=10&sort=oldest".to_owned();
    loop {
        let page: Value = app.get(&url).await.json().await.expect("json");
        for p in page["data"].as_array().expect("d") {
            seen.push(p["title"].as_str().expect("t").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/products?per_page=10&sort=oldest&cursor={c}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("P{i:02}")).collect();
    assert_eq!(seen, expected);
    problem(
        app.get("/api/v1/products?colour=red").await,
        400,
        "malformed_request",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_get_403_on_every_admin_catalog_route() {
    let app = TestApp::spawn().await;
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "shopper@example.com", "password": "Tr0ub4dor&3-horse", "name": "S"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let t: Value = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "shopper@example.com", "password": "Tr0ub4dor&3-horse"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let c = bearer_client(t["access_token"].as_str().expect("t"));
    let pid = "prod_01J0000000000000000000000A";
    let cat = "cat_01J0000000000000000000000A";
    let routes: Vec<(reqwest::Method, String, Value)> = vec![
        (
            reqwest::Method::POST,
            "/api/v1/admin/products".into(),
            product("x", "X"),
        ),
        (
            reqwest::Method::GET,
            "/api/v1/admin/products".into(),
            Value::Null,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/admin/products/{pid}"),
            Value::Null,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/admin/products/{pid}"),
            product("x", "X"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/admin/products/{pid}"),
            Value::Null,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/admin/products/bulk-status".into(),
            json!({"ids": [pid], "status": "active"}),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/admin/categories".into(),
            json!({"name": "x"}),
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/admin/categories/{cat}"),
            json!({"name": "x"}),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/admin/categories/{cat}"),
            Value::Null,
        ),
    ];
    for (m, path, body) in &routes {
        let mut rq = c.request(m.clone(), app.url(path));
        if !body.is_null() {
            rq = rq.json(body);
        }
        let r = rq.send().await.expect("send");
        assert_eq!(r.status(), 403, "{m} {path}");
        // Anonymous callers are 401.
        let mut rq = app.client.request(m.clone(), app.url(path));
        if !body.is_null() {
            rq = rq.json(body);
        }
        assert_eq!(rq.send().await.expect("send").status(), 401, "{m} {path}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_list_active_products_in_order() {
    let app = TestApp::spawn().await;
    let a: Value = create(&app, &product("Alpha", "A"))
        .await
        .json()
        .await
        .expect("json");
    let mut draft = product("Beta", "B");
    draft["status"] = json!("draft");
    let b: Value = create(&app, &draft).await.json().await.expect("json");
    let c: Value = create(&app, &product("Gamma", "C"))
        .await
        .json()
        .await
        .expect("json");
    let r = app
        .admin_post_json(
            "/api/v1/admin/collections",
            &json!({"title": "Summer Picks", "product_ids": [c["id"], b["id"], a["id"]]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let col: Value = r.json().await.expect("json");
    assert_eq!(col["slug"], "summer-picks");
    let public: Value = app
        .get("/api/v1/collections/summer-picks")
        .await
        .json()
        .await
        .expect("json");
    let titles: Vec<&str> = public["products"]
        .as_array()
        .expect("p")
        .iter()
        .map(|p| p["title"].as_str().expect("t"))
        .collect();
    assert_eq!(titles, vec!["Gamma", "Alpha"], "order kept, drafts hidden");
    let r = app
        .admin_post_json(
            "/api/v1/admin/collections",
            &json!({"title": "Bad", "product_ids": ["prod_01J0000000000000000000000A"]}),
        )
        .await;
    problem(r, 422, "validation_failed").await;
    let id = col["id"].as_str().expect("id");
    let r = app
        .admin
        .put(app.url(&format!("/api/v1/admin/collections/{id}")))
        .header("if-match", "\"x.7\"")
        .json(&json!({"title": "Summer Picks", "product_ids": []}))
        .send()
        .await
        .expect("put");
    problem(r, 412, "precondition_failed").await;
    let r = app
        .admin
        .delete(app.url(&format!("/api/v1/admin/collections/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    problem(
        app.get("/api/v1/collections/summer-picks").await,
        404,
        "not_found",
    )
    .await;
    app.stop().await;
}
