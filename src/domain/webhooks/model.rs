//! Webhook endpoints and deliveries: records, tables, views.

use serde::{Deserialize, Serialize};

use crate::core::{EventId, Timestamp, WebhookDeliveryId, WebhookEndpointId};
use crate::storage::{Table, Value};

/// Endpoints by id.
pub(super) const ENDPOINTS: Table<WebhookEndpointId, Endpoint> = Table::new("webhook_endpoints");
/// Deliveries by id (ids sort by creation time).
pub(super) const DELIVERIES: Table<WebhookDeliveryId, Delivery> = Table::new("webhook_deliveries");
/// (endpoint, delivery): an endpoint's delivery log.
pub(super) const BY_ENDPOINT: Table<(WebhookEndpointId, WebhookDeliveryId), ()> =
    Table::new("webhook_deliveries_by_endpoint");

/// Most endpoints one shop may register (every event is fanned out to each).
pub const MAX_ENDPOINTS: usize = 100;

/// A signing secret, with the end of its overlap once a successor replaced it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    /// `whsec_…`.
    pub secret: String,
    /// Created.
    pub created_at: Timestamp,
    /// Still signs until then (after a rotation); `None`: the current secret.
    pub expires_at: Option<Timestamp>,
}

/// A merchant's endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Id.
    pub id: WebhookEndpointId,
    /// Where deliveries go.
    pub url: String,
    /// Staff's label.
    pub description: String,
    /// Event types it wants (`*`: all).
    pub events: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Secrets signing deliveries: the current one last.
    pub secrets: Vec<SigningSecret>,
    /// Since when every delivery has failed (cleared by a success).
    pub failing_since: Option<Timestamp>,
    /// Why shopd disabled it.
    pub disabled_reason: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Version.
    pub version: u64,
}
impl Value for Endpoint {}

impl Endpoint {
    /// Whether it wants events of `type_`.
    pub fn wants(&self, type_: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == type_)
    }

    /// The secrets that sign at `now`.
    pub fn signing(&self, now: Timestamp) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|t| t > now))
            .map(|s| s.secret.as_str())
            .collect()
    }
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up (3 days of failures, or the endpoint is gone or disabled).
    Dead,
}

/// One attempt of a delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    /// 1, 2, …
    pub number: u32,
    /// When.
    #[schema(value_type = String)]
    pub at: Timestamp,
    /// The endpoint's HTTP status (none when it did not answer).
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// The first 1 KiB of the answer.
    pub response: String,
    /// Why there was no answer (connection, timeout, refused address).
    pub error: Option<String>,
}

/// One event sent to one endpoint, with every attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct Delivery {
    /// `whd_…`.
    #[schema(value_type = String)]
    pub id: WebhookDeliveryId,
    /// `whe_…`.
    #[schema(value_type = String)]
    pub endpoint_id: WebhookEndpointId,
    /// `evt_…`: also the `webhook-id` header, the same on every attempt and replay.
    #[schema(value_type = String)]
    pub event_id: EventId,
    /// The event's type.
    pub event_type: String,
    /// State.
    pub state: DeliveryState,
    /// Attempts, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due (pending only).
    #[schema(value_type = Option<String>)]
    pub next_attempt_at: Option<Timestamp>,
    /// Whether staff asked for it (a replay).
    pub replay: bool,
    /// Created.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}
impl Value for Delivery {}

/// An endpoint as staff see it; `secret` only in the answer that created or rotated it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    /// `whe_…`.
    #[schema(value_type = String)]
    pub id: WebhookEndpointId,
    /// URL.
    pub url: String,
    /// Label.
    pub description: String,
    /// Event types (`*`: all).
    pub events: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Since when deliveries fail.
    #[schema(value_type = Option<String>)]
    pub failing_since: Option<Timestamp>,
    /// Why shopd disabled it.
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_…`), shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when the previous secret still signs, after a rotation.
    #[schema(value_type = Option<String>)]
    pub previous_secret_expires_at: Option<Timestamp>,
    /// Created.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
    /// Version.
    pub version: u64,
}

impl EndpointView {
    /// The view of `e` (no secret).
    pub fn of(e: &Endpoint) -> EndpointView {
        EndpointView {
            id: e.id,
            url: e.url.clone(),
            description: e.description.clone(),
            events: e.events.clone(),
            enabled: e.enabled,
            failing_since: e.failing_since,
            disabled_reason: e.disabled_reason.clone(),
            secret: None,
            previous_secret_expires_at: e.secrets.iter().filter_map(|s| s.expires_at).max(),
            created_at: e.created_at,
            updated_at: e.updated_at,
            version: e.version,
        }
    }

    /// The view with the current secret (creation and rotation only).
    pub fn with_secret(e: &Endpoint) -> EndpointView {
        EndpointView {
            secret: e.secrets.last().map(|s| s.secret.clone()),
            ..EndpointView::of(e)
        }
    }
}
