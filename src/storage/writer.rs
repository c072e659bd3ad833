//! Group commit: one thread owns redb's write transaction and folds every queued write request
//! into one durable commit, answering each caller only after the fsync.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::error::StorageError;
use super::tx::{OpenTables, WriteTx};
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

pub(crate) struct WriterCtx {
    pub(crate) db: Arc<redb::Database>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) failed: Arc<AtomicBool>,
    pub(crate) watchers: Arc<Mutex<HashMap<&'static str, watch::Sender<u64>>>>,
    pub(crate) observer: Option<Arc<dyn StorageObserver>>,
    pub(crate) limits: GroupCommit,
}

/// Marks the store failed if the writer thread unwinds, so health reflects a dead writer.
struct FailOnPanic(Arc<AtomicBool>);

impl Drop for FailOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
            tracing::error!("storage: the writer thread panicked; writes refused until restart");
        }
    }
}

pub(crate) fn run(ctx: WriterCtx, mut rx: mpsc::Receiver<Msg>) {
    let _guard = FailOnPanic(ctx.failed.clone());
    let mut commits: u64 = 0;
    while let Some(msg) = rx.blocking_recv() {
        let first = match msg {
            Msg::Write(r) => r,
            Msg::Shutdown => {
                // Requests already queued still run; new ones are refused.
                rx.close();
                continue;
            }
        };
        if ctx.failed.load(Ordering::SeqCst) {
            reject(first, StorageError::Unavailable);
            continue;
        }
        let txn = match ctx.db.begin_write() {
            Ok(mut t) => {
                let _ = t.set_durability(redb::Durability::Immediate);
                t
            }
            Err(e) => {
                ctx.failed.store(true, Ordering::SeqCst);
                tracing::error!(error = %e, "storage: cannot begin a write transaction");
                reject(first, StorageError::io(e));
                continue;
            }
        };
        let started = Instant::now();
        let tables = OpenTables::new(&txn);
        let mut responders: Vec<Responder> = Vec::new();
        let mut touched: HashSet<&'static str> = HashSet::new();
        let mut batch_err: Option<StorageError> = None;
        let mut next = Some(first);
        while let Some(req) = next.take() {
            let mut wtx = WriteTx::new(&tables, ctx.clock.now());
            let outcome = match catch_unwind(AssertUnwindSafe(|| req.run(&mut wtx))) {
                Ok(o) => o,
                Err(_) => {
                    // The request wrapper itself panicked: nothing to answer, nothing applied.
                    continue;
                }
            };
            if outcome.apply {
                touched.extend(wtx.touched());
                if let Err(e) = wtx.apply() {
                    batch_err = Some(e);
                    responders.push(outcome.respond);
                    break;
                }
            }
            responders.push(outcome.respond);
            if responders.len() >= ctx.limits.max_batch
                || started.elapsed() >= ctx.limits.max_batch_time
            {
                break;
            }
            match rx.try_recv() {
                Ok(Msg::Write(r)) => next = Some(r),
                Ok(Msg::Shutdown) => rx.close(),
                Err(_) => {}
            }
        }
        // Tables close (flushing their roots) before the commit.
        drop(tables);
        let result = match batch_err {
            Some(e) => {
                let _ = txn.abort();
                Err(e)
            }
            // A batch of pure reads has nothing to make durable: skip the fsync.
            None if touched.is_empty() => txn.abort().map_err(StorageError::io),
            None => txn.commit().map_err(StorageError::io),
        };
        let elapsed = started.elapsed();
        if let Err(e) = &result {
            ctx.failed.store(true, Ordering::SeqCst);
            tracing::error!(error = %e, batch = responders.len(), "storage: commit failed; writes refused until restart");
        }
        let ok = result.is_ok();
        let batch = responders.len();
        // Callers first: their fate is decided, nothing after this may change it.
        for r in responders {
            r(result.clone());
        }
        if let Some(obs) = &ctx.observer {
            let _ = catch_unwind(AssertUnwindSafe(|| obs.commit(batch, elapsed, ok)));
        }
        if ok {
            commits += 1;
            if let Ok(w) = ctx.watchers.lock() {
                for name in touched {
                    if let Some(tx) = w.get(name) {
                        tx.send_replace(commits);
                    }
                }
            }
        }
    }
}

fn reject(req: Request, err: StorageError) {
    req.reject(err);
}
