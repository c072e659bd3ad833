//! The real binary: commands, flags, the data-dir lock, schema refusal, signals and --temp.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{Proc, bin};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .env_remove("SHOPD_CONFIG")
        .output()
        .expect("run shopd")
}

#[test]
fn config_example_matches_the_committed_file() {
    let out = run(&["config", "example"]);
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).expect("utf8");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml"))
            .expect("config/example.toml");
    assert_eq!(
        printed, committed,
        "regenerate with: shopd config example > config/example.toml"
    );
    assert!(printed.contains("[server]") && printed.contains("SHOPD_SERVER_BIND"));
}

#[test]
fn version_and_help_explain_themselves() {
    let out = run(&["version"]);
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.starts_with("shopd ") && v.contains("schema"), "{v}");
    let out = run(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "serve",
        "check-config",
        "config",
        "backup",
        "restore",
        "version",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}");
    }
    let out = run(&["serve", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--temp") && help.contains("--data-dir") && help.contains("--bind"));
}

#[test]
fn check_config_reports_bad_values_and_accepts_good_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nbind = \"not-an-address\"\n").expect("write");
    let out = run(&["check-config", "--config", bad.to_str().expect("utf8")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.bind"));
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[storage]\ndata_dir = \"{}\"\n",
            dir.path().join("d").display()
        ),
    )
    .expect("write");
    let out = run(&["check-config", "--config", good.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
}

/// Secrets from the file, the environment and `_FILE` never appear in check-config's output:
/// set ones show `<set>`, unset ones `<unset>`; the placeholder itself is refused as a value.
#[test]
fn check_config_never_prints_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("shop.toml");
    let jwt = "file-jwt-secret-0123456789-abcdefghijklmnop";
    std::fs::write(
        &cfg,
        format!(
            "[auth]\njwt_secret = \"{jwt}\"\n[storage]\ndata_dir = \"{}\"\n",
            dir.path().join("d").display()
        ),
    )
    .expect("write");
    let pw_file = dir.path().join("smtp.pw");
    let smtp = "smtp-password-from-a-file-9f8e7d";
    std::fs::write(&pw_file, format!("{smtp}\n")).expect("write");
    let out = Command::new(bin())
        .args(["check-config", "--config"])
        .arg(&cfg)
        .env("SHOPD_MAIL_SMTP_PASSWORD_FILE", &pw_file)
        .output()
        .expect("run");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    assert!(
        !printed.contains(jwt) && !printed.contains(smtp),
        "{printed}"
    );
    assert!(printed.contains("jwt_secret = \"<set>\""), "{printed}");
    assert!(printed.contains("smtp_password = \"<set>\""), "{printed}");
    let out = Command::new(bin())
        .args(["check-config", "--config"])
        .arg(&cfg)
        .env_remove("SHOPD_MAIL_SMTP_PASSWORD_FILE")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("smtp_password = \"<unset>\""));
    std::fs::write(&cfg, "[auth]\njwt_secret = \"<set>\"\n").expect("write");
    let out = run(&["check-config", "--config", cfg.to_str().expect("utf8")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("placeholder"));
}

#[test]
fn second_serve_on_same_dir_exits_nonzero_naming_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Proc::serve(dir.path(), &[]);
    let out = common::backend::shopd(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shopd.lock") && err.contains("locked"),
        "{err}"
    );
    assert_eq!(first.terminate().code(), Some(0));
}

#[test]
fn newer_schema_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Proc::serve(dir.path(), &[]);
    assert_eq!(p.terminate().code(), Some(0));
    shopd::storage::force_schema_version(&common::backend::app_store(dir.path()), 99)
        .expect("force");
    let out = common::backend::shopd(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schema version 99")
            && err.contains(&format!("up to {}", shopd::app::SCHEMA.version)),
        "{err}"
    );
}

#[test]
fn older_schema_is_migrated_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Proc::serve(dir.path(), &[]);
    assert_eq!(p.terminate().code(), Some(0));
    shopd::storage::force_schema_version(&common::backend::app_store(dir.path()), 1)
        .expect("force");
    // The first command to open the data dir (here `admin create`, then `serve`) migrates it.
    let p = Proc::serve(dir.path(), &[]);
    assert_eq!(p.terminate().code(), Some(0));
    assert_eq!(
        shopd::storage::schema_version(&common::backend::app_store(dir.path())).expect("version"),
        Some(shopd::app::SCHEMA.version)
    );
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Proc::serve(dir.path(), &[]);
    let url = p.url("/api/v1/admin/diagnostics/notes");
    let token = p.admin_token.clone();
    // Fire writes concurrently with the signal; every acknowledged one must survive.
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let (url, token) = (url.clone(), token.clone());
            std::thread::spawn(move || {
                let c = reqwest_blocking_post(&url, &format!("{{\"key\":\"t{i}\"}}"), &token);
                (i, c)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(5));
    let status = p.terminate();
    assert_eq!(status.code(), Some(0), "clean exit after SIGTERM");
    let acked: Vec<usize> = handles
        .into_iter()
        .filter_map(|h| h.join().ok())
        .filter(|(_, code)| *code == Some(201))
        .map(|(i, _)| i)
        .collect();
    let p = Proc::serve(dir.path(), &[]);
    let body = http_get(
        &p.url("/api/v1/admin/diagnostics/notes?per_page=100"),
        &p.admin_token,
    );
    for i in acked {
        assert!(
            body.contains(&format!("\"t{i}\"")),
            "acknowledged t{i} lost"
        );
    }
    assert_eq!(p.terminate().code(), Some(0));
}

#[test]
fn temp_data_dir_is_announced_and_removed_on_clean_exit() {
    let mut cmd = Command::new(bin());
    cmd.args([
        "serve",
        "--temp",
        "--bind",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ])
    .stderr(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null());
    let p = Proc::start(cmd);
    assert_eq!(http_get(&p.url("/readyz"), ""), "{\"status\":\"ready\"}");
    let log = p.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("\"temporary\":true"))
        .unwrap_or_else(|| panic!("no temp dir line in {log}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("json log");
    let dir = std::path::PathBuf::from(v["data_dir"].as_str().expect("data_dir"));
    assert!(dir.join("shopd.redb").exists());
    assert_eq!(p.terminate().code(), Some(0));
    assert!(!dir.exists(), "temporary data dir left behind");
}

#[test]
fn backup_and_restore_commands_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let p = Proc::serve(&data, &[]);
    for i in 0..5 {
        let code = reqwest_blocking_post(
            &p.url("/api/v1/admin/diagnostics/notes"),
            &format!("{{\"key\":\"b{i}\"}}"),
            &p.admin_token,
        );
        assert_eq!(code, Some(201));
    }
    assert_eq!(p.terminate().code(), Some(0));
    let file = dir.path().join("shop.backup");
    let tool = |data: &std::path::Path, args: &[&str]| {
        common::backend::shopd(data)
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .env_remove("SHOPD_CONFIG")
            .output()
            .expect("run shopd")
    };
    let out = tool(&data, &["backup", "--to", file.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = dir.path().join("restored");
    let out = tool(
        &restored,
        &["restore", "--from", file.to_str().expect("utf8")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = Proc::serve(&restored, &[]);
    let body = http_get(&p.url("/api/v1/admin/diagnostics/notes"), &p.admin_token);
    for i in 0..5 {
        assert!(body.contains(&format!("\"b{i}\"")), "{body}");
    }
    if common::backend::is_postgres() {
        // PostgreSQL is backed up online, from one snapshot, while the shop runs; restoring
        // while a node is connected is refused.
        let out = tool(&restored, &["backup", "--to", file.to_str().expect("utf8")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = tool(
            &restored,
            &["restore", "--from", file.to_str().expect("utf8")],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("stop every node first"), "{err}");
    } else {
        // Backing up a running shop's data dir is refused (the lock is held).
        let out = tool(&restored, &["backup", "--to", file.to_str().expect("utf8")]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("locked"));
    }
    assert_eq!(p.terminate().code(), Some(0));
}

/// Minimal blocking HTTP helpers (tests in this file run in plain threads).
fn reqwest_blocking_post(url: &str, body: &str, token: &str) -> Option<u16> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    })
}

fn http_get(url: &str, token: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body")
    })
}

#[test]
fn first_start_prints_a_setup_token_and_admin_create_reads_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = common::backend::shopd(dir.path());
    cmd.args([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--data-dir",
    ])
    .arg(dir.path())
    .stderr(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null());
    let p = Proc::start(cmd);
    std::thread::sleep(Duration::from_millis(200));
    let log = p.log_text();
    assert!(
        log.contains("no admin account yet") && log.contains("setup_"),
        "{log}"
    );
    assert_eq!(p.terminate().code(), Some(0));
    // Mismatched confirmation is refused; a proper one creates the admin.
    let mut child = common::backend::shopd(dir.path())
        .args([
            "admin",
            "create",
            "--email",
            "boss@example.com",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"Sup3r-secret-pass\nSup3r-secret-typo\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("differ"));
    common::create_admin(dir.path());
    let mut cmd = common::backend::shopd(dir.path());
    cmd.args([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--data-dir",
    ])
    .arg(dir.path())
    .stderr(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null());
    let p = Proc::start(cmd);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!p.log_text().contains("no admin account yet"));
    let token = common::login_blocking(&p.base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD);
    assert!(token.split('.').count() == 3);
    assert_eq!(p.terminate().code(), Some(0));
}

#[test]
fn requests_the_parser_refuses_are_logged_at_warn_and_the_server_keeps_serving() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Proc::serve(dir.path(), &[("SHOPD_LOG_FORMAT", "json")]);
    let addr = p.base.trim_start_matches("http://").to_owned();
    let garbage: [&[u8]; 3] = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    ];
    for g in garbage {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(g).expect("send");
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    let notes = p.url("/api/v1/admin/diagnostics/notes");
    let stored = reqwest_blocking_post(&notes, r#"{"key":"after-garbage"}"#, &p.admin_token);
    assert_eq!(stored, Some(201), "still serving and writing");
    std::thread::sleep(Duration::from_millis(300));
    let log = p.log.lock().expect("log").clone();
    let refused = log
        .iter()
        .filter(|l| l.contains("refused by the HTTP parser"))
        .count();
    assert_eq!(refused, 3, "{log:#?}");
    for line in &log {
        assert!(
            !line.contains("\"level\":\"ERROR\""),
            "an error line from client garbage: {line}"
        );
    }
    assert_eq!(p.terminate().code(), Some(0));
}

/// `migrate-storage` copies a shop redb → PostgreSQL → redb: each step verifies counts and a
/// SHA-256, the two data dirs then back up to byte-identical files and export the same
/// products, and a copy into a database that already holds a shop is refused.
#[test]
fn migrate_storage_round_trips_through_postgres_identically() {
    let Some(server) = common::backend::server() else {
        eprintln!("skipped: no PostgreSQL server (tests/run-all.sh starts one)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, back) = (dir.path().join("first"), dir.path().join("back"));
    let plain = |args: &[&str]| {
        let out = Command::new(bin())
            .args(args)
            .env_remove("SHOPD_CONFIG")
            .output()
            .expect("run shopd");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let path = |p: &std::path::Path| p.to_str().expect("utf8").to_owned();
    let (ok, out) = plain(&[
        "demo",
        "--products",
        "150",
        "--order-lines",
        "400",
        "--data-dir",
        &path(&first),
    ]);
    assert!(ok, "{out}");
    // A database of its own on the test server.
    let url = common::backend::database_for(&dir.path().join("pg")).expect("database");
    assert!(url.starts_with(&server));
    let (ok, out) = plain(&["migrate-storage", "--from", &path(&first), "--to", &url]);
    assert!(ok, "{out}");
    assert!(out.contains("verified the copy: SHA-256"), "{out}");
    let (ok, out) = plain(&["migrate-storage", "--from", &path(&first), "--to", &url]);
    assert!(!ok && out.contains("already holds shopd data"), "{out}");
    let (ok, out) = plain(&["migrate-storage", "--from", &url, "--to", &path(&back)]);
    assert!(ok, "{out}");
    let digest = |out: &str| out.split("SHA-256 ").nth(1).map(str::to_owned);
    // Both data dirs back up to the same bytes and export the same catalog.
    let mut files = Vec::new();
    for (i, d) in [&first, &back].into_iter().enumerate() {
        let file = dir.path().join(format!("{i}.backup"));
        let (ok, out) = plain(&["backup", "--to", &path(&file), "--data-dir", &path(d)]);
        assert!(ok, "{out}");
        let csv = dir.path().join(format!("{i}.csv"));
        let (ok, out) = plain(&[
            "export",
            "products",
            "--out",
            &path(&csv),
            "--data-dir",
            &path(d),
        ]);
        assert!(ok, "{out}");
        files.push((
            std::fs::read(file).expect("backup"),
            std::fs::read(csv).expect("csv"),
        ));
    }
    assert!(files[0].0.len() > 10_000, "a real shop was copied");
    assert!(
        files[0].0 == files[1].0,
        "backups differ after the round trip"
    );
    assert!(
        files[0].1 == files[1].1,
        "exports differ after the round trip"
    );
    assert!(digest(&out).is_some(), "{out}");
}
