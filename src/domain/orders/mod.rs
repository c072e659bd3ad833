//! Orders: created by checkout in `pending_payment`, then moved only by [`machine::apply`].
//! Every transition is recorded in the order's history and carries its side effects in the same
//! transaction: payment sells the reserved stock, cancellation and expiry release it, and the
//! matching event and mail are queued.

mod address;
mod links;
pub mod machine;
mod model;
pub(crate) mod model_v1;
pub(crate) mod model_v2;
mod payload;
mod stats;

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use std::ops::Bound;

use serde_json::json;

pub use address::{AddressInput, parse_address};
pub use links::{LINK_PREFIX, LinkProof, link_token};
pub use machine::{Event, EventKind, Status, TransitionError};
pub use model::{
    Address, Fulfilment, HistoryEntry, InvoiceRef, Note, Order, OrderLine, OrderTaxLine,
    OrderTaxLineView, OrderTotalsView, OrderView, Totals,
};
pub use payload::{
    OrderEventFulfilledLineV1, OrderEventFulfilmentV1, OrderEventLineV3, OrderEventTotalsV2,
    OrderEventV3,
};
pub use stats::{DaySales, Sales};

use crate::core::page::Cursor;
use crate::core::secret::hash_token;
use crate::core::{CustomerId, FulfilmentId, LineId, OrderId, Page, Timestamp, page};
use crate::domain::{events, idempotency, inventory};
use crate::jobs;
use crate::mailer::{self, Mail};
use crate::storage::{Order as ScanOrder, Reader, StorageError, Store, Table, WriteTx};
use model::{BY_CUSTOMER, BY_STATUS, INVOICE_SEQ, ORDERS, PENDING_BY_EXPIRY, QUOTES};

/// Job kind of one unpaid order's expiry, queued per order by earlier builds; still handled so
/// such queued jobs finish.
pub const EXPIRE_JOB: &str = "order.expire";

/// Recurring job that expires every unpaid order whose reservation has lapsed.
pub const EXPIRE_DUE_JOB: &str = "order.expire_due";

/// How often [`EXPIRE_DUE_JOB`] runs: an unpaid order expires at most this long after its TTL.
pub const EXPIRE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Job queued by an order's first fulfilment (payload [`ExpireJob`]'s shape: the order id).
/// The payments module handles it: a payment only authorized is captured now.
pub const FIRST_FULFILMENT_JOB: &str = "order.first_fulfilment";

/// Job queued when an order with gift-card products is paid (payload [`ExpireJob`]'s shape).
/// The gift-card module handles it: each unit becomes a card, mailed to the buyer.
pub const GIFT_CARDS_SOLD_JOB: &str = "order.gift_cards_sold";

/// Job queued when an order that gift cards paid part of is cancelled or lapses unpaid
/// (payload [`ExpireJob`]'s shape). The gift-card module puts the money back on the cards.
pub const GIFT_CARDS_RELEASE_JOB: &str = "order.gift_cards_released";

/// Job kind queued in the paying write of a signed-in customer's order: the experiments
/// module counts the order (paid, revenue, orders) for the arms the customer was exposed to.
pub const PAID_FOR_EXPERIMENTS_JOB: &str = "order.paid_for_experiments";

/// The visitor id (the `shopd_vid` cookie) a guest checked out with: experiments attribute the
/// guest's paid order to the visitor's arms.
const VISITORS: Table<OrderId, String> = Table::new("order_visitors");

/// Notes in the order's write which visitor placed it (guests only; at most 64 characters).
pub fn set_visitor(tx: &mut WriteTx<'_>, id: OrderId, visitor: &str) -> Result<(), StorageError> {
    if visitor.is_empty() || visitor.len() > 64 {
        return Ok(());
    }
    tx.insert(&VISITORS, &id, &visitor.to_owned())
}

/// The visitor who placed a guest order, when the checkout knew one.
pub fn visitor_of(r: &impl Reader, id: OrderId) -> Result<Option<String>, StorageError> {
    r.get(&VISITORS, &id)
}

/// Job kind queued in the paying write of every order: the recommendations module counts its
/// products (orders per product, pairs bought together).
pub const PAID_FOR_RECOMMENDATIONS_JOB: &str = "order.paid_for_recommendations";

/// Payload of [`EXPIRE_JOB`], [`FIRST_FULFILMENT_JOB`], [`GIFT_CARDS_SOLD_JOB`] and
/// [`GIFT_CARDS_RELEASE_JOB`].
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ExpireJob {
    /// The order.
    pub order_id: OrderId,
}

/// Why an order operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No such order, or not the caller's.
    #[error("no such order")]
    NotFound,
    /// The event is not allowed now.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The `Idempotency-Key` cannot be used.
    #[error(transparent)]
    Key(#[from] idempotency::KeyError),
    /// Bad input.
    #[error("{0}")]
    Invalid(FieldIssue),
    /// A fault that is not storage's (an unexpected answer of another module).
    #[error("internal: {0}")]
    Internal(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ErrorCode for OrderError {
    fn code(&self) -> Code {
        match self {
            OrderError::NotFound => codes::NOT_FOUND,
            OrderError::Transition(_) => codes::INVALID_TRANSITION,
            OrderError::Key(k) => k.code(),
            OrderError::Invalid(_) => codes::VALIDATION_FAILED,
            OrderError::Internal(_) => codes::INTERNAL_ERROR,
            OrderError::Storage(s) => s.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            OrderError::Internal(_) => codes::INTERNAL_MESSAGE.into(),
            OrderError::Storage(s) => s.message(),
            other => other.to_string(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            OrderError::Invalid(i) => vec![i.clone()],
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            OrderError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
}

impl From<inventory::InventoryError> for OrderError {
    fn from(e: inventory::InventoryError) -> Self {
        match e {
            inventory::InventoryError::Storage(s) => OrderError::Storage(s),
            other => OrderError::Internal(other.to_string()),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> OrderError {
    OrderError::Invalid(FieldIssue::new(field, "invalid", message.into()))
}

/// Settings mails need.
#[derive(Clone, Debug, Default)]
pub struct OrderSettings {
    /// Shop name in mails.
    pub shop_name: String,
    /// Base URL of the shop.
    pub public_url: String,
    /// Key of the order links in mails (empty: mails carry no link).
    pub link_key: crate::core::secret::Secret,
}

/// Who asks to see an order.
#[derive(Clone, Debug)]
pub enum Viewer {
    /// A signed-in customer (sees their own orders).
    Customer(CustomerId),
    /// A guest with the order token from checkout.
    Token(String),
    /// Staff (sees everything, with notes).
    Staff,
    /// Whoever holds the link of one order's mail.
    Linked(LinkProof),
}

/// Filters of the staff order list.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this customer's.
    pub customer: Option<CustomerId>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created before.
    pub created_to: Option<Timestamp>,
    /// Total at least (minor units).
    pub min_total: Option<i64>,
    /// Total at most (minor units).
    pub max_total: Option<i64>,
}

/// What staff ship: units per line, carrier and tracking number.
#[derive(Clone, Debug)]
pub struct FulfilInput {
    /// (line id, units); empty means every unit not yet shipped.
    pub lines: Vec<(String, i64)>,
    /// Carrier.
    pub carrier: String,
    /// Tracking number.
    pub tracking_number: String,
}

/// What an invoice is printed from.
#[derive(Clone, Debug)]
pub struct Invoice {
    /// The paid order (with its invoice number).
    pub order: Order,
    /// The quote it was placed with (none for orders placed before quotes were kept).
    pub quote: Option<crate::domain::pricing::Quote>,
}

/// The order service.
#[derive(Clone, Debug)]
pub struct Orders {
    store: Store,
    settings: OrderSettings,
}

/// What a fulfilment did: the order right after it (kept under the idempotency key, so a
/// retried request replays this order instead of shipping twice).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fulfilled {
    /// The order with the new fulfilment.
    pub order: Order,
}
impl crate::storage::Value for Fulfilled {
    const VERSION: u8 = 3;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self, crate::storage::CodecError> {
        #[derive(serde::Deserialize)]
        struct FulfilledV1 {
            order: model_v1::OrderV1,
        }
        #[derive(serde::Deserialize)]
        struct FulfilledV2 {
            order: model_v2::OrderV2,
        }
        match version {
            1 => crate::storage::upgrade_from(bytes, |f: FulfilledV1| Fulfilled {
                order: f.order.upgrade(),
            }),
            2 => crate::storage::upgrade_from(bytes, |f: FulfilledV2| Fulfilled {
                order: f.order.upgrade(),
            }),
            found => Err(crate::storage::unknown_version::<Self>(found)),
        }
    }
}

/// A fulfilment's outcome, fresh or replayed.
pub type FulfilResponse = idempotency::Replayable<Fulfilled>;

/// Stores a new order with its indexes (checkout, inside its transaction). An unpaid order is
/// indexed by its expiry, so the sweep releases its stock when the reservation lapses.
pub fn insert(tx: &mut WriteTx<'_>, order: &Order) -> Result<(), StorageError> {
    tx.insert(
        &BY_STATUS,
        &(order.status.as_str().to_owned(), order.id),
        &(),
    )?;
    if let Some(c) = order.customer_id {
        tx.insert(&BY_CUSTOMER, &(c, order.id), &())?;
    }
    if order.status == Status::PendingPayment {
        tx.insert(&PENDING_BY_EXPIRY, &(order.expires_at, order.id), &())?;
    }
    tx.insert(&ORDERS, &order.id, order)
}

/// The order module's own schema steps.
pub const MIGRATIONS: &[crate::storage::Migration] = &[crate::storage::Migration {
    to: 3,
    description: "index unpaid orders by expiry",
    run: migrate_pending_expiry_index,
}];

/// Schema 3: indexes the unpaid orders of an older data dir by expiry.
pub fn migrate_pending_expiry_index(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    let status = Status::PendingPayment.as_str().to_owned();
    let mut after: Option<(String, OrderId)> = None;
    loop {
        let rows = tx.prefix(&BY_STATUS, &status, after.as_ref(), ScanOrder::Asc, 1000)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = Some(last.0.clone());
        for ((_, id), ()) in rows {
            if let Some(o) = tx.get(&ORDERS, &id)? {
                tx.insert(&PENDING_BY_EXPIRY, &(o.expires_at, id), &())?;
            }
        }
    }
}

/// Queues the mail of `template` about `order`.
pub fn mail(
    tx: &mut WriteTx<'_>,
    order: &Order,
    template: &str,
    s: &OrderSettings,
    extra: serde_json::Value,
) -> Result<(), StorageError> {
    let lines: Vec<_> = order
        .lines
        .iter()
        .map(|l| {
            json!({"title": l.title, "variant_title": l.variant_title, "quantity": l.quantity,
                   "unit_price": l.unit_price.to_string(), "total": l.total.to_string()})
        })
        .collect();
    let tax_lines: Vec<_> = order
        .tax_lines
        .iter()
        .map(|t| json!({"name": t.name, "amount": t.amount.to_string()}))
        .collect();
    let t = &order.totals;
    let key = s.link_key.expose().as_bytes();
    let order_url = (!key.is_empty()).then(|| {
        format!(
            "{}/orders/{}?key={}",
            s.public_url,
            order.id,
            link_token(key, order.id)
        )
    });
    let vars = json!({
        "shop_name": s.shop_name, "shop_url": s.public_url, "order_id": order.id.to_string(),
        "order_url": order_url,
        "lines": lines, "subtotal": t.subtotal.to_string(),
        "discount": (t.discount.amount > 0).then(|| t.discount.to_string()),
        "shipping": t.shipping.to_string(), "tax": t.tax.to_string(),
        "tax_lines": tax_lines, "tax_inclusive": order.tax_inclusive,
        "gift_cards": (t.gift_cards.amount > 0).then(|| t.gift_cards.to_string()),
        "total": t.total.to_string(), "name": order.customer_name(),
        "invoice_number": order.invoice.as_ref().map(model::InvoiceRef::label),
        "extra": extra,
    });
    mailer::enqueue(
        tx,
        &Mail::new(
            &order.email,
            Some(order.customer_name()),
            template,
            vars,
            tx.now(),
        ),
    )?;
    Ok(())
}

/// Applies `event` to `order` inside `tx`: the machine decides, history records it, and the
/// transition's side effects (stock, events, mails) are written in the same transaction.
pub fn transition(
    tx: &mut WriteTx<'_>,
    order: &mut Order,
    event: Event,
    actor: &str,
    reason: Option<String>,
    s: &OrderSettings,
) -> Result<(), OrderError> {
    let next = machine::apply(&order.state(), &event)?;
    let now = tx.now();
    let from = order.status;
    tx.remove(&BY_STATUS, &(from.as_str().to_owned(), order.id))?;
    if from == Status::PendingPayment {
        tx.remove(&PENDING_BY_EXPIRY, &(order.expires_at, order.id))?;
    }
    order.status = next.status;
    order.totals.paid.amount = next.paid;
    order.totals.refunded.amount = next.refunded;
    for (l, f) in order.lines.iter_mut().zip(&next.fulfilled) {
        l.fulfilled_quantity = *f;
    }
    order.history.push(HistoryEntry {
        from: Some(from),
        to: next.status,
        event: event.kind().as_str().to_owned(),
        actor: actor.to_owned(),
        reason,
        at: now,
    });
    order.updated_at = now;
    order.version += 1;
    let unpaid_ends = matches!(event.kind(), EventKind::Cancel | EventKind::Expire);
    if unpaid_ends && from == Status::PendingPayment && order.totals.gift_cards.amount > 0 {
        release_gift_cards(tx, order)?;
    }
    match event.kind() {
        EventKind::Pay | EventKind::Revive => {
            // The invoice number comes from a counter in the paying write: the single writer
            // makes the sequence gap-free and in payment order.
            if order.invoice.is_none() {
                let number = tx.get(&INVOICE_SEQ, &())?.unwrap_or(0) + 1;
                tx.insert(&INVOICE_SEQ, &(), &number)?;
                order.invoice = Some(model::InvoiceRef {
                    number,
                    issued_at: now,
                });
            }
            inventory::sell(tx, order.id)?;
            events::record(tx, &events::ORDER_PAID, &OrderEventV3::of(order))?;
            let job = jobs::NewJob::new(
                PAID_FOR_RECOMMENDATIONS_JOB,
                &ExpireJob { order_id: order.id },
            )?
            .dedupe(format!("paid_for_recommendations:{}", order.id));
            jobs::enqueue(tx, job)?;
            if order.customer_id.is_some() || tx.contains(&VISITORS, &order.id)? {
                let job =
                    jobs::NewJob::new(PAID_FOR_EXPERIMENTS_JOB, &ExpireJob { order_id: order.id })?
                        .dedupe(format!("paid_for_experiments:{}", order.id));
                jobs::enqueue(tx, job)?;
            }
            if order.lines.iter().any(|l| l.gift_card) {
                let job =
                    jobs::NewJob::new(GIFT_CARDS_SOLD_JOB, &ExpireJob { order_id: order.id })?
                        .dedupe(format!("gift_cards_sold:{}", order.id));
                jobs::enqueue(tx, job)?;
            }
        }
        EventKind::Cancel => {
            inventory::release(tx, order.id)?;
            events::record(tx, &events::ORDER_CANCELLED, &OrderEventV3::of(order))?;
            mail(tx, order, "order_cancelled", s, json!({}))?;
        }
        EventKind::Expire => {
            inventory::release(tx, order.id)?;
            events::record(tx, &events::ORDER_EXPIRED, &OrderEventV3::of(order))?;
        }
        EventKind::Fulfil => {
            if order.status == Status::Fulfilled {
                events::record(tx, &events::ORDER_FULFILLED, &OrderEventV3::of(order))?;
            }
        }
        EventKind::Complete => {
            events::record(tx, &events::ORDER_COMPLETED, &OrderEventV3::of(order))?;
        }
        EventKind::Refund => {
            events::record(tx, &events::ORDER_REFUNDED, &OrderEventV3::of(order))?;
        }
    }
    tx.insert(
        &BY_STATUS,
        &(order.status.as_str().to_owned(), order.id),
        &(),
    )?;
    tx.insert(&ORDERS, &order.id, order)?;
    Ok(())
}

/// Queues the return of what gift cards paid for an order that will not be paid.
fn release_gift_cards(tx: &mut WriteTx<'_>, order: &Order) -> Result<(), StorageError> {
    let job = jobs::NewJob::new(GIFT_CARDS_RELEASE_JOB, &ExpireJob { order_id: order.id })?
        .dedupe(format!("gift_cards_released:{}", order.id));
    jobs::enqueue(tx, job)?;
    Ok(())
}

/// Adds a note by `system` to `order` and stores it (the payments module explains an
/// automatic refund to staff this way).
pub fn add_system_note(
    tx: &mut WriteTx<'_>,
    order: &mut Order,
    text: String,
) -> Result<(), StorageError> {
    let now = tx.now();
    order.notes.push(Note {
        author: "system".into(),
        text,
        created_at: now,
    });
    order.updated_at = now;
    order.version += 1;
    tx.insert(&ORDERS, &order.id, order)
}

/// Stores the quote an order was placed with, in the checkout's write.
pub fn insert_quote(
    tx: &mut WriteTx<'_>,
    id: OrderId,
    quote: &crate::domain::pricing::Quote,
) -> Result<(), StorageError> {
    tx.insert(&QUOTES, &id, quote)
}

/// The quote an order was placed with (none for orders placed before pricing existed).
pub fn quote_of(
    r: &impl Reader,
    id: OrderId,
) -> Result<Option<crate::domain::pricing::Quote>, StorageError> {
    r.get(&QUOTES, &id)
}

/// Whether the customer has placed an order before (first-order promotions).
pub fn has_orders(r: &impl Reader, customer: CustomerId) -> Result<bool, StorageError> {
    Ok(!r
        .prefix(&BY_CUSTOMER, &customer, None, ScanOrder::Asc, 1)?
        .is_empty())
}

/// Most orders of one customer [`paid_before`] reads.
pub const MAX_HISTORY: usize = 1_000;

/// A customer's paid orders placed before `before`: how many, and their totals in minor
/// units (experiments' pre-period covariate for CUPED). Reads the customer's newest
/// [`MAX_HISTORY`] orders at most and judges each by its creation time (ids only roughly
/// follow the clock: they stay increasing when it steps back).
pub fn paid_before(
    r: &impl Reader,
    customer: CustomerId,
    before: Timestamp,
) -> Result<(i64, i64), StorageError> {
    let ids = r.prefix(&BY_CUSTOMER, &customer, None, ScanOrder::Desc, MAX_HISTORY)?;
    let (mut count, mut revenue) = (0i64, 0i64);
    for ((_, id), ()) in ids {
        if let Some(o) = r.get(&ORDERS, &id)?
            && o.invoice.is_some()
            && o.created_at < before
        {
            count += 1;
            revenue = revenue.saturating_add(o.totals.total.amount);
        }
    }
    Ok((count, revenue))
}

/// The stored order `id`, if any (for modules that keep outcomes naming an order).
pub fn find(r: &impl Reader, id: OrderId) -> Result<Option<Order>, StorageError> {
    r.get(&ORDERS, &id)
}

fn load(r: &impl Reader, id: OrderId) -> Result<Order, OrderError> {
    r.get(&ORDERS, &id)?.ok_or(OrderError::NotFound)
}

fn parse_id(id: &str) -> Result<OrderId, OrderError> {
    OrderId::parse(id).map_err(|_| OrderError::NotFound)
}

/// Whether `who` may see `o` (payments authorize through their order with it).
pub fn visible(o: &Order, who: &Viewer) -> bool {
    match who {
        Viewer::Staff => true,
        Viewer::Customer(c) => o.customer_id == Some(*c),
        Viewer::Linked(l) => l.order() == o.id,
        Viewer::Token(t) => {
            let h = hash_token(t);
            // Constant-time enough: both are SHA-256 digests of secrets.
            h.len() == o.token_hash.len() && h.iter().zip(&o.token_hash).all(|(a, b)| a == b)
        }
    }
}

impl Orders {
    /// Wraps the store.
    pub fn new(store: Store, settings: OrderSettings) -> Self {
        Orders { store, settings }
    }

    /// Mail settings (checkout reuses them).
    pub fn settings(&self) -> &OrderSettings {
        &self.settings
    }

    /// One order, if `who` may see it (404 otherwise, never 403: ids do not leak).
    pub fn get(&self, id: &str, who: &Viewer) -> Result<OrderView, OrderError> {
        let id = parse_id(id)?;
        let o = load(&self.store.read()?, id)?;
        if !visible(&o, who) {
            return Err(OrderError::NotFound);
        }
        Ok(match who {
            Viewer::Staff => OrderView::staff(&o),
            _ => OrderView::of(&o),
        })
    }

    /// A paid order with what its invoice shows: the order, the quote it was placed with and
    /// the buyer's tax id when exempt (404 until paid, and for anyone who may not see it).
    pub fn invoice(&self, id: &str, who: &Viewer) -> Result<Invoice, OrderError> {
        let id = parse_id(id)?;
        let r = self.store.read()?;
        let o = load(&r, id)?;
        if !visible(&o, who) || o.invoice.is_none() {
            return Err(OrderError::NotFound);
        }
        Ok(Invoice {
            quote: r.get(&QUOTES, &id)?,
            order: o,
        })
    }

    /// A customer's orders, newest first.
    pub fn list_for_customer(
        &self,
        customer: CustomerId,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<OrderView>, OrderError> {
        let after = decode_cursor(cursor)?.map(|id| (customer, id));
        let r = self.store.read()?;
        let ids = r.prefix(
            &BY_CUSTOMER,
            &customer,
            after.as_ref(),
            ScanOrder::Desc,
            per_page + 1,
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for ((_, id), ()) in ids {
            out.push(OrderView::of(&load(&r, id)?));
        }
        Ok(Page::from_overfetch(out, per_page, |o| o.id.to_cursor()))
    }

    /// Staff list: newest first, filtered. Status and customer filters use their indexes;
    /// `created_from` ends the scan early (ids sort by creation time); the rest filter while
    /// scanning.
    pub fn list(
        &self,
        f: &OrderFilter,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<OrderView>, OrderError> {
        let after = decode_cursor(cursor)?;
        let r = self.store.read()?;
        // An id's time part is never earlier than its order's creation time (ids are minted
        // monotonically), so once ids fall below `created_from` no older order can match.
        let lo_id = f.created_from.map(|t| OrderId::from_bytes(id_floor(t)));
        let mut out = Vec::new();
        let mut cursor_id = after;
        // Scan in batches until the page is full or the range is exhausted.
        'scan: loop {
            let batch: Vec<OrderId> = match (f.status, f.customer) {
                (_, Some(c)) => r
                    .prefix(
                        &BY_CUSTOMER,
                        &c,
                        cursor_id.map(|id| (c, id)).as_ref(),
                        ScanOrder::Desc,
                        200,
                    )?
                    .into_iter()
                    .map(|((_, id), ())| id)
                    .collect(),
                (Some(s), None) => {
                    let key = s.as_str().to_owned();
                    r.prefix(
                        &BY_STATUS,
                        &key,
                        cursor_id.map(|id| (key.clone(), id)).as_ref(),
                        ScanOrder::Desc,
                        200,
                    )?
                    .into_iter()
                    .map(|((_, id), ())| id)
                    .collect()
                }
                (None, None) => {
                    let hi = cursor_id.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
                    let lo = lo_id.as_ref().map_or(Bound::Unbounded, Bound::Included);
                    r.range(&ORDERS, lo, hi, ScanOrder::Desc, 200)?
                        .into_iter()
                        .map(|(id, _)| id)
                        .collect()
                }
            };
            if batch.is_empty() {
                break;
            }
            for id in batch {
                cursor_id = Some(id);
                if lo_id.is_some_and(|lo| id < lo) {
                    break 'scan;
                }
                let o = load(&r, id)?;
                if f.created_from.is_some_and(|t| o.created_at < t)
                    || f.created_to.is_some_and(|t| o.created_at >= t)
                    || f.status.is_some_and(|s| s != o.status)
                    || f.min_total.is_some_and(|m| o.totals.total.amount < m)
                    || f.max_total.is_some_and(|m| o.totals.total.amount > m)
                {
                    continue;
                }
                out.push(OrderView::staff(&o));
                if out.len() > per_page {
                    break 'scan;
                }
            }
        }
        Ok(Page::from_overfetch(out, per_page, |o| o.id.to_cursor()))
    }

    /// Runs `event` on an order for `actor`.
    async fn apply(
        &self,
        id: &str,
        event: Event,
        actor: String,
        reason: Option<String>,
    ) -> Result<OrderView, OrderError> {
        let id = parse_id(id)?;
        let s = self.settings.clone();
        self.store
            .write(move |tx| {
                let mut o = load(tx, id)?;
                transition(tx, &mut o, event, &actor, reason, &s)?;
                Ok(OrderView::staff(&o))
            })
            .await
    }

    /// Cancels an unpaid order (staff, or its customer) and releases its stock.
    pub async fn cancel(
        &self,
        id: &str,
        who: &Viewer,
        actor: String,
        reason: Option<String>,
    ) -> Result<OrderView, OrderError> {
        let oid = parse_id(id)?;
        let who = who.clone();
        let s = self.settings.clone();
        let view = self
            .store
            .write(move |tx| {
                let mut o = load(tx, oid)?;
                if !visible(&o, &who) {
                    return Err(OrderError::NotFound);
                }
                transition(tx, &mut o, Event::Cancel, &actor, reason, &s)?;
                Ok(match who {
                    Viewer::Staff => OrderView::staff(&o),
                    _ => OrderView::of(&o),
                })
            })
            .await?;
        Ok(view)
    }

    /// Closes a fulfilled order.
    pub async fn complete(&self, id: &str, actor: String) -> Result<OrderView, OrderError> {
        self.apply(id, Event::Complete, actor, None).await
    }

    /// Ships units: records the fulfilment, moves the state, and mails the customer. Needs an
    /// idempotency key: a retried request replays the first response instead of shipping
    /// twice. Keys are scoped to the acting staff member.
    pub async fn fulfil(
        &self,
        id: &str,
        input: FulfilInput,
        actor: String,
        key: Option<&str>,
    ) -> Result<FulfilResponse, OrderError> {
        idempotency::check_key(key)?;
        let oid = parse_id(id)?;
        let keyed = idempotency::Keyed::new(
            format!("fulfil:{actor}"),
            key,
            &json!({"order": oid.to_string(), "lines": input.lines, "carrier": input.carrier,
                   "tracking_number": input.tracking_number}),
        )?;
        let carrier = input.carrier.trim().to_owned();
        let tracking = input.tracking_number.trim().to_owned();
        if carrier.is_empty() || carrier.chars().count() > 100 {
            return Err(invalid("carrier", "must be 1 to 100 characters"));
        }
        if tracking.is_empty() || tracking.chars().count() > 100 {
            return Err(invalid("tracking_number", "must be 1 to 100 characters"));
        }
        if input.lines.len() > 500 {
            return Err(invalid("lines", "at most 500 entries"));
        }
        let mut wanted = Vec::with_capacity(input.lines.len());
        for (l, q) in &input.lines {
            let line = LineId::parse(l).map_err(|_| invalid("lines", format!("no line `{l}`")))?;
            wanted.push((line, *q));
        }
        let s = self.settings.clone();
        keyed
            .write(&self.store, move |tx| {
                let mut o = load(tx, oid)?;
                let wanted = if wanted.is_empty() {
                    o.lines
                        .iter()
                        .filter(|l| l.quantity > l.fulfilled_quantity)
                        .map(|l| (l.id, l.quantity - l.fulfilled_quantity))
                        .collect()
                } else {
                    wanted
                };
                if wanted.is_empty() {
                    // Nothing left: let the machine name the state.
                    machine::apply(
                        &o.state(),
                        &Event::Fulfil {
                            line: 0,
                            quantity: 0,
                        },
                    )?;
                }
                for &(line, quantity) in &wanted {
                    let idx = o
                        .lines
                        .iter()
                        .position(|l| l.id == line)
                        .ok_or_else(|| invalid("lines", format!("no line `{line}`")))?;
                    transition(
                        tx,
                        &mut o,
                        Event::Fulfil {
                            line: idx,
                            quantity,
                        },
                        &actor,
                        None,
                        &s,
                    )?;
                }
                let f = Fulfilment {
                    id: FulfilmentId::new(tx.now()),
                    lines: wanted,
                    carrier,
                    tracking_number: tracking,
                    created_at: tx.now(),
                };
                let extra = json!({"carrier": f.carrier, "tracking_number": f.tracking_number});
                if o.fulfilments.is_empty() {
                    let job =
                        jobs::NewJob::new(FIRST_FULFILMENT_JOB, &ExpireJob { order_id: o.id })?
                            .dedupe(format!("first_fulfilment:{}", o.id));
                    jobs::enqueue(tx, job)?;
                }
                o.fulfilments.push(f);
                tx.insert(&ORDERS, &o.id, &o)?;
                mail(tx, &o, "order_shipped", &s, extra)?;
                Ok(Fulfilled { order: o })
            })
            .await
    }

    /// Adds a staff note.
    pub async fn add_note(
        &self,
        id: &str,
        author: String,
        text: String,
    ) -> Result<OrderView, OrderError> {
        let oid = parse_id(id)?;
        let text = text.trim().to_owned();
        if text.is_empty() || text.chars().count() > 5000 {
            return Err(invalid("text", "must be 1 to 5000 characters"));
        }
        self.store
            .write(move |tx| {
                let mut o = load(tx, oid)?;
                o.notes.push(Note {
                    author,
                    text,
                    created_at: tx.now(),
                });
                o.updated_at = tx.now();
                o.version += 1;
                tx.insert(&ORDERS, &o.id, &o)?;
                Ok(OrderView::staff(&o))
            })
            .await
    }

    /// The order module's background work: expiring single orders (four at a time) and the
    /// 30-second sweep that finds unpaid orders past their expiry.
    pub fn work(&self) -> jobs::Work {
        let (a, b) = (self.clone(), self.clone());
        jobs::Work::new()
            .handler(
                EXPIRE_JOB,
                4,
                jobs::handler_fn(move |ctx| a.clone().run_expire(ctx)),
            )
            .handler(
                EXPIRE_DUE_JOB,
                1,
                jobs::handler_fn(move |ctx| b.clone().run_expire_due(ctx)),
            )
            .every(EXPIRE_DUE_JOB, EXPIRE_EVERY)
    }

    /// Job handler of [`EXPIRE_DUE_JOB`]: expires every unpaid order past its expiry, 200 per
    /// transaction, then schedules the next run.
    pub async fn run_expire_due(
        self,
        _ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        loop {
            let s = self.settings.clone();
            let n = self
                .store
                .write(move |tx| expire_due(tx, 200, &s))
                .await
                .map_err(|e| jobs::JobError::retry(e.to_string()))?;
            if n < 200 {
                break;
            }
        }
        Ok(jobs::JobOutcome::DoneWith(Box::new(|tx| {
            let next = tx.now().plus(EXPIRE_EVERY);
            jobs::schedule_recurring(tx, EXPIRE_DUE_JOB, EXPIRE_EVERY, next)
        })))
    }

    /// Job handler of [`EXPIRE_JOB`]: expires the order if it is still unpaid.
    pub async fn run_expire(
        self,
        ctx: jobs::JobContext,
    ) -> Result<jobs::JobOutcome, jobs::JobError> {
        let job: ExpireJob = ctx.payload()?;
        let s = self.settings.clone();
        let r = self
            .store
            .write(move |tx| {
                let Some(mut o) = tx.get(&ORDERS, &job.order_id)? else {
                    return Ok(());
                };
                if o.status != Status::PendingPayment {
                    return Ok(());
                }
                if o.expires_at > tx.now() {
                    // Not yet (the clock moved back, or the job ran early): try again then.
                    return Err(OrderError::Invalid(FieldIssue::new(
                        "expires_at",
                        "invalid",
                        "not yet",
                    )));
                }
                transition(
                    tx,
                    &mut o,
                    Event::Expire,
                    "system",
                    Some("not paid in time".into()),
                    &s,
                )
            })
            .await;
        match r {
            Ok(()) => Ok(jobs::JobOutcome::Done),
            Err(e) => Err(jobs::JobError::retry(e.to_string())),
        }
    }
}

/// Expires up to `limit` unpaid orders whose expiry has passed; returns how many index rows
/// were handled.
fn expire_due(tx: &mut WriteTx<'_>, limit: usize, s: &OrderSettings) -> Result<usize, OrderError> {
    let now = tx.now();
    let due = tx.range(
        &PENDING_BY_EXPIRY,
        Bound::Unbounded,
        Bound::Included(&(now, OrderId::from_bytes([0xff; 16]))),
        ScanOrder::Asc,
        limit,
    )?;
    let n = due.len();
    for ((at, id), ()) in due {
        match tx.get(&ORDERS, &id)? {
            Some(mut o) if o.status == Status::PendingPayment => transition(
                tx,
                &mut o,
                Event::Expire,
                "system",
                Some("not paid in time".into()),
                s,
            )?,
            // Paid or cancelled meanwhile (its row went with that transition) or a stray row.
            _ => tx.remove(&PENDING_BY_EXPIRY, &(at, id))?,
        }
    }
    Ok(n)
}

fn decode_cursor(cursor: Option<&str>) -> Result<Option<OrderId>, OrderError> {
    page::after(cursor).map_err(|e| invalid("cursor", e.to_string()))
}

/// The smallest id minted at `t` (ULIDs start with the 48-bit millisecond time).
pub(super) fn id_floor(t: Timestamp) -> [u8; 16] {
    let ms = u64::try_from(t.as_millis()).unwrap_or(0);
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b
}
