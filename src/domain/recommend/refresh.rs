//! The recommendations' background work: counting paid orders, and ranking the cached lists
//! from read snapshots outside the single writer, each written in its job's ack.

use std::time::Duration;

use super::history::{self, Basket, GLOBAL_JOB, REFRESH_JOB, Refresh};
use super::rank;
use super::{CACHED, LISTS, MAX_PAIRS_SCANNED, Ranked, Recommender, SIMILAR, TOGETHER};
use crate::core::{ProductId, Timestamp};
use crate::domain::{orders, search};
use crate::jobs::{self, JobContext, JobError, JobOutcome};
use crate::storage::{Order, Reader, StorageError};

/// Partners of a changed product whose lists are refreshed with it (their score of it moved).
pub const PARTNERS_REFRESHED: usize = 20;
/// Neighbours of a re-indexed product whose `similar` lists are ranked again (it may now
/// belong in them).
pub const NEIGHBOURS_REFRESHED: usize = 5;
/// Daily rows read to rank `popular` and `trending` (days × products sold each day).
pub const MAX_DAILY_SCANNED: usize = 1_000_000;
/// How often the shop-wide lists are ranked again without orders (`trending` ages).
pub const GLOBAL_EVERY: Duration = Duration::from_secs(3600);

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::retry(e.to_string())
}

/// `p`'s partners by cosine, from at most [`MAX_PAIRS_SCANNED`] pair rows.
pub(super) fn rank_partners(r: &impl Reader, p: ProductId) -> Result<Ranked, StorageError> {
    let own = r.get(&history::ORDERS_WITH, &p)?.unwrap_or(0);
    let pairs = r.prefix(&history::PAIRS, &p, None, Order::Asc, MAX_PAIRS_SCANNED)?;
    let mut scored = std::collections::HashMap::with_capacity(pairs.len());
    for ((_, q), both) in pairs {
        let theirs = r.get(&history::ORDERS_WITH, &q)?.unwrap_or(0);
        scored.insert(q, rank::cosine(both, own, theirs));
    }
    Ok(Ranked::of(&rank::top(scored, CACHED)))
}

/// `popular` and `trending` as of `now`, from the daily units of the last weeks.
pub(super) fn rank_global(
    r: &impl Reader,
    now: Timestamp,
) -> Result<(Ranked, Ranked), StorageError> {
    let today = rank::day_of(now.as_millis());
    let from = today.saturating_sub(rank::POPULAR_WINDOW_DAYS.max(rank::TRENDING_WINDOW_DAYS));
    let rows = r.range(
        &history::DAILY,
        std::ops::Bound::Included(&(from, ProductId::from_bytes([0; 16]))),
        std::ops::Bound::Unbounded,
        Order::Asc,
        MAX_DAILY_SCANNED,
    )?;
    let daily: Vec<(u32, ProductId, u64)> = rows.into_iter().map(|((d, p), q)| (d, p, q)).collect();
    Ok((
        Ranked::of(&rank::popular(&daily, today, CACHED)),
        Ranked::of(&rank::trending(&daily, today, CACHED)),
    ))
}

impl Recommender {
    /// The module's background work.
    pub fn work(&self) -> jobs::Work {
        let (a, b, c, d) = (self.clone(), self.clone(), self.clone(), self.clone());
        jobs::Work::new()
            .handler(
                orders::PAID_FOR_RECOMMENDATIONS_JOB,
                1,
                jobs::handler_fn(move |ctx| a.clone().on_order_paid(ctx)),
            )
            .handler(
                REFRESH_JOB,
                1,
                jobs::handler_fn(move |ctx| b.clone().on_refresh(ctx)),
            )
            .handler(
                GLOBAL_JOB,
                1,
                jobs::handler_fn(move |ctx| c.clone().on_global(ctx)),
            )
            .handler(
                search::PRODUCT_INDEXED_JOB,
                1,
                jobs::handler_fn(move |ctx| d.clone().on_product_indexed(ctx)),
            )
            .every(GLOBAL_JOB, GLOBAL_EVERY)
    }

    /// Job handler of [`orders::PAID_FOR_RECOMMENDATIONS_JOB`]: the order counted in the
    /// job's ack (so once).
    pub async fn on_order_paid(self, ctx: JobContext) -> Result<JobOutcome, JobError> {
        let job: orders::ExpireJob = ctx.payload()?;
        let r = self.store.read().map_err(retry)?;
        let Some(order) = orders::find(&r, job.order_id).map_err(retry)? else {
            return Ok(JobOutcome::Done);
        };
        let basket = Basket {
            key: order.id.to_string(),
            customer: order.customer_id.map(|c| c.to_string()),
            // When it was paid: the job may run much later (a backlog, a restart).
            at: order
                .history
                .iter()
                .find(|h| h.event == "pay")
                .map_or(order.updated_at, |h| h.at),
            lines: order
                .lines
                .iter()
                .filter(|l| !l.gift_card)
                .map(|l| (l.product_id, u32::try_from(l.quantity).unwrap_or(0)))
                .collect(),
        };
        Ok(JobOutcome::DoneWith(Box::new(move |tx| {
            history::count(tx, &basket, true).map(|_| ())
        })))
    }

    /// Job handler of [`REFRESH_JOB`]: ranks, from a snapshot, the lists of the changed
    /// products and of their best [`PARTNERS_REFRESHED`] partners, and writes them in the ack.
    pub async fn on_refresh(self, ctx: JobContext) -> Result<JobOutcome, JobError> {
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
        .map_err(retry)?
        .map_err(retry)?;
        Ok(JobOutcome::DoneWith(Box::new(move |tx| {
            for (p, ranked) in &lists {
                tx.insert(&TOGETHER, p, ranked)?;
            }
            Ok(())
        })))
    }

    /// Job handler of [`GLOBAL_JOB`]: ranks `popular` and `trending` from a snapshot; the
    /// hourly run also schedules the next.
    pub async fn on_global(self, ctx: JobContext) -> Result<JobOutcome, JobError> {
        // The hourly chain, not a run queued by paid orders.
        let recurring = ctx
            .dedupe_key
            .as_deref()
            .is_some_and(|k| !k.starts_with(history::DEBOUNCE_PREFIX));
        let store = self.store.clone();
        let now = self.store.now();
        let (popular, trending) =
            tokio::task::spawn_blocking(move || rank_global(&store.read()?, now))
                .await
                .map_err(retry)?
                .map_err(retry)?;
        Ok(JobOutcome::DoneWith(Box::new(move |tx| {
            tx.insert(&LISTS, &"popular".to_owned(), &popular)?;
            tx.insert(&LISTS, &"trending".to_owned(), &trending)?;
            if recurring {
                let next = tx.now().plus(GLOBAL_EVERY);
                jobs::schedule_recurring(tx, GLOBAL_JOB, GLOBAL_EVERY, next)?;
            }
            Ok(())
        })))
    }

    /// Job handler of [`search::PRODUCT_INDEXED_JOB`]: the product's `similar` list, and its
    /// nearest neighbours' lists (it may belong in them now), ranked from the index.
    pub async fn on_product_indexed(self, ctx: JobContext) -> Result<JobOutcome, JobError> {
        let job: search::IndexJob = ctx.payload()?;
        let lists = self.similar_lists(job.product_id).await.map_err(retry)?;
        Ok(JobOutcome::DoneWith(Box::new(move |tx| {
            for (p, ranked) in &lists {
                tx.insert(&SIMILAR, p, ranked)?;
            }
            Ok(())
        })))
    }

    /// `p`'s similar list and those of its [`NEIGHBOURS_REFRESHED`] nearest.
    async fn similar_lists(
        &self,
        p: ProductId,
    ) -> Result<Vec<(ProductId, Ranked)>, search::SearchError> {
        let own = self.search.similar(p, CACHED).await?;
        let mut lists = Vec::with_capacity(NEIGHBOURS_REFRESHED + 1);
        for (q, _) in own.iter().take(NEIGHBOURS_REFRESHED) {
            let theirs = self.search.similar(*q, CACHED).await?;
            lists.push((*q, similar_ranked(&theirs)));
        }
        lists.push((p, similar_ranked(&own)));
        Ok(lists)
    }

    /// Ranks the `similar` lists of the first `max` products, 500 per write (after a bulk
    /// load: the demo), reporting progress.
    pub async fn rank_all_similar(
        &self,
        max: usize,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, super::RecommendError> {
        let mut done = 0u64;
        let mut batch: Vec<(ProductId, Ranked)> = Vec::with_capacity(500);
        for p in self.catalog.all_products(500).take(max) {
            let p = p?;
            let list = self
                .search
                .similar(p.id, CACHED)
                .await
                .map_err(|e| StorageError::Io(e.to_string()))?;
            batch.push((p.id, similar_ranked(&list)));
            done += 1;
            if batch.len() >= 500 {
                self.write_lists(SIMILAR, std::mem::take(&mut batch))
                    .await?;
                progress(done);
            }
        }
        self.write_lists(SIMILAR, batch).await?;
        progress(done);
        Ok(done)
    }

    /// Ranks every counted product's `bought_together` list and the shop-wide lists (after an
    /// import of history), reporting progress.
    pub async fn rank_all_together(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, super::RecommendError> {
        let mut done = 0u64;
        let mut after: Option<ProductId> = None;
        loop {
            let r = self.store.read()?;
            let lo = match &after {
                Some(a) => std::ops::Bound::Excluded(a),
                None => std::ops::Bound::Unbounded,
            };
            let ids: Vec<ProductId> = r
                .range(
                    &history::ORDERS_WITH,
                    lo,
                    std::ops::Bound::Unbounded,
                    Order::Asc,
                    500,
                )?
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            let Some(last) = ids.last().copied() else {
                break;
            };
            let lists = ids
                .into_iter()
                .map(|p| Ok((p, rank_partners(&r, p)?)))
                .collect::<Result<Vec<_>, StorageError>>()?;
            drop(r);
            done += lists.len() as u64;
            self.write_lists(TOGETHER, lists).await?;
            progress(done);
            after = Some(last);
        }
        let (popular, trending) = rank_global(&self.store.read()?, self.store.now())?;
        self.store
            .write(move |tx| {
                tx.insert(&LISTS, &"popular".to_owned(), &popular)?;
                tx.insert(&LISTS, &"trending".to_owned(), &trending)
            })
            .await?;
        Ok(done)
    }

    async fn write_lists(
        &self,
        table: crate::storage::Table<ProductId, Ranked>,
        lists: Vec<(ProductId, Ranked)>,
    ) -> Result<(), StorageError> {
        self.store
            .write(move |tx| {
                for (p, l) in &lists {
                    tx.insert(&table, p, l)?;
                }
                Ok(())
            })
            .await
    }
}

fn similar_ranked(list: &[(ProductId, f32)]) -> Ranked {
    let scored: Vec<(ProductId, f64)> = list.iter().map(|(p, s)| (*p, f64::from(*s))).collect();
    Ranked::of(&scored)
}
