//! Mail delivery through a real SMTP server (aiosmtpd): outages are ridden out with retries and
//! every queued mail arrives exactly once; without SMTP configuration mail lands as .eml files;
//! a hostile product title is text in the HTML part of the order mail.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::{SmtpSink, TestApp, header};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_outage_then_recovery_delivers_every_mail_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mails = tempfile::tempdir().expect("tempdir");
    let mut sink = SmtpSink::start(mails.path());
    let port = sink.port;
    let app = TestApp::spawn_with(common::smtp_config(dir.path(), port), None).await;
    sink.stop(); // the SMTP server goes down

    const N: usize = 8;
    for i in 0..N {
        let r = app
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": format!("u{i}@example.com"), "password": "Tr0ub4dor&3-horse", "name": format!("User {i}")}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    // Attempts fail while the server is down: mails are queued, not lost.
    let failing = common::eventually(Duration::from_secs(20), || async {
        let m = app.get("/metrics").await.text().await.ok()?;
        m.lines()
            .find(|l| {
                l.starts_with("shopd_jobs_outcomes_total{kind=\"mail.send\",outcome=\"retried\"}")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .filter(|n| *n >= N as u64)
    })
    .await;
    assert!(
        failing.is_some(),
        "mail attempts should fail while SMTP is down"
    );
    assert!(sink.messages().is_empty());
    // Time passes during the outage; retries keep failing.
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sink.messages().is_empty());

    // The server comes back on the same port; retries deliver.
    let sink = SmtpSink::start_on(port, mails.path());
    let mut delivered = Vec::new();
    for _ in 0..600 {
        delivered = sink.messages();
        if delivered.len() >= N {
            break;
        }
        app.clock.advance(Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(delivered.len(), N, "every queued mail arrives");
    // Keep the clock moving a while: nothing is sent twice.
    for _ in 0..20 {
        app.clock.advance(Duration::from_secs(600));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = sink.messages();
    assert_eq!(delivered.len(), N, "no mail is delivered twice");
    let ids: HashSet<String> = delivered
        .iter()
        .filter_map(|m| header(m, "Message-ID"))
        .collect();
    assert_eq!(ids.len(), N, "stable, distinct Message-IDs");
    let to: HashSet<String> = delivered.iter().filter_map(|m| header(m, "To")).collect();
    for i in 0..N {
        assert!(
            to.iter().any(|t| t.contains(&format!("u{i}@example.com"))),
            "u{i} got no mail"
        );
    }
    let summary = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        summary.contains("shopd_jobs_queue_depth{state=\"done\",kind=\"mail.send\"} 8"),
        "{summary}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_is_written_as_eml_files() {
    let app = TestApp::spawn().await;
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "file@example.com", "password": "Tr0ub4dor&3-horse", "name": "Fi Le"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let outbox = app.data_dir.join("mail").join("outbox");
    let found = common::eventually(Duration::from_secs(10), || {
        let outbox = outbox.clone();
        async move {
            let files: Vec<_> = std::fs::read_dir(&outbox)
                .ok()?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .collect();
            let eml = files
                .into_iter()
                .find(|p| p.extension().is_some_and(|x| x == "eml"))?;
            std::fs::read_to_string(eml).ok()
        }
    })
    .await
    .expect("an .eml file in <data_dir>/mail/outbox");
    assert!(header(&found, "To").is_some_and(|t| t.contains("file@example.com")));
    assert!(header(&found, "Subject").is_some_and(|s| s.contains("Confirm")));
    assert!(common::link_token(&found).is_some_and(|t| t.starts_with("ev_")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_templates_override_the_embedded_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tpl = dir.path().join("templates").join("mail");
    std::fs::create_dir_all(&tpl).expect("mkdir");
    std::fs::write(
        tpl.join("verify_email.txt"),
        "Subject: Hej {{ name }}!\n\nKlicka: {{ link }}\n",
    )
    .expect("write");
    let mails = tempfile::tempdir().expect("tempdir");
    let sink = SmtpSink::start(mails.path());
    let app = TestApp::spawn_with(common::smtp_config(dir.path(), sink.port), None).await;
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "sv@example.com", "password": "Tr0ub4dor&3-horse", "name": "Sven"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let mut got = Vec::new();
    for _ in 0..300 {
        got = sink.to("sv@example.com");
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let m = got.first().expect("mail");
    assert_eq!(header(m, "Subject").as_deref(), Some("Hej Sven!"));
    assert!(m.contains("Klicka:"));
    app.stop().await;
}

/// The text/html parts of a raw message, decoded by Python's `email` package (an independent
/// MIME reader: transfer encodings and charsets undone).
fn html_parts(raw: &str) -> String {
    use std::io::Write;
    let script = "import email, sys\nfrom email import policy\nm = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)\nprint('\\n'.join(p.get_content() for p in m.walk() if p.get_content_type() == 'text/html'))";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(raw.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("decode");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_product_titles_are_text_in_the_order_mail() {
    const XSS: &str = "<script>alert(1)</script>";
    let dir = tempfile::tempdir().expect("tempdir");
    let mails = tempfile::tempdir().expect("tempdir");
    let sink = SmtpSink::start(mails.path());
    let app = TestApp::spawn_with(common::smtp_config(dir.path(), sink.port), None).await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/products",
            &json!({"title": format!("Mug {XSS}"), "slug": "hostile-mug", "status": "active",
                    "variants": [{"sku": "XSS-MAIL", "price": {"amount": 1200, "currency": "USD"}}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let p: serde_json::Value = r.json().await.expect("json");
    let variant = p["variants"][0]["id"].as_str().expect("id").to_owned();
    common::shop::set_stock(&app, &variant, 5).await;
    let c = common::pages::browser();
    common::pages::buy(&c, &app, "/products/hostile-mug", &variant).await;
    let mail = common::eventually(Duration::from_secs(20), || async {
        sink.to("guest@example.com")
            .into_iter()
            .find(|m| html_parts(m).contains("Mug"))
    })
    .await
    .expect("the order confirmation arrives");
    let html = html_parts(&mail);
    assert!(!html.contains(XSS), "the title is not markup: {html}");
    assert!(
        html.contains("Mug &lt;script&gt;alert(1)&lt;"),
        "the title is shown as text: {html}"
    );
    app.stop().await;
}
