//! A generated order history for the demo shop, with the structure real shops have: products
//! bought in bundles (a few products of one category that go together), bundles of uneven
//! popularity, repeat customers loyal to a couple of bundles, baskets of several items, and
//! guests. The same seed gives the same history, so `shopd recommend evaluate` on a demo shop
//! shows stable figures.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};

use super::history::{self, Basket};
use super::{RecommendError, Recommender};
use crate::core::{ProductId, Timestamp};

/// Customers with an order history (at the default size).
pub const CUSTOMERS: usize = 400;
/// Guest orders (at the default size).
pub const GUEST_ORDERS: usize = 600;
/// Order lines of the default history (about 2.2 lines an order).
pub const DEFAULT_LINES: usize = 3_900;
/// Products whose `similar` list the demo ranks at once (the rest are ranked as they change).
pub const MAX_SIMILAR_RANKED: usize = 10_000;
/// The history spans this many days before now.
pub const DAYS: i64 = 180;

/// Products grouped into bundles of up to three of one category.
fn bundles(products: &[(ProductId, String)], rng: &mut rand::rngs::StdRng) -> Vec<Vec<ProductId>> {
    let mut by_category: BTreeMap<&str, Vec<ProductId>> = BTreeMap::new();
    for (p, c) in products {
        by_category.entry(c.as_str()).or_default().push(*p);
    }
    let mut out = Vec::new();
    for (_, mut ps) in by_category {
        // A seeded shuffle (Fisher–Yates).
        for i in (1..ps.len()).rev() {
            ps.swap(i, rng.random_range(0..=i));
        }
        out.extend(ps.chunks(3).map(<[ProductId]>::to_vec));
    }
    out
}

/// A bundle index drawn with popularity falling with rank (Zipf, exponent 0.7).
fn zipf(rng: &mut rand::rngs::StdRng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(1.0);
    let x = rng.random_range(0.0..total);
    cumulative
        .partition_point(|c| *c < x)
        .min(cumulative.len() - 1)
}

/// Two or so products of `bundle`, sometimes with a stray product of another bundle.
fn basket_of(
    rng: &mut rand::rngs::StdRng,
    bundle: &[ProductId],
    stray: Option<ProductId>,
) -> Vec<(ProductId, u32)> {
    let mut items: Vec<ProductId> = bundle.to_vec();
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
    items.truncate(2.min(items.len()).max(1));
    let mut lines: Vec<(ProductId, u32)> = items
        .into_iter()
        .map(|p| (p, rng.random_range(1..3)))
        .collect();
    if let Some(s) = stray {
        lines.push((s, 1));
    }
    lines
}

/// The demo history over `products` (id, category), ending at `now`, of about `lines` order
/// lines (customers and guests scaled from the default 400 and 600).
pub fn baskets(
    products: &[(ProductId, String)],
    seed: u64,
    now: Timestamp,
    lines: usize,
) -> Vec<Basket> {
    let scale = |n: usize| (n as u64 * lines as u64 / DEFAULT_LINES as u64).max(1) as usize;
    let (customers, guests) = (scale(CUSTOMERS), scale(GUEST_ORDERS));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x7265_636f_6d6d_656e);
    let bundles = bundles(products, &mut rng);
    if bundles.is_empty() {
        return Vec::new();
    }
    let mut cumulative = Vec::with_capacity(bundles.len());
    let mut sum = 0.0;
    for rank in 0..bundles.len() {
        sum += 1.0 / ((rank + 1) as f64).powf(0.7);
        cumulative.push(sum);
    }
    let span = DAYS * super::rank::DAY_MS;
    let start = now.as_millis() - span;
    let mut out = Vec::new();
    let stray = |rng: &mut rand::rngs::StdRng| {
        (rng.random_range(0..4) == 0).then(|| {
            let b = &bundles[zipf(rng, &cumulative)];
            b[rng.random_range(0..b.len())]
        })
    };
    for c in 0..customers {
        let favourites = [
            rng.random_range(0..bundles.len()),
            rng.random_range(0..bundles.len()),
        ];
        let mut n = 1;
        while n < 10 && rng.random_range(0..100) < 65 {
            n += 1;
        }
        let mut times: Vec<i64> = (0..n).map(|_| start + rng.random_range(0..span)).collect();
        times.sort_unstable();
        for (i, at) in times.into_iter().enumerate() {
            let b = if rng.random_range(0..10) < 8 {
                favourites[rng.random_range(0..2)]
            } else {
                zipf(&mut rng, &cumulative)
            };
            let s = stray(&mut rng);
            out.push(Basket {
                key: format!("demo:c{c}-{i}"),
                customer: Some(format!("demo:customer-{c}")),
                at: Timestamp::from_millis(at),
                lines: basket_of(&mut rng, &bundles[b], s),
            });
        }
    }
    for g in 0..guests {
        let b = zipf(&mut rng, &cumulative);
        let s = stray(&mut rng);
        out.push(Basket {
            key: format!("demo:g{g}"),
            customer: None,
            at: Timestamp::from_millis(start + rng.random_range(0..span)),
            lines: basket_of(&mut rng, &bundles[b], s),
        });
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then(a.key.cmp(&b.key)));
    out
}

impl Recommender {
    /// Counts a demo history of about `lines` order lines over the catalog's products (once: a
    /// second run counts nothing new) and ranks every list (`similar` for the first
    /// [`MAX_SIMILAR_RANKED`] products). Returns the orders counted; `progress(stage, done,
    /// total)` follows the work.
    pub async fn seed_demo(
        &self,
        seed: u64,
        lines: usize,
        progress: &mut (dyn FnMut(&str, u64, u64) + Send),
    ) -> Result<u64, RecommendError> {
        let mut products = Vec::new();
        for p in self.catalog.all_products(500) {
            let p = p?;
            let category = p
                .category_ids
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            products.push((p.id, category));
        }
        let all = baskets(&products, seed, self.store.now(), lines);
        let total = all.len() as u64;
        let mut counted = 0u64;
        let mut done = 0u64;
        for chunk in history::write_runs(&all) {
            done += chunk.len() as u64;
            let chunk = chunk.to_vec();
            counted += self
                .store
                .write(move |tx| {
                    let mut n = 0u64;
                    for b in &chunk {
                        n += u64::from(history::count(tx, b, false)?);
                    }
                    Ok::<_, crate::storage::StorageError>(n)
                })
                .await?;
            progress("orders", done, total);
        }
        let ranked = products.len() as u64;
        self.rank_all_together(&mut |n| progress("bought together", n, ranked))
            .await?;
        let similar = ranked.min(MAX_SIMILAR_RANKED as u64);
        self.rank_all_similar(MAX_SIMILAR_RANKED, &mut |n| progress("similar", n, similar))
            .await?;
        Ok(counted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_history_is_deterministic_and_has_repeat_customers_and_baskets() {
        let products: Vec<(ProductId, String)> = (0..60)
            .map(|i| {
                (
                    ProductId::new(Timestamp::from_millis(1_000 + i)),
                    format!("c{}", i % 5),
                )
            })
            .collect();
        let now = Timestamp::from_millis(1_800_000_000_000);
        let a = baskets(&products, 42, now, DEFAULT_LINES);
        assert_eq!(a, baskets(&products, 42, now, DEFAULT_LINES));
        let lines: usize = a.iter().map(|b| b.lines.len()).sum();
        assert!(
            (3_000..5_000).contains(&lines),
            "about the default size: {lines}"
        );
        let big: usize = baskets(&products, 42, now, DEFAULT_LINES * 10)
            .iter()
            .map(|b| b.lines.len())
            .sum();
        assert!((30_000..50_000).contains(&big), "scaled: {big}");
        assert!(a.len() > CUSTOMERS + GUEST_ORDERS);
        let multi = a.iter().filter(|b| b.lines.len() >= 2).count();
        assert!(multi * 2 > a.len(), "most baskets hold several items");
        let mut per_customer: BTreeMap<&str, usize> = BTreeMap::new();
        for b in &a {
            if let Some(c) = &b.customer {
                *per_customer.entry(c).or_default() += 1;
            }
        }
        let repeat = per_customer.values().filter(|n| **n >= 2).count();
        assert!(repeat * 2 > CUSTOMERS, "most customers come back: {repeat}");
        assert!(a.iter().all(|b| b.at <= now
            && b.at.as_millis() >= now.as_millis() - DAYS * super::super::rank::DAY_MS));
    }
}
