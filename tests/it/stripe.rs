//! The `stripe` provider against a local stand-in for Stripe's API (`tests/support/
//! stripe_api.py`: Stripe's published fixtures, form encoding, `Authorization`, `Stripe-Version`
//! and `Idempotency-Key` checked, answers replayed per key as Stripe does), and Stripe webhooks
//! built from the same fixtures and signed with the official `stripe` Python library.

use crate::common;
use crate::payments::{json_ok, order, payments, times_paid};

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::shop::{add_to_cart, checkout, checkout_body, new_cart, product};
use common::{TestApp, problem};
use serde_json::{Value, json};
use shopd::core::Clock;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/stripe_api.py");
const SECRET_A: &str = "whsec_test_shopd_current";
const SECRET_B: &str = "whsec_test_shopd_next";

/// The stand-in for Stripe's API.
pub struct StripeApi {
    child: Child,
    pub port: u16,
    http: reqwest::Client,
}

impl StripeApi {
    pub fn start() -> StripeApi {
        let port = common::free_port();
        let mut cmd = Command::new("python3");
        cmd.args([SCRIPT, "serve", &port.to_string()]);
        let child = common::start_ready(cmd, "the Stripe stand-in");
        StripeApi {
            child,
            port,
            http: reqwest::Client::new(),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub async fn state(&self) -> Value {
        self.http
            .get(format!("{}_control/state", self.base()))
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("json")
    }

    pub async fn control(&self, path: &str, body: &Value) -> Value {
        self.http
            .post(format!("{}_control/{path}", self.base()))
            .json(body)
            .send()
            .await
            .expect("control")
            .json()
            .await
            .expect("json")
    }
}

impl Drop for StripeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Events built on Stripe's fixtures and signed by the official library: (payload, header).
pub fn signed(secret: &str, ts: i64, specs: &[Value]) -> Vec<(String, String)> {
    let mut child = Command::new("python3")
        .args([SCRIPT, "events", secret, &ts.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with stripe (pip install stripe)");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for s in specs {
            writeln!(stdin, "{s}").expect("write");
        }
    }
    let out = child.wait_with_output().expect("events");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("line");
            (
                v["payload"].as_str().expect("p").to_owned(),
                v["signature"].as_str().expect("s").to_owned(),
            )
        })
        .collect()
}

pub async fn spawn(api: &StripeApi, dir: &std::path::Path) -> TestApp {
    let mut cfg = common::test_config(dir);
    cfg.payments.provider = "stripe".into();
    cfg.payments_stripe.secret_key = shopd::config::Secret::new("sk_test_shopd");
    cfg.payments_stripe.webhook_secrets =
        shopd::config::SecretList::new(vec![SECRET_A.into(), SECRET_B.into()]);
    cfg.payments_stripe.api_base = api.base();
    TestApp::spawn_with(cfg, None).await
}

/// A shop on the `stripe` provider with its stand-in for Stripe and its data dir (kept alive
/// by the caller).
pub async fn stripe_shop() -> (StripeApi, TestApp, tempfile::TempDir) {
    let api = StripeApi::start();
    let temp = tempfile::tempdir().expect("tempdir");
    let app = spawn(&api, temp.path()).await;
    (api, app, temp)
}

/// `n` orders of one unit of `variant`, keys `<prefix>-<i>`.
pub async fn place_many(
    app: &TestApp,
    variant: &str,
    prefix: &str,
    n: usize,
) -> Vec<(String, String, String, String, i64)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(place(app, variant, &format!("{prefix}-{i}")).await);
    }
    out
}

pub fn now_secs(app: &TestApp) -> i64 {
    app.clock.now().as_millis() / 1000
}

pub async fn deliver(app: &TestApp, payload: &str, signature: Option<&str>) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url("/api/v1/payments/stripe/webhook"))
        .header("content-type", "application/json");
    if let Some(s) = signature {
        r = r.header("Stripe-Signature", s);
    }
    r.body(payload.to_owned()).send().await.expect("webhook")
}

/// An order placed with Stripe: (order, token, payment, PaymentIntent id, total).
pub async fn place(
    app: &TestApp,
    variant: &str,
    key: &str,
) -> (String, String, String, String, i64) {
    let cart = new_cart(app).await;
    add_to_cart(app, &cart, variant, 1).await;
    let o = json_ok(checkout(app, &cart, key, &checkout_body("stripe@example.com")).await).await;
    let pay = o["payment"]["id"].as_str().expect("payment").to_owned();
    let secret = o["payment"]["client_secret"]
        .as_str()
        .expect("client secret")
        .to_owned();
    let pi = secret.split("_secret_").next().expect("pi").to_owned();
    (
        o["id"].as_str().expect("id").to_owned(),
        o["order_token"].as_str().expect("t").to_owned(),
        pay,
        pi,
        o["totals"]["total"]["amount"].as_i64().expect("total"),
    )
}

fn succeeded(event: &str, pi: &str, amount: i64, charge: &str) -> Value {
    json!({"id": event, "type": "payment_intent.succeeded", "object": {"id": pi, "status": "succeeded",
        "amount": amount, "amount_received": amount, "currency": "usd", "latest_charge": charge,
        "last_payment_error": null, "metadata": {}}})
}

fn mails_about(app: &TestApp, order: &str) -> usize {
    std::fs::read_dir(app.data_dir.join("mail").join("outbox"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter(|m| m.contains(order) && m.contains("Total"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_creates_one_payment_intent_even_when_the_answer_is_lost() {
    let (api, app, _temp) = stripe_shop().await;
    let (_, v) = product(&app, "STR", 1, 10).await;
    let cart = new_cart(&app).await;
    add_to_cart(&app, &cart, &v[0], 2).await;
    // Stripe creates the intent but the answer never arrives.
    api.control("drop", &json!({"count": 1})).await;
    let lost = checkout(&app, &cart, "str-1", &checkout_body("ada@example.com")).await;
    let p = problem(lost, 503, "payment_provider_unavailable").await;
    assert!(
        p["detail"]
            .as_str()
            .expect("d")
            .contains("same request again"),
        "{p}"
    );
    assert_eq!(
        api.state().await["intents"].as_object().map(|o| o.len()),
        Some(1)
    );
    // The same request again replays the order and asks Stripe with the same key: the same
    // intent comes back, none is added.
    let o = json_ok(checkout(&app, &cart, "str-1", &checkout_body("ada@example.com")).await).await;
    let state = api.state().await;
    let intents = state["intents"].as_object().expect("intents");
    assert_eq!(intents.len(), 1, "one PaymentIntent");
    let (pi_id, pi) = intents.iter().next().expect("pi");
    assert_eq!(o["payment"]["provider"], "stripe");
    assert_eq!(o["payment"]["client_secret"], pi["client_secret"]);
    assert_eq!(pi["amount"], o["totals"]["total"]["amount"]);
    assert_eq!(pi["currency"], "usd");
    assert_eq!(pi["metadata"]["shopd_payment_id"], o["payment"]["id"]);
    assert_eq!(pi["metadata"]["shopd_order_id"], o["id"]);
    assert_eq!(pi["capture_method"], "automatic");
    assert_eq!(
        state["violations"],
        json!([]),
        "every request was well-formed"
    );
    let pays = json_ok(
        app.admin_get(&format!(
            "/api/v1/admin/orders/{}/payments",
            o["id"].as_str().expect("id")
        ))
        .await,
    )
    .await;
    assert_eq!(pays[0]["reference"], pi_id.as_str());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_event_applies_once_among_duplicates_in_any_order_and_bad_ones_do_nothing() {
    let (_api, app, _temp) = stripe_shop().await;
    let (_, v) = product(&app, "EVT", 1, 10).await;
    let (id, _, _, pi, total) = place(&app, &v[0], "evt-1").await;
    let (other, _, _, other_pi, _) = place(&app, &v[0], "evt-2").await;
    let ts = now_secs(&app);
    let specs = [
        succeeded("evt_ok", &pi, total, "ch_ok"),
        json!({"id": "evt_processing", "type": "payment_intent.processing", "object": {"id": pi, "status": "processing", "amount": total, "currency": "usd", "last_payment_error": null, "metadata": {}}}),
        json!({"id": "evt_failed", "type": "payment_intent.payment_failed", "object": {"id": pi, "status": "requires_payment_method", "amount": total, "currency": "usd",
            "last_payment_error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}, "metadata": {}}}),
        json!({"id": "evt_charge", "type": "charge.succeeded", "object": {"id": "ch_ok", "amount": total}}),
        succeeded("evt_unknown", "pi_not_ours", 999, "ch_x"),
    ];
    let ev = signed(SECRET_A, ts, &specs);
    // Five copies of the success among the others, shuffled (a fixed order: the failure and
    // the processing event come after the success).
    let order_of = [3usize, 0, 1, 0, 4, 0, 2, 0, 0];
    let mut results = Vec::new();
    for &i in &order_of {
        let r = deliver(&app, &ev[i].0, Some(&ev[i].1)).await;
        assert_eq!(r.status(), 200);
        results.push((
            i,
            r.json::<Value>().await.expect("json")["result"]
                .as_str()
                .expect("r")
                .to_owned(),
        ));
    }
    let of = |i: usize| {
        results
            .iter()
            .filter(|(x, _)| *x == i)
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of(0),
        [
            "applied",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );
    assert_eq!(of(3), ["ignored"]);
    assert_eq!(
        of(4),
        ["ignored"],
        "an unknown PaymentIntent is acknowledged and ignored"
    );
    let o = order(&app, &id).await;
    assert_eq!(o["status"], "paid");
    assert_eq!(times_paid(&o), 1);
    let pays = Value::Array(payments(&app, &id).await);
    assert_eq!(
        pays[0]["status"], "succeeded",
        "late processing and failure events change nothing"
    );
    common::eventually(Duration::from_secs(10), || async {
        (mails_about(&app, &id) == 1).then_some(())
    })
    .await
    .expect("one confirmation mail");

    // Bad deliveries: nothing happens to the other order.
    let pay_other = signed(
        SECRET_A,
        ts,
        &[succeeded("evt_other", &other_pi, total, "ch_o")],
    );
    let (payload, sig) = &pay_other[0];
    let tampered = payload.replace(
        &format!("\"amount_received\": {total}"),
        "\"amount_received\": 1",
    );
    assert_ne!(&tampered, payload);
    problem(
        deliver(&app, &tampered, Some(sig)).await,
        400,
        "webhook_signature_invalid",
    )
    .await;
    let wrong = signed(
        "whsec_someone_else",
        ts,
        &[succeeded("evt_other", &other_pi, total, "ch_o")],
    );
    problem(
        deliver(&app, &wrong[0].0, Some(&wrong[0].1)).await,
        400,
        "webhook_signature_invalid",
    )
    .await;
    problem(
        deliver(&app, payload, None).await,
        400,
        "webhook_signature_invalid",
    )
    .await;
    let old = signed(
        SECRET_A,
        ts - 301,
        &[succeeded("evt_other", &other_pi, total, "ch_o")],
    );
    problem(
        deliver(&app, &old[0].0, Some(&old[0].1)).await,
        400,
        "webhook_signature_invalid",
    )
    .await;
    let future = signed(
        SECRET_A,
        ts + 301,
        &[succeeded("evt_other", &other_pi, total, "ch_o")],
    );
    problem(
        deliver(&app, &future[0].0, Some(&future[0].1)).await,
        400,
        "webhook_signature_invalid",
    )
    .await;
    assert_eq!(order(&app, &other).await["status"], "pending_payment");
    // The next secret of a rotation is accepted, within the tolerance.
    let rotated = signed(
        SECRET_B,
        ts - 299,
        &[succeeded("evt_other", &other_pi, total, "ch_o")],
    );
    let r = deliver(&app, &rotated[0].0, Some(&rotated[0].1)).await;
    assert_eq!(r.json::<Value>().await.expect("json")["result"], "applied");
    assert_eq!(order(&app, &other).await["status"], "paid");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amount_that_differs_is_flagged_not_paid() {
    let (_api, app, _temp) = stripe_shop().await;
    let (_, v) = product(&app, "MIS", 1, 10).await;
    let (id, _, pay, pi, total) = place(&app, &v[0], "mis-1").await;
    let ev = signed(
        SECRET_A,
        now_secs(&app),
        &[succeeded("evt_short", &pi, total - 1, "ch_s")],
    );
    deliver(&app, &ev[0].0, Some(&ev[0].1)).await;
    assert_eq!(order(&app, &id).await["status"], "pending_payment");
    let flagged = json_ok(app.admin_get("/api/v1/admin/payments/flagged").await).await;
    assert_eq!(flagged[0]["id"], pay.as_str());
    assert!(
        flagged[0]["review"]
            .as_str()
            .expect("why")
            .contains("not marked paid")
    );
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(metrics.contains("payments_flagged 1"), "{metrics}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_return_call_and_the_webhook_race_and_each_order_is_paid_once() {
    let (api, app, _temp) = stripe_shop().await;
    let (_, v) = product(&app, "RAC", 1, 1000).await;
    let placed = place_many(&app, &v[0], "rac", 100).await;
    let ts = now_secs(&app);
    let specs: Vec<Value> = placed
        .iter()
        .enumerate()
        .map(|(i, (_, _, _, pi, total))| {
            succeeded(
                &format!("evt_race_{i}"),
                pi,
                *total,
                &format!("ch_race_{i}"),
            )
        })
        .collect();
    let events = signed(SECRET_A, ts, &specs);
    // The customer paid on Stripe's side; the return and the webhook arrive together.
    for (i, (_, _, _, pi, total)) in placed.iter().enumerate() {
        api.control(&format!("intents/{pi}"), &json!({"status": "succeeded", "amount_received": total, "latest_charge": format!("ch_race_{i}")})).await;
    }
    let tasks = placed
        .iter()
        .zip(&events)
        .map(|((_, token, pay, _, _), (payload, sig))| {
            let app = &app;
            async move {
                let ret = app
                    .client
                    .post(app.url(&format!("/api/v1/payments/{pay}/return")))
                    .header("X-Order-Token", token)
                    .send();
                let (a, b) = tokio::join!(ret, deliver(app, payload, Some(sig)));
                (a.expect("return").status().as_u16(), b.status().as_u16())
            }
        });
    for (a, b) in futures_util::future::join_all(tasks).await {
        assert_eq!((a, b), (200, 200));
    }
    for (id, _, _, _, _) in &placed {
        let o = order(&app, id).await;
        assert_eq!(o["status"], "paid");
        assert_eq!(times_paid(&o), 1);
        let pays = Value::Array(payments(&app, id).await);
        assert_eq!(pays[0]["refunds"], json!([]), "no refund: one charge");
    }
    let ids: Vec<&String> = placed.iter().map(|p| &p.0).collect();
    common::eventually(Duration::from_secs(20), || async {
        ids.iter()
            .all(|id| mails_about(&app, id) >= 1)
            .then_some(())
    })
    .await
    .expect("mails");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        ids.iter().all(|id| mails_about(&app, id) == 1),
        "one mail per order"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_go_through_stripe_and_reconciliation_settles_what_no_webhook_reported() {
    let (api, mut app, _temp) = stripe_shop().await;
    let key = crate::webhooks::admin_key(&app).await;
    app.admin = key;
    let (_, v) = product(&app, "REF", 1, 10).await;
    let (id, _, _, pi, total) = place(&app, &v[0], "ref-1").await;
    let ev = signed(
        SECRET_A,
        now_secs(&app),
        &[succeeded("evt_r1", &pi, total, "ch_r1")],
    );
    deliver(&app, &ev[0].0, Some(&ev[0].1)).await;
    assert_eq!(order(&app, &id).await["status"], "paid");
    // A refund Stripe leaves pending is finished by its refund.updated event.
    api.control("refund_status", &json!({"status": "pending"}))
        .await;
    let r = app
        .admin
        .post(app.url(&format!("/api/v1/admin/orders/{id}/refunds")))
        .header("Idempotency-Key", "r-1")
        .json(&json!({"amount": 500, "reason": "goodwill"}))
        .send()
        .await
        .expect("refund");
    assert_eq!(r.status(), 201);
    let refund_id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let sent = common::eventually(Duration::from_secs(10), || async {
        let s = api.state().await;
        s["refunds"]
            .as_array()
            .filter(|r| !r.is_empty())
            .map(|r| r[0].clone())
    })
    .await
    .expect("the refund reached Stripe");
    assert_eq!(
        (sent["payment_intent"].as_str(), sent["amount"].as_i64()),
        (Some(pi.as_str()), Some(500))
    );
    let shopd_key = sent["metadata"]["shopd_key"]
        .as_str()
        .expect("key")
        .to_owned();
    assert!(shopd_key.contains(&refund_id));
    let updated = signed(
        SECRET_A,
        now_secs(&app),
        &[json!({"id": "evt_ref", "type": "refund.updated",
        "object": {"id": sent["id"], "status": "succeeded", "amount": 500, "payment_intent": pi, "metadata": {"shopd_key": shopd_key}}})],
    );
    deliver(&app, &updated[0].0, Some(&updated[0].1)).await;
    common::eventually(Duration::from_secs(10), || async {
        (order(&app, &id).await["status"] == "partially_refunded").then_some(())
    })
    .await
    .expect("refund finished by its event");
    assert_eq!(
        api.state().await["refunds"].as_array().map(Vec::len),
        Some(1),
        "one refund at Stripe"
    );

    // Paid at Stripe with no webhook and no return: reconciliation finds it.
    let (quiet, _, _, quiet_pi, quiet_total) = place(&app, &v[0], "ref-2").await;
    api.control(
        &format!("intents/{quiet_pi}"),
        &json!({"status": "succeeded", "amount_received": quiet_total, "latest_charge": "ch_q"}),
    )
    .await;
    // Abandoned: its order expires and reconciliation cancels the intent at Stripe.
    let (gone, _, gone_pay, gone_pi, _) = place(&app, &v[0], "ref-3").await;
    app.clock.advance(Duration::from_secs(6 * 60));
    let ok = common::eventually(Duration::from_secs(10), || async {
        (order(&app, &quiet).await["status"] == "paid").then_some(())
    })
    .await;
    if ok.is_none() {
        let jobs = json_ok(
            app.admin_get("/api/v1/admin/jobs?kind=payment.reconcile")
                .await,
        )
        .await;
        panic!(
            "not reconciled: {jobs} {}",
            api.state().await["intents"][&quiet_pi]
        );
    }
    app.clock.advance(Duration::from_secs(15 * 60));
    common::eventually(Duration::from_secs(10), || async {
        (order(&app, &gone).await["status"] == "expired").then_some(())
    })
    .await
    .expect("expired");
    // A later reconciliation pass cancels what the lapsed order left open. A pass that read the
    // order before it expired may still be running and schedules the next one a minute after
    // it ends, so the clock moves on a minute at a time until a pass has seen the lapsed order.
    let mut passes = 0;
    common::eventually(Duration::from_secs(20), || {
        passes += 1;
        if passes % 25 == 1 {
            app.clock.advance(Duration::from_secs(61));
        }
        async {
            let s = api.state().await;
            (s["intents"][&gone_pi]["status"] == "canceled").then_some(())
        }
    })
    .await
    .expect("the abandoned intent was cancelled at Stripe");
    let p = common::eventually(Duration::from_secs(10), || async {
        let p = Value::Array(payments(&app, &gone).await);
        (p[0]["status"] == "canceled").then_some(p)
    })
    .await
    .expect("payment cancelled");
    assert_eq!(p[0]["id"], gone_pay.as_str());
    assert_eq!(order(&app, &gone).await["status"], "expired");
    assert_eq!(api.state().await["violations"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_success_for_100_paid_orders_is_refunded_automatically() {
    let (api, app, _temp) = stripe_shop().await;
    let (_, v) = product(&app, "DUP", 1, 1000).await;
    let placed = place_many(&app, &v[0], "dup", 100).await;
    let ts = now_secs(&app);
    let first: Vec<Value> = placed
        .iter()
        .enumerate()
        .map(|(i, p)| succeeded(&format!("evt_a{i}"), &p.3, p.4, &format!("ch_a{i}")))
        .collect();
    let second: Vec<Value> = placed
        .iter()
        .enumerate()
        .map(|(i, p)| succeeded(&format!("evt_b{i}"), &p.3, p.4, &format!("ch_b{i}")))
        .collect();
    let (first, second) = (signed(SECRET_A, ts, &first), signed(SECRET_A, ts, &second));
    let both = first.iter().zip(&second).map(|(a, b)| {
        let app = &app;
        async move {
            let (x, y) = tokio::join!(
                deliver(app, &a.0, Some(&a.1)),
                deliver(app, &b.0, Some(&b.1))
            );
            (x.status().as_u16(), y.status().as_u16())
        }
    });
    assert!(
        futures_util::future::join_all(both)
            .await
            .iter()
            .all(|s| *s == (200, 200))
    );
    for (i, (id, ..)) in placed.iter().enumerate() {
        let o = order(&app, id).await;
        assert_eq!(o["status"], "paid");
        assert_eq!(times_paid(&o), 1);
        let r = common::eventually(Duration::from_secs(10), || async {
            let ps = Value::Array(payments(&app, id).await);
            let r = ps[0]["refunds"].clone();
            (r.as_array().is_some_and(|r| r.len() == 1) && r[0]["status"] == "succeeded")
                .then_some(r)
        })
        .await
        .unwrap_or_else(|| panic!("order {i}: the second charge is refunded"));
        assert_eq!(r[0]["kind"], "duplicate");
        let charge = r[0]["charge"].as_str().expect("charge");
        assert!(charge == format!("ch_a{i}") || charge == format!("ch_b{i}"));
    }
    let s = api.state().await;
    assert_eq!(
        s["refunds"].as_array().map(Vec::len),
        Some(100),
        "one refund per second charge at Stripe"
    );
    assert_eq!(s["violations"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_mode_redirects_to_stripe_and_the_completed_session_pays_the_order() {
    let api = StripeApi::start();
    let temp = tempfile::tempdir().expect("tempdir");
    let mut cfg = common::test_config(temp.path());
    cfg.payments.provider = "stripe".into();
    cfg.payments_stripe.secret_key = shopd::config::Secret::new("sk_test_shopd");
    cfg.payments_stripe.webhook_secrets = shopd::config::SecretList::new(vec![SECRET_A.into()]);
    cfg.payments_stripe.api_base = api.base();
    cfg.payments_stripe.mode = "checkout".into();
    let app = TestApp::spawn_with(cfg, None).await;
    let (_, v) = product(&app, "CS", 1, 10).await;
    let cart = new_cart(&app).await;
    add_to_cart(&app, &cart, &v[0], 1).await;
    let o = json_ok(checkout(&app, &cart, "cs-1", &checkout_body("cs@example.com")).await).await;
    let url = o["payment"]["redirect_url"].as_str().expect("redirect");
    assert!(
        url.starts_with("https://checkout.stripe.com/c/pay/cs_test_"),
        "{url}"
    );
    assert_eq!(o["payment"]["client_secret"], Value::Null);
    let session_id = url.rsplit('/').next().expect("id").to_owned();
    let state = api.state().await;
    let session = &state["sessions"][&session_id];
    assert_eq!(session["amount_total"], o["totals"]["total"]["amount"]);
    assert_eq!(session["client_reference_id"], o["payment"]["id"]);
    let id = o["id"].as_str().expect("id");
    let total = o["totals"]["total"]["amount"].as_i64().expect("t");
    let ev = signed(
        SECRET_A,
        now_secs(&app),
        &[
            json!({"id": "evt_cs", "type": "checkout.session.completed", "object": {
        "id": session_id, "client_reference_id": o["payment"]["id"], "payment_intent": "pi_from_checkout",
        "payment_status": "paid", "status": "complete", "amount_total": total, "currency": "usd", "metadata": {}}}),
        ],
    );
    let r = deliver(&app, &ev[0].0, Some(&ev[0].1)).await;
    assert_eq!(r.json::<Value>().await.expect("json")["result"], "applied");
    assert_eq!(order(&app, id).await["status"], "paid");
    let pays = Value::Array(payments(&app, id).await);
    assert_eq!(
        pays[0]["reference"], "pi_from_checkout",
        "refunds address the intent from now on"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_refusal_during_a_later_attempt_is_checked_with_stripe_not_applied() {
    let (api, app, _temp) = stripe_shop().await;
    let (_, v) = product(&app, "LATE", 1, 10).await;
    let (id, _, _, pi, total) = place(&app, &v[0], "late-1").await;
    let processing = json!({"id": "evt_l_processing", "type": "payment_intent.processing", "object": {
        "id": pi, "status": "processing", "amount": total, "currency": "usd", "last_payment_error": null, "metadata": {}}});
    let failed = json!({"id": "evt_l_failed", "type": "payment_intent.payment_failed", "object": {
        "id": pi, "status": "requires_payment_method", "amount": total, "currency": "usd",
        "last_payment_error": {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline"}, "metadata": {}}});
    // At Stripe the second attempt is processing; the first attempt's refusal arrives late.
    api.control(&format!("intents/{pi}"), &json!({"status": "processing"}))
        .await;
    let before = api.state().await["requests"].as_u64().unwrap_or(0);
    let ev = signed(SECRET_A, now_secs(&app), &[processing, failed]);
    for (payload, sig) in &ev {
        assert_eq!(deliver(&app, payload, Some(sig)).await.status(), 200);
    }
    // The refusal made shopd ask Stripe, which says processing: nothing regressed.
    let asked = common::eventually(Duration::from_secs(10), || async {
        (api.state().await["requests"].as_u64().unwrap_or(0) > before).then_some(())
    })
    .await;
    assert!(asked.is_some(), "Stripe was asked");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pays = Value::Array(payments(&app, &id).await);
    assert_eq!(pays[0]["status"], "processing", "{pays}");
    let ok = signed(
        SECRET_A,
        now_secs(&app),
        &[succeeded("evt_l_ok", &pi, total, "ch_l")],
    );
    deliver(&app, &ok[0].0, Some(&ok[0].1)).await;
    assert_eq!(order(&app, &id).await["status"], "paid");
    app.stop().await;
}
