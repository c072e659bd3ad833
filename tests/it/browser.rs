//! Headless Chromium (Debian's, driven by playwright-core from `tests/browser/`) through the
//! storefront of a real server with a real SMTP server: a guest's purchase with a typo search,
//! a variant, a discount code and the test card; a declined card retried; a staff member
//! shipping the order in the admin and the order page, opened from the confirmation mail's
//! link in a fresh browser, showing it; and axe-core on the storefront's and the admin's page
//! types. Screenshots of every step are kept in `target/browser-artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{
    ADMIN_EMAIL, ADMIN_PASSWORD, SmtpSink, TestApp, eventually, free_port, header, smtp_config,
};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts")
}

/// Runs one scenario of `storefront.mjs` (screenshots under `target/browser-artifacts/<run>/`);
/// its JSON facts on success, a failure otherwise.
fn scenario(run: &str, name: &str, base: &str, args: &[(&str, &str)]) -> Value {
    let dir = browser_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "browser tests need `npm ci --prefix tests/browser` (tests/run-all.sh installs it)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "browser tests need Debian's chromium (tests/run-all.sh installs it)"
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("storefront.mjs"))
        .arg(name)
        .arg(base)
        .arg(artifacts().join(run));
    for (k, v) in args {
        cmd.arg(format!("{k}={v}"));
    }
    let out = cmd.output().expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser scenario {name} failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().expect("facts");
    serde_json::from_str(line).expect("facts are JSON")
}

async fn demo_with_mail() -> (TestApp, SmtpSink, tempfile::TempDir) {
    let temp = tempfile::tempdir().expect("tempdir");
    let sink = SmtpSink::start_on(free_port(), &temp.path().join("mail"));
    let cfg = smtp_config(&temp.path().join("data"), sink.port);
    let app = TestApp::spawn_demo_with(cfg).await;
    (app, sink, temp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_buys_in_chromium_and_sees_the_order_shipped() {
    let (app, sink, _temp) = demo_with_mail().await;
    let base = app.base.clone();
    let email = "gus@example.com";
    let facts = tokio::task::spawn_blocking(move || {
        scenario("guest", "purchase", &base, &[("email", email)])
    })
    .await
    .expect("join");
    let order_id = facts["order_id"].as_str().expect("order id").to_owned();
    let mail = eventually(std::time::Duration::from_secs(20), || {
        let m = sink.to(email);
        let id = order_id.clone();
        async move { m.into_iter().find(|m| m.contains(&id)) }
    })
    .await
    .expect("the confirmation mail arrives");
    assert!(header(&mail, "Subject").is_some_and(|s| !s.is_empty()));
    let order: Value = app
        .admin
        .get(app.url(&format!("/api/v1/admin/orders/{order_id}")))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(order["status"], "paid");
    assert!(
        order["totals"]["discount"]["amount"]
            .as_i64()
            .expect("discount")
            > 0,
        "the code applied"
    );
    // A staff member signs in to the admin, finds the order and ships it with a tracking
    // number; the guest's order page (their cookies, kept from the purchase) shows it.
    let base = app.base.clone();
    let id = facts["order_id"].as_str().expect("id").to_owned();
    tokio::task::spawn_blocking(move || {
        scenario(
            "guest",
            "staff",
            &base,
            &[
                ("login", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("order", &id),
                ("tracking", "1Z999AA10123456784"),
            ],
        )
    })
    .await
    .expect("join");
    // The mail's link opens the order page in a browser that never saw the shop before.
    let unfolded = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let link = unfolded
        .split(&format!("{}/orders/", app.base))
        .nth(1)
        .map(|rest| {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "_?=-".contains(c)))
                .unwrap_or(rest.len());
            format!("{}/orders/{}", app.base, &rest[..end])
        })
        .expect("the mail links to the order page");
    assert!(link.contains("?key=ol_"), "{link}");
    let base = app.base.clone();
    let seen =
        tokio::task::spawn_blocking(move || scenario("guest", "order", &base, &[("url", &link)]))
            .await
            .expect("join");
    assert_eq!(seen["status"], "fulfilled");
    assert_eq!(seen["tracking"], json!(["1Z999AA10123456784"]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_is_retried_and_the_pages_pass_axe() {
    let (app, _sink, _temp) = demo_with_mail().await;
    let base = app.base.clone();
    let facts = tokio::task::spawn_blocking(move || {
        scenario(
            "declined",
            "purchase",
            &base,
            &[("email", "dee@example.com"), ("decline", "1")],
        )
    })
    .await
    .expect("join");
    assert!(
        facts["order_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("ord_"))
    );
    let base = app.base.clone();
    let paths = "/,/categories/clothing,/search?q=mug,/collections/featured,/products/coastal-bamboo-zip-hoodie,/cart,/checkout,/account/sign-in,/account/register,/reset-password";
    let report = tokio::task::spawn_blocking(move || {
        scenario(
            "axe-shop",
            "axe",
            &base,
            &[
                ("paths", paths),
                ("product", "/products/coastal-bamboo-zip-hoodie"),
            ],
        )
    })
    .await
    .expect("join");
    assert_eq!(report["pages"], 11);
    // An experiment with results to show (its lift-interval chart included).
    crate::common::experiments::create(&app, json!({"key": "axe-check", "status": "running", "metrics": {"primary": "order_paid", "guardrails": ["add_to_cart"]}})).await;
    // Eleven admin pages and the signed-in account pages, as staff.
    let order = facts["order_id"].as_str().expect("id").to_owned();
    let base = app.base.clone();
    let paths = format!(
        "/admin,/admin/orders,/admin/orders/{order},/admin/products,/admin/products/new,/admin/customers,/admin/jobs,/admin/tax,/admin/tax/zones/new,/admin/shipping/zones/new,/account,/account/addresses/new,/admin/experiments,/admin/experiments/axe-check"
    );
    let report = tokio::task::spawn_blocking(move || {
        scenario(
            "axe-admin",
            "axe",
            &base,
            &[
                ("paths", &paths),
                ("login", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
            ],
        )
    })
    .await
    .expect("join");
    assert_eq!(report["pages"], 14);
    app.stop().await;
}
