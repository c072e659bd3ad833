//! The catalog's change feed: every change to a product, and every category move, takes the
//! next sequence number in the write that makes it. Each node's search index follows the feed
//! in that order from the position it last applied (kept in the index itself), so a product
//! edited through one node is found on every node, and a node that was down catches up, or
//! rebuilds when it fell behind what the feed keeps.

use serde::{Deserialize, Serialize};

use crate::core::{CategoryId, ProductId, Timestamp};
use crate::storage::{Order, Reader, StorageError, Table, Value, WriteTx};

/// Entries kept: a node further behind than this rebuilds its index instead.
pub const KEEP: u64 = 100_000;

/// Entries removed per pruning write.
const PRUNE_BATCH: usize = 1_000;

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A product was created, edited, deleted, or its stock crossed zero.
    Product(ProductId),
    /// A category moved under another parent: every product filed under it is filed again.
    CategoryMoved(CategoryId),
}

/// A feed entry.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// What changed.
    pub change: Change,
    /// When.
    pub at: Timestamp,
}

impl Value for ChangeRecord {}

/// The feed, by sequence number.
const CHANGES: Table<u64, ChangeRecord> = Table::new("catalog_changes");
/// The last sequence number given (kept apart from the feed, which is pruned).
const HEAD: Table<(), u64> = Table::new("catalog_change_head");

/// Name of the feed table, for commit watchers.
pub const FEED_TABLE: &str = CHANGES.name();

/// Appends `change` in the caller's write; returns its sequence number.
pub fn record(tx: &mut WriteTx<'_>, change: Change) -> Result<u64, StorageError> {
    let seq = head(tx)? + 1;
    let at = tx.now();
    tx.insert(&CHANGES, &seq, &ChangeRecord { change, at })?;
    tx.insert(&HEAD, &(), &seq)?;
    Ok(seq)
}

/// The last sequence number given (0: none yet).
pub fn head(r: &impl Reader) -> Result<u64, StorageError> {
    Ok(r.get(&HEAD, &())?.unwrap_or(0))
}

/// The oldest entry still kept, if any.
pub fn oldest(r: &impl Reader) -> Result<Option<u64>, StorageError> {
    Ok(r.range(
        &CHANGES,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        Order::Asc,
        1,
    )?
    .first()
    .map(|(s, _)| *s))
}

/// Up to `limit` entries after `after`, in order.
pub fn after(
    r: &impl Reader,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, ChangeRecord)>, StorageError> {
    r.range(
        &CHANGES,
        std::ops::Bound::Excluded(&after),
        std::ops::Bound::Unbounded,
        Order::Asc,
        limit,
    )
}

/// Removes up to a batch of entries older than the last [`KEEP`]; returns how many.
pub fn prune(tx: &mut WriteTx<'_>) -> Result<usize, StorageError> {
    let keep_from = head(tx)?.saturating_sub(KEEP);
    let old = tx.range(
        &CHANGES,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Excluded(&keep_from),
        Order::Asc,
        PRUNE_BATCH,
    )?;
    for (seq, _) in &old {
        tx.remove(&CHANGES, seq)?;
    }
    Ok(old.len())
}
