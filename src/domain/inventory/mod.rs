//! Stock per variant: on hand, reserved (held for orders awaiting payment) and sold; available
//! is on hand − reserved. Every change to on hand is a movement with reason, actor and time.
//! Reservations are taken at checkout and either become sales (payment) or are released
//! (expiry, cancellation, failed payment) — always inside the caller's write transaction, so a
//! reservation exists exactly when its order says it does.
//!
//! Two ways to reserve, both unable to oversell:
//! - *pessimistic*: check and reserve inside the serialised write ([`reserve`]);
//! - *optimistic*: read the levels at a snapshot ([`snapshot`]), decide outside the writer, and
//!   commit only if every variant's stock version is unchanged ([`reserve_at`]); the caller
//!   retries a bounded number of times on [`InventoryError::Conflict`].

mod csv;

pub use csv::CsvError;

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use serde::{Deserialize, Serialize};

use crate::core::page::Cursor;
use crate::core::{OrderId, Page, Timestamp, VariantId, page};
use crate::domain::{catalog, events};
use crate::storage::{Order, Reader, StorageError, Store, Table, Value, WriteTx};

/// Stock level per tracked variant.
const STOCK: Table<VariantId, StockLevel> = Table::new("inventory_stock");
/// Movement history per variant, numbered from 1.
const MOVEMENTS: Table<(VariantId, i64), Movement> = Table::new("inventory_movements");
/// Reservations by order.
const RESERVATIONS: Table<OrderId, Reservation> = Table::new("inventory_reservations");

/// Whether a variant may be sold beyond its stock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backorder {
    /// Refuse orders beyond available stock (the default).
    #[default]
    Deny,
    /// Accept them; available goes negative.
    Allow,
}

/// A variant's stock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    /// Units in the warehouse (sold units have left it).
    pub on_hand: i64,
    /// Units held by orders awaiting payment.
    pub reserved: i64,
    /// Units sold (reservations converted by payment), for reconciliation.
    pub sold: i64,
    /// Policy beyond zero.
    pub backorder: Backorder,
    /// `inventory.low_stock` is emitted when available falls to or below this.
    pub low_stock_threshold: Option<i64>,
    /// Bumped by every change; the optimistic strategy commits only if it is unchanged.
    pub version: u64,
    /// Number of movements recorded (the last movement's number).
    pub movements: i64,
}

impl Value for StockLevel {}
impl Value for Movement {}
impl Value for Reservation {}

impl StockLevel {
    /// On hand minus reserved; negative only under backorder.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// Whether at least one unit can be ordered.
    pub fn sellable(&self) -> bool {
        self.can_reserve(1)
    }

    /// Whether `qty` more units can be reserved.
    pub fn can_reserve(&self, qty: i64) -> bool {
        self.backorder == Backorder::Allow || self.available() >= qty
    }
}

/// What moved stock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// Staff set the count (stocktake).
    Set,
    /// Staff adjusted by a delta (delivery, damage, correction).
    Adjustment,
    /// Payment turned a reservation into a sale.
    Sale,
    /// A CSV import set the count.
    Import,
    /// Refunded units went back into stock.
    Return,
}

/// One change of on hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// Kind.
    pub kind: MovementKind,
    /// Change of on hand.
    pub delta: i64,
    /// On hand after the change.
    pub on_hand_after: i64,
    /// Why.
    pub reason: String,
    /// Who: `cus_…`/`key_…` of staff, `system`, or `order:ord_…`.
    pub actor: String,
    /// When.
    pub at: Timestamp,
}

/// Units held for one order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Variant and quantity per line (tracked variants only).
    pub lines: Vec<(VariantId, i64)>,
    /// When it lapses unless paid.
    pub expires_at: Timestamp,
}

/// The reservation strategy (config `inventory.reservation_strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Check and reserve inside the serialised write.
    #[default]
    Pessimistic,
    /// Decide at a snapshot, commit if versions are unchanged, retry on conflict.
    Optimistic,
}

impl Strategy {
    /// Parses `pessimistic` or `optimistic`.
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "pessimistic" => Some(Strategy::Pessimistic),
            "optimistic" => Some(Strategy::Optimistic),
            _ => None,
        }
    }
}

/// Why a stock operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Not enough available units.
    #[error("only {available} of {variant_id} available, {requested} requested")]
    OutOfStock {
        /// The short variant.
        variant_id: VariantId,
        /// Units available now (never negative here).
        available: i64,
        /// Units asked for.
        requested: i64,
    },
    /// No such variant.
    #[error("no such variant")]
    NotFound,
    /// A level changed since the snapshot (optimistic strategy): read again and retry.
    #[error("stock changed concurrently")]
    Conflict,
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

impl ErrorCode for InventoryError {
    fn code(&self) -> Code {
        match self {
            InventoryError::OutOfStock { .. } => codes::OUT_OF_STOCK,
            InventoryError::NotFound => codes::NOT_FOUND,
            InventoryError::Conflict => codes::CONFLICT,
            InventoryError::Invalid(_) => codes::VALIDATION_FAILED,
            InventoryError::Internal(_) => codes::INTERNAL_ERROR,
            InventoryError::Storage(s) => s.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            InventoryError::NotFound => "no such variant".into(),
            InventoryError::Conflict => "stock changed concurrently; retry".into(),
            InventoryError::Internal(_) => codes::INTERNAL_MESSAGE.into(),
            InventoryError::Storage(s) => s.message(),
            other => other.to_string(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            InventoryError::Invalid(i) => vec![i.clone()],
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            InventoryError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
}

/// `data` of `inventory.*` events, version 1: a payload of its own, not the API's [`StockView`].
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StockEventV1 {
    /// `var_…`.
    #[schema(value_type = String)]
    pub variant_id: VariantId,
    /// Units in the warehouse.
    pub on_hand: i64,
    /// Units held for unpaid orders.
    pub reserved: i64,
    /// On hand − reserved.
    pub available: i64,
    /// The threshold that was reached.
    pub low_stock_threshold: Option<i64>,
}

impl events::Payload for StockEventV1 {
    const VERSION: u32 = 1;
}

impl StockEventV1 {
    fn of(variant_id: VariantId, l: &StockLevel) -> StockEventV1 {
        StockEventV1 {
            variant_id,
            on_hand: l.on_hand,
            reserved: l.reserved,
            available: l.available(),
            low_stock_threshold: l.low_stock_threshold,
        }
    }
}

/// The public view of a level.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StockView {
    /// Variant.
    #[schema(value_type = String)]
    pub variant_id: VariantId,
    /// Units in the warehouse.
    pub on_hand: i64,
    /// Units held for unpaid orders.
    pub reserved: i64,
    /// On hand − reserved.
    pub available: i64,
    /// Units sold.
    pub sold: i64,
    /// Policy beyond zero.
    pub backorder: Backorder,
    /// Low-stock threshold.
    pub low_stock_threshold: Option<i64>,
    /// Version (changes with every movement or reservation).
    pub version: u64,
}

impl StockView {
    fn of(variant_id: VariantId, l: &StockLevel) -> StockView {
        StockView {
            variant_id,
            on_hand: l.on_hand,
            reserved: l.reserved,
            available: l.available(),
            sold: l.sold,
            backorder: l.backorder,
            low_stock_threshold: l.low_stock_threshold,
            version: l.version,
        }
    }
}

/// A movement as listed.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MovementView {
    /// Number within the variant's history.
    pub seq: i64,
    /// Kind.
    pub kind: MovementKind,
    /// Change of on hand.
    pub delta: i64,
    /// On hand after.
    pub on_hand_after: i64,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: String,
    /// When.
    #[schema(value_type = String)]
    pub at: Timestamp,
}

/// Largest absolute stock number accepted (keeps every sum far from overflow).
pub const MAX_UNITS: i64 = 1_000_000_000;

/// The level of a variant (a fresh, empty one when none was ever set).
pub fn level(r: &impl Reader, v: VariantId) -> Result<StockLevel, StorageError> {
    Ok(r.get(&STOCK, &v)?.unwrap_or_default())
}

/// Availability of several variants at once (carts, search).
pub fn available(r: &impl Reader, v: VariantId) -> Result<(i64, Backorder), StorageError> {
    let l = level(r, v)?;
    Ok((l.available(), l.backorder))
}

/// Writes a level. Emits `inventory.low_stock` when available falls to or below the threshold
/// (from above it), and queues search re-indexing when the variant goes in or out of stock.
fn store_level(
    tx: &mut WriteTx<'_>,
    v: VariantId,
    before: &StockLevel,
    after: StockLevel,
) -> Result<StockView, StorageError> {
    store_level_notify(tx, v, before, after, true)
}

/// [`store_level`], optionally without queueing re-indexing (bulk loads followed by a reindex).
fn store_level_notify(
    tx: &mut WriteTx<'_>,
    v: VariantId,
    before: &StockLevel,
    mut after: StockLevel,
    notify: bool,
) -> Result<StockView, StorageError> {
    after.version = before.version + 1;
    let view = StockView::of(v, &after);
    if let Some(t) = after.low_stock_threshold
        && after.available() <= t
        && (before.available() > t || before.low_stock_threshold != Some(t))
    {
        events::record(
            tx,
            &events::INVENTORY_LOW_STOCK,
            &StockEventV1::of(v, &after),
        )?;
    }
    if notify
        && before.sellable() != after.sellable()
        && let Some(product) = catalog::product_id_of_variant(tx, v)?
    {
        catalog::notify_changed(tx, product)?;
    }
    tx.insert(&STOCK, &v, &after)?;
    Ok(view)
}

fn movement(
    tx: &mut WriteTx<'_>,
    v: VariantId,
    level: &mut StockLevel,
    kind: MovementKind,
    delta: i64,
    reason: &str,
    actor: &str,
) -> Result<(), StorageError> {
    level.movements += 1;
    let at = tx.now();
    tx.insert(
        &MOVEMENTS,
        &(v, level.movements),
        &Movement {
            kind,
            delta,
            on_hand_after: level.on_hand,
            reason: reason.to_owned(),
            actor: actor.to_owned(),
            at,
        },
    )
}

fn check_units(field: &'static str, n: i64) -> Result<(), InventoryError> {
    if n.abs() > MAX_UNITS {
        return Err(InventoryError::Invalid(FieldIssue::new(
            field,
            "invalid",
            format!("must be between -{MAX_UNITS} and {MAX_UNITS}"),
        )));
    }
    Ok(())
}

fn check_reason(reason: &str) -> Result<(), InventoryError> {
    if reason.trim().is_empty() || reason.chars().count() > 200 {
        return Err(InventoryError::Invalid(FieldIssue::new(
            "reason",
            "invalid",
            "must be 1 to 200 characters",
        )));
    }
    Ok(())
}

/// What a stock update sets besides on hand.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// New backorder policy, if given.
    pub backorder: Option<Backorder>,
    /// New threshold (`Some(None)` clears it).
    pub low_stock_threshold: Option<Option<i64>>,
}

/// Sets on hand (a stocktake) and optionally the policy, inside `tx`.
pub fn set_on_hand(
    tx: &mut WriteTx<'_>,
    v: VariantId,
    on_hand: i64,
    policy: &Policy,
    kind: MovementKind,
    reason: &str,
    actor: &str,
) -> Result<StockView, InventoryError> {
    set_on_hand_notify(tx, v, on_hand, policy, (kind, reason, actor), true)
}

fn set_on_hand_notify(
    tx: &mut WriteTx<'_>,
    v: VariantId,
    on_hand: i64,
    policy: &Policy,
    (kind, reason, actor): (MovementKind, &str, &str),
    notify: bool,
) -> Result<StockView, InventoryError> {
    check_units("on_hand", on_hand)?;
    if on_hand < 0 {
        return Err(InventoryError::Invalid(FieldIssue::new(
            "on_hand",
            "invalid",
            "must not be negative",
        )));
    }
    check_reason(reason)?;
    if let Some(Some(t)) = policy.low_stock_threshold {
        check_units("low_stock_threshold", t)?;
        if t < 0 {
            return Err(InventoryError::Invalid(FieldIssue::new(
                "low_stock_threshold",
                "invalid",
                "must not be negative (0 warns when the last unit sells)",
            )));
        }
    }
    let before = level(tx, v)?;
    let mut after = before.clone();
    let delta = on_hand - before.on_hand;
    after.on_hand = on_hand;
    if let Some(b) = policy.backorder {
        after.backorder = b;
    }
    if let Some(t) = policy.low_stock_threshold {
        after.low_stock_threshold = t;
    }
    if delta != 0 {
        movement(tx, v, &mut after, kind, delta, reason, actor)?;
    }
    Ok(store_level_notify(tx, v, &before, after, notify)?)
}

/// Adds `delta` (negative to remove) to on hand, inside `tx`. On hand may not go below the
/// units already reserved unless backorders are allowed.
pub fn adjust(
    tx: &mut WriteTx<'_>,
    v: VariantId,
    delta: i64,
    reason: &str,
    actor: &str,
) -> Result<StockView, InventoryError> {
    check_units("delta", delta)?;
    if delta == 0 {
        return Err(InventoryError::Invalid(FieldIssue::new(
            "delta",
            "invalid",
            "must not be zero",
        )));
    }
    check_reason(reason)?;
    let before = level(tx, v)?;
    let mut after = before.clone();
    after.on_hand = before.on_hand + delta;
    check_units("delta", after.on_hand)?;
    // Units cannot be removed that are not there, nor (unless backorders are allowed) units
    // that unpaid orders hold.
    if after.on_hand < 0
        || (delta < 0 && after.available() < 0 && before.backorder == Backorder::Deny)
    {
        return Err(InventoryError::OutOfStock {
            variant_id: v,
            available: before.available().max(0).min(before.on_hand),
            requested: -delta,
        });
    }
    movement(
        tx,
        v,
        &mut after,
        MovementKind::Adjustment,
        delta,
        reason,
        actor,
    )?;
    Ok(store_level(tx, v, &before, after)?)
}

/// Sums quantities per variant (a cart may not repeat a variant, but be safe).
fn merged(lines: &[(VariantId, i64)]) -> Vec<(VariantId, i64)> {
    let mut out: Vec<(VariantId, i64)> = Vec::new();
    for &(v, q) in lines {
        match out.iter_mut().find(|(x, _)| *x == v) {
            Some(e) => e.1 += q,
            None => out.push((v, q)),
        }
    }
    out
}

fn check_available(v: VariantId, l: &StockLevel, q: i64) -> Result<(), InventoryError> {
    if l.can_reserve(q) {
        Ok(())
    } else {
        Err(InventoryError::OutOfStock {
            variant_id: v,
            available: l.available().max(0),
            requested: q,
        })
    }
}

/// Pessimistic reservation: checks and reserves every line inside `tx` (all or nothing: the
/// caller's transaction fails as a whole on `OutOfStock`).
pub fn reserve(
    tx: &mut WriteTx<'_>,
    order: OrderId,
    lines: &[(VariantId, i64)],
    expires_at: Timestamp,
) -> Result<(), InventoryError> {
    let lines = merged(lines);
    let mut levels = Vec::with_capacity(lines.len());
    for &(v, q) in &lines {
        let l = level(tx, v)?;
        check_available(v, &l, q)?;
        levels.push(l);
    }
    apply_reservation(tx, order, &lines, levels, expires_at)
}

/// Levels of the lines' variants at a snapshot, for [`reserve_at`].
pub fn snapshot(
    r: &impl Reader,
    lines: &[(VariantId, i64)],
) -> Result<Vec<(VariantId, StockLevel)>, StorageError> {
    merged(lines)
        .into_iter()
        .map(|(v, _)| Ok((v, level(r, v)?)))
        .collect()
}

/// Optimistic reservation: `snapshot` was read before the write; the decision is made on it
/// and committed only if no level changed since ([`InventoryError::Conflict`] otherwise).
pub fn reserve_at(
    tx: &mut WriteTx<'_>,
    order: OrderId,
    lines: &[(VariantId, i64)],
    snapshot: &[(VariantId, StockLevel)],
    expires_at: Timestamp,
) -> Result<(), InventoryError> {
    let lines = merged(lines);
    let mut levels = Vec::with_capacity(lines.len());
    for &(v, q) in &lines {
        let seen = snapshot
            .iter()
            .find(|(x, _)| *x == v)
            .map(|(_, l)| l)
            .ok_or(InventoryError::Conflict)?;
        check_available(v, seen, q)?;
        // Only the version is compared; the decision above was taken on the snapshot.
        let current = level(tx, v)?;
        if current.version != seen.version {
            return Err(InventoryError::Conflict);
        }
        levels.push(current);
    }
    apply_reservation(tx, order, &lines, levels, expires_at)
}

fn apply_reservation(
    tx: &mut WriteTx<'_>,
    order: OrderId,
    lines: &[(VariantId, i64)],
    levels: Vec<StockLevel>,
    expires_at: Timestamp,
) -> Result<(), InventoryError> {
    for (&(v, q), before) in lines.iter().zip(levels) {
        let mut after = before.clone();
        after.reserved += q;
        store_level(tx, v, &before, after)?;
    }
    tx.insert(
        &RESERVATIONS,
        &order,
        &Reservation {
            lines: lines.to_vec(),
            expires_at,
        },
    )?;
    Ok(())
}

/// Releases an order's reservation (expiry, cancellation, failed payment); a no-op when there
/// is none (already released or sold), so callers may repeat it.
pub fn release(tx: &mut WriteTx<'_>, order: OrderId) -> Result<bool, StorageError> {
    let Some(res) = tx.get(&RESERVATIONS, &order)? else {
        return Ok(false);
    };
    for (v, q) in res.lines {
        let before = level(tx, v)?;
        let mut after = before.clone();
        after.reserved = (after.reserved - q).max(0);
        store_level(tx, v, &before, after)?;
    }
    tx.remove(&RESERVATIONS, &order)?;
    Ok(true)
}

/// Turns an order's reservation into a sale: the units leave on hand and the reservation;
/// a no-op when there is none.
pub fn sell(tx: &mut WriteTx<'_>, order: OrderId) -> Result<bool, StorageError> {
    let Some(res) = tx.get(&RESERVATIONS, &order)? else {
        return Ok(false);
    };
    let actor = format!("order:{order}");
    for (v, q) in res.lines {
        let before = level(tx, v)?;
        let mut after = before.clone();
        after.reserved = (after.reserved - q).max(0);
        after.on_hand -= q;
        after.sold += q;
        movement(
            tx,
            v,
            &mut after,
            MovementKind::Sale,
            -q,
            "order paid",
            &actor,
        )?;
        store_level(tx, v, &before, after)?;
    }
    tx.remove(&RESERVATIONS, &order)?;
    Ok(true)
}

/// Reserves an order's lines again (a payment that arrived after the order expired or was
/// cancelled): only variants tracked now count, checked and reserved like a checkout's.
pub fn reserve_again(
    tx: &mut WriteTx<'_>,
    order: OrderId,
    lines: &[(VariantId, i64)],
    expires_at: Timestamp,
) -> Result<(), InventoryError> {
    let mut tracked = Vec::with_capacity(lines.len());
    for &(v, q) in lines {
        let Some(p) = catalog::product_of_variant_in(tx, v)? else {
            // The variant is gone: nothing can be shipped for it.
            return Err(InventoryError::OutOfStock {
                variant_id: v,
                available: 0,
                requested: q,
            });
        };
        if p.variants.iter().any(|x| x.id == v && x.track_inventory) {
            tracked.push((v, q));
        }
    }
    reserve(tx, order, &tracked, expires_at)
}

/// Puts `units` of a sold variant back on hand (a refund with restock); untracked or deleted
/// variants have no stock to return to, which is not an error.
pub fn restock(
    tx: &mut WriteTx<'_>,
    v: VariantId,
    units: i64,
    reason: &str,
    actor: &str,
) -> Result<bool, StorageError> {
    let tracked = catalog::product_of_variant_in(tx, v)?
        .is_some_and(|p| p.variants.iter().any(|x| x.id == v && x.track_inventory));
    if !tracked || units <= 0 {
        return Ok(false);
    }
    let before = level(tx, v)?;
    let mut after = before.clone();
    after.on_hand += units;
    after.sold = (after.sold - units).max(0);
    movement(
        tx,
        v,
        &mut after,
        MovementKind::Return,
        units,
        reason,
        actor,
    )?;
    store_level(tx, v, &before, after)?;
    Ok(true)
}

/// The reservation held for an order, if any.
pub fn reservation(r: &impl Reader, order: OrderId) -> Result<Option<Reservation>, StorageError> {
    r.get(&RESERVATIONS, &order)
}

fn exists(r: &impl Reader, v: VariantId) -> Result<(), InventoryError> {
    match catalog::product_id_of_variant(r, v)? {
        Some(_) => Ok(()),
        None => Err(InventoryError::NotFound),
    }
}

/// A variant running low, for the admin's dashboard.
#[derive(Clone, Debug, Serialize)]
pub struct LowStock {
    /// The variant.
    pub variant_id: VariantId,
    /// Its product (`prod_…`).
    pub product_id: String,
    /// The product's title.
    pub title: String,
    /// The variant's SKU.
    pub sku: Option<String>,
    /// Units available now.
    pub available: i64,
    /// Its threshold.
    pub threshold: i64,
}

/// Whether any of `variants` (tracked ones) can be sold now (a product card's stock check).
pub fn any_sellable(r: &impl Reader, variants: &[VariantId]) -> Result<bool, StorageError> {
    for v in variants {
        if level(r, *v)?.sellable() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a product can be ordered now: one of its variants is untracked or can reserve a
/// unit (search's `in_stock`).
pub fn product_in_stock(r: &impl Reader, p: &catalog::Product) -> Result<bool, StorageError> {
    for v in &p.variants {
        if !v.track_inventory || level(r, v.id)?.sellable() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Deterministic demo stock for a SKU: mostly 5–120 units, about one variant in eight sold out,
/// so the demo shop shows both.
pub fn demo_quantity(sku: &str) -> i64 {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let h = sku.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    if h % 8 == 0 {
        0
    } else {
        5 + i64::try_from((h >> 8) % 116).unwrap_or(0)
    }
}

/// Stock service for the HTTP layer.
#[derive(Clone, Debug)]
pub struct Inventory {
    store: Store,
}

impl Inventory {
    /// Wraps the store.
    pub fn new(store: Store) -> Self {
        Inventory { store }
    }

    /// A variant's level.
    pub fn get(&self, v: VariantId) -> Result<StockView, InventoryError> {
        let r = self.store.read()?;
        exists(&r, v)?;
        Ok(StockView::of(v, &level(&r, v)?))
    }

    /// The stock of every variant of `p`, in variant order, read in one transaction (the
    /// admin's product and grid pages).
    pub fn stock_of(&self, p: &catalog::Product) -> Result<Vec<StockView>, StorageError> {
        let r = self.store.read()?;
        p.variants
            .iter()
            .map(|v| Ok(StockView::of(v.id, &level(&r, v.id)?)))
            .collect()
    }

    /// Movements of a variant, newest first.
    pub fn movements(
        &self,
        v: VariantId,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<MovementView>, InventoryError> {
        let after = page::after::<i64>(cursor)
            .map_err(|e| {
                InventoryError::Invalid(FieldIssue::new("cursor", "invalid", e.to_string()))
            })?
            .map(|seq| (v, seq));
        let r = self.store.read()?;
        exists(&r, v)?;
        let rows = r.prefix(&MOVEMENTS, &v, after.as_ref(), Order::Desc, per_page + 1)?;
        let items = rows
            .into_iter()
            .map(|((_, seq), m)| MovementView {
                seq,
                kind: m.kind,
                delta: m.delta,
                on_hand_after: m.on_hand_after,
                reason: m.reason,
                actor: m.actor,
                at: m.at,
            })
            .collect();
        Ok(Page::from_overfetch(items, per_page, |m| m.seq.to_cursor()))
    }

    /// Whether `p` can be ordered now.
    pub fn in_stock(&self, p: &catalog::Product) -> Result<bool, StorageError> {
        product_in_stock(&self.store.read()?, p)
    }

    /// Variants at or below their low-stock threshold now, from the latest `inventory.low_stock`
    /// events (at most `scan` of them, newest first), each variant once, with its product.
    pub fn low_stock(&self, scan: usize) -> Result<Vec<LowStock>, StorageError> {
        let recent = events::list(
            &self.store,
            Some(events::INVENTORY_LOW_STOCK.name),
            scan,
            None,
        )?;
        let r = self.store.read()?;
        let mut out: Vec<LowStock> = Vec::new();
        for e in recent.data {
            let Some(v) = e.data["variant_id"]
                .as_str()
                .and_then(|v| VariantId::parse(v).ok())
            else {
                continue;
            };
            if out.iter().any(|x| x.variant_id == v) {
                continue;
            }
            let l = level(&r, v)?;
            let Some(threshold) = l.low_stock_threshold.filter(|t| l.available() <= *t) else {
                continue;
            };
            if let Some(p) = catalog::product_of_variant_in(&r, v)? {
                let sku = p
                    .variants
                    .iter()
                    .find(|x| x.id == v)
                    .and_then(|x| x.sku.clone());
                out.push(LowStock {
                    variant_id: v,
                    product_id: p.id.to_string(),
                    title: p.title,
                    sku,
                    available: l.available(),
                    threshold,
                });
            }
        }
        Ok(out)
    }

    /// Whether each variant of `p` can be ordered now, in variant order (the product page's
    /// picker), read in one transaction.
    pub fn variants_available(&self, p: &catalog::Product) -> Result<Vec<bool>, StorageError> {
        let r = self.store.read()?;
        p.variants
            .iter()
            .map(|v| Ok(!v.track_inventory || level(&r, v.id)?.sellable()))
            .collect()
    }

    /// Sets on hand of many variants (CSV import, demo data), 500 per transaction. Without
    /// `notify` no re-indexing is queued (the caller rebuilds the index).
    /// Returns how many levels changed.
    pub async fn set_many(
        &self,
        levels: Vec<(VariantId, i64)>,
        kind: MovementKind,
        reason: &str,
        actor: &str,
        notify: bool,
    ) -> Result<u64, InventoryError> {
        let mut changed = 0;
        for chunk in levels.chunks(500) {
            let chunk = chunk.to_vec();
            let (reason, actor) = (reason.to_owned(), actor.to_owned());
            changed += self
                .store
                .write(move |tx| {
                    let mut n = 0;
                    for (v, q) in chunk {
                        if level(tx, v)?.on_hand != q {
                            let why = (kind, reason.as_str(), actor.as_str());
                            set_on_hand_notify(tx, v, q, &Policy::default(), why, notify)?;
                            n += 1;
                        }
                    }
                    Ok::<_, InventoryError>(n)
                })
                .await?;
        }
        Ok(changed)
    }

    /// Gives every tracked variant that never had stock its [`demo_quantity`]. Queues no
    /// re-indexing: the caller rebuilds the search index afterwards.
    pub async fn seed_demo(&self, catalog: &catalog::Catalog) -> Result<u64, InventoryError> {
        let mut levels = Vec::new();
        {
            let r = self.store.read()?;
            for p in catalog.all_products(1000) {
                let p = p.map_err(|e| match e {
                    catalog::CatalogError::Storage(s) => InventoryError::Storage(s),
                    other => InventoryError::Internal(other.to_string()),
                })?;
                for v in p.variants.iter().filter(|v| v.track_inventory) {
                    if r.get(&STOCK, &v.id)?.is_none() {
                        levels.push((v.id, demo_quantity(v.sku.as_deref().unwrap_or_default())));
                    }
                }
            }
        }
        self.set_many(levels, MovementKind::Import, "demo stock", "system", false)
            .await
    }

    /// Sets on hand and policy (`PUT …/stock`).
    pub async fn set(
        &self,
        v: VariantId,
        on_hand: i64,
        policy: Policy,
        reason: String,
        actor: String,
    ) -> Result<StockView, InventoryError> {
        self.store
            .write(move |tx| {
                exists(tx, v)?;
                set_on_hand(tx, v, on_hand, &policy, MovementKind::Set, &reason, &actor)
            })
            .await
    }

    /// Adjusts on hand by a delta (`POST …/stock/adjustments`).
    pub async fn adjust(
        &self,
        v: VariantId,
        delta: i64,
        reason: String,
        actor: String,
    ) -> Result<StockView, InventoryError> {
        self.store
            .write(move |tx| {
                exists(tx, v)?;
                adjust(tx, v, delta, &reason, &actor)
            })
            .await
    }
}
