//! Durable job queue stored in the same redb file as the business data: a job is enqueued in
//! the write transaction that caused it, so a committed change always has its side effects
//! queued and a rolled-back one never does. Knows no domain; handlers are registered by kind.

pub mod admin;
pub mod queue;
pub mod runner;
pub mod work;

pub use queue::{
    Enqueued, JobRecord, JobState, NewJob, complete, discard, enqueue, fail, get, is_recurring,
    migrate_by_state, migrate_ready_by_kind, queue_depth, recover, retry_dead, schedule_recurring,
};
pub use runner::{
    Completion, JobContext, JobError, JobHandler, JobObserver, JobOutcome, Runner, RunnerConfig,
    RunningJobs, backoff, handler_fn,
};
pub use work::{Work, WorkError};
