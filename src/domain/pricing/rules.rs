//! The shop's pricing rules as the engine reads them: tax settings, zones and rates, shipping
//! zones and methods, promotions. Stored records and admin inputs convert into these; the
//! engine never sees storage.

use serde::{Deserialize, Serialize};

use super::rate::Rate;
use crate::core::{
    CategoryId, CollectionId, CustomerId, Money, ProductId, PromotionId, ShippingMethodId,
    ShippingZoneId, TaxZoneId, Timestamp, VariantId,
};

/// Everything a quote depends on besides the cart itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// Tax settings, zones and rates.
    pub tax: TaxRules,
    /// Shipping zones with their methods.
    pub shipping: Vec<ShippingZone>,
    /// Promotions, automatic and reached by codes.
    pub promotions: Vec<Promotion>,
}

/// Where amounts are rounded: each line's tax (and percentage discount) on its own, or once per
/// rate (per promotion) over the cart and then allocated back to the lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Round per line (the default; what most tax authorities and Shopify do).
    #[default]
    PerLine,
    /// Round once per total, then allocate by largest remainder.
    PerTotal,
}

/// The shop's tax settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaxRules {
    /// Prices (and shipping rates) are entered with tax included (EU, UK, AU) rather than
    /// before tax (US, CA).
    pub prices_include_tax: bool,
    /// Rounding rule.
    pub rounding: Rounding,
    /// With tax-inclusive prices, the zone whose tax the entered prices contain: a sale the
    /// destination does not tax (export, exempt customer) is charged the price without it.
    pub home_zone: Option<TaxZoneId>,
    /// Zones with their rates.
    pub zones: Vec<TaxZone>,
}

/// A country, optionally narrowed to regions and postal-code prefixes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Area {
    /// ISO 3166-1 alpha-2 code, upper case.
    pub country: String,
    /// Regions (states, provinces) inside it, upper case; empty for the whole country.
    pub regions: Vec<String>,
    /// Postal-code prefixes, upper case without spaces; empty for any.
    pub postal_prefixes: Vec<String>,
}

/// How shipping is taxed in a zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShippingTax {
    /// Shipping is not taxed.
    None,
    /// At the zone's standard rate.
    #[default]
    Standard,
    /// Split over the cart's rates in proportion to the lines' taxable amounts (EU practice).
    Proportional,
}

/// A tax zone: where it applies and its rate per tax category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaxZone {
    /// Id.
    pub id: TaxZoneId,
    /// Name shown on tax lines ("Germany", "New York").
    pub name: String,
    /// Where; an empty list is the rest of the world.
    pub areas: Vec<Area>,
    /// (category, rate). `exempt` is always 0; a category not listed uses `standard`.
    pub rates: Vec<(String, Rate)>,
    /// How shipping is taxed.
    pub shipping: ShippingTax,
}

impl TaxZone {
    /// The rate for `category` in this zone.
    pub fn rate(&self, category: &str) -> Rate {
        if category == EXEMPT {
            return Rate::ZERO;
        }
        let find = |c: &str| self.rates.iter().find(|(k, _)| k == c).map(|(_, r)| *r);
        find(category)
            .or_else(|| find(STANDARD))
            .unwrap_or(Rate::ZERO)
    }
}

/// The standard tax category, which every product has unless told otherwise.
pub const STANDARD: &str = "standard";
/// The reduced tax category (food, books in many countries).
pub const REDUCED: &str = "reduced";
/// The zero-rated category (taxable at 0 %).
pub const ZERO: &str = "zero";
/// The exempt category: never taxed.
pub const EXEMPT: &str = "exempt";
/// The built-in categories; merchants add their own keys beside them.
pub const BUILT_IN_CATEGORIES: [&str; 4] = [STANDARD, REDUCED, ZERO, EXEMPT];

/// A shipping zone and the methods it offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShippingZone {
    /// Id.
    pub id: ShippingZoneId,
    /// Name.
    pub name: String,
    /// Where; an empty list is the rest of the world.
    pub areas: Vec<Area>,
    /// Methods, in the order they are offered.
    pub methods: Vec<ShippingMethod>,
}

/// One way to ship, with its price rule and conditions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShippingMethod {
    /// Id.
    pub id: ShippingMethodId,
    /// Short code (`standard`, `express`, `pickup`), unique in the shop.
    pub code: String,
    /// Name shown at checkout.
    pub name: String,
    /// How the price is found.
    pub rate: RateKind,
    /// Offered only while these hold.
    pub conditions: MethodConditions,
    /// Collected by the customer: no shipping address needed.
    pub pickup: bool,
}

/// A shipping price rule. Subtotals are the goods after discounts; weights in grams.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RateKind {
    /// One price.
    Flat {
        /// Price.
        price: Money,
    },
    /// By weight: the first bracket whose `up_to_grams` holds the parcel.
    Weight {
        /// Ascending brackets.
        brackets: Vec<WeightBracket>,
    },
    /// By subtotal: the last bracket whose `min_subtotal` the goods reach.
    Subtotal {
        /// Ascending brackets.
        brackets: Vec<SubtotalBracket>,
    },
    /// A price, free from a threshold on.
    FreeOver {
        /// Price below the threshold.
        price: Money,
        /// Goods subtotal from which shipping is free.
        threshold: Money,
    },
}

/// A weight bracket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightBracket {
    /// Parcels up to this many grams.
    pub up_to_grams: u64,
    /// Price.
    pub price: Money,
}

/// A subtotal bracket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtotalBracket {
    /// From this goods subtotal.
    pub min_subtotal: Money,
    /// Price.
    pub price: Money,
}

/// When a method is offered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodConditions {
    /// Heaviest parcel in grams.
    pub max_weight_grams: Option<u64>,
    /// Smallest goods subtotal.
    pub min_subtotal: Option<Money>,
    /// Largest goods subtotal.
    pub max_subtotal: Option<Money>,
}

/// A promotion: automatic when it has no codes, otherwise applied by one of its codes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// Id.
    pub id: PromotionId,
    /// Name shown to customers.
    pub name: String,
    /// Whether codes reach it (false: it applies by itself when eligible).
    pub has_codes: bool,
    /// What it does.
    pub effect: Effect,
    /// Which lines it looks at.
    pub scope: Scope,
    /// Who and what qualifies.
    pub conditions: Conditions,
    /// Most uses over all customers.
    pub usage_limit: Option<u32>,
    /// Most uses per customer (by account, or by email for guests).
    pub per_customer_limit: Option<u32>,
    /// May apply together with other promotions.
    pub combinable: bool,
    /// Higher goes first.
    pub priority: i32,
    /// Not before.
    pub starts_at: Option<Timestamp>,
    /// Not from.
    pub ends_at: Option<Timestamp>,
}

/// What a promotion does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// A percentage off each line in scope.
    Percentage {
        /// Percent off.
        percent: Rate,
    },
    /// An amount off the order (spread over the lines in scope) or off each unit in scope.
    Fixed {
        /// Amount.
        amount: Money,
        /// `order` or `item`.
        per: Per,
    },
    /// Shipping costs nothing.
    FreeShipping,
    /// For every `buy` units in scope, `get` more at `percent` off (the cheapest units).
    BuyXGetY {
        /// Units paid in full per application.
        buy: u32,
        /// Units discounted per application.
        get: u32,
        /// Percent off the discounted units (100: free).
        percent: Rate,
        /// Most applications per order.
        max_applications: Option<u32>,
    },
    /// Spend thresholds: the highest tier the scoped subtotal reaches applies.
    Tiered {
        /// Tiers, by ascending `min_subtotal`.
        tiers: Vec<Tier>,
    },
}

/// Per order or per item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// Once per order.
    Order,
    /// Once per unit in scope.
    Item,
}

/// One spend tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    /// From this subtotal of the lines in scope (before discounts).
    pub min_subtotal: Money,
    /// Percent off (exclusive with `amount`).
    pub percent: Option<Rate>,
    /// Amount off (exclusive with `percent`).
    pub amount: Option<Money>,
}

/// Which lines a promotion looks at. Categories include their descendants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Every line.
    #[default]
    All,
    /// Lines of these products.
    Products {
        /// Products.
        ids: Vec<ProductId>,
    },
    /// Lines of these variants.
    Variants {
        /// Variants.
        ids: Vec<VariantId>,
    },
    /// Lines whose product is in these categories (or below them).
    Categories {
        /// Categories.
        ids: Vec<CategoryId>,
    },
    /// Lines whose product is in these collections.
    Collections {
        /// Collections.
        ids: Vec<CollectionId>,
    },
}

/// Who and what qualifies for a promotion.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    /// Subtotal of the lines in scope, before discounts.
    pub min_subtotal: Option<Money>,
    /// Units in scope.
    pub min_quantity: Option<u32>,
    /// Only a customer (or email) without an earlier order.
    pub first_order_only: bool,
    /// Only signed-in customers.
    pub signed_in_only: bool,
    /// Only these customers (empty: anyone).
    pub customers: Vec<CustomerId>,
    /// Only emails at these domains, lower case (empty: any).
    pub email_domains: Vec<String>,
}
