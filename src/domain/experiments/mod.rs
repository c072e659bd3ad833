//! Experiments: staff define arms with weights, an audience, dates and metrics; subjects are
//! assigned deterministically ([`assign`]); the statistics that judge them are [`stats`].

pub mod assign;
pub mod exposures;
mod model;
pub mod results;
pub mod stats;

use std::collections::HashSet;
use std::ops::Bound;

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use crate::core::{ExperimentId, Timestamp};
use crate::storage::{Order, Reader, StorageError, Store};

pub use assign::Subject;
use model::EXPERIMENTS;
pub use model::{
    Arm, Assignment, Audience, Experiment, ExperimentInput, ExperimentPatch, ExperimentView,
    Metrics, Status,
};

/// Key of the built-in experiment whose arms, named after recommendation strategies
/// (`popular`, `for_you`…), choose the strategy of requests that name none.
pub const RECOMMENDATION_EXPERIMENT: &str = "recommendation_strategy";
/// Key of the built-in experiment whose arms `pessimistic` and `optimistic` choose how a
/// checkout reserves stock.
pub const RESERVATION_EXPERIMENT: &str = "reservation_strategy";

/// Most experiments a shop keeps (every list and lookup stays short).
pub const MAX_EXPERIMENTS: usize = 200;

/// Metrics an experiment may name, besides `custom:<name>` (subjects who sent the event) and
/// `value:<name>` (the sum of the values they sent with it).
pub const METRICS: &[&str] = &[
    "add_to_cart",
    "checkout_started",
    "order_paid",
    "revenue",
    "orders",
];

/// Why an experiment operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// No such experiment.
    #[error("no such experiment")]
    NotFound,
    /// Invalid fields.
    #[error("invalid experiment")]
    Invalid(Vec<FieldIssue>),
    /// The key is taken, the shop has too many, or the change does not fit the status.
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` names an older version.
    #[error("the experiment changed since version {0}")]
    Stale(u64),
    /// Too many events are waiting to be written.
    #[error(transparent)]
    Busy(#[from] exposures::RecordError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ErrorCode for ExperimentError {
    fn code(&self) -> Code {
        match self {
            ExperimentError::NotFound => codes::NOT_FOUND,
            ExperimentError::Invalid(_) => codes::VALIDATION_FAILED,
            ExperimentError::Conflict(_) => codes::CONFLICT,
            ExperimentError::Stale(_) => codes::PRECONDITION_FAILED,
            ExperimentError::Busy(_) => codes::BUSY,
            ExperimentError::Storage(s) => s.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            ExperimentError::Invalid(i) => codes::joined(i),
            ExperimentError::Storage(s) => s.message(),
            other => other.to_string(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            ExperimentError::Invalid(i) => i.clone(),
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            ExperimentError::Storage(s) => s.retry_after(),
            ExperimentError::Busy(_) => Some(1),
            _ => None,
        }
    }
}

fn check_key(key: &str, issues: &mut Vec<FieldIssue>) {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        issues.push(FieldIssue::new(
            "key",
            "invalid",
            "must be 1 to 64 of a-z, 0-9, - and _",
        ));
    }
}

fn check_arms(arms: &[Arm], issues: &mut Vec<FieldIssue>) {
    if !(2..=10).contains(&arms.len()) {
        issues.push(FieldIssue::new(
            "variants",
            "invalid",
            "needs 2 to 10 variants",
        ));
    }
    let mut seen = HashSet::new();
    for (i, a) in arms.iter().enumerate() {
        let mut none = Vec::new();
        check_key(&a.key, &mut none);
        if !none.is_empty() {
            issues.push(FieldIssue::new(
                format!("variants[{i}].key"),
                "invalid",
                "must be 1 to 64 of a-z, 0-9, - and _",
            ));
        } else if !seen.insert(a.key.as_str()) {
            issues.push(FieldIssue::new(
                format!("variants[{i}].key"),
                "duplicate",
                "variant keys must be unique",
            ));
        }
        if !(1..=10_000).contains(&a.weight) {
            issues.push(FieldIssue::new(
                format!("variants[{i}].weight"),
                "out_of_range",
                "must be 1 to 10,000",
            ));
        }
    }
}

/// Whether `c` may name a custom event: 1–64 of a-z, A-Z, 0-9, `_` and `-`.
pub fn custom_name(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 64
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_metrics(m: &Metrics, issues: &mut Vec<FieldIssue>) {
    let known = |name: &str| {
        METRICS.contains(&name)
            || name
                .strip_prefix("custom:")
                .or_else(|| name.strip_prefix("value:"))
                .is_some_and(custom_name)
    };
    if !known(&m.primary) {
        issues.push(FieldIssue::new(
            "metrics.primary",
            "unknown_metric",
            format!(
                "must be one of {}, custom:<name> or value:<name>",
                METRICS.join(", ")
            ),
        ));
    }
    if m.guardrails.len() > 10 {
        issues.push(FieldIssue::new(
            "metrics.guardrails",
            "too_many",
            "at most 10",
        ));
    }
    for (i, g) in m.guardrails.iter().enumerate() {
        if !known(g) {
            issues.push(FieldIssue::new(
                format!("metrics.guardrails[{i}]"),
                "unknown_metric",
                format!(
                    "must be one of {}, custom:<name> or value:<name>",
                    METRICS.join(", ")
                ),
            ));
        }
    }
}

fn check_dates(starts: Option<Timestamp>, ends: Option<Timestamp>, issues: &mut Vec<FieldIssue>) {
    if let (Some(s), Some(e)) = (starts, ends)
        && e <= s
    {
        issues.push(FieldIssue::new(
            "ends_at",
            "invalid",
            "must be after starts_at",
        ));
    }
}

fn invalid_if(issues: Vec<FieldIssue>) -> Result<(), ExperimentError> {
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ExperimentError::Invalid(issues))
    }
}

/// Whether the status may move from `from` to `to`.
fn may_move(from: Status, to: Status) -> bool {
    use Status::{Draft, Paused, Running, Stopped};
    from == to
        || matches!(
            (from, to),
            (Draft, Running)
                | (Running, Paused)
                | (Paused, Running)
                | (Draft | Running | Paused, Stopped)
        )
}

/// The experiments service.
#[derive(Clone, Debug)]
pub struct Experiments {
    store: Store,
    recorder: exposures::Recorder,
}

impl Experiments {
    /// The service over `store`, the flusher that writes its queued events (the composition
    /// root runs it for the life of the process) and the switch for its last flush.
    pub fn new(
        store: Store,
    ) -> (
        Self,
        impl std::future::Future<Output = ()> + Send + 'static,
        exposures::FlushStop,
    ) {
        let (recorder, flusher, stop) = exposures::recorder(store.clone());
        (Experiments { store, recorder }, flusher, stop)
    }

    /// Queues an exposure of `subject` to experiment `key` at `at` (written within
    /// [`exposures::FLUSH_EVERY`]; only the first exposure counts, and only when the subject
    /// takes part).
    pub fn expose(
        &self,
        key: &str,
        subject: Subject,
        at: Timestamp,
    ) -> Result<(), ExperimentError> {
        self.load(key)?;
        self.recorder.record(exposures::Recorded {
            subject,
            event: exposures::Event::Exposure {
                key: key.to_owned(),
            },
            at,
        })?;
        Ok(())
    }

    /// Queues a conversion of `subject` on `metric` (counted in every experiment the subject
    /// was exposed to before `at`).
    pub fn convert(
        &self,
        subject: Subject,
        metric: &str,
        value: i64,
        at: Timestamp,
    ) -> Result<(), ExperimentError> {
        self.recorder.record(exposures::Recorded {
            subject,
            event: exposures::Event::Conversion {
                metric: metric.to_owned(),
                value,
                binary: results::is_binary(metric),
            },
            at,
        })?;
        Ok(())
    }

    /// The module's background work: counting paid orders for the arms their customers saw.
    pub fn work(&self) -> crate::jobs::Work {
        let s = self.clone();
        crate::jobs::Work::new().handler(
            crate::domain::orders::PAID_FOR_EXPERIMENTS_JOB,
            // Each waits for the events queued before it (one flush, shared), not for each
            // other.
            16,
            crate::jobs::handler_fn(move |ctx| s.clone().on_order_paid(ctx)),
        )
    }

    /// Job handler of [`crate::domain::orders::PAID_FOR_EXPERIMENTS_JOB`]: the order counts,
    /// at the time it was paid, in the ack's transaction (once).
    pub async fn on_order_paid(
        self,
        ctx: crate::jobs::JobContext,
    ) -> Result<crate::jobs::JobOutcome, crate::jobs::JobError> {
        let job: crate::domain::orders::ExpireJob = ctx.payload()?;
        // Exposures recorded before the payment are written first, or the order would find
        // its buyer not yet exposed.
        self.recorder.settled(2 * exposures::FLUSH_EVERY).await;
        let r = self
            .store
            .read()
            .map_err(|e| crate::jobs::JobError::retry(e.to_string()))?;
        let order = crate::domain::orders::find(&r, job.order_id)
            .map_err(|e| crate::jobs::JobError::retry(e.to_string()))?;
        let Some(order) = order else {
            return Ok(crate::jobs::JobOutcome::Done);
        };
        // A customer by account, a guest by the visitor id the checkout carried.
        let subject = match order.customer_id {
            Some(c) => Subject::Customer(c),
            None => match crate::domain::orders::visitor_of(&r, order.id)
                .map_err(|e| crate::jobs::JobError::retry(e.to_string()))?
            {
                Some(v) => Subject::Visitor(v),
                None => return Ok(crate::jobs::JobOutcome::Done),
            },
        };
        let paid_at = order
            .invoice
            .as_ref()
            .map_or(order.updated_at, |i| i.issued_at);
        let revenue = order.totals.total.amount;
        Ok(crate::jobs::JobOutcome::DoneWith(Box::new(move |tx| {
            exposures::count_paid_order(tx, &subject, revenue, paid_at)
        })))
    }

    /// The results of experiment `key` by `method`, with CUPED when `cuped` and the metric
    /// has pre-period values.
    pub fn results(
        &self,
        key: &str,
        method: results::Method,
        cuped: bool,
    ) -> Result<results::Results, ExperimentError> {
        let r = self.store.read()?;
        let x = r
            .get(&EXPERIMENTS, &key.to_owned())?
            .ok_or(ExperimentError::NotFound)?;
        Ok(results::results(&r, &x, method, cuped)?)
    }

    /// Defines an experiment (draft unless `status` is `running`).
    pub async fn create(&self, input: ExperimentInput) -> Result<ExperimentView, ExperimentError> {
        let arms = input.variants.clone().unwrap_or_else(|| {
            ["control", "treatment"]
                .iter()
                .map(|k| Arm {
                    key: (*k).into(),
                    weight: 1,
                })
                .collect()
        });
        let metrics = input.metrics.clone().unwrap_or_default();
        let status = input.status.unwrap_or(Status::Draft);
        let mut issues = Vec::new();
        check_key(&input.key, &mut issues);
        check_arms(&arms, &mut issues);
        check_metrics(&metrics, &mut issues);
        check_dates(input.starts_at, input.ends_at, &mut issues);
        if input.description.chars().count() > 2_000 {
            issues.push(FieldIssue::new(
                "description",
                "invalid",
                "at most 2,000 characters",
            ));
        }
        if !matches!(status, Status::Draft | Status::Running) {
            issues.push(FieldIssue::new(
                "status",
                "invalid",
                "a new experiment is draft or running",
            ));
        }
        invalid_if(issues)?;
        self.store
            .write(move |tx| {
                if tx.contains(&EXPERIMENTS, &input.key)? {
                    return Err(ExperimentError::Conflict(format!(
                        "an experiment with key `{}` exists",
                        input.key
                    )));
                }
                let n = tx
                    .range(
                        &EXPERIMENTS,
                        Bound::Unbounded,
                        Bound::Unbounded,
                        Order::Asc,
                        MAX_EXPERIMENTS,
                    )?
                    .len();
                if n >= MAX_EXPERIMENTS {
                    return Err(ExperimentError::Conflict(format!(
                        "a shop keeps at most {MAX_EXPERIMENTS} experiments"
                    )));
                }
                let now = tx.now();
                let id = ExperimentId::new(now);
                let e = Experiment {
                    id,
                    salt: id.to_string(),
                    key: input.key,
                    description: input.description,
                    arms,
                    status,
                    audience: input.audience,
                    starts_at: input.starts_at,
                    ends_at: input.ends_at,
                    metrics,
                    started_at: (status == Status::Running).then_some(now),
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                tx.insert(&EXPERIMENTS, &e.key, &e)?;
                Ok(ExperimentView::from(&e))
            })
            .await
    }

    /// Changes an experiment: its status along draft → running ⇄ paused → stopped, and its
    /// other fields; arms and audience only while it is a draft.
    pub async fn update(
        &self,
        key: &str,
        patch: ExperimentPatch,
        if_match: Option<u64>,
    ) -> Result<ExperimentView, ExperimentError> {
        let key = key.to_owned();
        self.store
            .write(move |tx| {
                let mut e = tx
                    .get(&EXPERIMENTS, &key)?
                    .ok_or(ExperimentError::NotFound)?;
                if let Some(v) = if_match
                    && v != e.version
                {
                    return Err(ExperimentError::Stale(v));
                }
                apply(&mut e, patch, tx.now())?;
                tx.insert(&EXPERIMENTS, &key, &e)?;
                Ok(ExperimentView::from(&e))
            })
            .await
    }

    /// One experiment.
    pub fn get(&self, key: &str) -> Result<ExperimentView, ExperimentError> {
        Ok(ExperimentView::from(&self.load(key)?))
    }

    fn load(&self, key: &str) -> Result<Experiment, ExperimentError> {
        self.store
            .read()?
            .get(&EXPERIMENTS, &key.to_owned())?
            .ok_or(ExperimentError::NotFound)
    }

    /// Whether experiment `key` exists and is running (a built-in experiment's switch: one
    /// read, no error when there is none).
    pub fn running(&self, key: &str) -> Option<ExperimentView> {
        self.load(key)
            .ok()
            .filter(|e| e.status == Status::Running)
            .map(|e| ExperimentView::from(&e))
    }

    /// Every experiment (at most [`MAX_EXPERIMENTS`]), by key.
    pub fn list(&self) -> Result<Vec<ExperimentView>, ExperimentError> {
        let r = self.store.read()?;
        let rows = r.range(
            &EXPERIMENTS,
            Bound::Unbounded,
            Bound::Unbounded,
            Order::Asc,
            MAX_EXPERIMENTS,
        )?;
        Ok(rows.iter().map(|(_, e)| ExperimentView::from(e)).collect())
    }

    /// The arm `subject` sees in experiment `key` at `now` (none when it does not take part).
    pub fn assignment(
        &self,
        key: &str,
        subject: &Subject,
        now: Timestamp,
    ) -> Result<Assignment, ExperimentError> {
        let r = self.store.read()?;
        let e = r
            .get(&EXPERIMENTS, &key.to_owned())?
            .ok_or(ExperimentError::NotFound)?;
        // A subject already exposed keeps its arm (a visitor's carries over at sign-in).
        let stored = match assign::live(&e, now) {
            true => exposures::exposed_arm(&r, &e, subject)?,
            false => None,
        };
        let variant = match stored {
            Some(i) => e.arms.get(usize::from(i)),
            None => assign::assign(&e, subject, now),
        };
        Ok(Assignment {
            experiment: e.key.clone(),
            variant: variant.map(|a| a.key.clone()),
            subject: subject.key(),
        })
    }

    /// The visitor signed in as `customer`: its exposures and history become the customer's
    /// (batched like every event), so the customer keeps the visitor's arms.
    pub fn join(
        &self,
        visitor: &str,
        customer: crate::core::CustomerId,
        at: Timestamp,
    ) -> Result<(), ExperimentError> {
        self.recorder.record(exposures::Recorded {
            subject: Subject::Visitor(visitor.to_owned()),
            event: exposures::Event::Join { customer },
            at,
        })?;
        Ok(())
    }
}

/// Applies `patch` to `e` at `now`, or says why it does not fit.
fn apply(
    e: &mut Experiment,
    patch: ExperimentPatch,
    now: Timestamp,
) -> Result<(), ExperimentError> {
    let mut issues = Vec::new();
    let draft = e.status == Status::Draft;
    if !draft && (patch.variants.is_some() || patch.audience.is_some()) {
        return Err(ExperimentError::Conflict(
            "variants and audience change only while the experiment is a draft: assigned subjects would move".into(),
        ));
    }
    if e.status == Status::Stopped && patch != ExperimentPatch::default() {
        return Err(ExperimentError::Conflict(
            "a stopped experiment does not change".into(),
        ));
    }
    if let Some(arms) = &patch.variants {
        check_arms(arms, &mut issues);
    }
    if let Some(m) = &patch.metrics {
        check_metrics(m, &mut issues);
    }
    let starts = patch.starts_at.or(e.starts_at);
    let ends = patch.ends_at.or(e.ends_at);
    check_dates(starts, ends, &mut issues);
    if let Some(d) = &patch.description
        && d.chars().count() > 2_000
    {
        issues.push(FieldIssue::new(
            "description",
            "invalid",
            "at most 2,000 characters",
        ));
    }
    invalid_if(issues)?;
    if let Some(to) = patch.status {
        if !may_move(e.status, to) {
            return Err(ExperimentError::Conflict(
                format!("a {:?} experiment cannot become {:?}", e.status, to).to_lowercase(),
            ));
        }
        if to == Status::Running && e.started_at.is_none() {
            e.started_at = Some(now);
        }
        e.status = to;
    }
    if let Some(arms) = patch.variants {
        e.arms = arms;
    }
    if let Some(a) = patch.audience {
        e.audience = a;
    }
    if let Some(d) = patch.description {
        e.description = d;
    }
    if let Some(m) = patch.metrics {
        e.metrics = m;
    }
    e.starts_at = starts;
    e.ends_at = ends;
    e.updated_at = now;
    e.version += 1;
    Ok(())
}
