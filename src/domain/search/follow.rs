//! Every node's index follows the catalog's change feed: from the position its last commit
//! recorded, it applies entries in order, a page at a time, woken by commits that append to the
//! feed (on any node, through PostgreSQL's NOTIFY) or once a second. An index further behind
//! than the feed keeps (a node that was down long, a restored backup) is rebuilt instead.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Search, SearchError};
use crate::core::ProductId;
use crate::domain::catalog::changes::{Change, KEEP};

/// Feed entries applied per index commit.
const PAGE: usize = 500;
/// Products indexed per commit when a category move touches many.
const CHUNK: usize = 500;

impl Search {
    /// Starts following the change feed; the task runs until aborted.
    pub fn follow(&self) -> tokio::task::JoinHandle<()> {
        let s = self.clone();
        tokio::spawn(async move {
            loop {
                // Subscribed before reading, so an append during the pass wakes the next one.
                let mut appended = s.catalog.watch_feed();
                let me = s.clone();
                let more = match tokio::task::spawn_blocking(move || me.catch_up()).await {
                    Ok(Ok(more)) => more,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "search: following the catalog failed; retrying");
                        false
                    }
                    Err(_) => false,
                };
                if more {
                    continue;
                }
                tokio::select! {
                    _ = appended.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    }

    /// Applies the next page of the feed; returns whether more may be waiting.
    pub(crate) fn catch_up(&self) -> Result<bool, SearchError> {
        let pos = self.index.position();
        let feed = self
            .catalog
            .feed(pos, PAGE)
            .map_err(|e| SearchError::Index(e.to_string()))?;
        let pruned_past = feed.oldest.is_some_and(|o| o > pos + 1);
        if feed.head < pos || (feed.head > pos && pruned_past) || feed.head - pos > KEEP {
            tracing::warn!(
                applied = pos,
                head = feed.head,
                "search: the index is behind what the change feed keeps; rebuilding it"
            );
            let n = self.reindex(&mut |_| {})?;
            tracing::info!(products = n, "search index rebuilt from the catalog");
            return Ok(false);
        }
        let Some(&(last, _)) = feed.entries.last() else {
            return Ok(false);
        };
        let mut ids: BTreeSet<ProductId> = BTreeSet::new();
        for (_, rec) in &feed.entries {
            match rec.change {
                Change::Product(id) => {
                    ids.insert(id);
                }
                Change::CategoryMoved(c) => ids.extend(self.index.ids_in_category(c)?),
            }
        }
        let ids: Vec<ProductId> = ids.into_iter().collect();
        let chunks: Vec<&[ProductId]> = ids.chunks(CHUNK).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut batch = Vec::with_capacity(chunk.len());
            for id in *chunk {
                let product = self
                    .indexable(*id)
                    .map_err(|e| SearchError::Index(e.message))?;
                batch.push((*id, product));
            }
            // Only the last chunk completes the page; a crash before it replays the page.
            let at = if i + 1 == chunks.len() { last } else { pos };
            self.index.apply_many(&batch, at)?;
        }
        Ok(feed.entries.len() == PAGE)
    }
}
