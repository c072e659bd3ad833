//! Order records as version 1 wrote them (every order shipped, a SKU always a string), read once
//! and upgraded: postcard is positional, so the old shape must be spelled out to be decoded.
//! Idempotency outcomes that embed an order (`checkout::Placed`, `orders::Fulfilled`) read
//! their version-1 form through [`OrderV1`] too.

use serde::Deserialize;

use super::machine::Status;
use super::model::{Address, Fulfilment, HistoryEntry, Note, Order};
use super::model_v2::{OrderLineV2, OrderV2, TotalsV2};
use crate::core::{CustomerId, LineId, Money, OrderId, ProductId, Timestamp, VariantId};

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct OrderLineV1 {
    id: LineId,
    variant_id: VariantId,
    product_id: ProductId,
    title: String,
    variant_title: String,
    sku: String,
    quantity: i64,
    fulfilled_quantity: i64,
    unit_price: Money,
    total: Money,
}

/// An order in its version-1 shape.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub(crate) struct OrderV1 {
    id: OrderId,
    status: Status,
    customer_id: Option<CustomerId>,
    email: String,
    token_hash: Vec<u8>,
    lines: Vec<OrderLineV1>,
    totals: TotalsV2,
    shipping_address: Address,
    billing_address: Address,
    shipping_method: String,
    fulfilments: Vec<Fulfilment>,
    notes: Vec<Note>,
    history: Vec<HistoryEntry>,
    expires_at: Timestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
}

impl OrderV1 {
    /// The same order today: every version-1 line was shipped.
    pub(crate) fn upgrade(self) -> Order {
        OrderV2 {
            id: self.id,
            status: self.status,
            customer_id: self.customer_id,
            email: self.email,
            token_hash: self.token_hash,
            lines: self.lines.into_iter().map(line).collect(),
            totals: self.totals,
            shipping_address: Some(self.shipping_address),
            billing_address: self.billing_address,
            shipping_method: Some(self.shipping_method),
            fulfilments: self.fulfilments,
            notes: self.notes,
            history: self.history,
            expires_at: self.expires_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        }
        .upgrade()
    }
}

fn line(l: OrderLineV1) -> OrderLineV2 {
    OrderLineV2 {
        id: l.id,
        variant_id: l.variant_id,
        product_id: l.product_id,
        title: l.title,
        variant_title: l.variant_title,
        sku: Some(l.sku).filter(|s| !s.is_empty()),
        requires_shipping: true,
        quantity: l.quantity,
        fulfilled_quantity: l.fulfilled_quantity,
        unit_price: l.unit_price,
        total: l.total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Currency;
    use crate::storage::Value;

    /// An order written by version 1 reads as a shipped order, its empty SKU as none.
    #[test]
    fn version_1_orders_read_as_shipped_with_optional_skus() {
        let now = Timestamp::from_millis(1_795_000_000_000);
        let usd = |a| Money::new(a, Currency::USD);
        let addr = Address {
            name: "Ada".into(),
            line1: "1 Road".into(),
            line2: String::new(),
            city: "London".into(),
            region: String::new(),
            postal_code: String::new(),
            country: "GB".into(),
        };
        let l = |sku: &str| OrderLineV1 {
            id: LineId::new(now),
            variant_id: VariantId::new(now),
            product_id: ProductId::new(now),
            title: "Tee".into(),
            variant_title: "M".into(),
            sku: sku.into(),
            quantity: 2,
            fulfilled_quantity: 0,
            unit_price: usd(500),
            total: usd(1000),
        };
        let v1 = OrderV1 {
            id: OrderId::new(now),
            status: Status::Paid,
            customer_id: None,
            email: "ada@example.com".into(),
            token_hash: vec![1, 2, 3],
            lines: vec![l("TEE-M"), l("")],
            totals: TotalsV2 {
                subtotal: usd(2000),
                shipping: usd(500),
                tax: usd(0),
                total: usd(2500),
                paid: usd(2500),
                refunded: usd(0),
            },
            shipping_address: addr.clone(),
            billing_address: addr.clone(),
            shipping_method: "standard".into(),
            fulfilments: Vec::new(),
            notes: Vec::new(),
            history: Vec::new(),
            expires_at: now,
            created_at: now,
            updated_at: now,
            version: 3,
        };
        let mut bytes = vec![1u8];
        bytes.extend(postcard::to_allocvec(&v1).expect("encode"));
        let o = Order::decode_value(&bytes).expect("decode");
        assert_eq!(o.shipping_address, Some(addr));
        assert_eq!(o.shipping_method.as_deref(), Some("standard"));
        assert_eq!(o.lines[0].sku.as_deref(), Some("TEE-M"));
        assert_eq!(o.lines[1].sku, None);
        assert!(o.lines.iter().all(|l| l.requires_shipping));
        assert_eq!((o.version, o.totals.total.amount), (3, 2500));
        let again = Order::decode_value(&o.encode_value().expect("enc")).expect("dec");
        assert_eq!(again, o);
    }
}
