//! What `payment.*` and `refund.*` webhooks carry: payload types of their own, versioned,
//! built from the records (never from the API views).

use serde::Serialize;

use super::model::{Payment, Refund, RefundKind, RefundStatus};
use crate::core::{Money, OrderId, PaymentId, RefundId, Timestamp};
use crate::domain::events::Payload;
use crate::gateway::PaymentStatus;

/// `data` of `payment.*` events, version 1.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PaymentEventV1 {
    /// `pay_…`.
    #[schema(value_type = String)]
    pub id: PaymentId,
    /// `ord_…`.
    #[schema(value_type = String)]
    pub order_id: OrderId,
    /// `test`, `stripe` or `manual`.
    pub provider: String,
    /// Amount due.
    pub amount: Money,
    /// Status after the change.
    pub status: PaymentStatus,
    /// The decline code of a refused attempt (`payment.failed`).
    pub decline_code: Option<String>,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}
impl Payload for PaymentEventV1 {
    const VERSION: u32 = 1;
}

impl PaymentEventV1 {
    /// The payload of `p`.
    pub fn of(p: &Payment) -> Self {
        PaymentEventV1 {
            id: p.id,
            order_id: p.order_id,
            provider: p.provider.clone(),
            amount: p.amount,
            status: p.status,
            decline_code: p
                .attempts
                .last()
                .and_then(|a| a.decline.as_ref())
                .map(|d| d.decline_code.clone()),
            updated_at: p.updated_at,
        }
    }
}

/// `data` of `refund.*` and `payment.refunded_unfulfillable` events, version 1.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RefundEventV1 {
    /// `ref_…`.
    #[schema(value_type = String)]
    pub id: RefundId,
    /// `pay_…`.
    #[schema(value_type = String)]
    pub payment_id: PaymentId,
    /// `ord_…`.
    #[schema(value_type = String)]
    pub order_id: OrderId,
    /// How much.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// Staff, unfulfillable or duplicate.
    pub kind: RefundKind,
    /// Status after the change.
    pub status: RefundStatus,
    /// Why the provider refused it.
    pub failure: Option<String>,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}
impl Payload for RefundEventV1 {
    const VERSION: u32 = 1;
}

impl RefundEventV1 {
    /// The payload of refund `r` of `p`.
    pub fn of(p: &Payment, r: &Refund) -> Self {
        RefundEventV1 {
            id: r.id,
            payment_id: p.id,
            order_id: p.order_id,
            amount: r.amount,
            reason: r.reason.clone(),
            kind: r.kind,
            status: r.status,
            failure: r.failure.clone(),
            updated_at: r.updated_at,
        }
    }
}
