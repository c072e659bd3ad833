//! How quotes appear in API views (carts, orders): the contract's `totals`, the discounts that
//! applied and the explanation. Separate from the stored [`Quote`] so the wire can change
//! without touching records.

use serde::Serialize;
use utoipa::ToSchema;

use super::quote::{Quote, Totals};
use crate::core::{Money, PromotionId};

/// Money of a cart or order. Exclusive prices: subtotal − discount + shipping + tax = total;
/// inclusive: subtotal − discount + shipping = total, which contains the tax.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TotalsView {
    /// Goods before discounts.
    pub subtotal: Money,
    /// Every discount (shipping's included).
    pub discount: Money,
    /// Shipping before its discount.
    pub shipping: Money,
    /// Tax.
    pub tax: Money,
    /// Gift cards tendered.
    pub gift_cards: Money,
    /// What it costs.
    pub total: Money,
    /// Left to pay after gift cards.
    pub amount_due: Money,
}

impl TotalsView {
    /// The view of a quote's totals.
    pub fn of(t: &Totals) -> TotalsView {
        TotalsView {
            subtotal: t.subtotal,
            discount: t.discount,
            shipping: t.shipping,
            tax: t.tax,
            gift_cards: t.gift_cards,
            total: t.total,
            amount_due: t.amount_due,
        }
    }
}

/// A promotion that applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct DiscountView {
    /// `promo_…`.
    #[schema(value_type = String)]
    pub promotion_id: PromotionId,
    /// Name.
    pub name: String,
    /// The code that applied it (`null` for automatic promotions).
    pub code: Option<String>,
    /// Amount taken off.
    pub amount: Money,
}

/// One rule considered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExplanationView {
    /// What was considered (`code SAVE10 (promotion promo_… "Summer")`, `tax …`, `shipping …`).
    pub rule: String,
    /// Whether it applied.
    pub applied: bool,
    /// What it came to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// Why not (for a code, the reason a refusal names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The pricing parts of a cart or order view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct PricedView {
    /// Totals.
    pub totals: TotalsView,
    /// Whether prices include tax.
    pub tax_inclusive: bool,
    /// Promotions that applied.
    pub discounts: Vec<DiscountView>,
    /// Every rule considered.
    pub explanation: Vec<ExplanationView>,
}

impl PricedView {
    /// The view of a quote.
    pub fn of(q: &Quote) -> PricedView {
        PricedView {
            totals: TotalsView::of(&q.totals),
            tax_inclusive: q.tax_inclusive,
            discounts: q
                .discounts
                .iter()
                .map(|d| DiscountView {
                    promotion_id: d.promotion_id,
                    name: d.name.clone(),
                    code: d.code.clone(),
                    amount: d.amount,
                })
                .collect(),
            explanation: q
                .explanation
                .iter()
                .map(|e| ExplanationView {
                    rule: e.rule.clone(),
                    applied: e.applied,
                    amount: e.amount,
                    reason: e.reason.clone(),
                })
                .collect(),
        }
    }
}
