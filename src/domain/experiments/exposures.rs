//! Exposures and conversion events, batched. They are many (every page view can expose), so
//! they do not take the write path one by one: [`Recorder::record`] puts an event in a bounded
//! in-memory queue and a flusher writes the queue in one transaction every
//! [`FLUSH_EVERY`] or [`FLUSH_AT`] events, whichever comes first. A crash loses at most the
//! events of the last flush interval that were not yet written — the documented window; a full
//! queue refuses events (503 `busy`) rather than growing.
//!
//! What is written is what the statistics need: per (experiment, subject) the arm and first
//! exposure and the subject's value of each metric; per (experiment, arm, metric) the exact sums
//! Σy and Σy² over subjects, updated by the change of one subject's value, so results read
//! O(arms) rows however many events there were.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Notify, mpsc, watch};

use super::assign::{self, Subject};
use super::model::{EXPERIMENTS, Experiment, Status};
use crate::core::Timestamp;
use crate::storage::{Reader, StorageError, Store, Table, Value, WriteTx};

/// Most time an accepted event waits before it is written (the crash-loss window).
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// A flush happens at once when this many events are waiting.
pub const FLUSH_AT: usize = 2_000;

/// Events waiting at most; beyond it new events are refused.
pub const QUEUE: usize = 50_000;

/// The metric name under which arm exposure counts are kept.
pub const EXPOSED: &str = "exposed";

/// What happened to a subject.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The subject was shown experiment `key`'s arm.
    Exposure {
        /// Experiment key.
        key: String,
    },
    /// The visitor signed in as `customer`: its experiment records become the customer's
    /// (where the customer has none), so its arms and history carry over.
    Join {
        /// The account the visitor signed in to.
        customer: crate::core::CustomerId,
    },
    /// The subject converted on `metric`, worth `value` (1 for a conversion).
    Conversion {
        /// Metric name (`add_to_cart`, `custom:signup`, `revenue`, …).
        metric: String,
        /// Value added to the subject's metric.
        value: i64,
        /// Counted as reached-or-not (conversion metrics) rather than summed.
        binary: bool,
    },
}

/// An event of a subject at a time.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Who.
    pub subject: Subject,
    /// What.
    pub event: Event,
    /// When.
    pub at: Timestamp,
}

/// A subject's state in one experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubjectRecord {
    /// The arm's index.
    pub arm: u16,
    /// First exposure.
    pub exposed_at: Timestamp,
    /// The subject's value of each metric it converted on.
    pub values: BTreeMap<String, i64>,
    /// The subject's value of each metric before the experiment started (CUPED's covariate):
    /// for customers from their paid orders; nothing for visitors.
    pub pre: BTreeMap<String, i64>,
}

/// The record as version 1 wrote it (before pre-period values).
#[derive(Deserialize)]
struct SubjectRecordV1 {
    arm: u16,
    exposed_at: Timestamp,
    values: BTreeMap<String, i64>,
}

impl Value for SubjectRecord {
    const VERSION: u8 = 2;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self, crate::storage::CodecError> {
        if version != 1 {
            return Err(crate::storage::CodecError::UnknownVersion {
                found: version,
                current: Self::VERSION,
            });
        }
        let v1: SubjectRecordV1 = postcard::from_bytes(bytes)
            .map_err(|e| crate::storage::CodecError::Postcard(e.to_string()))?;
        Ok(SubjectRecord {
            arm: v1.arm,
            exposed_at: v1.exposed_at,
            values: v1.values,
            pre: BTreeMap::new(),
        })
    }
}

/// Metrics whose pre-period value is known for customers.
const PRE_METRICS: [&str; 3] = ["order_paid", "orders", "revenue"];

/// Σy and Σy² over an arm's subjects for one metric (n is the arm's [`EXPOSED`] count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmSums {
    /// Σy (for [`EXPOSED`]: the number of subjects).
    pub sum: i128,
    /// Σy².
    pub sum_sq: i128,
}
impl Value for ArmSums {}

/// (experiment key, subject) → state.
pub(super) const SUBJECTS: Table<(String, String), SubjectRecord> =
    Table::new("experiment_subjects");
/// (experiment key, arm, metric) → sums.
pub(super) const ARM_SUMS: Table<(String, u16, String), ArmSums> = Table::new("experiment_sums");

/// Why an event was not taken.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The queue is full; retry shortly.
    #[error("too many experiment events are waiting; retry shortly")]
    Busy,
}

/// The sending side of the queue (cheap to clone).
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Recorded>,
    /// Events queued so far.
    queued: Arc<AtomicU64>,
    /// Events the flusher has handled (written, or dropped after a failed write).
    handled: watch::Receiver<u64>,
}

impl Recorder {
    /// Queues an event; it is written within [`FLUSH_EVERY`].
    pub fn record(&self, e: Recorded) -> Result<(), RecordError> {
        // Counted before it is sent, so a waiter never sees the flusher ahead of the count.
        self.queued.fetch_add(1, Ordering::SeqCst);
        self.tx.try_send(e).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            RecordError::Busy
        })
    }

    /// Waits (at most `limit`) until every event queued before the call has been handled, so
    /// a conversion written next finds the exposures recorded before it.
    pub async fn settled(&self, limit: std::time::Duration) {
        let target = self.queued.load(Ordering::SeqCst);
        let mut handled = self.handled.clone();
        let _ = tokio::time::timeout(limit, handled.wait_for(|n| *n >= target)).await;
    }
}

/// Tells the flusher to write what is queued and end (the composition root calls it at
/// shutdown, after the last request, before the store closes).
#[derive(Clone, Debug)]
pub struct FlushStop(Arc<Notify>);

impl FlushStop {
    /// Asks for the last flush; the flusher's future then completes.
    pub fn stop(&self) {
        self.0.notify_one();
    }
}

/// A recorder, the flusher that drains it into `store` (run by the composition root), and the
/// switch that ends the flusher after a last write.
pub fn recorder(
    store: Store,
) -> (
    Recorder,
    impl std::future::Future<Output = ()> + Send + 'static,
    FlushStop,
) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let stop = Arc::new(Notify::new());
    let (done, handled) = watch::channel(0u64);
    let recorder = Recorder {
        tx,
        queued: Arc::new(AtomicU64::new(0)),
        handled,
    };
    (
        recorder,
        flusher(store, rx, stop.clone(), done),
        FlushStop(stop),
    )
}

async fn flusher(
    store: Store,
    mut rx: mpsc::Receiver<Recorded>,
    stop: Arc<Notify>,
    done: watch::Sender<u64>,
) {
    let mut batch = Vec::with_capacity(FLUSH_AT);
    let mut stopping = false;
    while !stopping {
        tokio::select! {
            e = rx.recv() => match e {
                Some(e) => batch.push(e),
                None => stopping = true,
            },
            () = stop.notified() => stopping = true,
        }
        let deadline = tokio::time::sleep(FLUSH_EVERY);
        tokio::pin!(deadline);
        while !stopping && batch.len() < FLUSH_AT {
            tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => batch.push(e),
                    None => stopping = true,
                },
                () = &mut deadline => break,
                () = stop.notified() => stopping = true,
            }
        }
        if stopping {
            // The last flush: everything still queued (bounded by QUEUE).
            while let Ok(e) = rx.try_recv() {
                batch.push(e);
            }
        }
        // Written in chunks of FLUSH_AT, so no write grows beyond the usual batch.
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(FLUSH_AT));
            let events = std::mem::replace(&mut batch, rest);
            let n = events.len();
            if let Err(e) = store.write(move |tx| apply_all(tx, &events)).await {
                tracing::warn!(error = %e, events = n, "experiment events were not written");
            }
            done.send_modify(|h| *h += n as u64);
        }
    }
}

/// Writes a batch: at most [`FLUSH_AT`] events, each touching a bounded number of rows.
fn apply_all(tx: &mut WriteTx<'_>, events: &[Recorded]) -> Result<(), StorageError> {
    let mut experiments: Option<Vec<Experiment>> = None;
    for e in events {
        match &e.event {
            Event::Exposure { key } => {
                if let Some(x) = tx.get(&EXPERIMENTS, key)? {
                    expose(tx, &x, &e.subject, e.at)?;
                }
            }
            Event::Join { customer } => {
                if experiments.is_none() {
                    experiments = Some(all_experiments(tx)?);
                }
                for x in experiments.iter().flatten() {
                    join(tx, x, &e.subject, &Subject::Customer(*customer))?;
                }
            }
            Event::Conversion {
                metric,
                value,
                binary,
            } => {
                // Read once per batch: at most MAX_EXPERIMENTS, a short list.
                if experiments.is_none() {
                    experiments = Some(all_experiments(tx)?);
                }
                for x in experiments.iter().flatten() {
                    if x.status != Status::Stopped {
                        convert(tx, x, &e.subject, (metric, *value, *binary), e.at)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Every experiment (at most [`super::MAX_EXPERIMENTS`]).
fn all_experiments(tx: &WriteTx<'_>) -> Result<Vec<Experiment>, StorageError> {
    Ok(tx
        .range(
            &EXPERIMENTS,
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            crate::storage::Order::Asc,
            super::MAX_EXPERIMENTS,
        )?
        .into_iter()
        .map(|(_, x)| x)
        .collect())
}

/// Moves the visitor's record of `x` to the customer when the customer has none: same arm,
/// same exposure, same values, so the arm's sums do not change.
fn join(
    tx: &mut WriteTx<'_>,
    x: &Experiment,
    visitor: &Subject,
    customer: &Subject,
) -> Result<(), StorageError> {
    let from = (x.key.clone(), visitor.key());
    let to = (x.key.clone(), customer.key());
    let Some(rec) = tx.get(&SUBJECTS, &from)? else {
        return Ok(());
    };
    if tx.contains(&SUBJECTS, &to)? {
        return Ok(());
    }
    tx.remove(&SUBJECTS, &from)?;
    tx.insert(&SUBJECTS, &to, &rec)
}

/// The arm index `subject` was exposed to in `x`, if it was.
pub(super) fn exposed_arm(
    r: &impl crate::storage::Reader,
    x: &Experiment,
    subject: &Subject,
) -> Result<Option<u16>, StorageError> {
    Ok(r.get(&SUBJECTS, &(x.key.clone(), subject.key()))?
        .map(|rec| rec.arm))
}

/// Records the subject's first exposure to `x` (later ones change nothing).
fn expose(
    tx: &mut WriteTx<'_>,
    x: &Experiment,
    subject: &Subject,
    at: Timestamp,
) -> Result<(), StorageError> {
    let Some(arm) = assign::assign(x, subject, at) else {
        return Ok(());
    };
    let id = (x.key.clone(), subject.key());
    if tx.contains(&SUBJECTS, &id)? {
        return Ok(());
    }
    let index = x.arms.iter().position(|a| a.key == arm.key).unwrap_or(0);
    let index = u16::try_from(index).unwrap_or(0);
    let pre = pre_period(tx, subject, x.started_at.unwrap_or(at))?;
    for (metric, value) in &pre {
        bump(tx, &x.key, index, &format!("pre:{metric}"), 0, *value)?;
    }
    let rec = SubjectRecord {
        arm: index,
        exposed_at: at,
        values: BTreeMap::new(),
        pre,
    };
    tx.insert(&SUBJECTS, &id, &rec)?;
    bump(tx, &x.key, index, EXPOSED, 0, 1)
}

/// A customer's values before `start` from their paid orders (at most
/// [`orders::MAX_HISTORY`] read); zeros are left out.
fn pre_period(
    tx: &WriteTx<'_>,
    subject: &Subject,
    start: Timestamp,
) -> Result<BTreeMap<String, i64>, StorageError> {
    let Subject::Customer(c) = subject else {
        return Ok(BTreeMap::new());
    };
    let (count, revenue) = crate::domain::orders::paid_before(tx, *c, start)?;
    Ok(PRE_METRICS
        .iter()
        .zip([i64::from(count > 0), count, revenue])
        .filter(|(_, v)| *v != 0)
        .map(|(m, v)| ((*m).to_owned(), v))
        .collect())
}

/// Counts a paid order of `subject` at `at` in every experiment it was exposed to before:
/// `order_paid` (reached), `orders` (+1) and `revenue` (+`revenue` minor units). Runs in the
/// ack of the order's job, so an order counts once. Bounded: at most MAX_EXPERIMENTS × 3 rows.
pub fn count_paid_order(
    tx: &mut WriteTx<'_>,
    subject: &Subject,
    revenue: i64,
    at: Timestamp,
) -> Result<(), StorageError> {
    let all = tx.range(
        &EXPERIMENTS,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        crate::storage::Order::Asc,
        super::MAX_EXPERIMENTS,
    )?;
    for (_, x) in all.iter().filter(|(_, x)| x.status != Status::Stopped) {
        convert(tx, x, subject, ("order_paid", 1, true), at)?;
        convert(tx, x, subject, ("orders", 1, false), at)?;
        convert(tx, x, subject, ("revenue", revenue, false), at)?;
    }
    Ok(())
}

/// Adds a conversion (metric, value, binary) to an exposed subject's metric and moves its
/// arm's sums by the change; what happened before the first exposure is not the arm's doing.
fn convert(
    tx: &mut WriteTx<'_>,
    x: &Experiment,
    subject: &Subject,
    (metric, value, binary): (&str, i64, bool),
    at: Timestamp,
) -> Result<(), StorageError> {
    let id = (x.key.clone(), subject.key());
    let Some(mut rec) = tx.get(&SUBJECTS, &id)? else {
        return Ok(());
    };
    if at < rec.exposed_at {
        return Ok(());
    }
    let old = rec.values.get(metric).copied().unwrap_or(0);
    let new = if binary { 1 } else { old.saturating_add(value) };
    if new == old {
        return Ok(());
    }
    rec.values.insert(metric.to_owned(), new);
    tx.insert(&SUBJECTS, &id, &rec)?;
    // Σxy moves by x·(new − old): kept in the `sum` of the `xy:` row.
    if let Some(&pre) = rec.pre.get(metric) {
        let key = (x.key.clone(), rec.arm, format!("xy:{metric}"));
        let mut s = tx.get(&ARM_SUMS, &key)?.unwrap_or_default();
        s.sum += i128::from(pre) * (i128::from(new) - i128::from(old));
        tx.insert(&ARM_SUMS, &key, &s)?;
    }
    bump(tx, &x.key, rec.arm, metric, old, new)
}

/// Moves an arm's sums for `metric` from a subject's `old` value to its `new` one.
fn bump(
    tx: &mut WriteTx<'_>,
    key: &str,
    arm: u16,
    metric: &str,
    old: i64,
    new: i64,
) -> Result<(), StorageError> {
    let id = (key.to_owned(), arm, metric.to_owned());
    let mut s = tx.get(&ARM_SUMS, &id)?.unwrap_or_default();
    let (o, n) = (i128::from(old), i128::from(new));
    s.sum += n - o;
    s.sum_sq += n * n - o * o;
    tx.insert(&ARM_SUMS, &id, &s)
}

/// CUPED's sums of every arm of `x` for `metric`, in arm order: (Σx, Σx², Σxy).
pub fn arm_covariates(
    r: &impl Reader,
    x: &Experiment,
    metric: &str,
) -> Result<Vec<(i128, i128, i128)>, StorageError> {
    let mut out = Vec::with_capacity(x.arms.len());
    for i in 0..x.arms.len() {
        let i = u16::try_from(i).unwrap_or(u16::MAX);
        let pre = r
            .get(&ARM_SUMS, &(x.key.clone(), i, format!("pre:{metric}")))?
            .unwrap_or_default();
        let xy = r
            .get(&ARM_SUMS, &(x.key.clone(), i, format!("xy:{metric}")))?
            .unwrap_or_default();
        out.push((pre.sum, pre.sum_sq, xy.sum));
    }
    Ok(out)
}

/// The sums of every arm of `x` for `metric`, in arm order, with each arm's subjects.
pub fn arm_sums(
    r: &impl Reader,
    x: &Experiment,
    metric: &str,
) -> Result<Vec<(u64, ArmSums)>, StorageError> {
    let mut out = Vec::with_capacity(x.arms.len());
    for i in 0..x.arms.len() {
        let i = u16::try_from(i).unwrap_or(u16::MAX);
        let n = r
            .get(&ARM_SUMS, &(x.key.clone(), i, EXPOSED.to_owned()))?
            .map_or(0, |s| u64::try_from(s.sum).unwrap_or(0));
        let s = r
            .get(&ARM_SUMS, &(x.key.clone(), i, metric.to_owned()))?
            .unwrap_or_default();
        out.push((n, s));
    }
    Ok(out)
}
