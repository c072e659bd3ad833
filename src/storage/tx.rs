//! shopd's own transaction types over redb: MVCC read snapshots, and write transactions whose
//! changes go to a per-request overlay so a request that fails leaves nothing behind.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use redb::{ReadableTable, TableDefinition, TableError};

use super::codec::{Key, Value, prefix_successor};
use super::error::StorageError;
use super::table::Table;
use crate::core::Timestamp;

type RawDef = TableDefinition<'static, &'static [u8], &'static [u8]>;

fn def(name: &'static str) -> RawDef {
    TableDefinition::new(name)
}

/// Scan direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Smallest key first.
    Asc,
    /// Largest key first.
    Desc,
}

/// A stored key and value as bytes.
pub(crate) type RawPair = (Vec<u8>, Vec<u8>);

/// Read access shared by snapshots and write transactions, so domain functions can be generic
/// over where they read from.
pub trait Reader {
    /// Raw point lookup.
    #[doc(hidden)]
    fn get_raw(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Raw ordered scan of at most `limit` pairs.
    #[doc(hidden)]
    fn scan_raw(
        &self,
        table: &'static str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<RawPair>, StorageError>;

    /// The value stored under `key`.
    fn get<K: Key, V: Value>(&self, t: &Table<K, V>, key: &K) -> Result<Option<V>, StorageError> {
        match self.get_raw(t.name(), &key.to_key_bytes())? {
            Some(bytes) => {
                V::decode_value(&bytes)
                    .map(Some)
                    .map_err(|source| StorageError::Codec {
                        table: t.name(),
                        source,
                    })
            }
            None => Ok(None),
        }
    }

    /// Whether `key` is present.
    fn contains<K: Key, V: Value>(&self, t: &Table<K, V>, key: &K) -> Result<bool, StorageError> {
        Ok(self.get_raw(t.name(), &key.to_key_bytes())?.is_some())
    }

    /// Up to `limit` entries with keys between the bounds.
    fn range<K: Key, V: Value>(
        &self,
        t: &Table<K, V>,
        lo: Bound<&K>,
        hi: Bound<&K>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<(K, V)>, StorageError> {
        let lo = map_bound(lo);
        let hi = map_bound(hi);
        let raw = self.scan_raw(t.name(), as_ref(&lo), as_ref(&hi), order, limit)?;
        decode_pairs(t, raw)
    }

    /// Up to `limit` entries whose key starts with `prefix` (a leading part of a tuple key),
    /// continuing strictly after `after` in the scan direction when given (cursor pagination).
    fn prefix<K: Key, V: Value, P: Key>(
        &self,
        t: &Table<K, V>,
        prefix: &P,
        after: Option<&K>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<(K, V)>, StorageError> {
        let p = prefix.to_key_bytes();
        let succ = prefix_successor(&p);
        let after = after.map(Key::to_key_bytes);
        let (lo, hi): (Bound<&[u8]>, Bound<&[u8]>) = match (order, &after) {
            (Order::Asc, Some(a)) => (Bound::Excluded(a), opt_excluded(&succ)),
            (Order::Desc, Some(a)) => (Bound::Included(&p), Bound::Excluded(a)),
            (_, None) => (Bound::Included(&p), opt_excluded(&succ)),
        };
        let raw = self.scan_raw(t.name(), lo, hi, order, limit)?;
        decode_pairs(t, raw)
    }
}

fn opt_excluded(v: &Option<Vec<u8>>) -> Bound<&[u8]> {
    match v {
        Some(s) => Bound::Excluded(s.as_slice()),
        None => Bound::Unbounded,
    }
}

fn map_bound<K: Key>(b: Bound<&K>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_key_bytes()),
        Bound::Excluded(k) => Bound::Excluded(k.to_key_bytes()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn decode_pairs<K: Key, V: Value>(
    t: &Table<K, V>,
    raw: Vec<RawPair>,
) -> Result<Vec<(K, V)>, StorageError> {
    raw.into_iter()
        .map(|(k, v)| {
            let key = K::from_key_bytes(&k).map_err(|source| StorageError::Codec {
                table: t.name(),
                source,
            })?;
            let val = V::decode_value(&v).map_err(|source| StorageError::Codec {
                table: t.name(),
                source,
            })?;
            Ok((key, val))
        })
        .collect()
}

type RawItem<'a> = Result<
    (
        redb::AccessGuard<'a, &'static [u8]>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;

fn scan_table<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
    order: Order,
    limit: usize,
    mut skip: impl FnMut(&[u8]) -> bool,
) -> Result<Vec<RawPair>, StorageError> {
    let mut out = Vec::new();
    if limit == 0 || empty_range(lo, hi) {
        return Ok(out);
    }
    let iter = table.range::<&[u8]>((lo, hi)).map_err(StorageError::io)?;
    let mut push = |item: RawItem<'_>| -> Result<bool, StorageError> {
        let (k, v) = item.map_err(StorageError::io)?;
        if !skip(k.value()) {
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out.len() >= limit)
    };
    match order {
        Order::Asc => {
            for item in iter {
                if push(item)? {
                    break;
                }
            }
        }
        Order::Desc => {
            for item in iter.rev() {
                if push(item)? {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// redb panics on inverted ranges; treat them as empty instead.
pub(crate) fn empty_range(lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}

/// A consistent snapshot; never blocks and is never blocked by the writer (on PostgreSQL, a
/// read-only REPEATABLE READ transaction begun with its first read).
pub struct ReadTx {
    inner: Snapshot,
}

enum Snapshot {
    Redb(redb::ReadTransaction),
    Postgres(super::postgres::Snapshot),
}

impl ReadTx {
    pub(crate) fn new(txn: redb::ReadTransaction) -> Self {
        ReadTx {
            inner: Snapshot::Redb(txn),
        }
    }

    pub(crate) fn postgres(s: super::postgres::Snapshot) -> Self {
        ReadTx {
            inner: Snapshot::Postgres(s),
        }
    }
}

impl ReadTx {
    /// Every table name with rows, in order (dumps: backup, migrate-storage).
    pub(crate) fn table_names(&self) -> Result<Vec<String>, StorageError> {
        match &self.inner {
            Snapshot::Redb(txn) => list_tables(txn),
            Snapshot::Postgres(s) => s.table_names(),
        }
    }

    /// Rows across `names` (a dump's progress total).
    pub(crate) fn total_entries(&self, names: &[String]) -> Result<u64, StorageError> {
        use redb::ReadableTableMetadata;
        match &self.inner {
            Snapshot::Redb(txn) => {
                let mut total = 0;
                for n in names {
                    let t = txn
                        .open_table(TableDefinition::<&[u8], &[u8]>::new(n))
                        .map_err(StorageError::io)?;
                    total += t.len().map_err(StorageError::io)?;
                }
                Ok(total)
            }
            Snapshot::Postgres(s) => s.count_all(),
        }
    }

    /// Up to `limit` raw rows of the table named `table` after the key `after` (dumps page
    /// through tables whose names are only known at run time).
    pub(crate) fn dump_page(
        &self,
        table: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<RawPair>, StorageError> {
        let lo = after.map_or(Bound::Unbounded, Bound::Excluded);
        match &self.inner {
            Snapshot::Redb(txn) => {
                let t = match txn.open_table(TableDefinition::<&[u8], &[u8]>::new(table)) {
                    Ok(t) => t,
                    Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                    Err(e) => return Err(StorageError::io(e)),
                };
                scan_table(&t, lo, Bound::Unbounded, Order::Asc, limit, |_| false)
            }
            Snapshot::Postgres(s) => s.scan(table, lo, Bound::Unbounded, Order::Asc, limit),
        }
    }
}

impl Reader for ReadTx {
    fn get_raw(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = match &self.inner {
            Snapshot::Redb(txn) => txn,
            Snapshot::Postgres(s) => return s.get(table, key),
        };
        let t = match txn.open_table(def(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(StorageError::io(e)),
        };
        Ok(t.get(key)
            .map_err(StorageError::io)?
            .map(|g| g.value().to_vec()))
    }

    fn scan_raw(
        &self,
        table: &'static str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<RawPair>, StorageError> {
        let txn = match &self.inner {
            Snapshot::Redb(txn) => txn,
            Snapshot::Postgres(s) => return s.scan(table, lo, hi, order, limit),
        };
        let t = match txn.open_table(def(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(StorageError::io(e)),
        };
        scan_table(&t, lo, hi, order, limit, |_| false)
    }
}

/// Writes not yet in the engine, by table, then key (`None`: deleted).
pub(crate) type Overlay = BTreeMap<&'static str, BTreeMap<Vec<u8>, Option<Vec<u8>>>>;

type RawTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;

/// The tables of one write transaction, each opened once for the whole batch: opening a redb
/// table (and flushing its root when it closes) costs more than a point read, and a batch
/// touches the same few tables hundreds of times.
pub(crate) struct OpenTables<'t> {
    txn: &'t redb::WriteTransaction,
    open: std::cell::RefCell<std::collections::HashMap<&'static str, RawTable<'t>>>,
}

impl<'t> OpenTables<'t> {
    pub(crate) fn new(txn: &'t redb::WriteTransaction) -> Self {
        OpenTables {
            txn,
            open: std::cell::RefCell::new(std::collections::HashMap::new()),
        }
    }

    /// Runs `f` on the open table `name`, opening (or creating) it on first use.
    fn with<R>(
        &self,
        name: &'static str,
        f: impl FnOnce(&mut RawTable<'t>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut open = self.open.borrow_mut();
        let t = match open.entry(name) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(self.txn.open_table(def(name)).map_err(StorageError::io)?)
            }
        };
        f(t)
    }
}

/// What a [`WriteTx`] needs from the batch's open tables (a trait object, so a request's
/// borrow can be shorter than the transaction's life).
pub(crate) trait TableAccess {
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    fn scan(
        &self,
        table: &'static str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        order: Order,
        limit: usize,
        skip: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Vec<RawPair>, StorageError>;
    fn apply(
        &self,
        table: &'static str,
        entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<(), StorageError>;
}

impl TableAccess for OpenTables<'_> {
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.with(table, |t| {
            Ok(t.get(key)
                .map_err(StorageError::io)?
                .map(|g| g.value().to_vec()))
        })
    }

    fn scan(
        &self,
        table: &'static str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        order: Order,
        limit: usize,
        skip: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Vec<RawPair>, StorageError> {
        self.with(table, |t| scan_table(t, lo, hi, order, limit, skip))
    }

    fn apply(
        &self,
        table: &'static str,
        entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        self.with(table, |t| {
            for (k, v) in entries {
                match v {
                    Some(v) => {
                        t.insert(k.as_slice(), v.as_slice())
                            .map_err(StorageError::io)?;
                    }
                    None => {
                        t.remove(k.as_slice()).map_err(StorageError::io)?;
                    }
                }
            }
            Ok(())
        })
    }
}

/// One write request's view of the shared write transaction. Reads see the committed state,
/// earlier requests of the same batch, and this request's own writes; writes stay in an
/// overlay that is applied only if the request returns `Ok`.
pub struct WriteTx<'a> {
    tables: &'a (dyn TableAccess + 'a),
    overlay: Overlay,
    now: Timestamp,
}

impl<'a> WriteTx<'a> {
    pub(crate) fn new(tables: &'a (dyn TableAccess + 'a), now: Timestamp) -> Self {
        WriteTx {
            tables,
            overlay: BTreeMap::new(),
            now,
        }
    }

    /// The time this request runs at, from the store's clock; domain code uses it instead of
    /// reading the system clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub fn insert<K: Key, V: Value>(
        &mut self,
        t: &Table<K, V>,
        key: &K,
        value: &V,
    ) -> Result<(), StorageError> {
        let bytes = value.encode_value().map_err(|source| StorageError::Codec {
            table: t.name(),
            source,
        })?;
        self.overlay
            .entry(t.name())
            .or_default()
            .insert(key.to_key_bytes(), Some(bytes));
        Ok(())
    }

    /// Deletes `key` if present.
    pub fn remove<K: Key, V: Value>(
        &mut self,
        t: &Table<K, V>,
        key: &K,
    ) -> Result<(), StorageError> {
        self.overlay
            .entry(t.name())
            .or_default()
            .insert(key.to_key_bytes(), None);
        Ok(())
    }

    /// Calls `f` with every row of `t` in key order, `batch` rows at a time, for migrations
    /// that rewrite or index a whole table (`f` may write, including to `t`).
    pub fn for_each_batch<K: Key + Clone, V: Value>(
        &mut self,
        t: &Table<K, V>,
        batch: usize,
        mut f: impl FnMut(&mut Self, Vec<(K, V)>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut after: Option<K> = None;
        loop {
            let rows = self.prefix(t, &(), after.as_ref(), Order::Asc, batch.max(1))?;
            let Some((last, _)) = rows.last() else {
                return Ok(());
            };
            after = Some(last.clone());
            f(self, rows)?;
        }
    }

    /// Names of tables this request wrote to.
    pub(crate) fn touched(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.overlay.keys().copied()
    }

    /// Moves the overlay into the shared transaction.
    pub(crate) fn apply(&mut self) -> Result<(), StorageError> {
        for (name, entries) in std::mem::take(&mut self.overlay) {
            self.tables.apply(name, entries)?;
        }
        Ok(())
    }
}

impl Reader for WriteTx<'_> {
    fn get_raw(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = self.overlay.get(table).and_then(|m| m.get(key)) {
            return Ok(v.clone());
        }
        self.tables.get(table, key)
    }

    fn scan_raw(
        &self,
        table: &'static str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<RawPair>, StorageError> {
        let Some(ov) = self.overlay.get(table) else {
            return self
                .tables
                .scan(table, lo, hi, order, limit, &mut |_| false);
        };
        if empty_range(lo, hi) {
            return Ok(Vec::new());
        }
        let ov_keys: HashSet<&[u8]> = ov
            .range::<[u8], _>((lo, hi))
            .map(|(k, _)| k.as_slice())
            .collect();
        // Committed entries not shadowed by the overlay: at most `limit` are needed.
        let base = self
            .tables
            .scan(table, lo, hi, order, limit, &mut |k| ov_keys.contains(k))?;
        let mut ov_items: Vec<RawPair> = ov
            .range::<[u8], _>((lo, hi))
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect();
        if order == Order::Desc {
            ov_items.reverse();
        }
        Ok(merge_sorted(base, ov_items, order, limit))
    }
}

/// The first `limit` pairs of two key-disjoint lists already sorted in `order`.
pub(crate) fn merge_sorted(
    base: Vec<RawPair>,
    over: Vec<RawPair>,
    order: Order,
    limit: usize,
) -> Vec<RawPair> {
    let mut out = Vec::with_capacity(limit.min(base.len() + over.len()));
    let (mut a, mut b) = (base.into_iter().peekable(), over.into_iter().peekable());
    while out.len() < limit {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => match order {
                Order::Asc => x.0 < y.0,
                Order::Desc => x.0 > y.0,
            },
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_a { a.next() } else { b.next() };
        if let Some(item) = next {
            out.push(item);
        }
    }
    out
}

/// Helper for offline tools: every (table name, key, value) in the snapshot, table by table.
pub(crate) fn list_tables(txn: &redb::ReadTransaction) -> Result<Vec<String>, StorageError> {
    use redb::TableHandle;
    Ok(txn
        .list_tables()
        .map_err(StorageError::io)?
        .map(|h| h.name().to_owned())
        .collect())
}
