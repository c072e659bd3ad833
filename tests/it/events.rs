//! Event payloads are their own, versioned types: every type is documented as an OpenAPI
//! webhook, every event the shop records matches its webhook schema, and a payload's schema
//! cannot change without its version changing (a pinned copy per `type@version`).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use shopd::domain::events::TYPES;

use crate::common::TestApp;
use crate::common::shop::{add_to_cart, checkout, checkout_body, new_cart, product};

const PINNED: &str = "tests/it/fixtures/event_payloads.json";

fn document() -> Value {
    serde_json::to_value(shopd::http::docs::openapi()).expect("doc")
}

/// The payload schema of `name` with every schema it references, by name.
fn closure(doc: &Value, name: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut todo = vec![name.to_owned()];
    while let Some(n) = todo.pop() {
        if out.contains_key(&n) {
            continue;
        }
        let s = doc["components"]["schemas"][&n].clone();
        assert!(s.is_object(), "schema {n} missing");
        let text = s.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let r: String = part.chars().take_while(|c| *c != '"').collect();
            todo.push(r);
        }
        out.insert(n, s);
    }
    out
}

#[test]
fn every_event_type_is_a_documented_webhook() {
    let doc = document();
    assert!(TYPES.len() >= 8);
    for t in TYPES {
        assert!(
            doc["components"]["schemas"][t.schema].is_object(),
            "{}",
            t.schema
        );
        let hook = &doc["webhooks"][t.name]["post"];
        assert!(
            hook["requestBody"]["content"]["application/json"]["schema"].is_object(),
            "{}",
            t.name
        );
        assert!(t.name.contains('.') && t.name == t.name.to_ascii_lowercase());
    }
}

#[test]
fn payload_schemas_change_only_with_their_version() {
    let doc = document();
    let now: BTreeMap<String, BTreeMap<String, Value>> = TYPES
        .iter()
        .map(|t| {
            (
                format!("{}@{}", t.schema, t.version),
                closure(&doc, t.schema),
            )
        })
        .collect();
    let now = serde_json::to_value(&now).expect("json");
    if std::env::var_os("SHOPD_PIN_PAYLOADS").is_some() {
        let text = serde_json::to_string_pretty(&now).expect("pretty") + "\n";
        std::fs::write(PINNED, text).expect("write pinned payloads");
    }
    let pinned: Value = serde_json::from_str(&std::fs::read_to_string(PINNED).expect("pinned"))
        .expect("pinned json");
    for (key, schemas) in now.as_object().expect("map") {
        assert_eq!(
            Some(schemas),
            pinned.get(key),
            "payload {key} differs from its pinned schema: a change consumers can see needs a new \
             version (a new payload type, VERSION + 1, a new row in events::TYPES); then run with \
             SHOPD_PIN_PAYLOADS=1 to pin it"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_events_match_their_webhook_schemas_not_the_api_views() {
    let app = TestApp::spawn().await;
    let (_, variants) = product(&app, "EVT", 1, 4).await;
    let r = app
        .admin_send(
            Method::PUT,
            &format!("/api/v1/admin/variants/{}/stock", variants[0]),
            &json!({"on_hand": 4, "low_stock_threshold": 2}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut orders = Vec::new();
    for i in 0..2 {
        let cart = new_cart(&app).await;
        add_to_cart(&app, &cart, &variants[0], 1).await;
        let r = checkout(
            &app,
            &cart,
            &format!("evt-{i}"),
            &checkout_body("e@shopd.test"),
        )
        .await;
        assert_eq!(r.status(), 201);
        let o: Value = r.json().await.expect("order");
        orders.push(o["id"].as_str().expect("id").to_owned());
    }
    let paid = app
        .admin_post_json(
            &format!("/api/v1/admin/orders/{}/mark-paid", orders[0]),
            &json!({}),
        )
        .await;
    assert_eq!(paid.status(), 200);
    let cancelled = app
        .admin_post_json(
            &format!("/api/v1/admin/orders/{}/cancel", orders[1]),
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status(), 200);

    let listed: Value = app
        .admin_get("/api/v1/admin/events?per_page=100")
        .await
        .json()
        .await
        .expect("json");
    let events = listed["data"].as_array().expect("data");
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for t in [
        "order.created",
        "order.paid",
        "order.cancelled",
        "inventory.low_stock",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    let doc = document();
    for e in events {
        let t = e["type"].as_str().expect("type");
        let mut schema =
            doc["webhooks"][t]["post"]["requestBody"]["content"]["application/json"]["schema"]
                .clone();
        assert!(schema["allOf"].is_array(), "{t} has no webhook schema");
        schema["components"] = doc["components"].clone();
        let v = jsonschema::draft202012::new(&schema).expect("schema compiles");
        let errors: Vec<String> = v
            .iter_errors(e)
            .map(|x| format!("{x} at {}", x.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{t}: {errors:?}\n{e}");
        let version = TYPES
            .iter()
            .find(|x| x.name == t)
            .map(|x| x.version)
            .expect("known type");
        assert_eq!(e["data"]["payload_version"], version);
        if t.starts_with("order.") {
            // The payload is not the API view: no history, notes or tokens.
            for view_only in ["history", "notes", "order_token", "expires_at"] {
                assert!(
                    e["data"].get(view_only).is_none(),
                    "{t} carries {view_only}"
                );
            }
        }
    }
    app.stop().await;
}
