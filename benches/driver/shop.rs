//! Shop fixtures shared by the benches: a catalog with plenty of stock, and filled carts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

/// Products the carts draw from (several, so reservations do not all touch one row).
const PRODUCTS: usize = 50;

/// Creates the catalog with plenty of stock; returns the variant ids.
pub async fn catalog(c: &reqwest::Client, base: &str, token: &str) -> Vec<String> {
    let mut variants = Vec::new();
    for i in 0..PRODUCTS {
        let p: Value = c
            .post(format!("{base}/api/v1/admin/products"))
            .bearer_auth(token)
            .json(&json!({"title": format!("Bench product {i}"), "status": "active",
                "variants": [{"sku": format!("BENCH-{i}"), "price": {"amount": 1000 + i as i64 * 10, "currency": "USD"}}]}))
            .send()
            .await
            .expect("product")
            .json()
            .await
            .expect("product json");
        let v = p["variants"][0]["id"].as_str().expect("variant").to_owned();
        let r = c
            .put(format!("{base}/api/v1/admin/variants/{v}/stock"))
            .bearer_auth(token)
            .json(&json!({"on_hand": 100_000_000}))
            .send()
            .await
            .expect("stock");
        assert_eq!(r.status(), 200);
        variants.push(v);
    }
    variants
}

/// `n` anonymous carts with two lines each, filled by 64 concurrent clients, in the order they
/// will check out: roughly the order they were created (shoppers check out minutes after
/// they start, not in random order over the shop's history), shuffled within blocks of
/// [`SPREAD`] so neighbouring checkouts are not strictly neighbouring carts.
pub async fn carts(c: &reqwest::Client, base: &str, variants: &[String], n: usize) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let variants = Arc::new(variants.to_vec());
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (c, base, next, variants) =
            (c.clone(), base.to_owned(), next.clone(), variants.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return out;
                }
                let cart: Value = c
                    .post(format!("{base}/api/v1/cart"))
                    .send()
                    .await
                    .expect("cart")
                    .json()
                    .await
                    .expect("cart json");
                let t = cart["cart_token"].as_str().expect("token").to_owned();
                for k in 0..2 {
                    let r = c
                        .post(format!("{base}/api/v1/cart/items"))
                        .header("X-Cart-Token", &t)
                        .json(&json!({"variant_id": variants[(i * 7 + k * 13) % variants.len()], "quantity": 1 + k}))
                        .send()
                        .await
                        .expect("add");
                    assert_eq!(r.status(), 201);
                }
                out.push((i, t));
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.expect("join"));
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    let mut all: Vec<String> = all.into_iter().map(|(_, t)| t).collect();
    // Deterministic Fisher-Yates within each block (xorshift64).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for block in all.chunks_mut(SPREAD) {
        for k in (1..block.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block.swap(k, (x % (k as u64 + 1)) as usize);
        }
    }
    all
}

/// Carts created this close together check out in any order among themselves.
const SPREAD: usize = 512;

/// Applies discount `code` to every cart (64 clients at once).
pub async fn apply_code(c: &reqwest::Client, base: &str, carts: &[String], code: &str) {
    let carts = Arc::new(carts.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (c, base, next, carts, code) = (
            c.clone(),
            base.to_owned(),
            next.clone(),
            carts.clone(),
            code.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = carts.get(i) else { return };
                let r = c
                    .post(format!("{base}/api/v1/cart/discounts"))
                    .header("X-Cart-Token", t)
                    .json(&json!({"code": code}))
                    .send()
                    .await
                    .expect("code");
                assert_eq!(r.status(), 200, "the code applies");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
}
