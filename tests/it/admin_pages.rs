//! The admin's pages over real HTTP: who may enter, the dashboard's figures, an order found
//! and shipped with a tracking number (and the guest's page showing it), confirmation before
//! destructive actions, roles only for admins,
//! and the CSRF token on every admin form.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::pages::{browser, buy, csrf, input, location, page, post, post_forms, sign_in};
use crate::common::shop::product;
use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_staff_enter_the_admin() {
    let app = TestApp::spawn().await;
    let c = browser();
    let (s, html) = page(&c, &app, "/admin/orders").await;
    assert_eq!(s, 401);
    assert!(
        html.contains("href=\"/account/sign-in?next=/admin/orders\""),
        "{html}"
    );
    let (_, html) = page(&c, &app, "/account/register").await;
    let token = csrf(&html);
    let r = post(
        &c,
        &app,
        "/account/register",
        &[
            ("_csrf", &token),
            ("name", "Cus"),
            ("email", "cus@example.com"),
            ("password", "correct horse battery staple"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (s, html) = page(&c, &app, "/admin").await;
    assert_eq!(s, 403);
    assert!(html.contains("data-code=\"forbidden\""));
    let (_, html) = page(&c, &app, "/").await;
    assert!(
        !html.contains("href=\"/admin\""),
        "customers are not shown the admin link"
    );
    let staff = browser();
    sign_in(&staff, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r = staff.get(app.url("/admin")).send().await.expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("x-robots-tag")
            .and_then(|v| v.to_str().ok()),
        Some("noindex, nofollow")
    );
    assert_eq!(
        r.headers()
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_find_an_order_and_ship_it_and_the_guest_sees_the_tracking_number() {
    let app = TestApp::spawn().await;
    let (_, variants) = product(&app, "SHIP", 1, 5).await;
    let guest = browser();
    let order_path = buy(&guest, &app, "/products/product-ship", &variants[0]).await;
    let order_id = order_path.trim_start_matches("/orders/").to_owned();
    let staff = browser();
    sign_in(&staff, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, dash) = page(&staff, &app, "/admin").await;
    assert!(
        dash.contains("<span class=\"value\" id=\"orders-today\">1</span>"),
        "{dash}"
    );
    assert!(dash.contains("<svg class=\"chart\"") && dash.matches("<rect").count() == 30);
    let (_, list) = page(&staff, &app, "/admin/orders?status=paid").await;
    assert!(list.contains(&format!("href=\"/admin/orders/{order_id}\"")));
    let (_, none) = page(&staff, &app, "/admin/orders?status=fulfilled").await;
    assert!(!none.contains(&order_id));
    // Date and total filters (the test clock's day is 2026-11-18; the order is $10.00 + shipping).
    for (q, listed) in [
        ("from=2026-11-18&to=2026-11-18", true),
        ("from=2026-11-19", false),
        ("to=2026-11-17", false),
        ("min_total=10.00&max_total=100.00", true),
        ("min_total=500.00", false),
    ] {
        let (s, html) = page(&staff, &app, &format!("/admin/orders?{q}")).await;
        assert_eq!(s, 200, "{q}");
        assert_eq!(html.contains(&order_id), listed, "{q}");
    }
    assert_eq!(
        page(&staff, &app, "/admin/orders?from=yesterday").await.0,
        422
    );
    let (s, detail) = page(&staff, &app, &format!("/admin/orders/{order_id}")).await;
    assert_eq!(s, 200);
    let token = csrf(&detail);
    let key = input(&detail, "key");
    let form = [
        ("_csrf", token.as_str()),
        ("key", key.as_str()),
        ("carrier", "DHL"),
        ("tracking_number", "JD0146000012345"),
    ];
    let r = post(
        &staff,
        &app,
        &format!("/admin/orders/{order_id}/fulfil"),
        &form,
    )
    .await;
    assert_eq!(r.status(), 303);
    // The same form again (a double click) records no second shipment.
    let r = post(
        &staff,
        &app,
        &format!("/admin/orders/{order_id}/fulfil"),
        &form,
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, detail) = page(&staff, &app, &location(&r)).await;
    assert!(detail.contains("data-status=\"fulfilled\""), "{detail}");
    assert_eq!(detail.matches("JD0146000012345").count(), 1);
    let (_, mine) = page(&guest, &app, &order_path).await;
    assert!(
        mine.contains("data-status=\"fulfilled\"")
            && mine.contains("<b class=\"tracking\">JD0146000012345</b>"),
        "{mine}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destructive_actions_ask_first_and_roles_are_for_admins_only() {
    let app = TestApp::spawn().await;
    let (_, variants) = product(&app, "CANCEL", 1, 5).await;
    let guest = browser();
    let (_, html) = page(&guest, &app, "/products/product-cancel").await;
    let token = csrf(&html);
    post(
        &guest,
        &app,
        "/cart/items",
        &[("_csrf", &token), ("variant_id", &variants[0])],
    )
    .await;
    let (_, html) = page(&guest, &app, "/checkout").await;
    let key = input(&html, "key");
    let r = post(
        &guest,
        &app,
        "/checkout",
        &[
            ("_csrf", &token),
            ("key", &key),
            ("email", "c@example.com"),
            ("name", "C"),
            ("line1", "1 St"),
            ("city", "X"),
            ("postal_code", "1"),
            ("country", "US"),
        ],
    )
    .await;
    let order_id = location(&r)
        .trim_start_matches("/orders/")
        .trim_end_matches("/pay")
        .to_owned();
    let staff = browser();
    sign_in(&staff, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, detail) = page(&staff, &app, &format!("/admin/orders/{order_id}")).await;
    let token = csrf(&detail);
    let r = post(
        &staff,
        &app,
        &format!("/admin/orders/{order_id}/cancel"),
        &[("_csrf", &token), ("reason", "customer asked")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let confirm = r.text().await.expect("body");
    assert!(
        confirm.contains("Please confirm")
            && confirm.contains("name=\"confirm\" value=\"yes\"")
            && confirm.contains("value=\"customer asked\"")
    );
    let (_, still) = page(&staff, &app, &format!("/admin/orders/{order_id}")).await;
    assert!(
        still.contains("data-status=\"pending_payment\""),
        "nothing happened before confirming"
    );
    let r = post(
        &staff,
        &app,
        &format!("/admin/orders/{order_id}/cancel"),
        &[
            ("_csrf", &token),
            ("reason", "customer asked"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, done) = page(&staff, &app, &location(&r)).await;
    assert!(done.contains("data-status=\"cancelled\"") && done.contains("customer asked"));
    // A staff member: no role form, and a posted one is refused.
    let cus: Value = app
        .admin
        .get(app.url("/api/v1/admin/customers"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let admin_id = cus["data"][0]["id"].as_str().expect("id").to_owned();
    let r = post(
        &guest,
        &app,
        "/account/register",
        &[
            ("_csrf", &token),
            ("name", "Sam Staff"),
            ("email", "sam@example.com"),
            ("password", "correct horse battery staple"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403, "another browser's token is refused");
    let sam = browser();
    let (_, html) = page(&sam, &app, "/account/register").await;
    let t = csrf(&html);
    post(
        &sam,
        &app,
        "/account/register",
        &[
            ("_csrf", &t),
            ("name", "Sam Staff"),
            ("email", "sam@example.com"),
            ("password", "correct horse battery staple"),
        ],
    )
    .await;
    let sam_id = app
        .auth
        .customer_id_by_email("sam@example.com")
        .expect("read")
        .expect("sam")
        .to_string();
    let (_, html) = page(&staff, &app, &format!("/admin/customers/{sam_id}")).await;
    let r = post(
        &staff,
        &app,
        &format!("/admin/customers/{sam_id}/role"),
        &[
            ("_csrf", &csrf(&html)),
            ("role", "staff"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (s, html) = page(&sam, &app, &format!("/admin/customers/{admin_id}")).await;
    assert_eq!(s, 200, "staff see customers");
    assert!(!html.contains("/role\""), "but no role form");
    let r = post(
        &sam,
        &app,
        &format!("/admin/customers/{admin_id}/role"),
        &[
            ("_csrf", &csrf(&html)),
            ("role", "customer"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_form_refuses_a_post_without_its_token() {
    let app = TestApp::spawn_demo().await;
    let (_, variants) = product(&app, "FORMS", 1, 5).await;
    let paid = buy(&browser(), &app, "/products/product-forms", &variants[0]).await;
    let paid_id = paid.trim_start_matches("/orders/");
    let staff = browser();
    sign_in(&staff, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, list) = page(&staff, &app, "/admin/products?q=FORMS-0").await;
    assert!(list.contains("Product FORMS"), "a SKU finds its product");
    let (_, customers) = page(&staff, &app, "/admin/customers").await;
    let first_customer = customers
        .split("href=\"/admin/customers/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a customer")
        .to_owned();
    let (_, jobs) = page(&staff, &app, "/admin/jobs?state=done").await;
    let a_job = jobs
        .split("href=\"/admin/jobs/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a job")
        .to_owned();
    let pid = list
        .split("href=\"/admin/products/prod_")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("product");
    let (_, promos) = page(&staff, &app, "/admin/promotions").await;
    let a_promo = promos
        .split("href=\"/admin/promotions/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a demo promotion")
        .to_owned();
    let (_, colls) = page(&staff, &app, "/admin/collections").await;
    let a_coll = colls
        .split("href=\"/admin/collections/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a demo collection")
        .to_owned();
    let first_link = |html: &str, prefix: &str| {
        html.split(&format!("href=\"{prefix}"))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(|id| format!("{prefix}{id}"))
            .expect("a demo zone")
    };
    let tax_zone = first_link(
        &page(&staff, &app, "/admin/tax").await.1,
        "/admin/tax/zones/txz_",
    );
    let ship_zone = first_link(
        &page(&staff, &app, "/admin/shipping").await.1,
        "/admin/shipping/zones/shz_",
    );
    let mut actions = BTreeSet::new();
    for path in [
        "/admin".to_owned(),
        "/admin/tax".into(),
        "/admin/tax/zones/new".into(),
        tax_zone.clone(),
        "/admin/shipping".into(),
        "/admin/shipping/zones/new".into(),
        "/admin/experiments".into(),
        ship_zone.clone(),
        "/admin/orders".into(),
        format!("/admin/orders/{paid_id}"),
        "/admin/products".into(),
        "/admin/products/new".into(),
        format!("/admin/products/prod_{pid}"),
        "/admin/products/grid".into(),
        "/admin/import".into(),
        "/admin/categories".into(),
        "/admin/collections".into(),
        format!("/admin/collections/{a_coll}"),
        "/admin/promotions".into(),
        format!("/admin/promotions/{a_promo}"),
        "/admin/gift-cards".into(),
        "/admin/webhooks".into(),
        "/admin/settings".into(),
        "/admin/customers".into(),
        format!("/admin/customers/{first_customer}"),
        "/admin/jobs".into(),
        format!("/admin/jobs/{a_job}"),
    ] {
        let (s, html) = page(&staff, &app, &path).await;
        assert_eq!(s, 200, "{path}");
        actions.extend(post_forms(&html));
    }
    for expected in [
        "/account/sign-out",
        "/admin/products/bulk-status",
        "/admin/products/new",
        &format!("/admin/orders/{paid_id}/fulfil"),
        &format!("/admin/orders/{paid_id}/refund"),
        &format!("/admin/customers/{first_customer}/role"),
        "/admin/products/grid",
        "/admin/import",
        "/admin/categories",
        "/admin/collections",
        "/admin/promotions",
        "/admin/gift-cards",
        "/admin/webhooks",
        &format!("/admin/promotions/{a_promo}/codes"),
        &format!("/admin/promotions/{a_promo}/delete"),
        &format!("/admin/collections/{a_coll}/delete"),
        "/admin/tax/settings",
        "/admin/tax/categories",
        "/admin/tax/zones/new",
        &tax_zone,
        &format!("{tax_zone}/delete"),
        "/admin/shipping/zones/new",
        "/admin/experiments",
        &ship_zone,
        &format!("{ship_zone}/delete"),
    ] {
        assert!(actions.contains(expected), "{expected} in {actions:?}");
    }
    let token = csrf(&page(&staff, &app, "/admin").await.1);
    for action in &actions {
        let r = post(
            &staff,
            &app,
            action,
            &[("confirm", "yes"), ("status", "archived"), ("id", "x")],
        )
        .await;
        // The file upload is multipart: without its token it is refused the same way.
        let r = if action == "/admin/import" {
            let form = reqwest::multipart::Form::new()
                .text("currency", "USD")
                .text("confirm", "yes");
            staff
                .post(app.url(action))
                .multipart(form)
                .send()
                .await
                .expect("POST")
        } else {
            r
        };
        assert_eq!(r.status(), 403, "{action} without a token");
        let r = staff
            .post(app.url(action))
            .header("Origin", "https://evil.example")
            .form(&[("_csrf", token.as_str()), ("confirm", "yes")])
            .send()
            .await
            .expect("POST");
        let st = r.status();
        assert_eq!(
            st,
            403,
            "{action} from another site: {}",
            r.text().await.unwrap_or_default()
        );
    }
    let (_, detail) = page(&staff, &app, &paid).await;
    assert!(
        detail.contains("data-status=\"paid\""),
        "nothing those posts tried happened"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_is_created_from_the_setup_link_printed_at_start() {
    use crate::common::Proc;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = crate::common::backend::shopd(dir.path());
    cmd.args([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--data-dir",
    ])
    .arg(dir.path())
    .stderr(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null());
    let p = tokio::task::spawn_blocking(move || Proc::start(cmd))
        .await
        .expect("start");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = p.log_text();
    let token = log
        .split("/admin/setup?token=")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .expect("the log prints the setup link")
        .to_owned();
    let c = browser();
    let url = |path: &str| format!("{}{path}", p.base);
    let html = c
        .get(url(&format!("/admin/setup?token={token}")))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("html");
    let csrf_token = csrf(&html);
    let form = |t: &str| {
        vec![
            ("_csrf", csrf_token.clone()),
            ("token", t.to_owned()),
            ("name", "Boss".into()),
            ("email", "boss@example.com".into()),
            ("password", "Sup3r-secret-pass".into()),
        ]
    };
    let r = c
        .post(url("/admin/setup"))
        .form(&form("setup_wrong"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 422, "a wrong token is refused at the form");
    let r = c
        .post(url("/admin/setup"))
        .form(&form(&token))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin");
    let r = c.get(url("/admin")).send().await.expect("GET");
    assert_eq!(r.status(), 200, "signed in as the new admin");
    // Once an admin exists the link leads to sign-in, and the token is spent.
    let r = browser()
        .get(url(&format!("/admin/setup?token={token}")))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 303);
    let r = c
        .post(url("/admin/setup"))
        .form(&form(&token))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 422);
    assert_eq!(
        tokio::task::spawn_blocking(move || p.terminate().code())
            .await
            .expect("stop"),
        Some(0)
    );
}

/// A staff browser signed in as the test admin.
async fn admin_browser(app: &TestApp) -> reqwest::Client {
    let c = browser();
    sign_in(&c, app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_and_collections_are_kept_from_the_admin() {
    let app = TestApp::spawn().await;
    let (_, _) = product(&app, "COLL", 1, 5).await;
    let c = admin_browser(&app).await;
    let (_, html) = page(&c, &app, "/admin/categories").await;
    let t = csrf(&html);
    let r = post(
        &c,
        &app,
        "/admin/categories",
        &[("_csrf", t.as_str()), ("name", "Kitchen"), ("parent", "")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, html) = page(&c, &app, "/admin/categories").await;
    let kitchen = html
        .split("action=\"/admin/categories/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a category form")
        .to_owned();
    let r = post(
        &c,
        &app,
        "/admin/categories",
        &[
            ("_csrf", t.as_str()),
            ("name", "Cups"),
            ("parent", kitchen.as_str()),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let cats: Value = app
        .get("/api/v1/categories")
        .await
        .json()
        .await
        .expect("json");
    let cups = cats["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|c| c["name"] == "Cups")
        .expect("cups")
        .clone();
    assert_eq!(
        cups["parent_id"].as_str(),
        Some(kitchen.as_str()),
        "created under Kitchen"
    );
    // Rename and move to the top; a stale version is refused.
    let id = cups["id"].as_str().expect("id");
    let v = cups["version"].to_string();
    let form = [
        ("_csrf", t.as_str()),
        ("name", "Mugs & cups"),
        ("slug", "mugs-cups"),
        ("parent", ""),
        ("position", "2"),
        ("version", v.as_str()),
    ];
    assert_eq!(
        post(&c, &app, &format!("/admin/categories/{id}"), &form)
            .await
            .status(),
        303
    );
    assert_eq!(
        post(&c, &app, &format!("/admin/categories/{id}"), &form)
            .await
            .status(),
        412
    );
    let (s, html) = page(&c, &app, "/categories/mugs-cups").await;
    assert_eq!(s, 200, "{html}");
    let r = post(
        &c,
        &app,
        &format!("/admin/categories/{id}/delete"),
        &[("_csrf", t.as_str())],
    )
    .await;
    assert!(r.text().await.expect("body").contains("Please confirm"));
    assert_eq!(
        post(
            &c,
            &app,
            &format!("/admin/categories/{id}/delete"),
            &[("_csrf", t.as_str()), ("confirm", "yes")]
        )
        .await
        .status(),
        303
    );
    assert_eq!(page(&c, &app, "/categories/mugs-cups").await.0, 404);
    // A collection with products by handle; an unknown handle is named with its line.
    let r = post(
        &c,
        &app,
        "/admin/collections",
        &[("_csrf", t.as_str()), ("title", "Summer")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let coll = location(&r);
    let (_, html) = page(&c, &app, &coll).await;
    let v = input(&html, "version");
    let r = post(
        &c,
        &app,
        &coll,
        &[
            ("_csrf", t.as_str()),
            ("title", "Summer"),
            ("slug", "summer"),
            ("version", v.as_str()),
            ("products", "product-coll\nno-such-thing"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("line 2: no product no-such-thing")
    );
    let r = post(
        &c,
        &app,
        &coll,
        &[
            ("_csrf", t.as_str()),
            ("title", "Summer"),
            ("slug", "summer"),
            ("version", v.as_str()),
            ("products", "product-coll"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, shop) = page(&browser(), &app, "/collections/summer").await;
    assert!(shop.contains("Product COLL"), "{shop}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_and_a_gift_card_made_in_the_admin_work_in_the_cart() {
    let app = TestApp::spawn().await;
    let (_, variants) = product(&app, "PROMO", 1, 5).await;
    let c = admin_browser(&app).await;
    let (_, html) = page(&c, &app, "/admin/promotions").await;
    let t = csrf(&html);
    let r = post(
        &c,
        &app,
        "/admin/promotions",
        &[
            ("_csrf", t.as_str()),
            ("name", "Ten off"),
            ("code", "TENOFF"),
            ("kind", "percentage"),
            ("value", "abc"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422, "a bad percentage is shown at the form");
    let r = post(
        &c,
        &app,
        "/admin/promotions",
        &[
            ("_csrf", t.as_str()),
            ("name", "Ten off"),
            ("code", "TENOFF"),
            ("kind", "percentage"),
            ("value", "10"),
            ("usage_limit", "5"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let promo = location(&r);
    let r = post(
        &c,
        &app,
        &format!("{promo}/codes"),
        &[("_csrf", t.as_str()), ("count", "3"), ("prefix", "VIP")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    let generated = html
        .split("<pre class=\"code\" id=\"generated\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .expect("codes shown");
    assert_eq!(
        generated.lines().filter(|l| l.starts_with("VIP")).count(),
        3
    );
    let csv = c
        .get(app.url(&format!("{promo}/codes.csv")))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("csv");
    assert!(generated.lines().all(|code| csv.contains(code)), "{csv}");
    let (_, form) = page(&c, &app, "/admin/gift-cards").await;
    let key = input(&form, "key");
    let issue = [
        ("_csrf", t.as_str()),
        ("key", key.as_str()),
        ("amount", "25.00"),
        ("note", "for Ann"),
    ];
    let r = post(&c, &app, "/admin/gift-cards", &issue).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    let code = html
        .split("<b id=\"issued-code\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("code shown once")
        .to_owned();
    assert_ne!(input(&html, "key"), key, "the next form has a new key");
    let (_, again) = page(&c, &app, "/admin/gift-cards").await;
    assert!(
        !again.contains(&code) && again.contains("for Ann"),
        "the code is not shown again"
    );
    // The same form sent again (a refresh, a double click) issues no second card.
    let r = post(&c, &app, "/admin/gift-cards", &issue).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    assert!(
        html.contains("Already issued") && !html.contains(&code),
        "{html}"
    );
    assert_eq!(html.matches("for Ann").count(), 1, "one card for Ann");
    // A shopper uses both.
    let shopper = browser();
    let (_, html) = page(&shopper, &app, "/products/product-promo").await;
    let st = csrf(&html);
    post(
        &shopper,
        &app,
        "/cart/items",
        &[("_csrf", st.as_str()), ("variant_id", variants[0].as_str())],
    )
    .await;
    assert_eq!(
        post(
            &shopper,
            &app,
            "/cart/discounts",
            &[("_csrf", st.as_str()), ("code", "tenoff")]
        )
        .await
        .status(),
        303
    );
    assert_eq!(
        post(
            &shopper,
            &app,
            "/cart/gift-cards",
            &[("_csrf", st.as_str()), ("code", code.as_str())]
        )
        .await
        .status(),
        303
    );
    let (_, cart) = page(&shopper, &app, "/cart").await;
    assert!(
        cart.contains("Ten off (TENOFF)") && cart.contains("−$1.00"),
        "10 % of $10.00: {cart}"
    );
    assert!(
        cart.contains("Gift cards</dt><dd>−$9.00"),
        "the card pays the rest: {cart}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_price_and_stock_grid_previews_then_applies_all_or_nothing() {
    let app = TestApp::spawn().await;
    let (pid, variants) = product(&app, "GRID", 2, 5).await;
    let c = admin_browser(&app).await;
    let (_, html) = page(&c, &app, "/admin/products/grid").await;
    let t = csrf(&html);
    let version = input(&html, &format!("version:{pid}"));
    let row = |v: &str| format!("row:{pid}/{v}");
    let base: Vec<(String, String)> = vec![
        ("_csrf".into(), t.clone()),
        (row(&variants[0]), "1".into()),
        (row(&variants[1]), "1".into()),
        (format!("version:{pid}"), version.clone()),
        (format!("price:{}", variants[0]), "10.00".into()),
        (format!("was_price:{}", variants[0]), "10.00".into()),
        (format!("price:{}", variants[1]), "15.50".into()),
        (format!("was_price:{}", variants[1]), "11.00".into()),
        (format!("on_hand:{}", variants[0]), "9".into()),
        (format!("was_on_hand:{}", variants[0]), "5".into()),
        (format!("on_hand:{}", variants[1]), "5".into()),
        (format!("was_on_hand:{}", variants[1]), "5".into()),
    ];
    let r = c
        .post(app.url("/admin/products/grid"))
        .form(&base)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    let preview = r.text().await.expect("body");
    assert!(
        preview.contains("<caption>2 changes</caption>")
            && preview.contains("<b>$15.50</b>")
            && preview.contains("<b>9</b>"),
        "{preview}"
    );
    let p: Value = app
        .get(&format!("/api/v1/products/{pid}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        p["variants"][1]["price"]["amount"], 1100,
        "nothing applied before confirming"
    );
    let mut apply = base.clone();
    apply.push(("confirm".into(), "yes".into()));
    let r = c
        .post(app.url("/admin/products/grid"))
        .form(&apply)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 303);
    let p: Value = app
        .get(&format!("/api/v1/products/{pid}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["variants"][1]["price"]["amount"], 1550);
    let s: Value = app
        .admin
        .get(app.url(&format!("/api/v1/admin/variants/{}/stock", variants[0])))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(s["on_hand"], 9);
    // The same confirmed form again carries the old version: nothing is applied.
    let mut stale = apply.clone();
    for (k, v) in &mut stale {
        if k == &format!("price:{}", variants[0]) {
            *v = "99.00".into();
        }
    }
    let r = c
        .post(app.url("/admin/products/grid"))
        .form(&stale)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 412);
    let p: Value = app
        .get(&format!("/api/v1/products/{pid}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["variants"][0]["price"]["amount"], 1000);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_shows_progress_then_every_refused_line_and_export_downloads() {
    let app = TestApp::spawn().await;
    let c = admin_browser(&app).await;
    let (_, html) = page(&c, &app, "/admin/import").await;
    let t = csrf(&html);
    let csv = "Handle,Title,Option1 Name,Option1 Value,Variant SKU,Variant Price,Variant Inventory Qty,Status\n\
               tea-pot,Tea Pot,Title,Default Title,TP-1,24.00,7,active\n\
               bad-price,Bad Price,Title,Default Title,BP-1,cheap,1,active\n";
    let part = |t: &str| {
        reqwest::multipart::Form::new()
            .text("_csrf", t.to_owned())
            .text("currency", "USD")
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
                    .file_name("products.csv")
                    .mime_str("text/csv")
                    .expect("mime"),
            )
    };
    let r = c
        .post(app.url("/admin/import"))
        .multipart(part("wrong"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 403, "the upload checks its CSRF token");
    let r = c
        .post(app.url("/admin/import"))
        .multipart(part(&t))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 303);
    let progress = location(&r);
    let report = crate::common::eventually(std::time::Duration::from_secs(20), || {
        let c = c.clone();
        let url = app.url(&progress);
        async move {
            let html = c.get(url).send().await.ok()?.text().await.ok()?;
            html.contains("id=\"import-report\"").then_some(html)
        }
    })
    .await
    .expect("the import finishes");
    assert!(
        report.contains("<dd id=\"created\">1</dd>") && report.contains("<dd id=\"failed\">1</dd>"),
        "{report}"
    );
    assert!(
        report.contains("<th scope=\"row\">3</th><td>bad-price</td>"),
        "the refused line by number: {report}"
    );
    let s: Value = app
        .get("/api/v1/products/tea-pot")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(s["variants"][0]["price"]["amount"], 2400);
    let r = c
        .get(app.url("/admin/export.csv"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    assert!(r.text().await.expect("csv").contains("tea-pot,Tea Pot"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_settings_are_for_admins_and_show_no_secret_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = crate::common::test_config(&dir.path().join("data"));
    cfg.webhooks.allow_private_targets = true;
    let app = TestApp::spawn_with(cfg, None).await;
    let receiver =
        crate::webhooks::Receiver::start(crate::common::free_port(), &dir.path().join("hooks"));
    let c = admin_browser(&app).await;
    let (_, html) = page(&c, &app, "/admin/webhooks").await;
    let t = csrf(&html);
    let url = receiver.url();
    let key = input(&html, "key");
    let form = [
        ("_csrf", t.as_str()),
        ("key", key.as_str()),
        ("url", url.as_str()),
        ("event", "order.created"),
    ];
    let r = post(&c, &app, "/admin/webhooks", &form).await;
    assert_eq!(r.status(), 200);
    // Sent again, the same form adds no second endpoint and shows no secret.
    let again = post(&c, &app, "/admin/webhooks", &form).await;
    let again = again.text().await.expect("body");
    assert!(
        again.contains("Already added") && !again.contains("whsec_"),
        "{again}"
    );
    assert_eq!(
        app.admin
            .get(app.url("/api/v1/admin/webhook-endpoints"))
            .send()
            .await
            .expect("GET")
            .json::<Value>()
            .await
            .expect("json")
            .as_array()
            .expect("list")
            .len(),
        1
    );
    let html = r.text().await.expect("body");
    let secret = html
        .split("<code id=\"secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("secret shown")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    let (_, list) = page(&c, &app, "/admin/webhooks").await;
    assert!(!list.contains(&secret), "shown once");
    let endpoint = list
        .split("href=\"/admin/webhooks/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("endpoint")
        .to_owned();
    let (_, variants) = product(&app, "HOOK", 1, 5).await;
    buy(&browser(), &app, "/products/product-hook", &variants[0]).await;
    let log = crate::common::eventually(std::time::Duration::from_secs(20), || {
        let (c, u) = (c.clone(), app.url(&format!("/admin/webhooks/{endpoint}")));
        async move {
            let html = c.get(u).send().await.ok()?.text().await.ok()?;
            html.contains("<td>delivered</td>").then_some(html)
        }
    })
    .await
    .expect("a delivered order.created in the log");
    assert!(
        log.contains("order.created") && log.contains("200 in"),
        "{log}"
    );
    assert_eq!(
        receiver.verify(&secret).len(),
        receiver.received().len(),
        "the receiver verified what the log shows"
    );
    let (s, settings) = page(&c, &app, "/admin/settings").await;
    assert_eq!(s, 200);
    assert!(settings.contains("payments.provider") && !settings.contains(&secret));
    // Staff see neither page.
    let sam = browser();
    let (_, html) = page(&sam, &app, "/account/register").await;
    post(
        &sam,
        &app,
        "/account/register",
        &[
            ("_csrf", csrf(&html).as_str()),
            ("name", "Sam"),
            ("email", "sam@example.com"),
            ("password", "correct horse battery staple"),
        ],
    )
    .await;
    let sam_id = app
        .auth
        .customer_id_by_email("sam@example.com")
        .expect("read")
        .expect("sam")
        .to_string();
    let (_, html) = page(&c, &app, &format!("/admin/customers/{sam_id}")).await;
    post(
        &c,
        &app,
        &format!("/admin/customers/{sam_id}/role"),
        &[
            ("_csrf", csrf(&html).as_str()),
            ("role", "staff"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(page(&sam, &app, "/admin/webhooks").await.0, 403);
    assert_eq!(page(&sam, &app, "/admin/settings").await.0, 403);
    let (_, dash) = page(&sam, &app, "/admin").await;
    assert!(
        !dash.contains("href=\"/admin/webhooks\""),
        "staff are not shown admin-only sections"
    );
    app.stop().await;
}
