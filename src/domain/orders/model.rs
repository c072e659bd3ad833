//! Order records, their tables and indexes, and the views customers and staff see.

use serde::{Deserialize, Serialize};

use super::machine::{self, Status};
use crate::core::{
    CustomerId, FulfilmentId, LineId, Money, OrderId, ProductId, Timestamp, VariantId,
};
use crate::storage::{CodecError, Table, Value};

/// Orders by id (ids sort by creation time).
pub(super) const ORDERS: Table<OrderId, Order> = Table::new("orders");
/// Status index: (status, order).
pub(super) const BY_STATUS: Table<(String, OrderId), ()> = Table::new("orders_by_status");
/// Unpaid orders by when their reservation lapses, for the expiry sweep.
pub(super) const PENDING_BY_EXPIRY: Table<(Timestamp, OrderId), ()> =
    Table::new("orders_pending_by_expiry");
/// The quote each order was placed with (written once, read by invoices and refunds).
pub(super) const QUOTES: Table<OrderId, crate::domain::pricing::Quote> = Table::new("order_quotes");
/// The last invoice number given.
pub(super) const INVOICE_SEQ: Table<(), u64> = Table::new("invoice_sequence");
/// Customer index: (customer, order).
pub(super) const BY_CUSTOMER: Table<(CustomerId, OrderId), ()> = Table::new("orders_by_customer");

/// A postal address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Address {
    /// Recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Apartment, suite, … (may be empty).
    #[serde(default)]
    pub line2: String,
    /// City.
    pub city: String,
    /// State, province or region (may be empty).
    #[serde(default)]
    pub region: String,
    /// Postal code (may be empty where there is none).
    #[serde(default)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, upper case.
    pub country: String,
}

/// A purchased line, frozen at checkout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    /// Line id.
    #[schema(value_type = String)]
    pub id: LineId,
    /// Variant.
    #[schema(value_type = String)]
    pub variant_id: VariantId,
    /// Product.
    #[schema(value_type = String)]
    pub product_id: ProductId,
    /// Product title at checkout.
    pub title: String,
    /// Option values at checkout.
    pub variant_title: String,
    /// SKU at checkout (none when the variant had none).
    pub sku: Option<String>,
    /// Whether the line is shipped (false for digital goods and services).
    pub requires_shipping: bool,
    /// A gift-card product: each unit becomes a card when the order is paid.
    pub gift_card: bool,
    /// Units ordered.
    pub quantity: i64,
    /// Units shipped.
    pub fulfilled_quantity: i64,
    /// Unit price before discounts.
    pub unit_price: Money,
    /// Discounts on this line (its own and its share of order-level ones).
    pub discount: Money,
    /// Tax on this line (contained in `total` when prices include tax).
    pub tax: Money,
    /// What the line cost: unit price × quantity − discount, plus tax when prices exclude it.
    pub total: Money,
}

/// `[[line_id, units], …]`: pairs, typed by position (generated clients see string | integer).
fn line_units_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let string = || ObjectBuilder::new().schema_type(Type::String).build();
    let integer = || ObjectBuilder::new().schema_type(Type::Integer).build();
    let pair = ArrayBuilder::new()
        .prefix_items([string(), integer()])
        .items(OneOfBuilder::new().item(string()).item(integer()))
        .min_items(Some(2))
        .max_items(Some(2));
    ArrayBuilder::new().items(pair).build()
}

/// A shipment of some units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Fulfilment {
    /// Id (`ful_…`).
    #[schema(value_type = String)]
    pub id: FulfilmentId,
    /// (line id, units) shipped.
    #[schema(schema_with = line_units_schema)]
    pub lines: Vec<(LineId, i64)>,
    /// Carrier, e.g. "DHL".
    pub carrier: String,
    /// Tracking number.
    pub tracking_number: String,
    /// When.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

/// A staff note.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = OrderNote)]
pub struct Note {
    /// Who wrote it.
    pub author: String,
    /// Text.
    pub text: String,
    /// When.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

/// One entry of an order's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// State before (`null` at creation).
    pub from: Option<Status>,
    /// State after.
    pub to: Status,
    /// What happened: `create`, `pay`, `fulfil`, `cancel`, `expire`, `complete`, `refund`.
    pub event: String,
    /// Who: `cus_…`/`key_…`, `system`, or `guest`.
    pub actor: String,
    /// Why, when given.
    pub reason: Option<String>,
    /// When.
    #[schema(value_type = String)]
    pub at: Timestamp,
}

/// Money of an order (the quote's totals, plus what was paid and refunded since).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Goods before discounts.
    pub subtotal: Money,
    /// Every discount (shipping's included).
    pub discount: Money,
    /// Shipping before its discount.
    pub shipping: Money,
    /// Tax (added to, or contained in, the total).
    pub tax: Money,
    /// Paid with gift cards.
    pub gift_cards: Money,
    /// What the order costs.
    pub total: Money,
    /// Paid so far, gift cards included (they pay their part at checkout).
    pub paid: Money,
    /// Refunded so far (to gift cards and to the provider).
    pub refunded: Money,
}

impl Totals {
    /// An order's totals as placed, from its quote: gift cards pay their part in the
    /// checkout's write, so they count as paid from the start.
    pub fn placed(t: &crate::domain::pricing::Totals) -> Totals {
        Totals {
            subtotal: t.subtotal,
            discount: t.discount,
            shipping: t.shipping,
            tax: t.tax,
            gift_cards: t.gift_cards,
            total: t.total,
            paid: t.gift_cards,
            refunded: Money::zero(t.total.currency),
        }
    }

    /// What the payment provider is asked for: the total less what is paid (gift cards paid
    /// their part at checkout).
    pub fn amount_due(&self) -> Money {
        Money::new(
            (self.total.amount - self.paid.amount).max(0),
            self.total.currency,
        )
    }
}

/// Tax of one rate on an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderTaxLine {
    /// Zone, category and rate, e.g. "Germany standard 19%".
    pub name: String,
    /// Rate.
    pub rate: crate::domain::pricing::Rate,
    /// Amount taxed.
    pub base: Money,
    /// Tax.
    pub amount: Money,
}

/// Tax of one rate as shown.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderTaxLineView {
    /// Zone, category and rate.
    pub name: String,
    /// Percent (`"19"`, `"8.875"`).
    pub rate: String,
    /// Amount taxed (before tax for exclusive prices, with it for inclusive ones).
    pub base: Money,
    /// Tax.
    pub amount: Money,
}

/// The invoice of a paid order: numbers are sequential per shop, given in the paying write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRef {
    /// 1, 2, 3 … (shown as `INV-000001`).
    pub number: u64,
    /// When the order was paid.
    pub issued_at: Timestamp,
}

impl InvoiceRef {
    /// The number as printed.
    pub fn label(&self) -> String {
        format!("INV-{:06}", self.number)
    }
}

/// Money of an order as shown.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderTotalsView {
    /// Goods before discounts.
    pub subtotal: Money,
    /// Every discount (shipping's included).
    pub discount: Money,
    /// Shipping before its discount.
    pub shipping: Money,
    /// Tax (added to the total for prices before tax; contained in it otherwise).
    pub tax: Money,
    /// Paid with gift cards.
    pub gift_cards: Money,
    /// What the order costs.
    pub total: Money,
    /// Left to pay.
    pub amount_due: Money,
    /// Paid so far, gift cards included.
    pub paid: Money,
    /// Refunded so far (to gift cards and to the provider).
    pub refunded: Money,
}

impl OrderTotalsView {
    /// The view of an order's totals.
    pub fn of(t: &Totals) -> OrderTotalsView {
        OrderTotalsView {
            subtotal: t.subtotal,
            discount: t.discount,
            shipping: t.shipping,
            tax: t.tax,
            gift_cards: t.gift_cards,
            total: t.total,
            amount_due: t.amount_due(),
            paid: t.paid,
            refunded: t.refunded,
        }
    }
}

/// A stored order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Id.
    pub id: OrderId,
    /// Status.
    pub status: Status,
    /// Customer, when signed in at checkout.
    pub customer_id: Option<CustomerId>,
    /// Contact email.
    pub email: String,
    /// SHA-256 of the order token guests view it with.
    pub token_hash: Vec<u8>,
    /// Lines.
    pub lines: Vec<OrderLine>,
    /// Money.
    pub totals: Totals,
    /// Whether prices included tax.
    pub tax_inclusive: bool,
    /// Tax by zone, category and rate, as charged.
    pub tax_lines: Vec<OrderTaxLine>,
    /// The invoice, once the order is paid.
    pub invoice: Option<InvoiceRef>,
    /// Ship to (none when no line requires shipping).
    pub shipping_address: Option<Address>,
    /// Bill to.
    pub billing_address: Address,
    /// Shipping method code (none when no line requires shipping).
    pub shipping_method: Option<String>,
    /// Shipments.
    pub fulfilments: Vec<Fulfilment>,
    /// Staff notes.
    pub notes: Vec<Note>,
    /// State changes, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Unpaid orders expire (and release stock) then.
    pub expires_at: Timestamp,
    /// Creation.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Bumped on every change.
    pub version: u64,
}
impl Value for Order {
    const VERSION: u8 = 3;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self, CodecError> {
        match version {
            1 => crate::storage::upgrade_from(bytes, super::model_v1::OrderV1::upgrade),
            2 => crate::storage::upgrade_from(bytes, super::model_v2::OrderV2::upgrade),
            found => Err(crate::storage::unknown_version::<Self>(found)),
        }
    }
}

/// The quote an order was placed with, as stored beside it (the engine's own type; its
/// record version is this one).
impl Value for crate::domain::pricing::Quote {}

impl Order {
    /// The machine's view of the order.
    pub fn state(&self) -> machine::State {
        machine::State {
            status: self.status,
            total: self.totals.total.amount,
            paid: self.totals.paid.amount,
            refunded: self.totals.refunded.amount,
            ordered: self.lines.iter().map(|l| l.quantity).collect(),
            fulfilled: self.lines.iter().map(|l| l.fulfilled_quantity).collect(),
        }
    }
}

/// An order as its customer (and staff) see it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    /// Id (`ord_…`).
    #[schema(value_type = String)]
    pub id: OrderId,
    /// Status.
    pub status: Status,
    /// Customer, if any.
    #[schema(value_type = Option<String>)]
    pub customer_id: Option<CustomerId>,
    /// Contact email.
    pub email: String,
    /// Lines.
    pub lines: Vec<OrderLine>,
    /// Money.
    pub totals: OrderTotalsView,
    /// Whether prices included tax.
    pub tax_inclusive: bool,
    /// Tax by rate.
    pub tax_lines: Vec<OrderTaxLineView>,
    /// Invoice number (`INV-000001`) once paid.
    pub invoice_number: Option<String>,
    /// Ship to (`null` when no line requires shipping).
    pub shipping_address: Option<Address>,
    /// Bill to.
    pub billing_address: Address,
    /// Shipping method (`null` when no line requires shipping).
    pub shipping_method: Option<String>,
    /// Shipments.
    pub fulfilments: Vec<Fulfilment>,
    /// History.
    pub history: Vec<HistoryEntry>,
    /// Staff notes (staff views only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<Note>>,
    /// Unpaid orders expire then.
    #[schema(value_type = String)]
    pub expires_at: Timestamp,
    /// Created.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
    /// Version (the `ETag`).
    pub version: u64,
    /// Only in the checkout response: the token that shows this order to a guest
    /// (`X-Order-Token`). It is not stored and cannot be shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_token: Option<String>,
}

impl OrderView {
    /// The customer's view.
    pub fn of(o: &Order) -> OrderView {
        OrderView {
            id: o.id,
            status: o.status,
            customer_id: o.customer_id,
            email: o.email.clone(),
            lines: o.lines.clone(),
            totals: OrderTotalsView::of(&o.totals),
            tax_inclusive: o.tax_inclusive,
            tax_lines: o
                .tax_lines
                .iter()
                .map(|t| OrderTaxLineView {
                    name: t.name.clone(),
                    rate: t.rate.to_string(),
                    base: t.base,
                    amount: t.amount,
                })
                .collect(),
            invoice_number: o.invoice.as_ref().map(InvoiceRef::label),
            shipping_address: o.shipping_address.clone(),
            billing_address: o.billing_address.clone(),
            shipping_method: o.shipping_method.clone(),
            fulfilments: o.fulfilments.clone(),
            history: o.history.clone(),
            notes: None,
            expires_at: o.expires_at,
            created_at: o.created_at,
            updated_at: o.updated_at,
            version: o.version,
            order_token: None,
        }
    }

    /// The staff view (with notes).
    pub fn staff(o: &Order) -> OrderView {
        OrderView {
            notes: Some(o.notes.clone()),
            ..OrderView::of(o)
        }
    }
}

impl Order {
    /// The name to greet the customer by: the recipient, else the billing name.
    pub fn customer_name(&self) -> &str {
        self.shipping_address
            .as_ref()
            .map_or(self.billing_address.name.as_str(), |a| a.name.as_str())
    }
}
