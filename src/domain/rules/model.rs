//! Stored pricing rules: records, their tables, and the views staff see. Records wrap the
//! engine's own values (postcard-encoded, versioned); views are the wire shapes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::wire::{
    AreaWire, ConditionsWire, EffectWire, MethodConditionsWire, RateKindWire, RoundingWire,
    ScopeWire, ShippingTaxWire,
};
use crate::core::{
    CustomerId, PromotionId, ShippingMethodId, ShippingZoneId, TaxZoneId, Timestamp,
};
use crate::domain::pricing::{self as p, Rate};
use crate::storage::{Table, Value};

/// The shop's tax settings (one row, key `shop`).
pub(super) const SETTINGS: Table<String, TaxSettings> = Table::new("pricing_tax_settings");
/// Bumped by every rules write: a cached snapshot older than this is reloaded.
pub(super) const RULES_VERSION: Table<(), u64> = Table::new("pricing_rules_version");
/// Merchant-defined tax categories by key (the built-in four are not stored).
pub(super) const CATEGORIES: Table<String, TaxCategory> = Table::new("tax_categories");
/// Tax zones.
pub(super) const TAX_ZONES: Table<TaxZoneId, TaxZoneRecord> = Table::new("tax_zones");
/// Shipping zones with their methods.
pub(super) const SHIPPING_ZONES: Table<ShippingZoneId, ShippingZoneRecord> =
    Table::new("shipping_zones");
/// Promotions.
pub(super) const PROMOTIONS: Table<PromotionId, PromotionRecord> = Table::new("promotions");
/// Codes (upper case) → promotion.
pub(super) const CODES: Table<String, CodeRecord> = Table::new("promotion_codes");
/// (promotion, code): a promotion's codes, for listing and export.
pub(super) const CODES_BY_PROMOTION: Table<(PromotionId, String), ()> =
    Table::new("promotion_codes_by_promotion");
/// How many promotions exist (bounded by [`MAX_PROMOTIONS`] without a scan in the writer).
pub(super) const PROMOTION_COUNT: Table<(), u32> = Table::new("promotion_count");
/// Uses of each promotion, counted in the checkout's write.
pub(super) const USES: Table<PromotionId, u32> = Table::new("promotion_uses");
/// Uses per (promotion, customer id or `email:…`).
pub(super) const SUBJECT_USES: Table<(PromotionId, String), u32> =
    Table::new("promotion_subject_uses");

/// B2B customers exempt from tax, with their tax id.
pub(super) const EXEMPTIONS: Table<CustomerId, TaxExemption> = Table::new("tax_exemptions");

/// Most tax zones, shipping zones and promotions a shop keeps (each list is read whole into
/// the rules snapshot, so it is bounded where it is created).
pub const MAX_ZONES: usize = 200;
/// Most promotions (active or not).
pub const MAX_PROMOTIONS: usize = 1000;
/// Most merchant-defined tax categories.
pub const MAX_CATEGORIES: usize = 100;

/// Tax settings as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaxSettings {
    /// Prices entered with tax included.
    pub prices_include_tax: bool,
    /// Rounding rule.
    pub rounding: p::Rounding,
    /// The zone inclusive prices are entered for.
    pub home_zone: Option<TaxZoneId>,
}
impl Value for TaxSettings {}

/// A merchant-defined tax category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaxCategory {
    /// Key used on products and rates (`[a-z0-9_]`, 1–50).
    pub key: String,
    /// Name.
    pub name: String,
    /// Creation.
    pub created_at: Timestamp,
}
impl Value for TaxCategory {}

/// A stored tax zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaxZoneRecord {
    /// The zone as the engine reads it.
    pub zone: p::TaxZone,
    /// Creation.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}
impl Value for TaxZoneRecord {}

/// A stored shipping zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShippingZoneRecord {
    /// The zone as the engine reads it.
    pub zone: p::ShippingZone,
    /// Creation.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}
impl Value for ShippingZoneRecord {}

/// A stored promotion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromotionRecord {
    /// The promotion as the engine reads it.
    pub promo: p::Promotion,
    /// Its own code (upper case), if it has one; generated codes are counted in `generated`.
    pub code: Option<String>,
    /// Generated single-use codes.
    pub generated: u32,
    /// Creation.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}
impl Value for PromotionRecord {}

/// A code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The promotion it reaches.
    pub promotion: PromotionId,
    /// A generated code: good for one use.
    pub single_use: bool,
    /// Uses of this code.
    pub used: u32,
}
impl Value for CodeRecord {}

/// Tax settings as shown and set.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxSettingsView {
    /// Prices (and shipping rates) are entered with tax included (EU, UK, AU).
    #[serde(default)]
    pub prices_include_tax: bool,
    /// `per_line` (default) or `per_total`.
    #[serde(default)]
    pub rounding: RoundingWire,
    /// With inclusive prices: the zone whose tax they contain (`txz_…`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub home_zone_id: Option<TaxZoneId>,
}

/// A tax category as shown.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TaxCategoryView {
    /// Key used on products and rates.
    pub key: String,
    /// Name.
    pub name: String,
    /// One of `standard`, `reduced`, `zero`, `exempt`.
    pub built_in: bool,
}

/// A rate of a zone.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateWire {
    /// Tax category key.
    pub category: String,
    /// Percent (`"19"`, `"8.875"`).
    #[schema(value_type = String, example = "19")]
    pub rate: Rate,
}

/// A tax zone as sent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxZoneInput {
    /// Name shown on tax lines.
    pub name: String,
    /// Where (empty: the rest of the world).
    #[serde(default)]
    pub areas: Vec<AreaWire>,
    /// A rate per category; unlisted categories use `standard`, `exempt` is always 0.
    pub rates: Vec<RateWire>,
    /// How shipping is taxed (default `standard`).
    #[serde(default)]
    pub shipping_tax: ShippingTaxWire,
}

/// A tax zone as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TaxZoneView {
    /// `txz_…`.
    #[schema(value_type = String)]
    pub id: TaxZoneId,
    /// Name.
    pub name: String,
    /// Where.
    pub areas: Vec<AreaWire>,
    /// Rates.
    pub rates: Vec<RateWire>,
    /// How shipping is taxed.
    pub shipping_tax: ShippingTaxWire,
    /// Created.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

impl TaxZoneView {
    /// The view of a record.
    pub fn of(r: &TaxZoneRecord) -> TaxZoneView {
        TaxZoneView {
            id: r.zone.id,
            name: r.zone.name.clone(),
            areas: r.zone.areas.iter().map(AreaWire::of).collect(),
            rates: r
                .zone
                .rates
                .iter()
                .map(|(c, rate)| RateWire {
                    category: c.clone(),
                    rate: *rate,
                })
                .collect(),
            shipping_tax: r.zone.shipping.into(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A shipping method as sent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodInput {
    /// Code, unique in the shop (`standard`, `express`, `pickup`): what checkout names.
    pub code: String,
    /// Name shown at checkout.
    pub name: String,
    /// Price rule.
    pub rate: RateKindWire,
    /// When it is offered.
    #[serde(default)]
    pub conditions: MethodConditionsWire,
    /// Collected by the customer (local pickup).
    #[serde(default)]
    pub pickup: bool,
}

/// A shipping zone as sent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingZoneInput {
    /// Name.
    pub name: String,
    /// Where (empty: the rest of the world).
    #[serde(default)]
    pub areas: Vec<AreaWire>,
    /// Methods in the order offered (1–20).
    pub methods: Vec<MethodInput>,
}

/// A shipping method as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MethodView {
    /// `shm_…`.
    #[schema(value_type = String)]
    pub id: ShippingMethodId,
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Price rule.
    pub rate: RateKindWire,
    /// Conditions.
    pub conditions: MethodConditionsWire,
    /// Local pickup.
    pub pickup: bool,
}

/// A shipping zone as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ShippingZoneView {
    /// `shz_…`.
    #[schema(value_type = String)]
    pub id: ShippingZoneId,
    /// Name.
    pub name: String,
    /// Where.
    pub areas: Vec<AreaWire>,
    /// Methods.
    pub methods: Vec<MethodView>,
    /// Created.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

impl ShippingZoneView {
    /// The view of a record.
    pub fn of(r: &ShippingZoneRecord) -> ShippingZoneView {
        ShippingZoneView {
            id: r.zone.id,
            name: r.zone.name.clone(),
            areas: r.zone.areas.iter().map(AreaWire::of).collect(),
            methods: r
                .zone
                .methods
                .iter()
                .map(|m| MethodView {
                    id: m.id,
                    code: m.code.clone(),
                    name: m.name.clone(),
                    rate: RateKindWire::of(&m.rate),
                    conditions: MethodConditionsWire {
                        max_weight_grams: m.conditions.max_weight_grams,
                        min_subtotal: m.conditions.min_subtotal,
                        max_subtotal: m.conditions.max_subtotal,
                    },
                    pickup: m.pickup,
                })
                .collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A promotion as sent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionInput {
    /// Name shown to customers.
    pub name: String,
    /// Its code (case-insensitive); `null` or absent for an automatic promotion.
    #[serde(default)]
    pub code: Option<String>,
    /// What it does.
    pub effect: EffectWire,
    /// Which lines (default all).
    #[serde(default)]
    pub scope: ScopeWire,
    /// Who and what qualifies.
    #[serde(default)]
    pub conditions: ConditionsWire,
    /// Most uses in total.
    #[serde(default)]
    pub usage_limit: Option<u32>,
    /// Most uses per customer (or email).
    #[serde(default)]
    pub per_customer_limit: Option<u32>,
    /// May apply with other promotions (default true).
    #[serde(default = "yes")]
    pub combinable: bool,
    /// Higher applies first (default 0).
    #[serde(default)]
    pub priority: i32,
    /// Not before.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub starts_at: Option<Timestamp>,
    /// Not from.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub ends_at: Option<Timestamp>,
}

fn yes() -> bool {
    true
}

/// A promotion as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PromotionView {
    /// `promo_…`.
    #[schema(value_type = String)]
    pub id: PromotionId,
    /// Name.
    pub name: String,
    /// Its own code, if any.
    pub code: Option<String>,
    /// Applies by itself (no codes).
    pub automatic: bool,
    /// What it does.
    pub effect: EffectWire,
    /// Which lines.
    pub scope: ScopeWire,
    /// Who and what qualifies.
    pub conditions: ConditionsWire,
    /// Most uses in total.
    pub usage_limit: Option<u32>,
    /// Most uses per customer.
    pub per_customer_limit: Option<u32>,
    /// Combinable with others.
    pub combinable: bool,
    /// Priority.
    pub priority: i32,
    /// Not before.
    #[schema(value_type = Option<String>)]
    pub starts_at: Option<Timestamp>,
    /// Not from.
    #[schema(value_type = Option<String>)]
    pub ends_at: Option<Timestamp>,
    /// Orders that used it.
    pub times_used: u32,
    /// Generated single-use codes.
    pub generated_codes: u32,
    /// Created.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

impl PromotionView {
    /// The view of a record with its use count.
    pub fn of(r: &PromotionRecord, times_used: u32) -> PromotionView {
        let p = &r.promo;
        PromotionView {
            id: p.id,
            name: p.name.clone(),
            code: r.code.clone(),
            automatic: !p.has_codes,
            effect: EffectWire::of(&p.effect),
            scope: ScopeWire::of(&p.scope),
            conditions: ConditionsWire::of(&p.conditions),
            usage_limit: p.usage_limit,
            per_customer_limit: p.per_customer_limit,
            combinable: p.combinable,
            priority: p.priority,
            starts_at: p.starts_at,
            ends_at: p.ends_at,
            times_used,
            generated_codes: r.generated,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A code as listed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CodeView {
    /// The code.
    pub code: String,
    /// Good for one use.
    pub single_use: bool,
    /// Uses so far.
    pub used: u32,
}

/// A customer's tax exemption (a business buying with its tax id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxExemption {
    /// The customer's tax id (VAT number, resale certificate …), shown on invoices.
    pub tax_id: String,
    /// When staff recorded it.
    pub created_at: Timestamp,
}
impl Value for TaxExemption {}

/// A tax exemption as sent and shown.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxExemptionView {
    /// The customer's tax id (1–64 characters).
    pub tax_id: String,
}
