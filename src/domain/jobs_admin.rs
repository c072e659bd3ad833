//! Job administration for staff: the queue's jobs by state and kind a page at a time, one job
//! whole (payload, attempts, last error), retrying a dead job and discarding a waiting or dead
//! one. The queue (`crate::jobs`) knows no domain; this is the service the admin API calls.

use serde::Serialize;

use crate::core::errors::{self as codes, Code, ErrorCode};
use crate::core::{JobId, Page, Timestamp};
use crate::jobs::admin::JobCursor;
use crate::jobs::{self, JobRecord, JobState};
use crate::storage::{StorageError, Store};

/// A job as staff see it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// `job_…`.
    #[schema(value_type = String)]
    pub id: JobId,
    /// Handler kind, e.g. `mail.send`.
    pub kind: String,
    /// `ready`, `in_flight`, `done` or `dead`.
    pub state: String,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed before the job is dead.
    pub max_attempts: u32,
    /// Earliest time of the next attempt.
    #[schema(value_type = String)]
    pub run_at: Timestamp,
    /// Enqueued.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last state change.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
    /// Key that makes a second enqueue a no-op.
    pub dedupe_key: Option<String>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// The handler's input, only on the single-job view, with every string under a key that
    /// names a secret (`link`, `token`, `secret`, `password`) shown as `<redacted>`: mails
    /// carry one-time sign-in and reset links.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
}

impl JobView {
    fn of(j: JobRecord, with_payload: bool) -> JobView {
        let payload = with_payload.then(|| {
            let mut v = serde_json::from_slice(&j.payload)
                .unwrap_or_else(|_| serde_json::Value::String("<not JSON>".into()));
            redact(&mut v, 0);
            v
        });
        JobView {
            id: j.id,
            kind: j.kind,
            state: j.state.as_str().to_owned(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            created_at: j.created_at,
            updated_at: j.updated_at,
            dedupe_key: j.dedupe_key,
            last_error: j.last_error,
            payload,
        }
    }
}

/// Keys whose values are never shown to staff.
const SECRET_KEYS: [&str; 4] = ["link", "token", "secret", "password"];

/// Blanks every value under a secret-naming key, to a bounded depth (deeper is blanked whole).
fn redact(v: &mut serde_json::Value, depth: usize) {
    use serde_json::Value;
    if depth > 16 {
        *v = Value::String("<redacted>".into());
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let k = k.to_ascii_lowercase();
                if SECRET_KEYS.iter().any(|s| k.contains(s)) {
                    *val = Value::String("<redacted>".into());
                } else {
                    redact(val, depth + 1);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| redact(x, depth + 1)),
        _ => {}
    }
}

/// Why a job action failed.
#[derive(Debug, thiserror::Error)]
pub enum JobAdminError {
    /// No such job (or it finished and was pruned).
    #[error("no such job")]
    NotFound,
    /// The job's state does not allow the action.
    #[error("the job is {0}; {1}")]
    WrongState(&'static str, &'static str),
    /// A cursor this list did not hand out.
    #[error("the cursor is not one of this list")]
    BadCursor,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ErrorCode for JobAdminError {
    fn code(&self) -> Code {
        match self {
            JobAdminError::NotFound => codes::NOT_FOUND,
            JobAdminError::WrongState(..) => codes::CONFLICT,
            JobAdminError::BadCursor => codes::MALFORMED_REQUEST,
            JobAdminError::Storage(s) => s.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            JobAdminError::Storage(s) => s.message(),
            other => other.to_string(),
        }
    }
}

/// The job administration service.
#[derive(Clone, Debug)]
pub struct JobsAdmin {
    store: Store,
}

impl JobsAdmin {
    /// Service over `store`.
    pub fn new(store: Store) -> Self {
        JobsAdmin { store }
    }

    /// A page of jobs in `state` (all states, dead first, when `None`) of `kind`.
    pub fn list(
        &self,
        state: Option<JobState>,
        kind: Option<&str>,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<JobView>, JobAdminError> {
        let cursor = match cursor {
            Some(c) => Some(
                JobCursor::decode(c)
                    .filter(|c| jobs::admin::cursor_fits(c, state, kind))
                    .ok_or(JobAdminError::BadCursor)?,
            ),
            None => None,
        };
        let r = self.store.read()?;
        let (jobs, more) = jobs::admin::list(&r, state, kind, cursor.as_ref(), per_page)?;
        let next_cursor = more
            .then(|| jobs.last())
            .flatten()
            .map(|j| JobCursor {
                state: j.state,
                kind: j.kind.clone(),
                id: j.id,
            })
            .map(|c| c.encode());
        Ok(Page {
            data: jobs.into_iter().map(|j| JobView::of(j, false)).collect(),
            next_cursor,
            has_more: more,
        })
    }

    /// How long the oldest due job has waited, in milliseconds (for the metrics).
    pub fn oldest_ready_age_ms(&self) -> Result<u64, JobAdminError> {
        let r = self.store.read()?;
        Ok(jobs::admin::oldest_ready_age_ms(&r, self.store.now())?)
    }

    /// One job with its payload.
    pub fn get(&self, id: JobId) -> Result<JobView, JobAdminError> {
        let r = self.store.read()?;
        let job = jobs::get(&r, id)?.ok_or(JobAdminError::NotFound)?;
        Ok(JobView::of(job, true))
    }

    /// Puts a dead job back in the queue with a fresh attempt budget.
    pub async fn retry(&self, id: JobId) -> Result<JobView, JobAdminError> {
        self.store
            .write(move |tx| {
                let job = jobs::get(tx, id)?.ok_or(JobAdminError::NotFound)?;
                if !jobs::retry_dead(tx, id)? {
                    return Err(JobAdminError::WrongState(
                        job.state.as_str(),
                        "only a dead job can be retried",
                    ));
                }
                let job = jobs::get(tx, id)?.ok_or(JobAdminError::NotFound)?;
                Ok(JobView::of(job, false))
            })
            .await
    }

    /// Removes a waiting or dead job for good.
    pub async fn discard(&self, id: JobId) -> Result<(), JobAdminError> {
        self.store
            .write(move |tx| {
                let job = jobs::get(tx, id)?.ok_or(JobAdminError::NotFound)?;
                if jobs::is_recurring(&job) {
                    return Err(JobAdminError::WrongState(
                        "a recurring run",
                        "it schedules the next run itself and cannot be discarded",
                    ));
                }
                match jobs::discard(tx, id)? {
                    Some(_) => Ok(()),
                    None => Err(JobAdminError::WrongState(
                        job.state.as_str(),
                        "only a ready or dead job can be discarded",
                    )),
                }
            })
            .await
    }
}
