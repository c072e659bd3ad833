//! Tax and shipping settings in the admin over real HTTP: the forms fill the API's own inputs,
//! so what staff save is what the API shows, a bad value is refused with what was typed kept,
//! and deleting a zone asks first.

use serde_json::Value;

use crate::common::pages::{browser, csrf, input, location, page, post, sign_in};
use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

async fn api(app: &TestApp, path: &str) -> Value {
    app.admin
        .get(app.url(path))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_keep_tax_zones_categories_and_settings() {
    let app = TestApp::spawn().await;
    let staff = browser();
    sign_in(&staff, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (s, html) = page(&staff, &app, "/admin/tax").await;
    assert_eq!(s, 200);
    let token = csrf(&html);

    // A category of the shop's own, then a zone with rates for it and for `reduced`.
    let r = post(
        &staff,
        &app,
        "/admin/tax/categories",
        &[("_csrf", &token), ("key", "books"), ("name", "Books")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let form = [
        ("_csrf", token.as_str()),
        ("name", "Germany"),
        ("areas", "DE\nAT | | 6691"),
        ("rate:standard", "19"),
        ("rate:reduced", "7"),
        ("rate:books", "lots"),
        ("shipping_tax", "proportional"),
    ];
    let r = post(&staff, &app, "/admin/tax/zones/new", &form).await;
    assert_eq!(r.status(), 422, "a rate that is not a number");
    let html = r.text().await.expect("body");
    assert!(html.contains("percentages such as 19"), "{html}");
    assert_eq!(input(&html, "rate:books"), "lots", "typed values are kept");
    let mut form = form;
    form[5] = ("rate:books", "5.5");
    let r = post(&staff, &app, "/admin/tax/zones/new", &form).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let zones = api(&app, "/api/v1/admin/tax-zones").await;
    let z = &zones["data"][0];
    assert_eq!(z["name"], "Germany");
    assert_eq!(z["areas"][1]["postal_prefixes"][0], "6691");
    assert_eq!(z["shipping_tax"], "proportional");
    let rates: Vec<(String, String)> = z["rates"]
        .as_array()
        .expect("rates")
        .iter()
        .map(|r| {
            (
                r["category"].as_str().expect("c").into(),
                r["rate"].as_str().expect("r").into(),
            )
        })
        .collect();
    assert!(rates.contains(&("books".into(), "5.5".into())), "{rates:?}");
    assert!(rates.contains(&("standard".into(), "19".into())));
    let id = z["id"].as_str().expect("id").to_owned();

    // The edit form shows the stored zone; a change is saved.
    let path = format!("/admin/tax/zones/{id}");
    let (_, html) = page(&staff, &app, &path).await;
    assert_eq!(input(&html, "rate:reduced"), "7");
    let mut edit = form;
    edit[3] = ("rate:standard", "20");
    let r = post(&staff, &app, &path, &edit).await;
    assert_eq!(r.status(), 303);
    let z = api(&app, &format!("/api/v1/admin/tax-zones/{id}")).await;
    assert!(
        z["rates"]
            .as_array()
            .expect("rates")
            .iter()
            .any(|r| r["category"] == "standard" && r["rate"] == "20")
    );

    // Settings: inclusive prices with this zone as home.
    let r = post(
        &staff,
        &app,
        "/admin/tax/settings",
        &[
            ("_csrf", &token),
            ("prices_include_tax", "1"),
            ("rounding", "per_total"),
            ("home_zone_id", &id),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let settings = api(&app, "/api/v1/admin/tax-settings").await;
    assert_eq!(settings["prices_include_tax"], true);
    assert_eq!(settings["rounding"], "per_total");
    assert_eq!(settings["home_zone_id"], id.as_str());

    // Deleting asks first; the home zone is refused with the rules' reason.
    let delete = format!("{path}/delete");
    let r = post(&staff, &app, &delete, &[("_csrf", &token)]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("Please confirm"));
    let r = post(
        &staff,
        &app,
        &delete,
        &[("_csrf", &token), ("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), 422, "the home zone stays");
    assert!(
        r.text().await.expect("body").contains("home"),
        "the reason is shown"
    );
    let r = post(
        &staff,
        &app,
        "/admin/tax/settings",
        &[
            ("_csrf", &token),
            ("rounding", "per_line"),
            ("home_zone_id", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post(
        &staff,
        &app,
        &delete,
        &[("_csrf", &token), ("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/tax?done=deleted");
    let zones = api(&app, "/api/v1/admin/tax-zones").await;
    assert_eq!(zones["data"].as_array().expect("data").len(), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_keep_shipping_zones_and_their_methods() {
    let app = TestApp::spawn().await;
    let staff = browser();
    sign_in(&staff, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (s, html) = page(&staff, &app, "/admin/shipping/zones/new").await;
    assert_eq!(s, 200);
    let token = csrf(&html);
    let form = [
        ("_csrf", token.as_str()),
        ("name", "Germany"),
        ("areas", "DE"),
        ("code:0", "standard"),
        ("name:0", "Standard"),
        ("kind:0", "free_over"),
        ("price:0", "4.95"),
        ("threshold:0", "50"),
        ("code:1", "freight"),
        ("name:1", "Freight"),
        ("kind:1", "weight"),
        ("brackets:1", "1000: 9.95\n5000: 19.95"),
        ("max_weight:1", "5000"),
        ("code:2", "pickup"),
        ("name:2", "Pick up in Berlin"),
        ("kind:2", "flat"),
        ("price:2", "0"),
        ("pickup:2", "1"),
    ];
    let r = post(&staff, &app, "/admin/shipping/zones/new", &form).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let zones = api(&app, "/api/v1/admin/shipping-zones").await;
    let z = zones["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|z| z["name"] == "Germany")
        .expect("the zone")
        .clone();
    let m = z["methods"].as_array().expect("methods");
    assert_eq!(m.len(), 3);
    assert_eq!(m[0]["rate"]["type"], "free_over");
    assert_eq!(m[0]["rate"]["threshold"]["amount"], 5000);
    assert_eq!(m[1]["rate"]["brackets"][1]["up_to_grams"], 5000);
    assert_eq!(m[1]["conditions"]["max_weight_grams"], 5000);
    assert_eq!(m[2]["pickup"], true);
    let id = z["id"].as_str().expect("id");
    let kept = m[0]["id"].clone();

    // The edit form reads back what was saved; a method removed and another renamed keeps
    // the renamed one's id.
    let path = format!("/admin/shipping/zones/{id}");
    let (_, html) = page(&staff, &app, &path).await;
    assert_eq!(input(&html, "threshold:0"), "50.00");
    assert!(html.contains("1000: 9.95\n5000: 19.95"));
    let mut edit = form.to_vec();
    edit[4] = ("name:0", "Standard (DHL)");
    edit.push(("remove:1", "1"));
    let r = post(&staff, &app, &path, &edit).await;
    assert_eq!(r.status(), 303);
    let z = api(&app, &format!("/api/v1/admin/shipping-zones/{id}")).await;
    let m = z["methods"].as_array().expect("methods");
    assert_eq!(m.len(), 2);
    assert_eq!(m[0]["name"], "Standard (DHL)");
    assert_eq!(m[0]["id"], kept, "the method keeps its id");

    // A bracket that cannot be read is shown with what was typed.
    let mut bad = form.to_vec();
    bad[11] = ("brackets:1", "heavy: lots");
    bad.retain(|(k, _)| *k != "pickup:2");
    let r = post(&staff, &app, &path, &bad).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("body");
    assert!(html.contains("limit: price"));
    assert!(html.contains("heavy: lots"));
    assert!(
        html.contains("name=\"pickup:2\" value=\"1\" aria-label"),
        "a box unticked in the refused form stays unticked"
    );

    // The overview lists the zone's methods in order.
    let (_, overview) = page(&staff, &app, "/admin/shipping").await;
    assert!(overview.contains("Standard (DHL), Pick up in Berlin"));
    app.stop().await;
}
