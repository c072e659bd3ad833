//! shopd nodes on PostgreSQL for the benches: a throw-away server (Debian's `postgresql`,
//! started by `tests/support/postgres.sh` with PostgreSQL's durability kept: fsync and
//! synchronous commit on), a fresh database per run, and N nodes on it.

use std::path::PathBuf;

use super::{Server, create_admin_with};

/// A throw-away PostgreSQL server, stopped and deleted on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    /// `postgres://postgres@127.0.0.1:PORT` (no database).
    pub url: String,
    own: bool,
    next: std::sync::atomic::AtomicUsize,
}

fn script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/postgres.sh"
    ))
}

impl Postgres {
    /// The server named by `SHOPD_TEST_POSTGRES` (the test command's), or a new durable one.
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Ok(url) = std::env::var("SHOPD_TEST_POSTGRES")
            && !url.is_empty()
        {
            return Postgres {
                dir,
                url,
                own: false,
                next: Default::default(),
            };
        }
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755));
        let out = std::process::Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path().join("pg"))
            .arg("durable")
            .output()
            .expect("start PostgreSQL (Debian package postgresql)");
        assert!(
            out.status.success(),
            "PostgreSQL did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Postgres {
            dir,
            url: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            own: true,
            next: Default::default(),
        }
    }

    /// A new, empty database; returns its URL.
    pub fn database(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("bench_{}_{n}", std::process::id());
        let admin = format!("{}/postgres", self.url);
        let create = format!("CREATE DATABASE {name}");
        super::runtime().block_on(async {
            let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                .await
                .expect("PostgreSQL answers");
            tokio::spawn(conn);
            client
                .batch_execute(&create)
                .await
                .expect("create database");
        });
        format!("{}/{name}", self.url)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.own {
            let _ = std::process::Command::new("bash")
                .arg(script())
                .arg("stop")
                .arg(self.dir.path().join("pg"))
                .status();
        }
    }
}

/// `n` nodes sharing the database `url`, each on its own temporary data dir, with `env`.
pub fn nodes(url: &str, n: usize, env: &[(&str, &str)]) -> Vec<Server> {
    let mut all: Vec<(&str, &str)> = vec![
        ("SHOPD_STORAGE_BACKEND", "postgres"),
        ("SHOPD_STORAGE_POSTGRES_URL", url),
    ];
    all.extend_from_slice(env);
    (0..n)
        .map(|_| {
            let dir = tempfile::Builder::new()
                .prefix("shopd-bench-node-")
                .tempdir()
                .expect("tempdir");
            create_admin_with(dir.path(), &all);
            let mut s = Server::start_in(dir.path(), &all);
            s.keep_dir(dir);
            s
        })
        .collect()
}
