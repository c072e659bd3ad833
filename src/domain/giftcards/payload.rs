//! What `gift_card.*` webhooks carry (never the code).

use serde::Serialize;

use super::model::{GiftCard, Source};
use crate::core::{GiftCardId, Money, OrderId, Timestamp};
use crate::domain::events::Payload;

/// `data` of `gift_card.issued`, version 1.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GiftCardEventV1 {
    /// `gc_…`.
    #[schema(value_type = String)]
    pub id: GiftCardId,
    /// Last four characters of the code.
    pub last4: String,
    /// Value when issued.
    pub initial: Money,
    /// Value left.
    pub balance: Money,
    /// The order that bought it (`null` when staff issued it).
    #[schema(value_type = Option<String>)]
    pub order_id: Option<OrderId>,
    /// Expiry.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// Issued.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}
impl Payload for GiftCardEventV1 {
    const VERSION: u32 = 1;
}

impl GiftCardEventV1 {
    /// The payload of a card.
    pub fn of(c: &GiftCard) -> Self {
        GiftCardEventV1 {
            id: c.id,
            last4: c.last4.clone(),
            initial: c.initial,
            balance: c.balance,
            order_id: match c.source {
                Source::Order(o) => Some(o),
                Source::Staff(_) => None,
            },
            expires_at: c.expires_at,
            created_at: c.created_at,
        }
    }
}
