//! Operator and test diagnostics: a job kind whose effect is counted exactly once per key, and
//! plain durable notes. Used by the crash, fault and load tests until real domains exist.

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use serde::{Deserialize, Serialize};

use crate::core::page::Cursor;
use crate::core::{JobId, Page, Timestamp, page};
use crate::jobs::{self, Completion, Enqueued, JobContext, JobError, JobOutcome, JobState, NewJob};
use crate::storage::{Order, Reader, StorageError, Store, Table, Value};

/// Job kind of the diagnostic effect.
pub const EFFECT_JOB: &str = "diagnostics.effect";

/// How many times each key's job effect was applied (must end at exactly 1).
const EFFECTS: Table<String, u64> = Table::new("diag_effects");
/// Key → job id, for status lookups.
const JOBS_BY_KEY: Table<String, JobId> = Table::new("diag_jobs");
/// Plain durable notes.
const NOTES: Table<String, Note> = Table::new("diag_notes");

/// A stored note.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = DiagNote)]
pub struct Note {
    /// Caller's key.
    pub key: String,
    /// Free text.
    pub value: String,
    /// When it was written.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}
impl Value for Note {}

/// Why a diagnostics call failed.
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    /// Bad input.
    #[error("{0}")]
    Invalid(FieldIssue),
    /// Nothing under that key.
    #[error("not found")]
    NotFound,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ErrorCode for DiagError {
    fn code(&self) -> Code {
        match self {
            DiagError::Invalid(_) => codes::VALIDATION_FAILED,
            DiagError::NotFound => codes::NOT_FOUND,
            DiagError::Storage(s) => s.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            DiagError::Invalid(i) => i.to_string(),
            DiagError::NotFound => "no diagnostics record under that key".into(),
            DiagError::Storage(s) => s.message(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            DiagError::Invalid(i) => vec![i.clone()],
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            DiagError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
}

/// A validated diagnostics key: 1..=200 printable ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagKey(String);

impl DiagKey {
    /// Parses untrusted input.
    pub fn parse(s: &str) -> Result<Self, DiagError> {
        if s.is_empty() || s.len() > 200 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DiagError::Invalid(FieldIssue::new(
                "key",
                "invalid",
                "must be 1 to 200 printable ASCII characters without spaces",
            )));
        }
        Ok(DiagKey(s.to_owned()))
    }
    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Serialize, Deserialize)]
struct EffectPayload {
    key: String,
}

/// Status of a diagnostic job.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct JobStatus {
    /// Caller's key.
    pub key: String,
    /// Job id.
    #[schema(value_type = String)]
    pub job_id: JobId,
    /// Queue state.
    pub state: &'static str,
    /// Attempts so far.
    pub attempts: u32,
    /// Times the effect was applied.
    pub effect_count: u64,
}

/// Totals over all effects, for tests that check "every job ran exactly once".
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EffectSummary {
    /// Keys whose effect was applied at least once.
    pub keys: u64,
    /// Sum of applications.
    pub applied: u64,
    /// Keys applied more than once (must be 0).
    pub duplicated: u64,
    /// Jobs enqueued through diagnostics.
    pub jobs: u64,
}

/// Diagnostics operations over the store.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    store: Store,
}

impl Diagnostics {
    /// Service over `store`.
    pub fn new(store: Store) -> Self {
        Diagnostics { store }
    }

    /// Enqueues the effect job for `key` (idempotent per key). Returns the job id and whether
    /// it was newly created.
    pub async fn enqueue(&self, key: DiagKey) -> Result<(JobId, bool), DiagError> {
        self.store
            .write(move |tx| {
                let job = NewJob::new(EFFECT_JOB, &EffectPayload { key: key.0.clone() })?
                    .dedupe(key.0.clone())
                    .max_attempts(20);
                let res = jobs::enqueue(tx, job)?;
                if let Enqueued::Created(id) = res {
                    tx.insert(&JOBS_BY_KEY, &key.0, &id)?;
                }
                Ok::<_, DiagError>((res.id(), matches!(res, Enqueued::Created(_))))
            })
            .await
    }

    /// Job status and effect count for `key`.
    pub fn status(&self, key: &DiagKey) -> Result<JobStatus, DiagError> {
        let r = self.store.read()?;
        let id = r.get(&JOBS_BY_KEY, &key.0)?.ok_or(DiagError::NotFound)?;
        let job = jobs::get(&r, id)?.ok_or(DiagError::NotFound)?;
        Ok(JobStatus {
            key: key.0.clone(),
            job_id: id,
            state: job.state.as_str(),
            attempts: job.attempts,
            effect_count: r.get(&EFFECTS, &key.0)?.unwrap_or(0),
        })
    }

    /// Totals over every diagnostic job and effect.
    pub fn summary(&self) -> Result<EffectSummary, DiagError> {
        let r = self.store.read()?;
        let mut s = EffectSummary {
            keys: 0,
            applied: 0,
            duplicated: 0,
            jobs: 0,
        };
        let mut after: Option<String> = None;
        loop {
            let rows = r.prefix(&EFFECTS, &(), after.as_ref(), Order::Asc, 1000)?;
            let Some(last) = rows.last() else { break };
            after = Some(last.0.clone());
            for (_, n) in &rows {
                s.keys += 1;
                s.applied += n;
                if *n > 1 {
                    s.duplicated += 1;
                }
            }
        }
        let mut after: Option<String> = None;
        loop {
            let rows = r.prefix(&JOBS_BY_KEY, &(), after.as_ref(), Order::Asc, 1000)?;
            let Some(last) = rows.last() else { break };
            after = Some(last.0.clone());
            s.jobs += rows.len() as u64;
        }
        Ok(s)
    }

    /// Keys whose job is not done yet (for tests waiting on the queue).
    pub fn pending(&self) -> Result<u64, DiagError> {
        let r = self.store.read()?;
        let mut n = 0;
        let mut after: Option<String> = None;
        loop {
            let rows = r.prefix(&JOBS_BY_KEY, &(), after.as_ref(), Order::Asc, 1000)?;
            let Some(last) = rows.last() else { break };
            after = Some(last.0.clone());
            for (_, id) in rows {
                if jobs::get(&r, id)?.map(|j| j.state) != Some(JobState::Done) {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Stores a note (a plain acknowledged write).
    pub async fn put_note(&self, key: DiagKey, value: String) -> Result<Note, DiagError> {
        if value.len() > 10_000 {
            return Err(DiagError::Invalid(FieldIssue::new(
                "value",
                "invalid",
                "must be at most 10000 bytes",
            )));
        }
        self.store
            .write(move |tx| {
                let note = Note {
                    key: key.0.clone(),
                    value,
                    created_at: tx.now(),
                };
                tx.insert(&NOTES, &key.0, &note)?;
                Ok::<_, DiagError>(note)
            })
            .await
    }

    /// Lists notes in key order with cursor pagination.
    pub fn list_notes(
        &self,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Note>, DiagError> {
        let after: Option<String> = page::after(cursor)
            .map_err(|e| DiagError::Invalid(FieldIssue::new("cursor", "invalid", e.to_string())))?;
        let r = self.store.read()?;
        let rows = r.prefix(&NOTES, &(), after.as_ref(), Order::Asc, per_page + 1)?;
        let Page {
            data: rows,
            next_cursor,
            has_more,
        } = Page::from_overfetch(rows, per_page, |(k, _)| k.to_cursor());
        Ok(Page {
            data: rows.into_iter().map(|(_, n)| n).collect(),
            next_cursor,
            has_more,
        })
    }
}

/// The diagnostics module's background work: its test effect jobs, eight at a time.
pub fn work() -> jobs::Work {
    jobs::Work::new().handler(EFFECT_JOB, 8, jobs::handler_fn(run_effect_job))
}

/// Handler of [`EFFECT_JOB`]: the effect (a counter per key) is committed together with the
/// job's ack, so it is applied exactly once even across crashes.
pub async fn run_effect_job(ctx: JobContext) -> Result<JobOutcome, JobError> {
    let p: EffectPayload = ctx.payload()?;
    let completion: Completion = Box::new(move |tx| {
        let n = tx.get(&EFFECTS, &p.key)?.unwrap_or(0);
        tx.insert(&EFFECTS, &p.key, &(n + 1))
    });
    Ok(JobOutcome::DoneWith(completion))
}
