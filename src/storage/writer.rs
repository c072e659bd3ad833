//! Group commit: one thread owns redb's write transaction and folds every queued write request
//! into one durable commit, answering each caller only after the fsync.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::error::StorageError;
use super::tx::{OpenTables, TableAccess, WriteTx};
use crate::core::Clock;

/// What a request's closure decided, and how to tell its caller once the batch commits.
pub(crate) struct Outcome {
    pub(crate) apply: bool,
    pub(crate) respond: Responder,
}

/// Delivers a request's result once its batch's commit outcome is known.
pub(crate) type Responder = Box<dyn FnOnce(Result<(), StorageError>) + Send>;

/// A queued write: run it inside the batch, or refuse it without touching storage.
pub(crate) trait WriteRequest: Send {
    fn run(self: Box<Self>, tx: &mut WriteTx<'_>) -> Outcome;
    fn reject(self: Box<Self>, err: StorageError);
}

pub(crate) type Request = Box<dyn WriteRequest>;

pub(crate) enum Msg {
    Write(Request),
    Shutdown,
}

/// Receives figures about each commit (the metrics module implements it).
pub trait StorageObserver: Send + Sync {
    /// A batch of `batch_size` requests was committed (or failed) after `elapsed`.
    fn commit(&self, batch_size: usize, elapsed: Duration, ok: bool);
}

/// Batching limits.
#[derive(Clone, Copy, Debug)]
pub struct GroupCommit {
    /// Most requests folded into one commit.
    pub max_batch: usize,
    /// Longest time a batch keeps taking new requests before it commits.
    pub max_batch_time: Duration,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            max_batch: 512,
            max_batch_time: Duration::from_millis(20),
        }
    }
}

/// What every backend's writer shares: the clock, the failed flag, commit watchers, the
/// observer and the batching limits.
pub(crate) struct Common {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) failed: Arc<AtomicBool>,
    pub(crate) watchers: Arc<Mutex<HashMap<&'static str, watch::Sender<u64>>>>,
    pub(crate) observer: Option<Arc<dyn StorageObserver>>,
    pub(crate) limits: GroupCommit,
}

pub(crate) struct WriterCtx {
    pub(crate) db: Arc<redb::Database>,
    pub(crate) common: Common,
}

/// Marks the store failed if the writer thread unwinds, so health reflects a dead writer.
pub(crate) struct FailOnPanic(pub(crate) Arc<AtomicBool>);

impl Drop for FailOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
            tracing::error!("storage: the writer thread panicked; writes refused until restart");
        }
    }
}

/// The requests of one batch, run against the batch's tables.
pub(crate) struct Batch {
    pub(crate) responders: Vec<Responder>,
    pub(crate) touched: HashSet<&'static str>,
    pub(crate) err: Option<StorageError>,
    pub(crate) started: Instant,
}

/// Runs `first` and then whatever else is queued (up to the limits) against `tables`, each
/// request in its own overlay applied only when it returns `Ok`.
pub(crate) fn collect(
    common: &Common,
    first: Request,
    rx: &mut mpsc::Receiver<Msg>,
    tables: &dyn TableAccess,
) -> Batch {
    let mut batch = Batch {
        responders: Vec::new(),
        touched: HashSet::new(),
        err: None,
        started: Instant::now(),
    };
    let mut next = Some(first);
    while let Some(req) = next.take() {
        let mut wtx = WriteTx::new(tables, common.clock.now());
        let outcome = match catch_unwind(AssertUnwindSafe(|| req.run(&mut wtx))) {
            Ok(o) => o,
            Err(_) => {
                // The request wrapper itself panicked: nothing to answer, nothing applied.
                continue;
            }
        };
        if outcome.apply {
            batch.touched.extend(wtx.touched());
            if let Err(e) = wtx.apply() {
                batch.err = Some(e);
                batch.responders.push(outcome.respond);
                break;
            }
        }
        batch.responders.push(outcome.respond);
        if batch.responders.len() >= common.limits.max_batch
            || batch.started.elapsed() >= common.limits.max_batch_time
        {
            break;
        }
        match rx.try_recv() {
            Ok(Msg::Write(r)) => next = Some(r),
            Ok(Msg::Shutdown) => rx.close(),
            Err(_) => {}
        }
    }
    batch
}

/// Answers the batch's callers with the commit's outcome, then reports and wakes watchers.
pub(crate) fn finish(common: &Common, batch: Batch, result: Result<(), StorageError>, seq: u64) {
    let elapsed = batch.started.elapsed();
    let ok = result.is_ok();
    let size = batch.responders.len();
    // Callers first: their fate is decided, nothing after this may change it.
    for r in batch.responders {
        r(result.clone());
    }
    if let Some(obs) = &common.observer {
        let _ = catch_unwind(AssertUnwindSafe(|| obs.commit(size, elapsed, ok)));
    }
    if ok {
        wake(common, batch.touched.iter().copied(), seq);
    }
}

/// Tells whoever watches these tables that a commit wrote to them.
pub(crate) fn wake<'a>(common: &Common, tables: impl Iterator<Item = &'a str>, seq: u64) {
    if let Ok(w) = common.watchers.lock() {
        for name in tables {
            if let Some(tx) = w.get(name) {
                tx.send_replace(seq);
            }
        }
    }
}

/// The next write to start a batch with, waiting for one; `None` once the queue is closed and
/// empty. A shutdown closes the queue (writes already queued still run); after a failure that
/// stops the store, writes are refused here.
pub(crate) fn next_write(common: &Common, rx: &mut mpsc::Receiver<Msg>) -> Option<Request> {
    loop {
        match rx.blocking_recv()? {
            Msg::Shutdown => rx.close(),
            Msg::Write(r) if common.failed.load(Ordering::SeqCst) => {
                reject(r, StorageError::Unavailable)
            }
            Msg::Write(r) => return Some(r),
        }
    }
}

pub(crate) fn run(ctx: WriterCtx, mut rx: mpsc::Receiver<Msg>) {
    let common = &ctx.common;
    let _guard = FailOnPanic(common.failed.clone());
    let mut commits: u64 = 0;
    while let Some(first) = next_write(common, &mut rx) {
        let txn = match ctx.db.begin_write() {
            Ok(mut t) => {
                let _ = t.set_durability(redb::Durability::Immediate);
                t
            }
            Err(e) => {
                common.failed.store(true, Ordering::SeqCst);
                tracing::error!(error = %e, "storage: cannot begin a write transaction");
                reject(first, StorageError::io(e));
                continue;
            }
        };
        let tables = OpenTables::new(&txn);
        let mut batch = collect(common, first, &mut rx, &tables);
        // Tables close (flushing their roots) before the commit.
        drop(tables);
        let result = match batch.err.take() {
            Some(e) => {
                let _ = txn.abort();
                Err(e)
            }
            // A batch of pure reads has nothing to make durable: skip the fsync.
            None if batch.touched.is_empty() => txn.abort().map_err(StorageError::io),
            None => txn.commit().map_err(StorageError::io),
        };
        if let Err(e) = &result {
            common.failed.store(true, Ordering::SeqCst);
            tracing::error!(error = %e, batch = batch.responders.len(), "storage: commit failed; writes refused until restart");
        }
        if result.is_ok() {
            commits += 1;
        }
        finish(common, batch, result, commits);
    }
}

pub(crate) fn reject(req: Request, err: StorageError) {
    req.reject(err);
}
