//! A quote: every amount of a priced cart, per line and in total, with the explanation. The
//! order stores it, so invoices and refunds read what was charged instead of re-computing.

use serde::{Deserialize, Serialize};

use super::rate::Rate;
use super::rules::Rounding;
use crate::core::{
    Currency, GiftCardId, LineId, Money, ProductId, PromotionId, ShippingMethodId, TaxZoneId,
    VariantId,
};

/// A priced cart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// Currency of every amount.
    pub currency: Currency,
    /// Whether prices include tax (totals then contain `tax` rather than add it).
    pub tax_inclusive: bool,
    /// Rounding rule used.
    pub rounding: Rounding,
    /// The tax zone of the destination, if any matched.
    pub tax_zone: Option<TaxZoneId>,
    /// Lines in the cart's order.
    pub lines: Vec<QuoteLine>,
    /// Shipping, when a method was chosen and is available.
    pub shipping: Option<QuoteShipping>,
    /// Promotions that applied, with what each took off in total.
    pub discounts: Vec<AppliedDiscount>,
    /// Tax per (zone, category, rate).
    pub tax_lines: Vec<TaxLine>,
    /// Gift cards tendered.
    pub gift_cards: Vec<Tender>,
    /// Sums.
    pub totals: Totals,
    /// Every rule considered: what applied with its amount, what did not and why.
    pub explanation: Vec<Explanation>,
    /// Codes entered that did not apply, with the reason.
    pub refused_codes: Vec<(String, Refusal)>,
}

/// One priced line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuoteLine {
    /// The cart line.
    pub line_id: LineId,
    /// Variant.
    pub variant_id: VariantId,
    /// Product.
    pub product_id: ProductId,
    /// Units.
    pub quantity: i64,
    /// Price per unit charged before discounts (tax-inclusive prices without the home tax
    /// when the destination does not tax the line).
    pub unit_price: Money,
    /// Unit price × quantity.
    pub subtotal: Money,
    /// Discounts on this line: its own, then its share of order-level ones.
    pub discounts: Vec<LineDiscount>,
    /// Sum of `discounts`.
    pub discount: Money,
    /// Tax category.
    pub tax_category: String,
    /// Rate charged.
    pub tax_rate: Rate,
    /// Tax on this line.
    pub tax: Money,
    /// What this line costs the customer, tax included.
    pub total: Money,
    /// Whether it ships.
    pub requires_shipping: bool,
}

/// A discount on one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDiscount {
    /// The promotion.
    pub promotion_id: PromotionId,
    /// Amount taken off this line.
    pub amount: Money,
    /// Whether it is this line's own discount or its share of an order-level one.
    pub allocated: bool,
}

/// The shipping part of a quote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuoteShipping {
    /// Method.
    pub method_id: ShippingMethodId,
    /// Method code.
    pub code: String,
    /// Method name.
    pub name: String,
    /// Price before discount.
    pub price: Money,
    /// Discount (free shipping).
    pub discount: Money,
    /// Tax on shipping.
    pub tax: Money,
    /// What shipping costs the customer, tax included.
    pub total: Money,
}

/// A promotion that applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedDiscount {
    /// Promotion.
    pub promotion_id: PromotionId,
    /// Its name.
    pub name: String,
    /// The code that applied it (none for automatic promotions).
    pub code: Option<String>,
    /// Total taken off (lines and shipping).
    pub amount: Money,
}

/// Tax of one rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaxLine {
    /// Zone.
    pub zone_id: TaxZoneId,
    /// Zone name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Rate.
    pub rate: Rate,
    /// Amount taxed (net for exclusive prices, gross for inclusive).
    pub base: Money,
    /// Tax.
    pub amount: Money,
}

/// A gift card tendered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tender {
    /// Card.
    pub gift_card_id: GiftCardId,
    /// Last four characters of its code.
    pub last4: String,
    /// Amount taken from it.
    pub amount: Money,
}

/// Sums of a quote. Exclusive: subtotal − discount + shipping + tax = total; inclusive:
/// subtotal − discount + shipping = total, which contains tax. amount_due = total − gift_cards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Goods before discounts.
    pub subtotal: Money,
    /// Every discount, shipping's included.
    pub discount: Money,
    /// Shipping before its discount.
    pub shipping: Money,
    /// Tax (added for exclusive prices, contained for inclusive ones).
    pub tax: Money,
    /// Gift cards tendered.
    pub gift_cards: Money,
    /// What the order costs.
    pub total: Money,
    /// What is left to pay after gift cards.
    pub amount_due: Money,
}

/// One rule considered for the quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// What was considered: `promotion promo_… "Summer"`, `code SAVE10`, `tax …`, `shipping …`,
    /// `gift card …1234`.
    pub rule: String,
    /// Whether it applied.
    pub applied: bool,
    /// What it came to, when it applied.
    pub amount: Option<Money>,
    /// Why it did not apply (for codes, the same reason a refusal carries).
    pub reason: Option<String>,
}

/// Why a promotion or code did not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No such code.
    Unknown,
    /// Past its end.
    Expired,
    /// Before its start.
    NotStarted,
    /// Used up in total, by this customer, or (a single-use code) itself.
    UsageLimitReached,
    /// Subtotal or quantity below the minimum.
    MinimumNotMet,
    /// Nothing in the cart or about the buyer qualifies.
    NotApplicable,
    /// Another promotion that cannot be combined applies.
    NotCombinable,
}

impl Refusal {
    /// The stable code (also the 422's `code`).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown",
            Refusal::Expired => "expired",
            Refusal::NotStarted => "not_started",
            Refusal::UsageLimitReached => "usage_limit_reached",
            Refusal::MinimumNotMet => "minimum_not_met",
            Refusal::NotApplicable => "not_applicable",
            Refusal::NotCombinable => "not_combinable",
        }
    }
}

impl Quote {
    /// Why `code` did not apply, if it was entered and refused.
    pub fn refusal_of(&self, code: &str) -> Option<Refusal> {
        self.refused_codes
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .map(|(_, r)| *r)
    }
}
