//! Checkout: turns the caller's cart into an order in `pending_payment` in one transaction —
//! prices re-checked, totals computed in minor units, stock reserved (pessimistically or
//! optimistically), the order, its payment and its `order.created` event written, the cart
//! removed, and the response stored under the request's idempotency key. The confirmation mail
//! goes out when the payment settles, not here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::errors::{self as codes, Code, ErrorCode};
use crate::core::secret::{hash_token, new_token};
use crate::core::{CustomerId, OrderId, Timestamp};
use crate::domain::auth::Email;
use crate::domain::cart::{self, CartError, CartOwner, CartSettings, PriceChange};
use crate::domain::inventory::{self, InventoryError, Strategy};
pub use crate::domain::orders::AddressInput;
use crate::domain::orders::{self, Address, HistoryEntry, Order, OrderLine, Totals};
use crate::domain::pricing::{self, Destination, Quote, Refusal};
use crate::domain::{catalog, events, giftcards, idempotency, payments, rules};
use crate::storage::{StorageError, Store, WriteTx};

/// The method a checkout gets when it names none and the address's zone offers it.
pub const DEFAULT_METHOD: &str = "standard";

/// Checkout settings.
#[derive(Clone, Debug)]
pub struct CheckoutSettings {
    /// How long stock stays reserved for an unpaid order.
    pub reservation_ttl: Duration,
    /// Default reservation strategy.
    pub strategy: Strategy,
    /// Price of the default `standard` method a new shop starts with (minor units).
    pub flat_rate: i64,
    /// Optimistic attempts before giving up with `stock_contention`.
    pub max_attempts: usize,
}

impl Default for CheckoutSettings {
    fn default() -> Self {
        CheckoutSettings {
            reservation_ttl: Duration::from_secs(15 * 60),
            strategy: Strategy::Pessimistic,
            flat_rate: 500,
            max_attempts: 32,
        }
    }
}

/// The body of `POST /api/v1/checkout`.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutInput {
    /// Contact email for the order mails.
    pub email: String,
    /// Where to ship: required when a line requires shipping, not kept when none does.
    #[serde(default)]
    pub shipping_address: Option<AddressInput>,
    /// Where to bill (default: the shipping address; required when there is none).
    #[serde(default)]
    pub billing_address: Option<AddressInput>,
    /// A method code offered for the address (`GET /api/v1/cart/shipping-methods`); default
    /// `standard`, else the cheapest offered. Not used when no line ships.
    #[serde(default)]
    pub shipping_method: Option<String>,
}

/// One invalid field (the catalog's shape, shared by every validation).
pub use crate::domain::catalog::FieldIssue;

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Cart problems (none, not found, empty, unavailable lines).
    #[error(transparent)]
    Cart(#[from] CartError),
    /// Not enough stock for a line.
    #[error("only {available} of {variant_id} available, {requested} requested")]
    OutOfStock {
        /// Variant.
        variant_id: String,
        /// Units available.
        available: i64,
        /// Units asked for.
        requested: i64,
    },
    /// Prices changed since the customer saw them; the cart now shows the new ones.
    #[error("prices changed")]
    PriceChanged(Vec<PriceChange>),
    /// Codes on the cart no longer apply (used up, ended); they were taken off the cart.
    #[error("promotions unavailable")]
    PromotionUnavailable(Vec<(String, Refusal)>),
    /// A gift card on the cart has less left than the customer saw; the cart shows it now.
    #[error(
        "a gift card on the cart has less left than when the cart was priced (…{0}); the cart now shows its balance, review it and check out again"
    )]
    GiftCardBalanceChanged(String),
    /// The `Idempotency-Key` cannot be used.
    #[error(transparent)]
    Key(#[from] idempotency::KeyError),
    /// Invalid body fields.
    #[error("invalid checkout")]
    Invalid(Vec<FieldIssue>),
    /// Optimistic reservation kept conflicting.
    #[error("stock is changing too fast; retry")]
    Contention,
    /// The order is placed but the payment provider could not be reached; retry with the same key.
    #[error(
        "the order is placed but the payment provider could not be reached ({0}); send the same request again"
    )]
    Provider(String),
    /// A fault that is not storage's (an unexpected answer of another module).
    #[error("internal: {0}")]
    Internal(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ErrorCode for CheckoutError {
    fn code(&self) -> Code {
        match self {
            CheckoutError::Cart(c) => c.code(),
            CheckoutError::OutOfStock { .. } => codes::OUT_OF_STOCK,
            CheckoutError::PriceChanged(_) => codes::PRICE_CHANGED,
            CheckoutError::PromotionUnavailable(_) => codes::PROMOTION_UNAVAILABLE,
            CheckoutError::GiftCardBalanceChanged(_) => codes::GIFT_CARD_BALANCE_CHANGED,
            CheckoutError::Key(k) => k.code(),
            CheckoutError::Invalid(_) => codes::VALIDATION_FAILED,
            CheckoutError::Contention => codes::STOCK_CONTENTION,
            CheckoutError::Provider(_) => codes::PAYMENT_PROVIDER_UNAVAILABLE,
            CheckoutError::Internal(_) => codes::INTERNAL_ERROR,
            CheckoutError::Storage(s) => s.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            CheckoutError::Cart(c) => c.message(),
            CheckoutError::PriceChanged(changes) => {
                let detail = changes
                    .iter()
                    .map(|c| format!("{}: {} → {}", c.variant_id, c.previous, c.current))
                    .collect::<Vec<_>>()
                    .join("; ");
                format!(
                    "prices changed since they were added to the cart ({detail}); the cart now shows the new prices, review it and check out again"
                )
            }
            CheckoutError::PromotionUnavailable(refused) => {
                let detail = refused
                    .iter()
                    .map(|(c, r)| format!("{c}: {}", r.as_str()))
                    .collect::<Vec<_>>()
                    .join("; ");
                format!(
                    "codes on the cart no longer apply ({detail}); they were removed and the cart is priced without them, review it and check out again"
                )
            }
            CheckoutError::Invalid(issues) => codes::joined(issues),
            CheckoutError::Internal(_) => codes::INTERNAL_MESSAGE.into(),
            CheckoutError::Storage(s) => s.message(),
            other => other.to_string(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            CheckoutError::Cart(c) => c.fields(),
            CheckoutError::Invalid(issues) => issues.clone(),
            CheckoutError::PriceChanged(changes) => changes
                .iter()
                .map(|c| {
                    FieldIssue::new(
                        format!("lines.{}", c.line_id),
                        "price_changed",
                        format!("{} → {}", c.previous, c.current),
                    )
                })
                .collect(),
            CheckoutError::PromotionUnavailable(refused) => refused
                .iter()
                .map(|(c, r)| {
                    FieldIssue::new(format!("codes.{c}"), r.as_str(), "no longer applies")
                })
                .collect(),
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            CheckoutError::Cart(c) => c.retry_after(),
            CheckoutError::Contention => Some(1),
            CheckoutError::Provider(_) => Some(2),
            CheckoutError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
}

/// What a checkout did: the order as created, and the token that shows it to a guest (stored
/// only here and as a hash in the order). This is the outcome kept under the idempotency key,
/// so every replay, through the JSON API or a page, shows the same order as first created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Placed {
    /// The order right after checkout.
    pub order: Order,
    /// The guest's order token (`ot_…`).
    pub order_token: String,
    /// The payment to confirm, as created (none for orders placed before payments existed).
    pub payment: Option<payments::PaymentRef>,
}
impl crate::storage::Value for Placed {
    const VERSION: u8 = 4;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self, crate::storage::CodecError> {
        #[derive(Deserialize)]
        struct PlacedV1 {
            order: orders::model_v1::OrderV1,
            order_token: String,
        }
        #[derive(Deserialize)]
        struct PlacedV2 {
            order: orders::model_v2::OrderV2,
            order_token: String,
        }
        #[derive(Deserialize)]
        struct PlacedV3 {
            order: orders::model_v2::OrderV2,
            order_token: String,
            payment: Option<payments::PaymentRef>,
        }
        match version {
            1 => crate::storage::upgrade_from(bytes, |p: PlacedV1| Placed {
                order: p.order.upgrade(),
                order_token: p.order_token,
                payment: None,
            }),
            2 => crate::storage::upgrade_from(bytes, |p: PlacedV2| Placed {
                order: p.order.upgrade(),
                order_token: p.order_token,
                payment: None,
            }),
            3 => crate::storage::upgrade_from(bytes, |p: PlacedV3| Placed {
                order: p.order.upgrade(),
                order_token: p.order_token,
                payment: p.payment,
            }),
            found => Err(crate::storage::unknown_version::<Self>(found)),
        }
    }
}

/// A checkout's outcome, fresh or replayed.
pub type CheckoutResponse = idempotency::Replayable<Placed>;

struct Valid {
    email: String,
    shipping: Option<Address>,
    billing: Address,
    method: Option<String>,
}

fn validate(input: &CheckoutInput) -> Result<Valid, CheckoutError> {
    let mut issues = Vec::new();
    let email = match Email::parse(&input.email) {
        Some(e) => e.as_str().to_owned(),
        None => {
            issues.push(FieldIssue {
                field: "email".into(),
                code: "invalid",
                message: "is not an email address".into(),
            });
            String::new()
        }
    };
    let shipping = input
        .shipping_address
        .as_ref()
        .map(|a| orders::parse_address("shipping_address", a, &mut issues));
    let billing = match (&input.billing_address, &shipping) {
        (Some(b), _) => orders::parse_address("billing_address", b, &mut issues),
        (None, Some(s)) => s.clone(),
        (None, None) => {
            issues.push(FieldIssue {
                field: "billing_address".into(),
                code: "required",
                message: "is required when there is no shipping address".into(),
            });
            return Err(CheckoutError::Invalid(issues));
        }
    };
    let method = input
        .shipping_method
        .as_deref()
        .map(|m| m.trim().to_ascii_lowercase());
    if method
        .as_ref()
        .is_some_and(|m| m.is_empty() || m.len() > 50)
    {
        issues.push(FieldIssue {
            field: "shipping_method".into(),
            code: "invalid",
            message: "must be a method code such as `standard`".into(),
        });
    }
    if issues.is_empty() {
        Ok(Valid {
            email,
            shipping,
            billing,
            method,
        })
    } else {
        Err(CheckoutError::Invalid(issues))
    }
}

/// The checkout service.
#[derive(Clone, Debug)]
pub struct Checkout {
    store: Store,
    carts: CartSettings,
    settings: CheckoutSettings,
    payments: payments::Payments,
    rules: rules::PricingRules,
}

enum Outcome {
    Done(Box<CheckoutResponse>),
    PriceChanged(Vec<PriceChange>),
    PromotionUnavailable(Vec<(String, Refusal)>),
    GiftCardBalanceChanged(String),
}

impl Checkout {
    /// Wires the service.
    pub fn new(
        store: Store,
        carts: CartSettings,
        settings: CheckoutSettings,
        payments: payments::Payments,
        rules: rules::PricingRules,
    ) -> Self {
        Checkout {
            store,
            carts,
            settings,
            payments,
            rules,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &CheckoutSettings {
        &self.settings
    }

    /// Places an order from the caller's cart.
    pub async fn checkout(
        &self,
        who: CartOwner,
        key: Option<&str>,
        input: CheckoutInput,
        opts: PlaceOptions,
    ) -> Result<CheckoutResponse, CheckoutError> {
        let strategy = opts.strategy;
        idempotency::check_key(key)?;
        let scope = match (&who.customer, &who.token) {
            (Some(c), _) => c.to_string(),
            (None, Some(t)) => cart::token_scope(t),
            (None, None) => return Err(CartError::NoCart.into()),
        };
        let keyed = idempotency::Keyed::new(scope, key, &input)?;
        if let Some(outcome) = keyed.stored::<Placed, CheckoutError>(&self.store.read()?)? {
            return self
                .with_payment(CheckoutResponse {
                    outcome,
                    replayed: true,
                })
                .await;
        }
        let valid = validate(&input)?;
        let strategy = strategy.unwrap_or(self.settings.strategy);
        let attempts = match strategy {
            Strategy::Pessimistic => 1,
            Strategy::Optimistic => self.settings.max_attempts.max(1),
        };
        let pricing_rules = self
            .rules
            .snapshot(&self.store.read()?)
            .map_err(|e| CheckoutError::Internal(e.to_string()))?;
        let ctx = std::sync::Arc::new(Ctx {
            visitor: opts.visitor,
            who,
            keyed,
            valid,
            carts: self.carts.clone(),
            settings: self.settings.clone(),
            payments: self.payments.settings().clone(),
            rules: pricing_rules,
        });
        for _ in 0..attempts {
            let snapshot = match strategy {
                Strategy::Pessimistic => None,
                Strategy::Optimistic => Some(self.snapshot(&ctx)?),
            };
            let c = ctx.clone();
            let r = self
                .store
                .write(move |tx| place(tx, &c, snapshot.as_deref()))
                .await;
            match r {
                Ok(Outcome::Done(resp)) => return self.with_payment(*resp).await,
                Ok(Outcome::PriceChanged(ch)) => return Err(CheckoutError::PriceChanged(ch)),
                Ok(Outcome::PromotionUnavailable(r)) => {
                    return Err(CheckoutError::PromotionUnavailable(r));
                }
                Ok(Outcome::GiftCardBalanceChanged(last4)) => {
                    return Err(CheckoutError::GiftCardBalanceChanged(last4));
                }
                Err(PlaceError::Conflict) => continue,
                Err(PlaceError::Checkout(e)) => return Err(e),
            }
        }
        Err(CheckoutError::Contention)
    }

    /// Completes the response with a remote provider's payment (a Stripe PaymentIntent's
    /// client secret, a Checkout redirect), creating it there if needed. When the provider
    /// cannot be reached the order stays placed and the answer is 503: the same request again
    /// (same key) replays the order and tries the provider again with the same key, so one
    /// payment is created at the provider.
    async fn with_payment(
        &self,
        mut resp: CheckoutResponse,
    ) -> Result<CheckoutResponse, CheckoutError> {
        let Some(p) = &resp.outcome.payment else {
            return Ok(resp);
        };
        if p.client_secret.is_some()
            || p.redirect_url.is_some()
            || matches!(p.provider.as_str(), "test" | "manual")
        {
            return Ok(resp);
        }
        match self.payments.prepare(p.id).await {
            Ok(r) => {
                resp.outcome.payment = Some(r);
                Ok(resp)
            }
            Err(payments::PaymentError::Provider(m)) => Err(CheckoutError::Provider(m)),
            Err(e) => Err(CheckoutError::Internal(e.to_string())),
        }
    }

    /// Stock levels of the cart's tracked variants, read before the write (optimistic).
    fn snapshot(
        &self,
        ctx: &Ctx,
    ) -> Result<Vec<(crate::core::VariantId, inventory::StockLevel)>, CheckoutError> {
        let r = self.store.read()?;
        let cart = cart::peek(&r, &ctx.who, self.store.now())?;
        let lines: Vec<_> = cart
            .map(|c| c.lines.iter().map(|l| (l.variant_id, l.quantity)).collect())
            .unwrap_or_default();
        Ok(inventory::snapshot(&r, &lines)?)
    }
}

/// How one checkout is placed, beyond the cart and the form.
#[derive(Clone, Debug, Default)]
pub struct PlaceOptions {
    /// Overrides the configured reservation strategy (an experiment's arm).
    pub strategy: Option<Strategy>,
    /// The guest's visitor id, kept with the order so experiments credit its payment.
    pub visitor: Option<String>,
}

struct Ctx {
    visitor: Option<String>,
    who: CartOwner,
    keyed: idempotency::Keyed,
    valid: Valid,
    carts: CartSettings,
    settings: CheckoutSettings,
    payments: payments::PaymentSettings,
    rules: std::sync::Arc<pricing::Rules>,
}

enum PlaceError {
    Conflict,
    Checkout(CheckoutError),
}

impl From<StorageError> for PlaceError {
    fn from(e: StorageError) -> Self {
        PlaceError::Checkout(e.into())
    }
}

impl From<idempotency::KeyError> for PlaceError {
    fn from(e: idempotency::KeyError) -> Self {
        PlaceError::Checkout(e.into())
    }
}

impl From<CheckoutError> for PlaceError {
    fn from(e: CheckoutError) -> Self {
        PlaceError::Checkout(e)
    }
}

impl From<CartError> for PlaceError {
    fn from(e: CartError) -> Self {
        PlaceError::Checkout(e.into())
    }
}

impl From<InventoryError> for PlaceError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Conflict => PlaceError::Conflict,
            InventoryError::OutOfStock {
                variant_id,
                available,
                requested,
            } => PlaceError::Checkout(CheckoutError::OutOfStock {
                variant_id: variant_id.to_string(),
                available,
                requested,
            }),
            InventoryError::Storage(s) => s.into(),
            other => PlaceError::Checkout(CheckoutError::Internal(other.to_string())),
        }
    }
}

/// The whole checkout inside one write transaction.
fn place(
    tx: &mut WriteTx<'_>,
    c: &Ctx,
    snapshot: Option<&[(crate::core::VariantId, inventory::StockLevel)]>,
) -> Result<Outcome, PlaceError> {
    // An earlier request with this key (committed, or earlier in this batch) placed the order.
    if let Some(outcome) = c.keyed.stored::<Placed, PlaceError>(tx)? {
        return Ok(Outcome::Done(Box::new(CheckoutResponse {
            outcome,
            replayed: true,
        })));
    }
    let mut cart = cart::for_checkout(tx, &c.who, &c.carts)?;
    let now = tx.now();
    // Re-price every line; unavailable lines stop the checkout.
    let mut changes = Vec::new();
    let mut priced = Vec::with_capacity(cart.lines.len());
    for line in &mut cart.lines {
        let (product, variant) = cart::current(tx, line)?;
        if variant.price != line.unit_price {
            changes.push(PriceChange {
                line_id: line.id,
                variant_id: line.variant_id,
                previous: line.unit_price,
                current: variant.price,
            });
            line.unit_price = variant.price;
        }
        priced.push((line.clone(), product, variant));
    }
    if !changes.is_empty() {
        // Commit the new prices to the cart so the next attempt (after the customer saw them)
        // goes through, and tell the client what changed.
        cart::store(tx, &cart, &c.carts)?;
        return Ok(Outcome::PriceChanged(changes));
    }
    let currency = priced
        .first()
        .map(|(l, _, _)| l.unit_price.currency)
        .unwrap_or(c.carts.currency);
    let ships = priced.iter().any(|(_, _, v)| v.requires_shipping);
    if ships && c.valid.shipping.is_none() {
        return Err(invalid(
            "shipping_address",
            "required",
            "is required: the cart has lines that ship",
        ));
    }
    let quote = match quote(tx, c, &cart, currency, ships, now)? {
        Priced::Quote(q) => *q,
        Priced::CodesRefused(refused) => {
            // The customer saw these codes apply; take them off and show the new prices.
            cart.codes
                .retain(|code| !refused.iter().any(|(r, _)| r == code));
            cart::store(tx, &cart, &c.carts)?;
            return Ok(Outcome::PromotionUnavailable(refused));
        }
        Priced::BalanceChanged { last4, now_seen } => {
            cart.gift_cards = now_seen;
            cart::store(tx, &cart, &c.carts)?;
            return Ok(Outcome::GiftCardBalanceChanged(last4));
        }
    };
    let mut lines = Vec::with_capacity(priced.len());
    let mut tracked = Vec::new();
    for (l, product, variant) in &priced {
        if variant.track_inventory {
            tracked.push((l.variant_id, l.quantity));
        }
        let q = quote
            .lines
            .iter()
            .find(|q| q.line_id == l.id)
            .ok_or_else(|| {
                PlaceError::Checkout(CheckoutError::Internal(format!(
                    "line {} was not priced",
                    l.id
                )))
            })?;
        lines.push(line_of(l, product, variant, q));
    }
    let totals = Totals::placed(&quote.totals);
    let id = OrderId::new(now);
    let expires_at = now.plus(c.settings.reservation_ttl);
    match snapshot {
        None => inventory::reserve(tx, id, &tracked, expires_at)?,
        Some(s) => inventory::reserve_at(tx, id, &tracked, s, expires_at)?,
    }
    let token = new_token("ot_");
    let order = Order {
        id,
        status: orders::Status::PendingPayment,
        customer_id: c.who.customer.or(cart.customer_id),
        email: c.valid.email.clone(),
        token_hash: hash_token(&token),
        lines,
        totals,
        tax_inclusive: quote.tax_inclusive,
        tax_lines: quote
            .tax_lines
            .iter()
            .map(|t| orders::OrderTaxLine {
                name: t.name.clone(),
                rate: t.rate,
                base: t.base,
                amount: t.amount,
            })
            .collect(),
        invoice: None,
        shipping_address: c.valid.shipping.clone().filter(|_| ships),
        billing_address: c.valid.billing.clone(),
        shipping_method: quote.shipping.as_ref().map(|s| s.code.clone()),
        fulfilments: Vec::new(),
        notes: Vec::new(),
        history: vec![HistoryEntry {
            from: None,
            to: orders::Status::PendingPayment,
            event: "create".into(),
            actor: actor(c.who.customer),
            reason: None,
            at: now,
        }],
        expires_at,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    orders::insert(tx, &order)?;
    orders::insert_quote(tx, order.id, &quote)?;
    if let (None, Some(v)) = (order.customer_id, &c.visitor) {
        orders::set_visitor(tx, order.id, v)?;
    }
    rules::record_uses(tx, &quote, subject(c, &cart).as_deref())?;
    for t in &quote.gift_cards {
        giftcards::redeem(tx, t.gift_card_id, t.amount, order.id)
            .map_err(|e| PlaceError::Checkout(CheckoutError::Internal(e.to_string())))?;
    }
    events::record(
        tx,
        &events::ORDER_CREATED,
        &orders::OrderEventV3::of(&order),
    )?;
    let mut order = order;
    let payment = if order.totals.amount_due().amount == 0 {
        // Gift cards and discounts covered everything: paid now, no provider involved.
        let s = &c.payments.settle.orders;
        let reason = Some("nothing left to pay after gift cards and discounts".to_owned());
        orders::transition(
            tx,
            &mut order,
            orders::Event::Pay { amount: 0 },
            "system",
            reason,
            s,
        )
        .map_err(|e| PlaceError::Checkout(CheckoutError::Internal(e.to_string())))?;
        orders::mail(tx, &order, "order_confirmation", s, serde_json::json!({}))
            .map_err(|e| PlaceError::Checkout(CheckoutError::Internal(e.to_string())))?;
        None
    } else {
        Some(payments::create(tx, &order, &c.payments)?)
    };
    cart::delete(tx, &cart)?;
    let placed = Placed {
        order,
        order_token: token,
        payment: payment.as_ref().map(payments::PaymentRef::of),
    };
    c.keyed.store(tx, &placed)?;
    Ok(Outcome::Done(Box::new(CheckoutResponse {
        outcome: placed,
        replayed: false,
    })))
}

fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> PlaceError {
    PlaceError::Checkout(CheckoutError::Invalid(vec![FieldIssue {
        field: field.into(),
        code,
        message: message.into(),
    }]))
}

/// Whom per-customer promotion limits count.
fn subject(c: &Ctx, cart: &cart::Cart) -> Option<String> {
    match c.who.customer.or(cart.customer_id) {
        Some(id) => Some(id.to_string()),
        None => Some(format!("email:{}", c.valid.email.to_ascii_lowercase())),
    }
}

/// What pricing inside the write found.
enum Priced {
    /// The quote to place the order with.
    Quote(Box<Quote>),
    /// The cart's codes that no longer apply.
    CodesRefused(Vec<(String, Refusal)>),
    /// A gift card has less left than the customer saw: the cart's cards as they are now.
    BalanceChanged {
        last4: String,
        now_seen: Vec<cart::CartGiftCard>,
    },
}

/// Prices the cart inside the checkout's write, so usage limits and gift-card balances read
/// here hold exactly.
fn quote(
    tx: &mut WriteTx<'_>,
    c: &Ctx,
    cart: &cart::Cart,
    currency: crate::core::Currency,
    ships: bool,
    now: Timestamp,
) -> Result<Priced, PlaceError> {
    let keys = cart::line_keys(cart);
    let to = c.valid.shipping.as_ref().unwrap_or(&c.valid.billing);
    let tenders = giftcards::tenders(&*tx, &cart::gift_card_ids(cart), currency, now)?;
    let mut fell: Option<String> = None;
    let mut now_seen = Vec::new();
    for g in &cart.gift_cards {
        match tenders.iter().find(|t| t.id == g.id) {
            Some(t) => {
                if t.balance.amount < g.seen.amount {
                    fell.get_or_insert_with(|| t.last4.clone());
                }
                now_seen.push(cart::CartGiftCard {
                    id: g.id,
                    seen: t.balance,
                });
            }
            None => {
                fell.get_or_insert_with(|| g.id.to_string());
            }
        }
    }
    if let Some(last4) = fell {
        return Ok(Priced::BalanceChanged { last4, now_seen });
    }
    let mut ask = cart::to_price(cart, &keys, currency, now);
    ask.gift_cards = tenders;
    ask.customer = c.who.customer.or(cart.customer_id);
    ask.email = Some(&c.valid.email);
    ask.destination = Some(Destination::new(&to.country, &to.region, &to.postal_code));
    let rules_err = |e: rules::RulesError| match e {
        rules::RulesError::Storage(s) => PlaceError::from(s),
        other => PlaceError::Checkout(CheckoutError::Internal(other.to_string())),
    };
    // No method named: `standard` when the address's zone offers it (one quote, the common
    // case), else the cheapest method offered.
    ask.shipping_method = match (&c.valid.method, ships) {
        (_, false) => None,
        (Some(m), true) => Some(m.as_str()),
        (None, true) => Some(DEFAULT_METHOD),
    };
    let mut quote = rules::price(&*tx, &c.rules, &ask).map_err(rules_err)?;
    let offers;
    if ships && quote.shipping.is_none() && c.valid.method.is_none() {
        offers = rules::offers(&*tx, &c.rules, &ask).map_err(rules_err)?;
        let Some(cheapest) = offers.first() else {
            return Err(invalid(
                "shipping_address",
                "not_served",
                "no shipping method delivers to this address",
            ));
        };
        ask.shipping_method = Some(cheapest.code.as_str());
        quote = rules::price(&*tx, &c.rules, &ask).map_err(rules_err)?;
    }
    if ships && quote.shipping.is_none() {
        let offered: Vec<String> = rules::offers(&*tx, &c.rules, &ask)
            .map_err(rules_err)?
            .into_iter()
            .map(|o| o.code)
            .collect();
        return Err(invalid(
            "shipping_method",
            "not_offered",
            format!(
                "is not offered for this address and cart; offered: {}",
                offered.join(", ")
            ),
        ));
    }
    let refused: Vec<(String, Refusal)> = cart
        .codes
        .iter()
        .filter_map(|code| quote.refusal_of(code).map(|r| (code.clone(), r)))
        .collect();
    Ok(if refused.is_empty() {
        Priced::Quote(Box::new(quote))
    } else {
        Priced::CodesRefused(refused)
    })
}

fn line_of(
    l: &cart::CartLine,
    product: &catalog::Product,
    variant: &catalog::Variant,
    q: &pricing::QuoteLine,
) -> OrderLine {
    OrderLine {
        // The cart line's id: the stored quote names lines by it.
        id: l.id,
        variant_id: l.variant_id,
        product_id: product.id,
        title: product.title.clone(),
        variant_title: variant.option_values.join(" / "),
        sku: variant.sku.clone(),
        requires_shipping: variant.requires_shipping,
        gift_card: product.gift_card,
        quantity: l.quantity,
        fulfilled_quantity: 0,
        unit_price: q.unit_price,
        discount: q.discount,
        tax: q.tax,
        total: q.total,
    }
}

fn actor(c: Option<CustomerId>) -> String {
    c.map_or_else(|| "guest".to_owned(), |c| c.to_string())
}

/// The checkout module's own schema steps.
pub const MIGRATIONS: &[crate::storage::Migration] = &[crate::storage::Migration {
    to: 5,
    description: "idempotency records hold typed outcomes",
    run: migrate_idempotency_outcomes,
}];

/// Migration to schema 5: idempotency records of checkouts and fulfilments stored the JSON
/// response; each becomes the typed outcome ([`Placed`] or [`orders::Fulfilled`]) naming the
/// same order, so a key used before the upgrade still replays its order and never makes a
/// second one. Records whose order is gone are dropped. (Records live 48 hours, so this is a
/// bounded pass made once, before the server starts.)
pub fn migrate_idempotency_outcomes(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    let mut after: Option<(String, String)> = None;
    loop {
        let rows = idempotency::legacy_records(tx, after.as_ref(), 1000)?;
        let Some((last, _)) = rows.last() else {
            return Ok(());
        };
        after = Some(last.clone());
        for (id, rec) in rows {
            let idempotency::Stored::Response { body, .. } = &rec.stored else {
                continue;
            };
            let view: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let order = view["id"]
                .as_str()
                .and_then(|s| OrderId::parse(s).ok())
                .map(|oid| orders::find(tx, oid))
                .transpose()?
                .flatten();
            match (order, view["order_token"].as_str()) {
                (Some(order), _) if id.0.starts_with("fulfil:") => {
                    idempotency::convert_legacy(tx, &id, rec, &orders::Fulfilled { order })?
                }
                (Some(order), Some(token)) => {
                    let placed = Placed {
                        order,
                        order_token: token.to_owned(),
                        payment: None,
                    };
                    idempotency::convert_legacy(tx, &id, rec, &placed)?
                }
                _ => idempotency::drop_legacy(tx, &id, &rec)?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::{Currency, Money, TestClock};
    use crate::storage::StoreOptions;

    fn order(now: Timestamp) -> Order {
        let zero = Money::zero(Currency::USD);
        let addr = Address {
            name: "Ada".into(),
            line1: "1 Road".into(),
            line2: String::new(),
            city: "London".into(),
            region: String::new(),
            postal_code: String::new(),
            country: "GB".into(),
        };
        Order {
            id: OrderId::new(now),
            status: orders::Status::PendingPayment,
            customer_id: None,
            email: "ada@example.com".into(),
            token_hash: hash_token("ot_secret"),
            lines: Vec::new(),
            totals: Totals {
                subtotal: zero,
                discount: zero,
                shipping: zero,
                tax: zero,
                gift_cards: zero,
                total: zero,
                paid: zero,
                refunded: zero,
            },
            tax_inclusive: false,
            tax_lines: Vec::new(),
            invoice: None,
            shipping_address: Some(addr.clone()),
            billing_address: addr,
            shipping_method: Some(DEFAULT_METHOD.into()),
            fulfilments: Vec::new(),
            notes: Vec::new(),
            history: Vec::new(),
            expires_at: now,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Keys used before schema 5 (stored JSON responses) still replay their order afterwards,
    /// with the same body check; a record whose order is gone is dropped.
    #[tokio::test]
    async fn legacy_responses_become_typed_outcomes_naming_the_same_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Timestamp::from_millis(1_000_000);
        let store = Store::open(StoreOptions::new(
            dir.path().to_path_buf(),
            Arc::new(TestClock::new(now)),
            crate::storage::SCHEMA_V1,
        ))
        .expect("open");
        let o = order(now);
        let input = serde_json::json!({"email": "ada@example.com"});
        let keyed = idempotency::Keyed::new("cus_1", Some("k1"), &input).expect("key");
        let fulfil = idempotency::Keyed::new("fulfil:cus_2", Some("f1"), &input).expect("key");
        let gone = idempotency::Keyed::new("cus_1", Some("gone"), &input).expect("key");
        // Schema 4 hashed the same canonical body a request computes today.
        let h = {
            use sha2::Digest;
            sha2::Sha256::digest(serde_json::to_vec(&input).expect("json")).to_vec()
        };
        let (h1, h2, h3) = (h.clone(), h.clone(), h);
        let (oid, o2) = (o.id, o.clone());
        store
            .write(move |tx| {
                orders::insert(tx, &o2)?;
                let view = serde_json::json!({"id": oid.to_string(), "order_token": "ot_secret"});
                let body = serde_json::to_vec(&view).expect("json");
                idempotency::put_legacy(tx, "cus_1", "k1", h1, &body)?;
                idempotency::put_legacy(tx, "fulfil:cus_2", "f1", h2, &body)?;
                let missing = serde_json::json!({"id": OrderId::new(now).to_string()});
                let body = serde_json::to_vec(&missing).expect("json");
                idempotency::put_legacy(tx, "cus_1", "gone", h3, &body)?;
                migrate_idempotency_outcomes(tx)
            })
            .await
            .expect("migrate");
        let r = store.read().expect("read");
        let placed: Placed = keyed
            .stored::<Placed, CheckoutError>(&r)
            .expect("read")
            .expect("kept");
        assert_eq!(
            (placed.order.id, placed.order_token.as_str()),
            (o.id, "ot_secret")
        );
        let f: orders::Fulfilled = fulfil
            .stored::<orders::Fulfilled, CheckoutError>(&r)
            .expect("read")
            .expect("kept");
        assert_eq!(f.order.id, o.id);
        assert!(
            gone.stored::<Placed, CheckoutError>(&r)
                .expect("read")
                .is_none()
        );
        let other = idempotency::Keyed::new("cus_1", Some("k1"), &1).expect("key");
        assert!(matches!(
            other.stored::<Placed, CheckoutError>(&r),
            Err(CheckoutError::Key(idempotency::KeyError::Reused))
        ));
    }
}
