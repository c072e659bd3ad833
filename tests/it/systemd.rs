//! The packaged systemd unit: `systemd-analyze verify` accepts it (with this build's binary
//! path), its offline security exposure stays at most 2.0, and the real binary runs under the
//! seccomp filter its `SystemCallFilter=` lines describe — start-up, a sign-in (the hashing
//! pool), a checkout and a graceful stop — while the filter as it stood before issue 12 kills it.

use crate::common;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Proc;
use serde_json::{Value, json};

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/systemd/shopd.service"
);
const SECCOMP_EXEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/seccomp_exec.py");
/// Debian's interpreter: python3-seccomp installs there, not into other Pythons.
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// The unit as installed, with this build's binary in `ExecStart=`, written as `shopd.service`.
fn unit_copy(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(UNIT).expect("unit");
    let text = text.replace("/usr/local/bin/shopd", &common::bin().display().to_string());
    let path = dir.join("shopd.service");
    std::fs::write(&path, edit(text)).expect("write unit");
    path
}

fn analyze(args: &[&str], unit: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze (Debian package systemd; the README test command installs it)")
}

#[test]
fn unit_verifies_and_keeps_its_hardening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_copy(dir.path(), |t| t);
    let out = analyze(&["verify"], &unit);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    assert!(
        !err.contains("shopd.service"),
        "verify complains about the unit: {err}"
    );

    let out = analyze(&["security", "--offline=true", "--no-pager"], &unit);
    let text = String::from_utf8_lossy(&out.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for shopd.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(exposure <= 2.0, "exposure {exposure} > 2.0:\n{text}");

    let text = std::fs::read_to_string(UNIT).expect("unit");
    assert!(
        !text.lines().any(|l| l.starts_with("ExecReload=")),
        "reload must not stop the shop"
    );
    for doc in text
        .lines()
        .filter_map(|l| l.strip_prefix("Documentation="))
    {
        let path = doc.strip_prefix("file:").expect("offline documentation");
        let name = Path::new(path).file_name().expect("name").to_string_lossy();
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/README.md"))
                .expect("packaging README");
        assert!(
            readme.contains(path) || readme.contains(&*name),
            "packaging/README.md does not install {path}"
        );
    }
}

fn filtered(unit: &Path, strict: bool) -> Vec<OsString> {
    let mut w: Vec<OsString> = vec![DEBIAN_PYTHON.into(), SECCOMP_EXEC.into(), unit.into()];
    if strict {
        w.push("--strict".into());
    }
    w.push("--".into());
    w
}

/// A sign-in (argon2 on the hashing pool) and a guest checkout against `p`.
async fn sign_in_and_check_out(p: &Proc) {
    let http = reqwest::Client::new();
    let admin =
        |m: reqwest::Method, path: &str| http.request(m, p.url(path)).bearer_auth(&p.admin_token);
    let r = admin(reqwest::Method::POST, "/api/v1/admin/products")
        .json(&json!({"title": "Unit Tee", "status": "active",
                      "variants": [{"sku": "UNIT-1", "price": {"amount": 1500, "currency": "USD"}}]}))
        .send()
        .await
        .expect("product");
    assert_eq!(r.status(), 201);
    let prod: Value = r.json().await.expect("json");
    let v = prod["variants"][0]["id"].as_str().expect("id").to_owned();
    let r = admin(
        reqwest::Method::PUT,
        &format!("/api/v1/admin/variants/{v}/stock"),
    )
    .json(&json!({"on_hand": 3}))
    .send()
    .await
    .expect("stock");
    assert_eq!(r.status(), 200);
    let cart: Value = http
        .post(p.url("/api/v1/cart"))
        .json(&json!({}))
        .send()
        .await
        .expect("cart")
        .json()
        .await
        .expect("json");
    let token = cart["cart_token"].as_str().expect("token");
    let r = http
        .post(p.url("/api/v1/cart/items"))
        .header("X-Cart-Token", token)
        .json(&json!({"variant_id": v, "quantity": 1}))
        .send()
        .await
        .expect("add");
    assert_eq!(r.status(), 201);
    let r = http
        .post(p.url("/api/v1/checkout"))
        .header("X-Cart-Token", token)
        .header("Idempotency-Key", "unit-checkout-1")
        .json(&json!({"email": "unit@example.com", "shipping_address": {
            "name": "U", "line1": "1 Road", "city": "Town", "country": "DE"}}))
        .send()
        .await
        .expect("checkout");
    assert_eq!(r.status(), 201, "checkout under the filter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_under_the_units_seccomp_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_copy(dir.path(), |t| t);
    // --strict: any call outside the allowed set kills, so EPERM cannot hide one.
    for strict in [true, false] {
        let data = dir.path().join(format!("data-{strict}"));
        let p = Proc::serve_wrapped(&data, &filtered(&unit, strict), &[]);
        sign_in_and_check_out(&p).await;
        let status = p.terminate();
        assert!(
            status.success(),
            "graceful stop under the filter (strict: {strict}): {status:?}"
        );
    }
}

/// The filter as shipped before (no allowance for the hashing pool, systemd's kill on a denied
/// call) kills the binary at start-up with SIGSYS: the harness does apply the filter.
#[test]
fn the_old_filter_kills_the_binary_so_the_harness_bites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_copy(dir.path(), |t| {
        t.lines()
            .filter(|l| {
                !l.starts_with("SystemCallFilter=sched_setscheduler")
                    && !l.starts_with("SystemCallErrorNumber=")
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let mut child = Command::new(DEBIAN_PYTHON)
        .arg(SECCOMP_EXEC)
        .arg(&unit)
        .arg("--")
        .arg(common::bin())
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the old filter did not stop the binary");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.signal(), Some(libc::SIGSYS), "{status:?}");
}
