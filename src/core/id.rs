//! Opaque, prefixed, time-sortable identifiers (`prod_01J…`), typed so ids of different kinds
//! cannot be mixed up and a wrong prefix is caught at the edge.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

use super::clock::Timestamp;

/// The last id minted by this process (shared by all kinds), for monotonic ids.
static LAST_ID: std::sync::Mutex<u128> = std::sync::Mutex::new(0);

/// The kind of object an id names; its prefix is part of the public id.
pub trait IdKind: Send + Sync + 'static {
    /// Prefix without the underscore, e.g. `prod`.
    const PREFIX: &'static str;
}

/// Why a string is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The prefix names another kind of object (callers answer 404, not 500).
    #[error("id does not start with `{expected}_`")]
    WrongPrefix {
        /// The prefix this id kind needs.
        expected: &'static str,
    },
    /// The suffix is not a valid ULID.
    #[error("id suffix is not a valid identifier")]
    Malformed,
}

/// A typed identifier: a ULID whose text form carries the kind's prefix.
pub struct Id<K: IdKind> {
    ulid: Ulid,
    _kind: PhantomData<fn() -> K>,
}

impl<K: IdKind> Id<K> {
    /// Mints a fresh id whose time part is `now`. Ids minted by this process are strictly
    /// increasing (monotonic ULIDs: within one millisecond, or if the clock steps back, the
    /// previous id plus one), so sorting by id is sorting by creation.
    pub fn new(now: Timestamp) -> Self {
        let ms = u64::try_from(now.as_millis()).unwrap_or(0);
        let random: u128 = rand::random::<u128>() & ((1u128 << 80) - 1);
        let candidate = Ulid::from_parts(ms, random).0;
        let mut last = crate::core::sync::lock(&LAST_ID);
        let next = if candidate > *last {
            candidate
        } else {
            last.saturating_add(1)
        };
        *last = next;
        Self::from_ulid(Ulid(next))
    }

    /// Wraps an existing ULID (used by codecs).
    pub const fn from_ulid(ulid: Ulid) -> Self {
        Id {
            ulid,
            _kind: PhantomData,
        }
    }

    /// The 16 big-endian bytes, which sort like the id's creation time.
    pub fn to_bytes(&self) -> [u8; 16] {
        self.ulid.to_bytes()
    }

    /// Rebuilds an id from [`Id::to_bytes`].
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self::from_ulid(Ulid::from_bytes(bytes))
    }

    /// The creation time encoded in the id.
    pub fn created_at(&self) -> Timestamp {
        Timestamp::from_millis(i64::try_from(self.ulid.timestamp_ms()).unwrap_or(i64::MAX))
    }

    /// Parses `prefix_ULID`, rejecting other kinds' prefixes.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let rest = s
            .strip_prefix(K::PREFIX)
            .and_then(|r| r.strip_prefix('_'))
            .ok_or(IdError::WrongPrefix {
                expected: K::PREFIX,
            })?;
        if rest.len() != 26 {
            return Err(IdError::Malformed);
        }
        Ulid::from_string(rest)
            .map(Self::from_ulid)
            .map_err(|_| IdError::Malformed)
    }
}

impl<K: IdKind> Clone for Id<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K: IdKind> Copy for Id<K> {}
impl<K: IdKind> PartialEq for Id<K> {
    fn eq(&self, o: &Self) -> bool {
        self.ulid == o.ulid
    }
}
impl<K: IdKind> Eq for Id<K> {}
impl<K: IdKind> PartialOrd for Id<K> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<K: IdKind> Ord for Id<K> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.ulid.cmp(&o.ulid)
    }
}
impl<K: IdKind> Hash for Id<K> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.ulid.hash(h)
    }
}

impl<K: IdKind> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", K::PREFIX, self.ulid)
    }
}

impl<K: IdKind> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<K: IdKind> FromStr for Id<K> {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl<K: IdKind> Serialize for Id<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            self.to_bytes().serialize(s)
        }
    }
}

impl<'de, K: IdKind> Deserialize<'de> for Id<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            Self::parse(&s).map_err(serde::de::Error::custom)
        } else {
            <[u8; 16]>::deserialize(d).map(Self::from_bytes)
        }
    }
}

macro_rules! id_kinds {
    ($($(#[$doc:meta])* $kind:ident, $alias:ident, $prefix:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $kind {}
        impl IdKind for $kind {
            const PREFIX: &'static str = $prefix;
        }
        $(#[$doc])*
        pub type $alias = Id<$kind>;
    )*};
}

id_kinds! {
    /// A product in the catalog.
    ProductKind, ProductId, "prod";
    /// A purchasable variant of a product.
    VariantKind, VariantId, "var";
    /// A category in the category tree.
    CategoryKind, CategoryId, "cat";
    /// A manual collection of products.
    CollectionKind, CollectionId, "col";
    /// A customer account.
    CustomerKind, CustomerId, "cus";
    /// A shopping cart.
    CartKind, CartId, "cart";
    /// A line of a cart or order.
    LineKind, LineId, "line";
    /// An order.
    OrderKind, OrderId, "ord";
    /// A payment attempt.
    PaymentKind, PaymentId, "pay";
    /// A refund.
    RefundKind, RefundId, "ref";
    /// A fulfilment (shipment).
    FulfilmentKind, FulfilmentId, "ful";
    /// A background job.
    JobKind, JobId, "job";
    /// An outbox event.
    EventKind, EventId, "evt";
    /// A webhook endpoint.
    WebhookEndpointKind, WebhookEndpointId, "whe";
    /// One delivery of an event to a webhook endpoint.
    WebhookDeliveryKind, WebhookDeliveryId, "whd";
    /// An API key.
    ApiKeyKind, ApiKeyId, "key";
    /// An A/B experiment.
    ExperimentKind, ExperimentId, "exp";
    /// A promotion (automatic, or reached by its codes).
    PromotionKind, PromotionId, "promo";
    /// A gift card.
    GiftCardKind, GiftCardId, "gc";
    /// A tax zone with its rates.
    TaxZoneKind, TaxZoneId, "txz";
    /// A shipping zone.
    ShippingZoneKind, ShippingZoneId, "shz";
    /// A shipping method of a zone.
    ShippingMethodKind, ShippingMethodId, "shm";
    /// An invoice.
    InvoiceKind, InvoiceId, "inv";
    /// A saved address in a customer's address book.
    AddressKind, AddressId, "adr";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_prefix() {
        let id = ProductId::new(Timestamp::from_millis(1_700_000_000_000));
        let s = id.to_string();
        assert!(s.starts_with("prod_"));
        assert_eq!(s.len(), 5 + 26);
        assert_eq!(ProductId::parse(&s), Ok(id));
        assert_eq!(
            OrderId::parse(&s),
            Err(IdError::WrongPrefix { expected: "ord" })
        );
        assert_eq!(ProductId::parse("prod_xyz"), Err(IdError::Malformed));
        assert_eq!(id.created_at().as_millis(), 1_700_000_000_000);
    }

    #[test]
    fn ids_minted_in_one_millisecond_still_increase() {
        let t = Timestamp::from_millis(5_000);
        let ids: Vec<ProductId> = (0..1000).map(|_| ProductId::new(t)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ids_sort_by_time() {
        let a = JobId::new(Timestamp::from_millis(1_000));
        let b = JobId::new(Timestamp::from_millis(2_000));
        assert!(a < b);
        assert!(a.to_bytes() < b.to_bytes());
    }
}
