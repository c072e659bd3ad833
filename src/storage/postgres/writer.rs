//! Group commit on PostgreSQL: the node's writer thread folds queued requests into one
//! transaction under the cluster's write lock, as the embedded writer folds them into one redb
//! commit, and answers each caller only after PostgreSQL acknowledged the COMMIT. A lost
//! connection fails the batch (503, nothing saved) and the next batch reconnects; unlike a disk
//! failure it does not stop the store.

use std::sync::Arc;

use deadpool_postgres::ClientWrapper;
use tokio::sync::mpsc;

use super::{Pg, PgTables, sql};
use crate::storage::StorageError;
use crate::storage::WriteTx;
use crate::storage::writer::{Common, FailOnPanic, Msg, collect, finish, next_write, reject};

/// The writer thread's loop.
pub(crate) fn run(pg: Arc<Pg>, common: Common, mut rx: mpsc::Receiver<Msg>) {
    let _guard = FailOnPanic(common.failed.clone());
    let mut conn: Option<Arc<ClientWrapper>> = None;
    let mut commits: u64 = 0;
    while let Some(first) = next_write(&common, &mut rx) {
        let c = match begin(&pg, &mut conn) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "storage: cannot begin a write transaction");
                reject(first, e);
                continue;
            }
        };
        let tables = PgTables::new(&pg, c.clone());
        let mut batch = collect(&common, first, &mut rx, &tables);
        let result = match batch.err.take().or_else(|| tables.failure()) {
            Some(e) => {
                let _ = tables.rollback();
                Err(e)
            }
            None if batch.touched.is_empty() => tables.rollback(),
            None => tables.commit(&batch.touched),
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, batch = batch.responders.len(), "storage: a write batch failed; nothing of it was saved");
            // The connection's state is unknown (a failed COMMIT may have left it anywhere).
            conn = None;
        } else {
            commits += 1;
        }
        finish(&common, batch, result, commits);
    }
}

/// Begins a batch on the writer's connection, reconnecting if it was lost.
fn begin(
    pg: &Pg,
    conn: &mut Option<Arc<ClientWrapper>>,
) -> Result<Arc<ClientWrapper>, StorageError> {
    let c = match conn.as_ref().filter(|c| !c.is_closed()) {
        Some(c) => c.clone(),
        None => {
            let c = pg.client()?;
            *conn = Some(c.clone());
            c
        }
    };
    let c2 = c.clone();
    let began = pg
        .bridge
        .run(async move { c2.batch_execute(&sql::begin_write()).await })?;
    match began {
        Ok(()) => Ok(c),
        Err(e) => {
            *conn = None;
            Err(pg.failed(e))
        }
    }
}

/// Runs `f` alone in one transaction under the write lock (migrations at start-up, before the
/// writer thread exists).
pub(crate) fn commit_direct(
    pg: &Pg,
    now: crate::core::Timestamp,
    f: impl FnOnce(&mut WriteTx<'_>) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut conn = None;
    let c = begin(pg, &mut conn)?;
    let tables = PgTables::new(pg, c);
    let applied = (|| {
        let mut w = WriteTx::new(&tables, now);
        f(&mut w)?;
        let touched: std::collections::HashSet<&'static str> = w.touched().collect();
        w.apply()?;
        Ok(touched)
    })();
    match applied {
        Ok(touched) => tables.commit(&touched),
        Err(e) => {
            let _ = tables.rollback();
            Err(e)
        }
    }
}
