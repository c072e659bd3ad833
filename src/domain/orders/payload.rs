//! What `order.*` webhooks carry: a payload type of its own, versioned, so a change to the API
//! view (`OrderView`) never changes what merchants' endpoints receive.

use serde::Serialize;

use super::machine::Status;
use super::model::{Address, Order, Totals};
use crate::core::{CustomerId, FulfilmentId, LineId, OrderId, ProductId, Timestamp, VariantId};
use crate::domain::events::Payload;

/// `data` of every `order.*` event, version 1.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderEventV1 {
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
    pub lines: Vec<OrderEventLineV1>,
    /// Money.
    pub totals: Totals,
    /// Ship to.
    pub shipping_address: Address,
    /// Bill to.
    pub billing_address: Address,
    /// Shipping method.
    pub shipping_method: String,
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

/// A line of [`OrderEventV1`].
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderEventLineV1 {
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
    /// SKU at checkout.
    pub sku: String,
    /// Units ordered.
    pub quantity: i64,
    /// Units shipped.
    pub fulfilled_quantity: i64,
    /// Unit price paid.
    pub unit_price: crate::core::Money,
    /// Unit price × quantity.
    pub total: crate::core::Money,
}

/// A shipment of [`OrderEventV1`].
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

impl Payload for OrderEventV1 {
    const VERSION: u32 = 1;
}

impl OrderEventV1 {
    /// The payload of `o` as it is after the change.
    pub fn of(o: &Order) -> OrderEventV1 {
        OrderEventV1 {
            id: o.id,
            status: o.status,
            customer_id: o.customer_id,
            email: o.email.clone(),
            lines: o
                .lines
                .iter()
                .map(|l| OrderEventLineV1 {
                    id: l.id,
                    variant_id: l.variant_id,
                    product_id: l.product_id,
                    title: l.title.clone(),
                    variant_title: l.variant_title.clone(),
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    fulfilled_quantity: l.fulfilled_quantity,
                    unit_price: l.unit_price,
                    total: l.total,
                })
                .collect(),
            totals: o.totals.clone(),
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
