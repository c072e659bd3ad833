//! Workers: claim due jobs, run their handlers, and ack, retry with backoff, or dead-letter.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};

use super::queue::{self, JobRecord, JobState, Take};
use crate::core::{Clock, JobId};
use crate::storage::{StorageError, Store, WriteTx};

/// What a handler sees of its job.
#[derive(Clone, Debug)]
pub struct JobContext {
    /// Job id.
    pub id: JobId,
    /// Kind it was registered under.
    pub kind: String,
    /// Attempt number, starting at 1.
    pub attempt: u32,
    /// Dedupe key given at enqueue, if any (handlers use it to make effects idempotent).
    pub dedupe_key: Option<String>,
    payload: Vec<u8>,
}

impl JobContext {
    /// Decodes the JSON payload; a payload that does not decode is a permanent failure.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| JobError::permanent(format!("payload does not decode: {e}")))
    }
}

/// Writes a handler wants committed atomically with the job's ack, which makes a local effect
/// happen exactly once even if the process dies between running and acking.
pub type Completion = Box<dyn FnOnce(&mut WriteTx<'_>) -> Result<(), StorageError> + Send>;

/// A successful run.
pub enum JobOutcome {
    /// Ack only.
    Done,
    /// Ack together with these writes.
    DoneWith(Completion),
}

/// A failed run.
#[derive(Debug, Clone)]
pub struct JobError {
    /// Why (stored on the job, shown to admins).
    pub message: String,
    /// Retrying cannot help; dead-letter at once.
    pub permanent: bool,
}

impl JobError {
    /// A failure worth retrying.
    pub fn retry(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            permanent: false,
        }
    }
    /// A failure retries cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            permanent: true,
        }
    }
}

impl From<StorageError> for JobError {
    fn from(e: StorageError) -> Self {
        JobError::retry(e.to_string())
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Runs jobs of one kind.
pub trait JobHandler: Send + Sync + 'static {
    /// Performs the job.
    fn handle(&self, ctx: JobContext) -> BoxFuture<Result<JobOutcome, JobError>>;
}

struct FnHandler<F>(F);

impl<F, Fut> JobHandler for FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<JobOutcome, JobError>> + Send + 'static,
{
    fn handle(&self, ctx: JobContext) -> BoxFuture<Result<JobOutcome, JobError>> {
        Box::pin((self.0)(ctx))
    }
}

/// Wraps an async closure as a handler.
pub fn handler_fn<F, Fut>(f: F) -> Arc<dyn JobHandler>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<JobOutcome, JobError>> + Send + 'static,
{
    Arc::new(FnHandler(f))
}

/// Receives job outcomes (the metrics module implements it).
pub trait JobObserver: Send + Sync {
    /// `outcome` is `succeeded`, `retried` or `dead`.
    fn outcome(&self, kind: &str, outcome: &'static str, elapsed: Duration);
}

/// Worker settings.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Jobs running at once across all kinds.
    pub workers: usize,
    /// First retry delay; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How long shutdown waits for running jobs.
    pub shutdown_timeout: Duration,
    /// Longest sleep between queue checks.
    pub poll_interval: Duration,
    /// How long done jobs are kept.
    pub retention: Duration,
    /// This node's name on the leases of the jobs it runs (see [`queue::Lease`]).
    pub node: String,
    /// How long a claim lasts unless renewed; the runner renews every third of it, and another
    /// node takes over a job whose lease ended.
    pub lease: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            workers: 16,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(3600),
            shutdown_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
            retention: Duration::from_secs(7 * 24 * 3600),
            node: "local".into(),
            lease: DEFAULT_LEASE,
        }
    }
}

/// Default lease of a claimed job.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Most ended leases returned to the queue per sweep.
const EXPIRE_BATCH: usize = 500;

struct Registered {
    handler: Arc<dyn JobHandler>,
    concurrency: usize,
}

/// The queue's workers; handlers are registered by kind before `start`.
pub struct Runner {
    store: Store,
    clock: Arc<dyn Clock>,
    config: RunnerConfig,
    handlers: HashMap<String, Registered>,
    observer: Option<Arc<dyn JobObserver>>,
}

/// Handle to a started runner.
pub struct RunningJobs {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningJobs {
    /// Stops claiming, waits (bounded) for running jobs, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Exponential backoff with jitter: uniformly in [d/2, d] where d = base·2^(attempt−1), capped.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let d = base.saturating_mul(1u32 << exp).min(max);
    let half = d / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(if jitter_ms == 0 {
        0
    } else {
        rand::random_range(0..=jitter_ms)
    })
}

impl Runner {
    /// A runner over `store` with no handlers yet.
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: RunnerConfig) -> Self {
        Runner {
            store,
            clock,
            config,
            handlers: HashMap::new(),
            observer: None,
        }
    }

    /// Registers the handler for `kind`, allowing at most `concurrency` of its jobs at once.
    pub fn register(&mut self, kind: &str, concurrency: usize, handler: Arc<dyn JobHandler>) {
        self.handlers.insert(
            kind.to_owned(),
            Registered {
                handler,
                concurrency: concurrency.max(1),
            },
        );
    }

    /// Whether a handler for `kind` is registered.
    pub fn handles(&self, kind: &str) -> bool {
        self.handlers.contains_key(kind)
    }

    /// The store the runner claims from.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Sets the outcome observer.
    pub fn observe(&mut self, observer: Arc<dyn JobObserver>) {
        self.observer = Some(observer);
    }

    /// Starts the claim loop. Call [`queue::recover`] first.
    pub fn start(self) -> RunningJobs {
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(self.run(stop_rx));
        RunningJobs { stop, task }
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let shared = Arc::new(Shared {
            store: self.store.clone(),
            config: self.config.clone(),
            observer: self.observer.clone(),
            running: Mutex::new(HashMap::new()),
            tasks: Mutex::new(HashMap::new()),
            finished: Notify::new(),
        });
        let handlers: Arc<HashMap<String, Registered>> = Arc::new(self.handlers);
        let mut ready_changed = self.store.watch("jobs_ready");
        let mut last_prune = self.clock.now();
        let mut last_renewal = std::time::Instant::now();
        loop {
            if *stop.borrow() {
                break;
            }
            if last_renewal.elapsed() >= self.config.lease / 3 {
                last_renewal = std::time::Instant::now();
                renew_and_sweep(&shared).await;
            }
            let capacity = self.config.workers.saturating_sub(shared.total_running());
            let mut claimed_any = false;
            let due_now = self
                .store
                .read()
                .ok()
                .and_then(|r| queue::next_due(&r).ok().flatten())
                .is_some_and(|due| due <= self.clock.now());
            if capacity > 0 && due_now && self.store.is_healthy() {
                let snapshot = shared.running_snapshot();
                let hs = handlers.clone();
                let (node, lease) = (self.config.node.clone(), self.config.lease);
                let claimed = self
                    .store
                    .write(move |tx| {
                        let mut taken: HashMap<String, usize> = HashMap::new();
                        let lease = queue::Lease {
                            node,
                            until: tx.now().plus(lease),
                        };
                        queue::claim(tx, capacity, &lease, |kind| {
                            let Some(reg) = hs.get(kind) else {
                                return Take::NoHandler;
                            };
                            let now = snapshot.get(kind).copied().unwrap_or(0)
                                + taken.get(kind).copied().unwrap_or(0);
                            if now < reg.concurrency {
                                *taken.entry(kind.to_owned()).or_insert(0) += 1;
                                Take::Yes
                            } else {
                                Take::Saturated
                            }
                        })
                    })
                    .await;
                match claimed {
                    Ok(jobs) => {
                        claimed_any = !jobs.is_empty();
                        for job in jobs {
                            let Some(reg) = handlers.get(&job.kind) else {
                                continue;
                            };
                            shared.started(&job.kind);
                            let id = job.id;
                            let t = tokio::spawn(execute(shared.clone(), reg.handler.clone(), job));
                            shared.track(id, t.abort_handle());
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "jobs: claim failed"),
                }
            }
            let now = self.clock.now();
            if now.since(last_prune) > Duration::from_secs(10) {
                last_prune = now;
                let before = Timestamp::from_millis(now.as_millis().saturating_sub(
                    i64::try_from(self.config.retention.as_millis()).unwrap_or(i64::MAX),
                ));
                // Up to 10 batches per pass keeps pruning ahead of ~1000 finished jobs/s.
                for _ in 0..10 {
                    match self
                        .store
                        .write(move |tx| queue::prune_done(tx, before, 1000))
                        .await
                    {
                        Ok(1000) => continue,
                        _ => break,
                    }
                }
            }
            // Claimed a full round and workers are free: claim again at once. Otherwise sleep
            // until something may be claimable: a commit touched the ready queue, a running job
            // finished, the next scheduled job is due, or the poll interval passed.
            if claimed_any && self.config.workers > shared.total_running() {
                continue;
            }
            let mut wait = self.config.poll_interval;
            if let Ok(r) = self.store.read()
                && let Ok(Some(due)) = queue::next_due(&r)
            {
                let now = self.clock.now();
                if due > now {
                    wait = wait.min(due.since(now));
                }
            }
            let stopped = tokio::select! {
                r = stop.changed() => r.is_err() || *stop.borrow(),
                _ = ready_changed.changed() => false,
                _ = shared.finished.notified() => false,
                _ = tokio::time::sleep(wait) => false,
            };
            if stopped {
                // Also reached when the `RunningJobs` handle was dropped without `shutdown`.
                break;
            }
        }
        // Graceful stop: no more claims; let running jobs finish within the timeout. Jobs still
        // running after it stay in flight and are recovered at the next start.
        let deadline = tokio::time::Instant::now() + self.config.shutdown_timeout;
        while shared.total_running() > 0 && tokio::time::Instant::now() < deadline {
            let _ = tokio::time::timeout_at(deadline, shared.finished.notified()).await;
        }
        let left = shared.total_running();
        if left > 0 {
            tracing::warn!(
                left,
                "jobs: shutdown timeout; unfinished jobs will rerun after restart"
            );
            shared.abort_all();
        }
    }
}

use crate::core::Timestamp;

/// Renews the leases of the jobs running here, and returns to the queue jobs whose lease ended
/// (their node died); a job this node lost meanwhile is stopped here, its result would be
/// refused.
async fn renew_and_sweep(shared: &Shared) {
    let running: Vec<JobId> = shared
        .tasks()
        .iter()
        .filter(|(_, h)| !h.is_finished())
        .map(|(id, _)| *id)
        .collect();
    let (node, lease) = (shared.config.node.clone(), shared.config.lease);
    let swept = shared
        .store
        .write(move |tx| {
            let lease = queue::Lease {
                node,
                until: tx.now().plus(lease),
            };
            let lost = queue::renew(tx, &lease, &running)?;
            let expired = queue::expire_leases(tx, EXPIRE_BATCH)?;
            Ok::<_, StorageError>((lost, expired))
        })
        .await;
    match swept {
        Ok((lost, expired)) => {
            if expired > 0 {
                tracing::warn!(
                    expired,
                    "jobs: leases ended (a node stopped renewing them); the jobs run again"
                );
            }
            let mut tasks = shared.tasks();
            for id in lost {
                if let Some(h) = tasks.remove(&id) {
                    tracing::warn!(job = %id, "jobs: this node lost the job's lease; stopping its run here");
                    h.abort();
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "jobs: renewing leases failed"),
    }
}

struct Shared {
    store: Store,
    config: RunnerConfig,
    observer: Option<Arc<dyn JobObserver>>,
    running: Mutex<HashMap<String, usize>>,
    tasks: Mutex<HashMap<JobId, tokio::task::AbortHandle>>,
    finished: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        crate::core::sync::lock(&self.running)
    }
    fn started(&self, kind: &str) {
        *self.lock().entry(kind.to_owned()).or_insert(0) += 1;
    }
    fn ended(&self, kind: &str) {
        if let Some(n) = self.lock().get_mut(kind) {
            *n = n.saturating_sub(1);
        }
        self.finished.notify_one();
    }
    fn tasks(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, tokio::task::AbortHandle>> {
        crate::core::sync::lock(&self.tasks)
    }
    fn track(&self, id: JobId, h: tokio::task::AbortHandle) {
        let mut t = self.tasks();
        t.retain(|_, h| !h.is_finished());
        t.insert(id, h);
    }
    /// Stops jobs that outlived the shutdown timeout; they stay in flight and rerun at start.
    fn abort_all(&self) {
        for (_, h) in self.tasks().drain() {
            h.abort();
        }
    }
    fn total_running(&self) -> usize {
        self.lock().values().sum()
    }
    fn running_snapshot(&self) -> HashMap<String, usize> {
        self.lock().clone()
    }
}

async fn execute(shared: Arc<Shared>, handler: Arc<dyn JobHandler>, job: JobRecord) {
    let started = std::time::Instant::now();
    let ctx = JobContext {
        id: job.id,
        kind: job.kind.clone(),
        attempt: job.attempts,
        dedupe_key: job.dedupe_key.clone(),
        payload: job.payload.clone(),
    };
    let span = tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempts);
    // Frees the concurrency slot however this task ends (even if aborted or panicking).
    let _slot = SlotGuard {
        shared: shared.clone(),
        kind: job.kind.clone(),
    };
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handler.handle(ctx)
    })) {
        Err(_) => Err(JobError::retry("handler panicked")),
        Ok(fut) => {
            let guarded = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut));
            match tracing::Instrument::instrument(guarded, span.clone()).await {
                Ok(r) => r,
                Err(_) => Err(JobError::retry("handler panicked")),
            }
        }
    };
    let (id, attempt) = (job.id, job.attempts);
    let outcome: &'static str = match result {
        Ok(out) => {
            let acked = shared
                .store
                .write(move |tx| {
                    if !queue::complete(tx, id, attempt)? {
                        return Ok(false);
                    }
                    if let JobOutcome::DoneWith(c) = out {
                        c(tx)?;
                    }
                    Ok::<_, StorageError>(true)
                })
                .await;
            match acked {
                Ok(_) => "succeeded",
                Err(e) => {
                    // The ack (and its effect) rolled back; record a retry separately.
                    let msg = format!("completion failed: {e}");
                    record_failure(&shared, &job, &msg, false).await
                }
            }
        }
        Err(e) => {
            let _g = span.enter();
            tracing::warn!(error = %e.message, permanent = e.permanent, "job failed");
            drop(_g);
            record_failure(&shared, &job, &e.message, e.permanent).await
        }
    };
    if let Some(o) = &shared.observer {
        o.outcome(&job.kind, outcome, started.elapsed());
    }
}

struct SlotGuard {
    shared: Arc<Shared>,
    kind: String,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.shared.ended(&self.kind);
    }
}

async fn record_failure(
    shared: &Shared,
    job: &JobRecord,
    msg: &str,
    permanent: bool,
) -> &'static str {
    let delay = backoff(
        job.attempts,
        shared.config.backoff_base,
        shared.config.backoff_max,
    );
    let (id, attempt, msg) = (job.id, job.attempts, msg.to_owned());
    match shared
        .store
        .write(move |tx| queue::fail(tx, id, attempt, &msg, permanent, delay))
        .await
    {
        Ok(Some(JobState::Dead)) => {
            tracing::error!(id = %job.id, kind = %job.kind, "job moved to dead letters");
            "dead"
        }
        Ok(_) => "retried",
        Err(e) => {
            tracing::warn!(error = %e, "jobs: could not record failure; job recovers at restart");
            "retried"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for attempt in 1..20 {
            let d = backoff(attempt, base, max);
            let full = base.saturating_mul(1 << (attempt - 1).min(30)).min(max);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }
}
