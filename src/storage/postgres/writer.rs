//! Group commit on PostgreSQL: the node's writer thread folds queued requests into one
//! transaction under the cluster's write lock, as the embedded writer folds them into one redb
//! commit, and answers each caller only after PostgreSQL acknowledged the COMMIT. A lost
//! connection fails the batch (503, nothing saved) and the next batch reconnects; unlike a disk
//! failure it does not stop the store.

use std::sync::Arc;

use deadpool_postgres::ClientWrapper;
use tokio::sync::mpsc;

use super::{Driver, Pg, PgTables, sql};
use crate::storage::StorageError;
use crate::storage::WriteTx;
use crate::storage::writer::{Common, FailOnPanic, Msg, collect, finish, next_write, reject};

/// The writer thread's loop. Its connection is driven by a runtime of the thread's own, so
/// the many small statements of a batch (each read a request makes) cost a round trip each and
/// no hand-off to another thread.
pub(crate) fn run(pg: Arc<Pg>, common: Common, mut rx: mpsc::Receiver<Msg>) {
    let _guard = FailOnPanic(common.failed.clone());
    let local = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let driver = match &local {
        Ok(rt) => Driver::Local(rt),
        Err(e) => {
            tracing::warn!(error = %e, "storage: the writer runs its statements on the shared bridge");
            Driver::Bridge(&pg.bridge)
        }
    };
    let mut conn: Option<Arc<ClientWrapper>> = None;
    let mut commits: u64 = 0;
    while let Some(first) = next_write(&common, &mut rx) {
        let c = match begin(&pg, driver, &mut conn) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "storage: cannot begin a write transaction");
                reject(first, e);
                continue;
            }
        };
        let tables = PgTables::new(&pg, driver, c);
        let mut batch = collect(&common, first, &mut rx, &tables);
        let result = match batch.err.take().or_else(|| tables.failure()) {
            Some(e) => {
                let _ = tables.rollback();
                Err(e)
            }
            None if batch.touched.is_empty() => tables.rollback(),
            None => tables.commit(&batch.touched).inspect_err(|_| {
                // A statement that failed before the COMMIT left the transaction open, and
                // the cluster's write lock with it.
                let _ = tables.rollback();
            }),
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, batch = batch.responders.len(), "storage: a write batch failed; nothing of it was saved");
            // The connection's state is unknown (a failed COMMIT may have left it anywhere):
            // close it now, so the server ends whatever it still holds.
            drop(tables);
            close(driver, conn.take());
        } else {
            commits += 1;
        }
        finish(&common, batch, result, commits);
    }
}

/// Closes a connection at once. Dropping it aborts its driving task, and on the writer's own
/// runtime an aborted task is only dropped (its socket closed) when that runtime next runs.
fn close(driver: Driver<'_>, conn: Option<Arc<ClientWrapper>>) {
    drop(conn);
    if let Driver::Local(rt) = driver {
        rt.block_on(tokio::task::yield_now());
    }
}

/// Begins a batch on the writer's connection. A connection that died while idle (the server
/// restarted, a proxy dropped it) is only noticed here: then one new connection is tried
/// before the batch fails, as nothing has been sent on it yet.
fn begin(
    pg: &Pg,
    driver: Driver<'_>,
    conn: &mut Option<Arc<ClientWrapper>>,
) -> Result<Arc<ClientWrapper>, StorageError> {
    let mut last = None;
    for _ in 0..2 {
        let reused = conn.as_ref().is_some_and(|c| !c.is_closed());
        let c = match conn.as_ref().filter(|c| !c.is_closed()) {
            Some(c) => c.clone(),
            None => {
                let c = match driver {
                    Driver::Local(rt) => pg.client_on(rt)?,
                    Driver::Bridge(_) => pg.client()?,
                };
                *conn = Some(c.clone());
                c
            }
        };
        let c2 = c.clone();
        match driver.run(async move { c2.batch_execute(&sql::begin_write()).await })? {
            Ok(()) => return Ok(c),
            Err(e) => {
                drop(c);
                close(driver, conn.take());
                // A refusal by the server (the lock wait timed out) is not retried.
                let lost = e.as_db_error().is_none();
                last = Some(pg.failed(e));
                if !(reused && lost) {
                    break;
                }
            }
        }
    }
    Err(last.unwrap_or(StorageError::WriterStopped))
}

/// Runs `f` alone in one transaction under the write lock (migrations at start-up, before the
/// writer thread exists).
pub(crate) fn commit_direct(
    pg: &Pg,
    now: crate::core::Timestamp,
    f: impl FnOnce(&mut WriteTx<'_>) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut conn = None;
    let driver = Driver::Bridge(&pg.bridge);
    let c = begin(pg, driver, &mut conn)?;
    let tables = PgTables::new(pg, driver, c);
    let applied = (|| {
        let mut w = WriteTx::new(&tables, now);
        f(&mut w)?;
        let touched: std::collections::HashSet<&'static str> = w.touched().collect();
        w.apply()?;
        Ok(touched)
    })();
    match applied {
        Ok(touched) => tables.commit(&touched).inspect_err(|_| {
            let _ = tables.rollback();
        }),
        Err(e) => {
            let _ = tables.rollback();
            Err(e)
        }
    }
}
