//! Recommendations learnt from paid orders and the catalog. Every paid order is counted once
//! (a job queued in the paying write, applied in its ack, [`history`]). Lists that depend on
//! many orders are ranked by jobs from a read snapshot outside the single writer and cached:
//! each product's `bought_together` and `similar` lists, and the shop's `popular` and
//! `trending` lists. A request reads cached rows and drops what is not on sale; `buy_again`
//! and `for_you` combine one customer's purchases (at most 1,000 rows) with cached lists.
//! Nothing is computed from the whole order history or catalog on the request path.
//!
//! Strategies: `popular` (units sold in the last 30 days, then all-time orders), `trending`
//! (units sold, halved every 3 days), `similar` (content: categories, tags, options, words,
//! from the search index), `bought_together` (co-occurrence normalised by cosine, so
//! best-sellers do not top every list), `buy_again` (the customer's repeat purchases) and
//! `for_you` (the customer's history through co-occurrence blended with buy-again, falling
//! back to popular). The scoring rules are in [`rank`], shared with the offline evaluation.

pub mod demo;
pub mod evaluate;
pub mod history;
pub mod import;
pub mod rank;
mod refresh;

use std::collections::HashSet;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::core::errors::{self as codes, Code, ErrorCode};
use crate::core::{Money, ProductId, Timestamp};
use crate::domain::catalog::{self, Catalog, Status};
use crate::domain::search::Search;
use crate::storage::{Order, Reader, StorageError, Store, Table, Value};

pub use history::{Basket, GLOBAL_JOB, REFRESH_JOB};

/// Pair rows read to rank one product's partners.
pub const MAX_PAIRS_SCANNED: usize = 5_000;
/// Entries kept in each cached list.
pub const CACHED: usize = 50;
/// Most products one answer lists.
pub const MAX_LIMIT: usize = 50;

/// Each product's partners, best first (refreshed when an order holding it is counted).
const TOGETHER: Table<ProductId, Ranked> = Table::new("rec_bought_together");
/// Each product's most similar products, best first (refreshed when it is indexed).
const SIMILAR: Table<ProductId, Ranked> = Table::new("rec_similar");
/// Shop-wide lists by name (`popular`, `trending`), with when they were ranked.
const LISTS: Table<String, Ranked> = Table::new("rec_lists");

/// A cached ranking.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// Products, best first, with their scores in millionths.
    pub items: Vec<(ProductId, u32)>,
}
impl Value for Ranked {}

impl Ranked {
    /// From scores, best first, at most [`CACHED`].
    pub fn of(scored: &[(ProductId, f64)]) -> Ranked {
        Ranked {
            items: scored
                .iter()
                .take(CACHED)
                .map(|(p, s)| {
                    (
                        *p,
                        (s * 1_000_000.0).round().clamp(0.0, u32::MAX as f64) as u32,
                    )
                })
                .collect(),
        }
    }

    /// As scores.
    pub fn scores(&self) -> Vec<(ProductId, f64)> {
        self.items
            .iter()
            .map(|(p, s)| (*p, f64::from(*s) / 1_000_000.0))
            .collect()
    }
}

/// A strategy's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Units sold lately.
    Popular,
    /// Units sold, recent sales weighing most.
    Trending,
    /// Products like this one by content.
    Similar,
    /// Products most often bought with this one.
    BoughtTogether,
    /// The customer's own repeat purchases.
    BuyAgain,
    /// The customer's history through co-occurrence and buy-again.
    ForYou,
}

impl Strategy {
    /// Every strategy, in the order reports list them.
    pub const ALL: [Strategy; 6] = [
        Strategy::Popular,
        Strategy::Trending,
        Strategy::Similar,
        Strategy::BoughtTogether,
        Strategy::BuyAgain,
        Strategy::ForYou,
    ];

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Popular => "popular",
            Strategy::Trending => "trending",
            Strategy::Similar => "similar",
            Strategy::BoughtTogether => "bought_together",
            Strategy::BuyAgain => "buy_again",
            Strategy::ForYou => "for_you",
        }
    }
}

/// What a recommendation is asked for.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The products being looked at (a product page: one; a cart: its products). They are
    /// never recommended.
    pub products: Vec<ProductId>,
    /// The signed-in customer, for `buy_again` and `for_you`.
    pub customer: Option<String>,
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
    /// The strategy's score (units, cosine, similarity…), higher first.
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

/// The recommendations service.
#[derive(Clone, Debug)]
pub struct Recommender {
    store: Store,
    catalog: Catalog,
    search: Search,
}

impl Recommender {
    /// The service.
    pub fn new(store: Store, catalog: Catalog, search: Search) -> Self {
        Recommender {
            store,
            catalog,
            search,
        }
    }

    /// Up to `limit` products by `strategy` for `ctx`, only products on sale and in stock,
    /// never the products of `ctx`. `similar` and `bought_together` without products, and
    /// `buy_again` without a customer, are empty; `for_you` without history is `popular`.
    /// Each candidate is judged by its card, not the whole product.
    pub fn recommend(
        &self,
        strategy: Strategy,
        ctx: &Context,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Recommended>, RecommendError> {
        self.pick(strategy, ctx, now, limit, |r, id, score| {
            let Some(card) = available_card(r, id)? else {
                return Ok(None);
            };
            Ok(card.price.map(|price| Recommended {
                id,
                slug: card.slug,
                title: card.title,
                price,
                score,
            }))
        })
    }

    /// [`Recommender::recommend`] as whole products (the pages show them as cards with
    /// images).
    pub fn recommend_products(
        &self,
        strategy: Strategy,
        ctx: &Context,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(catalog::Product, f64)>, RecommendError> {
        self.pick(strategy, ctx, now, limit, |r, id, score| {
            if available_card(r, id)?.is_none() {
                return Ok(None);
            }
            Ok(Catalog::product_in(r, id)?.map(|p| (p, score)))
        })
    }

    /// The first `limit` candidates `accept` takes, in rank order, read in one snapshot.
    fn pick<T>(
        &self,
        strategy: Strategy,
        ctx: &Context,
        now: Timestamp,
        limit: usize,
        accept: impl Fn(&crate::storage::ReadTx, ProductId, f64) -> Result<Option<T>, RecommendError>,
    ) -> Result<Vec<T>, RecommendError> {
        let limit = limit.clamp(1, MAX_LIMIT);
        // One snapshot for the lists and every card and stock level read.
        let r = self.store.read()?;
        let mut candidates = self.candidates(&r, strategy, ctx, now)?;
        if strategy == Strategy::ForYou {
            candidates.extend(self.candidates(&r, Strategy::Popular, ctx, now)?);
        }
        let exclude: HashSet<ProductId> = ctx.products.iter().copied().collect();
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(limit);
        for (id, score) in candidates {
            if out.len() >= limit {
                break;
            }
            if exclude.contains(&id) || !seen.insert(id) {
                continue;
            }
            if let Some(x) = accept(&r, id, score)? {
                out.push(x);
            }
        }
        Ok(out)
    }

    /// The strategy's ranked products, from cached lists and the customer's purchases.
    fn candidates(
        &self,
        r: &impl Reader,
        strategy: Strategy,
        ctx: &Context,
        now: Timestamp,
    ) -> Result<Vec<(ProductId, f64)>, RecommendError> {
        let failed: std::cell::Cell<Option<StorageError>> = std::cell::Cell::new(None);
        let together = |p: ProductId| -> Vec<(ProductId, f64)> {
            match r.get(&TOGETHER, &p) {
                Ok(list) => list.unwrap_or_default().scores(),
                Err(e) => {
                    failed.set(Some(e));
                    Vec::new()
                }
            }
        };
        let ranked = match strategy {
            Strategy::Popular => {
                let mut v = r
                    .get(&LISTS, &"popular".to_owned())?
                    .unwrap_or_default()
                    .scores();
                // Then all-time orders, for a shop whose last month was quiet.
                v.extend(
                    r.range(
                        &history::BY_COUNT,
                        Bound::Unbounded,
                        Bound::Unbounded,
                        Order::Asc,
                        CACHED,
                    )?
                    .into_iter()
                    .map(|((inv, p), ())| (p, (u64::MAX - inv) as f64)),
                );
                v
            }
            Strategy::Trending => r
                .get(&LISTS, &"trending".to_owned())?
                .unwrap_or_default()
                .scores(),
            Strategy::Similar => {
                let mut v = Vec::new();
                for p in &ctx.products {
                    v.extend(r.get(&SIMILAR, p)?.unwrap_or_default().scores());
                }
                if ctx.products.len() > 1 {
                    v.sort_by(|a, b| b.1.total_cmp(&a.1));
                }
                v
            }
            Strategy::BoughtTogether => rank::together_of_many(&ctx.products, together, CACHED * 2),
            Strategy::BuyAgain => match &ctx.customer {
                Some(c) => rank::buy_again(&history::bought(r, c)?, now.as_millis(), CACHED),
                None => Vec::new(),
            },
            Strategy::ForYou => match &ctx.customer {
                Some(c) => {
                    let bought = history::bought(r, c)?;
                    rank::for_you(&bought, together, now.as_millis(), CACHED)
                }
                None => Vec::new(),
            },
        };
        match failed.into_inner() {
            Some(e) => Err(e.into()),
            None => Ok(ranked),
        }
    }
}

/// The product's card, when it is active, has a variant and is in stock.
fn available_card(
    r: &impl Reader,
    id: ProductId,
) -> Result<Option<catalog::card::Card>, RecommendError> {
    let Some(c) = catalog::card::card_in(r, id)? else {
        return Ok(None);
    };
    let on_sale = c.status == Status::Active && c.price.is_some();
    if !on_sale || !(c.untracked || crate::domain::inventory::any_sellable(r, &c.tracked)?) {
        return Ok(None);
    }
    Ok(Some(c))
}
