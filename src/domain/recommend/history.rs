//! What the recommendations learn from: every paid order (and every imported historical
//! order) counted once, in one bounded write: the basket itself (replayed by
//! `shopd recommend evaluate`), orders per product, pairs bought together, units per day, and
//! each customer's own purchases.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rank::{self, Bought};
use crate::core::{ProductId, Timestamp};
use crate::jobs;
use crate::storage::{Reader, StorageError, Table, Value, WriteTx};

/// Distinct products of one order that are counted (pairs grow with the square).
pub const MAX_ORDER_PRODUCTS: usize = 50;
/// A customer's purchased products read for `buy_again` and `for_you`.
pub const MAX_BOUGHT_READ: usize = 1_000;

/// One order as the recommendations learn from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Basket {
    /// Where it comes from, unique: an order id, or `import:<id>` for an imported one.
    pub key: String,
    /// Whose it is: a customer id, `import:<name>` for an imported customer without an
    /// account, or none for a guest.
    pub customer: Option<String>,
    /// When it was paid (or placed, for imported history).
    pub at: Timestamp,
    /// Products and units (a product at most once).
    pub lines: Vec<(ProductId, u32)>,
}
impl Value for Basket {}

/// Baskets by time, then key.
pub(super) const HISTORY: Table<(i64, String), Basket> = Table::new("rec_history");
/// Basket keys already counted, with their time.
const SEEN: Table<String, i64> = Table::new("rec_seen");
/// Paid orders holding each product.
pub(super) const ORDERS_WITH: Table<ProductId, u64> = Table::new("rec_orders_with");
/// Products by how many paid orders hold them, most first: (u64::MAX − count, product).
pub(super) const BY_COUNT: Table<(u64, ProductId), ()> = Table::new("rec_by_count");
/// Paid orders holding both products, each pair both ways.
pub(super) const PAIRS: Table<(ProductId, ProductId), u64> = Table::new("rec_pairs");
/// Units sold per day and product.
pub(super) const DAILY: Table<(u32, ProductId), u64> = Table::new("rec_daily");
/// Each customer's purchases per product.
pub(super) const BOUGHT: Table<(String, ProductId), Bought> = Table::new("rec_bought");
impl Value for Bought {}

/// Job kind of a refresh of bought-together lists (queued by the counting of an order).
pub const REFRESH_JOB: &str = "recommend.refresh";
/// Job kind of a refresh of the shop-wide lists (`popular`, `trending`), queued at most once
/// per [`GLOBAL_DEBOUNCE_MS`] by paid orders and run hourly so `trending` ages.
pub const GLOBAL_JOB: &str = "recommend.global";
/// Paid orders within this many milliseconds share one refresh of the shop-wide lists.
pub const GLOBAL_DEBOUNCE_MS: i64 = 10_000;

/// Dedupe-key prefix of the shop-wide refreshes queued by paid orders.
pub const DEBOUNCE_PREFIX: &str = "after:";

/// Payload of [`REFRESH_JOB`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Refresh {
    /// The products whose counts changed.
    pub products: Vec<ProductId>,
}

/// The basket's lines with each product once (units summed), at most
/// [`MAX_ORDER_PRODUCTS`], zero units dropped.
pub fn normalise(lines: &[(ProductId, u32)]) -> Vec<(ProductId, u32)> {
    let mut m: BTreeMap<ProductId, u32> = BTreeMap::new();
    for (p, q) in lines.iter().filter(|(_, q)| *q > 0) {
        let e = m.entry(*p).or_default();
        *e = e.saturating_add(*q);
    }
    m.into_iter().take(MAX_ORDER_PRODUCTS).collect()
}

/// Most baskets counted in one write.
pub const BASKETS_PER_WRITE: usize = 500;
/// Most rows one write of baskets touches (a basket of n products touches about n + n² rows:
/// its products, days and pairs), so a file of large orders makes more, smaller writes.
pub const ROWS_PER_WRITE: usize = 20_000;

/// `baskets` cut into runs for one write each: at most [`BASKETS_PER_WRITE`] baskets and
/// about [`ROWS_PER_WRITE`] rows (a single larger basket, at most 50 products, goes alone).
pub fn write_runs(baskets: &[Basket]) -> Vec<&[Basket]> {
    let mut runs = Vec::new();
    let (mut start, mut rows) = (0, 0);
    for (i, b) in baskets.iter().enumerate() {
        let n = b.lines.len().min(MAX_ORDER_PRODUCTS);
        let cost = 2 + 2 * n + n * n;
        if i > start && (i - start >= BASKETS_PER_WRITE || rows + cost > ROWS_PER_WRITE) {
            runs.push(&baskets[start..i]);
            (start, rows) = (i, 0);
        }
        rows += cost;
    }
    if start < baskets.len() {
        runs.push(&baskets[start..]);
    }
    runs
}

/// Counts one basket, once: a basket whose key was counted before changes nothing (and
/// `false` is returned). With `refresh`, queues the refresh of the lists that changed
/// (imports refresh every list once at the end instead).
pub fn count(tx: &mut WriteTx<'_>, basket: &Basket, refresh: bool) -> Result<bool, StorageError> {
    if tx.get(&SEEN, &basket.key)?.is_some() {
        return Ok(false);
    }
    let lines = normalise(&basket.lines);
    let at = basket.at.as_millis();
    let stored = Basket {
        lines: lines.clone(),
        ..basket.clone()
    };
    tx.insert(&SEEN, &basket.key, &at)?;
    tx.insert(&HISTORY, &(at, basket.key.clone()), &stored)?;
    let day = rank::day_of(at);
    for (p, qty) in &lines {
        let n = tx.get(&ORDERS_WITH, p)?.unwrap_or(0);
        tx.remove(&BY_COUNT, &(u64::MAX - n, *p))?;
        tx.insert(&ORDERS_WITH, p, &(n + 1))?;
        tx.insert(&BY_COUNT, &(u64::MAX - (n + 1), *p), &())?;
        let d = tx.get(&DAILY, &(day, *p))?.unwrap_or(0);
        tx.insert(&DAILY, &(day, *p), &(d + u64::from(*qty)))?;
        if let Some(c) = &basket.customer {
            let key = (c.clone(), *p);
            let mut b = tx.get(&BOUGHT, &key)?.unwrap_or_default();
            b.orders += 1;
            b.qty += u64::from(*qty);
            b.last_ms = b.last_ms.max(at);
            tx.insert(&BOUGHT, &key, &b)?;
        }
    }
    for (a, _) in &lines {
        for (b, _) in lines.iter().filter(|(b, _)| b != a) {
            let n = tx.get(&PAIRS, &(*a, *b))?.unwrap_or(0);
            tx.insert(&PAIRS, &(*a, *b), &(n + 1))?;
        }
    }
    if refresh {
        let products = lines.iter().map(|(p, _)| *p).collect();
        jobs::enqueue(tx, jobs::NewJob::new(REFRESH_JOB, &Refresh { products })?)?;
        queue_global(tx)?;
    }
    Ok(true)
}

/// Queues one refresh of the shop-wide lists for the current debounce window.
pub fn queue_global(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    let now = tx.now().as_millis();
    let window = now.div_euclid(GLOBAL_DEBOUNCE_MS);
    let at = Timestamp::from_millis((window + 1) * GLOBAL_DEBOUNCE_MS);
    jobs::enqueue(
        tx,
        jobs::NewJob::new(GLOBAL_JOB, &serde_json::json!({}))?
            .dedupe(format!("{DEBOUNCE_PREFIX}{window}"))
            .run_at(at),
    )?;
    Ok(())
}

/// The customer's purchases (at most [`MAX_BOUGHT_READ`] products).
pub fn bought(r: &impl Reader, customer: &str) -> Result<Vec<(ProductId, Bought)>, StorageError> {
    Ok(r.prefix(
        &BOUGHT,
        &customer.to_owned(),
        None,
        crate::storage::Order::Asc,
        MAX_BOUGHT_READ,
    )?
    .into_iter()
    .map(|((_, p), b)| (p, b))
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basket(n: usize) -> Basket {
        Basket {
            key: String::new(),
            customer: None,
            at: Timestamp::from_millis(0),
            lines: (0..n)
                .map(|i| (ProductId::new(Timestamp::from_millis(i as i64)), 1))
                .collect(),
        }
    }

    #[test]
    fn writes_are_bounded_by_baskets_and_by_rows() {
        let small: Vec<Basket> = (0..1_200).map(|_| basket(2)).collect();
        let runs = write_runs(&small);
        assert_eq!(
            runs.iter().map(|r| r.len()).collect::<Vec<_>>(),
            [500, 500, 200]
        );
        let large: Vec<Basket> = (0..30).map(|_| basket(50)).collect();
        let runs = write_runs(&large);
        assert!(
            runs.iter().all(|r| r.len() <= 7),
            "2,602 rows a basket: {:?}",
            runs.iter().map(|r| r.len()).collect::<Vec<_>>()
        );
        assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), 30);
        assert!(write_runs(&[]).is_empty());
    }
}
