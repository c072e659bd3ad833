//! The storefront's pages over real HTTP, as a browser without JavaScript uses them: a crawl
//! of the demo shop, the sitemap, forms with their CSRF tokens, hostile data shown as text,
//! the security headers, page sessions and the themed error page. (The browser suite drives
//! headless Chromium through the same pages.)

use std::collections::{BTreeSet, HashSet, VecDeque};

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::pages::{
    attrs, browser, csrf, input, location, page, post, post_forms, unescape,
};
use crate::common::shop::{product, usd};

/// Every active product's slug, through the API.
async fn active_slugs(app: &TestApp) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let page: Value = app
            .get(&format!("/api/v1/products?per_page=100{q}"))
            .await
            .json()
            .await
            .expect("json");
        for p in page["data"].as_array().expect("data") {
            if p["status"] == "active" {
                out.insert(p["slug"].as_str().expect("slug").to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) if page["has_more"] == true => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_without_javascript_reaches_every_demo_page() {
    let app = TestApp::spawn_demo().await;
    let c = browser();
    let mut queue = VecDeque::from(["/".to_owned()]);
    let mut seen: HashSet<String> = queue.iter().cloned().collect();
    let (mut products, mut categories, mut collections) = (BTreeSet::new(), 0, 0);
    let mut fetched = 0;
    while let Some(path) = queue.pop_front() {
        fetched += 1;
        assert!(
            fetched < 3_000,
            "the crawl must end: {} pages queued",
            queue.len()
        );
        let (status, html) = page(&c, &app, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            html.contains("<title>") && !html.contains("<title></title>"),
            "{path} has a title"
        );
        assert!(
            html.contains("<link rel=\"canonical\" href=\"http"),
            "{path} has a canonical URL"
        );
        assert!(
            !html.contains("undefined") && !html.contains("template error"),
            "{path} rendered whole"
        );
        if let Some(slug) = path.strip_prefix("/products/") {
            products.insert(slug.to_owned());
            assert!(
                html.contains("application/ld+json") && html.contains("\"@type\":\"Product\""),
                "{path} has JSON-LD"
            );
        }
        categories += usize::from(path.starts_with("/categories/") && !path.contains('?'));
        collections += usize::from(path.starts_with("/collections/") && !path.contains('?'));
        for href in attrs(&html, "href") {
            // Browsing links only: listings and their page numbers, not facets or sort orders.
            let browsable = ["/products/", "/categories/", "/collections/"]
                .iter()
                .any(|p| href.starts_with(p))
                && (!href.contains('?')
                    || href
                        .split_once('?')
                        .is_some_and(|(_, q)| q.starts_with("page=") && !q.contains('&')));
            if browsable && seen.insert(href.clone()) {
                queue.push_back(href);
            }
        }
    }
    let active = active_slugs(&app).await;
    assert_eq!(active.len(), 300, "the demo shop's products are all active");
    assert_eq!(
        products, active,
        "every demo product is reached by following links"
    );
    let cats: Value = app
        .get("/api/v1/categories")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        categories,
        cats["data"].as_array().expect("data").len(),
        "every category page"
    );
    assert_eq!(collections, 2, "both demo collections");
    // A category page lists what its subcategories hold.
    let count = |html: &str| {
        html.split("role=\"status\">")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .expect("a product count")
    };
    let all = cats["data"].as_array().expect("data");
    let root = all
        .iter()
        .find(|c| c["parent_id"].is_null())
        .expect("a root");
    let mut below = 0;
    for child in all.iter().filter(|c| c["parent_id"] == root["id"]) {
        below += count(
            &page(
                &c,
                &app,
                &format!("/categories/{}", child["slug"].as_str().expect("slug")),
            )
            .await
            .1,
        );
    }
    let (_, html) = page(
        &c,
        &app,
        &format!("/categories/{}", root["slug"].as_str().expect("slug")),
    )
    .await;
    assert!(below > 0);
    assert_eq!(
        count(&html),
        below,
        "the root category holds its children's products"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sitemap_lists_exactly_the_active_products() {
    let app = TestApp::spawn_demo().await;
    let c = browser();
    // One product drafted, one unlisted: neither belongs in a sitemap.
    let two: Value = app
        .get("/api/v1/products?per_page=2")
        .await
        .json()
        .await
        .expect("json");
    for (p, status) in two["data"]
        .as_array()
        .expect("data")
        .iter()
        .zip(["draft", "unlisted"])
    {
        let id = p["id"].as_str().expect("id");
        let r = app
            .admin
            .post(app.url("/api/v1/admin/products/bulk-status"))
            .json(&json!({"ids": [id], "status": status}))
            .send()
            .await
            .expect("bulk");
        assert_eq!(r.status(), 200, "{status}");
    }
    let (s, index) = page(&c, &app, "/sitemap.xml").await;
    assert_eq!(s, 200);
    assert!(index.starts_with("<?xml") && index.contains("<sitemapindex"));
    let mut listed = BTreeSet::new();
    for file in index
        .split("<loc>")
        .skip(1)
        .filter_map(|x| x.split_once("</loc>"))
        .map(|(u, _)| unescape(u))
    {
        let path = file
            .split_once("127.0.0.1")
            .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
            .expect("path");
        let (s, xml) = page(&c, &app, &path).await;
        assert_eq!(s, 200, "{path}");
        for loc in xml
            .split("<loc>")
            .skip(1)
            .filter_map(|x| x.split_once("</loc>"))
            .map(|(u, _)| unescape(u))
        {
            if let Some((_, slug)) = loc.split_once("/products/") {
                assert!(listed.insert(slug.to_owned()), "{slug} listed once");
            }
        }
    }
    let active = active_slugs(&app).await;
    assert_eq!(active.len(), 298);
    assert_eq!(listed, active);
    let (s, robots) = page(&c, &app, "/robots.txt").await;
    assert_eq!(s, 200);
    assert!(
        robots.contains("Disallow: /admin") && robots.contains("Sitemap: http"),
        "{robots}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_refuses_a_post_without_its_token_or_from_another_site() {
    let app = TestApp::spawn().await;
    let (pid, variants) = product(&app, "CSRF", 2, 5).await;
    let c = browser();
    let (_, html) = page(&c, &app, &format!("/products/{pid}")).await;
    assert!(html.is_empty(), "an id redirects to the slug");
    let (_, html) = page(&c, &app, "/products/product-csrf").await;
    let token = csrf(&html);
    let r = post(
        &c,
        &app,
        "/cart/items",
        &[
            ("_csrf", &token),
            ("variant_id", &variants[0]),
            ("quantity", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post(
        &c,
        &app,
        "/cart/discounts",
        &[("_csrf", &token), ("code", "NOPE")],
    )
    .await;
    assert_eq!(r.status(), 422, "a refused code is shown at its field");
    let mut actions = BTreeSet::new();
    for path in [
        "/products/product-csrf",
        "/cart",
        "/checkout",
        "/account/sign-in",
        "/account/register",
        "/reset-password",
        "/reset-password?token=x",
        "/verify-email?token=x",
    ] {
        let (s, html) = page(&c, &app, path).await;
        assert_eq!(s, 200, "{path}");
        actions.extend(post_forms(&html));
    }
    for expected in [
        "/cart/items",
        "/cart/discounts",
        "/cart/gift-cards",
        "/checkout",
        "/account/sign-in",
        "/account/register",
        "/reset-password",
        "/reset-password/request",
        "/verify-email",
    ] {
        assert!(actions.contains(expected), "{expected} in {actions:?}");
    }
    assert!(actions.iter().any(|a| a.starts_with("/cart/lines/")));
    for action in &actions {
        let r = post(
            &c,
            &app,
            action,
            &[("code", "X"), ("quantity", "0"), ("email", "a@b.c")],
        )
        .await;
        assert_eq!(r.status(), 403, "{action} without a token");
        assert!(
            r.text()
                .await
                .expect("body")
                .contains("data-code=\"csrf_failed\""),
            "{action}"
        );
        let r = c
            .post(app.url(action))
            .header("Origin", "https://evil.example")
            .form(&[("_csrf", token.as_str()), ("quantity", "0")])
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 403, "{action} from another site");
    }
    // Nothing those posts tried happened: the cart still holds its one line.
    let (_, cart) = page(&c, &app, "/cart").await;
    assert_eq!(cart.matches("name=\"quantity\"").count(), 1, "{cart}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_data_is_shown_as_text_on_every_page() {
    const XSS: &str = "<script>alert(1)</script>";
    let app = TestApp::spawn().await;
    let cat: Value = app
        .admin_post_json(
            "/api/v1/admin/categories",
            &json!({"name": format!("Cat {XSS}"), "slug": "hostile"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let r = app.admin_post_json("/api/v1/admin/products", &json!({
        "title": format!("Mug {XSS}"), "slug": "hostile-mug", "status": "active",
        "description": format!("<p onmouseover=\"alert(2)\">Nice</p>{XSS}<img src=x onerror=alert(3)><a href=\"javascript:alert(4)\">x</a>"),
        "vendor": XSS, "tags": [XSS], "attributes": {"Material": XSS},
        "category_ids": [cat["id"]],
        "options": [{"name": format!("Size{XSS}"), "values": [XSS]}],
        "variants": [{"sku": "XSS-1", "option_values": [XSS], "price": usd(1200)}]})).await;
    assert_eq!(r.status(), 201);
    let p: Value = r.json().await.expect("json");
    crate::common::shop::set_stock(&app, p["variants"][0]["id"].as_str().expect("id"), 10).await;
    let c = browser();
    let (_, html) = page(&c, &app, "/products/hostile-mug").await;
    let token = csrf(&html);
    let r = post(
        &c,
        &app,
        "/account/register",
        &[
            ("_csrf", &token),
            ("name", &format!("Eve {XSS}")),
            ("email", "eve@example.com"),
            ("password", "correct horse battery staple"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "registered and signed in");
    let r = post(
        &c,
        &app,
        "/cart/items",
        &[
            ("_csrf", &token),
            ("variant_id", p["variants"][0]["id"].as_str().expect("id")),
            ("quantity", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let q = format!("/search?q={}", urlencode(XSS));
    let mut shown = 0;
    for path in [
        "/",
        "/products/hostile-mug",
        "/categories/hostile",
        q.as_str(),
        "/search?q=mug",
        "/cart",
        "/checkout",
        "/account",
        "/nope-not-here",
    ] {
        let (_, html) = page(&c, &app, path).await;
        for bad in [
            XSS,
            "onmouseover",
            "onerror",
            "javascript:alert",
            "<img src=x",
        ] {
            assert!(!html.contains(bad), "{path} shows {bad} as markup");
        }
        if html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") {
            shown += 1;
        }
    }
    assert!(
        shown >= 7,
        "the hostile text is shown, escaped, on the pages that carry it ({shown})"
    );
    // The admin shows the same data, escaped too.
    let staff = browser();
    crate::common::pages::sign_in(
        &staff,
        &app,
        crate::common::ADMIN_EMAIL,
        crate::common::ADMIN_PASSWORD,
    )
    .await;
    let pid = p["id"].as_str().expect("id");
    let eve = app
        .auth
        .customer_id_by_email("eve@example.com")
        .expect("read")
        .expect("eve");
    let mut shown = 0;
    for path in [
        "/admin/customers".to_owned(),
        format!("/admin/customers/{eve}"),
        "/admin/products".into(),
        format!("/admin/products/{pid}"),
        "/admin/products?q=XSS-1".into(),
    ] {
        let (s, html) = page(&staff, &app, &path).await;
        assert_eq!(s, 200, "{path}");
        // The edit form shows the description's source as text; markup must not get through.
        for bad in [XSS, "<p onmouseover", "<img src=x"] {
            assert!(!html.contains(bad), "{path} shows {bad} as markup");
        }
        shown += usize::from(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
    assert_eq!(shown, 5, "every admin page shows the hostile text as text");
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_a_strict_policy_and_no_inline_script_or_style() {
    let app = TestApp::spawn_demo().await;
    let c = browser();
    for path in [
        "/",
        "/search?q=mug",
        "/cart",
        "/account/sign-in",
        "/collections/featured",
        "/missing",
    ] {
        let r = c.get(app.url(path)).send().await.expect("GET");
        let h = r.headers().clone();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'")
                && csp.contains("style-src 'self'")
                && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(
            h.get("x-frame-options").and_then(|v| v.to_str().ok()),
            Some("DENY")
        );
        let html = r.text().await.expect("body");
        assert!(
            !html.contains(" style=\"") && !html.contains("<style"),
            "{path} has inline style"
        );
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..i + html[i..].find('>').expect("tag end")];
            assert!(
                tag.contains(" src=\"/assets/") || tag.contains("application/ld+json"),
                "{path}: inline script {tag}"
            );
        }
    }
    // Forwarding headers from a client that is no trusted proxy cannot rename the site.
    for path in ["/", "/sitemap.xml", "/robots.txt"] {
        let body = c
            .get(app.url(path))
            .header("X-Forwarded-Host", "evil.example")
            .header("X-Forwarded-Proto", "https")
            .header("Forwarded", "host=evil.example;proto=https")
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        assert!(
            !body.contains("evil.example") && body.contains("http://127.0.0.1:"),
            "{path}: {body}"
        );
    }
    // Assets: content-hashed names cached for a year; the name changes with the content.
    let (_, html) = page(&c, &app, "/").await;
    let css = attrs(&html, "href")
        .into_iter()
        .find(|h| h.ends_with(".css"))
        .expect("stylesheet");
    assert!(
        css.starts_with("/assets/shopd.") && css.len() > "/assets/shopd..css".len() + 6,
        "{css}"
    );
    let r = c.get(app.url(&css)).send().await.expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/css")
    );
    let etag = r.headers().get("etag").expect("etag").clone();
    let r = c
        .get(app.url(&css))
        .header("If-None-Match", etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 304);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_theme_folder_restyles_the_shop_without_a_rebuild() {
    let temp = tempfile::tempdir().expect("tempdir");
    let theme = temp.path().join("theme");
    std::fs::create_dir_all(theme.join("templates")).expect("mkdir");
    std::fs::create_dir_all(theme.join("assets")).expect("mkdir");
    std::fs::write(theme.join("assets/shopd.css"), "body{background:#fdf6e3}").expect("css");
    std::fs::write(theme.join("templates/error.html"), "{% extends \"base.html\" %}{% block content %}<h1 id=\"themed\">Lost? {{ code }}</h1>{% endblock %}").expect("tpl");
    let app = TestApp::spawn_in(temp.path(), None).await;
    let c = browser();
    let (s, html) = page(&c, &app, "/no-such-page").await;
    assert_eq!(s, 404);
    assert!(
        html.contains("<h1 id=\"themed\">Lost? not_found</h1>"),
        "{html}"
    );
    let css = attrs(&html, "href")
        .into_iter()
        .find(|h| h.ends_with(".css"))
        .expect("stylesheet");
    let body = c
        .get(app.url(&css))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("css");
    assert_eq!(body, "body{background:#fdf6e3}");
    // The API's errors stay problem+json whatever the theme.
    let r = app.get("/api/v1/nope").await;
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_session_starts_at_sign_in_and_ends_at_sign_out() {
    let app = TestApp::spawn().await;
    let c = browser();
    let (s, html) = page(&c, &app, "/account").await;
    assert_eq!(s, 303, "{html}");
    let (_, html) = page(&c, &app, "/account/sign-in?next=/account").await;
    let token = csrf(&html);
    let r = post(
        &c,
        &app,
        "/account/sign-in",
        &[
            ("_csrf", &token),
            ("email", crate::common::ADMIN_EMAIL),
            ("password", "wrong password here"),
            ("next", "/account"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("aria-describedby=\"e-password\"")
    );
    let r = post(
        &c,
        &app,
        "/account/sign-in",
        &[
            ("_csrf", &token),
            ("email", crate::common::ADMIN_EMAIL),
            ("password", crate::common::ADMIN_PASSWORD),
            ("next", "//evil.example/"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account", "never sent off-site");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("shopd_session="))
        .expect("session cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let (s, html) = page(&c, &app, "/account").await;
    assert_eq!(s, 200);
    assert!(
        html.contains("Test Admin") && html.contains("href=\"/admin\""),
        "staff see the admin link"
    );
    let token = csrf(&html);
    let r = post(&c, &app, "/account/sign-out", &[("_csrf", &token)]).await;
    assert_eq!(r.status(), 303);
    // The old cookie, replayed, is signed out: the session was revoked, not just forgotten.
    let raw = cookie.split(';').next().expect("pair").to_owned();
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(app.url("/account"))
        .header("Cookie", raw)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 303);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_buys_with_javascript_off_and_retries_a_declined_card() {
    let app = TestApp::spawn().await;
    let (_, variants) = product(&app, "GUEST", 2, 5).await;
    let c = browser();
    let (_, html) = page(&c, &app, "/products/product-guest").await;
    let token = csrf(&html);
    post(
        &c,
        &app,
        "/cart/items",
        &[
            ("_csrf", &token),
            ("variant_id", &variants[1]),
            ("quantity", "2"),
        ],
    )
    .await;
    let (_, html) = page(&c, &app, "/checkout").await;
    let key = input(&html, "key");
    let mut form = vec![
        ("_csrf", token.as_str()),
        ("key", key.as_str()),
        ("email", "guest@example.com"),
        ("name", "Gus"),
        ("line1", "1 Main St"),
        ("city", "Springfield"),
        ("postal_code", "62701"),
        ("country", "US"),
        ("action", "place"),
    ];
    let r = post(&c, &app, "/checkout", &form).await;
    assert_eq!(r.status(), 303);
    let pay = location(&r);
    assert!(pay.ends_with("/pay"), "{pay}");
    // The same form sent again (a double click) places no second order.
    form.retain(|(k, _)| *k != "action");
    let again = post(&c, &app, "/checkout", &form).await;
    assert_eq!(location(&again), pay);
    let r = post(
        &c,
        &app,
        &pay,
        &[
            ("_csrf", &token),
            ("card_number", "4000 0000 0000 0002"),
            ("expiry", "12/34"),
            ("cvc", "123"),
        ],
    )
    .await;
    assert_eq!(r.status(), 402);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Your card was declined")
    );
    let r = post(
        &c,
        &app,
        &pay,
        &[
            ("_csrf", &token),
            ("card_number", "4242 4242 4242 4242"),
            ("expiry", "12/34"),
            ("cvc", "123"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let order = location(&r);
    let (s, html) = page(&c, &app, &order).await;
    assert_eq!(s, 200);
    assert!(html.contains("data-status=\"paid\""), "{html}");
    // Another visitor cannot see it; the link in the order's mails can.
    let (s, _) = page(&browser(), &app, &order).await;
    assert_eq!(s, 404);
    let key = std::fs::read_to_string(app.data_dir.join("secrets/order-links.key")).expect("key");
    let id = shopd::core::OrderId::parse(order.trim_start_matches("/orders/")).expect("id");
    let link = format!(
        "{order}?key={}",
        shopd::domain::orders::link_token(key.trim().as_bytes(), id)
    );
    let other = browser();
    let r = other.get(app.url(&link)).send().await.expect("GET");
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), order, "the link leaves the address bar");
    let (s, html) = page(&other, &app, &order).await;
    assert_eq!(s, 200);
    assert!(html.contains("data-status=\"paid\""));
    let mut forged = link.clone();
    forged.pop();
    forged.push(if link.ends_with('0') { '1' } else { '0' });
    assert_eq!(
        page(&browser(), &app, &forged).await.0,
        404,
        "an altered link opens nothing"
    );
    let elsewhere = format!(
        "/orders/ord_01M7Q5CQG0ZZZZZZZZZZZZZZZZ?{}",
        link.split_once('?').expect("query").1
    );
    assert_eq!(
        page(&browser(), &app, &elsewhere).await.0,
        404,
        "a link opens its own order only"
    );
    app.stop().await;
}

/// A guest's order placed through the pages of a Stripe shop; the payment page's answer.
async fn stripe_pay_page(
    mode: &str,
    key: &str,
) -> (
    TestApp,
    reqwest::Response,
    String,
    crate::stripe::StripeApi,
    tempfile::TempDir,
    reqwest::Client,
) {
    let api = crate::stripe::StripeApi::start();
    let temp = tempfile::tempdir().expect("tempdir");
    let mut cfg = crate::common::test_config(temp.path());
    cfg.payments.provider = "stripe".into();
    cfg.payments_stripe.secret_key = shopd::config::Secret::new("sk_test_shopd");
    cfg.payments_stripe.api_base = api.base();
    cfg.payments_stripe.mode = mode.into();
    cfg.payments_stripe.publishable_key = key.into();
    let app = TestApp::spawn_with(cfg, None).await;
    let (_, variants) = product(&app, "STRIPE", 1, 5).await;
    let c = browser();
    let (_, html) = page(&c, &app, "/products/product-stripe").await;
    let token = csrf(&html);
    post(
        &c,
        &app,
        "/cart/items",
        &[
            ("_csrf", token.as_str()),
            ("variant_id", variants[0].as_str()),
        ],
    )
    .await;
    let (_, html) = page(&c, &app, "/checkout").await;
    let key_field = input(&html, "key");
    let r = post(
        &c,
        &app,
        "/checkout",
        &[
            ("_csrf", token.as_str()),
            ("key", key_field.as_str()),
            ("email", "s@example.com"),
            ("name", "S"),
            ("line1", "1 St"),
            ("city", "X"),
            ("postal_code", "1"),
            ("country", "US"),
        ],
    )
    .await;
    let pay = location(&r);
    assert!(pay.ends_with("/pay"), "{pay}");
    let order = pay.trim_end_matches("/pay").to_owned();
    let r = c.get(app.url(&pay)).send().await.expect("GET");
    // Coming back from Stripe refreshes the payment and lands on the order's own address.
    let back = c
        .get(app.url(&format!("{order}?paid=1")))
        .send()
        .await
        .expect("GET");
    assert_eq!(back.status(), 303);
    assert_eq!(location(&back), order);
    (app, r, order, api, temp, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_checkout_is_a_link_and_the_payment_element_the_only_third_party_script() {
    let (app, r, _, _api, _t, _) = stripe_pay_page("checkout", "").await;
    assert_eq!(
        r.headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok()),
        Some(shopd::pages::CSP)
    );
    let html = r.text().await.expect("body");
    let link = html
        .split("id=\"stripe-checkout\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a link to Stripe Checkout");
    assert!(
        link.starts_with("https://checkout.stripe.com/c/pay/cs_test_"),
        "{link}"
    );
    assert!(
        !html.contains("js.stripe.com"),
        "no Stripe script for a redirect"
    );
    app.stop().await;

    let (app, r, order, api, _t, c) = stripe_pay_page("payment_intents", "pk_test_shopd").await;
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(csp, shopd::pages::CSP_STRIPE);
    let html = r.text().await.expect("body");
    assert!(
        html.contains("<script src=\"https://js.stripe.com/v3/\"></script>")
            && html.contains("data-key=\"pk_test_shopd\"")
            && html.contains("data-client-secret=\"pi_"),
        "{html}"
    );
    let scripts: Vec<&str> = html
        .match_indices("<script")
        .map(|(i, _)| &html[i..i + html[i..].find('>').unwrap_or(0)])
        .collect();
    assert!(
        scripts.iter().all(
            |s| s.contains("src=\"/assets/") || s.contains("src=\"https://js.stripe.com/v3/\"")
        ),
        "{scripts:?}"
    );
    // The customer pays in Stripe's element and Stripe sends them back: the order page asks
    // Stripe at once and shows the order paid, before any webhook.
    let secret = html
        .split("data-client-secret=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("secret");
    let pi = secret.split("_secret").next().expect("intent id");
    let o: Value = app
        .admin
        .get(app.url(&format!("/api/v1/admin{order}")))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let total = o["totals"]["total"]["amount"].as_i64().expect("total");
    api.control(
        &format!("intents/{pi}"),
        &json!({"status": "succeeded", "amount_received": total, "latest_charge": "ch_page"}),
    )
    .await;
    let (_, before) = page(&c, &app, &order).await;
    assert!(
        before.contains("data-status=\"pending_payment\""),
        "not paid before the return"
    );
    let r = c
        .get(app.url(&format!(
            "{order}?payment_intent={pi}&redirect_status=succeeded"
        )))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 303);
    let (_, after) = page(&c, &app, &order).await;
    assert!(after.contains("data-status=\"paid\""), "{after}");
    // Every other page keeps the strict policy.
    let home = app.get("/").await;
    assert_eq!(
        home.headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok()),
        Some(shopd::pages::CSP)
    );
    app.stop().await;

    let (app, r, _, _api, _t, _) = stripe_pay_page("payment_intents", "").await;
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Card payments are not set up yet")
    );
    app.stop().await;
}
