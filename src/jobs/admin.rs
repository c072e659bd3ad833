//! Staff views of the queue: jobs in one state (or every state), optionally of one kind, a page
//! at a time from the `(state, kind, id)` index, and the age of the oldest due job.

use super::queue::{BY_STATE, JOBS, READY};
use super::{JobRecord, JobState};
use crate::core::{JobId, Timestamp};
use crate::storage::{Order, Reader, StorageError};

/// States in the order the unfiltered list walks them: what needs a look first.
const LIST_ORDER: [JobState; 4] = [
    JobState::Dead,
    JobState::Ready,
    JobState::InFlight,
    JobState::Done,
];

/// Where a page of the job list ends: the state, kind and id of its last job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCursor {
    /// State of the last job shown.
    pub state: JobState,
    /// Its kind.
    pub kind: String,
    /// Its id.
    pub id: JobId,
}

impl JobCursor {
    /// `state~kind~id` (kinds are code constants without `~`).
    pub fn encode(&self) -> String {
        format!("{}~{}~{}", self.state.as_str(), self.kind, self.id)
    }

    /// Reads what [`JobCursor::encode`] wrote.
    pub fn decode(s: &str) -> Option<JobCursor> {
        let (state, rest) = s.split_once('~')?;
        let (kind, id) = rest.rsplit_once('~')?;
        Some(JobCursor {
            state: JobState::parse(state)?,
            kind: kind.to_owned(),
            id: JobId::parse(id).ok()?,
        })
    }
}

/// Whether `cursor` was handed out by a list with these filters.
pub fn cursor_fits(cursor: &JobCursor, state: Option<JobState>, kind: Option<&str>) -> bool {
    state.is_none_or(|s| s == cursor.state) && kind.is_none_or(|k| k == cursor.kind)
}

/// Up to `limit` jobs in `state` (every state when `None`, dead first) of `kind` (any when
/// `None`) after `cursor` (which must fit the filters, see [`cursor_fits`]), and whether more
/// follow. Bounded: reads at most `limit + 1` index rows per state.
pub fn list(
    r: &impl Reader,
    state: Option<JobState>,
    kind: Option<&str>,
    cursor: Option<&JobCursor>,
    limit: usize,
) -> Result<(Vec<JobRecord>, bool), StorageError> {
    let states: Vec<JobState> = match state {
        Some(s) => vec![s],
        None => LIST_ORDER.to_vec(),
    };
    let start = cursor
        .and_then(|c| states.iter().position(|s| *s == c.state))
        .unwrap_or(0);
    let mut out = Vec::new();
    for s in &states[start..] {
        let want = limit + 1 - out.len();
        let name = s.as_str().to_owned();
        let after = cursor
            .filter(|c| c.state == *s)
            .map(|c| (name.clone(), c.kind.clone(), c.id));
        let rows = match kind {
            Some(k) => r.prefix(
                &BY_STATE,
                &(name, k.to_owned()),
                after.as_ref(),
                Order::Asc,
                want,
            )?,
            None => r.prefix(&BY_STATE, &name, after.as_ref(), Order::Asc, want)?,
        };
        for ((_, _, id), ()) in rows {
            if let Some(job) = r.get(&JOBS, &id)? {
                out.push(job);
            }
        }
        if out.len() > limit {
            break;
        }
    }
    let more = out.len() > limit;
    out.truncate(limit);
    Ok((out, more))
}

/// How long the oldest due job has waited (zero when none is due): a queue falling behind.
pub fn oldest_ready_age_ms(r: &impl Reader, now: Timestamp) -> Result<u64, StorageError> {
    let first = r.range(
        &READY,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        Order::Asc,
        1,
    )?;
    Ok(first.first().map_or(0, |((run_at, _), ())| {
        u64::try_from(now.since(*run_at).as_millis()).unwrap_or(u64::MAX)
    }))
}
