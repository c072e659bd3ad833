//! Product search over HTTP: typos, prefixes, filters with facet counts, sort orders,
//! pagination, edits visible within a second, identical results after an index rebuild.

use crate::common;

use std::time::{Duration, Instant};

use common::{TestApp, problem};
use serde_json::{Value, json};

struct Seed {
    tees: String,
    mugs: String,
}

async fn seed(app: &TestApp) -> Seed {
    let cat = |name: &str| json!({"name": name});
    let tees: Value = app
        .admin_post_json("/api/v1/admin/categories", &cat("Tees"))
        .await
        .json()
        .await
        .expect("json");
    let mugs: Value = app
        .admin_post_json("/api/v1/admin/categories", &cat("Mugs"))
        .await
        .json()
        .await
        .expect("json");
    let (t, m) = (
        tees["id"].as_str().expect("id").to_owned(),
        mugs["id"].as_str().expect("id").to_owned(),
    );
    let products = [
        (
            "Organic Cotton T-Shirt",
            "Soft organic cotton tee for everyday wear.",
            &t,
            1999,
            ["Red", "Blue"],
            vec!["organic", "cotton"],
        ),
        (
            "Striped T-Shirt",
            "Breton stripes, heavy cotton.",
            &t,
            2499,
            ["Blue", "White"],
            vec!["cotton"],
        ),
        (
            "Graphic T-Shirt",
            "Printed mountain graphic.",
            &t,
            2999,
            ["Black", "White"],
            vec!["print"],
        ),
        (
            "Enamel Camping Mug",
            "A sturdy enamel mug for coffee by the fire.",
            &m,
            1299,
            ["White", "Green"],
            vec!["outdoor"],
        ),
        (
            "Ceramic Coffee Mug",
            "Hand-thrown ceramic, holds 350 ml of coffee.",
            &m,
            1899,
            ["Blue", "Grey"],
            vec!["kitchen"],
        ),
        (
            "Travel Mug",
            "Insulated steel keeps drinks hot.",
            &m,
            3499,
            ["Black", "Silver"],
            vec!["outdoor"],
        ),
    ];
    for (i, (title, desc, cat, price, colors, tags)) in products.iter().enumerate() {
        let body = json!({
            "title": title, "description": format!("<p>{desc}</p>"), "status": "active",
            "tags": tags, "category_ids": [cat],
            "options": [{"name": "Color", "values": colors}],
            "variants": [
                {"sku": format!("S{i}-A"), "option_values": [colors[0]], "price": {"amount": price, "currency": "USD"}},
                {"sku": format!("S{i}-B"), "option_values": [colors[1]], "price": {"amount": price + 500, "currency": "USD"}}
            ]
        });
        let r = app.admin_post_json("/api/v1/admin/products", &body).await;
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        app.clock.advance(Duration::from_secs(1)); // distinct creation times for `newest`
    }
    // Indexing runs in jobs; wait until all six are searchable.
    wait_total(app, "/api/v1/search", 6).await;
    Seed { tees: t, mugs: m }
}

async fn get(app: &TestApp, url: &str) -> Value {
    let r = app.get(url).await;
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.expect("json")
}

async fn wait_total(app: &TestApp, url: &str, n: u64) {
    for _ in 0..500 {
        if get(app, url).await["total"] == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{url} never reached {n} hits");
}

fn titles(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|h| h["title"].as_str().expect("t").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typos_prefixes_stemming_and_highlights() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let r = get(&app, "/api/v1/search?q=tshrit").await;
    let t = titles(&r);
    assert_eq!(r["total"], 3, "{t:?}");
    assert!(t.iter().all(|x| x.contains("T-Shirt")));
    // Prefix of the last word.
    let r = get(&app, "/api/v1/search?q=enamel%20cam").await;
    assert_eq!(titles(&r), vec!["Enamel Camping Mug"]);
    // Stemming: "mugs" finds "Mug"; a typo in a longer word still matches.
    assert_eq!(get(&app, "/api/v1/search?q=mugs").await["total"], 3);
    assert_eq!(get(&app, "/api/v1/search?q=cerammic").await["total"], 1);
    // Title outranks description.
    let r = get(&app, "/api/v1/search?q=coffee").await;
    assert_eq!(titles(&r)[0], "Ceramic Coffee Mug");
    assert!(
        r["data"][0]["title_highlight"]
            .as_str()
            .expect("h")
            .contains("<b>Coffee</b>")
    );
    assert!(
        r["data"][1]["snippet"]
            .as_str()
            .expect("s")
            .contains("<b>coffee</b>")
    );
    // Every word must match.
    assert_eq!(
        get(&app, "/api/v1/search?q=ceramic%20stripes").await["total"],
        0
    );
    let s = get(&app, "/api/v1/search/suggest?q=trav").await;
    assert_eq!(s["data"], json!(["Travel Mug"]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_facet_counts_agree() {
    let app = TestApp::spawn().await;
    let seed = seed(&app).await;
    let r = get(&app, &format!("/api/v1/search?category={}", seed.mugs)).await;
    assert_eq!(r["total"], 3);
    let colors = r["facets"]["options"]["Color"].as_array().expect("colors");
    let count = |v: &str| {
        colors
            .iter()
            .find(|c| c["value"] == v)
            .map(|c| c["count"].as_u64().expect("n"))
            .unwrap_or(0)
    };
    assert_eq!(count("Black"), 1);
    assert_eq!(count("White"), 1);
    assert_eq!(count("Red"), 0, "facets only count the filtered set");
    // Facet count equals the result size when that facet is applied as a filter.
    let r2 = get(
        &app,
        &format!("/api/v1/search?category={}&option.Color=White", seed.mugs),
    )
    .await;
    assert_eq!(r2["total"].as_u64(), Some(count("White")));
    assert_eq!(titles(&r2), vec!["Enamel Camping Mug"]);
    // Combined: text + category + price range + tag.
    let r = get(
        &app,
        &format!(
            "/api/v1/search?q=cotton&category={}&min_price=2000&max_price=2600",
            seed.tees
        ),
    )
    .await;
    assert_eq!(titles(&r), vec!["Striped T-Shirt"]);
    let r = get(&app, "/api/v1/search?tag=outdoor").await;
    assert_eq!(r["total"], 2);
    let cats = r["facets"]["categories"].as_array().expect("cats");
    assert_eq!(cats.len(), 1);
    assert_eq!(cats[0]["value"], seed.mugs.as_str());
    assert_eq!(cats[0]["count"], 2);
    // Price buckets over the whole set add up to the total.
    let all = get(&app, "/api/v1/search").await;
    let sum: u64 = all["facets"]["price_ranges"]
        .as_array()
        .expect("pr")
        .iter()
        .map(|b| b["count"].as_u64().expect("n"))
        .sum();
    assert_eq!(sum, 6);
    problem(
        app.get("/api/v1/search?colour=red").await,
        400,
        "malformed_request",
    )
    .await;
    problem(
        app.get("/api/v1/search?sort=cheapest").await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        app.get("/api/v1/search?per_page=101").await,
        422,
        "validation_failed",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_orders_and_pages_without_gaps() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let r = get(&app, "/api/v1/search?sort=price_asc").await;
    let prices: Vec<i64> = r["data"]
        .as_array()
        .expect("d")
        .iter()
        .map(|h| h["price"]["amount"].as_i64().expect("p"))
        .collect();
    assert_eq!(prices, vec![1299, 1899, 1999, 2499, 2999, 3499]);
    let r = get(&app, "/api/v1/search?sort=price_desc").await;
    assert_eq!(titles(&r)[0], "Travel Mug");
    let r = get(&app, "/api/v1/search?sort=newest").await;
    assert_eq!(titles(&r)[0], "Travel Mug", "created last");
    let mut seen = Vec::new();
    for page in 1..=3 {
        let r = get(
            &app,
            &format!("/api/v1/search?sort=price_asc&per_page=2&page={page}"),
        )
        .await;
        assert_eq!(r["total"], 6);
        seen.extend(titles(&r));
    }
    let all = titles(&get(&app, "/api/v1/search?sort=price_asc").await);
    assert_eq!(seen, all, "pages are disjoint and complete");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_show_up_within_a_second_and_rebuild_is_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_in(dir.path(), None).await;
    seed(&app).await;
    let before = get(&app, "/api/v1/search?q=mug&sort=price_asc").await;
    // An edit: rename a product, it becomes findable under the new word within a second.
    let r = get(&app, "/api/v1/search?q=travel").await;
    let id = r["data"][0]["id"].as_str().expect("id").to_owned();
    let mut p: Value = app
        .admin_get(&format!("/api/v1/admin/products/{id}"))
        .await
        .json()
        .await
        .expect("json");
    p["title"] = json!("Thermos Travel Mug");
    p["tags"] = json!(["thermal"]);
    for k in ["id", "created_at", "updated_at", "version"] {
        p.as_object_mut().expect("obj").remove(k);
    }
    // Counted before the edit, so a count remembered for this filter set must be dropped.
    let tags_before = get(&app, "/api/v1/search").await["facets"]["tags"].clone();
    assert!(
        !tags_before.to_string().contains("thermal"),
        "{tags_before}"
    );
    let started = Instant::now();
    let r = app
        .admin
        .put(app.url(&format!("/api/v1/admin/products/{id}")))
        .json(&p)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let mut visible = false;
    while started.elapsed() < Duration::from_secs(1) {
        if get(&app, "/api/v1/search?q=thermos").await["total"] == 1 {
            visible = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(visible, "edit not searchable within one second");
    // Facet counts follow the edit: the old version no longer counts.
    let tags = get(&app, "/api/v1/search").await["facets"]["tags"].clone();
    let tag = |v: &str| {
        tags.as_array()
            .expect("tags")
            .iter()
            .find(|t| t["value"] == v)
            .map(|t| t["count"].as_u64().expect("n"))
    };
    assert_eq!(tag("thermal"), Some(1), "{tags}");
    assert_eq!(tag("outdoor"), Some(1), "{tags}");
    // Drafts leave the index.
    let r = app
        .admin_post_json(
            "/api/v1/admin/products/bulk-status",
            &json!({"ids": [id], "status": "draft"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    wait_total(&app, "/api/v1/search?q=thermos", 0).await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/products/bulk-status",
            &json!({"ids": [id], "status": "active"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    wait_total(&app, "/api/v1/search?q=thermos", 1).await;
    let expected = get(&app, "/api/v1/search?q=mug&sort=price_asc").await;
    let expected_all = get(&app, "/api/v1/search?per_page=100&sort=price_asc").await;
    assert_ne!(before, expected);
    app.stop().await;

    // Delete the index; the next start rebuilds it from the store with identical results.
    std::fs::remove_dir_all(dir.path().join("search")).expect("rm index");
    let app = TestApp::spawn_in(dir.path(), None).await;
    assert_eq!(
        get(&app, "/api/v1/search?q=mug&sort=price_asc").await,
        expected
    );
    assert_eq!(
        get(&app, "/api/v1/search?per_page=100&sort=price_asc").await,
        expected_all
    );
    app.stop().await;

    // A corrupt index is rebuilt too.
    let current = dir
        .path()
        .join("search")
        .join(format!("v{}", shopd::domain::search::INDEX_VERSION));
    std::fs::write(current.join("meta.json"), b"{not json").expect("corrupt");
    let app = TestApp::spawn_in(dir.path(), None).await;
    assert_eq!(
        get(&app, "/api/v1/search?q=mug&sort=price_asc").await,
        expected
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_stock_follows_inventory() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    // Every seeded variant tracks stock and none has any yet.
    assert_eq!(get(&app, "/api/v1/search?in_stock=true").await["total"], 0);
    let id = get(&app, "/api/v1/search?q=travel").await["data"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let p: Value = app
        .admin_get(&format!("/api/v1/admin/products/{id}"))
        .await
        .json()
        .await
        .expect("json");
    let variant = p["variants"][1]["id"].as_str().expect("variant").to_owned();
    let stock = format!("/api/v1/admin/variants/{variant}/stock");
    let started = Instant::now();
    let r = app
        .admin_send(reqwest::Method::PUT, &stock, &json!({"on_hand": 2}))
        .await;
    assert_eq!(r.status(), 200);
    let mut visible = false;
    while started.elapsed() < Duration::from_secs(1) {
        if get(&app, "/api/v1/search?in_stock=true").await["total"] == 1 {
            visible = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(visible, "restock not visible in search within one second");
    let r = get(&app, "/api/v1/search?in_stock=true&q=mug").await;
    assert_eq!(titles(&r), vec!["Travel Mug"]);
    // Selling out removes it again.
    let r = app
        .admin_post_json(
            &format!("{stock}/adjustments"),
            &json!({"delta": -2, "reason": "damaged"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    wait_total(&app, "/api/v1/search?in_stock=true", 0).await;
    // Without the filter it is still found; `in_stock=false` lists what is sold out.
    assert_eq!(get(&app, "/api/v1/search?q=travel").await["total"], 1);
    assert_eq!(get(&app, "/api/v1/search?in_stock=false").await["total"], 6);
    app.stop().await;
}
