//! Roles, scopes and API keys over HTTP against the real server: customers never see each
//! other, staff never reach admin routes, every scope guards its routes, API keys are shown
//! once, scoped, recorded when used and die with their creator's role, and the last admin
//! stays.

use std::time::Duration;

use crate::auth::{PW, register, tokens};
use crate::common;
use crate::common::{TestApp, bearer_client, problem};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_cannot_see_or_change_each_other() {
    let app = TestApp::spawn().await;
    let a = register(&app, "a@example.com").await;
    let b = register(&app, "b@example.com").await;
    let ta = tokens(&app, "a@example.com").await;
    let ca = bearer_client(ta["access_token"].as_str().expect("t"));
    let b_id = b["id"].as_str().expect("id");
    let a_id = a["id"].as_str().expect("id");

    // Every customer route that takes an account id, with B's id: 404, never 403.
    let r = ca
        .get(app.url(&format!("/api/v1/customers/{b_id}")))
        .send()
        .await
        .expect("get");
    problem(r, 404, "not_found").await;
    let r = ca
        .patch(app.url(&format!("/api/v1/customers/{b_id}")))
        .json(&json!({"name": "pwned"}))
        .send()
        .await
        .expect("patch");
    problem(r, 404, "not_found").await;
    // Wrong prefixes and garbage ids are 404 too.
    for id in ["ord_01J0000000000000000000000", "cus_nope", "%00"] {
        let r = ca
            .get(app.url(&format!("/api/v1/customers/{id}")))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 404, "{id}");
    }
    // Staff routes with B's id: 403 for a customer.
    let r = ca
        .get(app.url(&format!("/api/v1/admin/customers/{b_id}")))
        .send()
        .await
        .expect("get");
    problem(r, 403, "forbidden").await;
    let r = ca
        .put(app.url(&format!("/api/v1/admin/customers/{b_id}/role")))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .expect("put");
    problem(r, 403, "forbidden").await;

    // Own account works; B is unchanged (checked by staff).
    let r = ca
        .get(app.url(&format!("/api/v1/customers/{a_id}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let r = ca
        .patch(app.url(&format!("/api/v1/customers/{a_id}")))
        .json(&json!({"name": "Ann B."}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.json::<Value>().await.expect("json")["name"], "Ann B.");
    let seen: Value = app
        .admin_get(&format!("/api/v1/admin/customers/{b_id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(seen["name"], "Ann Lee");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_cannot_reach_admin_routes() {
    let app = TestApp::spawn().await;
    let s = register(&app, "staff@example.com").await;
    let sid = s["id"].as_str().expect("id");
    let r = app
        .admin
        .put(app.url(&format!("/api/v1/admin/customers/{sid}/role")))
        .json(&json!({"role": "staff"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    let st = tokens(&app, "staff@example.com").await;
    let staff = bearer_client(st["access_token"].as_str().expect("t"));

    // Staff routes: allowed.
    let r = staff
        .get(app.url("/api/v1/admin/customers"))
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.expect("json");
    assert!(page["data"].as_array().is_some_and(|d| d.len() >= 2));
    // Admin-only routes: 403.
    let admin_only: Vec<(reqwest::Method, String, Value)> = vec![
        (
            reqwest::Method::PUT,
            format!("/api/v1/admin/customers/{sid}/role"),
            json!({"role": "admin"}),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/admin/api-keys".into(),
            json!({"name": "k"}),
        ),
        (
            reqwest::Method::GET,
            "/api/v1/admin/api-keys".into(),
            Value::Null,
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/admin/api-keys/key_01J0000000000000000000000A".into(),
            Value::Null,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/admin/diagnostics/notes".into(),
            json!({"key": "x"}),
        ),
        (
            reqwest::Method::GET,
            "/api/v1/admin/diagnostics/jobs/summary".into(),
            Value::Null,
        ),
    ];
    for (m, path, body) in &admin_only {
        let mut rq = staff.request(m.clone(), app.url(path));
        if !body.is_null() {
            rq = rq.json(body);
        }
        let r = rq.send().await.expect("send");
        assert_eq!(r.status(), 403, "{m} {path}");
    }
    // And the admin can use them.
    let r = app.admin_get("/api/v1/admin/api-keys").await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_shown_once_scoped_and_revocable() {
    let app = TestApp::spawn().await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/api-keys",
            &json!({"name": "ERP sync", "scopes": ["catalog", "customers"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let k: Value = r.json().await.expect("json");
    let secret = k["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("shopd_sk_"));
    let list: Value = app
        .admin_get("/api/v1/admin/api-keys")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        !list.to_string().contains(&secret),
        "secret must not be listed"
    );
    assert_eq!(list["data"][0]["role"], "staff");

    let client = bearer_client(&secret);
    let r = client
        .get(app.url("/api/v1/admin/customers"))
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), 200, "staff key reaches staff routes");
    let r = app
        .admin_post_json(
            "/api/v1/admin/api-keys",
            &json!({"name": "catalog only", "scopes": ["catalog"]}),
        )
        .await;
    let narrow: Value = r.json().await.expect("json");
    let nc = bearer_client(narrow["secret"].as_str().expect("secret"));
    let r = nc
        .get(app.url("/api/v1/admin/customers"))
        .send()
        .await
        .expect("list");
    assert_eq!(
        r.status(),
        403,
        "a key without the customers scope cannot list customers"
    );
    let r = client
        .get(app.url("/api/v1/admin/api-keys"))
        .send()
        .await
        .expect("keys");
    assert_eq!(r.status(), 403, "staff key cannot reach admin routes");

    // An admin key without the diagnostics scope cannot use diagnostics.
    let r = app
        .admin_post_json(
            "/api/v1/admin/api-keys",
            &json!({"name": "ops", "role": "admin", "scopes": ["catalog"]}),
        )
        .await;
    let k2: Value = r.json().await.expect("json");
    let c2 = bearer_client(k2["secret"].as_str().expect("secret"));
    let r = c2
        .get(app.url("/api/v1/admin/diagnostics/jobs/summary"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);

    let r = app
        .admin_post_json(
            "/api/v1/admin/api-keys",
            &json!({"name": "bad", "scopes": ["everything"]}),
        )
        .await;
    problem(r, 422, "validation_failed").await;

    let id = k["id"].as_str().expect("id");
    let r = app
        .admin
        .delete(app.url(&format!("/api/v1/admin/api-keys/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 200);
    let r = client
        .get(app.url("/api/v1/admin/customers"))
        .send()
        .await
        .expect("list");
    problem(r, 401, "unauthenticated").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_use_is_recorded() {
    let app = TestApp::spawn().await;
    let k: Value = app
        .admin_post_json("/api/v1/admin/api-keys", &json!({"name": "sync"}))
        .await
        .json()
        .await
        .expect("json");
    let c = bearer_client(k["secret"].as_str().expect("secret"));
    assert_eq!(
        c.get(app.url("/api/v1/admin/customers"))
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    let used = common::eventually(Duration::from_secs(10), || async {
        let l: Value = app
            .admin_get("/api/v1/admin/api-keys")
            .await
            .json()
            .await
            .ok()?;
        l["data"][0]["last_used_at"].as_str().map(str::to_owned)
    })
    .await;
    assert!(used.is_some(), "last_used_at recorded");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_cannot_mint_keys_and_die_with_their_creators_role() {
    let app = TestApp::spawn().await;
    // A second admin creates an admin key.
    let boss = register(&app, "boss2@example.com").await;
    let bid = boss["id"].as_str().expect("id");
    let r = app
        .admin
        .put(app.url(&format!("/api/v1/admin/customers/{bid}/role")))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    let bt = tokens(&app, "boss2@example.com").await;
    let boss_client = bearer_client(bt["access_token"].as_str().expect("t"));
    let k: Value = boss_client
        .post(app.url("/api/v1/admin/api-keys"))
        .json(&json!({"name": "k", "role": "admin"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let key = bearer_client(k["secret"].as_str().expect("secret"));
    // Keys cannot manage keys or roles, even with the admin role.
    let r = key
        .post(app.url("/api/v1/admin/api-keys"))
        .json(&json!({"name": "escalate"}))
        .send()
        .await
        .expect("post");
    problem(r, 403, "forbidden").await;
    let r = key
        .put(app.url(&format!("/api/v1/admin/customers/{bid}/role")))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .expect("put");
    problem(r, 403, "forbidden").await;
    assert_eq!(
        key.get(app.url("/api/v1/admin/customers"))
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    // Demoting the creator stops the key.
    let r = app
        .admin
        .put(app.url(&format!("/api/v1/admin/customers/{bid}/role")))
        .json(&json!({"role": "customer"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    let r = key
        .get(app.url("/api/v1/admin/customers"))
        .send()
        .await
        .expect("get");
    problem(r, 401, "unauthenticated").await;
    app.stop().await;
}

/// Every scope guards its routes, including the account routes staff keys can reach
/// (`/api/v1/customers/{id}` once let a `catalog` key read and rename any account).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scope_guards_its_routes() {
    let app = TestApp::spawn().await;
    let me: Value = app.admin_get("/api/v1/me").await.json().await.expect("me");
    let admin_id = me["id"].as_str().expect("id").to_owned();
    let key = |scopes: Vec<&'static str>| {
        let app = &app;
        async move {
            let r = app
                .admin_post_json(
                    "/api/v1/admin/api-keys",
                    &json!({"name": "k", "role": "admin", "scopes": scopes}),
                )
                .await;
            assert_eq!(r.status(), 201);
            let k: Value = r.json().await.expect("json");
            bearer_client(k["secret"].as_str().expect("secret"))
        }
    };
    let routes: [(&str, String); 6] = [
        ("catalog", "/api/v1/admin/products".into()),
        ("orders", "/api/v1/admin/orders".into()),
        ("orders", "/api/v1/admin/events".into()),
        ("customers", "/api/v1/admin/customers".into()),
        ("customers", format!("/api/v1/customers/{admin_id}")),
        (
            "diagnostics",
            "/api/v1/admin/diagnostics/jobs/summary".into(),
        ),
    ];
    let all = ["catalog", "orders", "customers", "inventory", "diagnostics"];
    for (scope, path) in &routes {
        let others: Vec<&str> = all.iter().copied().filter(|s| s != scope).collect();
        let without = key(others).await;
        let r = without.get(app.url(path)).send().await.expect("get");
        let p = problem(r, 403, "forbidden").await;
        assert!(p["detail"].as_str().unwrap_or("").contains(scope), "{p}");
        let with = key(vec![scope]).await;
        let r = with.get(app.url(path)).send().await.expect("get");
        assert_eq!(r.status(), 200, "{path} with the {scope} scope");
    }
    // The rename is refused too, and the name stays.
    let narrow = key(vec!["catalog"]).await;
    let r = narrow
        .patch(app.url(&format!("/api/v1/customers/{admin_id}")))
        .json(&json!({"name": "pwned"}))
        .send()
        .await
        .expect("patch");
    problem(r, 403, "forbidden").await;
    let me: Value = app.admin_get("/api/v1/me").await.json().await.expect("me");
    assert_ne!(me["name"], "pwned");
    app.stop().await;
}

/// The last active admin can neither demote nor delete itself (the shop would have no admin and
/// no setup token); once a second admin exists, both work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_cannot_be_demoted_or_deleted() {
    let app = TestApp::spawn().await;
    let me: Value = app.admin_get("/api/v1/me").await.json().await.expect("me");
    let admin_id = me["id"].as_str().expect("id").to_owned();
    let role = |id: String, role: &'static str| {
        let app = &app;
        async move {
            app.admin
                .put(app.url(&format!("/api/v1/admin/customers/{id}/role")))
                .json(&json!({ "role": role }))
                .send()
                .await
                .expect("put")
        }
    };
    let p = problem(role(admin_id.clone(), "customer").await, 409, "last_admin").await;
    assert!(p["detail"].as_str().unwrap_or("").contains("last"), "{p}");
    problem(role(admin_id.clone(), "staff").await, 409, "last_admin").await;
    let r = app
        .admin
        .delete(app.url("/api/v1/me"))
        .json(&json!({ "password": common::ADMIN_PASSWORD }))
        .send()
        .await
        .expect("delete");
    problem(r, 409, "last_admin").await;
    assert_eq!(
        app.admin_get("/api/v1/me").await.status(),
        200,
        "still an admin"
    );
    // Promoting to admin again is not a demotion.
    assert_eq!(role(admin_id.clone(), "admin").await.status(), 200);

    // A second admin who deletes their account no longer counts.
    register(&app, "gone-admin@example.com").await;
    let gone = tokens(&app, "gone-admin@example.com").await;
    let gone_me: Value = bearer_client(gone["access_token"].as_str().expect("t"))
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    let gone_id = gone_me["id"].as_str().expect("id").to_owned();
    assert_eq!(role(gone_id, "admin").await.status(), 200);
    let r = bearer_client(gone["access_token"].as_str().expect("t"))
        .delete(app.url("/api/v1/me"))
        .json(&json!({ "password": PW }))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204, "not the last admin, so it may leave");
    problem(role(admin_id.clone(), "staff").await, 409, "last_admin").await;

    let other = register(&app, "second-admin@example.com").await;
    let other_id = other["id"].as_str().expect("id").to_owned();
    assert_eq!(role(other_id.clone(), "admin").await.status(), 200);
    let r = role(admin_id.clone(), "staff").await;
    assert_eq!(r.status(), 200, "no longer the last admin");
    // The second admin is now the last one; the first (staff now) cannot change roles at all.
    assert_eq!(role(other_id.clone(), "customer").await.status(), 403);
    app.stop().await;
}
