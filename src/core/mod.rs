//! Vocabulary shared by every module: ids, money, time, rate limits and work pools. Depends on no other shopd module.

pub mod clock;
pub mod errors;
pub mod id;
pub mod money;
pub mod page;
pub mod pool;
pub mod ratelimit;
pub mod secret;
pub mod sync;

pub use clock::{Clock, SystemClock, TestClock, Timestamp};
pub use errors::{Class, Code, ErrorCode, FieldIssue};
pub use id::{
    AddressId, ApiKeyId, CartId, CategoryId, CollectionId, CustomerId, EventId, ExperimentId,
    FulfilmentId, GiftCardId, Id, IdError, IdKind, InvoiceId, JobId, LineId, OrderId, PaymentId,
    ProductId, PromotionId, RefundId, ShippingMethodId, ShippingZoneId, TaxZoneId, VariantId,
    WebhookDeliveryId, WebhookEndpointId,
};
pub use money::{Currency, Money, MoneyError};
pub use page::{BadCursor, Cursor, DEFAULT_PER_PAGE, MAX_PER_PAGE, Page};
pub use pool::{PoolError, Priority, WorkPool};
pub use ratelimit::{FailureDelay, RateLimiter, RetryAfter};
