//! The admin's product form over real HTTP: an edit changes what was edited and keeps the
//! rest (with the product's version against lost updates), images, options, and variants
//! added and removed.

use serde_json::{Value, json};

use crate::common::pages::{browser, csrf, input, page, post, sign_in};
use crate::common::shop::product;
use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_edit_changes_what_was_edited_and_keeps_the_rest() {
    let app = TestApp::spawn().await;
    let (pid, variants) = product(&app, "EDIT", 2, 7).await;
    let before: Value = app
        .admin
        .get(app.url(&format!("/api/v1/admin/products/{pid}")))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let staff = browser();
    sign_in(&staff, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = page(&staff, &app, &format!("/admin/products/{pid}")).await;
    let token = csrf(&html);
    let version = input(&html, "version");
    let price = format!("price:{}", variants[1]);
    let stock = format!("on_hand:{}", variants[1]);
    let form = [
        ("_csrf", token.as_str()),
        ("version", version.as_str()),
        ("title", "Edited title"),
        (price.as_str(), "12.34"),
        (stock.as_str(), "3"),
    ];
    let r = post(&staff, &app, &format!("/admin/products/{pid}"), &form).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let after: Value = app
        .admin
        .get(app.url(&format!("/api/v1/admin/products/{pid}")))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(after["title"], "Edited title");
    assert_eq!(after["variants"][1]["price"]["amount"], 1234);
    for same in ["slug", "options", "status", "tags"] {
        assert_eq!(after[same], before[same], "{same} kept");
    }
    assert_eq!(
        after["variants"][0], before["variants"][0],
        "the other variant is untouched"
    );
    assert_eq!(
        after["variants"][1]["id"], before["variants"][1]["id"],
        "variant ids are kept"
    );
    let s: Value = app
        .admin
        .get(app.url(&format!("/api/v1/admin/variants/{}/stock", variants[1])))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(s["on_hand"], 3);
    // The same form again carries the old version: refused, not silently overwritten.
    let r = post(&staff, &app, &format!("/admin/products/{pid}"), &form).await;
    assert_eq!(r.status(), 412);
    // A bad price is shown at its field and nothing is saved.
    let (_, html) = page(&staff, &app, &format!("/admin/products/{pid}")).await;
    let v2 = input(&html, "version");
    let r = post(
        &staff,
        &app,
        &format!("/admin/products/{pid}"),
        &[
            ("_csrf", token.as_str()),
            ("version", v2.as_str()),
            (price.as_str(), "twelve"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("enter a price such as 19.99")
    );
    // Images: one per line with an optional description; a script address is refused.
    let img = |text: &'static str| {
        let (t, v) = (token.clone(), v2.clone());
        let staff = staff.clone();
        let url = app.url(&format!("/admin/products/{pid}"));
        async move {
            staff
                .post(url)
                .form(&[
                    ("_csrf", t.as_str()),
                    ("version", v.as_str()),
                    ("images", text),
                ])
                .send()
                .await
                .expect("POST")
        }
    };
    let r = img("javascript:alert(1) | x").await;
    assert_eq!(r.status(), 422);
    let r = img("https://cdn.example/mug.jpg | A blue mug\n/assets/demo/mug.svg").await;
    assert_eq!(r.status(), 303);
    let after: Value = app
        .get(&format!("/api/v1/products/{pid}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(after["images"][0]["url"], "https://cdn.example/mug.jpg");
    assert_eq!(after["images"][0]["alt"], "A blue mug");
    assert_eq!(after["images"][1]["url"], "/assets/demo/mug.svg");
    let (_, shop) = page(&browser(), &app, "/products/product-edit").await;
    assert!(
        shop.contains("src=\"https://cdn.example/mug.jpg\" alt=\"A blue mug\""),
        "{shop}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_form_edits_options_and_adds_and_removes_variants() {
    let app = TestApp::spawn().await;
    let (pid, variants) = product(&app, "OPTS", 2, 5).await;
    let path = format!("/admin/products/{pid}");
    let staff = browser();
    sign_in(&staff, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = page(&staff, &app, &path).await;
    let token = csrf(&html);
    assert_eq!(input(&html, "option_name:0"), "Size");
    assert_eq!(input(&html, "option_values:0"), "V0, V1");
    assert_eq!(input(&html, &format!("opt0:{}", variants[1])), "V1");
    let fetch = || async {
        let p: Value = app
            .admin
            .get(app.url(&format!("/api/v1/admin/products/{pid}")))
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json");
        p
    };

    // Rename a value, add an option, add a variant with its stock.
    let version = input(&html, "version");
    let r = post(
        &staff,
        &app,
        &path,
        &[
            ("_csrf", token.as_str()),
            ("version", version.as_str()),
            ("option_name:0", "Size"),
            ("option_values:0", "Small, V1"),
            ("option_name:1", "Colour"),
            ("option_values:1", "Red, Blue"),
            ("option_name:2", ""),
            ("option_values:2", ""),
            ("new_opt0", "V1"),
            ("new_opt1", "Blue"),
            ("new_sku", "OPTS-NEW"),
            ("new_price", "15.00"),
            ("new_on_hand", "4"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let p = fetch().await;
    assert_eq!(p["options"][0]["values"], json!(["Small", "V1"]));
    assert_eq!(p["options"][1]["name"], "Colour");
    let got: Vec<(String, Value)> = p["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| {
            (
                v["id"].as_str().expect("id").to_owned(),
                v["option_values"].clone(),
            )
        })
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0],
        (variants[0].clone(), json!(["Small", "Red"])),
        "renamed, first colour"
    );
    assert_eq!(got[1], (variants[1].clone(), json!(["V1", "Red"])));
    assert_eq!(got[2].1, json!(["V1", "Blue"]));
    assert_eq!(p["variants"][2]["price"]["amount"], 1500);
    let s: Value = app
        .admin
        .get(app.url(&format!("/api/v1/admin/variants/{}/stock", got[2].0)))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(s["on_hand"], 4, "the new variant's stock is set");

    // A new variant duplicating a combination is refused by the catalog, and the form keeps
    // what was typed.
    let (_, html) = page(&staff, &app, &path).await;
    let version = input(&html, "version");
    let r = post(
        &staff,
        &app,
        &path,
        &[
            ("_csrf", token.as_str()),
            ("version", version.as_str()),
            ("option_name:0", "Size"),
            ("option_values:0", "Small, V1"),
            ("option_name:1", "Colour"),
            ("option_values:1", "Red, Blue"),
            ("new_opt0", "V1"),
            ("new_opt1", "Red"),
            ("new_price", "16.00"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("body");
    assert!(html.contains("same option values"), "{html}");
    assert_eq!(input(&html, "new_price"), "16.00", "typed values are kept");
    assert_eq!(fetch().await["variants"].as_array().expect("v").len(), 3);

    // Remove a variant and the second option; the orders that bought it keep their lines.
    let remove = format!("remove:{}", variants[0]);
    let r = post(
        &staff,
        &app,
        &path,
        &[
            ("_csrf", token.as_str()),
            ("version", version.as_str()),
            ("option_name:0", "Size"),
            ("option_values:0", "Small, V1"),
            ("option_name:1", "Colour"),
            ("option_values:1", "Red, Blue"),
            (remove.as_str(), "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let p = fetch().await;
    let ids: Vec<&str> = p["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [variants[1].as_str(), got[2].0.as_str()]);
    app.stop().await;
}
