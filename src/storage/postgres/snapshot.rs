//! Read snapshots on PostgreSQL: a pooled connection in a REPEATABLE READ, READ ONLY
//! transaction begun together with the first read (one round trip), so every read of one
//! `ReadTx` sees the same committed state, as a redb read transaction does.

use std::future::Future;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{ClientWrapper, Object};
use tokio_postgres::types::ToSql;

use super::{Pg, sql};
use crate::storage::Order;
use crate::storage::StorageError;
use crate::storage::tx::RawPair;

/// One snapshot; the connection goes back to the pool (after a ROLLBACK) when it is dropped.
pub(crate) struct Snapshot {
    pg: Arc<Pg>,
    conn: Mutex<Option<Arc<Object>>>,
}

type PgResult<T> = Result<T, tokio_postgres::Error>;

impl Snapshot {
    pub(super) fn new(pg: Arc<Pg>) -> Self {
        Snapshot {
            pg,
            conn: Mutex::new(None),
        }
    }

    /// Runs `f` on the snapshot's connection, beginning the transaction first if this is its
    /// first read.
    fn query<T, F, Fut>(&self, f: F) -> Result<T, StorageError>
    where
        F: FnOnce(Arc<Object>) -> Fut + Send + 'static,
        Fut: Future<Output = PgResult<T>> + Send,
        T: Send + 'static,
    {
        let mut slot = crate::core::sync::lock(&self.conn);
        let existing = slot.clone();
        let pool = self.pg.pool.clone();
        let (conn, out) = self.pg.bridge.run(async move {
            match existing {
                Some(c) => {
                    let out = f(c.clone()).await;
                    Ok((c, out))
                }
                None => {
                    let c = Arc::new(pool.get().await.map_err(pool_error)?);
                    // Sent back to back, so the BEGIN costs no round trip of its own.
                    let (began, out) = tokio::join!(c.batch_execute(sql::BEGIN_READ), f(c.clone()));
                    Ok((c, began.and(out)))
                }
            }
        })??;
        *slot = Some(conn);
        match out {
            Ok(v) => {
                self.pg.answered();
                Ok(v)
            }
            Err(e) => Err(self.pg.failed(e)),
        }
    }

    pub(crate) fn get(
        &self,
        table: &'static str,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_vec();
        self.query(move |c| async move {
            let st = c.prepare_cached(sql::GET).await?;
            let row = c.query_opt(&st, &[&table, &key]).await?;
            row.map(|r| r.try_get::<_, Vec<u8>>(0)).transpose()
        })
    }

    pub(crate) fn scan(
        &self,
        table: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<RawPair>, StorageError> {
        if limit == 0 || crate::storage::tx::empty_range(lo, hi) {
            return Ok(Vec::new());
        }
        let q = ScanQuery::new(table, lo, hi, order, limit);
        self.query(move |c| async move { q.run(&c).await })
    }
}

impl Snapshot {
    /// Every table name with rows, in order (for dumps).
    pub(crate) fn table_names(&self) -> Result<Vec<String>, StorageError> {
        self.query(|c| async move {
            let rows = c.query(sql::TABLES, &[]).await?;
            rows.iter().map(|r| r.try_get(0)).collect()
        })
    }

    /// Rows across all tables (a dump's progress total).
    pub(crate) fn count_all(&self) -> Result<u64, StorageError> {
        self.query(|c| async move {
            let row = c.query_one("SELECT count(*) FROM shopd_kv", &[]).await?;
            Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
        })
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let conn = crate::core::sync::lock(&self.conn).take();
        if let Some(c) = conn {
            self.pg.bridge.spawn(async move {
                // A connection that cannot roll back is not reused.
                if c.batch_execute("ROLLBACK").await.is_err()
                    && let Ok(obj) = Arc::try_unwrap(c)
                {
                    let _ = Object::take(obj);
                }
            });
        }
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StorageError {
    StorageError::Database(format!("no database connection: {e}"))
}

/// An owned scan request, so it can travel to the bridge.
pub(crate) struct ScanQuery {
    table: String,
    sql: String,
    lo: Option<Vec<u8>>,
    hi: Option<Vec<u8>>,
    limit: i64,
}

impl ScanQuery {
    pub(crate) fn new(
        table: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        order: Order,
        limit: usize,
    ) -> Self {
        let owned = |b: Bound<&[u8]>| match b {
            Bound::Included(k) | Bound::Excluded(k) => Some(k.to_vec()),
            Bound::Unbounded => None,
        };
        ScanQuery {
            table: table.to_owned(),
            sql: sql::scan(lo, hi, order),
            lo: owned(lo),
            hi: owned(hi),
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        }
    }

    pub(crate) async fn run(&self, c: &ClientWrapper) -> PgResult<Vec<RawPair>> {
        let st = c.prepare_cached(&self.sql).await?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.table];
        if let Some(lo) = &self.lo {
            params.push(lo);
        }
        if let Some(hi) = &self.hi {
            params.push(hi);
        }
        params.push(&self.limit);
        let rows = c.query(&st, &params).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
