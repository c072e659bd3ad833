//! The event outbox: every business fact other systems may want (`order.created`,
//! `inventory.low_stock`, …) is recorded in the same write transaction as the change that
//! caused it, in the envelope of the API conventions. Webhook delivery and analytics read from
//! here; consumers deduplicate on the event id.

use serde::{Deserialize, Serialize};

use crate::core::page::Cursor;
use crate::core::{EventId, Page, Timestamp};
use crate::storage::{Order, Reader, StorageError, Store, Table, Value, WriteTx};

/// Stored events, oldest first by id.
const EVENTS: Table<EventId, StoredEvent> = Table::new("events");
/// Events by type, so a staff list of one type reads only that type.
const BY_TYPE: Table<(String, EventId), ()> = Table::new("events_by_type");
/// How many enabled webhook endpoints want each type (`*`: every type). An event of a type
/// nobody wants queues no fan-out, so a shop without endpoints pays one lookup per event.
const SUBSCRIBED: Table<String, u64> = Table::new("events_subscribed");

/// Job kind queued with every event some endpoint wants (payload [`FanoutJob`]); the webhooks
/// module handles it by creating one delivery per endpoint.
pub const FANOUT_JOB: &str = "events.fanout";

/// Payload of [`FANOUT_JOB`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FanoutJob {
    /// The event.
    pub event_id: EventId,
}

/// An event as stored: the data is kept as JSON text (postcard cannot hold arbitrary JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredEvent {
    type_: String,
    created_at: Timestamp,
    data_json: String,
}

impl Value for StoredEvent {}

/// The public envelope: `{"id", "type", "created_at", "data"}`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// `evt_…`; consumers deduplicate on it.
    #[schema(value_type = String)]
    pub id: EventId,
    /// `resource.past_tense_verb`, e.g. `order.created`.
    #[serde(rename = "type")]
    pub type_: String,
    /// When the change happened.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// The payload of the type (see the document's `webhooks`), with its `payload_version`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// What an event's `data` holds: a type of its own (never an API view), with a version that
/// changes whenever a consumer could notice a difference. `data` carries it as
/// `payload_version`, so a webhook consumer can tell shapes apart.
pub trait Payload: Serialize {
    /// The shape's version.
    const VERSION: u32;
}

/// One event type shopd emits, with the schema its `data` follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventType {
    /// `resource.past_tense_verb`.
    pub name: &'static str,
    /// OpenAPI schema name of the payload.
    pub schema: &'static str,
    /// Payload version written today.
    pub version: u32,
    /// When it is emitted.
    pub meaning: &'static str,
}

macro_rules! event_types {
    ($($id:ident = $name:literal, $schema:literal, $version:literal, $meaning:literal;)*) => {
        $(
            #[doc = $meaning]
            pub const $id: EventType = EventType {
                name: $name, schema: $schema, version: $version, meaning: $meaning,
            };
        )*
        /// Every event type, for the documentation (OpenAPI `webhooks`) and its tests.
        pub const TYPES: &[EventType] = &[$($id),*];
    };
}

event_types! {
    ORDER_CREATED = "order.created", "OrderEventV3", 3, "A checkout placed the order (awaiting payment).";
    ORDER_PAID = "order.paid", "OrderEventV3", 3, "The order was paid in full.";
    ORDER_CANCELLED = "order.cancelled", "OrderEventV3", 3, "The customer or staff cancelled the order.";
    ORDER_EXPIRED = "order.expired", "OrderEventV3", 3, "An unpaid order lapsed and released its stock.";
    ORDER_FULFILLED = "order.fulfilled", "OrderEventV3", 3, "Every unit of the order has shipped.";
    ORDER_COMPLETED = "order.completed", "OrderEventV3", 3, "Staff closed the order.";
    ORDER_REFUNDED = "order.refunded", "OrderEventV3", 3, "The order was refunded.";
    PAYMENT_FAILED = "payment.failed", "PaymentEventV1", 1, "A payment attempt was refused (the order stays payable).";
    PAYMENT_REFUNDED_UNFULFILLABLE = "payment.refunded_unfulfillable", "RefundEventV1", 1, "Money arrived for an order that could no longer be filled; it is being refunded.";
    REFUND_CREATED = "refund.created", "RefundEventV1", 1, "A refund was recorded; the provider call is queued.";
    REFUND_SUCCEEDED = "refund.succeeded", "RefundEventV1", 1, "The provider returned the money.";
    REFUND_FAILED = "refund.failed", "RefundEventV1", 1, "The provider refused the refund.";
    INVENTORY_LOW_STOCK = "inventory.low_stock", "StockEventV1", 1, "A variant's available units fell to its low-stock threshold.";
    GIFT_CARD_ISSUED = "gift_card.issued", "GiftCardEventV1", 1, "A gift card was issued by staff or for a gift-card product sold.";
    PROMOTION_CREATED = "promotion.created", "PromotionEventV1", 1, "Staff created a promotion (automatic or with a code).";
    PROMOTION_UPDATED = "promotion.updated", "PromotionEventV1", 1, "Staff changed a promotion; quotes from now on use the change.";
    PROMOTION_DELETED = "promotion.deleted", "PromotionEventV1", 1, "Staff deleted a promotion; its codes no longer apply.";
}

#[derive(Serialize)]
struct Versioned<'a, P: Payload> {
    payload_version: u32,
    #[serde(flatten)]
    data: &'a P,
}

/// Records an event of `kind` inside the causing transaction.
pub fn record<P: Payload>(
    tx: &mut WriteTx<'_>,
    kind: &EventType,
    data: &P,
) -> Result<EventId, StorageError> {
    debug_assert_eq!(kind.version, P::VERSION, "{} payload version", kind.name);
    let type_ = kind.name;
    let now = tx.now();
    let id = EventId::new(now);
    let data = Versioned {
        payload_version: P::VERSION,
        data,
    };
    let data_json = serde_json::to_string(&data).map_err(|e| StorageError::Codec {
        table: "events",
        source: crate::storage::CodecError::Json(e.to_string()),
    })?;
    tx.insert(
        &EVENTS,
        &id,
        &StoredEvent {
            type_: type_.to_owned(),
            created_at: now,
            data_json,
        },
    )?;
    tx.insert(&BY_TYPE, &(type_.to_owned(), id), &())?;
    if wanted(tx, type_)? {
        let job = crate::jobs::NewJob::new(FANOUT_JOB, &FanoutJob { event_id: id })?
            .dedupe(format!("fanout:{id}"));
        crate::jobs::enqueue(tx, job)?;
    }
    Ok(id)
}

fn wanted(tx: &mut WriteTx<'_>, type_: &str) -> Result<bool, StorageError> {
    for key in [type_, "*"] {
        if tx.get(&SUBSCRIBED, &key.to_owned())?.unwrap_or(0) > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Counts one more (`delta` 1) or one fewer (`delta` -1) enabled endpoint wanting `type_`
/// (`*` for every type); the webhooks module keeps this in step with its endpoints.
pub fn subscribe(tx: &mut WriteTx<'_>, type_: &str, delta: i64) -> Result<(), StorageError> {
    let key = type_.to_owned();
    let n = tx.get(&SUBSCRIBED, &key)?.unwrap_or(0);
    let next = n.saturating_add_signed(delta);
    if next == 0 {
        tx.remove(&SUBSCRIBED, &key)?;
    } else {
        tx.insert(&SUBSCRIBED, &key, &next)?;
    }
    Ok(())
}

/// One event, in its envelope.
pub fn get(r: &impl Reader, id: EventId) -> Result<Option<Event>, StorageError> {
    Ok(r.get(&EVENTS, &id)?.map(|e| envelope(id, e)))
}

/// Whether `name` is an event type shopd emits.
pub fn is_type(name: &str) -> bool {
    TYPES.iter().any(|t| t.name == name)
}

fn envelope(id: EventId, e: StoredEvent) -> Event {
    Event {
        id,
        type_: e.type_,
        created_at: e.created_at,
        data: serde_json::from_str(&e.data_json).unwrap_or(serde_json::Value::Null),
    }
}

/// The id a list cursor names; `None` when it is not a cursor of this list.
pub fn parse_cursor(cursor: &str) -> Option<EventId> {
    EventId::from_cursor(cursor)
}

/// Lists events, newest first, optionally of one type (through the type index, never a scan
/// of other types), continuing after `after`.
pub fn list(
    store: &Store,
    type_: Option<&str>,
    per_page: usize,
    after: Option<EventId>,
) -> Result<Page<Event>, StorageError> {
    let r = store.read()?;
    let rows: Vec<(EventId, StoredEvent)> = match type_ {
        None => r.prefix(&EVENTS, &(), after.as_ref(), Order::Desc, per_page + 1)?,
        Some(t) => {
            let t = t.to_owned();
            let after = after.map(|a| (t.clone(), a));
            let mut rows = Vec::with_capacity(per_page + 1);
            for ((_, id), ()) in
                r.prefix(&BY_TYPE, &t, after.as_ref(), Order::Desc, per_page + 1)?
            {
                if let Some(e) = r.get(&EVENTS, &id)? {
                    rows.push((id, e));
                }
            }
            rows
        }
    };
    let out = rows.into_iter().map(|(id, e)| envelope(id, e)).collect();
    Ok(Page::from_overfetch(out, per_page, |e| e.id.to_cursor()))
}

/// The event outbox's own schema steps.
pub const MIGRATIONS: &[crate::storage::Migration] = &[crate::storage::Migration {
    to: 7,
    description: "index events by type",
    run: migrate_by_type,
}];

/// Migration to schema 7: indexes the events of an older data dir by type.
pub fn migrate_by_type(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    tx.for_each_batch(&EVENTS, 1000, |tx, rows| {
        rows.into_iter()
            .try_for_each(|(id, e)| tx.insert(&BY_TYPE, &(e.type_, id), &()))
    })
}
