//! Order records as version 2 wrote them (before pricing: no discounts, no tax per line, no
//! gift cards), read once and upgraded. Postcard is positional, so the old shape is spelled
//! out; the idempotency outcomes that embed an order read theirs through [`OrderV2`] too.

use serde::Deserialize;

use super::machine::Status;
use super::model::{Address, Fulfilment, HistoryEntry, Note, Order, OrderLine, Totals};
use crate::core::{CustomerId, LineId, Money, OrderId, ProductId, Timestamp, VariantId};

/// Money of an order before pricing (also version 1's).
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub(crate) struct TotalsV2 {
    pub(crate) subtotal: Money,
    pub(crate) shipping: Money,
    pub(crate) tax: Money,
    pub(crate) total: Money,
    pub(crate) paid: Money,
    pub(crate) refunded: Money,
}

impl TotalsV2 {
    pub(crate) fn upgrade(self) -> Totals {
        Totals {
            subtotal: self.subtotal,
            discount: Money::zero(self.total.currency),
            shipping: self.shipping,
            tax: self.tax,
            gift_cards: Money::zero(self.total.currency),
            total: self.total,
            paid: self.paid,
            refunded: self.refunded,
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub(crate) struct OrderLineV2 {
    pub(crate) id: LineId,
    pub(crate) variant_id: VariantId,
    pub(crate) product_id: ProductId,
    pub(crate) title: String,
    pub(crate) variant_title: String,
    pub(crate) sku: Option<String>,
    pub(crate) requires_shipping: bool,
    pub(crate) quantity: i64,
    pub(crate) fulfilled_quantity: i64,
    pub(crate) unit_price: Money,
    pub(crate) total: Money,
}

impl OrderLineV2 {
    pub(crate) fn upgrade(self) -> OrderLine {
        OrderLine {
            id: self.id,
            variant_id: self.variant_id,
            product_id: self.product_id,
            title: self.title,
            variant_title: self.variant_title,
            sku: self.sku,
            requires_shipping: self.requires_shipping,
            gift_card: false,
            quantity: self.quantity,
            fulfilled_quantity: self.fulfilled_quantity,
            unit_price: self.unit_price,
            discount: Money::zero(self.total.currency),
            tax: Money::zero(self.total.currency),
            total: self.total,
        }
    }
}

/// An order in its version-2 shape.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub(crate) struct OrderV2 {
    pub(crate) id: OrderId,
    pub(crate) status: Status,
    pub(crate) customer_id: Option<CustomerId>,
    pub(crate) email: String,
    pub(crate) token_hash: Vec<u8>,
    pub(crate) lines: Vec<OrderLineV2>,
    pub(crate) totals: TotalsV2,
    pub(crate) shipping_address: Option<Address>,
    pub(crate) billing_address: Address,
    pub(crate) shipping_method: Option<String>,
    pub(crate) fulfilments: Vec<Fulfilment>,
    pub(crate) notes: Vec<Note>,
    pub(crate) history: Vec<HistoryEntry>,
    pub(crate) expires_at: Timestamp,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
    pub(crate) version: u64,
}

impl OrderV2 {
    /// The same order today: no discounts, tax as recorded (none was), prices before tax.
    pub(crate) fn upgrade(self) -> Order {
        Order {
            id: self.id,
            status: self.status,
            customer_id: self.customer_id,
            email: self.email,
            token_hash: self.token_hash,
            lines: self.lines.into_iter().map(OrderLineV2::upgrade).collect(),
            totals: self.totals.upgrade(),
            tax_inclusive: false,
            tax_lines: Vec::new(),
            invoice: None,
            shipping_address: self.shipping_address,
            billing_address: self.billing_address,
            shipping_method: self.shipping_method,
            fulfilments: self.fulfilments,
            notes: self.notes,
            history: self.history,
            expires_at: self.expires_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        }
    }
}
