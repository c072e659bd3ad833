//! A deterministic demo catalog: realistic titles, descriptions, options, variants and prices
//! across a small category tree, with embedded placeholder images. The same seed always gives
//! the same catalog, so demos, tests and benchmarks are reproducible.

use rand::{RngExt, SeedableRng};
use serde_json::json;

use super::input::ProductInput;

/// A leaf category of the demo tree: name, placeholder image, product nouns.
pub type Leaf = (&'static str, &'static str, &'static [&'static str]);

/// Category tree: (root, leaves).
pub const TREE: &[(&str, &[Leaf])] = &[
    (
        "Clothing",
        &[
            ("T-Shirts", "tshirt", &["T-Shirt", "Tee", "Long Sleeve Tee"]),
            ("Hoodies", "hoodie", &["Hoodie", "Zip Hoodie", "Sweatshirt"]),
            ("Socks", "socks", &["Socks", "Crew Socks", "Hiking Socks"]),
        ],
    ),
    (
        "Home",
        &[
            ("Mugs", "mug", &["Mug", "Coffee Mug", "Espresso Cup"]),
            (
                "Candles",
                "candle",
                &["Candle", "Soy Candle", "Tealight Set"],
            ),
            (
                "Blankets",
                "blanket",
                &["Blanket", "Throw", "Picnic Blanket"],
            ),
        ],
    ),
    (
        "Outdoor",
        &[
            (
                "Bottles",
                "bottle",
                &["Water Bottle", "Flask", "Travel Bottle"],
            ),
            (
                "Backpacks",
                "backpack",
                &["Backpack", "Daypack", "Rolltop Bag"],
            ),
        ],
    ),
    (
        "Stationery",
        &[
            (
                "Notebooks",
                "notebook",
                &["Notebook", "Journal", "Sketchbook"],
            ),
            ("Pens", "pen", &["Pen", "Fountain Pen", "Pencil Set"]),
        ],
    ),
];

const ADJECTIVES: &[&str] = &[
    "Classic",
    "Organic",
    "Vintage",
    "Everyday",
    "Premium",
    "Minimal",
    "Rustic",
    "Nordic",
    "Coastal",
    "Urban",
    "Alpine",
    "Handmade",
    "Recycled",
    "Lightweight",
    "Heavyweight",
    "Cozy",
];
const MATERIALS: &[&str] = &[
    "Cotton",
    "Linen",
    "Wool",
    "Bamboo",
    "Ceramic",
    "Stoneware",
    "Enamel",
    "Steel",
    "Canvas",
    "Leather",
    "Oak",
    "Beeswax",
    "Soy",
    "Paper",
    "Recycled Plastic",
    "Hemp",
];
const COLORS: &[&str] = &[
    "Black", "White", "Red", "Blue", "Green", "Grey", "Navy", "Olive", "Sand", "Rust",
];
const SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];
const VENDORS: &[&str] = &[
    "Northwind",
    "Acme Goods",
    "Fjord & Co",
    "Little Harbor",
    "Oakridge",
    "Sunday Studio",
];
const SENTENCES: &[&str] = &[
    "Made to be used every day and to last for years.",
    "Designed in small batches by people who care about the details.",
    "A quiet, honest piece that fits into any home.",
    "Easy to care for: wash cold, dry flat, enjoy again.",
    "Sourced responsibly and finished by hand.",
    "Light enough to carry anywhere, tough enough for the trail.",
    "The colour deepens beautifully with age.",
    "Comes gift-ready in recycled packaging.",
    "Pairs well with the rest of the collection.",
    "Our most-loved design, now in new colours.",
];

/// The `n`-th of `count` demo products, deterministic for `seed`; `category_ids[i]` is the id of
/// the i-th child category in [`TREE`] order.
pub fn product(seed: u64, n: usize, category_ids: &[String]) -> Result<ProductInput, String> {
    let mut rng =
        rand::rngs::StdRng::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let children: Vec<(&str, &str, &[&str])> =
        TREE.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let ci = rng.random_range(0..children.len());
    let (cat_name, image, nouns) = children[ci];
    let adj = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let mat = MATERIALS[rng.random_range(0..MATERIALS.len())];
    let noun = nouns[rng.random_range(0..nouns.len())];
    let title = format!("{adj} {mat} {noun}");
    let mut desc = String::from("<p>");
    for _ in 0..rng.random_range(2..5) {
        desc.push_str(SENTENCES[rng.random_range(0..SENTENCES.len())]);
        desc.push(' ');
    }
    desc.push_str(&format!(
        "</p><p>{mat} {noun}, {adj}. Part of our {cat_name} range.</p>"
    ));
    let base = 500 + 100 * rng.random_range(5..120) - 1; // x.99 prices from $5.99 to $124.99
    let clothing = ci < 3;
    let mut colors: Vec<&str> = COLORS.to_vec();
    let ncolors = rng.random_range(1..4);
    let mut picked = Vec::new();
    for _ in 0..ncolors {
        let i = rng.random_range(0..colors.len());
        picked.push(colors.remove(i));
    }
    let mut options = vec![json!({"name": "Color", "values": picked})];
    let sizes: Vec<&str> = if clothing {
        SIZES[1..4].to_vec()
    } else {
        Vec::new()
    };
    if clothing {
        options.push(json!({"name": "Size", "values": sizes}));
    }
    let mut variants = Vec::new();
    for (c_i, c) in picked.iter().enumerate() {
        if clothing {
            for (s_i, s) in sizes.iter().enumerate() {
                variants.push(json!({
                    "sku": format!("DEMO-{n}-{c_i}{s_i}"),
                    "option_values": [c, s],
                    "price": {"amount": base + 200 * s_i as i64, "currency": "USD"},
                    "weight_grams": 200 + 50 * s_i,
                }));
            }
        } else {
            variants.push(json!({
                "sku": format!("DEMO-{n}-{c_i}"),
                "option_values": [c],
                "price": {"amount": base, "currency": "USD"},
                "compare_at_price": if rng.random_range(0..5) == 0 { json!({"amount": base + 1000, "currency": "USD"}) } else { json!(null) },
                "weight_grams": 300,
            }));
        }
    }
    let tags: Vec<String> = [
        mat.to_lowercase(),
        adj.to_lowercase(),
        cat_name.to_lowercase(),
    ]
    .to_vec();
    let value = json!({
        "title": title,
        "description": desc,
        "status": "active",
        "vendor": VENDORS[rng.random_range(0..VENDORS.len())],
        "product_type": cat_name,
        "tags": tags,
        "images": [{"url": format!("/assets/demo/{image}.svg"), "alt": title}],
        "seo": {"title": format!("{title} | demo shop"), "description": SENTENCES[rng.random_range(0..SENTENCES.len())]},
        "attributes": {"material": mat},
        "options": options,
        "variants": variants,
        "category_ids": category_ids.get(ci).map(|c| vec![c.clone()]).unwrap_or_default(),
    });
    serde_json::from_value(value).map_err(|e| format!("demo product {n}: {e}"))
}

/// For unit tests of what reads a catalog: a store in `dir` (on a test clock) holding `n` demo
/// products, its catalog service, and the products.
#[cfg(test)]
pub(crate) async fn test_catalog(
    dir: &std::path::Path,
    n: usize,
) -> (crate::storage::Store, super::Catalog, Vec<super::Product>) {
    use crate::core::{TestClock, Timestamp};
    use crate::storage::{SCHEMA_V1, Store, StoreOptions};
    let store = Store::open(StoreOptions::new(
        dir.to_path_buf(),
        std::sync::Arc::new(TestClock::new(Timestamp::from_millis(1_000_000))),
        SCHEMA_V1,
    ))
    .expect("open");
    let catalog = super::Catalog::new(store.clone());
    let made = catalog
        .seed_demo(n, 7, false, &mut |_| {})
        .await
        .expect("demo");
    assert_eq!(made as usize, n);
    let products = catalog
        .all_products(n + 1)
        .collect::<Result<_, _>>()
        .expect("products");
    (store, catalog, products)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_products_are_valid_and_deterministic() {
        let cats: Vec<String> = (0..10)
            .map(|i| {
                crate::core::CategoryId::new(crate::core::Timestamp::from_millis(i)).to_string()
            })
            .collect();
        let mut titles = std::collections::HashSet::new();
        for n in 0..500 {
            let a = product(7, n, &cats).expect("demo product");
            let b = product(7, n, &cats).expect("demo product");
            assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "same seed, same product"
            );
            super::super::validate(&a).unwrap_or_else(|e| panic!("product {n} invalid: {e:?}"));
            titles.insert(a.title.clone());
        }
        assert!(titles.len() > 200, "titles vary: {}", titles.len());
        let other = product(8, 0, &cats).expect("demo product");
        assert_ne!(
            format!("{:?}", product(7, 0, &cats).expect("p")),
            format!("{other:?}")
        );
    }
}
