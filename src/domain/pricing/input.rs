//! What a quote is asked for: the lines, the buyer, where the goods go, the chosen method, the
//! codes and gift cards, and the time. Callers gather it from the cart and the store; the
//! engine is pure over it.

use std::collections::BTreeMap;

use crate::core::{
    CategoryId, CollectionId, Currency, CustomerId, GiftCardId, LineId, Money, ProductId,
    PromotionId, ShippingMethodId, Timestamp, VariantId,
};

/// A request for a quote.
#[derive(Clone, Debug)]
pub struct QuoteInput {
    /// The cart's currency; every price must be in it.
    pub currency: Currency,
    /// Lines (one per variant).
    pub lines: Vec<LineInput>,
    /// Who buys.
    pub buyer: Buyer,
    /// Where the goods go (the shipping address, else the billing address).
    pub destination: Option<Destination>,
    /// The chosen shipping method.
    pub shipping_method: Option<ShippingMethodId>,
    /// Codes the customer entered, as entered, each with what the store knows of it.
    pub codes: Vec<CodeInput>,
    /// Gift cards to tender, in the order the customer added them.
    pub gift_cards: Vec<GiftCardInput>,
    /// Uses so far of each promotion by everyone.
    pub promotion_uses: BTreeMap<PromotionId, u32>,
    /// The time rules are judged at.
    pub now: Timestamp,
}

/// One cart line with the catalog facts pricing needs.
#[derive(Clone, Debug)]
pub struct LineInput {
    /// The cart line.
    pub line_id: LineId,
    /// Its variant (unique in a cart; ties in allocations are broken by it).
    pub variant_id: VariantId,
    /// Its product.
    pub product_id: ProductId,
    /// Units.
    pub quantity: i64,
    /// Price per unit as entered in the catalog (with or without tax per the shop setting).
    pub unit_price: Money,
    /// Tax category (`standard` unless the variant or product says otherwise).
    pub tax_category: String,
    /// Weight per unit in grams.
    pub grams: u64,
    /// Whether it ships.
    pub requires_shipping: bool,
    /// Whether promotions may discount it (gift cards are money: never discounted).
    pub discountable: bool,
    /// The product's categories and all their ancestors.
    pub category_ids: Vec<CategoryId>,
    /// The collections the product is in.
    pub collection_ids: Vec<CollectionId>,
}

/// The buyer's facts that promotions and tax look at.
#[derive(Clone, Debug, Default)]
pub struct Buyer {
    /// Signed-in customer.
    pub customer_id: Option<CustomerId>,
    /// Email, lower case (known at checkout; a signed-in customer's account email before).
    pub email: Option<String>,
    /// A B2B customer with a tax id: charged no tax.
    pub tax_exempt: bool,
    /// Orders placed before by this customer (or email).
    pub previous_orders: u32,
    /// Uses so far of each promotion by this customer (or email).
    pub uses: BTreeMap<PromotionId, u32>,
}

/// Where the goods go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Destination {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    /// Region, upper case (may be empty).
    pub region: String,
    /// Postal code, upper case without spaces (may be empty).
    pub postal_code: String,
}

impl Destination {
    /// Normalises an address's parts for matching.
    pub fn new(country: &str, region: &str, postal_code: &str) -> Destination {
        let norm = |s: &str| {
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect::<String>()
                .to_uppercase()
        };
        Destination {
            country: country.trim().to_uppercase(),
            region: region.trim().to_uppercase(),
            postal_code: norm(postal_code),
        }
    }
}

/// A code as entered, with the store's answer.
#[derive(Clone, Debug)]
pub struct CodeInput {
    /// The code, normalised (upper case, trimmed).
    pub code: String,
    /// The promotion it reaches, or none for an unknown code.
    pub promotion: Option<PromotionId>,
    /// For single-use generated codes: whether the code itself was used up.
    pub code_used_up: bool,
}

/// A gift card to tender.
#[derive(Clone, Debug)]
pub struct GiftCardInput {
    /// The card.
    pub id: GiftCardId,
    /// Its last four characters, for the explanation.
    pub last4: String,
    /// Its balance now.
    pub balance: Money,
}
