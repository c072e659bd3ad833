//! Refunds: staff return (part of) what an order paid, up to what was captured; the provider
//! call is a job with an idempotency key named after the refund, so a retried job never
//! refunds twice. The order moves to `partially_refunded` / `refunded` when the money went
//! back; restocked units go back on hand when the refund is recorded.

use serde::{Deserialize, Serialize};

use super::model::{MAX_REFUNDS, PAYMENTS, Payment, Refund, RefundKind, RefundStatus, Restocked};
use super::payload::RefundEventV1;
use super::settle::{queue_refund, store};
use super::{PaymentError, Payments, RefundJob, invalid, load, of_order};
use crate::core::{LineId, Money, OrderId, RefundId};
use crate::domain::orders::{self, Event};
use crate::domain::{events, idempotency, inventory};
use crate::gateway::{GatewayError, OpKey, PaymentStatus};
use crate::jobs;
use crate::storage::{Reader, WriteTx};

/// A line to put back into stock.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestockLine {
    /// `line_…` of the order.
    pub line_id: String,
    /// Units.
    pub quantity: i64,
}

/// The body of `POST /api/v1/admin/orders/{id}/refunds`.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// Minor units of the order's currency (omitted: everything not yet refunded).
    #[serde(default)]
    pub amount: Option<i64>,
    /// Why (1–500 characters; kept on the refund and shown to staff).
    pub reason: String,
    /// Units to put back into stock.
    #[serde(default)]
    pub restock: Vec<RestockLine>,
}

/// What a refund request did: the refund as recorded (pending until the provider answers).
/// Kept under the idempotency key, so a retried request replays it instead of refunding twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundOutcome {
    /// The order.
    pub order_id: OrderId,
    /// The refunded payment.
    pub payment_id: crate::core::PaymentId,
    /// The refund as recorded.
    pub refund: Refund,
}
impl crate::storage::Value for RefundOutcome {}

/// A refund request's outcome, fresh or replayed.
pub type RefundResponse = idempotency::Replayable<RefundOutcome>;

impl Payments {
    /// Records a staff refund of an order's payment and queues the provider call. Needs an
    /// `Idempotency-Key`. The amount may not exceed what was captured less earlier refunds
    /// (pending ones included); restocked units may not exceed what was ordered less units
    /// restocked before.
    pub async fn refund(
        &self,
        order: &str,
        input: RefundInput,
        actor: String,
        key: Option<&str>,
    ) -> Result<RefundResponse, PaymentError> {
        idempotency::check_key(key)?;
        let oid = OrderId::parse(order).map_err(|_| PaymentError::NotFound)?;
        let keyed =
            idempotency::Keyed::new(format!("refund:{actor}"), key, &(oid.to_string(), &input))?;
        let reason = input.reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(invalid("reason", "must be 1 to 500 characters"));
        }
        if input.restock.len() > 500 {
            return Err(invalid("restock", "at most 500 entries"));
        }
        let mut restock = Vec::with_capacity(input.restock.len());
        for (i, l) in input.restock.iter().enumerate() {
            let line = LineId::parse(&l.line_id).map_err(|_| {
                invalid(
                    &format!("restock[{i}].line_id"),
                    "is not a line of the order",
                )
            })?;
            if l.quantity <= 0 {
                return Err(invalid(
                    &format!("restock[{i}].quantity"),
                    "must be positive",
                ));
            }
            restock.push((line, l.quantity));
        }
        let amount = input.amount;
        keyed
            .write(&self.store, move |tx| {
                staff_refund(tx, oid, amount, reason, restock, &actor)
            })
            .await
    }

    /// Job handler of [`super::REFUND_JOB`]: asks the provider to return the money (key named
    /// after the refund), then records the answer; a staff refund moves the order.
    pub async fn run_refund(
        self,
        ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: RefundJob = ctx.payload()?;
        let p = match load(&self.store.read()?, job.payment_id) {
            Ok(p) => p,
            Err(PaymentError::NotFound) => return Ok(jobs::JobOutcome::Done),
            Err(e) => return Err(jobs::JobError::retry(e.to_string())),
        };
        let Some(r) = p.refunds.iter().find(|r| r.id == job.refund_id).cloned() else {
            return Ok(jobs::JobOutcome::Done);
        };
        if r.status != RefundStatus::Pending {
            return Ok(jobs::JobOutcome::Done);
        }
        let g = self
            .gateways
            .get(&p.provider)
            .map_err(|e| jobs::JobError::permanent(e.to_string()))?;
        let reference = p.reference.clone().unwrap_or_default();
        let key = OpKey::new(&p.id.to_string(), &format!("refund_{}", r.id), 1);
        let answer = g
            .refund(&reference, r.charge.as_deref(), r.amount, key)
            .await;
        let result = match answer {
            Ok(remote) if remote.succeeded => Ok(remote.reference),
            Ok(remote) => match remote.failure {
                Some(f) => Err(f),
                // Pending at the provider: ask again later.
                None => return Err(jobs::JobError::retry("refund pending at the provider")),
            },
            Err(GatewayError::Unavailable(m)) => return Err(jobs::JobError::retry(m)),
            Err(e) => Err(e.to_string()),
        };
        let s = self.settings.settle.clone();
        self.store
            .write(move |tx| finish_refund(tx, job, result, &s.orders))
            .await
            .map_err(|e: PaymentError| jobs::JobError::retry(e.to_string()))?;
        Ok(jobs::JobOutcome::Done)
    }
}

/// The payment a staff refund returns: the one that paid the order.
fn paying(tx: &mut WriteTx<'_>, order: OrderId) -> Result<Payment, PaymentError> {
    of_order(tx, order)?
        .into_iter()
        .find(|p| p.paid_order)
        .ok_or_else(|| PaymentError::NotPayable("the order has no payment to refund".into()))
}

fn staff_refund(
    tx: &mut WriteTx<'_>,
    oid: OrderId,
    amount: Option<i64>,
    reason: String,
    restock: Vec<(LineId, i64)>,
    actor: &str,
) -> Result<RefundOutcome, PaymentError> {
    let order = orders::find(tx, oid)?.ok_or(PaymentError::NotFound)?;
    let mut p = paying(tx, oid)?;
    if p.status != PaymentStatus::Succeeded {
        return Err(PaymentError::NotPayable(format!(
            "the payment is {}: capture it before refunding",
            p.status.as_str()
        )));
    }
    if p.refunds.len() >= MAX_REFUNDS {
        return Err(PaymentError::NotPayable(format!(
            "a payment takes at most {MAX_REFUNDS} refunds"
        )));
    }
    let left = p.captured.amount - p.refunded_or_pending();
    let amount = amount.unwrap_or(left);
    if amount <= 0 || amount > left {
        return Err(PaymentError::Invalid(vec![crate::core::FieldIssue::new(
            "amount",
            "over_refund",
            format!("at most {left} can be refunded"),
        )]));
    }
    check_restock(&order, &p, &restock)?;
    let now = tx.now();
    let refund = Refund {
        id: RefundId::new(now),
        amount: Money::new(amount, p.amount.currency),
        reason: reason.clone(),
        kind: RefundKind::Staff,
        status: RefundStatus::Pending,
        charge: None,
        restock: restock
            .iter()
            .map(|&(line_id, quantity)| Restocked { line_id, quantity })
            .collect(),
        reference: None,
        failure: None,
        actor: actor.to_owned(),
        created_at: now,
        updated_at: now,
    };
    for (line, units) in &restock {
        if let Some(l) = order.lines.iter().find(|l| l.id == *line) {
            inventory::restock(
                tx,
                l.variant_id,
                *units,
                &format!("refund {}: {reason}", refund.id),
                actor,
            )?;
        }
    }
    let before = p.clone();
    p.refunds.push(refund.clone());
    store(tx, &before, &mut p)?;
    events::record(tx, &events::REFUND_CREATED, &RefundEventV1::of(&p, &refund))?;
    queue_refund(tx, &p, refund.id)?;
    Ok(RefundOutcome {
        order_id: oid,
        payment_id: p.id,
        refund,
    })
}

fn check_restock(
    order: &orders::Order,
    p: &Payment,
    restock: &[(LineId, i64)],
) -> Result<(), PaymentError> {
    for (i, (line, units)) in restock.iter().enumerate() {
        let Some(l) = order.lines.iter().find(|l| l.id == *line) else {
            return Err(invalid(
                &format!("restock[{i}].line_id"),
                "is not a line of the order",
            ));
        };
        let earlier: i64 = p
            .refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .flat_map(|r| r.restock.iter().map(|x| (x.line_id, x.quantity)))
            .chain(restock[..i].iter().copied())
            .filter(|(x, _)| x == line)
            .map(|(_, u)| u)
            .sum();
        if earlier + units > l.quantity {
            return Err(invalid(
                &format!("restock[{i}].quantity"),
                format!(
                    "at most {} unit(s) of this line can be restocked",
                    l.quantity - earlier
                ),
            ));
        }
    }
    Ok(())
}

/// Records the provider's answer to refund `job` once: succeeded (a staff refund moves the
/// order) or failed.
pub(super) fn finish_refund(
    tx: &mut WriteTx<'_>,
    job: RefundJob,
    result: Result<String, String>,
    s: &orders::OrderSettings,
) -> Result<(), PaymentError> {
    let Some(mut p) = tx.get(&PAYMENTS, &job.payment_id)? else {
        return Ok(());
    };
    let before = p.clone();
    let now = tx.now();
    let Some(r) = p.refunds.iter_mut().find(|r| r.id == job.refund_id) else {
        return Ok(());
    };
    if r.status != RefundStatus::Pending {
        return Ok(());
    }
    r.updated_at = now;
    match result {
        Ok(reference) => {
            r.status = RefundStatus::Succeeded;
            r.reference = Some(reference);
        }
        Err(failure) => {
            r.status = RefundStatus::Failed;
            r.failure = Some(failure);
        }
    }
    let r = r.clone();
    store(tx, &before, &mut p)?;
    let kind = if r.status == RefundStatus::Succeeded {
        &events::REFUND_SUCCEEDED
    } else {
        &events::REFUND_FAILED
    };
    events::record(tx, kind, &RefundEventV1::of(&p, &r))?;
    if r.status == RefundStatus::Succeeded && r.kind == RefundKind::Staff {
        let mut order = orders::find(tx, p.order_id)?.ok_or(PaymentError::NotFound)?;
        let reason = format!("refund {}: {}", r.id, r.reason);
        orders::transition(
            tx,
            &mut order,
            Event::Refund {
                amount: r.amount.amount,
            },
            &r.actor,
            Some(reason),
            s,
        )?;
    }
    Ok(())
}
