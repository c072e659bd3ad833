//! The shop's pricing rules as records — tax settings, categories and zones; shipping zones
//! and methods; promotions, their codes and usage counters — and the one way a cart is priced
//! against them ([`price`]): catalog facts and usage read in the caller's transaction, then
//! the pure [`pricing::quote`]. Every rules write bumps a version row, so the in-memory
//! snapshot is reloaded exactly when something changed (on any node sharing the store).

mod demo;
mod model;
mod payload;
mod promotions;
mod shipping;
mod tax;
pub mod wire;

use std::sync::{Arc, Mutex};

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use crate::core::{Currency, CustomerId, LineId, Money, ShippingMethodId, VariantId};
use crate::domain::pricing::{self, CodeInput, Destination, GiftCardInput, Quote};
use crate::domain::{catalog, orders};
use crate::storage::{Reader, StorageError, Store, WriteTx};

use model::{
    CATEGORIES, CODES, EXEMPTIONS, PROMOTIONS, RULES_VERSION, SETTINGS, SHIPPING_ZONES,
    SUBJECT_USES, TAX_ZONES, USES,
};
pub use model::{
    CodeView, MAX_PROMOTIONS, MAX_ZONES, MethodInput, MethodView, PromotionInput, PromotionView,
    RateWire, ShippingZoneInput, ShippingZoneView, TaxCategoryView, TaxExemptionView,
    TaxSettingsView, TaxZoneInput, TaxZoneView,
};
pub use payload::PromotionEventV1;
pub use promotions::{GeneratedCodes, normalize_code};
pub use tax::TaxCategoryInput;

/// Why a rules operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// No such zone, promotion or category.
    #[error("not found")]
    NotFound,
    /// Invalid fields.
    #[error("invalid")]
    Invalid(Vec<FieldIssue>),
    /// A code (or method code) is taken.
    #[error("{0}")]
    Taken(String),
    /// Conflicts with the current state (a limit reached, a category in use).
    #[error("{0}")]
    Conflict(String),
    /// A cart could not be priced.
    #[error(transparent)]
    Pricing(#[from] pricing::PricingError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ErrorCode for RulesError {
    fn code(&self) -> Code {
        match self {
            RulesError::NotFound => codes::NOT_FOUND,
            RulesError::Invalid(_) => codes::VALIDATION_FAILED,
            RulesError::Taken(_) => codes::CODE_TAKEN,
            RulesError::Conflict(_) => codes::CONFLICT,
            RulesError::Pricing(_) => codes::VALIDATION_FAILED,
            RulesError::Storage(s) => s.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            RulesError::Invalid(issues) => codes::joined(issues),
            RulesError::Storage(s) => s.message(),
            other => other.to_string(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            RulesError::Invalid(issues) => issues.clone(),
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            RulesError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
}

fn invalid_if(issues: wire::Issues) -> Result<(), RulesError> {
    if issues.0.is_empty() {
        Ok(())
    } else {
        Err(RulesError::Invalid(issues.0))
    }
}

/// The last rules snapshot and the version row it was read at.
type Cached = Arc<Mutex<Option<(u64, Arc<pricing::Rules>)>>>;

/// The pricing-rules service.
#[derive(Clone, Debug)]
pub struct PricingRules {
    store: Store,
    currency: Currency,
    cache: Cached,
}

impl PricingRules {
    /// Wraps the store; amounts in rules must be in the shop's `currency`.
    pub fn new(store: Store, currency: Currency) -> Self {
        PricingRules {
            store,
            currency,
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// The shop currency rules are written in.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// A new shop (or one from before shipping zones) gets the old flat `standard` method as
    /// its default rate table: one zone for everywhere with one flat rate.
    pub async fn ensure_default_shipping(&self, flat_rate: i64) -> Result<bool, RulesError> {
        let currency = self.currency;
        self.store
            .write(move |tx| shipping::ensure_default(tx, Money::new(flat_rate, currency)))
            .await
    }

    /// The current rules, from the cache when no rules write happened since it was loaded.
    pub fn snapshot(&self, r: &impl Reader) -> Result<Arc<pricing::Rules>, RulesError> {
        let version = r.get(&RULES_VERSION, &())?.unwrap_or(0);
        if let Some((v, rules)) = crate::core::sync::lock(&self.cache).as_ref()
            && *v == version
        {
            return Ok(rules.clone());
        }
        let rules = Arc::new(load(r)?);
        *crate::core::sync::lock(&self.cache) = Some((version, rules.clone()));
        Ok(rules)
    }

    /// Every shipping method offered to `destination` for a cart, with its price, cheapest
    /// first.
    pub fn offers(&self, cart: &CartToPrice<'_>) -> Result<Vec<MethodOffer>, RulesError> {
        let r = self.store.read()?;
        let rules = self.snapshot(&r)?;
        offers(&r, &rules, cart)
    }
}

/// Reads every rule (each list is bounded where it is created).
fn load(r: &impl Reader) -> Result<pricing::Rules, StorageError> {
    use crate::storage::Order;
    use std::ops::Bound::Unbounded;
    let s = r.get(&SETTINGS, &tax::SHOP.to_owned())?.unwrap_or_default();
    let zones = r.range(&TAX_ZONES, Unbounded, Unbounded, Order::Asc, MAX_ZONES)?;
    let ship = r.range(&SHIPPING_ZONES, Unbounded, Unbounded, Order::Asc, MAX_ZONES)?;
    let promos = r.range(
        &PROMOTIONS,
        Unbounded,
        Unbounded,
        Order::Asc,
        MAX_PROMOTIONS,
    )?;
    Ok(pricing::Rules {
        tax: pricing::TaxRules {
            prices_include_tax: s.prices_include_tax,
            rounding: s.rounding,
            home_zone: s.home_zone,
            zones: zones.into_iter().map(|(_, z)| z.zone).collect(),
        },
        shipping: ship.into_iter().map(|(_, z)| z.zone).collect(),
        promotions: promos.into_iter().map(|(_, p)| p.promo).collect(),
    })
}

/// Marks the rules changed, in the changing write.
fn bump(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    let v = tx.get(&RULES_VERSION, &())?.unwrap_or(0);
    tx.insert(&RULES_VERSION, &(), &(v + 1))
}

/// A cart as the cart and checkout modules know it, to be priced.
#[derive(Clone, Debug)]
pub struct CartToPrice<'a> {
    /// Currency of the cart.
    pub currency: Currency,
    /// (line, variant, units); prices and facts are read from the catalog.
    pub lines: &'a [(LineId, VariantId, i64)],
    /// Signed-in customer.
    pub customer: Option<CustomerId>,
    /// Contact email, when known.
    pub email: Option<&'a str>,
    /// Where the goods go.
    pub destination: Option<Destination>,
    /// Chosen method code.
    pub shipping_method: Option<&'a str>,
    /// Codes entered (upper case).
    pub codes: &'a [String],
    /// Gift cards to tender.
    pub gift_cards: Vec<GiftCardInput>,
    /// The time rules are judged at (the write's clock at checkout).
    pub now: crate::core::Timestamp,
}

impl CartToPrice<'_> {
    /// Whom per-customer limits count: the account, else the email.
    pub fn subject(&self) -> Option<String> {
        self.customer.map(|c| c.to_string()).or_else(|| {
            self.email
                .map(|e| format!("email:{}", e.to_ascii_lowercase()))
        })
    }
}

/// A shipping method offered for a cart.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MethodOffer {
    /// `shm_…`.
    #[schema(value_type = String)]
    pub id: ShippingMethodId,
    /// Code to send as the checkout's `shipping_method`.
    pub code: String,
    /// Name.
    pub name: String,
    /// Price before tax and discounts.
    pub price: Money,
    /// Local pickup.
    pub pickup: bool,
}

/// Prices a cart inside any transaction: catalog facts and usage counts are read from `r`, so
/// inside the checkout's write the usage limits hold exactly.
pub fn price(
    r: &impl Reader,
    rules: &pricing::Rules,
    cart: &CartToPrice<'_>,
) -> Result<Quote, RulesError> {
    let input = input(r, rules, cart)?;
    Ok(pricing::quote(rules, &input)?)
}

fn input(
    r: &impl Reader,
    rules: &pricing::Rules,
    cart: &CartToPrice<'_>,
) -> Result<pricing::QuoteInput, RulesError> {
    let scoped_collections = collections_in_scopes(rules);
    let mut lines = Vec::with_capacity(cart.lines.len());
    for &(line_id, variant_id, quantity) in cart.lines {
        let Some(product) = catalog::product_of_variant_in(r, variant_id)? else {
            continue;
        };
        let Some(v) = product.variants.iter().find(|v| v.id == variant_id) else {
            continue;
        };
        lines.push(pricing::LineInput {
            line_id,
            variant_id,
            product_id: product.id,
            quantity,
            unit_price: v.price,
            // A gift card is money, not a supply: sold without tax and never discounted.
            tax_category: product.tax_category_of(v),
            grams: v.weight.map_or(0, |w| w.grams()),
            requires_shipping: v.requires_shipping,
            discountable: !product.gift_card,
            category_ids: catalog::categories_with_ancestors(r, &product)?,
            collection_ids: catalog::collections_holding(r, &scoped_collections, product.id)?,
        });
    }
    let codes = cart
        .codes
        .iter()
        .map(|c| code_input(r, c))
        .collect::<Result<Vec<_>, _>>()?;
    let subject = cart.subject();
    let mut promotion_uses = std::collections::BTreeMap::new();
    let mut uses = std::collections::BTreeMap::new();
    // Only promotions that can apply here: automatic ones and those the cart's codes reach
    // (inside checkout's write, a shop with many code-only promotions pays nothing for them).
    let reachable =
        |p: &&pricing::Promotion| !p.has_codes || codes.iter().any(|c| c.promotion == Some(p.id));
    for p in rules
        .promotions
        .iter()
        .filter(|p| limited(p))
        .filter(reachable)
    {
        promotion_uses.insert(p.id, r.get(&USES, &p.id)?.unwrap_or(0));
        if let Some(s) = &subject {
            uses.insert(p.id, r.get(&SUBJECT_USES, &(p.id, s.clone()))?.unwrap_or(0));
        }
    }
    let previous_orders = match cart.customer {
        Some(c) => u32::from(orders::has_orders(r, c)?),
        // A guest's history is unknown: first-order promotions need a signed-in customer.
        None => 1,
    };
    Ok(pricing::QuoteInput {
        currency: cart.currency,
        lines,
        buyer: pricing::Buyer {
            customer_id: cart.customer,
            email: cart.email.map(str::to_ascii_lowercase),
            tax_exempt: match cart.customer {
                Some(c) => r.contains(&EXEMPTIONS, &c)?,
                None => false,
            },
            previous_orders,
            uses,
        },
        destination: cart.destination.clone(),
        shipping_method: method_id(rules, cart),
        codes,
        gift_cards: cart.gift_cards.clone(),
        promotion_uses,
        now: cart.now,
    })
}

fn limited(p: &pricing::Promotion) -> bool {
    p.usage_limit.is_some() || p.per_customer_limit.is_some()
}

fn collections_in_scopes(rules: &pricing::Rules) -> Vec<crate::core::CollectionId> {
    let mut out = Vec::new();
    for p in &rules.promotions {
        if let pricing::Scope::Collections { ids } = &p.scope {
            for id in ids {
                if !out.contains(id) {
                    out.push(*id);
                }
            }
        }
    }
    out
}

fn code_input(r: &impl Reader, code: &str) -> Result<CodeInput, StorageError> {
    let rec = r.get(&CODES, &code.to_owned())?;
    Ok(CodeInput {
        code: code.to_owned(),
        promotion: rec.as_ref().map(|c| c.promotion),
        code_used_up: rec.is_some_and(|c| c.single_use && c.used >= 1),
    })
}

/// The id of the method `cart.shipping_method` names in the destination's zone.
fn method_id(rules: &pricing::Rules, cart: &CartToPrice<'_>) -> Option<ShippingMethodId> {
    let code = cart.shipping_method?;
    let d = cart.destination.as_ref()?;
    pricing::shipping_zone_for(&rules.shipping, d)?
        .methods
        .iter()
        .find(|m| m.code == code)
        .map(|m| m.id)
}

/// The methods offered for a cart (priced on its goods after discounts).
pub fn offers(
    r: &impl Reader,
    rules: &pricing::Rules,
    cart: &CartToPrice<'_>,
) -> Result<Vec<MethodOffer>, RulesError> {
    let Some(d) = cart.destination.as_ref() else {
        return Ok(Vec::new());
    };
    let mut priced = cart.clone();
    priced.shipping_method = None;
    let asked = input(r, rules, &priced)?;
    let q = pricing::quote(rules, &asked)?;
    if !q.lines.iter().any(|l| l.requires_shipping) {
        return Ok(Vec::new());
    }
    let goods: i128 = q
        .lines
        .iter()
        .map(|l| i128::from(l.subtotal.amount - l.discount.amount))
        .sum();
    let grams: u64 = asked
        .lines
        .iter()
        .filter(|l| l.requires_shipping)
        .map(|l| l.grams.saturating_mul(l.quantity.unsigned_abs()))
        .fold(0, u64::saturating_add);
    let mut out: Vec<MethodOffer> =
        pricing::offers(&rules.shipping, d, goods, grams, cart.currency)
            .into_iter()
            .map(|o| MethodOffer {
                id: o.method.id,
                code: o.method.code.clone(),
                name: o.method.name.clone(),
                price: Money::new(i64::try_from(o.price).unwrap_or(i64::MAX), cart.currency),
                pickup: o.method.pickup,
            })
            .collect();
    out.sort_by_key(|o| o.price.amount);
    Ok(out)
}

/// Counts the uses of every promotion `quote` applied (and of its single-use codes), in the
/// checkout's write. The quote was computed in the same transaction, so it already refused
/// every promotion at its limit: this only adds one.
pub fn record_uses(
    tx: &mut WriteTx<'_>,
    quote: &Quote,
    subject: Option<&str>,
) -> Result<(), StorageError> {
    for d in &quote.discounts {
        let n = tx.get(&USES, &d.promotion_id)?.unwrap_or(0);
        tx.insert(&USES, &d.promotion_id, &n.saturating_add(1))?;
        if let Some(s) = subject {
            let key = (d.promotion_id, s.to_owned());
            let n = tx.get(&SUBJECT_USES, &key)?.unwrap_or(0);
            tx.insert(&SUBJECT_USES, &key, &n.saturating_add(1))?;
        }
        if let Some(code) = &d.code
            && let Some(mut c) = tx.get(&CODES, code)?
        {
            c.used = c.used.saturating_add(1);
            tx.insert(&CODES, code, &c)?;
        }
    }
    Ok(())
}

/// The pricing module's schema steps: 11 added the rules, gift-card and refund-line tables,
/// carts with codes and gift cards (v2), orders with discounts, tax per line and their stored
/// quote (v3), products with tax categories (v3), refund outcomes with gift-card parts (v2). Records are upgraded as
/// they are read; the step makes an older build refuse the data dir instead of misreading it.
pub const MIGRATIONS: &[crate::storage::Migration] = &[crate::storage::Migration {
    to: 11,
    description: "pricing: tax and shipping zones, promotions, gift cards, carts with codes, orders with quotes, products with tax categories",
    run: |_| Ok(()),
}];

/// A customer's tax id when they buy tax exempt (invoices show it).
pub fn tax_id_of(r: &impl Reader, customer: CustomerId) -> Result<Option<String>, StorageError> {
    Ok(r.get(&EXEMPTIONS, &customer)?.map(|e| e.tax_id))
}

/// Whether a tax category key exists (built-in or merchant-defined).
pub fn category_exists(r: &impl Reader, key: &str) -> Result<bool, StorageError> {
    Ok(pricing::BUILT_IN_CATEGORIES.contains(&key) || r.contains(&CATEGORIES, &key.to_owned())?)
}
