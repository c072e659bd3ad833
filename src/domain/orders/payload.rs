//! What `order.*` webhooks carry: a payload type of its own, versioned, so a change to the API
//! view (`OrderView`) never changes what merchants' endpoints receive.

use serde::Serialize;

use super::machine::Status;
use super::model::{Address, Order, Totals};
use crate::core::Money;
use crate::core::{CustomerId, FulfilmentId, LineId, OrderId, ProductId, Timestamp, VariantId};
use crate::domain::events::Payload;

/// `data` of every `order.*` event, version 3: totals carry `discount` and `gift_cards`, lines
/// their `discount` and `tax` (version 2 had neither: total was subtotal + shipping + tax;
/// version 1 had a shipping address, a shipping method and a SKU string on every order).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderEventV3 {
    /// `ord_…`.
    #[schema(value_type = String)]
    pub id: OrderId,
    /// Status after the change.
    pub status: Status,
    /// Customer, when signed in at checkout.
    #[schema(value_type = Option<String>)]
    pub customer_id: Option<CustomerId>,
    /// Contact email.
    pub email: String,
    /// Purchased lines.
    pub lines: Vec<OrderEventLineV3>,
    /// Money.
    pub totals: OrderEventTotalsV2,
    /// Ship to (`null` when no line requires shipping).
    pub shipping_address: Option<Address>,
    /// Bill to.
    pub billing_address: Address,
    /// Shipping method (`null` when no line requires shipping).
    pub shipping_method: Option<String>,
    /// Shipments so far.
    pub fulfilments: Vec<OrderEventFulfilmentV1>,
    /// Created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// This change.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Order version after the change (orders consumers' updates).
    pub version: u64,
}

/// Money of an order in `order.*` payloads (version 3): subtotal − discount + shipping + tax
/// = total when prices exclude tax; subtotal − discount + shipping = total (tax contained)
/// when they include it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderEventTotalsV2 {
    /// Goods before discounts.
    pub subtotal: Money,
    /// Every discount (shipping's included).
    pub discount: Money,
    /// Shipping before its discount.
    pub shipping: Money,
    /// Tax.
    pub tax: Money,
    /// Whether prices include tax.
    pub tax_inclusive: bool,
    /// Paid with gift cards.
    pub gift_cards: Money,
    /// What the order costs.
    pub total: Money,
    /// Paid so far.
    pub paid: Money,
    /// Refunded so far.
    pub refunded: Money,
}

impl OrderEventTotalsV2 {
    fn of(t: &Totals, tax_inclusive: bool) -> Self {
        OrderEventTotalsV2 {
            subtotal: t.subtotal,
            discount: t.discount,
            shipping: t.shipping,
            tax: t.tax,
            tax_inclusive,
            gift_cards: t.gift_cards,
            total: t.total,
            paid: t.paid,
            refunded: t.refunded,
        }
    }
}

/// A line of [`OrderEventV3`].
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderEventLineV3 {
    /// `line_…`.
    #[schema(value_type = String)]
    pub id: LineId,
    /// `var_…`.
    #[schema(value_type = String)]
    pub variant_id: VariantId,
    /// `prod_…`.
    #[schema(value_type = String)]
    pub product_id: ProductId,
    /// Product title at checkout.
    pub title: String,
    /// Option values at checkout.
    pub variant_title: String,
    /// SKU at checkout (`null` when the variant had none).
    pub sku: Option<String>,
    /// Whether the line is shipped.
    pub requires_shipping: bool,
    /// Units ordered.
    pub quantity: i64,
    /// Units shipped.
    pub fulfilled_quantity: i64,
    /// Unit price before discounts.
    pub unit_price: crate::core::Money,
    /// Discounts on the line.
    pub discount: crate::core::Money,
    /// Tax on the line.
    pub tax: crate::core::Money,
    /// What the line cost (unit price × quantity − discount, plus tax when prices exclude it).
    pub total: crate::core::Money,
}

/// A shipment of [`OrderEventV3`].
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderEventFulfilmentV1 {
    /// `ful_…`.
    #[schema(value_type = String)]
    pub id: FulfilmentId,
    /// Units per line.
    pub lines: Vec<OrderEventFulfilledLineV1>,
    /// Carrier.
    pub carrier: String,
    /// Tracking number.
    pub tracking_number: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// Units of one line in a shipment.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderEventFulfilledLineV1 {
    /// `line_…`.
    #[schema(value_type = String)]
    pub line_id: LineId,
    /// Units shipped.
    pub quantity: i64,
}

impl Payload for OrderEventV3 {
    const VERSION: u32 = 3;
}

impl OrderEventV3 {
    /// The payload of `o` as it is after the change.
    pub fn of(o: &Order) -> OrderEventV3 {
        OrderEventV3 {
            id: o.id,
            status: o.status,
            customer_id: o.customer_id,
            email: o.email.clone(),
            lines: o
                .lines
                .iter()
                .map(|l| OrderEventLineV3 {
                    id: l.id,
                    variant_id: l.variant_id,
                    product_id: l.product_id,
                    title: l.title.clone(),
                    variant_title: l.variant_title.clone(),
                    sku: l.sku.clone(),
                    requires_shipping: l.requires_shipping,
                    quantity: l.quantity,
                    fulfilled_quantity: l.fulfilled_quantity,
                    unit_price: l.unit_price,
                    discount: l.discount,
                    tax: l.tax,
                    total: l.total,
                })
                .collect(),
            totals: OrderEventTotalsV2::of(&o.totals, o.tax_inclusive),
            shipping_address: o.shipping_address.clone(),
            billing_address: o.billing_address.clone(),
            shipping_method: o.shipping_method.clone(),
            fulfilments: o
                .fulfilments
                .iter()
                .map(|f| OrderEventFulfilmentV1 {
                    id: f.id,
                    lines: f
                        .lines
                        .iter()
                        .map(|(line_id, quantity)| OrderEventFulfilledLineV1 {
                            line_id: *line_id,
                            quantity: *quantity,
                        })
                        .collect(),
                    carrier: f.carrier.clone(),
                    tracking_number: f.tracking_number.clone(),
                    created_at: f.created_at,
                })
                .collect(),
            created_at: o.created_at,
            updated_at: o.updated_at,
            version: o.version,
        }
    }
}
