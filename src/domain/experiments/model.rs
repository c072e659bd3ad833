//! Stored experiments and how they are sent and shown.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::core::{ExperimentId, Timestamp};
use crate::storage::{Table, Value};

/// Where an experiment is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being set up: nobody is assigned, every field may change.
    Draft,
    /// Assigning subjects and recording exposures.
    Running,
    /// Nobody new is exposed; may run again.
    Paused,
    /// Over for good; its results stay.
    Stopped,
}

/// Who takes part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every visitor and customer.
    #[default]
    Everyone,
    /// Visitors who are not signed in.
    Anonymous,
    /// Signed-in customers.
    SignedIn,
}

/// One arm of an experiment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    /// Key (`control`, `treatment`, …): what the assignment answers.
    pub key: String,
    /// Relative share of subjects (1–10,000; shares are weights over their sum).
    pub weight: u32,
}

/// What an experiment measures: the primary metric decides, guardrails warn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// `add_to_cart`, `checkout_started`, `order_paid`, `revenue`, `orders`, `custom:<name>`
    /// (subjects who sent the event) or `value:<name>` (the sum of its values per subject).
    #[serde(default = "default_primary")]
    pub primary: String,
    /// More metrics watched for harm (at most 10).
    #[serde(default)]
    pub guardrails: Vec<String>,
}

fn default_primary() -> String {
    "order_paid".into()
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            primary: default_primary(),
            guardrails: Vec::new(),
        }
    }
}

/// A stored experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Id (`exp_…`).
    pub id: ExperimentId,
    /// Key used in URLs and by clients (unique).
    pub key: String,
    /// What is tried and why.
    pub description: String,
    /// Arms, the first one the control.
    pub arms: Vec<Arm>,
    /// Life stage.
    pub status: Status,
    /// Who takes part.
    pub audience: Audience,
    /// Assignments begin (with `running`) no earlier than this.
    pub starts_at: Option<Timestamp>,
    /// Nobody is assigned after this.
    pub ends_at: Option<Timestamp>,
    /// Primary and guardrail metrics.
    pub metrics: Metrics,
    /// Mixed into every subject's hash, so two experiments split the same subjects
    /// independently; fixed at creation.
    pub salt: String,
    /// When it first started running.
    pub started_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Bumped by every change (`If-Match`).
    pub version: u64,
}
impl Value for Experiment {}

/// Experiments by key.
pub(super) const EXPERIMENTS: Table<String, Experiment> = Table::new("experiments");

/// The body of `POST /api/v1/admin/experiments`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentInput {
    /// Key: 1–64 of `a-z`, `0-9`, `-`, `_`.
    pub key: String,
    /// What is tried and why.
    #[serde(default)]
    pub description: String,
    /// 2–10 arms, the first the control (default: `control` and `treatment` at 50/50).
    #[serde(default)]
    pub variants: Option<Vec<Arm>>,
    /// Who takes part (default `everyone`).
    #[serde(default)]
    pub audience: Audience,
    /// `draft` (default) or `running`.
    #[serde(default)]
    pub status: Option<Status>,
    /// Start no earlier than this.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Timestamp>,
    /// Assign nobody after this.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Timestamp>,
    /// Metrics (default primary `order_paid`).
    #[serde(default)]
    pub metrics: Option<Metrics>,
}

/// The body of `PATCH /api/v1/admin/experiments/{key}`: what changes. Arms change only in
/// draft: once subjects are assigned, new weights would move them between arms.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentPatch {
    /// New life stage (`running` starts, `paused` pauses, `stopped` ends for good).
    #[serde(default)]
    pub status: Option<Status>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New arms (draft only).
    #[serde(default)]
    pub variants: Option<Vec<Arm>>,
    /// New audience (draft only).
    #[serde(default)]
    pub audience: Option<Audience>,
    /// New start.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Timestamp>,
    /// New end.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Timestamp>,
    /// New metrics.
    #[serde(default)]
    pub metrics: Option<Metrics>,
}

/// An experiment as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExperimentView {
    /// Id.
    #[schema(value_type = String)]
    pub id: ExperimentId,
    /// Key.
    pub key: String,
    /// Description.
    pub description: String,
    /// Arms, the control first.
    pub variants: Vec<Arm>,
    /// Life stage.
    pub status: Status,
    /// Who takes part.
    pub audience: Audience,
    /// Start.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Timestamp>,
    /// End.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Timestamp>,
    /// Metrics.
    pub metrics: Metrics,
    /// When it first ran.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    /// Created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Version (`ETag`).
    pub version: u64,
}

impl From<&Experiment> for ExperimentView {
    fn from(e: &Experiment) -> Self {
        ExperimentView {
            id: e.id,
            key: e.key.clone(),
            description: e.description.clone(),
            variants: e.arms.clone(),
            status: e.status,
            audience: e.audience,
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            metrics: e.metrics.clone(),
            started_at: e.started_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
            version: e.version,
        }
    }
}

/// Which arm a subject sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Assignment {
    /// The experiment's key.
    pub experiment: String,
    /// The arm's key; `null` when the subject is not in the experiment (not running, outside
    /// its dates or its audience).
    pub variant: Option<String>,
    /// The subject as hashed (`v:<visitor id>` or `c:<customer id>`).
    pub subject: String,
}
