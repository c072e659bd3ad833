//! Refunds: staff return (part of) what an order paid — an amount, or lines and shipping, whose
//! amount is read from the quote the order was placed with (each unit's share of its line's
//! charged total, discount and tax included), so a refund of some lines returns exactly what
//! they cost and all of them the total. Gift cards that paid get their share back first, at
//! once; the rest goes to the provider through a job with an idempotency key named after the
//! refund, so a retried job never refunds twice. The order moves to `partially_refunded` /
//! `refunded` as the money goes back; restocked units go back on hand when the refund is
//! recorded.

use serde::{Deserialize, Serialize};

use super::model::{
    MAX_REFUNDS, PAYMENTS, Payment, REFUND_LINES, Refund, RefundKind, RefundLines, RefundStatus,
    Restocked,
};
use super::payload::RefundEventV1;
use super::settle::{queue_refund, store};
use super::{PaymentError, Payments, RefundJob, invalid, load, of_order};
use crate::core::{LineId, Money, OrderId, PaymentId, RefundId, Timestamp};
use crate::domain::orders::{self, Event};
use crate::domain::pricing::Quote;
use crate::domain::{events, giftcards, idempotency, inventory};
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
    /// Minor units of the order's currency (omitted, with no `lines` or `shipping`: everything
    /// not yet refunded). Not with `lines` or `shipping`.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Units of lines to refund: each unit returns its share of what its line was charged
    /// (discounts and tax included), read from the order's quote.
    #[serde(default)]
    pub lines: Vec<RestockLine>,
    /// Refund shipping too (once).
    #[serde(default)]
    pub shipping: bool,
    /// Why (1–500 characters; kept on the refund and shown to staff).
    pub reason: String,
    /// Units to put back into stock.
    #[serde(default)]
    pub restock: Vec<RestockLine>,
}

/// What a refund request did: what went back to gift cards, and the provider's refund as
/// recorded (pending until the provider answers). Kept under the idempotency key, so a
/// retried request replays it instead of refunding twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundOutcome {
    /// The order.
    pub order_id: OrderId,
    /// The refund's id (the provider refund's, when there is one).
    pub id: RefundId,
    /// The refunded payment, when the provider returns part of it.
    pub payment_id: Option<PaymentId>,
    /// The provider's part as recorded.
    pub refund: Option<Refund>,
    /// Put back on gift cards, at once.
    pub to_gift_cards: Money,
    /// Units of lines refunded by line.
    pub lines: Vec<Restocked>,
    /// Whether shipping was refunded.
    pub shipping: bool,
    /// Units put back into stock.
    pub restock: Vec<Restocked>,
    /// Why.
    pub reason: String,
    /// When.
    pub created_at: Timestamp,
}
impl crate::storage::Value for RefundOutcome {
    const VERSION: u8 = 2;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self, crate::storage::CodecError> {
        /// Version 1: every refund was one provider refund.
        #[derive(Deserialize)]
        struct RefundOutcomeV1 {
            order_id: OrderId,
            payment_id: PaymentId,
            refund: Refund,
        }
        match version {
            1 => crate::storage::upgrade_from(bytes, |o: RefundOutcomeV1| RefundOutcome {
                order_id: o.order_id,
                id: o.refund.id,
                payment_id: Some(o.payment_id),
                to_gift_cards: Money::zero(o.refund.amount.currency),
                lines: Vec::new(),
                shipping: false,
                restock: o.refund.restock.clone(),
                reason: o.refund.reason.clone(),
                created_at: o.refund.created_at,
                refund: Some(o.refund),
            }),
            found => Err(crate::storage::unknown_version::<Self>(found)),
        }
    }
}

/// A refund as staff see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RefundView {
    /// `ref_…`.
    #[schema(value_type = String)]
    pub id: RefundId,
    /// Everything refunded: to gift cards and to the provider.
    pub amount: Money,
    /// Put back on gift cards (done at once).
    pub to_gift_cards: Money,
    /// Returned through the payment provider.
    pub to_provider: Money,
    /// The provider part's status (`succeeded` when gift cards took it all).
    pub status: RefundStatus,
    /// Staff.
    pub kind: RefundKind,
    /// Why.
    pub reason: String,
    /// Units refunded by line.
    pub lines: Vec<Restocked>,
    /// Whether shipping was refunded.
    pub shipping: bool,
    /// Units put back into stock.
    pub restock: Vec<Restocked>,
    /// The payment refunded through the provider, if any.
    #[schema(value_type = Option<String>)]
    pub payment_id: Option<PaymentId>,
    /// When.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

impl RefundView {
    /// The view of a refund outcome.
    pub fn of(o: &RefundOutcome) -> RefundView {
        let to_provider = o
            .refund
            .as_ref()
            .map_or(Money::zero(o.to_gift_cards.currency), |r| r.amount);
        RefundView {
            id: o.id,
            amount: Money::new(
                o.to_gift_cards.amount + to_provider.amount,
                to_provider.currency,
            ),
            to_gift_cards: o.to_gift_cards,
            to_provider,
            status: o
                .refund
                .as_ref()
                .map_or(RefundStatus::Succeeded, |r| r.status),
            kind: RefundKind::Staff,
            reason: o.reason.clone(),
            lines: o.lines.clone(),
            shipping: o.shipping,
            restock: o.restock.clone(),
            payment_id: o.payment_id,
            created_at: o.created_at,
        }
    }
}

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
        if input.lines.len() > 500 {
            return Err(invalid("lines", "at most 500 entries"));
        }
        let mut lines = Vec::with_capacity(input.lines.len());
        for (i, l) in input.lines.iter().enumerate() {
            let line = LineId::parse(&l.line_id).map_err(|_| {
                invalid(&format!("lines[{i}].line_id"), "is not a line of the order")
            })?;
            if l.quantity <= 0 {
                return Err(invalid(&format!("lines[{i}].quantity"), "must be positive"));
            }
            lines.push((line, l.quantity));
        }
        if input.amount.is_some() && (!lines.is_empty() || input.shipping) {
            return Err(invalid(
                "amount",
                "give an amount, or lines and shipping, not both",
            ));
        }
        let ask = Ask {
            amount: input.amount,
            lines,
            shipping: input.shipping,
            reason,
            restock,
        };
        let s = self.settings.settle.orders.clone();
        keyed
            .write(&self.store, move |tx| {
                staff_refund(tx, oid, ask, &actor, &s)
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

/// The payment a staff refund returns through the provider: the one that paid the order.
fn paying(tx: &mut WriteTx<'_>, order: OrderId) -> Result<Option<Payment>, PaymentError> {
    Ok(of_order(tx, order)?.into_iter().find(|p| p.paid_order))
}

/// A staff refund as asked.
struct Ask {
    amount: Option<i64>,
    lines: Vec<(LineId, i64)>,
    shipping: bool,
    reason: String,
    restock: Vec<(LineId, i64)>,
}

/// What earlier refunds of the order took, by line, shipping and gift cards.
struct Earlier {
    rows: Vec<RefundLines>,
}

impl Earlier {
    fn units(&self, line: LineId) -> i64 {
        self.rows
            .iter()
            .flat_map(|r| &r.lines)
            .filter(|l| l.line_id == line)
            .map(|l| l.quantity)
            .sum()
    }
    fn shipping(&self) -> bool {
        self.rows.iter().any(|r| r.shipping)
    }
    fn to_gift_cards(&self) -> i64 {
        self.rows.iter().map(|r| r.to_gift_cards.amount).sum()
    }
}

/// The amount of refunding `lines` (and shipping) from the order's quote.
fn amount_of_lines(quote: &Quote, earlier: &Earlier, ask: &Ask) -> Result<i64, PaymentError> {
    let mut amount = 0;
    for (i, (line, units)) in ask.lines.iter().enumerate() {
        let before = earlier.units(*line)
            + ask.lines[..i]
                .iter()
                .filter(|(l, _)| l == line)
                .map(|(_, u)| u)
                .sum::<i64>();
        let m = quote
            .line_refund(*line, before, *units)
            .map_err(|e| match e {
                crate::domain::pricing::RefundError::UnknownLine(_) => {
                    invalid(&format!("lines[{i}].line_id"), "is not a line of the order")
                }
                crate::domain::pricing::RefundError::TooMany(_, left) => invalid(
                    &format!("lines[{i}].quantity"),
                    format!("at most {left} unit(s) of this line are left to refund"),
                ),
            })?;
        amount += m.amount;
    }
    if ask.shipping {
        if earlier.shipping() {
            return Err(invalid("shipping", "shipping was refunded already"));
        }
        amount += quote.shipping_refund().amount;
    }
    Ok(amount)
}

fn staff_refund(
    tx: &mut WriteTx<'_>,
    oid: OrderId,
    ask: Ask,
    actor: &str,
    s: &orders::OrderSettings,
) -> Result<RefundOutcome, PaymentError> {
    let mut order = orders::find(tx, oid)?.ok_or(PaymentError::NotFound)?;
    let quote = orders::quote_of(tx, oid)?;
    let earlier = Earlier {
        rows: tx
            .prefix(
                &REFUND_LINES,
                &oid,
                None,
                crate::storage::Order::Asc,
                MAX_REFUNDS + 1,
            )?
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
    };
    if earlier.rows.len() >= MAX_REFUNDS {
        return Err(PaymentError::NotPayable(format!(
            "an order takes at most {MAX_REFUNDS} refunds"
        )));
    }
    let payment = paying(tx, oid)?;
    if let Some(p) = &payment
        && p.status != PaymentStatus::Succeeded
    {
        return Err(PaymentError::NotPayable(format!(
            "the payment is {}: capture it before refunding",
            p.status.as_str()
        )));
    }
    let currency = order.totals.total.currency;
    let provider_left = payment
        .as_ref()
        .map_or(0, |p| p.captured.amount - p.refunded_or_pending());
    let cards_left = (order.totals.gift_cards.amount - earlier.to_gift_cards()).max(0);
    let left = provider_left + cards_left;
    let by_lines = !ask.lines.is_empty() || ask.shipping;
    let amount = match (&quote, by_lines) {
        (Some(q), true) => amount_of_lines(q, &earlier, &ask)?,
        (None, true) => {
            return Err(invalid(
                "lines",
                "this order was placed before quotes were kept: refund an amount",
            ));
        }
        (_, false) => ask.amount.unwrap_or(left),
    };
    if amount <= 0 || amount > left {
        return Err(PaymentError::Invalid(vec![crate::core::FieldIssue::new(
            "amount",
            "over_refund",
            format!("at most {left} can be refunded"),
        )]));
    }
    check_restock(&order, payment.as_ref(), &earlier, &ask.restock)?;
    let now = tx.now();
    let id = RefundId::new(now);
    let to_cards = amount.min(cards_left);
    let to_provider = amount - to_cards;
    refill_cards(tx, quote.as_ref(), &earlier, oid, to_cards)?;
    for (line, units) in &ask.restock {
        if let Some(l) = order.lines.iter().find(|l| l.id == *line) {
            inventory::restock(
                tx,
                l.variant_id,
                *units,
                &format!("refund {id}: {}", ask.reason),
                actor,
            )?;
        }
    }
    let restocked: Vec<Restocked> = ask
        .restock
        .iter()
        .map(|&(line_id, quantity)| Restocked { line_id, quantity })
        .collect();
    let lines: Vec<Restocked> = ask
        .lines
        .iter()
        .map(|&(line_id, quantity)| Restocked { line_id, quantity })
        .collect();
    if to_cards > 0 {
        let reason = Some(format!("refund {id} to gift cards: {}", ask.reason));
        orders::transition(
            tx,
            &mut order,
            Event::Refund { amount: to_cards },
            actor,
            reason,
            s,
        )?;
    }
    let mut provider_refund = None;
    if let (true, Some(mut p)) = (to_provider > 0, payment.clone()) {
        let refund = Refund {
            id,
            amount: Money::new(to_provider, currency),
            reason: ask.reason.clone(),
            kind: RefundKind::Staff,
            status: RefundStatus::Pending,
            charge: None,
            restock: restocked.clone(),
            reference: None,
            failure: None,
            actor: actor.to_owned(),
            created_at: now,
            updated_at: now,
        };
        let before = p.clone();
        p.refunds.push(refund.clone());
        store(tx, &before, &mut p)?;
        events::record(tx, &events::REFUND_CREATED, &RefundEventV1::of(&p, &refund))?;
        queue_refund(tx, &p, refund.id)?;
        provider_refund = Some(refund);
    }
    tx.insert(
        &REFUND_LINES,
        &(oid, id),
        &RefundLines {
            lines: lines.clone(),
            shipping: ask.shipping,
            to_gift_cards: Money::new(to_cards, currency),
            restock: if provider_refund.is_some() {
                Vec::new()
            } else {
                restocked.clone()
            },
        },
    )?;
    Ok(RefundOutcome {
        order_id: oid,
        id,
        payment_id: provider_refund.as_ref().and(payment.map(|p| p.id)),
        refund: provider_refund,
        to_gift_cards: Money::new(to_cards, currency),
        lines,
        shipping: ask.shipping,
        restock: restocked,
        reason: ask.reason,
        created_at: now,
    })
}

/// Puts `amount` back on the order's gift cards, in the order they were tendered, each up to
/// what it paid less what earlier refunds gave it back.
fn refill_cards(
    tx: &mut WriteTx<'_>,
    quote: Option<&Quote>,
    earlier: &Earlier,
    order: OrderId,
    amount: i64,
) -> Result<(), PaymentError> {
    let (Some(q), true) = (quote, amount > 0) else {
        return Ok(());
    };
    let mut already = earlier.to_gift_cards();
    let mut left = amount;
    for t in &q.gift_cards {
        let taken_back = already.min(t.amount.amount);
        already -= taken_back;
        let room = t.amount.amount - taken_back;
        let part = room.min(left);
        if part > 0 {
            giftcards::refund(
                tx,
                t.gift_card_id,
                Money::new(part, t.amount.currency),
                order,
            )
            .map_err(|e| PaymentError::Internal(e.to_string()))?;
            left -= part;
        }
    }
    Ok(())
}

fn check_restock(
    order: &orders::Order,
    p: Option<&Payment>,
    earlier_rows: &Earlier,
    restock: &[(LineId, i64)],
) -> Result<(), PaymentError> {
    for (i, (line, units)) in restock.iter().enumerate() {
        let Some(l) = order.lines.iter().find(|l| l.id == *line) else {
            return Err(invalid(
                &format!("restock[{i}].line_id"),
                "is not a line of the order",
            ));
        };
        let provider = p.map_or(&[][..], |p| &p.refunds[..]);
        let earlier: i64 = provider
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .flat_map(|r| r.restock.iter().map(|x| (x.line_id, x.quantity)))
            .chain(
                earlier_rows
                    .rows
                    .iter()
                    .flat_map(|r| r.restock.iter().map(|x| (x.line_id, x.quantity))),
            )
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
