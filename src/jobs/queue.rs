//! The queue's tables and state transitions (ready → in-flight → done | ready again | dead).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::{JobId, Timestamp};
use crate::storage::{Order, Reader, StorageError, Store, Table, Value, WriteTx};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Waiting for `run_at`, or runnable now.
    Ready,
    /// Claimed by a worker.
    InFlight,
    /// Ran successfully.
    Done,
    /// Failed `max_attempts` times (or permanently); kept for inspection and manual retry.
    Dead,
}

impl JobState {
    /// Label used in metrics and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ready => "ready",
            JobState::InFlight => "in_flight",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    /// Reads a label written by [`JobState::as_str`].
    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// All states, for exhaustive reporting.
    pub const ALL: [JobState; 4] = [
        JobState::Ready,
        JobState::InFlight,
        JobState::Done,
        JobState::Dead,
    ];
}

/// A stored job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobRecord {
    /// Id (`job_…`).
    pub id: JobId,
    /// Handler kind, e.g. `mail.send`.
    pub kind: String,
    /// JSON payload for the handler (as bytes on disk: same postcard encoding as a byte
    /// sequence, decoded in one copy instead of byte by byte).
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// Current state.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed before dead-lettering.
    pub max_attempts: u32,
    /// Earliest time of the next attempt.
    pub run_at: Timestamp,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// Last state change.
    pub updated_at: Timestamp,
    /// Caller-chosen key: a second enqueue with the same kind and key is a no-op.
    pub dedupe_key: Option<String>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
}

impl Value for JobRecord {}

pub(super) const JOBS: Table<JobId, JobRecord> = Table::new("jobs");
/// Who runs each in-flight job, and until when.
pub(super) const LEASES: Table<JobId, Lease> = Table::new("jobs_leases");
/// Leases by end, so ended ones are found without a scan.
pub(super) const LEASE_ENDS: Table<(Timestamp, JobId), ()> = Table::new("jobs_lease_ends");

/// The claim of an in-flight job: the node running it renews it while the job runs; a lease
/// that ends (its node crashed or lost the database) returns the job to the queue, so several
/// nodes share one queue and none waits for a dead one.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lease {
    /// The node holding it (kept in its data dir, so a restarted node knows its own).
    pub node: String,
    /// When it ends unless renewed.
    pub until: Timestamp,
}

impl Value for Lease {}
/// Runnable and scheduled jobs ordered by `run_at`.
pub(super) const READY: Table<(Timestamp, JobId), ()> = Table::new("jobs_ready");
/// The same per kind, so claiming skips saturated kinds without reading their jobs.
pub(super) const READY_BY_KIND: Table<(String, Timestamp, JobId), ()> =
    Table::new("jobs_ready_by_kind");
pub(super) const IN_FLIGHT: Table<JobId, ()> = Table::new("jobs_in_flight");
pub(super) const DONE: Table<(Timestamp, JobId), ()> = Table::new("jobs_done");
pub(super) const DEAD: Table<JobId, ()> = Table::new("jobs_dead");
pub(super) const DEDUPE: Table<(String, String), JobId> = Table::new("jobs_dedupe");
/// Every job by (state, kind, id): the staff list pages through one state, or one kind in it.
pub(super) const BY_STATE: Table<(String, String, JobId), ()> = Table::new("jobs_by_state");
/// Number of jobs per (state, kind), kept transactionally for metrics.
pub(super) const COUNTS: Table<(String, String), u64> = Table::new("jobs_counts");

/// Default attempts before a job is dead-lettered.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    kind: String,
    payload: Vec<u8>,
    dedupe_key: Option<String>,
    run_at: Option<Timestamp>,
    max_attempts: u32,
}

impl NewJob {
    /// A job of `kind` carrying `payload` as JSON.
    pub fn new<P: Serialize>(kind: &str, payload: &P) -> Result<Self, StorageError> {
        let payload = serde_json::to_vec(payload).map_err(|e| StorageError::Codec {
            table: "jobs",
            source: crate::storage::CodecError::Json(e.to_string()),
        })?;
        Ok(NewJob {
            kind: kind.to_owned(),
            payload,
            dedupe_key: None,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        })
    }

    /// Makes enqueueing idempotent: a job of the same kind with this key is created only once.
    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    /// Runs no earlier than `t`.
    pub fn run_at(mut self, t: Timestamp) -> Self {
        self.run_at = Some(t);
        self
    }

    /// Overrides the attempt budget (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// Result of [`enqueue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job was created.
    Created(JobId),
    /// A job with the same dedupe key already existed.
    Duplicate(JobId),
}

impl Enqueued {
    /// The job's id either way.
    pub fn id(self) -> JobId {
        match self {
            Enqueued::Created(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

fn bump(tx: &mut WriteTx<'_>, state: JobState, kind: &str, delta: i64) -> Result<(), StorageError> {
    let key = (state.as_str().to_owned(), kind.to_owned());
    let cur = tx.get(&COUNTS, &key)?.unwrap_or(0);
    let next = if delta >= 0 {
        cur.saturating_add(delta.unsigned_abs())
    } else {
        cur.saturating_sub(delta.unsigned_abs())
    };
    tx.insert(&COUNTS, &key, &next)
}

fn ready_insert(tx: &mut WriteTx<'_>, job: &JobRecord) -> Result<(), StorageError> {
    tx.insert(&READY, &(job.run_at, job.id), &())?;
    tx.insert(&READY_BY_KIND, &(job.kind.clone(), job.run_at, job.id), &())
}

fn ready_remove(tx: &mut WriteTx<'_>, job: &JobRecord) -> Result<(), StorageError> {
    tx.remove(&READY, &(job.run_at, job.id))?;
    tx.remove(&READY_BY_KIND, &(job.kind.clone(), job.run_at, job.id))
}

/// The queue's own schema steps.
pub const MIGRATIONS: &[crate::storage::Migration] = &[
    crate::storage::Migration {
        to: 2,
        description: "index ready jobs by kind",
        run: migrate_ready_by_kind,
    },
    crate::storage::Migration {
        to: 9,
        description: "index every job by state and kind (staff job list)",
        run: migrate_by_state,
    },
];

/// Schema 9: indexes every job of an older data dir by (state, kind, id), a batch at a time.
pub fn migrate_by_state(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    tx.for_each_batch(&JOBS, 1000, |tx, rows| {
        for (_, job) in rows {
            tx.insert(&BY_STATE, &state_key(&job), &())?;
        }
        Ok(())
    })
}

/// Schema 2: fills the per-kind ready index from the ready jobs of an older data dir.
pub fn migrate_ready_by_kind(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    let mut after: Option<(Timestamp, JobId)> = None;
    loop {
        let lo = match &after {
            Some(a) => std::ops::Bound::Excluded(a),
            None => std::ops::Bound::Unbounded,
        };
        let rows = tx.range(&READY, lo, std::ops::Bound::Unbounded, Order::Asc, 1024)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = Some(last.0);
        for ((t, id), ()) in rows {
            if let Some(job) = tx.get(&JOBS, &id)? {
                tx.insert(&READY_BY_KIND, &(job.kind, t, id), &())?;
            }
        }
    }
}

fn state_key(job: &JobRecord) -> (String, String, JobId) {
    (job.state.as_str().to_owned(), job.kind.clone(), job.id)
}

fn move_state(tx: &mut WriteTx<'_>, job: &mut JobRecord, to: JobState) -> Result<(), StorageError> {
    let now = tx.now();
    tx.remove(&BY_STATE, &state_key(job))?;
    match job.state {
        JobState::Ready => ready_remove(tx, job)?,
        JobState::InFlight => {
            tx.remove(&IN_FLIGHT, &job.id)?;
            drop_lease(tx, job.id)?;
        }
        JobState::Done => tx.remove(&DONE, &(job.updated_at, job.id))?,
        JobState::Dead => tx.remove(&DEAD, &job.id)?,
    }
    bump(tx, job.state, &job.kind, -1)?;
    job.state = to;
    job.updated_at = now;
    match to {
        JobState::Ready => ready_insert(tx, job)?,
        JobState::InFlight => tx.insert(&IN_FLIGHT, &job.id, &())?,
        JobState::Done => tx.insert(&DONE, &(job.updated_at, job.id), &())?,
        JobState::Dead => tx.insert(&DEAD, &job.id, &())?,
    }
    bump(tx, to, &job.kind, 1)?;
    tx.insert(&BY_STATE, &state_key(job), &())?;
    tx.insert(&JOBS, &job.id, job)
}

/// Removes a job that is waiting or dead (staff discard): its record, indexes, dedupe key and
/// count. Returns the state it was in, or `None` when it is running, done or unknown.
pub fn discard(tx: &mut WriteTx<'_>, id: JobId) -> Result<Option<JobState>, StorageError> {
    let Some(job) = tx.get(&JOBS, &id)? else {
        return Ok(None);
    };
    match job.state {
        JobState::Ready => ready_remove(tx, &job)?,
        JobState::Dead => tx.remove(&DEAD, &job.id)?,
        JobState::InFlight | JobState::Done => return Ok(None),
    }
    if let Some(key) = &job.dedupe_key {
        tx.remove(&DEDUPE, &(job.kind.clone(), key.clone()))?;
    }
    bump(tx, job.state, &job.kind, -1)?;
    tx.remove(&BY_STATE, &state_key(&job))?;
    tx.remove(&JOBS, &id)?;
    Ok(Some(job.state))
}

/// Adds a job inside the caller's transaction, so it commits (or not) with the change that
/// caused it.
pub fn enqueue(tx: &mut WriteTx<'_>, new: NewJob) -> Result<Enqueued, StorageError> {
    if let Some(key) = &new.dedupe_key
        && let Some(id) = tx.get(&DEDUPE, &(new.kind.clone(), key.clone()))?
    {
        return Ok(Enqueued::Duplicate(id));
    }
    let now = tx.now();
    let id = JobId::new(now);
    let job = JobRecord {
        id,
        kind: new.kind,
        payload: new.payload,
        state: JobState::Ready,
        attempts: 0,
        max_attempts: new.max_attempts,
        run_at: new.run_at.unwrap_or(now),
        created_at: now,
        updated_at: now,
        dedupe_key: new.dedupe_key,
        last_error: None,
    };
    if let Some(key) = &job.dedupe_key {
        tx.insert(&DEDUPE, &(job.kind.clone(), key.clone()), &id)?;
    }
    ready_insert(tx, &job)?;
    tx.insert(&BY_STATE, &state_key(&job), &())?;
    tx.insert(&JOBS, &id, &job)?;
    bump(tx, JobState::Ready, &job.kind, 1)?;
    Ok(Enqueued::Created(id))
}

/// Queues a run of the recurring job `kind` for the `every`-long window containing `at`; a
/// no-op when that window already has one. A recurring job's handler calls this for the next
/// window when it finishes, and start-up calls it for the current one, so exactly one chain
/// runs however often the process restarts.
pub fn schedule_recurring(
    tx: &mut WriteTx<'_>,
    kind: &str,
    every: std::time::Duration,
    at: Timestamp,
) -> Result<(), StorageError> {
    let ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
    let window = at.as_millis().div_euclid(ms);
    enqueue(
        tx,
        NewJob::new(kind, &serde_json::json!({}))?
            .dedupe(format!("{RECURRING_PREFIX}{window}"))
            .run_at(at),
    )?;
    Ok(())
}

/// Whether `job` is a run of a recurring schedule ([`schedule_recurring`]): discarding it
/// would end the schedule until the next start.
pub fn is_recurring(job: &JobRecord) -> bool {
    job.dedupe_key
        .as_deref()
        .is_some_and(|k| k.starts_with(RECURRING_PREFIX))
}

/// Dedupe-key prefix of recurring runs.
const RECURRING_PREFIX: &str = "window:";

/// Reads one job.
pub fn get(r: &impl Reader, id: JobId) -> Result<Option<JobRecord>, StorageError> {
    r.get(&JOBS, &id)
}

/// What the runner can do with a due job of some kind right now.
pub(crate) enum Take {
    /// Claim it.
    Yes,
    /// The kind is at its concurrency limit: leave it for later.
    Saturated,
    /// No handler is registered for the kind (e.g. data from another version): push it back.
    NoHandler,
}

/// How far a job without a handler is pushed back, so it never blocks the head of the queue.
const NO_HANDLER_DELAY: std::time::Duration = std::time::Duration::from_secs(60);

/// Claims up to `limit` due jobs, kind by kind (oldest first within a kind), asking `decide`
/// for each: take it, skip the rest of its kind (saturated), or push it back (no handler in
/// this build). Kinds come from the per-state counts and jobs from the per-kind index, so a
/// saturated kind with a long backlog costs one lookup, not a scan of its jobs.
pub(crate) fn claim(
    tx: &mut WriteTx<'_>,
    limit: usize,
    lease: &Lease,
    mut decide: impl FnMut(&str) -> Take,
) -> Result<Vec<JobRecord>, StorageError> {
    const PAGE: usize = 64;
    let now = tx.now();
    let due_until = Timestamp::from_millis(now.as_millis().saturating_add(1));
    let ready = JobState::Ready.as_str().to_owned();
    let kinds: Vec<String> = tx
        .prefix(&COUNTS, &ready, None, Order::Asc, 10_000)?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|((_, kind), _)| kind)
        .collect();
    let mut out = Vec::new();
    'kinds: for kind in kinds {
        let mut after: Option<(String, Timestamp, JobId)> = None;
        loop {
            if out.len() >= limit {
                break 'kinds;
            }
            let lo = match &after {
                Some(a) => std::ops::Bound::Excluded(a),
                None => std::ops::Bound::Included(&(
                    kind.clone(),
                    Timestamp::from_millis(i64::MIN),
                    JobId::from_bytes([0; 16]),
                )),
            };
            let hi = (kind.clone(), due_until, JobId::from_bytes([0; 16]));
            let page = tx.range(
                &READY_BY_KIND,
                lo.map(|k| k.clone()).as_ref(),
                std::ops::Bound::Excluded(&hi),
                Order::Asc,
                PAGE,
            )?;
            let Some(last) = page.last() else {
                continue 'kinds;
            };
            after = Some(last.0.clone());
            for ((k, t, id), ()) in page {
                let job = tx.get(&JOBS, &id)?;
                let Some(mut job) = job.filter(|j| j.state == JobState::Ready && j.run_at == t)
                else {
                    // A stray index row (should not happen): drop it rather than run a job twice.
                    tracing::warn!(job = %id, "jobs: removing a ready-index row with no ready job");
                    tx.remove(&READY_BY_KIND, &(k, t, id))?;
                    tx.remove(&READY, &(t, id))?;
                    continue;
                };
                match decide(&job.kind) {
                    Take::Yes => {
                        job.attempts += 1;
                        move_state(tx, &mut job, JobState::InFlight)?;
                        set_lease(tx, id, lease)?;
                        out.push(job);
                        if out.len() >= limit {
                            break 'kinds;
                        }
                    }
                    Take::Saturated => continue 'kinds,
                    Take::NoHandler => {
                        ready_remove(tx, &job)?;
                        job.run_at = now.plus(NO_HANDLER_DELAY);
                        job.last_error = Some(format!(
                            "no handler is registered for job kind `{}` in this shopd build",
                            job.kind
                        ));
                        job.updated_at = now;
                        ready_insert(tx, &job)?;
                        tx.insert(&JOBS, &id, &job)?;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Earliest `run_at` among ready jobs, to know how long the runner may sleep.
pub(crate) fn next_due(r: &impl Reader) -> Result<Option<Timestamp>, StorageError> {
    Ok(r.range(
        &READY,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        Order::Asc,
        1,
    )?
    .first()
    .map(|((t, _), ())| *t))
}

/// Marks an in-flight job done. Returns false if it was not in flight for this attempt
/// (already completed), in which case the caller must not apply its effect.
pub fn complete(tx: &mut WriteTx<'_>, id: JobId, attempt: u32) -> Result<bool, StorageError> {
    let Some(mut job) = tx.get(&JOBS, &id)? else {
        return Ok(false);
    };
    if job.state != JobState::InFlight || job.attempts != attempt {
        return Ok(false);
    }
    job.last_error = None;
    move_state(tx, &mut job, JobState::Done)?;
    Ok(true)
}

/// Records a failed attempt: back to ready after `retry_in`, or dead when out of attempts
/// (or `permanent`). Returns the new state.
pub fn fail(
    tx: &mut WriteTx<'_>,
    id: JobId,
    attempt: u32,
    error: &str,
    permanent: bool,
    retry_in: Duration,
) -> Result<Option<JobState>, StorageError> {
    let Some(mut job) = tx.get(&JOBS, &id)? else {
        return Ok(None);
    };
    if job.state != JobState::InFlight || job.attempts != attempt {
        return Ok(None);
    }
    job.last_error = Some(error.chars().take(2000).collect());
    if permanent || job.attempts >= job.max_attempts {
        move_state(tx, &mut job, JobState::Dead)?;
        Ok(Some(JobState::Dead))
    } else {
        job.run_at = tx.now().plus(retry_in);
        move_state(tx, &mut job, JobState::Ready)?;
        Ok(Some(JobState::Ready))
    }
}

/// Puts a dead job back in the queue with a fresh attempt budget (admin action).
pub fn retry_dead(tx: &mut WriteTx<'_>, id: JobId) -> Result<bool, StorageError> {
    let Some(mut job) = tx.get(&JOBS, &id)? else {
        return Ok(false);
    };
    if job.state != JobState::Dead {
        return Ok(false);
    }
    job.attempts = 0;
    job.run_at = tx.now();
    move_state(tx, &mut job, JobState::Ready)?;
    Ok(true)
}

fn set_lease(tx: &mut WriteTx<'_>, id: JobId, lease: &Lease) -> Result<(), StorageError> {
    drop_lease(tx, id)?;
    tx.insert(&LEASES, &id, lease)?;
    tx.insert(&LEASE_ENDS, &(lease.until, id), &())
}

fn drop_lease(tx: &mut WriteTx<'_>, id: JobId) -> Result<(), StorageError> {
    if let Some(old) = tx.get(&LEASES, &id)? {
        tx.remove(&LEASE_ENDS, &(old.until, id))?;
        tx.remove(&LEASES, &id)?;
    }
    Ok(())
}

/// Extends the leases `lease.node` holds on `ids` to `lease.until`. Returns the ids another
/// node holds now (this node's lease ended and the job was claimed again), whose local runs
/// should stop: their results would be refused anyway. Ids with no lease (finished meanwhile)
/// are left alone.
pub(crate) fn renew(
    tx: &mut WriteTx<'_>,
    lease: &Lease,
    ids: &[JobId],
) -> Result<Vec<JobId>, StorageError> {
    let mut lost = Vec::new();
    for &id in ids {
        match tx.get(&LEASES, &id)? {
            Some(held) if held.node == lease.node => set_lease(tx, id, lease)?,
            Some(_) => lost.push(id),
            None => {}
        }
    }
    Ok(lost)
}

/// Returns to the queue at most `limit` in-flight jobs whose lease ended before now: their node
/// stopped renewing it (crashed, or lost the database). Returns how many.
pub(crate) fn expire_leases(tx: &mut WriteTx<'_>, limit: usize) -> Result<usize, StorageError> {
    let now = tx.now();
    let ended = tx.range(
        &LEASE_ENDS,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Excluded(&(now, JobId::from_bytes([0; 16]))),
        Order::Asc,
        limit,
    )?;
    let mut n = 0;
    for ((t, id), ()) in ended {
        match tx.get(&JOBS, &id)? {
            Some(mut job) if job.state == JobState::InFlight => {
                job.run_at = now;
                job.last_error =
                    Some("the node running it stopped renewing its lease; run again".into());
                move_state(tx, &mut job, JobState::Ready)?;
                n += 1;
            }
            // A lease left behind: remove it so the sweep always advances.
            _ => {
                tx.remove(&LEASE_ENDS, &(t, id))?;
                tx.remove(&LEASES, &id)?;
            }
        }
    }
    Ok(n)
}

/// After a crash or a restart, jobs this node had in flight go back to ready, and so do in-flight
/// jobs with no lease (claimed before leases existed); jobs leased by other nodes wait for their
/// lease to end. Run once at start-up before any worker claims. Returns how many were recovered.
pub async fn recover(store: &Store, node: &str) -> Result<usize, StorageError> {
    let node = node.to_owned();
    store
        .write(move |tx| {
            let mut n = 0;
            let mut after: Option<JobId> = None;
            loop {
                let batch = tx.range(
                    &IN_FLIGHT,
                    after
                        .as_ref()
                        .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
                    std::ops::Bound::Unbounded,
                    Order::Asc,
                    1024,
                )?;
                let Some((last, ())) = batch.last() else {
                    break;
                };
                after = Some(*last);
                for (id, ()) in batch {
                    let mine = tx.get(&LEASES, &id)?.is_none_or(|l| l.node == node);
                    match tx.get(&JOBS, &id)? {
                        Some(mut job) if job.state == JobState::InFlight => {
                            if mine {
                                job.run_at = tx.now();
                                move_state(tx, &mut job, JobState::Ready)?;
                                n += 1;
                            }
                        }
                        // A stray index row: remove it.
                        _ => tx.remove(&IN_FLIGHT, &id)?,
                    }
                }
            }
            Ok::<_, StorageError>(n)
        })
        .await
}

/// Deletes up to `limit` done jobs finished before `before` (with their dedupe keys).
pub(crate) fn prune_done(
    tx: &mut WriteTx<'_>,
    before: Timestamp,
    limit: usize,
) -> Result<usize, StorageError> {
    let old = tx.range(
        &DONE,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Excluded(&(before, JobId::from_bytes([0; 16]))),
        Order::Asc,
        limit,
    )?;
    let n = old.len();
    for ((t, id), ()) in old {
        tx.remove(&DONE, &(t, id))?;
        if let Some(job) = tx.get(&JOBS, &id)? {
            if let Some(key) = &job.dedupe_key {
                tx.remove(&DEDUPE, &(job.kind.clone(), key.clone()))?;
            }
            bump(tx, JobState::Done, &job.kind, -1)?;
            tx.remove(&BY_STATE, &state_key(&job))?;
            tx.remove(&JOBS, &id)?;
        }
    }
    Ok(n)
}

/// Number of jobs per (state, kind), for metrics and the admin dashboard.
pub fn queue_depth(store: &Store) -> Result<Vec<(JobState, String, u64)>, StorageError> {
    let r = store.read()?;
    let rows = r.range(
        &COUNTS,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        Order::Asc,
        10_000,
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|((state, kind), n)| {
            JobState::ALL
                .iter()
                .find(|s| s.as_str() == state)
                .map(|s| (*s, kind, n))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::TestClock;
    use crate::storage::StoreOptions;

    /// A store opened at schema 1, before the queue's own migrations.
    fn schema_1_store(dir: &std::path::Path) -> Store {
        let clock = TestClock::new(Timestamp::from_millis(1_000_000));
        Store::open(StoreOptions::new(
            dir.to_path_buf(),
            Arc::new(clock),
            crate::storage::SCHEMA_V1,
        ))
        .expect("open")
    }

    fn lease(node: &str, until_ms: i64) -> Lease {
        Lease {
            node: node.into(),
            until: Timestamp::from_millis(until_ms),
        }
    }

    /// A lease its node stops renewing ends and the job goes back to the queue, where another
    /// node claims it; the first node's renewal then reports the job lost, and its late result
    /// is refused. A restarted node takes back its own jobs at once, not other nodes'.
    #[test]
    fn leases_end_unless_renewed_and_a_restart_recovers_only_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = TestClock::new(Timestamp::from_millis(1_000));
        let store = Store::open(StoreOptions::new(
            dir.path().to_path_buf(),
            Arc::new(clock.clone()),
            crate::storage::SCHEMA_V1,
        ))
        .expect("open");
        let claim_as = |node: &'static str, until: i64| {
            store
                .write_blocking(move |tx| claim(tx, 10, &lease(node, until), |_| Take::Yes))
                .expect("claim")
        };
        let (x, y) = store
            .write_blocking(|tx| {
                let x = enqueue(tx, NewJob::new("k", &1)?)?.id();
                let y = enqueue(tx, NewJob::new("k", &2)?)?.id();
                Ok::<_, StorageError>((x, y))
            })
            .expect("enqueue");
        let a = claim_as("a", 31_000);
        assert_eq!(a.len(), 2);
        // Node a renews y only; at 40 s x's lease has ended, y's has not.
        let lost = store
            .write_blocking(move |tx| renew(tx, &lease("a", 61_000), &[y]))
            .expect("renew");
        assert!(lost.is_empty());
        clock.set(Timestamp::from_millis(40_000));
        let swept = store
            .write_blocking(|tx| expire_leases(tx, 10))
            .expect("sweep");
        assert_eq!(swept, 1);
        let b = claim_as("b", 70_000);
        assert_eq!(b.iter().map(|j| j.id).collect::<Vec<_>>(), vec![x]);
        assert_eq!(b[0].attempts, 2);
        let lost = store
            .write_blocking(move |tx| renew(tx, &lease("a", 70_000), &[x, y]))
            .expect("renew");
        assert_eq!(lost, vec![x], "b holds x now");
        let late = store
            .write_blocking(move |tx| complete(tx, x, 1))
            .expect("complete");
        assert!(!late, "a's result for x is refused");
        // Node b restarts: it takes back x at once; y stays with a until its lease ends.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let recovered = rt.block_on(recover(&store, "b")).expect("recover");
        assert_eq!(recovered, 1);
        let r = store.read().expect("read");
        assert_eq!(
            get(&r, x).expect("x").map(|j| j.state),
            Some(JobState::Ready)
        );
        assert_eq!(
            get(&r, y).expect("y").map(|j| j.state),
            Some(JobState::InFlight)
        );
        assert!(r.get(&LEASES, &x).expect("lease").is_none());
        assert_eq!(
            r.get(&LEASES, &y).expect("lease").map(|l| l.node),
            Some("a".to_owned())
        );
        drop(r);
        store.shutdown_blocking();
    }

    /// Schema 9: jobs of an older data dir (no state index) are listed after the migration,
    /// each in its state, and the index then follows every state change.
    #[test]
    fn migration_indexes_every_job_by_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = schema_1_store(dir.path());
        let (a, b) = store
            .write_blocking(|tx| {
                let a = enqueue(tx, NewJob::new("a", &1)?)?.id();
                let b = enqueue(tx, NewJob::new("b", &1)?)?.id();
                let mut jb = tx.get(&JOBS, &b)?.expect("job");
                move_state(tx, &mut jb, JobState::Dead)?;
                for id in [a, b] {
                    let job = tx.get(&JOBS, &id)?.expect("job");
                    tx.remove(&BY_STATE, &state_key(&job))?;
                }
                Ok::<_, StorageError>((a, b))
            })
            .expect("older queue");
        let listed = |state| {
            let r = store.read().expect("read");
            let (jobs, _) = super::super::admin::list(&r, state, None, None, 10).expect("list");
            jobs.into_iter().map(|j| j.id).collect::<Vec<_>>()
        };
        assert!(listed(None).is_empty(), "unindexed before the migration");
        store.write_blocking(migrate_by_state).expect("migrate");
        assert_eq!(listed(Some(JobState::Ready)), vec![a]);
        assert_eq!(listed(Some(JobState::Dead)), vec![b]);
        assert_eq!(listed(None), vec![b, a], "dead first");
        store
            .write_blocking(move |tx| retry_dead(tx, b))
            .expect("retry");
        assert_eq!(listed(Some(JobState::Dead)), Vec::<JobId>::new());
        assert_eq!(listed(Some(JobState::Ready)).len(), 2);
        store
            .write_blocking(move |tx| discard(tx, a))
            .expect("discard");
        assert_eq!(listed(None), vec![b]);
    }

    #[test]
    fn migration_indexes_ready_jobs_of_an_older_data_dir_by_kind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = schema_1_store(dir.path());
        // A schema-1 queue: ready jobs without the per-kind index.
        let ids = store
            .write_blocking(|tx| {
                let mut ids = Vec::new();
                for kind in ["a", "b", "a"] {
                    let id = enqueue(tx, NewJob::new(kind, &1)?)?.id();
                    let job = tx.get(&JOBS, &id)?.expect("job");
                    tx.remove(&READY_BY_KIND, &(job.kind, job.run_at, id))?;
                    ids.push(id);
                }
                Ok::<_, StorageError>(ids)
            })
            .expect("enqueue");
        let none = store
            .write_blocking(|tx| claim(tx, 10, &lease("a", 0), |_| Take::Yes))
            .expect("claim");
        assert!(none.is_empty(), "unindexed jobs are invisible to claim");
        store
            .write_blocking(migrate_ready_by_kind)
            .expect("migrate");
        let claimed = store
            .write_blocking(|tx| {
                claim(tx, 10, &lease("a", 0), |k| {
                    if k == "b" { Take::Saturated } else { Take::Yes }
                })
            })
            .expect("claim");
        let got: Vec<JobId> = claimed.iter().map(|j| j.id).collect();
        assert_eq!(
            got,
            vec![ids[0], ids[2]],
            "kind a in order; saturated b skipped"
        );
        store.shutdown_blocking();
    }
}
