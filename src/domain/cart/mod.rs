//! Shopping carts. An anonymous cart is reached by an unguessable token (only its hash is
//! stored); a customer's cart by the account. When a signed-in customer presents an anonymous
//! cart's token, that cart merges into theirs (quantities added, capped by the line limit and
//! by stock) and the token then leads to the customer's cart, for that customer only.
//!
//! Lines snapshot the unit price when added; views report lines whose price has changed since,
//! and checkout refuses until the customer has seen the new prices. Idle carts expire and a
//! recurring job deletes them.

mod model;

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use std::time::Duration;

pub use model::{
    Cart, CartGiftCard, CartLine, CartView, LineView, PriceChange, TenderView, gift_card_ids,
    line_keys, to_price,
};

use crate::core::secret::{hash_token, hex, new_token};
use crate::core::{CartId, Currency, CustomerId, LineId, Timestamp, VariantId};
use crate::domain::{catalog, giftcards, inventory, pricing, rules};
use crate::jobs;
use crate::storage::{Order, Reader, StorageError, Store, WriteTx};
use model::{CART_EXPIRY, CART_TOKENS, CARTS, CUSTOMER_CARTS};

/// Job kind of the idle-cart sweeper (re-enqueues itself).
pub const SWEEP_JOB: &str = "cart.sweep";

/// Most discount codes on one cart.
pub const MAX_CODES: usize = 5;
/// Most gift cards on one cart.
pub const MAX_GIFT_CARDS: usize = 5;

/// How often the sweeper runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Limits and defaults of carts.
#[derive(Clone, Debug)]
pub struct CartSettings {
    /// Most lines in one cart.
    pub max_lines: usize,
    /// Most units of one line.
    pub max_line_quantity: i64,
    /// A cart untouched this long expires.
    pub idle: Duration,
    /// Currency shown for empty carts.
    pub currency: Currency,
}

impl Default for CartSettings {
    fn default() -> Self {
        CartSettings {
            max_lines: 100,
            max_line_quantity: 99,
            idle: Duration::from_secs(30 * 24 * 3600),
            currency: Currency::USD,
        }
    }
}

/// Who is asking for a cart: the `X-Cart-Token` header and/or the signed-in customer.
#[derive(Clone, Debug, Default)]
pub struct CartOwner {
    /// Signed-in customer.
    pub customer: Option<CustomerId>,
    /// Anonymous cart token.
    pub token: Option<String>,
}

/// Why a cart operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// Neither a token nor a customer was given.
    #[error("send the cart's X-Cart-Token header or sign in")]
    NoCart,
    /// Unknown, expired, or someone else's cart; or no such line.
    #[error("{0}")]
    NotFound(&'static str),
    /// The variant or its product cannot be bought.
    #[error("{0}")]
    Unavailable(String),
    /// Not enough stock.
    #[error("only {available} available")]
    OutOfStock {
        /// The variant.
        variant_id: VariantId,
        /// Units that can still be added.
        available: i64,
    },
    /// Bad input.
    #[error("{0}")]
    Invalid(FieldIssue),
    /// A gift card that cannot be used.
    #[error(transparent)]
    GiftCard(#[from] giftcards::GiftCardError),
    /// A discount code that cannot be used, with the one reason.
    #[error("the code {code} cannot be used: {}", reason.as_str())]
    CodeRefused {
        /// The code as normalised.
        code: String,
        /// Why.
        reason: pricing::Refusal,
    },
    /// A fault that is not storage's (an arithmetic bound the caps should rule out).
    #[error("internal: {0}")]
    Internal(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ErrorCode for CartError {
    fn code(&self) -> Code {
        match self {
            CartError::NoCart => codes::CART_REQUIRED,
            CartError::NotFound(_) => codes::NOT_FOUND,
            CartError::Unavailable(_) => codes::PRODUCT_UNAVAILABLE,
            CartError::OutOfStock { .. } => codes::OUT_OF_STOCK,
            CartError::Invalid(_) => codes::VALIDATION_FAILED,
            CartError::CodeRefused { reason, .. } => refusal_code(*reason),
            CartError::GiftCard(g) => g.code(),
            CartError::Internal(_) => codes::INTERNAL_ERROR,
            CartError::Storage(s) => s.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            CartError::NoCart => {
                "send the cart's X-Cart-Token header (from POST /api/v1/cart) or sign in".into()
            }
            CartError::OutOfStock {
                variant_id,
                available,
            } => format!("only {available} of {variant_id} can be added"),
            CartError::Internal(_) => codes::INTERNAL_MESSAGE.into(),
            CartError::Storage(s) => s.message(),
            CartError::GiftCard(g) => g.message(),
            other => other.to_string(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            CartError::Invalid(i) => vec![i.clone()],
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            CartError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
}

/// The error-table code of a refused discount code (the 422's `code`).
pub fn refusal_code(r: pricing::Refusal) -> Code {
    use pricing::Refusal as R;
    match r {
        R::Unknown => codes::UNKNOWN,
        R::Expired => codes::EXPIRED,
        R::NotStarted => codes::NOT_STARTED,
        R::UsageLimitReached => codes::USAGE_LIMIT_REACHED,
        R::MinimumNotMet => codes::MINIMUM_NOT_MET,
        R::NotApplicable => codes::NOT_APPLICABLE,
        R::NotCombinable => codes::NOT_COMBINABLE,
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> CartError {
    CartError::Invalid(FieldIssue::new(field, "invalid", message.into()))
}

/// The cart service.
#[derive(Clone, Debug)]
pub struct Carts {
    store: Store,
    settings: CartSettings,
    rules: rules::PricingRules,
}

impl Carts {
    /// Wraps the store; carts are priced by `rules`.
    pub fn new(store: Store, settings: CartSettings, rules: rules::PricingRules) -> Self {
        Carts {
            store,
            settings,
            rules,
        }
    }

    /// The current rules snapshot (cached; reloaded after a rules change).
    fn snapshot(&self) -> Result<std::sync::Arc<pricing::Rules>, CartError> {
        let r = self.store.read()?;
        self.rules.snapshot(&r).map_err(rules_err)
    }

    /// The limits in force.
    pub fn settings(&self) -> &CartSettings {
        &self.settings
    }

    /// Creates an empty anonymous cart; the token is returned once and never stored.
    pub async fn create(&self) -> Result<(CartView, String), CartError> {
        let s = self.settings.clone();
        let pr = self.snapshot()?;
        self.store
            .write(move |tx| {
                let now = tx.now();
                let mut cart = Cart::new(CartId::new(now), None, now, &s);
                // The token names its cart, so finding it needs no index of random hashes
                // (one random B-tree page fewer per cart written or checked out).
                let token = new_token(&format!("{TOKEN_PREFIX}{}.", cart.id));
                cart.token_hashes.push(hash_token(&token));
                save(tx, None, &cart)?;
                Ok((view(tx, &cart, &s, &pr, now)?, token))
            })
            .await
    }

    /// The caller's cart. A signed-in customer presenting an anonymous token gets it merged
    /// into their cart; a customer without a cart sees an empty one.
    pub async fn get(&self, who: CartOwner) -> Result<CartView, CartError> {
        {
            let r = self.store.read()?;
            let now = self.store.now();
            let pr = self.rules.snapshot(&r).map_err(rules_err)?;
            match find(&r, &who, now)? {
                Found::Cart(c) => return view(&r, &c, &self.settings, &pr, now),
                Found::Empty(customer) => {
                    let cart = Cart::new(CartId::new(now), Some(customer), now, &self.settings);
                    return view(&r, &cart, &self.settings, &pr, now);
                }
                Found::Merge { .. } => {}
            }
        }
        self.modify(who, |_, _, _| Ok(())).await
    }

    /// Adds `quantity` units of a variant (to its line if the cart has one).
    pub async fn add(
        &self,
        who: CartOwner,
        variant_id: &str,
        quantity: i64,
    ) -> Result<CartView, CartError> {
        let variant = VariantId::parse(variant_id)
            .map_err(|_| invalid("variant_id", "is not a variant id"))?;
        self.modify(who, move |tx, cart, s| {
            let existing = cart.lines.iter().position(|l| l.variant_id == variant);
            let have = existing.map_or(0, |i| cart.lines[i].quantity);
            check_quantity(quantity, s)?;
            let total = have + quantity;
            if total > s.max_line_quantity {
                return Err(invalid(
                    "quantity",
                    format!(
                        "at most {} of one item per cart ({have} already in the cart)",
                        s.max_line_quantity
                    ),
                ));
            }
            let (product, v) = purchasable(tx, variant)?;
            if let Some(c) = cart.currency()
                && c != v.price.currency
            {
                return Err(invalid(
                    "variant_id",
                    format!("is priced in {}, the cart in {c}", v.price.currency),
                ));
            }
            check_stock(tx, &v, total)?;
            match existing {
                Some(i) => {
                    let line = &mut cart.lines[i];
                    line.quantity = total;
                    line.unit_price = v.price;
                }
                None => {
                    if cart.lines.len() >= s.max_lines {
                        return Err(invalid(
                            "variant_id",
                            format!("a cart holds at most {} lines", s.max_lines),
                        ));
                    }
                    cart.lines.push(CartLine {
                        id: LineId::new(tx.now()),
                        variant_id: variant,
                        product_id: product.id,
                        quantity,
                        unit_price: v.price,
                    });
                }
            }
            Ok(())
        })
        .await
    }

    /// Sets a line's quantity (the price snapshot is refreshed: the customer sees it now).
    pub async fn update(
        &self,
        who: CartOwner,
        line_id: &str,
        quantity: i64,
    ) -> Result<CartView, CartError> {
        let line = LineId::parse(line_id).map_err(|_| CartError::NotFound("no such cart line"))?;
        self.modify(who, move |tx, cart, s| {
            check_quantity(quantity, s)?;
            let i = cart
                .lines
                .iter()
                .position(|l| l.id == line)
                .ok_or(CartError::NotFound("no such cart line"))?;
            let (_, v) = purchasable(tx, cart.lines[i].variant_id)?;
            if quantity > cart.lines[i].quantity {
                check_stock(tx, &v, quantity)?;
            }
            cart.lines[i].quantity = quantity;
            cart.lines[i].unit_price = v.price;
            Ok(())
        })
        .await
    }

    /// Removes a line.
    pub async fn remove(&self, who: CartOwner, line_id: &str) -> Result<CartView, CartError> {
        let line = LineId::parse(line_id).map_err(|_| CartError::NotFound("no such cart line"))?;
        self.modify(who, move |_, cart, _| {
            let before = cart.lines.len();
            cart.lines.retain(|l| l.id != line);
            if cart.lines.len() == before {
                return Err(CartError::NotFound("no such cart line"));
            }
            Ok(())
        })
        .await
    }

    /// Merges the anonymous cart behind `token` into `customer`'s cart (at sign-in). Unknown
    /// tokens are ignored: signing in must not fail because of a stale cart.
    pub async fn merge_on_login(
        &self,
        customer: CustomerId,
        token: String,
    ) -> Result<(), CartError> {
        let who = CartOwner {
            customer: Some(customer),
            token: Some(token),
        };
        match self.modify(who, |_, _, _| Ok(())).await {
            Ok(_) | Err(CartError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Resolves (merging if needed), applies `f`, stores and renders, in one transaction.
    async fn modify<F>(&self, who: CartOwner, f: F) -> Result<CartView, CartError>
    where
        F: FnOnce(&mut WriteTx<'_>, &mut Cart, &CartSettings) -> Result<(), CartError>
            + Send
            + 'static,
    {
        let s = self.settings.clone();
        let pr = self.snapshot()?;
        self.store
            .write(move |tx| {
                let mut cart = resolve_for_write(tx, &who, &s)?;
                let before = cart.customer_id;
                f(tx, &mut cart, &s)?;
                let now = tx.now();
                cart.touch(now, &s);
                save(tx, before, &cart)?;
                view(tx, &cart, &s, &pr, now)
            })
            .await
    }

    /// Applies a discount code (case-insensitive). A code that would not apply to this cart
    /// now is refused with its one reason and not kept.
    pub async fn add_code(&self, who: CartOwner, code: &str) -> Result<CartView, CartError> {
        let Some(code) = rules::normalize_code(code) else {
            return Err(CartError::CodeRefused {
                code: code.chars().take(64).collect(),
                reason: pricing::Refusal::Unknown,
            });
        };
        let pr = self.snapshot()?;
        self.modify(who, move |tx, cart, s| {
            if cart.codes.contains(&code) {
                return Ok(());
            }
            if cart.codes.len() >= MAX_CODES {
                return Err(invalid(
                    "code",
                    format!("at most {MAX_CODES} codes per cart"),
                ));
            }
            cart.codes.push(code.clone());
            let keys = line_keys(cart);
            let currency = cart.currency().unwrap_or(s.currency);
            let quote = rules::price(&*tx, &pr, &to_price(cart, &keys, currency, tx.now()))
                .map_err(rules_err)?;
            match quote.refusal_of(&code) {
                Some(reason) => Err(CartError::CodeRefused {
                    code: code.clone(),
                    reason,
                }),
                None => Ok(()),
            }
        })
        .await
    }

    /// Adds a gift card as a tender (its code, typed as printed). Its balance now is what the
    /// customer saw; checkout refuses when it fell since.
    pub async fn add_gift_card(&self, who: CartOwner, code: &str) -> Result<CartView, CartError> {
        let code = code.to_owned();
        self.modify(who, move |tx, cart, s| {
            let currency = cart.currency().unwrap_or(s.currency);
            let card = giftcards::find_usable(&*tx, &code, currency, tx.now())?;
            if let Some(g) = cart.gift_cards.iter_mut().find(|g| g.id == card.id) {
                g.seen = card.balance;
                return Ok(());
            }
            if cart.gift_cards.len() >= MAX_GIFT_CARDS {
                return Err(invalid(
                    "code",
                    format!("at most {MAX_GIFT_CARDS} gift cards per cart"),
                ));
            }
            cart.gift_cards.push(CartGiftCard {
                id: card.id,
                seen: card.balance,
            });
            Ok(())
        })
        .await
    }

    /// Takes a gift card off the cart.
    pub async fn remove_gift_card(&self, who: CartOwner, id: &str) -> Result<CartView, CartError> {
        let id = crate::core::GiftCardId::parse(id)
            .map_err(|_| CartError::NotFound("no such gift card on the cart"))?;
        self.modify(who, move |_, cart, _| {
            let before = cart.gift_cards.len();
            cart.gift_cards.retain(|g| g.id != id);
            if cart.gift_cards.len() == before {
                return Err(CartError::NotFound("no such gift card on the cart"));
            }
            Ok(())
        })
        .await
    }

    /// Removes a discount code from the cart.
    pub async fn remove_code(&self, who: CartOwner, code: &str) -> Result<CartView, CartError> {
        let code = code.trim().to_ascii_uppercase();
        self.modify(who, move |_, cart, _| {
            let before = cart.codes.len();
            cart.codes.retain(|c| *c != code);
            if cart.codes.len() == before {
                return Err(CartError::NotFound("no such code on the cart"));
            }
            Ok(())
        })
        .await
    }

    /// The shipping methods offered for the caller's cart at `destination`, cheapest first.
    pub fn shipping_methods(
        &self,
        who: CartOwner,
        destination: pricing::Destination,
    ) -> Result<Vec<rules::MethodOffer>, CartError> {
        let r = self.store.read()?;
        let now = self.store.now();
        let pr = self.rules.snapshot(&r).map_err(rules_err)?;
        let cart = match find(&r, &who, now)? {
            Found::Cart(c) | Found::Merge { anon: c, .. } => c,
            Found::Empty(customer) => {
                Cart::new(CartId::new(now), Some(customer), now, &self.settings)
            }
        };
        let keys = line_keys(&cart);
        let currency = cart.currency().unwrap_or(self.settings.currency);
        let mut ask = to_price(&cart, &keys, currency, now);
        ask.destination = Some(destination);
        rules::offers(&r, &pr, &ask).map_err(rules_err)
    }

    /// Deletes up to `limit` carts idle past their expiry; returns how many.
    pub async fn sweep(&self, limit: usize) -> Result<usize, CartError> {
        self.store.write(move |tx| sweep_expired(tx, limit)).await
    }

    /// The cart module's background work: the hourly sweep of idle carts.
    pub fn work(&self) -> jobs::Work {
        let c = self.clone();
        jobs::Work::new()
            .handler(
                SWEEP_JOB,
                1,
                jobs::handler_fn(move |ctx| c.clone().run_sweep(ctx)),
            )
            .every(SWEEP_JOB, SWEEP_EVERY)
    }

    /// Job handler of [`SWEEP_JOB`]: deletes expired carts in batches, then schedules the next
    /// run (one per [`SWEEP_EVERY`] window, deduplicated by window).
    pub async fn run_sweep(
        self,
        _ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        loop {
            let n = self
                .sweep(500)
                .await
                .map_err(|e| jobs::JobError::retry(e.to_string()))?;
            if n < 500 {
                break;
            }
        }
        Ok(jobs::JobOutcome::DoneWith(Box::new(|tx| {
            let next = tx.now().plus(SWEEP_EVERY);
            jobs::schedule_recurring(tx, SWEEP_JOB, SWEEP_EVERY, next)
        })))
    }
}

fn sweep_expired(tx: &mut WriteTx<'_>, limit: usize) -> Result<usize, CartError> {
    let now = tx.now();
    let due = tx.range(
        &CART_EXPIRY,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Included(&(now, CartId::from_bytes([0xff; 16]))),
        Order::Asc,
        limit,
    )?;
    let n = due.len();
    for ((_, id), ()) in due {
        if let Some(cart) = tx.get(&CARTS, &id)? {
            delete(tx, &cart)?;
        } else {
            tx.remove(&CART_EXPIRY, &(now, id))?;
        }
    }
    Ok(n)
}

/// Deletes a cart and its index entries (after checkout, or expired).
pub fn delete(tx: &mut WriteTx<'_>, cart: &Cart) -> Result<(), StorageError> {
    tx.remove(&CARTS, &cart.id)?;
    tx.remove(&CART_EXPIRY, &(cart.expires_at, cart.id))?;
    if let Some(c) = cart.customer_id
        && tx.get(&CUSTOMER_CARTS, &c)? == Some(cart.id)
    {
        tx.remove(&CUSTOMER_CARTS, &c)?;
    }
    // Only tokens redirected by a merge (or minted before tokens named their cart) are
    // indexed; checking first keeps the common delete from touching that table.
    for h in &cart.token_hashes {
        if tx.contains(&CART_TOKENS, h)? {
            tx.remove(&CART_TOKENS, h)?;
        }
    }
    Ok(())
}

fn check_quantity(q: i64, s: &CartSettings) -> Result<(), CartError> {
    if (1..=s.max_line_quantity).contains(&q) {
        Ok(())
    } else {
        Err(invalid(
            "quantity",
            format!("must be between 1 and {}", s.max_line_quantity),
        ))
    }
}

/// The variant and its product, if it can be bought now.
fn purchasable(
    r: &impl Reader,
    variant: VariantId,
) -> Result<(catalog::Product, catalog::Variant), CartError> {
    let product = catalog::product_of_variant_in(r, variant)?
        .ok_or(CartError::NotFound("no such variant"))?;
    if !product.status.sellable() {
        return Err(CartError::Unavailable(format!(
            "`{}` is not on sale",
            product.title
        )));
    }
    let v = product
        .variants
        .iter()
        .find(|v| v.id == variant)
        .cloned()
        .ok_or(CartError::NotFound("no such variant"))?;
    Ok((product, v))
}

fn check_stock(r: &impl Reader, v: &catalog::Variant, total: i64) -> Result<(), CartError> {
    if !v.track_inventory {
        return Ok(());
    }
    let level = inventory::level(r, v.id)?;
    if level.can_reserve(total) {
        Ok(())
    } else {
        Err(CartError::OutOfStock {
            variant_id: v.id,
            available: level.available().max(0),
        })
    }
}

/// What a lookup found.
enum Found {
    Cart(Cart),
    /// A signed-in customer without a cart yet.
    Empty(CustomerId),
    /// An anonymous cart to merge into the customer's.
    Merge {
        anon: Cart,
        customer: CustomerId,
    },
}

fn live(c: Option<Cart>, now: Timestamp) -> Option<Cart> {
    c.filter(|c| c.expires_at > now)
}

/// Finds the caller's cart without writing.
fn find(r: &impl Reader, who: &CartOwner, now: Timestamp) -> Result<Found, CartError> {
    match (&who.token, who.customer) {
        (None, None) => Err(CartError::NoCart),
        (Some(token), customer) => {
            let h = hash_token(token);
            let named = match selector(token) {
                Some(id) => r.get(&CARTS, &id)?.filter(|c| c.token_hashes.contains(&h)),
                None => None,
            };
            let cart = match named {
                Some(c) => Some(c),
                // A token merged into a customer's cart, or one minted before tokens named
                // their cart, is found through the index.
                None => match r.get(&CART_TOKENS, &h)? {
                    Some(id) => r.get(&CARTS, &id)?,
                    None => None,
                },
            };
            let Some(cart) = live(cart, now) else {
                return Err(CartError::NotFound("no such cart (it may have expired)"));
            };
            match (cart.customer_id, customer) {
                (None, None) => Ok(Found::Cart(cart)),
                (None, Some(c)) => Ok(Found::Merge {
                    anon: cart,
                    customer: c,
                }),
                (Some(owner), Some(c)) if owner == c => Ok(Found::Cart(cart)),
                // Someone else's cart, or a customer's cart without their sign-in.
                _ => Err(CartError::NotFound("no such cart (it may have expired)")),
            }
        }
        (None, Some(c)) => match r.get(&CUSTOMER_CARTS, &c)? {
            Some(id) => match live(r.get(&CARTS, &id)?, now) {
                Some(cart) => Ok(Found::Cart(cart)),
                None => Ok(Found::Empty(c)),
            },
            None => Ok(Found::Empty(c)),
        },
    }
}

/// Finds or creates the caller's cart inside a write, performing a pending merge.
fn resolve_for_write(
    tx: &mut WriteTx<'_>,
    who: &CartOwner,
    s: &CartSettings,
) -> Result<Cart, CartError> {
    let now = tx.now();
    match find(&*tx, who, now)? {
        Found::Cart(c) => Ok(c),
        Found::Empty(customer) => {
            // A stale (expired, unswept) customer cart is replaced.
            if let Some(id) = tx.get(&CUSTOMER_CARTS, &customer)?
                && let Some(old) = tx.get(&CARTS, &id)?
            {
                delete(tx, &old)?;
            }
            Ok(Cart::new(CartId::new(now), Some(customer), now, s))
        }
        Found::Merge { anon, customer } => {
            let mut target = match tx.get(&CUSTOMER_CARTS, &customer)? {
                Some(id) => match live(tx.get(&CARTS, &id)?, now) {
                    Some(c) => c,
                    None => {
                        if let Some(old) = tx.get(&CARTS, &id)? {
                            delete(tx, &old)?;
                        }
                        Cart::new(CartId::new(now), Some(customer), now, s)
                    }
                },
                None => Cart::new(CartId::new(now), Some(customer), now, s),
            };
            merge_lines(tx, &mut target, &anon, s)?;
            for c in &anon.codes {
                if !target.codes.contains(c) && target.codes.len() < MAX_CODES {
                    target.codes.push(c.clone());
                }
            }
            // The anonymous cart goes; its token now leads to the customer's cart.
            delete(tx, &anon)?;
            for h in &anon.token_hashes {
                tx.insert(&CART_TOKENS, h, &target.id)?;
                if !target.token_hashes.contains(h) {
                    target.token_hashes.push(h.clone());
                }
            }
            Ok(target)
        }
    }
}

/// Adds `from`'s lines to `into`: quantities add up, capped by the per-line limit and by what
/// stock allows; lines that no longer can be bought, or beyond the line limit, are dropped.
fn merge_lines(
    r: &impl Reader,
    into: &mut Cart,
    from: &Cart,
    s: &CartSettings,
) -> Result<(), CartError> {
    for line in &from.lines {
        let Ok((_, v)) = purchasable(r, line.variant_id) else {
            continue;
        };
        if into.currency().is_some_and(|c| c != v.price.currency) {
            continue;
        }
        let existing = into
            .lines
            .iter()
            .position(|l| l.variant_id == line.variant_id);
        let have = existing.map_or(0, |i| into.lines[i].quantity);
        let mut total = (have + line.quantity).min(s.max_line_quantity);
        if v.track_inventory {
            let level = inventory::level(r, v.id)?;
            if level.backorder == inventory::Backorder::Deny {
                total = total.min(level.available().max(have));
            }
        }
        match existing {
            Some(i) => into.lines[i].quantity = total.max(have),
            None if total > 0 && into.lines.len() < s.max_lines => into.lines.push(CartLine {
                quantity: total,
                ..line.clone()
            }),
            None => {}
        }
    }
    Ok(())
}

fn save(
    tx: &mut WriteTx<'_>,
    previous_owner: Option<CustomerId>,
    cart: &Cart,
) -> Result<(), StorageError> {
    if let Some(old) = tx.get(&CARTS, &cart.id)? {
        tx.remove(&CART_EXPIRY, &(old.expires_at, old.id))?;
    }
    if previous_owner != cart.customer_id
        && let Some(c) = previous_owner
    {
        tx.remove(&CUSTOMER_CARTS, &c)?;
    }
    if let Some(c) = cart.customer_id {
        tx.insert(&CUSTOMER_CARTS, &c, &cart.id)?;
    }
    tx.insert(&CART_EXPIRY, &(cart.expires_at, cart.id), &())?;
    tx.insert(&CARTS, &cart.id, cart)
}

/// Renders a cart with current prices, stock, the lines whose price changed, and its quote.
fn view(
    r: &impl Reader,
    cart: &Cart,
    s: &CartSettings,
    pr: &pricing::Rules,
    now: Timestamp,
) -> Result<CartView, CartError> {
    model::render(r, cart, s.currency, pr, now)
}

/// A rules failure while pricing a cart (storage, or an amount the caps should rule out).
fn rules_err(e: rules::RulesError) -> CartError {
    match e {
        rules::RulesError::Storage(s) => CartError::Storage(s),
        other => CartError::Internal(other.to_string()),
    }
}

/// Loads the cart a checkout is for, inside the checkout's transaction.
pub fn for_checkout(
    tx: &mut WriteTx<'_>,
    who: &CartOwner,
    s: &CartSettings,
) -> Result<Cart, CartError> {
    let cart = resolve_for_write(tx, who, s)?;
    if cart.lines.is_empty() {
        return Err(invalid("cart", "is empty"));
    }
    Ok(cart)
}

/// The cart a checkout would use, read without writing (the optimistic strategy's snapshot):
/// for a pending merge, the customer's lines plus the anonymous cart's.
pub fn peek(r: &impl Reader, who: &CartOwner, now: Timestamp) -> Result<Option<Cart>, CartError> {
    Ok(match find(r, who, now)? {
        Found::Cart(c) => Some(c),
        Found::Empty(_) => None,
        Found::Merge { anon, customer } => {
            let mut c = match r.get(&CUSTOMER_CARTS, &customer)? {
                Some(id) => live(r.get(&CARTS, &id)?, now),
                None => None,
            }
            .unwrap_or_else(|| anon.clone());
            if c.id != anon.id {
                c.lines.extend(anon.lines);
            }
            Some(c)
        }
    })
}

/// Stores a cart changed by checkout (refreshed price snapshots).
pub fn store(tx: &mut WriteTx<'_>, cart: &Cart, s: &CartSettings) -> Result<(), StorageError> {
    let mut c = cart.clone();
    let before = tx.get(&CARTS, &c.id)?.and_then(|x| x.customer_id);
    c.touch(tx.now(), s);
    save(tx, before, &c)
}

/// Current price per line, for checkout: `(line, product, variant)` or why it cannot be bought.
pub fn current(
    r: &impl Reader,
    line: &CartLine,
) -> Result<(catalog::Product, catalog::Variant), CartError> {
    purchasable(r, line.variant_id)
}

/// Cart tokens start with this, then name their cart: `ct_<cart id>.<secret>`.
const TOKEN_PREFIX: &str = "ct_";

/// The cart a token names, if it has that form (the secret is checked against the cart).
fn selector(token: &str) -> Option<CartId> {
    let (id, _secret) = token.strip_prefix(TOKEN_PREFIX)?.split_once('.')?;
    CartId::parse(id).ok()
}

/// The idempotency scope of requests made with `token`: its hash, after the cart id when the
/// token names one, so a cart's stored responses sort by the cart's age (recent carts, the
/// ones checking out, share B-tree pages) yet stay bound to the secret.
pub fn token_scope(token: &str) -> String {
    let h = hex(&hash_token(token));
    match selector(token) {
        Some(id) => format!("cart:{id}:{h}"),
        None => format!("cart:{h}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::TestClock;
    use crate::storage::StoreOptions;

    fn store(dir: &std::path::Path) -> Store {
        Store::open(StoreOptions::new(
            dir.to_path_buf(),
            Arc::new(TestClock::new(Timestamp::from_millis(1_000_000))),
            crate::storage::SCHEMA_V1,
        ))
        .expect("open")
    }

    fn anon(token: &str) -> CartOwner {
        CartOwner {
            customer: None,
            token: Some(token.to_owned()),
        }
    }

    #[tokio::test]
    async fn tokens_name_their_cart_and_older_indexed_tokens_still_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path());
        let s = CartSettings::default();
        let carts = Carts::new(
            store.clone(),
            s.clone(),
            rules::PricingRules::new(store.clone(), s.currency),
        );

        let (created, token) = carts.create().await.expect("create");
        assert_eq!(selector(&token), Some(created.id));
        assert_eq!(carts.get(anon(&token)).await.expect("get").id, created.id);
        // Not indexed: found through the id it names.
        let r = store.read().expect("read");
        assert!(
            !r.contains(&CART_TOKENS, &hash_token(&token))
                .expect("contains")
        );
        let scope = token_scope(&token);
        assert!(
            scope.starts_with(&format!("cart:{}:", created.id)),
            "{scope}"
        );

        // A cart from before tokens named their cart: only the index leads to it.
        let legacy = "ct_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
        assert_eq!(selector(legacy), None);
        let id = store
            .write(move |tx| {
                let now = tx.now();
                let mut cart = Cart::new(CartId::new(now), None, now, &CartSettings::default());
                let h = hash_token(legacy);
                tx.insert(&CART_TOKENS, &h, &cart.id)?;
                cart.token_hashes.push(h);
                save(tx, None, &cart)?;
                Ok::<_, StorageError>(cart.id)
            })
            .await
            .expect("legacy cart");
        assert_eq!(carts.get(anon(legacy)).await.expect("legacy get").id, id);
        assert_eq!(
            token_scope(legacy),
            format!("cart:{}", hex(&hash_token(legacy)))
        );
        // Deleting it removes its index entry too.
        store
            .write(move |tx| {
                let cart = tx.get(&CARTS, &id)?.expect("cart");
                delete(tx, &cart)
            })
            .await
            .expect("delete");
        let r = store.read().expect("read");
        assert!(
            !r.contains(&CART_TOKENS, &hash_token(legacy))
                .expect("contains")
        );
        assert!(matches!(
            carts.get(anon(legacy)).await,
            Err(CartError::NotFound(_))
        ));
        store.shutdown().await;
    }
}
