//! What `promotion.*` webhooks carry: a payload type of its own, versioned, so a change to the
//! admin view never changes what merchants' endpoints receive.

use serde::Serialize;

use super::model::PromotionRecord;
use crate::core::{PromotionId, Timestamp};
use crate::domain::events::Payload;
use crate::domain::pricing::Effect;

/// `data` of `promotion.created`, `promotion.updated` and `promotion.deleted`, version 1.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PromotionEventV1 {
    /// `promo_…`.
    #[schema(value_type = String)]
    pub id: PromotionId,
    /// Name shown to customers.
    pub name: String,
    /// Its own code, if any.
    pub code: Option<String>,
    /// Applies by itself (no codes).
    pub automatic: bool,
    /// `percentage`, `fixed`, `free_shipping`, `buy_x_get_y` or `tiered`.
    pub effect_type: String,
    /// Combinable with other promotions.
    pub combinable: bool,
    /// Priority (higher first).
    pub priority: i32,
    /// Most uses in total.
    pub usage_limit: Option<u32>,
    /// Not before.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Timestamp>,
    /// Not from.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Timestamp>,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}
impl Payload for PromotionEventV1 {
    const VERSION: u32 = 1;
}

impl PromotionEventV1 {
    /// The payload of a promotion record.
    pub fn of(r: &PromotionRecord) -> Self {
        let p = &r.promo;
        PromotionEventV1 {
            id: p.id,
            name: p.name.clone(),
            code: r.code.clone(),
            automatic: !p.has_codes,
            effect_type: match p.effect {
                Effect::Percentage { .. } => "percentage",
                Effect::Fixed { .. } => "fixed",
                Effect::FreeShipping => "free_shipping",
                Effect::BuyXGetY { .. } => "buy_x_get_y",
                Effect::Tiered { .. } => "tiered",
            }
            .to_owned(),
            combinable: p.combinable,
            priority: p.priority,
            usage_limit: p.usage_limit,
            starts_at: p.starts_at,
            ends_at: p.ends_at,
            updated_at: r.updated_at,
        }
    }
}
