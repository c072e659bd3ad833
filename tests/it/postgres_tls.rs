//! TLS to PostgreSQL as libpq connection strings ask for it, against a real server with TLS on
//! (a throw-away CA and a certificate for `localhost`): `verify-full` checks chain and name,
//! `verify-ca` the chain, `require` encrypts without checking, `disable` does not encrypt; a
//! node started on a `verify-full` URL serves with every one of its connections encrypted.
//! PostgreSQL leg of the suite only.

use crate::common;

use std::time::Duration;

use common::Proc;
use common::backend::{OwnCluster, use_database};
use serde_json::{Value, json};

/// `shopd check-config` on `url`: whether it succeeded, and what it printed.
fn check(url: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(common::bin())
        .args(["check-config", "--data-dir"])
        .arg(dir.path())
        .env("SHOPD_STORAGE_BACKEND", "postgres")
        .env("SHOPD_STORAGE_POSTGRES_URL", url)
        .output()
        .expect("check-config");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_encrypted_and_certificates_checked_as_the_url_asks() {
    if !common::backend::is_postgres() {
        return;
    }
    let pg = OwnCluster::start(&["tls"]);
    let port = pg.url.rsplit(':').next().expect("port").to_owned();
    let ca = pg.ca().display().to_string();
    let url =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/postgres?{query}");
    let full = url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );

    let (ok, out) = check(&full);
    assert!(ok && out.contains("connection encrypted (TLSv1."), "{out}");
    let (ok, out) = check(&url("localhost", "sslmode=verify-full"));
    assert!(
        !ok && out.contains("UnknownIssuer"),
        "the Mozilla roots trusted a test CA: {out}"
    );
    let (ok, out) = check(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    assert!(
        !ok && out.contains("not valid for name"),
        "another name accepted: {out}"
    );
    let (ok, out) = check(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ));
    assert!(ok && out.contains("connection encrypted"), "{out}");
    let (ok, out) = check(&url("127.0.0.1", "sslmode=require"));
    assert!(ok && out.contains("connection encrypted"), "{out}");
    let (ok, out) = check(&url("127.0.0.1", "sslmode=disable"));
    assert!(ok && out.contains("connection NOT encrypted"), "{out}");
    let (ok, out) = check(&url("localhost", "sslmode=verify-ca"));
    assert!(!ok && out.contains("verify-ca needs sslrootcert"), "{out}");
    let (ok, out) = check(&url("localhost", "sslmode=require&sslrootcert=system"));
    assert!(!ok && out.contains("needs sslmode=verify-full"), "{out}");
    let (ok, out) = check(&url("127.0.0.1", "sslmode=sometimes"));
    assert!(!ok && out.contains("sslmode"), "{out}");

    // A node on the verify-full URL: writes (the writer's connection), reads (the pool), search
    // (the change feed, woken by the listener's connection) all work, all encrypted.
    let dir = tempfile::tempdir().expect("tempdir");
    use_database(dir.path(), &full);
    let node = Proc::serve(dir.path(), &[]);
    let client = reqwest::Client::new();
    let r = client
        .post(node.url("/api/v1/admin/products"))
        .bearer_auth(&node.admin_token)
        .json(&json!({"title": "Sealed Teapot", "status": "active",
            "variants": [{"sku": "TLS-1", "price": {"amount": 2500, "currency": "USD"}}]}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let found = common::eventually(Duration::from_secs(10), || async {
        let body: Value = client
            .get(node.url("/api/v1/search?q=teapot"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (body["total"].as_u64() == Some(1)).then_some(())
    })
    .await;
    assert!(found.is_some(), "the product is searchable");

    let (db, conn) =
        tokio_postgres::connect(&format!("{}/postgres", pg.url), tokio_postgres::NoTls)
            .await
            .expect("connect");
    tokio::spawn(conn);
    // Connections of the check-config runs above may take a moment to go away.
    let counts = common::eventually(Duration::from_secs(5), || async {
        let row = db
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
                 JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'shopd'",
                &[],
            )
            .await
            .ok()?;
        let (all, encrypted): (i64, i64) = (row.get(0), row.get(1));
        (all >= 3 && encrypted == all).then_some((all, encrypted))
    })
    .await;
    assert!(
        counts.is_some(),
        "the writer, the listener and a pooled reader, all encrypted"
    );
    assert_eq!(node.terminate().code(), Some(0));
}
