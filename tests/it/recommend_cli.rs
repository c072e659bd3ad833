//! `shopd recommend evaluate` and `shopd recommend import-orders` on real data directories:
//! the demo shop's generated history makes `bought_together` and `for_you` beat `popular`,
//! and order lines in shopd's layout and in Shopify's order-export layout are counted once,
//! with unpaid orders left out and bad lines reported by number.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::shop::product;
use crate::common::{TestApp, bearer_client};

fn shopd(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = crate::common::backend::shopd(dir)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("SHOPD_CONFIG")
        .output()
        .expect("run shopd");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn row<'a>(split: &'a Value, strategy: &str) -> &'a Value {
    split["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["strategy"] == strategy)
        .expect("a row per strategy")
}

#[test]
fn on_the_demo_history_bought_together_and_for_you_beat_popular() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, out) = shopd(dir.path(), &["demo", "--products", "300"]);
    assert!(ok, "{out}");
    assert!(out.contains("historical orders counted"), "{out}");
    let (ok, table) = shopd(dir.path(), &["recommend", "evaluate"]);
    assert!(ok, "{table}");
    for s in [
        "popular",
        "trending",
        "similar",
        "bought_together",
        "buy_again",
        "for_you",
    ] {
        assert!(table.contains(s), "{s} in the table:\n{table}");
    }
    let (ok, out) = shopd(
        dir.path(),
        &["recommend", "evaluate", "--json", "--k", "10"],
    );
    assert!(ok, "{out}");
    let start = out.find('{').expect("json");
    let report: Value = serde_json::from_str(&out[start..]).expect("report");
    assert_eq!(report["k"], 10);
    assert!(report["orders"].as_u64() > Some(1000), "{report}");
    for split in report["splits"].as_array().expect("splits") {
        assert!(split["cases"].as_u64() > Some(50), "{split}");
        let popular = row(split, "popular");
        for better in ["bought_together", "for_you"] {
            let r = row(split, better);
            for m in ["hit_rate", "ndcg"] {
                assert!(
                    r[m].as_f64() > popular[m].as_f64(),
                    "{better} {m} beats popular in {}: {split}",
                    split["name"]
                );
            }
        }
        for r in split["rows"].as_array().expect("rows") {
            for m in ["hit_rate", "recall", "ndcg", "coverage"] {
                let v = r[m].as_f64().expect("a number");
                assert!((0.0..=1.0).contains(&v), "{m} = {v}");
            }
        }
    }
    let (ok, out) = shopd(dir.path(), &["recommend", "evaluate", "--k", "0"]);
    assert!(!ok && out.contains("--k must be 1 to 50"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn historical_orders_import_once_in_both_layouts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_in(dir.path(), None).await;
    let mut ids = Vec::new();
    for sku in ["A", "B", "C"] {
        ids.push(product(&app, sku, 1, 10).await.0);
    }
    app.customer_token("known@example.com").await;
    app.stop().await;

    let own = dir.path().join("lines.csv");
    std::fs::write(
        &own,
        "order_id,customer,product,quantity,time\n\
         1001,Known@example.com,product-a,1,2026-01-02T10:00:00Z\n\
         1001,Known@example.com,B-0,2,2026-01-02T10:00:00Z\n\
         1002,other@example.com,product-a,1,2026-01-03\n\
         1002,other@example.com,product-b,1,2026-01-03\n\
         1003,,product-c,1,2026-01-04\n\
         1004,x@example.com,no-such-thing,1,2026-01-05\n\
         1005,x@example.com,product-a,two,2026-01-05\n",
    )
    .expect("write");
    let (ok, out) = shopd(
        dir.path(),
        &["recommend", "import-orders", own.to_str().expect("path")],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("7 lines read: 3 orders imported, 0 already imported"),
        "{out}"
    );
    assert!(
        out.contains("line 7: no single product `no-such-thing`"),
        "{out}"
    );
    assert!(out.contains("line 8: quantity `two`"), "{out}");
    let (ok, out) = shopd(
        dir.path(),
        &["recommend", "import-orders", own.to_str().expect("path")],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("0 orders imported, 3 already imported"),
        "the same file counts once: {out}"
    );

    // Shopify's order export: the status on an order's first line only.
    let shopify = dir.path().join("orders_export.csv");
    std::fs::write(
        &shopify,
        "Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Subtotal,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku\r\n\
         #1001,known@example.com,paid,2026-02-01 10:16:00 -0500,fulfilled,USD,30.00,2026-02-01 10:15:00 -0500,1,Product A,10.00,A-0\r\n\
         #1001,known@example.com,,,,,,2026-02-01 10:15:00 -0500,1,Product C,10.00,C-0\r\n\
         #1002,late@example.com,pending,,,USD,20.00,2026-02-02 09:00:00 -0500,1,Product B,10.00,B-0\r\n\
         #1002,late@example.com,,,,,,2026-02-02 09:00:00 -0500,1,Product C,10.00,C-0\r\n",
    )
    .expect("write");
    let (ok, out) = shopd(
        dir.path(),
        &[
            "recommend",
            "import-orders",
            shopify.to_str().expect("path"),
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("4 lines read: 1 orders imported"), "{out}");
    assert!(out.contains("2 lines of unpaid orders left out"), "{out}");
    let (ok, out) = shopd(dir.path(), &["recommend", "evaluate", "--json"]);
    assert!(ok, "{out}");
    let report: Value = serde_json::from_str(&out[out.find('{').expect("json")..]).expect("report");
    assert_eq!(report["orders"], 4);

    // Back online: the lists were ranked by the import, the account's history is its own.
    let app = TestApp::spawn_in(dir.path(), None).await;
    let together: Value = app
        .get(&format!(
            "/api/v1/products/{}/recommendations?strategy=bought_together",
            ids[0]
        ))
        .await
        .json()
        .await
        .expect("json");
    // A with B in 2 orders (cos 2/√(3·2) = 0.82), with C in 1 (1/√(3·2) = 0.41).
    let titles: Vec<&str> = together["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| p["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles, ["Product B", "Product C"]);
    let t: Value = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "known@example.com", "password": "Tr0ub4dor&3-horse"}),
        )
        .await
        .json()
        .await
        .expect("login");
    let me = bearer_client(t["access_token"].as_str().expect("token"));
    let again: Value = me
        .get(app.url("/api/v1/recommendations/for-me?strategy=buy_again"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let mine: Vec<&str> = again["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| p["title"].as_str().expect("title"))
        .collect();
    // A in both of the account's imported orders, then B and C once each.
    assert_eq!(mine[0], "Product A", "{mine:?}");
    assert_eq!(mine.len(), 3, "{mine:?}");
    app.stop().await;
}
