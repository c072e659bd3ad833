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
    let data_json =
        serde_json::to_string(data).map_err(|e| StorageError::Io(format!("event data: {e}")))?;
    tx.insert(
        &EVENTS,
        &id,
        &StoredEvent {
            type_: type_.to_owned(),
            created_at: now,
            data_json,
        },
    )?;
    Ok(id)
}

/// The id a list cursor names; `None` when it is not a cursor of this list.
pub fn parse_cursor(cursor: &str) -> Option<EventId> {
    EventId::from_cursor(cursor)
}

/// Lists events, newest first, optionally of one type, continuing after `after`.
pub fn list(
    store: &Store,
    type_: Option<&str>,
    per_page: usize,
    after: Option<EventId>,
) -> Result<Page<Event>, StorageError> {
    let r = store.read()?;
    let mut after = after;
    let mut out = Vec::new();
    // Scan in chunks so a rare type does not read the whole table at once.
    loop {
        let chunk = r.prefix(&EVENTS, &(), after.as_ref(), Order::Desc, 500)?;
        let exhausted = chunk.len() < 500;
        for (id, e) in chunk {
            after = Some(id);
            if type_.is_some_and(|t| t != e.type_) {
                continue;
            }
            out.push(Event {
                id,
                type_: e.type_,
                created_at: e.created_at,
                data: serde_json::from_str(&e.data_json).unwrap_or(serde_json::Value::Null),
            });
            if out.len() > per_page {
                break;
            }
        }
        if exhausted || out.len() > per_page {
            break;
        }
    }
    Ok(Page::from_overfetch(out, per_page, |e| e.id.to_cursor()))
}
