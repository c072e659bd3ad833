//! Cart records, their tables, and the view clients see.

use serde::{Deserialize, Serialize};

use super::CartSettings;
use crate::core::{
    CartId, Currency, CustomerId, GiftCardId, LineId, Money, ProductId, Timestamp, VariantId,
};
use crate::domain::pricing::{DiscountView, ExplanationView, PricedView, TotalsView};
use crate::domain::{catalog, giftcards, inventory, pricing, rules};
use crate::storage::{Reader, Table, Value};

/// Carts by id.
pub(super) const CARTS: Table<CartId, Cart> = Table::new("carts");
/// SHA-256 of a cart token → cart.
pub(super) const CART_TOKENS: Table<Vec<u8>, CartId> = Table::new("cart_tokens");
/// A customer's cart.
pub(super) const CUSTOMER_CARTS: Table<CustomerId, CartId> = Table::new("customer_carts");
/// Carts by expiry, for the sweeper.
pub(super) const CART_EXPIRY: Table<(Timestamp, CartId), ()> = Table::new("cart_expiry");

/// A stored cart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    /// Id.
    pub id: CartId,
    /// Owner once a customer signed in.
    pub customer_id: Option<CustomerId>,
    /// Hashes of the tokens leading here (an anonymous cart's, kept after a merge).
    pub token_hashes: Vec<Vec<u8>>,
    /// Lines in the order they were added.
    pub lines: Vec<CartLine>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Deleted by the sweeper after this.
    pub expires_at: Timestamp,
    /// Discount codes entered (upper case, at most [`super::MAX_CODES`]).
    pub codes: Vec<String>,
    /// Gift cards added as tenders, with the balance the customer last saw.
    pub gift_cards: Vec<CartGiftCard>,
}

/// A gift card on a cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartGiftCard {
    /// The card.
    pub id: GiftCardId,
    /// Its balance when the customer last saw the cart priced (checkout refuses with
    /// `gift_card_balance_changed` when it fell since).
    pub seen: Money,
}

impl Value for Cart {
    const VERSION: u8 = 2;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self, crate::storage::CodecError> {
        /// Version 1: before codes and gift cards.
        #[derive(Deserialize)]
        struct CartV1 {
            id: CartId,
            customer_id: Option<CustomerId>,
            token_hashes: Vec<Vec<u8>>,
            lines: Vec<CartLine>,
            created_at: Timestamp,
            updated_at: Timestamp,
            expires_at: Timestamp,
        }
        match version {
            1 => crate::storage::upgrade_from(bytes, |c: CartV1| Cart {
                id: c.id,
                customer_id: c.customer_id,
                token_hashes: c.token_hashes,
                lines: c.lines,
                created_at: c.created_at,
                updated_at: c.updated_at,
                expires_at: c.expires_at,
                codes: Vec::new(),
                gift_cards: Vec::new(),
            }),
            found => Err(crate::storage::unknown_version::<Self>(found)),
        }
    }
}

/// One variant in a cart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    /// Id (`line_…`).
    pub id: LineId,
    /// The variant.
    pub variant_id: VariantId,
    /// Its product.
    pub product_id: ProductId,
    /// Units.
    pub quantity: i64,
    /// Unit price when the customer last saw it.
    pub unit_price: Money,
}

impl Cart {
    pub(super) fn new(
        id: CartId,
        customer_id: Option<CustomerId>,
        now: Timestamp,
        s: &CartSettings,
    ) -> Cart {
        Cart {
            id,
            customer_id,
            token_hashes: Vec::new(),
            lines: Vec::new(),
            created_at: now,
            updated_at: now,
            expires_at: now.plus(s.idle),
            codes: Vec::new(),
            gift_cards: Vec::new(),
        }
    }

    pub(super) fn touch(&mut self, now: Timestamp, s: &CartSettings) {
        self.updated_at = now;
        self.expires_at = now.plus(s.idle);
    }

    /// The currency of the cart's lines (a cart holds one currency).
    pub fn currency(&self) -> Option<Currency> {
        self.lines.first().map(|l| l.unit_price.currency)
    }
}

/// A line as shown.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LineView {
    /// Line id (`line_…`) for `PATCH`/`DELETE /api/v1/cart/items/{line_id}`.
    #[schema(value_type = String)]
    pub id: LineId,
    /// Variant.
    #[schema(value_type = String)]
    pub variant_id: VariantId,
    /// Product.
    #[schema(value_type = String)]
    pub product_id: ProductId,
    /// Product title.
    pub title: String,
    /// Option values, e.g. "M / Blue" (empty without options).
    pub variant_title: String,
    /// SKU, if the variant has one.
    pub sku: Option<String>,
    /// Units.
    pub quantity: i64,
    /// Current unit price.
    pub unit_price: Money,
    /// Unit price × quantity.
    pub line_total: Money,
    /// Whether the line can be bought now (product on sale, enough stock).
    pub available: bool,
}

/// A line whose price changed since it was added or last updated.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PriceChange {
    /// The line.
    #[schema(value_type = String)]
    pub line_id: LineId,
    /// Its variant.
    #[schema(value_type = String)]
    pub variant_id: VariantId,
    /// Price the customer saw.
    pub previous: Money,
    /// Price now.
    pub current: Money,
}

/// A cart as clients see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CartView {
    /// Id (`cart_…`).
    #[schema(value_type = String)]
    pub id: CartId,
    /// Lines.
    pub lines: Vec<LineView>,
    /// Total units.
    pub item_count: i64,
    /// Sum of line totals at current prices.
    pub subtotal: Money,
    /// Lines priced differently from what the customer saw; checkout refuses (409
    /// `price_changed`) until the cart is viewed through checkout again.
    pub price_changes: Vec<PriceChange>,
    /// Discount codes entered.
    pub codes: Vec<String>,
    /// Totals with promotions and tax (tax estimated for the home zone until an address is
    /// known; shipping once a method is chosen at checkout).
    pub totals: TotalsView,
    /// Whether prices include tax.
    pub tax_inclusive: bool,
    /// Promotions that applied.
    pub discounts: Vec<DiscountView>,
    /// Every rule considered: what applied, what did not and why.
    pub explanation: Vec<ExplanationView>,
    /// Gift cards tendered, with what each pays.
    pub gift_cards: Vec<TenderView>,
    /// When the cart expires if untouched.
    #[schema(value_type = String)]
    pub expires_at: Timestamp,
}

/// A gift card tendered on a cart.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TenderView {
    /// `gc_…` (for `DELETE /api/v1/cart/gift-cards/{id}`).
    #[schema(value_type = String)]
    pub id: GiftCardId,
    /// Last four characters of its code.
    pub last4: String,
    /// What it pays of this cart.
    pub amount: Money,
    /// Its balance now.
    pub balance: Money,
}

/// What a cart asks the pricing rules for (no address or method: the cart view estimates).
pub fn to_price<'a>(
    cart: &'a Cart,
    lines: &'a [(LineId, VariantId, i64)],
    currency: Currency,
    now: Timestamp,
) -> rules::CartToPrice<'a> {
    rules::CartToPrice {
        currency,
        lines,
        customer: cart.customer_id,
        email: None,
        destination: None,
        shipping_method: None,
        codes: &cart.codes,
        gift_cards: Vec::new(),
        now,
    }
}

/// The ids of a cart's gift cards.
pub fn gift_card_ids(cart: &Cart) -> Vec<GiftCardId> {
    cart.gift_cards.iter().map(|g| g.id).collect()
}

/// The (line, variant, units) of a cart, as pricing reads them.
pub fn line_keys(cart: &Cart) -> Vec<(LineId, VariantId, i64)> {
    cart.lines
        .iter()
        .map(|l| (l.id, l.variant_id, l.quantity))
        .collect()
}

/// Renders `cart` against the current catalog, stock and pricing rules.
pub(super) fn render(
    r: &impl Reader,
    cart: &Cart,
    default_currency: Currency,
    pricing_rules: &pricing::Rules,
    now: Timestamp,
) -> Result<CartView, super::CartError> {
    let currency = cart.currency().unwrap_or(default_currency);
    let mut subtotal = Money::zero(currency);
    let mut lines = Vec::with_capacity(cart.lines.len());
    let mut price_changes = Vec::new();
    let mut items = 0i64;
    for l in &cart.lines {
        let product = catalog::product_of_variant_in(r, l.variant_id)?;
        let variant = product
            .as_ref()
            .and_then(|p| p.variants.iter().find(|v| v.id == l.variant_id));
        let (title, variant_title, sku, price, mut available) = match (&product, variant) {
            (Some(p), Some(v)) => (
                p.title.clone(),
                v.option_values.join(" / "),
                v.sku.clone(),
                v.price,
                p.status.sellable(),
            ),
            _ => (String::new(), String::new(), None, l.unit_price, false),
        };
        if let Some(v) = variant
            && v.track_inventory
        {
            available &= inventory::level(r, v.id)?.can_reserve(l.quantity);
        }
        if price != l.unit_price {
            price_changes.push(PriceChange {
                line_id: l.id,
                variant_id: l.variant_id,
                previous: l.unit_price,
                current: price,
            });
        }
        let line_total = price.checked_mul(l.quantity).map_err(overflow)?;
        if line_total.currency == currency {
            subtotal = subtotal.checked_add(line_total).map_err(overflow)?;
        }
        items += l.quantity;
        lines.push(LineView {
            id: l.id,
            variant_id: l.variant_id,
            product_id: l.product_id,
            title,
            variant_title,
            sku,
            quantity: l.quantity,
            unit_price: price,
            line_total,
            available,
        });
    }
    let keys = line_keys(cart);
    let mut ask = to_price(cart, &keys, currency, now);
    ask.gift_cards = giftcards::tenders(r, &gift_card_ids(cart), currency, now)?;
    let balances = ask.gift_cards.clone();
    let quote = rules::price(r, pricing_rules, &ask)
        .map_err(|e| super::CartError::Internal(format!("pricing: {e}")))?;
    let priced = PricedView::of(&quote);
    let gift_cards = quote
        .gift_cards
        .iter()
        .map(|t| TenderView {
            id: t.gift_card_id,
            last4: t.last4.clone(),
            amount: t.amount,
            balance: balances
                .iter()
                .find(|b| b.id == t.gift_card_id)
                .map_or(t.amount, |b| b.balance),
        })
        .collect();
    Ok(CartView {
        id: cart.id,
        lines,
        item_count: items,
        subtotal,
        price_changes,
        codes: cart.codes.clone(),
        totals: priced.totals,
        tax_inclusive: priced.tax_inclusive,
        discounts: priced.discounts,
        explanation: priced.explanation,
        gift_cards,
        expires_at: cart.expires_at,
    })
}

fn overflow(e: crate::core::MoneyError) -> super::CartError {
    super::CartError::Internal(format!("cart total: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Value;

    /// A cart written before codes and gift cards reads with none of either.
    #[test]
    fn version_1_carts_read_without_codes_or_gift_cards() {
        #[derive(Serialize)]
        struct CartV1 {
            id: CartId,
            customer_id: Option<CustomerId>,
            token_hashes: Vec<Vec<u8>>,
            lines: Vec<CartLine>,
            created_at: Timestamp,
            updated_at: Timestamp,
            expires_at: Timestamp,
        }
        let now = Timestamp::from_millis(1_795_000_000_000);
        let line = CartLine {
            id: LineId::new(now),
            variant_id: VariantId::new(now),
            product_id: ProductId::new(now),
            quantity: 2,
            unit_price: Money::new(1000, Currency::USD),
        };
        let v1 = CartV1 {
            id: CartId::new(now),
            customer_id: None,
            token_hashes: vec![vec![1, 2]],
            lines: vec![line.clone()],
            created_at: now,
            updated_at: now,
            expires_at: now,
        };
        let mut bytes = vec![1u8];
        bytes.extend(postcard::to_stdvec(&v1).expect("encode"));
        let c = Cart::decode_value(&bytes).expect("decode");
        assert_eq!((c.id, c.lines.clone()), (v1.id, vec![line]));
        assert!(c.codes.is_empty() && c.gift_cards.is_empty());
    }
}
