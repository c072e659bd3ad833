//! Pricing: one deterministic, explainable calculation of what a cart costs — line prices,
//! promotions and codes, shipping, tax (inclusive or exclusive), gift-card tenders — shared by
//! the cart, checkout, orders, invoices and refunds. [`quote`] is pure over its input; the
//! order keeps the [`Quote`] it was placed with, so later rule changes never alter it and a
//! refund reverses exactly what its lines were charged.
//!
//! Money rules: integer minor units in each currency's exponent; rounding half away from zero,
//! per line (default) or per total; order-level amounts allocated by largest remainder with
//! ties broken by variant id, so allocations sum exactly and do not depend on line order;
//! nothing is ever negative.

mod engine;
mod input;
mod promotions;
mod quote;
mod rate;
mod refunds;
mod rules;
mod shipping;
mod tax;
mod view;
mod work;
mod zones;

#[cfg(test)]
mod tests;

pub use engine::{PricingError, quote};
pub use input::{Buyer, CodeInput, Destination, GiftCardInput, LineInput, QuoteInput};
pub use quote::{
    AppliedDiscount, Explanation, LineDiscount, Quote, QuoteLine, QuoteShipping, Refusal, TaxLine,
    Tender, Totals,
};
pub use rate::{Rate, RateError, allocate, round_div};
pub use refunds::RefundError;
pub use rules::{
    Area, BUILT_IN_CATEGORIES, Conditions, EXEMPT, Effect, MethodConditions, Per, Promotion,
    REDUCED, RateKind, Rounding, Rules, STANDARD, Scope, ShippingMethod, ShippingTax, ShippingZone,
    SubtotalBracket, TaxRules, TaxZone, Tier, WeightBracket, ZERO,
};
pub use shipping::{Offer, offers, zone_for as shipping_zone_for};
pub use view::{DiscountView, ExplanationView, PricedView, TotalsView};
