//! The integration suite runs on both storage backends: the embedded store by default, and
//! PostgreSQL when `SHOPD_TEST_POSTGRES` names a server (`tests/run-all.sh` starts a throw-away
//! cluster and runs the suite again with it). Each data directory gets a database of its own,
//! so a test that stops and restarts a shop on its directory finds its data again, and child
//! processes started on a directory use the same database as the in-process app.

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
#[allow(dead_code)] // used by backend-specific tests
pub fn is_postgres() -> bool {
    server().is_some()
}

/// The database URL for `dir`, created on first use.
pub fn database_for(dir: &Path) -> Option<String> {
    let server = server()?;
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

/// Points `cfg` at the backend of this run (its data dir's database on PostgreSQL).
pub fn configure(cfg: &mut Config) {
    if let Some(url) = database_for(&cfg.data_dir()) {
        cfg.storage.backend = "postgres".into();
        cfg.storage.postgres_url = Secret::new(&url);
    }
}

/// The environment that points a child `shopd` on `dir` at the same backend.
pub fn env_for(dir: &Path) -> Vec<(&'static str, String)> {
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
