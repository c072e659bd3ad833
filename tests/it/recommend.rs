//! Recommendations over real HTTP from a small hand-made order history: the bought-together
//! ranking is the cosine one worked out by hand, popular counts orders, a new paid order
//! refreshes the lists, and nothing archived or out of stock is ever recommended.

use serde_json::{Value, json};

use crate::common::shop::{add_to_cart, checkout, checkout_body, new_cart, product, set_stock};
use crate::common::{TestApp, eventually};
use crate::payments::{Placed, card, json_ok, pay};

/// A paid guest order of one unit of each variant.
async fn paid_order(app: &TestApp, variants: &[&str], key: &str) {
    let cart = new_cart(app).await;
    for v in variants {
        assert_eq!(add_to_cart(app, &cart, v, 1).await.status(), 201);
    }
    let o = json_ok(checkout(app, &cart, key, &checkout_body("buyer@example.com")).await).await;
    let p = Placed::of(&o);
    let r = pay(app, &p, "confirm", &card("4242424242424242")).await;
    assert_eq!(r.status(), 200);
}

async fn titles(app: &TestApp, product: &str, strategy: &str) -> Vec<String> {
    let r: Value = app
        .get(&format!(
            "/api/v1/products/{product}/recommendations?strategy={strategy}"
        ))
        .await
        .json()
        .await
        .expect("json");
    r["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| p["title"].as_str().expect("title").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn co_occurrence_ranks_by_cosine_and_recommends_only_what_is_on_sale() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    let mut vs = Vec::new();
    for sku in ["A", "B", "C", "D", "E"] {
        let (id, v) = product(&app, sku, 1, 100).await;
        ids.push(id);
        vs.push(v[0].clone());
    }
    let v = |i: usize| vs[i].as_str();
    // A·B twice, A·C, B·C, D alone, A·E: orders with A 4, B 3, C 2, D 1, E 1.
    for (k, order) in [
        vec![0, 1],
        vec![0, 1],
        vec![0, 2],
        vec![1, 2],
        vec![3],
        vec![0, 4],
    ]
    .iter()
    .enumerate()
    {
        let lines: Vec<&str> = order.iter().map(|&i| v(i)).collect();
        paid_order(&app, &lines, &format!("history-{k}")).await;
    }
    // cos(A,B) = 2/√12 = 0.577, cos(A,E) = 1/√4 = 0.5, cos(A,C) = 1/√8 = 0.354.
    let got = eventually(std::time::Duration::from_secs(10), || async {
        let t = titles(&app, &ids[0], "bought_together").await;
        (t.len() == 3).then_some(t)
    })
    .await
    .expect("the history is counted");
    assert_eq!(got, ["Product B", "Product E", "Product C"]);
    // cos(C,B) = 1/√6 = 0.408 beats cos(C,A) = 1/√8 = 0.354, although A sells more.
    assert_eq!(
        titles(&app, &ids[2], "bought_together").await,
        ["Product B", "Product A"]
    );
    // Popular: orders per product, never the product asked about.
    assert_eq!(
        titles(&app, &ids[3], "popular").await[..3],
        ["Product A", "Product B", "Product C"]
    );

    // Archived and out-of-stock products are not recommended.
    let r = app
        .admin
        .post(app.url("/api/v1/admin/products/bulk-status"))
        .json(&json!({"ids": [ids[4]], "status": "archived"}))
        .send()
        .await
        .expect("archive");
    assert!(r.status().is_success(), "{}", r.status());
    set_stock(&app, v(1), 0).await;
    assert_eq!(
        titles(&app, &ids[0], "bought_together").await,
        ["Product C"]
    );

    // A new paid order refreshes the lists it touches.
    assert!(titles(&app, &ids[3], "bought_together").await.is_empty());
    paid_order(&app, &[v(2), v(3)], "fresh").await;
    let fresh = eventually(std::time::Duration::from_secs(10), || async {
        let t = titles(&app, &ids[3], "bought_together").await;
        (!t.is_empty()).then_some(t)
    })
    .await
    .expect("the new order is counted");
    assert_eq!(fresh, ["Product C"]);

    let r = app
        .get(&format!(
            "/api/v1/products/{}/recommendations?strategy=psychic",
            ids[0]
        ))
        .await;
    crate::common::problem(r, 422, "validation_failed").await;
    app.stop().await;
}
