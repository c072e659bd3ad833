//! The address book over real HTTP: the API (`/api/v1/me/addresses`) with its limits and
//! privacy, the account pages that edit it without JavaScript, and the checkout form that
//! starts from the default address and can save a new one.

use serde_json::{Value, json};

use crate::common::pages::{browser, csrf, input, location, page, post};
use crate::common::shop::{product, set_stock};
use crate::common::{TestApp, bearer_client, problem};

fn home() -> Value {
    json!({"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
           "postal_code": "SW1Y 4JH", "country": "gb"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_each_customers_addresses_private_checked_and_bounded() {
    let app = TestApp::spawn().await;
    let ada = bearer_client(&app.customer_token("ada@example.com").await);
    let bob = bearer_client(&app.customer_token("bob@example.com").await);
    let url = app.url("/api/v1/me/addresses");

    let r = ada.post(&url).json(&home()).send().await.expect("POST");
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.expect("json");
    assert!(first["id"].as_str().expect("id").starts_with("adr_"));
    assert_eq!(first["country"], "GB", "the country is normalised");
    assert_eq!(
        first["is_default"], true,
        "the first address is the default"
    );

    // The same address again is not a second entry.
    let again: Value = ada
        .post(&url)
        .json(&home())
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    assert_eq!(again["id"], first["id"]);

    // A bad address names every bad field, as the checkout does, and saves nothing.
    let r = ada
        .post(&url)
        .json(&json!({"name": "", "line1": "x", "city": "", "country": "Narnia"}))
        .send()
        .await
        .expect("POST");
    let p = problem(r, 422, "validation_failed").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        ["address.name", "address.city", "address.country"],
        "{p}"
    );

    // A second address marked default takes the mark; the list shows the default first.
    let work = json!({"name": "Ada", "line1": "1 Work Rd", "city": "Leeds", "country": "GB",
                      "is_default": true});
    let second: Value = ada
        .post(&url)
        .json(&work)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let list: Value = ada
        .get(&url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let data = list["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], second["id"]);
    assert_eq!(
        data.iter().filter(|a| a["is_default"] == true).count(),
        1,
        "one default"
    );
    assert_eq!(list["has_more"], false);

    // Someone else's address does not exist for Bob, in any verb.
    let theirs = app.url(&format!(
        "/api/v1/me/addresses/{}",
        first["id"].as_str().expect("id")
    ));
    let r = bob.put(&theirs).json(&home()).send().await.expect("PUT");
    problem(r, 404, "not_found").await;
    let r = bob.delete(&theirs).send().await.expect("DELETE");
    problem(r, 404, "not_found").await;
    let bobs: Value = bob
        .get(&url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(bobs["data"].as_array().expect("data").len(), 0);
    let r = ada
        .get(app.url("/api/v1/me/addresses/adr_nope"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 405, "the item answers PUT and DELETE only");

    // Removing the default hands the mark to the address left.
    let second_url = app.url(&format!(
        "/api/v1/me/addresses/{}",
        second["id"].as_str().expect("id")
    ));
    let r = ada.delete(&second_url).send().await.expect("DELETE");
    assert_eq!(r.status(), 204);
    let list: Value = ada
        .get(&url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(list["data"][0]["id"], first["id"]);
    assert_eq!(list["data"][0]["is_default"], true);

    // The book is bounded.
    for i in 1..20 {
        let a = json!({"name": "Ada", "line1": format!("{i} Fill St"), "city": "York", "country": "GB"});
        let r = ada.post(&url).json(&a).send().await.expect("POST");
        assert_eq!(r.status(), 201, "address {i}");
    }
    let a = json!({"name": "Ada", "line1": "21 Full St", "city": "York", "country": "GB"});
    let r = ada.post(&url).json(&a).send().await.expect("POST");
    problem(r, 409, "address_book_full").await;

    // Without credentials there is no book.
    let r = reqwest::Client::new().get(&url).send().await.expect("GET");
    problem(r, 401, "unauthenticated").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_erases_its_addresses() {
    let app = TestApp::spawn().await;
    let token = app.customer_token("gone@example.com").await;
    let c = bearer_client(&token);
    let r = c
        .post(app.url("/api/v1/me/addresses"))
        .json(&home())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 201);
    let id = app
        .auth
        .customer_id_by_email("gone@example.com")
        .expect("read")
        .expect("id");
    let r = c
        .delete(app.url("/api/v1/me"))
        .json(&json!({"password": "Tr0ub4dor&3-horse"}))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 204);
    let principal = shopd::domain::auth::Principal {
        kind: shopd::domain::auth::PrincipalKind::Customer(id),
        role: shopd::domain::auth::Role::Customer,
        scopes: vec!["*".into()],
    };
    assert!(
        app.auth.addresses(&principal).expect("read").is_empty(),
        "no address survives the account"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_pages_edit_the_book_and_checkout_starts_from_the_default() {
    let app = TestApp::spawn().await;
    let (_, variants) = product(&app, "Book", 1, 5).await;
    set_stock(&app, &variants[0], 5).await;
    let c = browser();
    let (_, html) = page(&c, &app, "/account/register").await;
    let token = csrf(&html);
    let r = post(
        &c,
        &app,
        "/account/register",
        &[
            ("_csrf", &token),
            ("name", "Cleo"),
            ("email", "cleo@example.com"),
            ("password", "correct horse battery staple"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);

    // A bad field is shown at the field, with what was typed kept.
    let (s, html) = page(&c, &app, "/account/addresses/new").await;
    assert_eq!(s, 200);
    let token = csrf(&html);
    let mut form = vec![
        ("_csrf", token.as_str()),
        ("name", "Cleo <b>Q</b>"),
        ("line1", "9 Elm St"),
        ("city", "Portland"),
        ("region", "OR"),
        ("postal_code", "97201"),
        ("country", "USA"),
    ];
    let r = post(&c, &app, "/account/addresses/new", &form).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("body");
    assert!(
        html.contains("id=\"e-country\""),
        "the error sits at the country"
    );
    assert!(html.contains("aria-describedby=\"e-country\""));
    assert_eq!(input(&html, "line1"), "9 Elm St");
    form[6] = ("country", "US");
    let r = post(&c, &app, "/account/addresses/new", &form).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/account?notice=address_saved"));
    let (_, html) = page(&c, &app, "/account").await;
    assert!(
        html.contains("Cleo &lt;b&gt;Q&lt;&#x2f;b&gt;")
            || html.contains("Cleo &lt;b&gt;Q&lt;/b&gt;"),
        "escaped"
    );
    assert!(html.contains("9 Elm St") && html.contains("Used at checkout"));
    let edit = html
        .split("href=\"/account/addresses/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an edit link")
        .to_owned();
    assert!(edit.starts_with("adr_"));

    // Edit it; the checkout form then starts from it.
    let (s, html) = page(&c, &app, &format!("/account/addresses/{edit}")).await;
    assert_eq!(s, 200);
    assert_eq!(input(&html, "city"), "Portland");
    let mut changed = form.clone();
    changed[2] = ("line1", "10 Elm St");
    let r = post(&c, &app, &format!("/account/addresses/{edit}"), &changed).await;
    assert_eq!(r.status(), 303);
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
    let (_, html) = page(&c, &app, "/checkout").await;
    assert_eq!(input(&html, "line1"), "10 Elm St");
    assert_eq!(input(&html, "postal_code"), "97201");
    assert_eq!(input(&html, "email"), "cleo@example.com");
    assert!(
        html.contains("name=\"shipping_method\""),
        "methods for the saved address are offered"
    );

    // A checkout with another address and "save" adds it to the book.
    let key = input(&html, "key");
    let r = post(
        &c,
        &app,
        "/checkout",
        &[
            ("_csrf", &token),
            ("key", &key),
            ("email", "cleo@example.com"),
            ("name", "Cleo"),
            ("line1", "77 Harbor Way"),
            ("city", "Seattle"),
            ("region", "WA"),
            ("postal_code", "98101"),
            ("country", "US"),
            ("save_address", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "placed");
    let (_, html) = page(&c, &app, "/account").await;
    assert!(html.contains("77 Harbor Way") && html.contains("10 Elm St"));

    // Another customer cannot open it; removing it needs the form's token.
    let other = browser();
    crate::common::pages::sign_in(
        &other,
        &app,
        crate::common::ADMIN_EMAIL,
        crate::common::ADMIN_PASSWORD,
    )
    .await;
    let (s, _) = page(&other, &app, &format!("/account/addresses/{edit}")).await;
    assert_eq!(s, 404);
    let r = post(&c, &app, &format!("/account/addresses/{edit}/delete"), &[]).await;
    assert_eq!(r.status(), 403);
    let r = post(
        &c,
        &app,
        &format!("/account/addresses/{edit}/delete"),
        &[("_csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, html) = page(&c, &app, "/account").await;
    assert!(!html.contains("10 Elm St"));
    assert!(
        html.contains("Used at checkout"),
        "the address left is the default"
    );
    app.stop().await;
}
