//! The reconciliation worker: every minute, each payment still open after
//! `payments.reconcile_after_secs` (5 minutes by default) is asked of its provider and settled through the same path as a
//! webhook; a payment its order no longer waits for (the order lapsed, or another payment
//! paid it) and that took no money is cancelled (at the provider first), so nothing stays open
//! forever; an authorization close to
//! Stripe's 7-day limit is flagged for staff. At most [`BATCH`] × [`PAGES`] payments per run.

use std::ops::Bound;
use std::time::Duration;

use super::model::{OPEN, PAYMENTS, REVIEW};
use super::settle::{self, Observation, Source};
use super::{PaymentError, Payments, provider_error};
use crate::core::{PaymentId, Timestamp};
use crate::domain::orders::{self, Status};
use crate::gateway::{OpKey, PaymentStatus};
use crate::jobs;
use crate::storage::{Order as ScanOrder, Reader};

/// Recurring job kind.
pub const RECONCILE_JOB: &str = "payment.reconcile";
/// How often it runs.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);
/// Payments read per page.
pub const BATCH: usize = 100;
/// Pages per run: at most `BATCH × PAGES` payments are checked each minute.
pub const PAGES: usize = 10;
/// An authorization this old is flagged (Stripe releases card authorizations after 7 days).
pub const AUTHORIZATION_WARNING: Duration = Duration::from_secs(6 * 24 * 3600);

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Payments checked.
    pub checked: usize,
    /// Payments whose state changed.
    pub changed: usize,
    /// Payments the provider could not be asked about (retried next run).
    pub failed: usize,
}

impl Payments {
    /// One reconciliation pass over the payments open longer than the configured threshold.
    pub async fn reconcile(&self) -> Result<Reconciled, PaymentError> {
        let now = self.store.now();
        let after = i64::try_from(self.settings.reconcile_after.as_millis()).unwrap_or(i64::MAX);
        let cutoff = Timestamp::from_millis(now.as_millis().saturating_sub(after));
        let mut out = Reconciled::default();
        let mut after: Option<(Timestamp, PaymentId)> = None;
        // Page through everything due (bounded): payments that stay open by design
        // (authorizations awaiting capture) must not keep newer ones from being checked.
        for _ in 0..PAGES {
            let due: Vec<(Timestamp, PaymentId)> = self
                .store
                .read()?
                .range(
                    &OPEN,
                    after.as_ref().map_or(Bound::Unbounded, Bound::Excluded),
                    Bound::Excluded(&(cutoff, PaymentId::from_bytes([0; 16]))),
                    ScanOrder::Asc,
                    BATCH,
                )?
                .into_iter()
                .map(|(k, ())| k)
                .collect();
            let Some(last) = due.last().copied() else {
                break;
            };
            for (_, id) in &due {
                out.checked += 1;
                match self.reconcile_one(*id, now).await {
                    Ok(true) => out.changed += 1,
                    Ok(false) => {}
                    Err(e) => {
                        out.failed += 1;
                        tracing::warn!(payment = %id, error = %e, "reconciliation could not check a payment");
                    }
                }
            }
            if due.len() < BATCH {
                break;
            }
            after = Some(last);
        }
        if out.changed + out.failed > 0 {
            tracing::info!(
                checked = out.checked,
                changed = out.changed,
                failed = out.failed,
                "payments reconciled"
            );
        }
        Ok(out)
    }

    async fn reconcile_one(&self, id: PaymentId, now: Timestamp) -> Result<bool, PaymentError> {
        let r = self.store.read()?;
        let Some(p) = r.get(&PAYMENTS, &id)? else {
            return Ok(false);
        };
        let order = orders::find(&r, p.order_id)?;
        drop(r);
        let g = self.gateways.get(&p.provider)?;
        let mut changed = false;
        let mut p = p;
        let remote = match p.reference.clone() {
            Some(reference) => g
                .fetch(&reference, p.amount)
                .await
                .map_err(provider_error)?,
            None => None,
        };
        if let Some(remote) = remote {
            let (after, effect) = self.apply(id, observe(remote)).await?;
            changed |= effect != settle::Effect::Unchanged;
            p = after;
        }
        // The order no longer waits for this payment: it lapsed, or another payment paid it
        // (staff recorded a bank transfer while a card payment stayed open).
        let lapsed = order
            .as_ref()
            .is_none_or(|o| o.status != Status::PendingPayment);
        if lapsed && !p.status.is_secured() && !p.status.is_terminal() {
            let key = OpKey::new(&id.to_string(), "cancel", 1);
            let remote = match &p.reference {
                Some(reference) if p.provider == "stripe" && reference.starts_with("pi_") => Some(
                    g.cancel(reference, p.amount, key)
                        .await
                        .map_err(provider_error)?,
                ),
                _ => None,
            };
            let obs = match remote {
                // The customer paid meanwhile: settle that instead (revive or refund).
                Some(r) if r.status.is_secured() => observe(r),
                _ => Observation {
                    status: PaymentStatus::Canceled,
                    amount: p.amount,
                    charge: None,
                    decline: None,
                    attempt: None,
                    source: Source::Reconciliation,
                },
            };
            let (_, effect) = self.apply(id, obs).await?;
            changed |= effect != settle::Effect::Unchanged;
        } else if p.status == PaymentStatus::RequiresCapture
            && now.since(p.updated_at) >= AUTHORIZATION_WARNING
        {
            changed |= self
                .flag(
                    id,
                    "the authorization expires within a day: capture or cancel it",
                )
                .await?;
        }
        Ok(changed)
    }

    async fn flag(&self, id: PaymentId, why: &'static str) -> Result<bool, PaymentError> {
        self.store
            .write(move |tx| {
                let Some(before) = tx.get(&PAYMENTS, &id)? else {
                    return Ok(false);
                };
                if before.review.is_some() {
                    return Ok(false);
                }
                tracing::warn!(payment = %id, why, "payment flagged for staff");
                let mut p = before.clone();
                p.review = Some(why.into());
                settle::store(tx, &before, &mut p)?;
                Ok(true)
            })
            .await
    }

    /// Payments flagged for staff review (amount mismatches, expiring authorizations), oldest
    /// first, at most `limit`.
    pub fn flagged(&self, limit: usize) -> Result<Vec<super::PaymentView>, PaymentError> {
        let r = self.store.read()?;
        let mut out = Vec::new();
        for (id, ()) in r.prefix(&REVIEW, &(), None, ScanOrder::Asc, limit)? {
            if let Some(p) = r.get(&PAYMENTS, &id)? {
                out.push(super::PaymentView::staff(&p));
            }
        }
        Ok(out)
    }

    /// How many payments wait for staff review (the `payments_flagged` metric).
    pub fn flagged_count(&self) -> Result<u64, PaymentError> {
        let r = self.store.read()?;
        Ok(r.prefix(&REVIEW, &(), None, ScanOrder::Asc, 10_000)?.len() as u64)
    }

    /// Job handler of [`RECONCILE_JOB`].
    pub async fn run_reconcile(
        self,
        _ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        self.reconcile()
            .await
            .map_err(|e| jobs::JobError::retry(e.to_string()))?;
        Ok(jobs::JobOutcome::DoneWith(Box::new(|tx| {
            let next = tx.now().plus(RECONCILE_EVERY);
            jobs::schedule_recurring(tx, RECONCILE_JOB, RECONCILE_EVERY, next)
        })))
    }
}

/// What the provider answered, as the settle path takes it from a check (not a customer).
pub(super) fn observe(r: crate::gateway::Remote) -> Observation {
    Observation {
        status: r.status,
        amount: r.amount,
        charge: r.charge,
        decline: r.decline,
        attempt: None,
        source: Source::Reconciliation,
    }
}
