//! Bulk loads into PostgreSQL for `restore` and `migrate-storage`: one transaction under the
//! cluster's write lock, rows sent 5,000 at a time, so the database holds either everything it
//! held before or everything loaded, never part of it.

use std::sync::Arc;

use deadpool_postgres::ClientWrapper;

use super::{Pg, sql};
use crate::storage::StorageError;

/// Rows per INSERT.
const CHUNK: usize = 5_000;

/// How a load treats rows already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Refuse unless the database holds no shopd rows (migrate-storage).
    MustBeEmpty,
    /// Keep them in a renamed table, `shopd_kv_before_restore_<unix seconds>` (restore).
    KeepAside(i64),
}

/// An open load; rows go in with [`Loader::row`], and nothing is visible before
/// [`Loader::commit`].
pub(crate) struct Loader {
    pg: Arc<Pg>,
    conn: Arc<ClientWrapper>,
    table: String,
    keys: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
}

impl Loader {
    /// Begins the load; refuses while other shopd processes are connected to the database.
    pub(crate) fn begin(pg: Arc<Pg>, existing: Existing) -> Result<Loader, StorageError> {
        let conn = pg.client()?;
        let c = conn.clone();
        let setup = async move {
            c.batch_execute(&sql::begin_write()).await?;
            let others: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'shopd' \
                     AND datname = current_database() AND pid <> pg_backend_pid()",
                    &[],
                )
                .await?
                .try_get(0)?;
            let rows: i64 = c
                .query_one(
                    "SELECT count(*) FROM (SELECT 1 FROM shopd_kv LIMIT 1) AS any_row",
                    &[],
                )
                .await?
                .try_get(0)?;
            if let Existing::KeepAside(stamp) = existing
                && rows > 0
            {
                c.batch_execute(&format!(
                    "ALTER TABLE shopd_kv RENAME TO shopd_kv_before_restore_{stamp}; \
                     ALTER INDEX shopd_kv_pkey RENAME TO shopd_kv_before_restore_{stamp}_pkey; {}",
                    sql::CREATE
                ))
                .await?;
            }
            Ok::<_, tokio_postgres::Error>((others, rows))
        };
        let (others, rows) = pg.bridge.run(setup)?.map_err(|e| pg.failed(e))?;
        let refuse = |why: String| {
            let c = conn.clone();
            let _ = pg
                .bridge
                .run(async move { c.batch_execute("ROLLBACK").await });
            Err(StorageError::Database(why))
        };
        if others > 0 {
            return refuse(format!(
                "{others} other shopd connection(s) are open on this database: stop every node first"
            ));
        }
        if existing == Existing::MustBeEmpty && rows > 0 {
            return refuse("the target database already holds shopd data".into());
        }
        Ok(Loader {
            pg,
            conn,
            table: String::new(),
            keys: Vec::new(),
            values: Vec::new(),
        })
    }

    /// Rows that follow belong to `table`.
    pub(crate) fn table(&mut self, table: &str) -> Result<(), StorageError> {
        self.flush()?;
        self.table = table.to_owned();
        Ok(())
    }

    /// One row of the current table.
    pub(crate) fn row(&mut self, k: Vec<u8>, v: Vec<u8>) -> Result<(), StorageError> {
        self.keys.push(k);
        self.values.push(v);
        if self.keys.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        if self.keys.is_empty() {
            return Ok(());
        }
        let (k, v) = (
            std::mem::take(&mut self.keys),
            std::mem::take(&mut self.values),
        );
        let (c, t) = (self.conn.clone(), self.table.clone());
        self.pg
            .bridge
            .run(async move {
                let st = c.prepare_cached(sql::UPSERT).await?;
                c.execute(&st, &[&t, &k, &v]).await
            })?
            .map(|_| ())
            .map_err(|e| self.pg.failed(e))
    }

    /// Makes the load visible (durable when this returns).
    pub(crate) fn commit(mut self) -> Result<(), StorageError> {
        self.flush()?;
        let c = self.conn.clone();
        self.pg
            .bridge
            .run(async move { c.batch_execute("COMMIT").await })?
            .map_err(|e| self.pg.failed(e))
    }
}

impl Drop for Loader {
    /// An unfinished load leaves nothing: the connection's transaction is rolled back.
    fn drop(&mut self) {
        let c = self.conn.clone();
        self.pg.bridge.spawn(async move {
            let _ = c.batch_execute("ROLLBACK").await;
        });
    }
}
