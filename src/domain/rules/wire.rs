//! The JSON shapes of the pricing admin API, separate from the engine's (stored) types: the
//! wire uses tagged objects and decimal-percent strings; records use postcard. Each input is
//! parsed into engine values here, with every invalid field named.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::core::{
    CategoryId, CollectionId, Currency, CustomerId, FieldIssue, Money, ProductId, Timestamp,
    VariantId,
};
use crate::domain::pricing::{self as p, Rate};

/// Collects field issues while parsing an input.
#[derive(Default)]
pub struct Issues(pub Vec<FieldIssue>);

impl Issues {
    /// Records a problem with `field`.
    pub fn add(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(FieldIssue::new(field, code, message.into()));
    }

    /// A trimmed name of 1–200 characters.
    pub fn name(&mut self, field: &str, v: &str) -> String {
        let t = v.trim();
        if t.is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control) {
            self.add(field, "invalid", "must be 1 to 200 characters");
        }
        t.to_owned()
    }

    /// Money in the shop's currency, not negative.
    pub fn money(&mut self, field: &str, m: Money, currency: Currency) -> Money {
        if m.currency != currency {
            self.add(
                field,
                "currency",
                format!("must be in the shop's currency {currency}"),
            );
        } else if m.amount < 0 || m.amount > 1_000_000_000_000 {
            self.add(field, "out_of_range", "must be from 0 to 10^12 minor units");
        }
        m
    }
}

/// A country, optionally narrowed to regions and postal-code prefixes.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaWire {
    /// ISO 3166-1 alpha-2 code.
    pub country: String,
    /// Regions (states, provinces); empty for the whole country.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Postal-code prefixes; empty for any.
    #[serde(default)]
    pub postal_prefixes: Vec<String>,
}

impl AreaWire {
    /// The view of a stored area.
    pub fn of(a: &p::Area) -> AreaWire {
        AreaWire {
            country: a.country.clone(),
            regions: a.regions.clone(),
            postal_prefixes: a.postal_prefixes.clone(),
        }
    }
}

/// Parses areas (at most 100; an empty list is the rest of the world).
pub fn areas(issues: &mut Issues, field: &str, list: &[AreaWire]) -> Vec<p::Area> {
    if list.len() > 100 {
        issues.add(field, "too_many", "at most 100 areas");
    }
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_uppercase()
    };
    list.iter()
        .take(100)
        .enumerate()
        .map(|(i, a)| {
            let country = a.country.trim().to_ascii_uppercase();
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
                issues.add(
                    format!("{field}[{i}].country"),
                    "invalid",
                    "must be an ISO 3166-1 alpha-2 code",
                );
            }
            if a.regions.len() > 100
                || a.regions
                    .iter()
                    .any(|r| r.trim().is_empty() || r.len() > 50)
            {
                issues.add(
                    format!("{field}[{i}].regions"),
                    "invalid",
                    "at most 100 regions of 1 to 50 characters",
                );
            }
            let ok_prefix =
                |s: &String| !s.is_empty() && s.len() <= 12 && s.chars().all(char::is_alphanumeric);
            let prefixes: Vec<String> = a.postal_prefixes.iter().map(|s| clean(s)).collect();
            if prefixes.len() > 1000 || !prefixes.iter().all(ok_prefix) {
                issues.add(
                    format!("{field}[{i}].postal_prefixes"),
                    "invalid",
                    "at most 1,000 prefixes of 1 to 12 letters or digits",
                );
            }
            p::Area {
                country,
                regions: a.regions.iter().map(|r| r.trim().to_uppercase()).collect(),
                postal_prefixes: prefixes,
            }
        })
        .collect()
}

/// Per-line or per-total rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoundingWire {
    /// Each line's tax and percentage discount rounded on its own (default).
    #[default]
    PerLine,
    /// Rounded once per rate or promotion, then allocated by largest remainder.
    PerTotal,
}

impl From<RoundingWire> for p::Rounding {
    fn from(r: RoundingWire) -> Self {
        match r {
            RoundingWire::PerLine => p::Rounding::PerLine,
            RoundingWire::PerTotal => p::Rounding::PerTotal,
        }
    }
}

impl From<p::Rounding> for RoundingWire {
    fn from(r: p::Rounding) -> Self {
        match r {
            p::Rounding::PerLine => RoundingWire::PerLine,
            p::Rounding::PerTotal => RoundingWire::PerTotal,
        }
    }
}

/// How a zone taxes shipping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShippingTaxWire {
    /// Not taxed.
    None,
    /// At the zone's standard rate (default).
    #[default]
    Standard,
    /// In proportion to the cart's rates.
    Proportional,
}

impl From<ShippingTaxWire> for p::ShippingTax {
    fn from(s: ShippingTaxWire) -> Self {
        match s {
            ShippingTaxWire::None => p::ShippingTax::None,
            ShippingTaxWire::Standard => p::ShippingTax::Standard,
            ShippingTaxWire::Proportional => p::ShippingTax::Proportional,
        }
    }
}

impl From<p::ShippingTax> for ShippingTaxWire {
    fn from(s: p::ShippingTax) -> Self {
        match s {
            p::ShippingTax::None => ShippingTaxWire::None,
            p::ShippingTax::Standard => ShippingTaxWire::Standard,
            p::ShippingTax::Proportional => ShippingTaxWire::Proportional,
        }
    }
}

/// A shipping price rule.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RateKindWire {
    /// One price.
    Flat {
        /// Price.
        price: Money,
    },
    /// By weight: the first bracket whose `up_to_grams` holds the parcel.
    Weight {
        /// Brackets (1–50).
        brackets: Vec<WeightBracketWire>,
    },
    /// By goods subtotal after discounts: the highest bracket reached.
    Subtotal {
        /// Brackets (1–50).
        brackets: Vec<SubtotalBracketWire>,
    },
    /// A price, free from a goods subtotal (after discounts) on.
    FreeOver {
        /// Price below the threshold.
        price: Money,
        /// Threshold.
        threshold: Money,
    },
}

/// A weight bracket.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightBracketWire {
    /// Parcels up to this many grams.
    pub up_to_grams: u64,
    /// Price.
    pub price: Money,
}

/// A subtotal bracket.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubtotalBracketWire {
    /// From this goods subtotal.
    pub min_subtotal: Money,
    /// Price.
    pub price: Money,
}

impl RateKindWire {
    /// Parses into the engine's rate kind.
    pub fn parse(&self, issues: &mut Issues, field: &str, c: Currency) -> p::RateKind {
        let mut brackets_ok = |n: usize| {
            if n == 0 || n > 50 {
                issues.add(format!("{field}.brackets"), "invalid", "1 to 50 brackets");
            }
        };
        match self {
            RateKindWire::Flat { price } => p::RateKind::Flat {
                price: issues.money(&format!("{field}.price"), *price, c),
            },
            RateKindWire::Weight { brackets } => {
                brackets_ok(brackets.len());
                p::RateKind::Weight {
                    brackets: brackets
                        .iter()
                        .enumerate()
                        .map(|(i, b)| p::WeightBracket {
                            up_to_grams: b.up_to_grams,
                            price: issues.money(
                                &format!("{field}.brackets[{i}].price"),
                                b.price,
                                c,
                            ),
                        })
                        .collect(),
                }
            }
            RateKindWire::Subtotal { brackets } => {
                brackets_ok(brackets.len());
                p::RateKind::Subtotal {
                    brackets: brackets
                        .iter()
                        .enumerate()
                        .map(|(i, b)| p::SubtotalBracket {
                            min_subtotal: issues.money(
                                &format!("{field}.brackets[{i}].min_subtotal"),
                                b.min_subtotal,
                                c,
                            ),
                            price: issues.money(
                                &format!("{field}.brackets[{i}].price"),
                                b.price,
                                c,
                            ),
                        })
                        .collect(),
                }
            }
            RateKindWire::FreeOver { price, threshold } => p::RateKind::FreeOver {
                price: issues.money(&format!("{field}.price"), *price, c),
                threshold: issues.money(&format!("{field}.threshold"), *threshold, c),
            },
        }
    }

    /// The view of a stored rate kind.
    pub fn of(k: &p::RateKind) -> RateKindWire {
        match k {
            p::RateKind::Flat { price } => RateKindWire::Flat { price: *price },
            p::RateKind::Weight { brackets } => RateKindWire::Weight {
                brackets: brackets
                    .iter()
                    .map(|b| WeightBracketWire {
                        up_to_grams: b.up_to_grams,
                        price: b.price,
                    })
                    .collect(),
            },
            p::RateKind::Subtotal { brackets } => RateKindWire::Subtotal {
                brackets: brackets
                    .iter()
                    .map(|b| SubtotalBracketWire {
                        min_subtotal: b.min_subtotal,
                        price: b.price,
                    })
                    .collect(),
            },
            p::RateKind::FreeOver { price, threshold } => RateKindWire::FreeOver {
                price: *price,
                threshold: *threshold,
            },
        }
    }
}

/// When a method is offered.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodConditionsWire {
    /// Heaviest parcel in grams.
    #[serde(default)]
    pub max_weight_grams: Option<u64>,
    /// Smallest goods subtotal.
    #[serde(default)]
    pub min_subtotal: Option<Money>,
    /// Largest goods subtotal.
    #[serde(default)]
    pub max_subtotal: Option<Money>,
}

/// What a promotion does.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EffectWire {
    /// A percentage off each line in scope.
    Percentage {
        /// Percent off (`"12.5"` or `10`).
        #[schema(value_type = String, example = "10")]
        percent: Rate,
    },
    /// An amount off the order (spread over its lines) or off each unit in scope.
    Fixed {
        /// Amount.
        amount: Money,
        /// `order` (default) or `item`.
        #[serde(default)]
        per: PerWire,
    },
    /// Shipping costs nothing.
    FreeShipping,
    /// For every `buy` units in scope, `get` more (the cheapest) at `percent` off.
    BuyXGetY {
        /// Units paid in full per application.
        buy: u32,
        /// Units discounted per application.
        get: u32,
        /// Percent off the discounted units (default 100: free).
        #[serde(default = "full")]
        #[schema(value_type = String, example = "100")]
        percent: Rate,
        /// Most applications per order.
        #[serde(default)]
        max_applications: Option<u32>,
    },
    /// Spend tiers: the highest reached applies.
    Tiered {
        /// 1–10 tiers by ascending `min_subtotal`.
        tiers: Vec<TierWire>,
    },
}

fn full() -> Rate {
    Rate::FULL
}

/// Once per order or per unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PerWire {
    /// Once per order.
    #[default]
    Order,
    /// Per unit in scope.
    Item,
}

/// One spend tier: exactly one of `percent` and `amount`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierWire {
    /// From this subtotal of the lines in scope.
    pub min_subtotal: Money,
    /// Percent off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub percent: Option<Rate>,
    /// Amount off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

impl EffectWire {
    /// Parses into the engine's effect.
    pub fn parse(&self, issues: &mut Issues, c: Currency) -> p::Effect {
        match self {
            EffectWire::Percentage { percent } => p::Effect::Percentage { percent: *percent },
            EffectWire::Fixed { amount, per } => {
                if amount.amount == 0 {
                    issues.add("effect.amount", "must_be_positive", "must be more than 0");
                }
                p::Effect::Fixed {
                    amount: issues.money("effect.amount", *amount, c),
                    per: match per {
                        PerWire::Order => p::Per::Order,
                        PerWire::Item => p::Per::Item,
                    },
                }
            }
            EffectWire::FreeShipping => p::Effect::FreeShipping,
            EffectWire::BuyXGetY {
                buy,
                get,
                percent,
                max_applications,
            } => {
                if !(1..=1000).contains(buy) || !(1..=1000).contains(get) {
                    issues.add("effect", "invalid", "buy and get must be 1 to 1,000");
                }
                if max_applications == &Some(0) {
                    issues.add(
                        "effect.max_applications",
                        "must_be_positive",
                        "must be at least 1",
                    );
                }
                p::Effect::BuyXGetY {
                    buy: *buy,
                    get: *get,
                    percent: *percent,
                    max_applications: *max_applications,
                }
            }
            EffectWire::Tiered { tiers } => p::Effect::Tiered {
                tiers: parse_tiers(issues, tiers, c),
            },
        }
    }

    /// The view of a stored effect.
    pub fn of(e: &p::Effect) -> EffectWire {
        match e {
            p::Effect::Percentage { percent } => EffectWire::Percentage { percent: *percent },
            p::Effect::Fixed { amount, per } => EffectWire::Fixed {
                amount: *amount,
                per: match per {
                    p::Per::Order => PerWire::Order,
                    p::Per::Item => PerWire::Item,
                },
            },
            p::Effect::FreeShipping => EffectWire::FreeShipping,
            p::Effect::BuyXGetY {
                buy,
                get,
                percent,
                max_applications,
            } => EffectWire::BuyXGetY {
                buy: *buy,
                get: *get,
                percent: *percent,
                max_applications: *max_applications,
            },
            p::Effect::Tiered { tiers } => EffectWire::Tiered {
                tiers: tiers
                    .iter()
                    .map(|t| TierWire {
                        min_subtotal: t.min_subtotal,
                        percent: t.percent,
                        amount: t.amount,
                    })
                    .collect(),
            },
        }
    }
}

fn parse_tiers(issues: &mut Issues, tiers: &[TierWire], c: Currency) -> Vec<p::Tier> {
    if tiers.is_empty() || tiers.len() > 10 {
        issues.add("effect.tiers", "invalid", "1 to 10 tiers");
    }
    if tiers
        .windows(2)
        .any(|w| w[0].min_subtotal.amount >= w[1].min_subtotal.amount)
    {
        issues.add("effect.tiers", "invalid", "min_subtotal must ascend");
    }
    tiers
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if t.percent.is_some() == t.amount.is_some() {
                issues.add(
                    format!("effect.tiers[{i}]"),
                    "invalid",
                    "give exactly one of percent and amount",
                );
            }
            p::Tier {
                min_subtotal: issues.money(
                    &format!("effect.tiers[{i}].min_subtotal"),
                    t.min_subtotal,
                    c,
                ),
                percent: t.percent,
                amount: t
                    .amount
                    .map(|a| issues.money(&format!("effect.tiers[{i}].amount"), a, c)),
            }
        })
        .collect()
}

/// Which lines a promotion looks at (default: all).
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScopeWire {
    /// Every line.
    #[default]
    All,
    /// These products.
    Products {
        /// `prod_…` (1–1,000).
        #[schema(value_type = Vec<String>)]
        ids: Vec<ProductId>,
    },
    /// These variants.
    Variants {
        /// `var_…` (1–1,000).
        #[schema(value_type = Vec<String>)]
        ids: Vec<VariantId>,
    },
    /// Products in these categories or below them.
    Categories {
        /// `cat_…` (1–1,000).
        #[schema(value_type = Vec<String>)]
        ids: Vec<CategoryId>,
    },
    /// Products in these collections.
    Collections {
        /// `col_…` (1–1,000).
        #[schema(value_type = Vec<String>)]
        ids: Vec<CollectionId>,
    },
}

impl ScopeWire {
    /// Parses into the engine's scope.
    pub fn parse(&self, issues: &mut Issues) -> p::Scope {
        let mut n = |len: usize| {
            if len == 0 || len > 1000 {
                issues.add("scope.ids", "invalid", "1 to 1,000 ids");
            }
        };
        match self {
            ScopeWire::All => p::Scope::All,
            ScopeWire::Products { ids } => {
                n(ids.len());
                p::Scope::Products { ids: ids.clone() }
            }
            ScopeWire::Variants { ids } => {
                n(ids.len());
                p::Scope::Variants { ids: ids.clone() }
            }
            ScopeWire::Categories { ids } => {
                n(ids.len());
                p::Scope::Categories { ids: ids.clone() }
            }
            ScopeWire::Collections { ids } => {
                n(ids.len());
                p::Scope::Collections { ids: ids.clone() }
            }
        }
    }

    /// The view of a stored scope.
    pub fn of(s: &p::Scope) -> ScopeWire {
        match s {
            p::Scope::All => ScopeWire::All,
            p::Scope::Products { ids } => ScopeWire::Products { ids: ids.clone() },
            p::Scope::Variants { ids } => ScopeWire::Variants { ids: ids.clone() },
            p::Scope::Categories { ids } => ScopeWire::Categories { ids: ids.clone() },
            p::Scope::Collections { ids } => ScopeWire::Collections { ids: ids.clone() },
        }
    }
}

/// Who and what qualifies.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionsWire {
    /// Subtotal of the lines in scope, before discounts.
    #[serde(default)]
    pub min_subtotal: Option<Money>,
    /// Units in scope.
    #[serde(default)]
    pub min_quantity: Option<u32>,
    /// Only a customer (or email) without an earlier order.
    #[serde(default)]
    pub first_order_only: bool,
    /// Only signed-in customers.
    #[serde(default)]
    pub signed_in_only: bool,
    /// Only these customers.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub customers: Vec<CustomerId>,
    /// Only emails at these domains.
    #[serde(default)]
    pub email_domains: Vec<String>,
}

impl ConditionsWire {
    /// Parses into the engine's conditions.
    pub fn parse(&self, issues: &mut Issues, c: Currency) -> p::Conditions {
        if self.customers.len() > 10_000 {
            issues.add(
                "conditions.customers",
                "too_many",
                "at most 10,000 customers",
            );
        }
        let domains: Vec<String> = self
            .email_domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
            .collect();
        if domains.len() > 100
            || domains
                .iter()
                .any(|d| d.is_empty() || d.len() > 253 || !d.contains('.'))
        {
            issues.add(
                "conditions.email_domains",
                "invalid",
                "at most 100 domains such as example.com",
            );
        }
        p::Conditions {
            min_subtotal: self
                .min_subtotal
                .map(|m| issues.money("conditions.min_subtotal", m, c)),
            min_quantity: self.min_quantity,
            first_order_only: self.first_order_only,
            signed_in_only: self.signed_in_only,
            customers: self.customers.clone(),
            email_domains: domains,
        }
    }

    /// The view of stored conditions.
    pub fn of(c: &p::Conditions) -> ConditionsWire {
        ConditionsWire {
            min_subtotal: c.min_subtotal,
            min_quantity: c.min_quantity,
            first_order_only: c.first_order_only,
            signed_in_only: c.signed_in_only,
            customers: c.customers.clone(),
            email_domains: c.email_domains.clone(),
        }
    }
}

/// The validity window, checked together.
pub fn window(issues: &mut Issues, starts: Option<Timestamp>, ends: Option<Timestamp>) {
    if let (Some(s), Some(e)) = (starts, ends)
        && s >= e
    {
        issues.add("ends_at", "invalid", "must be after starts_at");
    }
}
