//! Shopify fidelity: small files in Shopify's real export shape (BOM, CRLF, apostrophe SKUs and
//! barcodes, shared SKUs, zero prices, Unicode and long handles, Shopify-sized limits, the
//! columns shopd models and the ones it only keeps) import with the documented result, and
//! import → export → import is a fixed point that keeps every column.

use crate::common;

use common::TestApp;
use common::shop::{export_csv as export, import_csv as import};
use serde_json::Value;

/// Shopify's column order, with unmodelled columns where real exports put them.
const HEADER: &[&str] = &[
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option1 Linked To",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Fulfillment Service",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Requires Shipping",
    "Variant Taxable",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Gift Card",
    "SEO Title",
    "SEO Description",
    "Google Shopping / Gender",
    "Season (product.metafields.custom.season)",
    "Variant Image",
    "Variant Weight Unit",
    "Variant Tax Code",
    "Cost per item",
    "Price / International",
    "Status",
];

/// Builds a file: BOM, CRLF line ends, cells quoted as Shopify quotes them.
struct File {
    rows: Vec<Vec<String>>,
}

impl File {
    fn new() -> File {
        File { rows: Vec::new() }
    }

    fn row(&mut self, cells: &[(&str, &str)]) -> &mut File {
        let mut row = vec![String::new(); HEADER.len()];
        for (k, v) in cells {
            let i = HEADER.iter().position(|h| h == k).expect("column");
            row[i] = (*v).to_owned();
        }
        self.rows.push(row);
        self
    }

    fn text(&self) -> String {
        let quote = |c: &str| {
            if c.contains([',', '"', '\r', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.to_owned()
            }
        };
        let mut out = String::from("\u{FEFF}");
        out.push_str(&HEADER.join(","));
        out.push_str("\r\n");
        for r in &self.rows {
            let cells: Vec<String> = r.iter().map(|c| quote(c)).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

const LONG_HANDLE_CHARS: usize = 150;

fn fidelity_file() -> String {
    let mut f = File::new();
    // Line 2–3: one SKU on both variants, an apostrophe barcode, a free variant, a compare-at
    // equal to the price, every modelled column and the kept ones.
    f.row(&[
        ("Handle", "tfrg-tee"),
        ("Title", "TFRG Tee"),
        ("Body (HTML)", "<p>Soft.</p>"),
        ("Vendor", "TFRG"),
        (
            "Product Category",
            "Apparel & Accessories > Clothing > Shirts & Tops",
        ),
        ("Type", "Shirts"),
        ("Tags", "cotton, summer"),
        ("Published", "TRUE"),
        ("Option1 Name", "Size"),
        ("Option1 Value", "S"),
        ("Option1 Linked To", "product.metafields.shopify.size"),
        ("Variant SKU", "TFRG 2TGP #1"),
        ("Variant Grams", "0.5"),
        ("Variant Inventory Tracker", "shopify"),
        ("Variant Inventory Qty", "0"),
        ("Variant Inventory Policy", "continue"),
        ("Variant Fulfillment Service", "manual"),
        ("Variant Price", "0.00"),
        ("Variant Requires Shipping", "TRUE"),
        ("Variant Taxable", "TRUE"),
        ("Variant Barcode", "'810107445129"),
        ("Image Src", "https://cdn.example.com/tee.jpg"),
        ("Image Position", "1"),
        ("Gift Card", "FALSE"),
        ("SEO Title", "TFRG Tee"),
        ("SEO Description", "A soft tee."),
        ("Google Shopping / Gender", "unisex"),
        ("Season (product.metafields.custom.season)", "summer"),
        ("Variant Image", "https://cdn.example.com/tee.jpg"),
        ("Variant Weight Unit", "g"),
        ("Variant Tax Code", "PC040100"),
        ("Cost per item", "4.50"),
        ("Price / International", "12.00"),
        ("Status", "active"),
    ]);
    f.row(&[
        ("Handle", "tfrg-tee"),
        ("Option1 Value", "M"),
        ("Variant SKU", "TFRG 2TGP #1"),
        ("Variant Grams", "1250"),
        ("Variant Inventory Tracker", "shopify"),
        ("Variant Inventory Qty", "7"),
        ("Variant Inventory Policy", "deny"),
        ("Variant Price", "10.00"),
        ("Variant Compare At Price", "10.00"),
        ("Variant Requires Shipping", "FALSE"),
        ("Variant Taxable", "FALSE"),
        ("Variant Weight Unit", "kg"),
        ("Price / International", "14.00"),
    ]);
    // Line 4: a Vietnamese handle in upper case, an apostrophe SKU, compare-at below price.
    f.row(&[
        ("Handle", "Áo-Thun_Nữ"),
        ("Title", "Áo thun nữ"),
        ("Option1 Name", "Title"),
        ("Option1 Value", "Default Title"),
        ("Variant SKU", "'25970"),
        ("Variant Price", "20.00"),
        ("Variant Compare At Price", "15.00"),
        ("Gift Card", "TRUE"),
        ("Status", "active"),
    ]);
    // Line 5: a 150-character handle, a CR inside a quoted title, the SKU another product has.
    let long = "h".repeat(LONG_HANDLE_CHARS);
    f.row(&[
        ("Handle", &long),
        ("Title", "Summer\rHat"),
        ("Option1 Name", "Title"),
        ("Option1 Value", "Default Title"),
        ("Variant SKU", "tfrg 2tgp #1"),
        ("Variant Price", "5.00"),
        ("Status", "draft"),
    ]);
    // Line 6: a handle that cannot be a URL path: regenerated from the title.
    f.row(&[
        ("Handle", "bad handle/with slash"),
        ("Title", "Rescued Scarf"),
        ("Option1 Name", "Title"),
        ("Option1 Value", "Default Title"),
        ("Variant Price", "9.00"),
    ]);
    // Lines 7–8: a variant row with option values but no price is an error on its line.
    f.row(&[
        ("Handle", "priceless"),
        ("Title", "Priceless"),
        ("Option1 Name", "Size"),
        ("Option1 Value", "S"),
        ("Variant Price", "3.00"),
    ]);
    f.row(&[("Handle", "priceless"), ("Option1 Value", "M")]);
    big_product(&mut f);
    f.text()
}

/// Lines 9–109: 101 variants, 60 tags of 60 characters, 60 images, an 800-character SEO
/// description (each over the old limits, within Shopify's).
fn big_product(f: &mut File) {
    let tags: Vec<String> = (0..60)
        .map(|i| format!("{i:02}{}", "t".repeat(58)))
        .collect();
    let tags = tags.join(", ");
    let seo = "s".repeat(800);
    for i in 0..101 {
        let size = format!("V{i}");
        let image = format!("https://cdn.example.com/big/{i}.jpg");
        let pos = (i + 1).to_string();
        let mut cells: Vec<(&str, &str)> = vec![
            ("Handle", "big-box"),
            ("Option1 Value", &size),
            ("Variant Price", "1.00"),
        ];
        if i == 0 {
            cells.extend([
                ("Title", "Big Box"),
                ("Tags", tags.as_str()),
                ("SEO Description", seo.as_str()),
                ("Option1 Name", "Size"),
            ]);
        }
        if i < 60 {
            cells.extend([
                ("Image Src", image.as_str()),
                ("Image Position", pos.as_str()),
            ]);
        }
        f.row(&cells);
    }
}

async fn admin_product(app: &TestApp, slug: &str) -> Value {
    let r = app
        .admin_get(&format!("/api/v1/admin/products/{slug}"))
        .await;
    assert_eq!(r.status(), 200, "{slug}");
    r.json().await.expect("json")
}

fn messages(report: &Value, kind: &str) -> Vec<(u64, String)> {
    report[kind]
        .as_array()
        .expect(kind)
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["message"].as_str().expect("message").to_owned(),
            )
        })
        .collect()
}

fn has(list: &[(u64, String)], line: u64, needle: &str) -> bool {
    list.iter().any(|(l, m)| *l == line && m.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_shaped_file_imports_with_warnings_not_refusals() {
    let app = TestApp::spawn().await;
    let file = fidelity_file();
    let report = import(&app, &file, "").await;
    assert_eq!(
        (&report["created"], &report["updated"], &report["failed"]),
        (&Value::from(5), &Value::from(0), &Value::from(1)),
        "{report:#}"
    );
    let errors = messages(&report, "errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(has(&errors, 8, "without a Variant Price"), "{errors:?}");
    let warnings = messages(&report, "warnings");
    assert!(
        has(&warnings, 3, "also used by another variant"),
        "{warnings:?}"
    );
    assert!(has(&warnings, 3, "not above the price"), "{warnings:?}");
    assert!(has(&warnings, 4, "not above the price"), "{warnings:?}");
    assert!(has(&warnings, 5, "also used by product"), "{warnings:?}");
    assert!(has(&warnings, 6, "`rescued-scarf`"), "{warnings:?}");
    assert_eq!(report["warned"], 4, "{report:#}");

    check_tee(&app).await;
    check_others(&app).await;
    app.stop().await;
}

/// The first product: every modelled column read, staff-only cost, stock policy applied.
async fn check_tee(app: &TestApp) {
    let tee = admin_product(app, "tfrg-tee").await;
    assert_eq!(
        tee["product_category"],
        "Apparel & Accessories > Clothing > Shirts & Tops"
    );
    assert_eq!(tee["gift_card"], false);
    let (s, m) = (&tee["variants"][0], &tee["variants"][1]);
    assert_eq!(
        (&s["sku"], &m["sku"]),
        (&Value::from("TFRG 2TGP #1"), &Value::from("TFRG 2TGP #1"))
    );
    assert_eq!(
        s["barcode"], "810107445129",
        "the apostrophe is Shopify's, not the EAN's"
    );
    assert_eq!(s["price"]["amount"], 0);
    assert_eq!(
        m["compare_at_price"]["amount"], 1000,
        "kept, shown without strikethrough"
    );
    assert_eq!(
        s["weight"],
        serde_json::json!({"milligrams": 500, "unit": "g"})
    );
    assert_eq!(
        m["weight"],
        serde_json::json!({"milligrams": 1_250_000, "unit": "kg"})
    );
    assert_eq!(s["image_url"], "https://cdn.example.com/tee.jpg");
    assert_eq!(
        (&s["requires_shipping"], &m["requires_shipping"]),
        (&Value::from(true), &Value::from(false))
    );
    assert_eq!(
        (&s["taxable"], &m["taxable"]),
        (&Value::from(true), &Value::from(false))
    );
    assert_eq!(s["cost"]["amount"], 450);
    let public: Value = app
        .client
        .get(app.url("/api/v1/products/tfrg-tee"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(
        public["variants"][0].get("cost").is_none(),
        "cost is staff-only: {public}"
    );
    let stock = |v: &Value| {
        format!(
            "/api/v1/admin/variants/{}/stock",
            v["id"].as_str().expect("id")
        )
    };
    let s_stock: Value = app.admin_get(&stock(s)).await.json().await.expect("json");
    let m_stock: Value = app.admin_get(&stock(m)).await.json().await.expect("json");
    assert_eq!(
        (&s_stock["backorder"], &s_stock["on_hand"]),
        (&Value::from("allow"), &Value::from(0))
    );
    assert_eq!(
        (&m_stock["backorder"], &m_stock["on_hand"]),
        (&Value::from("deny"), &Value::from(7))
    );
}

/// Handles, the apostrophe SKU, the CR and the Shopify-sized product.
async fn check_others(app: &TestApp) {
    // Stored NFC, lower case; reachable percent-encoded.
    let ao = admin_product(app, "%C3%A1o-thun_n%E1%BB%AF").await;
    assert_eq!(ao["slug"], "áo-thun_nữ");
    assert_eq!(ao["variants"][0]["sku"], "25970");
    assert_eq!(ao["gift_card"], true);
    let long = admin_product(app, &"h".repeat(LONG_HANDLE_CHARS)).await;
    assert_eq!(
        long["title"], "Summer\nHat",
        "a CR in a quoted cell reads as a newline"
    );
    admin_product(app, "rescued-scarf").await;
    let r = app.admin_get("/api/v1/admin/products/priceless").await;
    assert_eq!(r.status(), 404, "a failed product is not half-imported");
    let big = admin_product(app, "big-box").await;
    assert_eq!(big["variants"].as_array().expect("v").len(), 101);
    assert_eq!(big["tags"].as_array().expect("t").len(), 60);
    assert_eq!(big["images"].as_array().expect("i").len(), 60);
    assert_eq!(big["seo"]["description"].as_str().expect("seo").len(), 800);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_keeps_every_column_and_is_a_fixed_point() {
    let app = TestApp::spawn().await;
    import(&app, &fidelity_file(), "").await;
    let ids_before = admin_product(&app, "tfrg-tee").await["variants"].clone();
    let first = export(&app).await;
    let header = first.lines().next().expect("header");
    for kept in [
        "Option1 Linked To",
        "Variant Fulfillment Service",
        "Google Shopping / Gender",
        "Season (product.metafields.custom.season)",
        "Variant Tax Code",
        "Price / International",
    ] {
        assert!(header.contains(kept), "{kept} missing from {header}");
    }
    for cell in [
        "'810107445129",
        "'25970",
        "product.metafields.shopify.size",
        "PC040100",
        ",14.00,",
        "unisex",
        "continue",
        "0.5",
    ] {
        assert!(first.contains(cell), "{cell} lost in export");
    }
    let again = import(&app, &first, "").await;
    assert_eq!(
        (&again["created"], &again["updated"], &again["failed"]),
        (&Value::from(0), &Value::from(5), &Value::from(0)),
        "{again:#}"
    );
    let ids_after = admin_product(&app, "tfrg-tee").await["variants"].clone();
    let ids = |v: &Value| -> Vec<Value> {
        v.as_array()
            .expect("v")
            .iter()
            .map(|x| x["id"].clone())
            .collect()
    };
    assert_eq!(
        ids(&ids_before),
        ids(&ids_after),
        "variants matched by option values"
    );
    assert_eq!(
        first,
        export(&app).await,
        "import → export is a fixed point"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let report = import(&app, &fidelity_file(), "?dry_run=true").await;
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&Value::from(5), &Value::from(1))
    );
    let products = report["products"].as_array().expect("products");
    assert_eq!(products.len(), 6);
    assert_eq!(products[0]["result"], "created");
    assert!(
        products
            .iter()
            .any(|p| p["result"] == "failed" && p["line"] == 7)
    );
    let r = app.admin_get("/api/v1/admin/products/tfrg-tee").await;
    assert_eq!(r.status(), 404, "a dry run writes nothing");
    app.stop().await;
}

#[test]
fn cli_dry_run_and_json_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("in.csv");
    std::fs::write(&file, fidelity_file()).expect("write");
    let json = dir.path().join("report.json");
    let out = common::backend::shopd(&dir.path().join("data"))
        .args(["import", "products", "--dry-run", "--report"])
        .arg(&json)
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .expect("import");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an error line exits 2: {stdout}"
    );
    assert!(stdout.contains("error line 8 (priceless)"), "{stdout}");
    assert!(stdout.contains("warning line 6"), "{stdout}");
    assert!(stdout.contains("dry run, nothing written"), "{stdout}");
    assert!(
        stdout.contains("5 created, 0 updated, 4 with warnings, 1 failed"),
        "{stdout}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json");
    assert_eq!(report["products"].as_array().expect("p").len(), 6);
    assert_eq!(report["errors"][0]["line"], 8);
}

/// A file the size of real exports (over the 1 MiB JSON body limit) imports through the admin
/// API; beyond `server.import_body_limit` it is a 413, not a partial import.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_real_export_size_import_over_http_within_their_own_limit() {
    let mut f = File::new();
    let body = format!("<p>{}</p>", "Soft cotton, long description. ".repeat(300));
    for i in 0..300 {
        let handle = format!("product-{i}");
        let title = format!("Product {i}");
        f.row(&[
            ("Handle", handle.as_str()),
            ("Title", title.as_str()),
            ("Body (HTML)", body.as_str()),
            ("Option1 Name", "Title"),
            ("Option1 Value", "Default Title"),
            ("Variant Price", "5.00"),
        ]);
    }
    let csv = f.text();
    assert!(csv.len() > 2 * 1024 * 1024, "{} bytes", csv.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_in(dir.path(), None).await;
    let report = import(&app, &csv, "").await;
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&Value::from(300), &Value::from(0))
    );
    app.stop().await;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = common::test_config(dir.path());
    cfg.server.import_body_limit = 1024 * 1024;
    let app = TestApp::spawn_with(cfg, None).await;
    let r = app
        .admin
        .post(app.url("/api/v1/admin/products/import"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    common::problem(r, 413, "payload_too_large").await;
    let r = app.admin_get("/api/v1/admin/products/product-0").await;
    assert_eq!(r.status(), 404, "nothing imported");
    app.stop().await;
}

/// A SKU lookup lists every holder — two variants of one product and one of another — page by
/// page, and never picks one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_sku_lists_every_holder() {
    let app = TestApp::spawn().await;
    import(&app, &fidelity_file(), "").await;
    let page = |q: String| {
        let app = &app;
        async move {
            let r = app.admin_get(&format!("/api/v1/admin/variants?{q}")).await;
            assert_eq!(r.status(), 200, "{q}");
            r.json::<Value>().await.expect("json")
        }
    };
    let first = page("sku=tfrg%202tgp%20%231&per_page=2".into()).await;
    assert_eq!(first["data"].as_array().expect("data").len(), 2);
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let rest = page(format!("sku=TFRG%202TGP%20%231&per_page=2&cursor={cursor}")).await;
    assert_eq!(rest["has_more"], false);
    let mut holders: Vec<Value> = first["data"].as_array().expect("d").clone();
    holders.extend(rest["data"].as_array().expect("d").iter().cloned());
    let mut slugs: Vec<&str> = holders
        .iter()
        .map(|h| h["product_slug"].as_str().expect("slug"))
        .collect();
    slugs.sort();
    let long = "h".repeat(LONG_HANDLE_CHARS);
    assert_eq!(slugs, vec![long.as_str(), "tfrg-tee", "tfrg-tee"]);
    let ids: std::collections::HashSet<&str> = holders
        .iter()
        .map(|h| h["variant_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 3, "three distinct variants");
    let one = page("sku=25970".into()).await;
    assert_eq!(one["data"][0]["product_slug"], "áo-thun_nữ");
    assert_eq!(page("sku=NOPE".into()).await["data"], serde_json::json!([]));
    let r = app.admin_get("/api/v1/admin/variants?sku=%20").await;
    common::problem(r, 422, "validation_failed").await;
    app.stop().await;
}

/// What real exports hold beyond the documented columns: Shopify's `unlisted` status (a page
/// and a cart but no listing), a status shopd does not know (a warning), a fulfilment service
/// as inventory tracker (tracked, its name written back in place), a count on an untracked
/// variant (kept) and an oversold one (a warning, nothing on hand).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_export_quirks_are_kept_or_reported() {
    let app = TestApp::spawn().await;
    let mut f = File::new();
    f.row(&[
        ("Handle", "hidden-tee"),
        ("Title", "Hidden Tee"),
        ("Option1 Name", "Size"),
        ("Option1 Value", "S"),
        ("Variant Inventory Tracker", "dsers-fulfillment-service"),
        ("Variant Inventory Qty", "5"),
        ("Variant Price", "10.00"),
        ("Published", "true"),
        ("Status", "unlisted"),
    ]);
    f.row(&[
        ("Handle", "hidden-tee"),
        ("Option1 Value", "M"),
        ("Variant Inventory Qty", "1"),
        ("Variant Price", "10.00"),
    ]);
    f.row(&[
        ("Handle", "odd-status"),
        ("Title", "Odd Status"),
        ("Option1 Name", "Title"),
        ("Option1 Value", "Default Title"),
        ("Variant Inventory Tracker", "shopify"),
        ("Variant Inventory Qty", "-3"),
        ("Variant Price", "4.00"),
        ("Published", "true"),
        ("Status", "preorder"),
    ]);
    let report = import(&app, &f.text(), "").await;
    assert_eq!(report["failed"], 0, "{report:#}");
    let warnings = messages(&report, "warnings");
    assert!(has(&warnings, 4, "`preorder`"), "{warnings:?}");
    assert!(has(&warnings, 4, "read as 0 on hand"), "{warnings:?}");

    let hidden = admin_product(&app, "hidden-tee").await;
    assert_eq!(hidden["status"], "unlisted");
    let r = app.get("/api/v1/products/hidden-tee").await;
    assert_eq!(r.status(), 200, "an unlisted product has its page");
    let list: Value = app
        .get("/api/v1/products")
        .await
        .json()
        .await
        .expect("json");
    let listed: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| p["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(listed, vec!["odd-status"], "unlisted is not listed");
    let odd = admin_product(&app, "odd-status").await;
    assert_eq!(odd["status"], "active", "by Published");
    let stock = |v: &Value| {
        format!(
            "/api/v1/admin/variants/{}/stock",
            v["id"].as_str().expect("id")
        )
    };
    let s: Value = app
        .admin_get(&stock(&hidden["variants"][0]))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(s["on_hand"], 5);
    assert_eq!(hidden["variants"][0]["track_inventory"], true);
    assert_eq!(hidden["variants"][1]["track_inventory"], false);
    let s: Value = app
        .admin_get(&stock(&odd["variants"][0]))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(s["on_hand"], 0);

    let first = export(&app).await;
    let mut rdr = csv::Reader::from_reader(first.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .expect("h")
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |name: &str| {
        let at: Vec<usize> = (0..header.len()).filter(|i| header[*i] == name).collect();
        assert_eq!(at.len(), 1, "{name} once in {header:?}");
        at[0]
    };
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.expect("row")).collect();
    assert_eq!(
        &rows[0][col("Variant Inventory Tracker")],
        "dsers-fulfillment-service"
    );
    assert_eq!(
        &rows[1][col("Variant Inventory Qty")],
        "1",
        "untracked count kept"
    );
    assert_eq!(&rows[0][col("Status")], "unlisted");
    import(&app, &first, "").await;
    assert_eq!(first, export(&app).await, "a fixed point");
    app.stop().await;
}

/// A product of the file never replaces another: handles that differ only in case are one
/// product, a handle made from the title gets a number instead of taking an existing product's,
/// and a handle a product earlier in the file already took is refused on its line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_never_replace_another_product() {
    let app = TestApp::spawn().await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/products",
            &serde_json::json!({"title": "Blue Mug", "status": "active", "variants": [{
                "option_values": [], "price": {"amount": 1234, "currency": "USD"}}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let mut f = File::new();
    let default = |handle: &'static str, title: &'static str| {
        vec![
            ("Handle", handle),
            ("Title", title),
            ("Option1 Name", "Title"),
            ("Option1 Value", "Default Title"),
            ("Variant Price", "2.00"),
        ]
    };
    f.row(&[
        ("Handle", "Café-Mug"),
        ("Title", "Café Mug"),
        ("Option1 Name", "Size"),
        ("Option1 Value", "S"),
        ("Variant Price", "1.00"),
    ]);
    f.row(&[
        ("Handle", "café-mug"),
        ("Option1 Value", "M"),
        ("Variant Price", "1.00"),
    ]);
    f.row(&default("bad handle/1", "Blue Mug"));
    f.row(&default("bad handle/2", "Blue Mug"));
    f.row(&default("blue-mug-2", "Another Mug"));
    let report = import(&app, &f.text(), "").await;
    assert_eq!(
        (&report["created"], &report["updated"], &report["failed"]),
        (&Value::from(3), &Value::from(0), &Value::from(1)),
        "{report:#}"
    );
    let errors = messages(&report, "errors");
    assert!(has(&errors, 6, "product on line 4"), "{errors:?}");
    let cafe = admin_product(&app, "caf%C3%A9-mug").await;
    assert_eq!(
        cafe["variants"].as_array().expect("v").len(),
        2,
        "one product"
    );
    let original = admin_product(&app, "blue-mug").await;
    assert_eq!(
        original["variants"][0]["price"]["amount"], 1234,
        "never replaced"
    );
    for slug in ["blue-mug-2", "blue-mug-3"] {
        let p = admin_product(&app, slug).await;
        assert_eq!(p["title"], "Blue Mug");
    }
    app.stop().await;
}
