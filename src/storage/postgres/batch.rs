//! One write batch on PostgreSQL: reads go to the writer's connection (inside the batch's
//! transaction, under the cluster's write lock) through the batch's own writes; writes stay in
//! memory until the batch commits, then go out as one upsert and one delete per table.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use deadpool_postgres::ClientWrapper;

use super::snapshot::ScanQuery;
use super::{Pg, sql};
use crate::storage::Order;
use crate::storage::StorageError;
use crate::storage::tx::{Overlay, RawPair, TableAccess, merge_sorted};

/// Rows per upsert or delete statement.
const CHUNK: usize = 5_000;
/// Extra rows fetched when a scan may have to skip keys the batch shadows.
const SLACK: usize = 16;

/// The batch's tables: the database as of the write lock, plus the batch's writes so far.
pub(crate) struct PgTables<'a> {
    pg: &'a Pg,
    conn: Arc<ClientWrapper>,
    written: RefCell<Overlay>,
    /// The first failed statement: the transaction is aborted, the batch cannot commit.
    failure: RefCell<Option<StorageError>>,
}

impl<'a> PgTables<'a> {
    pub(crate) fn new(pg: &'a Pg, conn: Arc<ClientWrapper>) -> Self {
        PgTables {
            pg,
            conn,
            written: RefCell::new(BTreeMap::new()),
            failure: RefCell::new(None),
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
            let rows = self.note(self.pg.bridge.run(async move { q.run(&conn).await }))?;
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

    /// Sends the batch's writes; the caller commits.
    pub(crate) fn flush(&self) -> Result<(), StorageError> {
        let written = std::mem::take(&mut *self.written.borrow_mut());
        for (table, rows) in written {
            let (mut keys, mut values, mut gone) = (Vec::new(), Vec::new(), Vec::new());
            for (k, v) in rows {
                match v {
                    Some(v) => {
                        keys.push(k);
                        values.push(v);
                    }
                    None => gone.push(k),
                }
            }
            while !keys.is_empty() {
                let n = keys.len().min(CHUNK);
                let (k, v): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
                    (keys.drain(..n).collect(), values.drain(..n).collect());
                let conn = self.conn.clone();
                self.note(self.pg.bridge.run(async move {
                    let st = conn.prepare_cached(sql::UPSERT).await?;
                    conn.execute(&st, &[&table, &k, &v]).await
                }))?;
            }
            while !gone.is_empty() {
                let n = gone.len().min(CHUNK);
                let k: Vec<Vec<u8>> = gone.drain(..n).collect();
                let conn = self.conn.clone();
                self.note(self.pg.bridge.run(async move {
                    let st = conn.prepare_cached(sql::DELETE).await?;
                    conn.execute(&st, &[&table, &k]).await
                }))?;
            }
        }
        Ok(())
    }

    /// Flushes, tells other nodes which tables changed, and commits: durable when this returns
    /// `Ok` (PostgreSQL's `synchronous_commit`).
    pub(crate) fn commit(&self, touched: &HashSet<&'static str>) -> Result<(), StorageError> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        self.flush()?;
        let mut names: Vec<&str> = touched.iter().copied().collect();
        names.sort_unstable();
        // NOTIFY payloads stop at 8,000 bytes; the runner's poll covers anything cut.
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
        let conn = self.conn.clone();
        self.note(self.pg.bridge.run(async move {
            conn.execute("SELECT pg_notify($1, $2)", &[&sql::CHANNEL, &payload])
                .await?;
            // COMMIT of a transaction that failed earlier answers ROLLBACK without an error:
            // the failure above is checked first, and the tag here.
            let msgs = conn.simple_query("COMMIT").await?;
            Ok(msgs
                .iter()
                .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::CommandComplete(_))))
        }))
        .and_then(|done| {
            if done {
                Ok(())
            } else {
                Err(StorageError::Database(
                    "the commit was not acknowledged".into(),
                ))
            }
        })
    }

    /// Ends the transaction without keeping anything.
    pub(crate) fn rollback(&self) -> Result<(), StorageError> {
        let conn = self.conn.clone();
        self.note(
            self.pg
                .bridge
                .run(async move { conn.batch_execute("ROLLBACK").await }),
        )
    }
}

impl TableAccess for PgTables<'_> {
    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = self.written.borrow().get(table).and_then(|t| t.get(key)) {
            return Ok(v.clone());
        }
        let conn = self.conn.clone();
        let key = key.to_vec();
        self.note(self.pg.bridge.run(async move {
            let st = conn.prepare_cached(sql::GET).await?;
            let row = conn.query_opt(&st, &[&table, &key]).await?;
            row.map(|r| r.try_get::<_, Vec<u8>>(0)).transpose()
        }))
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
