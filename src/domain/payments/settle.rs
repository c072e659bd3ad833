//! The one settle path: every report of a provider state — the client's confirm or return,
//! a provider webhook, staff `mark-paid`, the reconciliation worker — goes through
//! [`settle`], inside one write. It reads the payment as committed (the single writer makes
//! the read and the write one compare-and-set on the payment's version), decides from the
//! payment's current state, and applies the effects at most once: the order is paid once,
//! stock is sold once, the confirmation mail and `order.paid` are queued once. Only states
//! that secure money (`requires_capture`, `succeeded`) act on the order; earlier states only
//! update the payment, and an observation older than what the payment already shows changes
//! nothing, so events may arrive in any order and any number of times.

use serde_json::json;

use super::model::{
    Attempt, BY_REFERENCE, OPEN, PAYMENTS, Payment, REVIEW, Refund, RefundKind, RefundStatus,
};
use super::payload::{PaymentEventV1, RefundEventV1};
use super::{PaymentError, REFUND_JOB, RefundJob};
use crate::core::{Money, RefundId};
use crate::domain::orders::{self, Event, Order, OrderSettings, Status};
use crate::domain::{events, inventory};
use crate::gateway::{Decline, PaymentStatus};
use crate::jobs;
use crate::storage::{StorageError, WriteTx};

/// Who reports the state (kept for the logs and the order's history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The customer's confirm or return call.
    Client,
    /// A provider webhook event (its id).
    Webhook(String),
    /// Staff recorded a payment (`mark-paid`), by this actor.
    Staff(String),
    /// The reconciliation worker asked the provider.
    Reconciliation,
    /// A capture the payment module made (first fulfilment, staff capture).
    Capture(String),
}

impl Source {
    fn actor(&self) -> String {
        match self {
            Source::Client => "customer".into(),
            Source::Webhook(_) | Source::Reconciliation => "system".into(),
            Source::Staff(a) | Source::Capture(a) => a.clone(),
        }
    }
}

/// What the provider says, as the settle path takes it.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The provider's status.
    pub status: PaymentStatus,
    /// The amount the provider holds or took.
    pub amount: Money,
    /// The charge that moved the money, when one did.
    pub charge: Option<String>,
    /// Why an attempt was refused.
    pub decline: Option<Decline>,
    /// The attempt this answers (recorded once per number), with the card's last four digits.
    pub attempt: Option<(u32, Option<String>)>,
    /// Who reports it.
    pub source: Source,
}

/// What settling did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing new (a duplicate or stale report).
    Unchanged,
    /// The payment changed; the order did not.
    Updated,
    /// The attempt was refused; the payment waits for another.
    Declined(Decline),
    /// The order is paid (stock sold, mail and `order.paid` queued).
    Paid,
    /// The order had expired or was cancelled; its stock was reserved again and it is paid.
    Revived,
    /// The authorization was captured.
    Captured,
    /// The order could not be filled any more: the payment is being refunded.
    RefundedUnfulfillable,
    /// The order was already paid: this money is being refunded.
    RefundedDuplicate,
    /// The provider's amount or currency is not ours: flagged for staff, nothing paid.
    Flagged,
}

/// Settings the settle path needs.
#[derive(Clone, Debug, Default)]
pub struct SettleSettings {
    /// Mail settings of the order module.
    pub orders: OrderSettings,
}

/// Applies `obs` to payment `p` (read inside `tx`) and its order. Returns the payment as
/// stored and what happened. Idempotent: the same observation again is [`Effect::Unchanged`].
pub fn settle(
    tx: &mut WriteTx<'_>,
    mut p: Payment,
    obs: &Observation,
    s: &SettleSettings,
) -> Result<(Payment, Effect), PaymentError> {
    let before = p.clone();
    let now = tx.now();
    let recorded = record_attempt(&mut p, obs, now);
    let effect = if obs.status.is_secured() {
        secured(tx, &mut p, obs, s)?
    } else if let Some(d) = obs.decline.clone().filter(|_| !p.status.is_secured()) {
        // A refusal of an attempt still open: the customer may try again on this payment.
        if p.status != PaymentStatus::RequiresPaymentMethod || recorded {
            p.status = PaymentStatus::RequiresPaymentMethod;
            Effect::Declined(d)
        } else {
            Effect::Unchanged
        }
    } else if matches!(obs.status, PaymentStatus::Canceled | PaymentStatus::Failed) {
        if p.status.is_secured() || p.status == obs.status {
            Effect::Unchanged
        } else {
            p.status = obs.status;
            Effect::Updated
        }
    } else if obs.status.rank() > p.status.rank() && !p.status.is_terminal() {
        p.status = obs.status;
        Effect::Updated
    } else {
        Effect::Unchanged
    };
    if p == before {
        return Ok((p, Effect::Unchanged));
    }
    store(tx, &before, &mut p)?;
    if let Effect::Declined(_) = effect {
        events::record(tx, &events::PAYMENT_FAILED, &PaymentEventV1::of(&p))?;
    }
    Ok((p, effect))
}

fn record_attempt(p: &mut Payment, obs: &Observation, now: crate::core::Timestamp) -> bool {
    let Some((n, last4)) = &obs.attempt else {
        return false;
    };
    if p.attempts.iter().any(|a| a.number == *n) {
        return false;
    }
    p.attempts.push(Attempt {
        number: *n,
        status: obs.status,
        decline: obs.decline.clone(),
        card_last4: last4.clone(),
        at: now,
    });
    true
}

/// The provider holds or took the money.
fn secured(
    tx: &mut WriteTx<'_>,
    p: &mut Payment,
    obs: &Observation,
    s: &SettleSettings,
) -> Result<Effect, PaymentError> {
    if obs.amount != p.amount {
        if p.review.is_none() {
            p.review = Some(format!(
                "the provider reports {} {} as {}, the order is due {} {}: not marked paid",
                obs.amount.amount,
                obs.amount.currency.as_str(),
                obs.status.as_str(),
                p.amount.amount,
                p.amount.currency.as_str()
            ));
            tracing::warn!(payment = %p.id, "payment amount differs from the order's: flagged for review");
            return Ok(Effect::Flagged);
        }
        return Ok(Effect::Unchanged);
    }
    if p.status.is_secured() {
        let other_charge = matches!((&p.charge, &obs.charge), (Some(a), Some(b)) if a != b);
        if other_charge {
            // Money taken twice: refund the second charge, once.
            let charge = obs.charge.clone();
            if p.refunds.iter().any(|r| r.charge == charge) {
                return Ok(Effect::Unchanged);
            }
            auto_refund(
                tx,
                p,
                RefundKind::Duplicate,
                charge,
                "a second charge for this payment",
            )?;
            return Ok(Effect::RefundedDuplicate);
        }
        if p.status == PaymentStatus::RequiresCapture && obs.status == PaymentStatus::Succeeded {
            p.status = PaymentStatus::Succeeded;
            p.captured = p.amount;
            return Ok(Effect::Captured);
        }
        return Ok(Effect::Unchanged);
    }
    p.status = obs.status;
    p.charge = obs.charge.clone();
    if obs.status == PaymentStatus::Succeeded {
        p.captured = p.amount;
    }
    let Some(mut order) = orders::find(tx, p.order_id)? else {
        return Err(PaymentError::Internal(format!(
            "payment {} has no order",
            p.id
        )));
    };
    let actor = obs.source.actor();
    let amount = order.totals.amount_due().amount;
    match order.status {
        Status::PendingPayment => {
            let reason = format!("payment {} {}", p.id, obs.status.as_str());
            orders::transition(
                tx,
                &mut order,
                Event::Pay { amount },
                &actor,
                Some(reason),
                &s.orders,
            )?;
            paid(tx, p, &order, s)?;
            Ok(Effect::Paid)
        }
        Status::Expired | Status::Cancelled => revive_or_refund(tx, p, order, &actor, s),
        _ => {
            auto_refund(
                tx,
                p,
                RefundKind::Duplicate,
                p.charge.clone(),
                "the order was already paid by another payment",
            )?;
            Ok(Effect::RefundedDuplicate)
        }
    }
}

/// The payment paid its order: the confirmation mail goes out now (not at checkout).
fn paid(
    tx: &mut WriteTx<'_>,
    p: &mut Payment,
    order: &Order,
    s: &SettleSettings,
) -> Result<(), PaymentError> {
    p.paid_order = true;
    orders::mail(tx, order, "order_confirmation", &s.orders, json!({}))?;
    Ok(())
}

fn revive_or_refund(
    tx: &mut WriteTx<'_>,
    p: &mut Payment,
    mut order: Order,
    actor: &str,
    s: &SettleSettings,
) -> Result<Effect, PaymentError> {
    let lines: Vec<_> = order
        .lines
        .iter()
        .map(|l| (l.variant_id, l.quantity))
        .collect();
    let was = order.status.as_str();
    // Gift cards that paid part of it got their money back when it lapsed: the order cannot be
    // revived as it was, so late money goes back like money for stock that is gone.
    let gone = if order.totals.gift_cards.amount > 0 {
        Some("its gift cards were given back")
    } else {
        match inventory::reserve_again(tx, order.id, &lines, tx.now()) {
            Ok(()) => None,
            Err(inventory::InventoryError::OutOfStock { .. }) => Some("its stock is gone"),
            Err(e) => return Err(e.into()),
        }
    };
    let Some(gone) = gone else {
        let amount = order.totals.amount_due().amount;
        let reason = format!(
            "payment {} succeeded after the order was {was}; stock reserved again",
            p.id
        );
        orders::transition(
            tx,
            &mut order,
            Event::Revive { amount },
            actor,
            Some(reason),
            &s.orders,
        )?;
        paid(tx, p, &order, s)?;
        return Ok(Effect::Revived);
    };
    let reason = format!("the order was {was} and {gone}");
    let id = auto_refund(tx, p, RefundKind::Unfulfillable, p.charge.clone(), &reason)?;
    if let Some(r) = p.refunds.iter().find(|r| r.id == id) {
        events::record(
            tx,
            &events::PAYMENT_REFUNDED_UNFULFILLABLE,
            &RefundEventV1::of(p, r),
        )?;
    }
    orders::add_system_note(
        tx,
        &mut order,
        format!(
            "Payment {} arrived after the order was {was}; {gone}, so the payment is refunded automatically ({id}).",
            p.id
        ),
    )?;
    Ok(Effect::RefundedUnfulfillable)
}

/// Records an automatic refund of the whole payment (or of one duplicate charge) and queues
/// its provider call.
fn auto_refund(
    tx: &mut WriteTx<'_>,
    p: &mut Payment,
    kind: RefundKind,
    charge: Option<String>,
    reason: &str,
) -> Result<RefundId, PaymentError> {
    let now = tx.now();
    let refund = Refund {
        id: RefundId::new(now),
        amount: p.amount,
        reason: reason.to_owned(),
        kind,
        status: RefundStatus::Pending,
        charge,
        restock: Vec::new(),
        reference: None,
        failure: None,
        actor: "system".into(),
        created_at: now,
        updated_at: now,
    };
    tracing::info!(payment = %p.id, refund = %refund.id, reason, "refunding automatically");
    let id = refund.id;
    events::record(tx, &events::REFUND_CREATED, &RefundEventV1::of(p, &refund))?;
    p.refunds.push(refund);
    queue_refund(tx, p, id)?;
    Ok(id)
}

/// Queues the provider call of refund `id` (once per refund).
pub(super) fn queue_refund(
    tx: &mut WriteTx<'_>,
    p: &Payment,
    id: RefundId,
) -> Result<(), StorageError> {
    let job = jobs::NewJob::new(
        REFUND_JOB,
        &RefundJob {
            payment_id: p.id,
            refund_id: id,
        },
    )?
    .dedupe(format!("refund:{id}"));
    jobs::enqueue(tx, job)?;
    Ok(())
}

/// Writes a new payment (open, version 1) with its indexes.
pub(super) fn insert(tx: &mut WriteTx<'_>, p: &Payment) -> Result<(), StorageError> {
    tx.insert(&OPEN, &(p.updated_at, p.id), &())?;
    if let Some(r) = &p.reference {
        tx.insert(&BY_REFERENCE, &(p.provider.clone(), r.clone()), &p.id)?;
    }
    tx.insert(&PAYMENTS, &p.id, p)
}

/// Writes a changed payment with its indexes: the version moves on, a terminal payment leaves
/// the open index, an open one is indexed by its last change.
pub(super) fn store(
    tx: &mut WriteTx<'_>,
    before: &Payment,
    p: &mut Payment,
) -> Result<(), StorageError> {
    p.version = before.version + 1;
    p.updated_at = tx.now();
    if !before.status.is_terminal() {
        tx.remove(&OPEN, &(before.updated_at, before.id))?;
    }
    if !p.status.is_terminal() {
        tx.insert(&OPEN, &(p.updated_at, p.id), &())?;
    }
    if p.review.is_some() && before.review.is_none() {
        tx.insert(&REVIEW, &p.id, &())?;
    } else if p.review.is_none() && before.review.is_some() {
        tx.remove(&REVIEW, &p.id)?;
    }
    if let Some(r) = &p.reference
        && before.reference.as_ref() != Some(r)
    {
        tx.insert(&BY_REFERENCE, &(p.provider.clone(), r.clone()), &p.id)?;
    }
    tx.insert(&PAYMENTS, &p.id, p)
}
