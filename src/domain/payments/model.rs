//! Payment records, their tables and indexes, and the views customers and staff see.

use serde::{Deserialize, Serialize};

use crate::core::{LineId, Money, OrderId, PaymentId, RefundId, Timestamp};
use crate::gateway::{Decline, PaymentStatus};
use crate::storage::{Table, Value};

/// Payments by id.
pub(super) const PAYMENTS: Table<PaymentId, Payment> = Table::new("payments");
/// (order, payment): an order's payments, oldest first.
pub(super) const BY_ORDER: Table<(OrderId, PaymentId), ()> = Table::new("payments_by_order");
/// (provider, provider reference) → payment: how a provider's event finds its payment.
pub(super) const BY_REFERENCE: Table<(String, String), PaymentId> =
    Table::new("payments_by_reference");
/// Payments not yet in a terminal state, by when they last changed (reconciliation).
pub(super) const OPEN: Table<(Timestamp, PaymentId), ()> = Table::new("payments_open");

/// Payments flagged for staff review.
pub(super) const REVIEW: Table<PaymentId, ()> = Table::new("payments_review");

/// Most confirmation attempts one payment keeps (and accepts): card testing stops there.
pub const MAX_ATTEMPTS: usize = 20;
/// Most refunds of one payment.
pub const MAX_REFUNDS: usize = 100;

/// When the money is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Capture {
    /// At confirmation (the default).
    #[default]
    Automatic,
    /// Authorized at confirmation, captured on the first fulfilment or by staff.
    Manual,
}

impl Capture {
    /// Parses the setting.
    pub fn parse(s: &str) -> Option<Capture> {
        match s {
            "automatic" => Some(Capture::Automatic),
            "manual" => Some(Capture::Manual),
            _ => None,
        }
    }
}

/// One confirmation attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = PaymentAttempt)]
pub struct Attempt {
    /// 1, 2, … (part of the provider call's idempotency key).
    pub number: u32,
    /// What the provider answered.
    pub status: PaymentStatus,
    /// Why it was refused.
    pub decline: Option<Decline>,
    /// Last four digits of the card, when one was given.
    pub card_last4: Option<String>,
    /// When.
    #[schema(value_type = String)]
    pub at: Timestamp,
}

/// Why a refund was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundKind {
    /// Staff refunded (part of) a paid order.
    Staff,
    /// The money arrived for an order that could no longer be filled (expired or cancelled,
    /// stock gone).
    Unfulfillable,
    /// A second payment for an order already paid.
    Duplicate,
}

/// Where a refund is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Recorded; the provider call is queued.
    Pending,
    /// The money went back.
    Succeeded,
    /// The provider refused it.
    Failed,
}

/// Units of one order line put back into stock by a refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Restocked {
    /// `line_…` of the order.
    #[schema(value_type = String)]
    pub line_id: LineId,
    /// Units.
    pub quantity: i64,
}

/// One refund of a payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refund {
    /// `ref_…`.
    #[schema(value_type = String)]
    pub id: RefundId,
    /// How much.
    pub amount: Money,
    /// Why (staff's words, or the automatic reason).
    pub reason: String,
    /// Staff, unfulfillable or duplicate.
    pub kind: RefundKind,
    /// Status.
    pub status: RefundStatus,
    /// The charge refunded (a duplicate charge), when not the payment's own.
    pub charge: Option<String>,
    /// Units put back into stock.
    pub restock: Vec<Restocked>,
    /// The provider's refund id once known.
    pub reference: Option<String>,
    /// Why the provider refused it.
    pub failure: Option<String>,
    /// Who asked (`system` for automatic refunds).
    pub actor: String,
    /// Created.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

/// By-line bookkeeping of each staff refund of an order, keyed (order, refund): which units
/// and whether shipping were refunded (so the quote's shares are taken once), what went back
/// to gift cards, and the restock of refunds without a provider part.
pub(super) const REFUND_LINES: crate::storage::Table<
    (OrderId, crate::core::RefundId),
    RefundLines,
> = crate::storage::Table::new("payment_refund_lines");

/// One staff refund's by-line bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLines {
    /// Units refunded by line.
    pub lines: Vec<Restocked>,
    /// Whether shipping was refunded.
    pub shipping: bool,
    /// Put back on gift cards.
    pub to_gift_cards: Money,
    /// Units restocked by a refund with no provider part (a provider refund keeps its own).
    pub restock: Vec<Restocked>,
}
impl Value for RefundLines {}

/// A stored payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Id.
    pub id: PaymentId,
    /// The order it pays.
    pub order_id: OrderId,
    /// `test`, `stripe` or `manual`.
    pub provider: String,
    /// The order's total due when the payment was made (never sent by a client).
    pub amount: Money,
    /// Status.
    pub status: PaymentStatus,
    /// When the money is taken.
    pub capture: Capture,
    /// The provider's id of it.
    pub reference: Option<String>,
    /// What the browser confirms with.
    pub client_secret: Option<String>,
    /// Where the browser goes (hosted checkout).
    pub redirect_url: Option<String>,
    /// The charge that secured it.
    pub charge: Option<String>,
    /// Whether this payment paid its order (only such a payment is refunded by staff).
    pub paid_order: bool,
    /// Captured so far.
    pub captured: Money,
    /// Confirmation attempts, oldest first.
    pub attempts: Vec<Attempt>,
    /// Refunds, oldest first.
    pub refunds: Vec<Refund>,
    /// Why staff must look at it (an amount or currency that differs from ours).
    pub review: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Bumped by every change.
    pub version: u64,
}
impl Value for Payment {}

impl Payment {
    /// Refunds not failed, summed (pending ones hold their amount).
    pub fn refunded_or_pending(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .map(|r| r.amount.amount)
            .sum()
    }
}

/// What the checkout response carries about the payment to confirm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentRef {
    /// `pay_…`.
    #[schema(value_type = String)]
    pub id: PaymentId,
    /// `test`, `stripe` or `manual`.
    pub provider: String,
    /// Status.
    pub status: PaymentStatus,
    /// Stripe's client secret for the Payment Element (`test`: a placeholder).
    pub client_secret: Option<String>,
    /// Where to send the browser (Stripe Checkout).
    pub redirect_url: Option<String>,
}

impl PaymentRef {
    /// The reference of `p`.
    pub fn of(p: &Payment) -> PaymentRef {
        PaymentRef {
            id: p.id,
            provider: p.provider.clone(),
            status: p.status,
            client_secret: p.client_secret.clone(),
            redirect_url: p.redirect_url.clone(),
        }
    }
}

/// A payment as its customer (and staff) see it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    /// `pay_…`.
    #[schema(value_type = String)]
    pub id: PaymentId,
    /// `ord_…`.
    #[schema(value_type = String)]
    pub order_id: OrderId,
    /// `test`, `stripe` or `manual`.
    pub provider: String,
    /// The amount due (the order's total).
    pub amount: Money,
    /// Status.
    pub status: PaymentStatus,
    /// `automatic` or `manual`.
    pub capture: Capture,
    /// Captured so far.
    pub captured: Money,
    /// Refunded so far (succeeded refunds).
    pub refunded: Money,
    /// Stripe's client secret (`test`: a placeholder).
    pub client_secret: Option<String>,
    /// Where to send the browser (Stripe Checkout).
    pub redirect_url: Option<String>,
    /// Why the last attempt was refused, while the payment waits for another.
    pub last_decline: Option<Decline>,
    /// Attempts, oldest first.
    pub attempts: Vec<Attempt>,
    /// Refunds, oldest first.
    pub refunds: Vec<Refund>,
    /// Staff views only: the provider's reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Staff views only: why staff must look at it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// Created.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
    /// Version.
    pub version: u64,
}

impl PaymentView {
    /// The customer's view.
    pub fn of(p: &Payment) -> PaymentView {
        let refunded = p
            .refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Succeeded)
            .map(|r| r.amount.amount)
            .sum();
        PaymentView {
            id: p.id,
            order_id: p.order_id,
            provider: p.provider.clone(),
            amount: p.amount,
            status: p.status,
            capture: p.capture,
            captured: p.captured,
            refunded: Money::new(refunded, p.amount.currency),
            client_secret: p.client_secret.clone(),
            redirect_url: p.redirect_url.clone(),
            last_decline: (p.status == PaymentStatus::RequiresPaymentMethod)
                .then(|| p.attempts.last().and_then(|a| a.decline.clone()))
                .flatten(),
            attempts: p.attempts.clone(),
            refunds: p.refunds.clone(),
            reference: None,
            review: None,
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
        }
    }

    /// The staff view (reference and review flag).
    pub fn staff(p: &Payment) -> PaymentView {
        PaymentView {
            reference: p.reference.clone(),
            review: p.review.clone(),
            ..PaymentView::of(p)
        }
    }
}
