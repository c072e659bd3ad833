//! One write batch on PostgreSQL: reads go to the writer's connection (inside the batch's
//! transaction, under the cluster's write lock) through the batch's own writes; writes stay in
//! memory until the batch commits, then go out as one upsert and one delete per table.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use deadpool_postgres::ClientWrapper;
use tokio_postgres::types::ToSql;

use super::snapshot::ScanQuery;
use super::{Driver, Pg, sql};
use crate::storage::Order;
use crate::storage::StorageError;
use crate::storage::tx::{Overlay, RawPair, TableAccess, merge_sorted};

/// A row's value as read, `None` when absent.
type Found = Option<Vec<u8>>;

/// Rows per write statement.
const CHUNK: usize = 5_000;
/// Extra rows fetched when a scan may have to skip keys the batch shadows.
const SLACK: usize = 16;
/// Most rows a batch remembers having read (a bulk import reads more; the rest are asked).
const READ_CACHE: usize = 10_000;

/// The batch's tables: the database as of the write lock, plus the batch's writes so far.
pub(crate) struct PgTables<'a> {
    pg: &'a Pg,
    driver: Driver<'a>,
    conn: Arc<ClientWrapper>,
    written: RefCell<Overlay>,
    /// The first failed statement: the transaction is aborted, the batch cannot commit.
    failure: RefCell<Option<StorageError>>,
    /// Rows already read from the database in this batch. Under the write lock nothing but
    /// this batch changes the database until it commits, and this batch's changes are in
    /// `written` until then, so an answer stays true for the whole batch: requests of one
    /// batch that read the same rows (the job queue's counters, a product's stock) ask once.
    read: RefCell<HashMap<(&'static str, Vec<u8>), Found>>,
}

impl<'a> PgTables<'a> {
    pub(crate) fn new(pg: &'a Pg, driver: Driver<'a>, conn: Arc<ClientWrapper>) -> Self {
        PgTables {
            pg,
            driver,
            conn,
            written: RefCell::new(BTreeMap::new()),
            failure: RefCell::new(None),
            read: RefCell::new(HashMap::new()),
        }
    }

    /// Why the batch cannot commit, if a statement failed.
    pub(crate) fn failure(&self) -> Option<StorageError> {
        self.failure.borrow().clone()
    }

    fn note<T>(
        &self,
        r: Result<Result<T, tokio_postgres::Error>, StorageError>,
    ) -> Result<T, StorageError> {
        let r = match r {
            Ok(Ok(v)) => {
                self.pg.answered();
                return Ok(v);
            }
            Ok(Err(e)) => self.pg.failed(e),
            Err(e) => e,
        };
        self.failure.borrow_mut().get_or_insert(r.clone());
        Err(r)
    }

    /// Committed rows between the bounds that `skip` keeps, at most `limit`, paging past
    /// skipped ones.
    fn base_scan(
        &self,
        table: &'static str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        order: Order,
        limit: usize,
        skip: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Vec<RawPair>, StorageError> {
        let mut out = Vec::new();
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let want = limit - out.len();
            // A few more than needed, so a handful of skipped keys costs no second page.
            let page = want.saturating_add(SLACK);
            let (l, h) = match (&cursor, order) {
                (None, _) => (lo, hi),
                (Some(c), Order::Asc) => (Bound::Excluded(c.as_slice()), hi),
                (Some(c), Order::Desc) => (lo, Bound::Excluded(c.as_slice())),
            };
            let q = ScanQuery::new(table, l, h, order, page);
            let conn = self.conn.clone();
            let rows = self.note(self.driver.run(async move { q.run(&conn).await }))?;
            let full = rows.len() == page;
            cursor = rows.last().map(|(k, _)| k.clone());
            for (k, v) in rows {
                if !skip(&k) {
                    out.push((k, v));
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            if !full {
                return Ok(out);
            }
        }
    }

    /// The batch's writes in chunks of at most [`CHUNK`] rows, every table together.
    fn chunks(&self) -> Vec<Chunk> {
        let written = std::mem::take(&mut *self.written.borrow_mut());
        let mut out: Vec<Chunk> = Vec::new();
        for (table, rows) in written {
            for (k, v) in rows {
                if out.last().is_none_or(|c| c.len() >= CHUNK) {
                    out.push(Chunk::default());
                }
                let Some(c) = out.last_mut() else { continue };
                match v {
                    Some(v) => {
                        c.upsert.0.push(table);
                        c.upsert.1.push(k);
                        c.upsert.2.push(v);
                    }
                    None => {
                        c.delete.0.push(table);
                        c.delete.1.push(k);
                    }
                }
            }
        }
        out
    }

    /// Sends the batch's writes, tells other nodes which tables changed, and commits: durable
    /// when this returns `Ok` (PostgreSQL's `synchronous_commit`). The writes (one statement
    /// for a batch of up to [`CHUNK`] rows) and the COMMIT go out together, pipelined: one
    /// round trip. If the write fails, the COMMIT behind it only ends the aborted
    /// transaction, and the failure is returned; on any failure the caller rolls back and
    /// drops the connection.
    pub(crate) fn commit(&self, touched: &HashSet<&'static str>) -> Result<(), StorageError> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let mut chunks = self.chunks();
        let last = chunks.pop().unwrap_or_default();
        let payload = notify_payload(touched);
        let conn = self.conn.clone();
        self.note(self.driver.run(async move {
            let write = conn.prepare_cached(sql::WRITE).await?;
            for c in &chunks {
                conn.execute(&write, &c.params(&payload)).await?;
            }
            let p = last.params(&payload);
            let mut written = std::pin::pin!(conn.execute(&write, &p));
            // The first poll encodes the statement and queues it on the connection. Only a
            // statement that went out may have the COMMIT queued behind it: one that could not
            // be encoded fails here, and nothing of the batch is committed (the caller rolls
            // back).
            if let std::task::Poll::Ready(done) = futures_util::poll!(written.as_mut()) {
                done?;
                return conn.batch_execute("COMMIT").await;
            }
            let (written, committed) =
                futures_util::future::join(written, conn.batch_execute("COMMIT")).await;
            written?;
            committed
        }))
    }

    /// Ends the transaction without keeping anything.
    pub(crate) fn rollback(&self) -> Result<(), StorageError> {
        let conn = self.conn.clone();
        self.note(
            self.driver
                .run(async move { conn.batch_execute("ROLLBACK").await }),
        )
    }
}

impl TableAccess for PgTables<'_> {
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = self.written.borrow().get(table).and_then(|t| t.get(key)) {
            return Ok(v.clone());
        }
        let cached = (table, key.to_vec());
        if let Some(v) = self.read.borrow().get(&cached) {
            return Ok(v.clone());
        }
        let conn = self.conn.clone();
        let k = key.to_vec();
        let v = self.note(self.driver.run(async move {
            let st = conn.prepare_cached(sql::GET).await?;
            let row = conn.query_opt(&st, &[&table, &k]).await?;
            row.map(|r| r.try_get::<_, Vec<u8>>(0)).transpose()
        }))?;
        let mut read = self.read.borrow_mut();
        if read.len() < READ_CACHE {
            read.insert(cached, v.clone());
        }
        Ok(v)
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
        if limit == 0 || crate::storage::tx::empty_range(lo, hi) {
            return Ok(Vec::new());
        }
        let written = self.written.borrow();
        let Some(ours) = written.get(table) else {
            drop(written);
            return self.base_scan(table, lo, hi, order, limit, skip);
        };
        let mut mine: Vec<RawPair> = Vec::new();
        for (k, v) in ours.range::<[u8], _>((lo, hi)) {
            if let Some(v) = v
                && !skip(k)
            {
                mine.push((k.clone(), v.clone()));
            }
        }
        if order == Order::Desc {
            mine.reverse();
        }
        let shadowed: HashSet<Vec<u8>> = ours
            .range::<[u8], _>((lo, hi))
            .map(|(k, _)| k.clone())
            .collect();
        drop(written);
        let base = self.base_scan(table, lo, hi, order, limit, &mut |k| {
            shadowed.contains(k) || skip(k)
        })?;
        Ok(merge_sorted(base, mine, order, limit))
    }

    fn apply(
        &self,
        table: &'static str,
        entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let mut written = self.written.borrow_mut();
        let t = written.entry(table).or_default();
        for (k, v) in entries {
            t.insert(k, v);
        }
        Ok(())
    }
}

/// Rows of a batch written by one statement: (table, key, value) to insert or replace, and
/// (table, key) to delete.
#[derive(Default)]
struct Chunk {
    upsert: (Vec<&'static str>, Vec<Vec<u8>>, Vec<Vec<u8>>),
    delete: (Vec<&'static str>, Vec<Vec<u8>>),
}

impl Chunk {
    fn len(&self) -> usize {
        self.upsert.0.len() + self.delete.0.len()
    }

    /// The parameters of [`sql::WRITE`].
    fn params<'a>(&'a self, payload: &'a String) -> [&'a (dyn ToSql + Sync); 7] {
        let (ut, uk, uv) = &self.upsert;
        let (dt, dk) = &self.delete;
        [ut, uk, uv, dt, dk, &sql::CHANNEL, payload]
    }
}

/// The tables a commit wrote, comma-separated, within NOTIFY's 8,000-byte payload limit (the
/// runner's poll covers any name cut).
fn notify_payload(touched: &HashSet<&'static str>) -> String {
    let mut names: Vec<&str> = touched.iter().copied().collect();
    names.sort_unstable();
    let mut payload = String::new();
    for n in names {
        if payload.len() + n.len() + 1 > 7_900 {
            break;
        }
        if !payload.is_empty() {
            payload.push(',');
        }
        payload.push_str(n);
    }
    payload
}
