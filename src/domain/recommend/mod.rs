//! Recommendations learnt from paid orders. Every paid order is counted once (a job queued in
//! the paying write, applied in its ack): how many orders hold each product and how many hold
//! each pair. The ack also queues a refresh: a second job ranks, from a read snapshot outside
//! the single writer, the "bought together" lists of the order's products and of their best
//! partners (whose scores moved with the counts), and writes only the new lists in its ack. A
//! request reads one cached row and drops what is not on sale; nothing is computed from the
//! order history on the request path.
//!
//! Strategies so far: `popular` (the products in most paid orders) and `bought_together`
//! (item-to-item co-occurrence normalised by cosine, count(a, b) / √(count(a)·count(b)), so
//! best-sellers do not top every list).

use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::core::errors::{self as codes, Code, ErrorCode};
use crate::core::{Money, ProductId};
use crate::domain::catalog::{self, Catalog, Status};
use crate::domain::inventory::Inventory;
use crate::domain::orders;
use crate::jobs;
use crate::storage::{Order, Reader, StorageError, Store, Table, Value, WriteTx};

/// Distinct products of one order that are counted (pairs grow with the square).
pub const MAX_ORDER_PRODUCTS: usize = 50;
/// Pair rows read to rank one product's partners.
pub const MAX_PAIRS_SCANNED: usize = 5_000;
/// Entries kept in each cached list.
pub const CACHED: usize = 50;
/// Most products one answer lists.
pub const MAX_LIMIT: usize = 50;

/// Paid orders holding each product.
const ORDERS_WITH: Table<ProductId, u64> = Table::new("rec_orders_with");
/// Products by how many paid orders hold them, most first: (u64::MAX − count, product).
const BY_COUNT: Table<(u64, ProductId), ()> = Table::new("rec_by_count");
/// Paid orders holding both products, each pair both ways.
const PAIRS: Table<(ProductId, ProductId), u64> = Table::new("rec_pairs");
/// Each product's partners, best first (refreshed when an order holding it is counted).
const TOGETHER: Table<ProductId, Ranked> = Table::new("rec_bought_together");

/// A cached ranking.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// Products, best first, with their scores in millionths.
    pub items: Vec<(ProductId, u32)>,
}
impl Value for Ranked {}

/// A strategy's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Products in the most paid orders.
    Popular,
    /// Products most often bought with this one.
    BoughtTogether,
}

impl Strategy {
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "popular" => Some(Strategy::Popular),
            "bought_together" => Some(Strategy::BoughtTogether),
            _ => None,
        }
    }
}

/// A recommended product as shown.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Recommended {
    /// Id.
    #[schema(value_type = String)]
    pub id: ProductId,
    /// Slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Lowest variant price.
    pub price: Money,
    /// Why it ranks where it does (orders, or cosine score), higher first.
    pub score: f64,
}

/// Why a recommendation could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    /// No such product (or not on sale).
    #[error("no such product")]
    NotFound,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Reading a product failed.
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
}

impl ErrorCode for RecommendError {
    fn code(&self) -> Code {
        match self {
            RecommendError::NotFound => codes::NOT_FOUND,
            RecommendError::Storage(s) => s.code(),
            RecommendError::Catalog(c) => c.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            RecommendError::Storage(s) => s.message(),
            RecommendError::Catalog(c) => c.message(),
            RecommendError::NotFound => self.to_string(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            RecommendError::Storage(s) => s.retry_after(),
            RecommendError::Catalog(c) => c.retry_after(),
            RecommendError::NotFound => None,
        }
    }
}

/// Job kind of a refresh of bought-together lists (queued by the counting of an order).
pub const REFRESH_JOB: &str = "recommend.refresh";

/// Payload of [`REFRESH_JOB`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Refresh {
    /// The products whose counts changed.
    pub products: Vec<ProductId>,
}

/// Partners of a changed product whose lists are refreshed with it (their score of it moved).
pub const PARTNERS_REFRESHED: usize = 20;

/// Counts one paid order: its distinct products (at most [`MAX_ORDER_PRODUCTS`]) and their
/// pairs, and queues the refresh of the lists that changed.
pub fn count_order(tx: &mut WriteTx<'_>, products: &[ProductId]) -> Result<(), StorageError> {
    let mut ps: Vec<ProductId> = products.to_vec();
    ps.sort_unstable();
    ps.dedup();
    ps.truncate(MAX_ORDER_PRODUCTS);
    for p in &ps {
        let n = tx.get(&ORDERS_WITH, p)?.unwrap_or(0);
        tx.remove(&BY_COUNT, &(u64::MAX - n, *p))?;
        tx.insert(&ORDERS_WITH, p, &(n + 1))?;
        tx.insert(&BY_COUNT, &(u64::MAX - (n + 1), *p), &())?;
    }
    for a in &ps {
        for b in ps.iter().filter(|b| *b != a) {
            let n = tx.get(&PAIRS, &(*a, *b))?.unwrap_or(0);
            tx.insert(&PAIRS, &(*a, *b), &(n + 1))?;
        }
    }
    jobs::enqueue(
        tx,
        jobs::NewJob::new(REFRESH_JOB, &Refresh { products: ps })?,
    )?;
    Ok(())
}

/// `p`'s partners by cosine, from at most [`MAX_PAIRS_SCANNED`] pair rows.
fn rank_partners(r: &impl Reader, p: ProductId) -> Result<Ranked, StorageError> {
    let own = r.get(&ORDERS_WITH, &p)?.unwrap_or(0).max(1) as f64;
    let pairs = r.prefix(&PAIRS, &p, None, Order::Asc, MAX_PAIRS_SCANNED)?;
    let mut scored: Vec<(ProductId, f64)> = Vec::with_capacity(pairs.len());
    for ((_, q), both) in pairs {
        let theirs = r.get(&ORDERS_WITH, &q)?.unwrap_or(0).max(1) as f64;
        scored.push((q, both as f64 / (own * theirs).sqrt()));
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(CACHED);
    Ok(Ranked {
        items: scored
            .into_iter()
            .map(|(q, s)| (q, (s * 1_000_000.0).round() as u32))
            .collect(),
    })
}

/// The recommendations service.
#[derive(Clone, Debug)]
pub struct Recommender {
    store: Store,
    catalog: Catalog,
    inventory: Inventory,
}

impl Recommender {
    /// The service.
    pub fn new(store: Store, catalog: Catalog, inventory: Inventory) -> Self {
        Recommender {
            store,
            catalog,
            inventory,
        }
    }

    /// Up to `limit` products by `strategy` for `product` (ignored by `popular`), only
    /// products on sale and in stock, never `product` itself.
    pub fn recommend(
        &self,
        strategy: Strategy,
        product: Option<ProductId>,
        limit: usize,
    ) -> Result<Vec<Recommended>, RecommendError> {
        let limit = limit.clamp(1, MAX_LIMIT);
        let r = self.store.read()?;
        let candidates: Vec<(ProductId, f64)> = match strategy {
            Strategy::Popular => r
                .range(
                    &BY_COUNT,
                    Bound::Unbounded,
                    Bound::Unbounded,
                    Order::Asc,
                    CACHED + limit,
                )?
                .into_iter()
                .map(|((inv, p), ())| (p, (u64::MAX - inv) as f64))
                .collect(),
            Strategy::BoughtTogether => {
                let p = product.ok_or(RecommendError::NotFound)?;
                r.get(&TOGETHER, &p)?
                    .unwrap_or_default()
                    .items
                    .into_iter()
                    .map(|(q, s)| (q, f64::from(s) / 1_000_000.0))
                    .collect()
            }
        };
        drop(r);
        let mut out = Vec::with_capacity(limit);
        for (id, score) in candidates {
            if out.len() >= limit {
                break;
            }
            if Some(id) == product {
                continue;
            }
            if let Some(rec) = self.available(id, score)? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// The product as recommended, when it is active and in stock.
    fn available(&self, id: ProductId, score: f64) -> Result<Option<Recommended>, RecommendError> {
        let p = match self.catalog.get_product(&id.to_string(), true) {
            Ok(p) => p,
            Err(catalog::CatalogError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if p.status != Status::Active || !self.inventory.in_stock(&p)? {
            return Ok(None);
        }
        let Some(price) = p.variants.iter().map(|v| v.price).min_by_key(|m| m.amount) else {
            return Ok(None);
        };
        Ok(Some(Recommended {
            id: p.id,
            slug: p.slug,
            title: p.title,
            price,
            score,
        }))
    }

    /// The module's background work: counting each paid order once, and refreshing lists.
    pub fn work(&self) -> jobs::Work {
        let s = self.clone();
        let f = self.clone();
        jobs::Work::new()
            .handler(
                orders::PAID_FOR_RECOMMENDATIONS_JOB,
                1,
                jobs::handler_fn(move |ctx| s.clone().on_order_paid(ctx)),
            )
            .handler(
                REFRESH_JOB,
                1,
                jobs::handler_fn(move |ctx| f.clone().on_refresh(ctx)),
            )
    }

    /// Job handler of [`REFRESH_JOB`]: ranks, from a snapshot, the lists of the changed
    /// products and of their best [`PARTNERS_REFRESHED`] partners, and writes them in the ack.
    pub async fn on_refresh(
        self,
        ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: Refresh = ctx.payload()?;
        let store = self.store.clone();
        let lists = tokio::task::spawn_blocking(
            move || -> Result<Vec<(ProductId, Ranked)>, StorageError> {
                let r = store.read()?;
                let mut todo: Vec<ProductId> = job.products.clone();
                for p in &job.products {
                    let own = rank_partners(&r, *p)?;
                    todo.extend(own.items.iter().take(PARTNERS_REFRESHED).map(|(q, _)| *q));
                }
                todo.sort_unstable();
                todo.dedup();
                todo.into_iter()
                    .map(|p| Ok((p, rank_partners(&r, p)?)))
                    .collect()
            },
        )
        .await
        .map_err(|e| jobs::JobError::retry(e.to_string()))?
        .map_err(|e| jobs::JobError::retry(e.to_string()))?;
        Ok(jobs::JobOutcome::DoneWith(Box::new(move |tx| {
            for (p, ranked) in &lists {
                tx.insert(&TOGETHER, p, ranked)?;
            }
            Ok(())
        })))
    }

    /// Job handler of [`orders::PAID_FOR_RECOMMENDATIONS_JOB`]: the order's products counted in
    /// the job's ack (so once).
    pub async fn on_order_paid(
        self,
        ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: orders::ExpireJob = ctx.payload()?;
        let r = self
            .store
            .read()
            .map_err(|e| jobs::JobError::retry(e.to_string()))?;
        let order =
            orders::find(&r, job.order_id).map_err(|e| jobs::JobError::retry(e.to_string()))?;
        let Some(order) = order else {
            return Ok(jobs::JobOutcome::Done);
        };
        let products: Vec<ProductId> = order.lines.iter().map(|l| l.product_id).collect();
        Ok(jobs::JobOutcome::DoneWith(Box::new(move |tx| {
            count_order(tx, &products)
        })))
    }
}
