//! The store: typed tables over shopd's own transaction types, group commit, schema
//! versioning and migrations, on one of two backends: the embedded redb file (the default) or
//! PostgreSQL (several nodes sharing one database). The only module that sees either engine.

pub mod backup;
pub mod codec;
pub mod error;
pub mod fault;
pub mod lock;
pub mod postgres;
pub mod schema;
pub mod shared;
pub mod table;
pub mod tx;
pub mod writer;

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::ReadableDatabase;
use tokio::sync::{mpsc, oneshot, watch};

pub use codec::{CodecError, Key, Value, unknown_version, upgrade_from};
pub use error::{OpenError, StorageError};
pub use fault::FaultSwitch;
pub use lock::{DataDirLock, LOCK_FILE};
pub use postgres::PgOptions;
pub use schema::{Migration, Schema};
pub use table::Table;
pub use tx::{Order, ReadTx, Reader, WriteTx};
pub use writer::{GroupCommit, StorageObserver};

use crate::core::Clock;
use schema::{META, SCHEMA_VERSION_KEY};
use writer::{Msg, Outcome, WriteRequest};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "shopd.redb";

/// Everything needed to open a data directory.
pub struct StoreOptions {
    /// Directory holding the database and lock file (created if missing).
    pub data_dir: PathBuf,
    /// Source of `WriteTx::now`.
    pub clock: Arc<dyn Clock>,
    /// Schema this build writes and its migrations.
    pub schema: Schema,
    /// Group commit limits.
    pub group_commit: GroupCommit,
    /// Test hook: run over a backend that fails on command.
    pub fault: Option<FaultSwitch>,
    /// Receives commit figures.
    pub observer: Option<Arc<dyn StorageObserver>>,
    /// Page cache of the database file in MiB (redb's own default is 1 GiB, too much for a
    /// small VPS).
    pub cache_mib: usize,
    /// Where the tables live.
    pub backend: Backend,
}

/// Which engine holds the tables.
#[derive(Clone, Debug, Default)]
pub enum Backend {
    /// One redb file in the data directory.
    #[default]
    Embedded,
    /// A PostgreSQL database, possibly shared by several nodes (each with its own data dir for
    /// the search index and the theme).
    Postgres(PgOptions),
}

impl StoreOptions {
    /// Options with the defaults (standard batching and cache, no fault hook, no observer),
    /// for tools and tests that only choose where, which clock and which schema.
    pub fn new(data_dir: impl Into<PathBuf>, clock: Arc<dyn Clock>, schema: Schema) -> Self {
        StoreOptions {
            data_dir: data_dir.into(),
            clock,
            schema,
            group_commit: GroupCommit::default(),
            fault: None,
            observer: None,
            cache_mib: DEFAULT_CACHE_MIB,
            backend: Backend::Embedded,
        }
    }
}

/// The schema of a store without migrations (tests, tools, benchmarks of the store alone).
pub const SCHEMA_V1: Schema = Schema {
    version: 1,
    migrations: &[],
};

/// Default page cache, chosen from the `cache_mib` curve (issue 11): at 64 MiB the checkout
/// bench keeps its rate (4,100/s against 4,176/s at 256 MiB) and ends at 153 MiB RSS instead of
/// 382 MiB, so shopd fits a 512 MB VPS; product-by-slug reads on a 100,000-product catalog drop
/// about a quarter (14.6k/s against 19.3k/s), which a merchant with RAM to spare buys back with
/// a larger `storage.cache_mib`.
pub const DEFAULT_CACHE_MIB: usize = 64;

/// The open engine.
enum Engine {
    Redb(Arc<redb::Database>),
    Postgres(Arc<postgres::Pg>),
}

struct Inner {
    engine: Engine,
    sender: mpsc::Sender<Msg>,
    failed: Arc<AtomicBool>,
    watchers: Arc<Mutex<HashMap<&'static str, watch::Sender<u64>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    _lock: DataDirLock,
}

impl Drop for Inner {
    /// The last handle going away stops the writer and closes the file, so the data dir can be
    /// reopened at once (tests and offline commands rely on this).
    fn drop(&mut self) {
        let handle = crate::core::sync::lock(&self.writer).take();
        let Some(h) = handle else { return };
        // Dropped from inside a write closure: the writer exits by itself once this returns.
        if h.thread().id() == std::thread::current().id() {
            return;
        }
        // The queue may be full: wait (bounded) for room rather than skip the join.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match self.sender.try_send(Msg::Shutdown) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Closed(_)) => break,
                Err(mpsc::error::TrySendError::Full(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(mpsc::error::TrySendError::Full(_)) => return,
            }
        }
        let _ = h.join();
    }
}

/// Handle to the open store; cheap to clone and shared by every module.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.inner.data_dir)
            .finish()
    }
}

struct Req<F, T, E> {
    f: F,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> WriteRequest for Req<F, T, E>
where
    F: FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StorageError> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &mut WriteTx<'_>) -> Outcome {
        let Req { f, reply } = *self;
        match catch_unwind(AssertUnwindSafe(|| f(tx))) {
            Ok(Ok(v)) => Outcome {
                apply: true,
                respond: Box::new(move |commit| {
                    let _ = reply.send(commit.map(|()| v).map_err(E::from));
                }),
            },
            Ok(Err(e)) => Outcome {
                apply: false,
                respond: Box::new(move |_| {
                    let _ = reply.send(Err(e));
                }),
            },
            Err(_) => Outcome {
                apply: false,
                respond: Box::new(move |_| {
                    let _ = reply.send(Err(E::from(StorageError::Panicked)));
                }),
            },
        }
    }

    fn reject(self: Box<Self>, err: StorageError) {
        let _ = self.reply.send(Err(E::from(err)));
    }
}

impl Store {
    /// Locks the data dir, opens (or creates) the database, migrates it to `schema.version`
    /// and starts the writer thread.
    pub fn open(opts: StoreOptions) -> Result<Store, OpenError> {
        let dir = opts.data_dir.clone();
        let lock = DataDirLock::acquire(&dir)?;
        let engine = open_engine(&opts)?;
        migrate(&engine, &dir, opts.schema, opts.clock.as_ref())?;

        let (sender, rx) = mpsc::channel(4096);
        let failed = Arc::new(AtomicBool::new(false));
        let watchers = Arc::new(Mutex::new(HashMap::new()));
        let common = writer::Common {
            clock: opts.clock.clone(),
            failed: failed.clone(),
            watchers: watchers.clone(),
            observer: opts.observer.clone(),
            limits: opts.group_commit,
        };
        let spawned = match &engine {
            Engine::Redb(db) => {
                let ctx = writer::WriterCtx {
                    db: db.clone(),
                    common,
                };
                std::thread::Builder::new()
                    .name("shopd-writer".into())
                    .spawn(move || writer::run(ctx, rx))
            }
            Engine::Postgres(pg) => {
                postgres::listen(pg, watchers.clone());
                let pg = pg.clone();
                std::thread::Builder::new()
                    .name("shopd-writer".into())
                    .spawn(move || postgres::writer::run(pg, common, rx))
            }
        };
        let handle = spawned.map_err(|source| OpenError::Io {
            dir: dir.display().to_string(),
            source,
        })?;
        Ok(Store {
            inner: Arc::new(Inner {
                engine,
                sender,
                failed,
                watchers,
                writer: Mutex::new(Some(handle)),
                data_dir: dir,
                clock: opts.clock.clone(),
                _lock: lock,
            }),
        })
    }

    /// A consistent snapshot of committed data; never waits for the writer.
    pub fn read(&self) -> Result<ReadTx, StorageError> {
        engine_read(&self.inner.engine)
    }

    /// Runs `f` inside the next group commit. `f`'s writes become durable together with the
    /// rest of the batch, and the result is returned only after the fsync. If `f` returns an
    /// error (or panics) its writes are discarded and the rest of the batch is unaffected.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        if self.inner.failed.load(Ordering::SeqCst) {
            return Err(E::from(StorageError::Unavailable));
        }
        let (reply, rx) = oneshot::channel();
        let req: writer::Request = Box::new(Req { f, reply });
        if self.inner.sender.send(Msg::Write(req)).await.is_err() {
            return Err(E::from(StorageError::WriterStopped));
        }
        rx.await
            .unwrap_or_else(|_| Err(E::from(StorageError::WriterStopped)))
    }

    /// [`Store::write`] for synchronous callers (offline CLI commands), never inside async code.
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let req: writer::Request = Box::new(Req { f, reply });
        if self.inner.sender.blocking_send(Msg::Write(req)).is_err() {
            return Err(E::from(StorageError::WriterStopped));
        }
        rx.blocking_recv()
            .unwrap_or_else(|_| Err(E::from(StorageError::WriterStopped)))
    }

    /// The store's time (what `WriteTx::now` would say), for reads that check expiry.
    pub fn now(&self) -> crate::core::Timestamp {
        self.inner.clock.now()
    }

    /// Whether writes are still possible (false after an I/O failure until restart, and on
    /// PostgreSQL while the database does not answer).
    pub fn is_healthy(&self) -> bool {
        if self.inner.failed.load(Ordering::SeqCst) {
            return false;
        }
        match &self.inner.engine {
            Engine::Redb(_) => true,
            Engine::Postgres(pg) => pg.is_reachable(),
        }
    }

    /// Asks the database whether it answers (readiness probes); the embedded store always does
    /// unless it failed. Blocks for at most the statement timeout: call it off the async
    /// threads.
    pub fn check_reachable(&self) -> bool {
        match &self.inner.engine {
            Engine::Redb(_) => self.is_healthy(),
            Engine::Postgres(pg) => pg.ping() && self.is_healthy(),
        }
    }

    /// Which backend holds the tables (`"embedded"` or `"postgres"`), for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match &self.inner.engine {
            Engine::Redb(_) => "embedded",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// A receiver that changes whenever a commit wrote to `table` (used to wake job workers).
    pub fn watch(&self, table: &'static str) -> watch::Receiver<u64> {
        let mut w = crate::core::sync::lock(&self.inner.watchers);
        w.entry(table)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Where the data lives.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Lets queued writes commit, then stops the writer. Later writes fail with `WriterStopped`.
    pub async fn shutdown(&self) {
        let _ = self.inner.sender.send(Msg::Shutdown).await;
        let handle = crate::core::sync::lock(&self.inner.writer).take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Waits (bounded) until this is the last handle to the store, so that dropping it closes
    /// the database and releases the data-dir lock (late HTTP worker threads may still be
    /// dropping their clones just after a server stops).
    pub async fn wait_released(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while Arc::strong_count(&self.inner) > 1 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        true
    }

    /// Synchronous [`Store::shutdown`] for offline commands.
    pub fn shutdown_blocking(&self) {
        let _ = self.inner.sender.blocking_send(Msg::Shutdown);
        let handle = crate::core::sync::lock(&self.inner.writer).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

fn open_db(
    path: &Path,
    fault: Option<FaultSwitch>,
    cache_mib: usize,
) -> Result<redb::Database, OpenError> {
    let err = |reason: String| OpenError::Database {
        path: path.display().to_string(),
        reason,
    };
    let describe = |e: redb::DatabaseError| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => {
            "the database file is open in another process".to_string()
        }
        redb::DatabaseError::UpgradeRequired(v) => format!(
            "the file uses redb file format {v}, which this shopd cannot read; export it with the shopd version that wrote it"
        ),
        other => other.to_string(),
    };
    let mut builder = redb::Builder::new();
    builder.set_cache_size(cache_mib.max(1).saturating_mul(1024 * 1024));
    match fault {
        None => builder.create(path).map_err(|e| err(describe(e))),
        Some(switch) => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| err(e.to_string()))?;
            let backend = fault::FaultyBackend::new(file, switch).map_err(|e| err(describe(e)))?;
            builder
                .create_with_backend(backend)
                .map_err(|e| err(describe(e)))
        }
    }
}

fn engine_read(engine: &Engine) -> Result<ReadTx, StorageError> {
    match engine {
        Engine::Redb(db) => db.begin_read().map(ReadTx::new).map_err(StorageError::io),
        Engine::Postgres(pg) => Ok(ReadTx::postgres(pg.snapshot())),
    }
}

/// Reads the schema version (`None` for a brand-new database).
pub(crate) fn stored_version(r: &impl Reader) -> Result<Option<u32>, StorageError> {
    Ok(r.get(&META, &SCHEMA_VERSION_KEY.to_string())?
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX)))
}

/// Runs `f` alone in one durable transaction, outside the writer (start-up work).
fn engine_commit(
    engine: &Engine,
    clock: &dyn Clock,
    f: impl FnOnce(&mut WriteTx<'_>) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    match engine {
        Engine::Redb(db) => commit_direct(db, clock, f),
        Engine::Postgres(pg) => postgres::writer::commit_direct(pg, clock.now(), f),
    }
}

fn commit_direct(
    db: &redb::Database,
    clock: &dyn Clock,
    f: impl FnOnce(&mut WriteTx<'_>) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let txn = db.begin_write().map_err(StorageError::io)?;
    {
        let tables = tx::OpenTables::new(&txn);
        let mut w = WriteTx::new(&tables, clock.now());
        f(&mut w)?;
        w.apply()?;
    }
    txn.commit().map_err(StorageError::io)
}

/// Brings the database to `schema.version`, one step per transaction. Each step checks the
/// version again inside its transaction, so nodes starting together on one PostgreSQL database
/// run every step once.
fn migrate(
    engine: &Engine,
    dir: &Path,
    schema: Schema,
    clock: &dyn Clock,
) -> Result<(), OpenError> {
    schema.check().map_err(|reason| OpenError::Migration {
        to: schema.version,
        source: StorageError::Io(reason),
    })?;
    let location = match engine {
        Engine::Redb(_) => dir.join(DB_FILE).display().to_string(),
        Engine::Postgres(_) => "the PostgreSQL database (storage.postgres_url)".to_string(),
    };
    let db_err = |e: StorageError| OpenError::Database {
        path: location.clone(),
        reason: e.to_string(),
    };
    // Each pass creates the database or runs one step: bounded by the number of steps.
    for _ in 0..=schema.version {
        let found = stored_version(&engine_read(engine).map_err(db_err)?).map_err(db_err)?;
        let Some(current) = found else {
            let now = clock.now();
            let version = u64::from(schema.version);
            engine_commit(engine, clock, |w| {
                if stored_version(w)?.is_some() {
                    return Ok(());
                }
                w.insert(&META, &SCHEMA_VERSION_KEY.to_string(), &version)?;
                w.insert(
                    &META,
                    &"created_at_ms".to_string(),
                    &u64::try_from(now.as_millis()).unwrap_or(0),
                )
            })
            .map_err(db_err)?;
            continue;
        };
        if current > schema.version {
            return Err(OpenError::NewerSchema {
                dir: match engine {
                    Engine::Redb(_) => dir.display().to_string(),
                    Engine::Postgres(_) => location,
                },
                found: current,
                supported: schema.version,
            });
        }
        if current == schema.version {
            return Ok(());
        }
        let target = current + 1;
        let step = schema.step(target).ok_or(OpenError::Migration {
            to: target,
            source: StorageError::Io(format!("no migration to schema version {target}")),
        })?;
        tracing::info!(
            from = current,
            to = target,
            what = step.description,
            "migrating data directory"
        );
        engine_commit(engine, clock, |w| {
            if stored_version(w)? != Some(current) {
                return Ok(()); // another node ran this step meanwhile
            }
            (step.run)(w)?;
            w.insert(&META, &SCHEMA_VERSION_KEY.to_string(), &u64::from(target))
        })
        .map_err(|source| OpenError::Migration { to: target, source })?;
    }
    Err(OpenError::Migration {
        to: schema.version,
        source: StorageError::Io("the schema version did not advance".into()),
    })
}

/// Reads the schema version of a data dir without opening the store for writing (for
/// `check-config`, `restore` and tests).
pub fn schema_version_of(data_dir: &Path) -> Result<Option<u32>, OpenError> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let db = redb::Database::open(&path).map_err(|e| OpenError::Database {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let r = db
        .begin_read()
        .map(ReadTx::new)
        .map_err(|e| OpenError::Database {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    stored_version(&r).map_err(|e| OpenError::Database {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The stored schema version of the store `opts` names (`None`: no shopd data yet), read
/// without migrating; the data dir must not be open elsewhere. Works on both backends.
pub fn schema_version(opts: &StoreOptions) -> Result<Option<u32>, OpenError> {
    if matches!(opts.backend, Backend::Embedded) && !opts.data_dir.join(DB_FILE).exists() {
        return Ok(None);
    }
    let _lock = DataDirLock::acquire(&opts.data_dir)?;
    let engine = open_engine(opts)?;
    engine_read(&engine)
        .and_then(|r| stored_version(&r))
        .map_err(|e| OpenError::Database {
            path: opts.data_dir.display().to_string(),
            reason: e.to_string(),
        })
}

/// What `check-config` learns from a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct DatabaseProbe {
    /// The schema version stored there (`None`: no shop yet).
    pub schema_version: Option<u32>,
    /// The server's version.
    pub server_version: String,
    /// The TLS version of the connection; `None` when not encrypted.
    pub tls: Option<String>,
}

/// Connects to the database `opts` names and reads what `check-config` reports. Takes no
/// data directory lock: the nodes sharing the database may be running.
pub fn probe_database(opts: &PgOptions) -> Result<DatabaseProbe, OpenError> {
    let pg = postgres::Pg::connect(opts)?;
    let failed = |e: StorageError| OpenError::Database {
        path: "storage.postgres_url".into(),
        reason: e.to_string(),
    };
    let (server_version, tls) = pg.describe().map_err(failed)?;
    let schema_version = engine_read(&Engine::Postgres(pg))
        .and_then(|r| stored_version(&r))
        .map_err(failed)?;
    Ok(DatabaseProbe {
        schema_version,
        server_version,
        tls,
    })
}

/// Test and tooling hook: force the stored schema version (used to simulate data from an older
/// or a newer shopd), on either backend. Requires the data dir not to be open elsewhere.
pub fn force_schema_version(opts: &StoreOptions, version: u32) -> Result<(), OpenError> {
    let _lock = DataDirLock::acquire(&opts.data_dir)?;
    let engine = open_engine(opts)?;
    engine_commit(&engine, opts.clock.as_ref(), |w| {
        w.insert(&META, &SCHEMA_VERSION_KEY.to_string(), &u64::from(version))
    })
    .map_err(|e| OpenError::Database {
        path: opts.data_dir.display().to_string(),
        reason: e.to_string(),
    })
}

/// Opens the engine `opts` names, without migrating or starting a writer.
fn open_engine(opts: &StoreOptions) -> Result<Engine, OpenError> {
    Ok(match &opts.backend {
        Backend::Embedded => {
            let path = opts.data_dir.join(DB_FILE);
            Engine::Redb(Arc::new(open_db(
                &path,
                opts.fault.clone(),
                opts.cache_mib,
            )?))
        }
        Backend::Postgres(pg) => Engine::Postgres(postgres::Pg::connect(pg)?),
    })
}
