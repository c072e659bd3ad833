//! What a module runs in the background, declared in one value: its job handlers (each with
//! the most jobs of its kind that may run at once) and its recurring schedules. The composition
//! root installs every module's `Work` into the runner; nothing else registers handlers.

use std::sync::Arc;
use std::time::Duration;

use crate::storage::{StorageError, Store};

use super::queue::schedule_recurring;
use super::runner::{JobHandler, Runner};

/// One module's handlers and schedules.
#[derive(Default)]
pub struct Work {
    handlers: Vec<(&'static str, usize, Arc<dyn JobHandler>)>,
    schedules: Vec<(&'static str, Duration)>,
}

impl Work {
    /// No handlers, no schedules.
    pub fn new() -> Self {
        Work::default()
    }

    /// Handles jobs of `kind`, at most `concurrency` at once.
    pub fn handler(
        mut self,
        kind: &'static str,
        concurrency: usize,
        h: Arc<dyn JobHandler>,
    ) -> Self {
        self.handlers.push((kind, concurrency, h));
        self
    }

    /// Runs `kind` every `every`, one chain however often the process restarts (the kind
    /// must have a handler in the same `Work`).
    pub fn every(mut self, kind: &'static str, every: Duration) -> Self {
        self.schedules.push((kind, every));
        self
    }

    /// The kinds this work handles.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.handlers.iter().map(|(k, _, _)| *k)
    }
}

/// Why a set of works cannot be installed: a programming error caught at start.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// Two modules claim the same job kind.
    #[error("job kind `{0}` has two handlers")]
    Duplicate(&'static str),
    /// A schedule names a kind its module does not handle.
    #[error("recurring job `{0}` has no handler in its module")]
    Unhandled(&'static str),
    /// Writing the schedules failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Runner {
    /// Installs every module's handlers and writes their recurring chains (one write for all),
    /// refusing a kind handled twice or a schedule without a handler.
    pub async fn install(&mut self, works: Vec<Work>) -> Result<(), WorkError> {
        let mut schedules = Vec::new();
        for work in works {
            for (kind, _) in &work.schedules {
                if !work.kinds().any(|k| k == *kind) {
                    return Err(WorkError::Unhandled(kind));
                }
            }
            for (kind, concurrency, h) in work.handlers {
                if self.handles(kind) {
                    return Err(WorkError::Duplicate(kind));
                }
                self.register(kind, concurrency, h);
            }
            schedules.extend(work.schedules);
        }
        schedule_all(self.store(), schedules).await
    }
}

async fn schedule_all(
    store: &Store,
    schedules: Vec<(&'static str, Duration)>,
) -> Result<(), WorkError> {
    if schedules.is_empty() {
        return Ok(());
    }
    store
        .write(move |tx| {
            let now = tx.now();
            for (kind, every) in &schedules {
                schedule_recurring(tx, kind, *every, now)?;
            }
            Ok::<(), StorageError>(())
        })
        .await?;
    Ok(())
}
