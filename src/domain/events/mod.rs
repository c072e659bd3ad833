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

/// An event as stored: the data is kept as JSON text (postcard cannot hold arbitrary JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredEvent {
    type_: String,
    created_at: Timestamp,
    data_json: String,
}

impl Value for StoredEvent {}

/// The public envelope: `{"id", "type", "created_at", "data"}`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
    /// The resource as it was after the change.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Records an event inside the causing transaction.
pub fn record<T: Serialize>(
    tx: &mut WriteTx<'_>,
    type_: &str,
    data: &T,
) -> Result<EventId, StorageError> {
    let now = tx.now();
    let id = EventId::new(now);
    let data_json = serde_json::to_string(data).map_err(|e| StorageError::Codec {
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
    Ok(id)
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
    let out = rows
        .into_iter()
        .map(|(id, e)| Event {
            id,
            type_: e.type_,
            created_at: e.created_at,
            data: serde_json::from_str(&e.data_json).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(Page::from_overfetch(out, per_page, |e| e.id.to_cursor()))
}

/// Migration to schema 7: indexes the events of an older data dir by type.
pub fn migrate_by_type(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    tx.for_each_batch(&EVENTS, 1000, |tx, rows| {
        rows.into_iter()
            .try_for_each(|(id, e)| tx.insert(&BY_TYPE, &(e.type_, id), &()))
    })
}
