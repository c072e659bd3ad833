//! Outgoing webhooks for merchants, following the Standard Webhooks specification: endpoints
//! (URL, event types, secret shown once, rotation with an overlap), one delivery per (event,
//! endpoint) created by the fan-out job the event outbox queues in the causing write, each
//! delivery a job with its own schedule (exponential backoff with jitter for up to 3 days, then
//! dead), a delivery log per endpoint, replays that keep the event id as `webhook-id`, and the
//! SSRF guard at registration and at every delivery.

mod deliver;
pub mod model;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use crate::core::page::Cursor;
use crate::core::{EventId, Page, Timestamp, WebhookDeliveryId, WebhookEndpointId, page};
use crate::domain::events;
use crate::domain::idempotency::{self, Created, Keyed, Replayable};
use crate::jobs;
use crate::outbound::{self, Policy, Sender};
use crate::storage::{Order as ScanOrder, Reader, StorageError, Store, WriteTx};
use model::{BY_ENDPOINT, DELIVERIES, ENDPOINTS, MAX_ENDPOINTS};
pub use model::{Delivery, DeliveryAttempt, DeliveryState, Endpoint, EndpointView, SigningSecret};

/// Job kind of one delivery attempt (payload [`DeliverJob`]).
pub const DELIVER_JOB: &str = "webhook.deliver";
/// Job kind that replays an endpoint's failed deliveries since a time (payload [`ReplayJob`]).
pub const REPLAY_JOB: &str = "webhook.replay";

/// Payload of [`DELIVER_JOB`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeliverJob {
    /// The delivery.
    pub delivery_id: WebhookDeliveryId,
}

/// Payload of [`REPLAY_JOB`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplayJob {
    /// The endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// Deliveries created at or after this time.
    pub since: Timestamp,
}

/// Why a webhook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No such endpoint, delivery or event.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The SSRF guard refuses the URL.
    #[error("the URL is not allowed: {0}")]
    UrlNotAllowed(String),
    /// Invalid fields.
    #[error("invalid webhook endpoint")]
    Invalid(Vec<FieldIssue>),
    /// Too many endpoints.
    #[error("a shop has at most {MAX_ENDPOINTS} webhook endpoints")]
    TooMany,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The `Idempotency-Key` is malformed or was used with another body.
    #[error(transparent)]
    Key(#[from] idempotency::KeyError),
}

impl ErrorCode for WebhookError {
    fn code(&self) -> Code {
        match self {
            WebhookError::NotFound(_) => codes::NOT_FOUND,
            WebhookError::UrlNotAllowed(_) => codes::URL_NOT_ALLOWED,
            WebhookError::Invalid(_) => codes::VALIDATION_FAILED,
            WebhookError::TooMany => codes::CONFLICT,
            WebhookError::Storage(s) => s.code(),
            WebhookError::Key(k) => k.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            WebhookError::Invalid(i) => codes::joined(i),
            WebhookError::Storage(s) => s.message(),
            other => other.to_string(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            WebhookError::Invalid(i) => i.clone(),
            WebhookError::UrlNotAllowed(m) => {
                vec![FieldIssue::new("url", "url_not_allowed", m.clone())]
            }
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            WebhookError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
}

/// What staff send to create or change an endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// `https://…` (plain `http` and private addresses only with
    /// `webhooks.allow_private_targets`).
    pub url: Option<String>,
    /// Event types (`order.paid`, …; `*` for all).
    pub events: Option<Vec<String>>,
    /// Label.
    pub description: Option<String>,
    /// Whether deliveries are made (default true).
    pub enabled: Option<bool>,
}

/// Settings.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Which targets the guard allows.
    pub policy: Policy,
    /// Shop name and URL for the mail to admins when an endpoint is disabled.
    pub shop_name: String,
    /// Base URL of the shop.
    pub public_url: String,
}

/// The webhook service.
#[derive(Clone, Debug)]
pub struct Webhooks {
    store: Store,
    sender: Sender,
    settings: WebhookSettings,
}

fn invalid(field: &str, message: impl Into<String>) -> WebhookError {
    WebhookError::Invalid(vec![FieldIssue::new(field, "invalid", message.into())])
}

fn parse_endpoint(id: &str) -> Result<WebhookEndpointId, WebhookError> {
    WebhookEndpointId::parse(id).map_err(|_| WebhookError::NotFound("webhook endpoint"))
}

fn load(r: &impl Reader, id: WebhookEndpointId) -> Result<Endpoint, WebhookError> {
    r.get(&ENDPOINTS, &id)?
        .ok_or(WebhookError::NotFound("webhook endpoint"))
}

fn check_events(events: &[String]) -> Result<Vec<String>, WebhookError> {
    if events.is_empty() || events.len() > 50 {
        return Err(invalid("events", "list 1 to 50 event types, or `*`"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e != "*" && !events::is_type(e) {
            return Err(invalid(
                &format!("events[{i}]"),
                format!("`{e}` is not an event type"),
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// Keeps the outbox's subscription counts in step: `sign` 1 when `e` starts wanting its types,
/// -1 when it stops.
fn count(tx: &mut WriteTx<'_>, e: &Endpoint, sign: i64) -> Result<(), StorageError> {
    if !e.enabled {
        return Ok(());
    }
    e.events
        .iter()
        .try_for_each(|t| events::subscribe(tx, t, sign))
}

/// Stores `e` (changed from `before`) with its subscription counts.
fn store(
    tx: &mut WriteTx<'_>,
    before: Option<&Endpoint>,
    e: &mut Endpoint,
) -> Result<(), StorageError> {
    if let Some(b) = before {
        count(tx, b, -1)?;
        e.version = b.version + 1;
    }
    e.updated_at = tx.now();
    count(tx, e, 1)?;
    tx.insert(&ENDPOINTS, &e.id, e)
}

impl Webhooks {
    /// Wires the service.
    pub fn new(store: Store, settings: WebhookSettings) -> Result<Self, String> {
        Ok(Webhooks {
            sender: Sender::new(settings.policy)?,
            store,
            settings,
        })
    }

    async fn check_url(&self, url: &str) -> Result<String, WebhookError> {
        let policy = self.settings.policy;
        let parsed = outbound::guard::check_url(url.trim(), policy)
            .map_err(|e| WebhookError::UrlNotAllowed(e.to_string()))?;
        outbound::guard::check_resolved(&parsed, policy)
            .await
            .map_err(|e| WebhookError::UrlNotAllowed(e.to_string()))?;
        Ok(parsed.to_string())
    }

    /// Registers an endpoint; the answer carries its secret, shown only this once.
    ///
    /// With an idempotency `key` (scoped to `actor`), a repeat of the same request answers the
    /// endpoint created the first time, without its secret (`replayed`).
    pub async fn create(
        &self,
        input: EndpointInput,
        actor: &str,
        key: Option<&str>,
    ) -> Result<Replayable<EndpointView>, WebhookError> {
        let keyed = match key {
            Some(k) => Some(Keyed::new(
                format!("webhook_endpoint:{actor}"),
                Some(k),
                &input,
            )?),
            None => None,
        };
        let events = check_events(input.events.as_deref().unwrap_or_default())?;
        let url = input
            .url
            .as_deref()
            .ok_or_else(|| invalid("url", "is required"))?;
        let url = self.check_url(url).await?;
        let description = input.description.unwrap_or_default().trim().to_owned();
        if description.chars().count() > 200 {
            return Err(invalid("description", "at most 200 characters"));
        }
        let enabled = input.enabled.unwrap_or(true);
        self.store
            .write(move |tx| {
                if let Some(k) = &keyed
                    && let Some(Created(id)) =
                        k.stored::<Created<WebhookEndpointId>, WebhookError>(tx)?
                {
                    let e = tx
                        .get(&ENDPOINTS, &id)?
                        .ok_or(WebhookError::NotFound("endpoint"))?;
                    return Ok(Replayable {
                        outcome: EndpointView::of(&e),
                        replayed: true,
                    });
                }
                if tx
                    .prefix(&ENDPOINTS, &(), None, ScanOrder::Asc, MAX_ENDPOINTS)?
                    .len()
                    >= MAX_ENDPOINTS
                {
                    return Err(WebhookError::TooMany);
                }
                let now = tx.now();
                let mut e = Endpoint {
                    id: WebhookEndpointId::new(now),
                    url,
                    description,
                    events,
                    enabled,
                    secrets: vec![SigningSecret {
                        secret: outbound::signature::new_secret(),
                        created_at: now,
                        expires_at: None,
                    }],
                    failing_since: None,
                    disabled_reason: None,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                store(tx, None, &mut e)?;
                if let Some(k) = &keyed {
                    k.store(tx, &Created(e.id))?;
                }
                Ok(Replayable {
                    outcome: EndpointView::with_secret(&e),
                    replayed: false,
                })
            })
            .await
    }

    /// Every endpoint (at most [`MAX_ENDPOINTS`]), oldest first.
    pub fn list(&self) -> Result<Vec<EndpointView>, WebhookError> {
        let r = self.store.read()?;
        Ok(
            r.prefix(&ENDPOINTS, &(), None, ScanOrder::Asc, MAX_ENDPOINTS)?
                .iter()
                .map(|(_, e)| EndpointView::of(e))
                .collect(),
        )
    }

    /// One endpoint.
    pub fn get(&self, id: &str) -> Result<EndpointView, WebhookError> {
        Ok(EndpointView::of(&load(
            &self.store.read()?,
            parse_endpoint(id)?,
        )?))
    }

    /// Changes URL, event types, label or enabled; re-enabling clears shopd's reason.
    pub async fn update(
        &self,
        id: &str,
        input: EndpointInput,
    ) -> Result<EndpointView, WebhookError> {
        let id = parse_endpoint(id)?;
        let url = match &input.url {
            Some(u) => Some(self.check_url(u).await?),
            None => None,
        };
        let events = input.events.as_deref().map(check_events).transpose()?;
        self.store
            .write(move |tx| {
                let before = load(tx, id)?;
                let mut e = before.clone();
                if let Some(u) = url {
                    e.url = u;
                }
                if let Some(ev) = events {
                    e.events = ev;
                }
                if let Some(d) = input.description {
                    e.description = d.trim().chars().take(200).collect();
                }
                if let Some(on) = input.enabled {
                    if on && !e.enabled {
                        e.disabled_reason = None;
                        e.failing_since = None;
                    }
                    e.enabled = on;
                }
                store(tx, Some(&before), &mut e)?;
                Ok(EndpointView::of(&e))
            })
            .await
    }

    /// Removes an endpoint; its pending deliveries die at their next attempt.
    pub async fn delete(&self, id: &str) -> Result<(), WebhookError> {
        let id = parse_endpoint(id)?;
        self.store
            .write(move |tx| {
                let e = load(tx, id)?;
                count(tx, &e, -1)?;
                tx.remove(&ENDPOINTS, &id)?;
                Ok(())
            })
            .await
    }

    /// Replaces the secret; the previous one keeps signing (both signatures are sent) for
    /// `overlap`, so receivers can switch without losing a delivery.
    pub async fn rotate(&self, id: &str, overlap: Duration) -> Result<EndpointView, WebhookError> {
        let id = parse_endpoint(id)?;
        self.store
            .write(move |tx| {
                let before = load(tx, id)?;
                let mut e = before.clone();
                let now = tx.now();
                e.secrets.retain(|s| s.expires_at.is_none_or(|t| t > now));
                for s in &mut e.secrets {
                    if s.expires_at.is_none() {
                        s.expires_at = Some(now.plus(overlap));
                    }
                }
                e.secrets.push(SigningSecret {
                    secret: outbound::signature::new_secret(),
                    created_at: now,
                    expires_at: None,
                });
                store(tx, Some(&before), &mut e)?;
                Ok(EndpointView::with_secret(&e))
            })
            .await
    }

    /// An endpoint's deliveries, newest first.
    pub fn deliveries(
        &self,
        id: &str,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Delivery>, WebhookError> {
        let id = parse_endpoint(id)?;
        let after = page::after::<WebhookDeliveryId>(cursor)
            .map_err(|e| invalid("cursor", e.to_string()))?
            .map(|d| (id, d));
        let r = self.store.read()?;
        load(&r, id)?;
        let mut out = Vec::new();
        for ((_, d), ()) in r.prefix(
            &BY_ENDPOINT,
            &id,
            after.as_ref(),
            ScanOrder::Desc,
            per_page + 1,
        )? {
            if let Some(d) = r.get(&DELIVERIES, &d)? {
                out.push(d);
            }
        }
        Ok(Page::from_overfetch(out, per_page, |d| d.id.to_cursor()))
    }

    /// Delivers event `id` again to every enabled endpoint that wants its type, with the same
    /// `webhook-id`.
    pub async fn replay_event(&self, id: &str) -> Result<Vec<Delivery>, WebhookError> {
        let eid = EventId::parse(id).map_err(|_| WebhookError::NotFound("event"))?;
        self.store
            .write(move |tx| {
                let ev = events::get(tx, eid)?.ok_or(WebhookError::NotFound("event"))?;
                let endpoints = tx.prefix(&ENDPOINTS, &(), None, ScanOrder::Asc, MAX_ENDPOINTS)?;
                let mut out = Vec::new();
                for (_, e) in endpoints
                    .iter()
                    .filter(|(_, e)| e.enabled && e.wants(&ev.type_))
                {
                    out.push(deliver::create(tx, e.id, &ev, true)?);
                }
                Ok(out)
            })
            .await
    }

    /// Queues a replay of every delivery to endpoint `id` that died since `since`.
    pub async fn replay_failed(
        &self,
        id: &str,
        since: Timestamp,
    ) -> Result<crate::core::JobId, WebhookError> {
        let endpoint_id = parse_endpoint(id)?;
        self.store
            .write(move |tx| {
                load(tx, endpoint_id)?;
                let job = jobs::NewJob::new(REPLAY_JOB, &ReplayJob { endpoint_id, since })?;
                Ok(jobs::enqueue(tx, job)?.id())
            })
            .await
    }

    /// The module's background work: fan-out of events, deliveries (8 at a time), replays.
    pub fn work(&self) -> jobs::Work {
        let (a, b, c) = (self.clone(), self.clone(), self.clone());
        jobs::Work::new()
            .handler(
                events::FANOUT_JOB,
                2,
                jobs::handler_fn(move |ctx| a.clone().run_fanout(ctx)),
            )
            .handler(
                DELIVER_JOB,
                8,
                jobs::handler_fn(move |ctx| b.clone().run_deliver(ctx)),
            )
            .handler(
                REPLAY_JOB,
                1,
                jobs::handler_fn(move |ctx| c.clone().run_replay(ctx)),
            )
    }
}
