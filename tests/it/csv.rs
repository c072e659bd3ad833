//! Shopify product CSV: import a file in Shopify's export format, export it back, and prove the
//! round trip is a fixed point; malformed rows are reported by line while the rest imports.

use crate::common;

use common::shop::export_csv as export;
use common::{TestApp, problem};
use serde_json::Value;

const SHOPIFY: &str = include_str!("fixtures/shopify_products.csv");
const MALFORMED: &str = include_str!("fixtures/shopify_malformed.csv");

async fn import(app: &TestApp, csv: &str) -> Value {
    common::shop::import_csv(app, csv, "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_file_imports_and_round_trips_to_a_fixed_point() {
    let app = TestApp::spawn().await;
    let report = import(&app, SHOPIFY).await;
    assert_eq!(report["created"], 3, "{report}");
    assert_eq!(
        report["errors"].as_array().expect("errors").len(),
        0,
        "{report}"
    );

    let shirt: Value = app
        .admin_get("/api/v1/admin/products/ocean-blue-shirt")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shirt["title"], "Ocean Blue Shirt");
    assert_eq!(shirt["status"], "active");
    assert_eq!(shirt["tags"], serde_json::json!(["men", "shirt", "summer"]));
    assert_eq!(shirt["options"][0]["name"], "Size");
    assert_eq!(
        shirt["options"][0]["values"],
        serde_json::json!(["xs", "s", "m"])
    );
    assert_eq!(
        shirt["options"][1]["values"],
        serde_json::json!(["Blue", "Navy"])
    );
    let v = shirt["variants"].as_array().expect("variants");
    assert_eq!(v.len(), 3);
    assert_eq!(v[1]["compare_at_price"]["amount"], 6000);
    assert_eq!(v[1]["barcode"], "012345678905");
    assert_eq!(v[2]["price"]["amount"], 5250);
    assert_eq!(shirt["images"].as_array().expect("images").len(), 2);
    assert_eq!(shirt["images"][1]["alt"], "Ocean blue shirt back");
    assert_eq!(shirt["seo"]["title"], "Ocean Blue Shirt | Shop");
    let top: Value = app
        .admin_get("/api/v1/admin/products/classic-varsity-top")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        top["variants"][0]["price"]["amount"], 106_000,
        "thousands separator handled"
    );
    assert!(top["description"].as_str().expect("d").contains("&amp;"));
    let mug: Value = app
        .admin_get("/api/v1/admin/products/gift-mug")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(mug["status"], "draft");
    assert_eq!(
        mug["options"],
        serde_json::json!([]),
        "Shopify's Default Title option means no options"
    );
    assert_eq!(mug["variants"][0]["price"]["amount"], 950);
    assert_eq!(mug["variants"][0]["track_inventory"], false);

    // Export → import → export: the file is a fixed point and nothing is duplicated.
    let first = export(&app).await;
    let shirt_variant_ids: Vec<Value> = v.iter().map(|x| x["id"].clone()).collect();
    let report = import(&app, &first).await;
    assert_eq!(report["created"], 0);
    assert_eq!(report["updated"], 3);
    let second = export(&app).await;
    assert_eq!(first, second);
    let list: Value = app
        .admin_get("/api/v1/admin/products?per_page=100")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["data"].as_array().expect("d").len(), 3);
    let again: Value = app
        .admin_get("/api/v1/admin/products/ocean-blue-shirt")
        .await
        .json()
        .await
        .expect("json");
    let ids: Vec<Value> = again["variants"]
        .as_array()
        .expect("v")
        .iter()
        .map(|x| x["id"].clone())
        .collect();
    assert_eq!(
        ids, shirt_variant_ids,
        "re-import keeps variant ids (matched by SKU)"
    );
    // Variant Inventory Qty became units on hand, recorded once: re-importing the same
    // quantity moves nothing.
    let vid = ids[0].as_str().expect("id");
    let stock: Value = app
        .admin_get(&format!("/api/v1/admin/variants/{vid}/stock"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stock["on_hand"], 50, "{stock}");
    assert_eq!(stock["available"], 50);
    let moves: Value = app
        .admin_get(&format!("/api/v1/admin/variants/{vid}/stock/movements"))
        .await
        .json()
        .await
        .expect("json");
    let moves = moves["data"].as_array().expect("data");
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0]["kind"], "import");
    assert_eq!(moves[0]["delta"], 50);
    let top_variant = top["variants"][0]["id"].as_str().expect("id");
    let top_stock: Value = app
        .admin_get(&format!("/api/v1/admin/variants/{top_variant}/stock"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(top_stock["on_hand"], 20);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rows_are_reported_by_line_and_the_rest_imports() {
    let app = TestApp::spawn().await;
    let report = import(&app, MALFORMED).await;
    assert_eq!(report["created"], 2, "{report}");
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{report}");
    assert_eq!(errors[0]["line"], 4);
    assert_eq!(errors[0]["handle"], "bad-scarf");
    assert!(
        errors[0]["message"]
            .as_str()
            .expect("m")
            .contains("twelve dollars")
    );
    assert_eq!(errors[1]["line"], 6);
    assert!(errors[1]["message"].as_str().expect("m").contains("Handle"));
    assert_eq!(
        app.admin_get("/api/v1/admin/products/good-hat")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.admin_get("/api/v1/admin/products/good-sock")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.admin_get("/api/v1/admin/products/bad-scarf")
            .await
            .status(),
        404,
        "a failed product is not half-imported"
    );
    let r = app
        .admin
        .post(app.url("/api/v1/admin/products/import"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("send");
    problem(r, 415, "unsupported_media_type").await;
    app.stop().await;
}

#[test]
fn cli_import_export_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = dir.path().join("in.csv");
    std::fs::write(&file, SHOPIFY).expect("write");
    let out = common::backend::shopd(&data)
        .args(["import", "products"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 created"));
    let export = |name: &str| {
        let path = dir.path().join(name);
        let out = common::backend::shopd(&data)
            .args(["export", "products", "--out"])
            .arg(&path)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("export");
        assert!(out.status.success());
        std::fs::read_to_string(path).expect("read")
    };
    let a = export("a.csv");
    let out = common::backend::shopd(&data)
        .args(["import", "products"])
        .arg(dir.path().join("a.csv"))
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("import");
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 created, 3 updated"));
    assert_eq!(a, export("b.csv"));
    // Malformed file: exit code 2 and line numbers on stdout.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, MALFORMED).expect("write");
    let out = common::backend::shopd(&data)
        .args(["import", "products"])
        .arg(&bad)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("import");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("line 4 (bad-scarf)"));
}
