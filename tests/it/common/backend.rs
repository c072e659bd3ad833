//! The integration suite runs on both storage backends: the embedded store by default, and
//! PostgreSQL when `SHOPD_TEST_BACKEND=postgres` (`tests/run-all.sh` starts a throw-away
//! cluster, names it in `SHOPD_TEST_POSTGRES`, and runs the suite once per backend). Each data
//! directory gets a database of its own, so a test that stops and restarts a shop on its
//! directory finds its data again, and child processes started on a directory use the same
//! database as the in-process app.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::process::Command;

use shopd::config::{Config, Secret};

/// The PostgreSQL server the suite runs against, if any.
pub fn server() -> Option<String> {
    std::env::var("SHOPD_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Whether this run is the PostgreSQL leg of the matrix.
pub fn is_postgres() -> bool {
    let on = std::env::var("SHOPD_TEST_BACKEND").is_ok_and(|b| b == "postgres");
    assert!(
        !on || server().is_some(),
        "SHOPD_TEST_BACKEND=postgres needs SHOPD_TEST_POSTGRES (tests/support/postgres.sh start DIR prints it)"
    );
    on
}

/// The database URL for `dir`, created on first use.
pub fn database_for(dir: &Path) -> Option<String> {
    let server = server()?;
    if let Ok(shared) = std::fs::read_to_string(dir.join(SHARED_DATABASE)) {
        return Some(shared.trim().to_owned());
    }
    let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    let name = format!("shopd_t_{:016x}", h.finish());
    let admin = format!("{server}/postgres");
    let create = format!("CREATE DATABASE {name}");
    // Own thread and runtime: callers may be inside an async runtime, or not.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                .await
                .expect("the test PostgreSQL server answers");
            tokio::spawn(conn);
            if let Err(e) = client.batch_execute(&create).await {
                let exists = e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE);
                assert!(exists, "creating the test database: {e}");
            }
        });
    })
    .join()
    .expect("database created");
    Some(format!("{server}/{name}"))
}

/// A file in a data dir naming the database it shares with other nodes' dirs.
const SHARED_DATABASE: &str = ".test-database";

/// Data dirs `dirs` (created) for nodes of one cluster: all use the first one's database.
pub fn share_database(dirs: &[&Path]) -> String {
    let first = dirs.first().expect("a node");
    std::fs::create_dir_all(first).expect("dir");
    let url = database_for(first).expect("a PostgreSQL run");
    for d in dirs {
        std::fs::create_dir_all(d).expect("dir");
        std::fs::write(d.join(SHARED_DATABASE), &url).expect("write");
    }
    url
}

/// Points `cfg` at the backend of this run (its data dir's database on PostgreSQL).
pub fn configure(cfg: &mut Config) {
    if !is_postgres() {
        return;
    }
    if let Some(url) = database_for(&cfg.data_dir()) {
        cfg.storage.backend = "postgres".into();
        cfg.storage.postgres_url = Secret::new(&url);
    }
}

/// The environment that points a child `shopd` on `dir` at the same backend.
pub fn env_for(dir: &Path) -> Vec<(&'static str, String)> {
    if !is_postgres() {
        return Vec::new();
    }
    match database_for(dir) {
        Some(url) => vec![
            ("SHOPD_STORAGE_BACKEND", "postgres".into()),
            ("SHOPD_STORAGE_POSTGRES_URL", url),
        ],
        None => Vec::new(),
    }
}

/// `shopd` as a child process whose data dir is `dir`, on this run's backend.
pub fn shopd(dir: &Path) -> Command {
    let mut c = Command::new(super::bin());
    for (k, v) in env_for(dir) {
        c.env(k, v);
    }
    c
}

/// Store options for `dir` on this run's backend (tests of the store and the job queue alone).
pub fn store_options(
    dir: &Path,
    clock: std::sync::Arc<dyn shopd::core::Clock>,
    schema: shopd::storage::Schema,
) -> shopd::storage::StoreOptions {
    let mut cfg = Config::default();
    cfg.storage.data_dir = dir.display().to_string();
    configure(&mut cfg);
    shopd::storage::StoreOptions {
        backend: cfg.storage_backend(),
        ..shopd::storage::StoreOptions::new(dir.to_path_buf(), clock, schema)
    }
}

/// [`store_options`] with the system clock and the app's schema (tools' view of a data dir).
pub fn app_store(dir: &Path) -> shopd::storage::StoreOptions {
    store_options(
        dir,
        std::sync::Arc::new(shopd::core::SystemClock),
        shopd::app::SCHEMA,
    )
}

/// A TCP proxy in front of the test PostgreSQL server that a test can cut, to see what shopd
/// does when it loses its database (the PostgreSQL leg's counterpart of the faulty disk). It
/// runs on a thread and runtime of its own: shopd's storage calls block their thread, so a
/// proxy sharing the test's runtime could wait for itself.
pub struct PgProxy {
    /// Connection string of the database through the proxy.
    pub url: String,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl PgProxy {
    /// Proxies to the server of this run, for the database of `dir`.
    pub async fn start(dir: &Path) -> PgProxy {
        let direct = database_for(dir).expect("a PostgreSQL run");
        let rest = direct.split_once('@').expect("user@host").1;
        let (target, db) = rest.split_once('/').expect("host/db");
        let (target, db) = (target.to_owned(), db.to_owned());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cut2, conns2) = (cut.clone(), conns.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let accept = async {
                    while let Ok((mut inbound, _)) = listener.accept().await {
                        if cut2.load(std::sync::atomic::Ordering::SeqCst) {
                            continue; // dropped: the connection is refused
                        }
                        let target = target.clone();
                        let task = tokio::spawn(async move {
                            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await
                            {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        });
                        conns2.lock().expect("conns").push(task.abort_handle());
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        PgProxy {
            url: format!("postgres://postgres@127.0.0.1:{port}/{db}"),
            cut,
            conns,
            stop: Some(stop),
        }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().expect("conns").drain(..) {
            c.abort();
        }
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.cut();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Points every node started on `dir` (server and CLI) at `url` instead of this run's server.
pub fn use_database(dir: &Path, url: &str) {
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(dir.join(SHARED_DATABASE), url).expect("write");
}

/// A PostgreSQL cluster of a test's own (`tests/support/postgres.sh start DIR FLAGS…`),
/// stopped when dropped. For what the run's shared server cannot be, e.g. TLS.
pub struct OwnCluster {
    /// Where it lives (`tls/ca.crt` with the `tls` flag).
    pub dir: tempfile::TempDir,
    /// `postgres://postgres@127.0.0.1:PORT` (no database).
    pub url: String,
}

impl OwnCluster {
    /// Starts one with `flags` (`durable`, `tls`).
    pub fn start(flags: &[&str]) -> OwnCluster {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755));
        let out = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/postgres.sh"
            ))
            .arg("start")
            .arg(dir.path().join("pg"))
            .args(flags)
            .output()
            .expect("run tests/support/postgres.sh");
        assert!(
            out.status.success(),
            "PostgreSQL did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        OwnCluster { dir, url }
    }

    /// Its throw-away CA's certificate (with the `tls` flag).
    pub fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("pg/tls/ca.crt")
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/postgres.sh"
            ))
            .arg("stop")
            .arg(self.dir.path().join("pg"))
            .output();
    }
}
