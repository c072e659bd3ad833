//! Deliveries: creation (fan-out, replays), one attempt per job, and the retry schedule.
//! An attempt's outcome is written atomically with the job's ack; a crash between sending and
//! acking sends the same event again with the same `webhook-id`, which receivers deduplicate
//! (delivery is at least once).

use std::time::Duration;

use serde_json::json;

use super::model::{
    BY_ENDPOINT, DELIVERIES, Delivery, DeliveryAttempt, DeliveryState, ENDPOINTS, Endpoint,
    MAX_ENDPOINTS,
};
use super::{DELIVER_JOB, DeliverJob, ReplayJob, WebhookSettings, Webhooks};
use crate::core::{Timestamp, WebhookDeliveryId, WebhookEndpointId};
use crate::domain::{auth, events};
use crate::jobs;
use crate::mailer::{self, Mail};
use crate::outbound::{Answer, SendError, signature};
use crate::storage::{Order as ScanOrder, Reader, StorageError, WriteTx};

/// First retry delay; doubles per attempt.
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
/// Longest delay between attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(6 * 3600);
/// A delivery failing this long is dead.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);
/// An endpoint failing this long is disabled and the admins are mailed.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);
/// Most attempts kept in a delivery's log (the schedule makes about 25 in 3 days).
const MAX_LOGGED: usize = 40;

/// The delay after failed attempt `n` (1-based): 5 s × 2ⁿ⁻¹ capped at 6 h, ±20 % jitter so
/// endpoints that failed together do not all come back at once.
pub fn retry_delay(n: u32) -> Duration {
    let base = FIRST_RETRY
        .saturating_mul(1u32 << n.saturating_sub(1).min(20))
        .min(MAX_RETRY);
    let jitter = 0.8 + 0.4 * rand::random::<f64>();
    base.mul_f64(jitter)
}

/// Creates a delivery of `ev` to endpoint `endpoint` and queues its first attempt.
pub(super) fn create(
    tx: &mut WriteTx<'_>,
    endpoint: WebhookEndpointId,
    ev: &events::Event,
    replay: bool,
) -> Result<Delivery, StorageError> {
    let now = tx.now();
    let d = Delivery {
        id: WebhookDeliveryId::new(now),
        endpoint_id: endpoint,
        event_id: ev.id,
        event_type: ev.type_.clone(),
        state: DeliveryState::Pending,
        attempts: Vec::new(),
        next_attempt_at: Some(now),
        replay,
        created_at: now,
        updated_at: now,
    };
    tx.insert(&DELIVERIES, &d.id, &d)?;
    tx.insert(&BY_ENDPOINT, &(endpoint, d.id), &())?;
    queue(tx, &d, 1, now)?;
    Ok(d)
}

fn queue(
    tx: &mut WriteTx<'_>,
    d: &Delivery,
    attempt: u32,
    at: Timestamp,
) -> Result<(), StorageError> {
    let job = jobs::NewJob::new(DELIVER_JOB, &DeliverJob { delivery_id: d.id })?
        .dedupe(format!("deliver:{}:{attempt}", d.id))
        .run_at(at)
        .max_attempts(5);
    jobs::enqueue(tx, job)?;
    Ok(())
}

enum Outcome {
    Sent(Answer),
    Failed(String),
    /// No attempt is possible: the delivery dies with this reason.
    Abandon(String),
}

impl Webhooks {
    /// Job handler of [`events::FANOUT_JOB`]: one delivery per enabled endpoint that wants the
    /// event, created atomically with the ack (so exactly once).
    pub async fn run_fanout(
        self,
        ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: events::FanoutJob = ctx.payload()?;
        Ok(jobs::JobOutcome::DoneWith(Box::new(move |tx| {
            let Some(ev) = events::get(tx, job.event_id)? else {
                return Ok(());
            };
            let endpoints = tx.prefix(&ENDPOINTS, &(), None, ScanOrder::Asc, MAX_ENDPOINTS)?;
            for (_, e) in endpoints
                .iter()
                .filter(|(_, e)| e.enabled && e.wants(&ev.type_))
            {
                create(tx, e.id, &ev, false)?;
            }
            Ok(())
        })))
    }

    /// Job handler of [`DELIVER_JOB`]: one signed attempt, its outcome recorded with the ack.
    pub async fn run_deliver(
        self,
        ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: DeliverJob = ctx.payload()?;
        let r = self.store.read()?;
        let Some(d) = r.get(&DELIVERIES, &job.delivery_id)? else {
            return Ok(jobs::JobOutcome::Done);
        };
        if d.state != DeliveryState::Pending {
            return Ok(jobs::JobOutcome::Done);
        }
        let endpoint = r.get(&ENDPOINTS, &d.endpoint_id)?;
        let ev = events::get(&r, d.event_id)?;
        drop(r);
        let now = self.store.now();
        let outcome = match (&endpoint, &ev) {
            (None, _) => Outcome::Abandon("the endpoint was deleted".into()),
            (Some(e), _) if !e.enabled => Outcome::Abandon("the endpoint is disabled".into()),
            (_, None) => Outcome::Abandon("the event is gone".into()),
            (Some(e), Some(ev)) => self.attempt(e, ev, now).await,
        };
        let settings = self.settings.clone();
        Ok(jobs::JobOutcome::DoneWith(Box::new(move |tx| {
            record(tx, job.delivery_id, outcome, now, &settings)
        })))
    }

    async fn attempt(&self, e: &Endpoint, ev: &events::Event, now: Timestamp) -> Outcome {
        let body = match serde_json::to_vec(ev) {
            Ok(b) => b,
            Err(err) => return Outcome::Abandon(format!("the event does not serialise: {err}")),
        };
        let id = ev.id.to_string();
        let ts = now.as_millis().div_euclid(1000);
        let headers = [
            ("webhook-id", id.clone()),
            ("webhook-timestamp", ts.to_string()),
            (
                "webhook-signature",
                signature::header(&e.signing(now), &id, ts, &body),
            ),
        ];
        match self.sender.post(&e.url, &headers, body).await {
            Ok(a) => Outcome::Sent(a),
            Err(SendError::Refused(r)) => {
                Outcome::Failed(format!("refused by the SSRF guard: {r}"))
            }
            Err(SendError::Transport(m)) => Outcome::Failed(m),
        }
    }

    /// Job handler of [`super::REPLAY_JOB`]: replays an endpoint's dead deliveries since a
    /// time, 200 per write.
    pub async fn run_replay(
        self,
        ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: ReplayJob = ctx.payload()?;
        let floor = WebhookDeliveryId::from_bytes(id_floor(job.since));
        let mut after = (job.endpoint_id, floor);
        loop {
            let start = after;
            let (n, last) = self
                .store
                .write(move |tx| replay_batch(tx, start, 200))
                .await
                .map_err(|e: StorageError| jobs::JobError::retry(e.to_string()))?;
            match last {
                Some(l) if n == 200 => after = (job.endpoint_id, l),
                _ => return Ok(jobs::JobOutcome::Done),
            }
        }
    }
}

/// Replays up to `limit` deliveries of the endpoint after `after`; returns how many rows were
/// read and the last one.
fn replay_batch(
    tx: &mut WriteTx<'_>,
    after: (WebhookEndpointId, WebhookDeliveryId),
    limit: usize,
) -> Result<(usize, Option<WebhookDeliveryId>), StorageError> {
    let rows = tx.prefix(&BY_ENDPOINT, &after.0, Some(&after), ScanOrder::Asc, limit)?;
    let n = rows.len();
    let last = rows.last().map(|((_, d), ())| *d);
    for ((_, id), ()) in rows {
        let Some(d) = tx.get(&DELIVERIES, &id)? else {
            continue;
        };
        if d.state != DeliveryState::Dead || d.replay && d.attempts.is_empty() {
            continue;
        }
        if let Some(ev) = events::get(tx, d.event_id)? {
            create(tx, d.endpoint_id, &ev, true)?;
        }
    }
    Ok((n, last))
}

/// The smallest id minted at `t`.
fn id_floor(t: Timestamp) -> [u8; 16] {
    let ms = u64::try_from(t.as_millis()).unwrap_or(0);
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b
}

/// Writes one attempt's outcome: delivered, retried later, or dead; keeps the endpoint's
/// failure clock and disables it after [`DISABLE_AFTER`] of failures.
fn record(
    tx: &mut WriteTx<'_>,
    id: WebhookDeliveryId,
    outcome: Outcome,
    at: Timestamp,
    s: &WebhookSettings,
) -> Result<(), StorageError> {
    let Some(mut d) = tx.get(&DELIVERIES, &id)? else {
        return Ok(());
    };
    if d.state != DeliveryState::Pending {
        return Ok(());
    }
    let number = u32::try_from(d.attempts.len()).unwrap_or(u32::MAX) + 1;
    let now = tx.now();
    let ok = match &outcome {
        Outcome::Sent(a) => {
            log(
                &mut d,
                DeliveryAttempt {
                    number,
                    at,
                    status_code: Some(a.status),
                    duration_ms: a.duration_ms,
                    response: a.head.clone(),
                    error: None,
                },
            );
            (200..300).contains(&a.status)
        }
        Outcome::Failed(m) => {
            log(&mut d, failed(number, at, m));
            false
        }
        Outcome::Abandon(m) => {
            log(&mut d, failed(number, at, m));
            d.state = DeliveryState::Dead;
            d.next_attempt_at = None;
            d.updated_at = now;
            return tx.insert(&DELIVERIES, &d.id, &d);
        }
    };
    if ok {
        d.state = DeliveryState::Delivered;
        d.next_attempt_at = None;
    } else {
        let next = now.plus(retry_delay(number));
        if next.since(d.created_at) > GIVE_UP_AFTER {
            d.state = DeliveryState::Dead;
            d.next_attempt_at = None;
        } else {
            d.next_attempt_at = Some(next);
            queue(tx, &d, number + 1, next)?;
        }
    }
    d.updated_at = now;
    tx.insert(&DELIVERIES, &d.id, &d)?;
    endpoint_health(tx, d.endpoint_id, ok, s)
}

/// An attempt that got no answer.
fn failed(number: u32, at: Timestamp, error: &str) -> DeliveryAttempt {
    DeliveryAttempt {
        number,
        at,
        status_code: None,
        duration_ms: 0,
        response: String::new(),
        error: Some(error.to_owned()),
    }
}

fn log(d: &mut Delivery, a: DeliveryAttempt) {
    if d.attempts.len() >= MAX_LOGGED {
        d.attempts.remove(1);
    }
    d.attempts.push(a);
}

/// A success clears the endpoint's failure clock; a failure starts it, and after
/// [`DISABLE_AFTER`] disables the endpoint and mails the shop's admins once.
fn endpoint_health(
    tx: &mut WriteTx<'_>,
    id: WebhookEndpointId,
    ok: bool,
    s: &WebhookSettings,
) -> Result<(), StorageError> {
    let Some(before) = tx.get(&ENDPOINTS, &id)? else {
        return Ok(());
    };
    let now = tx.now();
    let mut e = before.clone();
    match (ok, e.failing_since) {
        (true, None) => return Ok(()),
        (true, Some(_)) => e.failing_since = None,
        (false, None) => e.failing_since = Some(now),
        (false, Some(since)) if e.enabled && now.since(since) >= DISABLE_AFTER => {
            e.enabled = false;
            e.disabled_reason = Some(format!(
                "every delivery failed from {since} to {now}; disabled by shopd"
            ));
            tracing::warn!(endpoint = %e.id, url = %e.url, "webhook endpoint disabled after 5 days of failures");
            mail_admins(tx, &e, s)?;
        }
        (false, Some(_)) => return Ok(()),
    }
    super::store(tx, Some(&before), &mut e)
}

fn mail_admins(
    tx: &mut WriteTx<'_>,
    e: &Endpoint,
    s: &WebhookSettings,
) -> Result<(), StorageError> {
    for (email, name) in auth::admin_contacts(tx, 50)? {
        let vars = json!({
            "shop_name": s.shop_name, "shop_url": s.public_url, "name": name,
            "endpoint_id": e.id.to_string(), "url": e.url,
            "failing_since": e.failing_since.map(|t| t.to_string()),
        });
        mailer::enqueue(
            tx,
            &Mail::new(&email, Some(&name), "webhook_disabled", vars, tx.now()),
        )?;
    }
    Ok(())
}
