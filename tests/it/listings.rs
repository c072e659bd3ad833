//! Listing pages over real HTTP: a collection's filters (held in memory) mean what a
//! category's mean (answered by the search index) — the same counts for the same products,
//! the same products for the same filter — and they survive sorting and paging links.

use serde_json::{Value, json};

use crate::common::pages::{browser, page};
use crate::common::shop::usd;
use crate::common::{TestApp, eventually};

/// The facet links of a listing page as (label and count) lines, in order.
fn facet_lines(html: &str) -> Vec<String> {
    let Some(start) = html.find("<aside class=\"facets\"") else {
        return Vec::new();
    };
    let end = start + html[start..].find("</aside>").expect("end of facets");
    html[start..end]
        .split("<li>")
        .skip(1)
        .map(|li| {
            let text: String = li
                .split('<')
                .filter_map(|part| part.split_once('>').map(|(_, t)| t))
                .collect();
            text.replace("Remove filter: ", "").trim().to_owned()
        })
        .collect()
}

fn card_count(html: &str) -> usize {
    html.matches("class=\"card\"").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collections_filters_count_and_keep_what_a_categorys_do() {
    let app = TestApp::spawn().await;
    let cat: Value = app
        .admin_post_json(
            "/api/v1/admin/categories",
            &json!({"name": "Mugs", "slug": "mugs"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let mut ids = Vec::new();
    for (i, (colours, tags)) in [
        (vec!["Red", "Blue"], vec!["Sale", "stoneware"]),
        (vec!["Red"], vec!["sale"]),
        (vec!["Blue"], vec!["Stoneware"]),
        (vec!["Green", "Red"], vec![]),
        (vec!["Blue/Grey"], vec!["sale"]),
    ]
    .into_iter()
    .enumerate()
    {
        let variants: Vec<Value> = colours
            .iter()
            .map(|c| json!({"option_values": [c], "price": usd(1000 + 100 * i as i64)}))
            .collect();
        let r = app
            .admin_post_json(
                "/api/v1/admin/products",
                &json!({"title": format!("Mug {i}"), "status": "active", "tags": tags,
                        "category_ids": [cat["id"]],
                        "options": [{"name": "Colour", "values": colours}], "variants": variants}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let p: Value = r.json().await.expect("json");
        ids.push(p["id"].as_str().expect("id").to_owned());
    }
    let r = app
        .admin_post_json(
            "/api/v1/admin/collections",
            &json!({"title": "Mug picks", "slug": "mug-picks", "product_ids": ids}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let c = browser();
    let indexed = eventually(std::time::Duration::from_secs(10), || async {
        let (_, html) = page(&c, &app, "/categories/mugs").await;
        (card_count(&html) == 5).then_some(html)
    })
    .await
    .expect("the category lists the five mugs once indexed");
    let (s, collection) = page(&c, &app, "/collections/mug-picks").await;
    assert_eq!(s, 200);
    assert_eq!(card_count(&collection), 5);
    let from_index = facet_lines(&indexed);
    assert!(
        from_index.iter().any(|l| l == "Red (3)") && from_index.iter().any(|l| l == "sale (3)"),
        "{from_index:?}"
    );
    assert_eq!(
        facet_lines(&collection),
        from_index,
        "the same counts, in the same order"
    );

    // One filter, then two: the same products as the category's.
    for query in [
        "option.Colour=Red",
        "tag=sale&option.Colour=Blue",
        "option.Colour=Blue%20Grey",
        "tag=SALE",
    ] {
        let (_, cat_html) = page(&c, &app, &format!("/categories/mugs?{query}")).await;
        let (s, col_html) = page(&c, &app, &format!("/collections/mug-picks?{query}")).await;
        assert_eq!(s, 200, "{query}");
        assert_eq!(card_count(&col_html), card_count(&cat_html), "{query}");
        assert_eq!(facet_lines(&col_html), facet_lines(&cat_html), "{query}");
        assert!(col_html.contains("Clear all filters"), "{query}");
    }
    let (_, html) = page(&c, &app, "/collections/mug-picks?option.Colour=Red").await;
    assert_eq!(card_count(&html), 3);
    assert!(
        html.contains("name=\"option.Colour\" value=\"Red\""),
        "the sort form keeps the filter"
    );
    let (_, html) = page(
        &c,
        &app,
        "/collections/mug-picks?option.Colour=Red&sort=price_desc",
    )
    .await;
    let first = html.find("Mug 3").expect("mug 3");
    assert!(
        first < html.find("Mug 1").expect("mug 1"),
        "sorted within the filter"
    );
    let too_many: String = (0..21).map(|i| format!("tag=t{i}&")).collect();
    let (s, _) = page(&c, &app, &format!("/collections/mug-picks?{too_many}")).await;
    assert_eq!(s, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_moved_takes_its_products_to_its_new_parents_page() {
    let app = TestApp::spawn().await;
    let mut ids: Vec<String> = Vec::new();
    for (name, parent) in [("Kitchen", None), ("Garden", None), ("Pots", Some(0))] {
        let parent: Option<String> = parent.map(|i: usize| ids[i].clone());
        let c: Value = app
            .admin_post_json(
                "/api/v1/admin/categories",
                &json!({"name": name, "parent_id": parent}),
            )
            .await
            .json()
            .await
            .expect("json");
        ids.push(c["id"].as_str().expect("id").to_owned());
    }
    let r = app
        .admin_post_json(
            "/api/v1/admin/products",
            &json!({"title": "Clay pot", "status": "active", "category_ids": [ids[2]],
                    "variants": [{"price": usd(900)}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let c = browser();
    let listed = |path: &'static str| {
        let (c, app) = (c.clone(), &app);
        async move { page(&c, app, path).await.1.contains("Clay pot") }
    };
    let ok = eventually(std::time::Duration::from_secs(10), || async {
        listed("/categories/kitchen").await.then_some(())
    })
    .await;
    assert!(ok.is_some(), "a parent lists its subcategory's product");
    assert!(!listed("/categories/garden").await);

    let r = app
        .admin
        .put(app.url(&format!("/api/v1/admin/categories/{}", ids[2])))
        .json(&json!({"name": "Pots", "parent_id": ids[1]}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 200);
    let moved = eventually(std::time::Duration::from_secs(10), || async {
        (listed("/categories/garden").await && !listed("/categories/kitchen").await).then_some(())
    })
    .await;
    assert!(
        moved.is_some(),
        "the product follows its category to the new parent"
    );
    assert!(listed("/categories/pots").await);
    app.stop().await;
}
