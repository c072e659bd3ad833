//! The PostgreSQL backend: the same typed tables, ordered keys, scans and migrations as the
//! embedded store, over one keyed table (see `sql.rs`), so several shopd nodes can share one
//! database. Reads are REPEATABLE READ snapshots from a pool; writes keep group commit: each
//! node's writer folds queued requests into one transaction that first takes the cluster's
//! write lock, so the domain keeps the single-writer semantics it was written for (no
//! oversell, no double use) on every node. See DESIGN.md beside this file.

mod batch;
mod bridge;
mod listen;
pub(crate) mod load;
mod snapshot;
mod sql;
mod tls;
pub(crate) mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;

pub(crate) use batch::PgTables;
pub(crate) use bridge::{Bridge, Driver};
pub(crate) use listen::listen;
pub(crate) use snapshot::Snapshot;

use super::error::{OpenError, StorageError};

/// How to reach the database.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/db` or `host=… dbname=…` (never logged).
    pub url: String,
    /// Most pooled connections for reads (the writer and the listener have one each).
    pub pool_size: usize,
    /// Longest a statement may run (and a write may wait for the cluster's write lock).
    pub statement_timeout: Duration,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &"…")
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// An open PostgreSQL backend.
pub(crate) struct Pg {
    pub(crate) bridge: Bridge,
    pub(crate) pool: Pool,
    pub(crate) config: tokio_postgres::Config,
    /// TLS as the connection string asked (`tls.rs`), for every connection.
    pub(crate) tls: MakeRustlsConnect,
    reachable: AtomicBool,
}

impl Pg {
    /// Connects, creates the schema if missing, and checks the server answers.
    pub(crate) fn connect(opts: &PgOptions) -> Result<Arc<Pg>, OpenError> {
        let fail = |reason: String| OpenError::Database {
            path: "storage.postgres_url".into(),
            reason,
        };
        let (url, tls) = tls::split(&opts.url).map_err(&fail)?;
        let connector = tls.connector().map_err(&fail)?;
        let mut config = tokio_postgres::Config::from_str(&url)
            .map_err(|e| fail(format!("not a PostgreSQL connection string: {e}")))?;
        config.ssl_mode(tls.ssl_mode());
        let timeout_ms = opts.statement_timeout.as_millis();
        config
            .application_name("shopd")
            .connect_timeout(Duration::from_secs(5))
            .options(format!(
                "-c statement_timeout={timeout_ms} -c idle_in_transaction_session_timeout={}",
                timeout_ms.saturating_mul(4).max(60_000)
            ));
        let bridge = Bridge::new().map_err(|e| fail(e.to_string()))?;
        let manager = Manager::from_config(
            config.clone(),
            connector.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.statement_timeout))
            .create_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let pg = Arc::new(Pg {
            bridge,
            pool,
            config,
            tls: connector,
            reachable: AtomicBool::new(true),
        });
        pg.create_schema().map_err(|e| fail(e.to_string()))?;
        Ok(pg)
    }

    fn create_schema(&self) -> Result<(), StorageError> {
        let client = self.client()?;
        self.bridge
            .run(async move {
                client
                    .batch_execute(&format!(
                        "BEGIN; SELECT pg_advisory_xact_lock({}); {}; COMMIT",
                        sql::DDL_LOCK,
                        sql::CREATE
                    ))
                    .await
            })?
            .map_err(|e| self.failed(e))
    }

    /// A connection of its own (a migration's, a tool's), outside the pool, with its own
    /// statement cache, driven by the bridge.
    pub(crate) fn client(&self) -> Result<Arc<ClientWrapper>, StorageError> {
        let connect = connect(self.config.clone(), self.tls.clone());
        let client = self.bridge.run(connect)?;
        client.map(Arc::new).map_err(|e| self.failed(e))
    }

    /// A connection driven by `rt`, the calling thread's own runtime (the writer's).
    pub(crate) fn client_on(
        &self,
        rt: &tokio::runtime::Runtime,
    ) -> Result<Arc<ClientWrapper>, StorageError> {
        let client = rt.block_on(connect(self.config.clone(), self.tls.clone()));
        client.map(Arc::new).map_err(|e| self.failed(e))
    }

    /// A read snapshot (its connection is taken from the pool at its first read).
    pub(crate) fn snapshot(self: &Arc<Self>) -> Snapshot {
        Snapshot::new(self.clone())
    }

    /// Whether the last statement reached the database.
    pub(crate) fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// Maps a driver error, remembering whether the database was reachable.
    pub(crate) fn failed(&self, e: tokio_postgres::Error) -> StorageError {
        if e.is_closed() || e.as_db_error().is_none() {
            self.reachable.store(false, Ordering::Relaxed);
        }
        database_error(&e)
    }

    /// Notes that a statement got an answer.
    pub(crate) fn answered(&self) {
        self.reachable.store(true, Ordering::Relaxed);
    }

    /// Checks the database answers (readiness).
    pub(crate) fn ping(&self) -> bool {
        let pool = self.pool.clone();
        let ok = self
            .bridge
            .run(async move {
                let Ok(c) = pool.get().await else {
                    return false;
                };
                c.simple_query("SELECT 1").await.is_ok()
            })
            .unwrap_or(false);
        self.reachable.store(ok, Ordering::Relaxed);
        ok
    }

    /// The server's version and the TLS version of a pooled connection (`None`: not
    /// encrypted), for `check-config`.
    pub(crate) fn describe(&self) -> Result<(String, Option<String>), StorageError> {
        let pool = self.pool.clone();
        let row = self.bridge.run(async move {
            let c = pool
                .get()
                .await
                .map_err(|e| StorageError::Database(e.to_string()))?;
            c.query_one(
                "SELECT current_setting('server_version'), \
                 (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl)",
                &[],
            )
            .await
            .map_err(|e| database_error(&e))
        })??;
        Ok((row.get(0), row.get(1)))
    }
}

/// Opens a connection and spawns its driving task on the current runtime.
async fn connect(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<ClientWrapper, tokio_postgres::Error> {
    let (client, connection) = config.connect(tls).await?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "storage: a PostgreSQL connection closed");
        }
    });
    Ok(ClientWrapper::new(client, task))
}

/// A driver error as a storage error: the database could not be reached or refused the
/// statement, so nothing was saved (a commit whose answer was lost is reported the same way;
/// retrying with the same idempotency key never applies a change twice).
pub(crate) fn database_error(e: &tokio_postgres::Error) -> StorageError {
    let what = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            // The driver's message names the step ("error performing TLS handshake"); its
            // sources say why ("invalid peer certificate: UnknownIssuer").
            let mut what = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                what = format!("{what}: {c}");
                cause = c.source();
            }
            what
        }
    };
    StorageError::Database(what)
}
