//! Outgoing webhooks against a receiver the test starts (Python, `tests/support/
//! webhook_receiver.py`): deliveries verified with the Standard Webhooks reference library,
//! retries with growing delays while the receiver is down (test clock), one delivery per event
//! once it is back, replays with the same `webhook-id`, dead letters after 3 days, endpoints
//! disabled after 5 days of failures with a mail to the admins, secret rotation, and the SSRF
//! guard at registration and at delivery.

use crate::common;
use crate::payments::{card, json_ok, pay, place};

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use common::shop::product;
use common::{TestApp, problem};
use serde_json::{Value, json};
use shopd::core::Timestamp;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/webhook_receiver.py"
);

/// The receiver process.
pub struct Receiver {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Receiver {
    pub fn start(port: u16, dir: &Path) -> Receiver {
        let mut cmd = Command::new("python3");
        cmd.args([SCRIPT, "serve", &port.to_string()]).arg(dir);
        let child = common::start_ready(cmd, "the webhook receiver");
        Receiver {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Every request received: (webhook-id, event JSON).
    pub fn received(&self) -> Vec<(String, Value)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "json"));
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|s| serde_json::from_str::<Value>(&s).ok())
            .map(|r| {
                use base64::Engine;
                let body = base64::engine::general_purpose::STANDARD
                    .decode(r["body"].as_str().expect("body"))
                    .expect("b64");
                let id = r["headers"]["webhook-id"].as_str().unwrap_or("").to_owned();
                (id, serde_json::from_slice(&body).expect("json body"))
            })
            .collect()
    }

    /// The reference library's verdict on every request, with `secret`.
    pub fn verify(&self, secret: &str) -> Vec<Value> {
        let out = Command::new("python3")
            .args([SCRIPT, "verify", secret])
            .arg(&self.dir)
            .output()
            .expect("verify");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("line"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An admin API key client: unlike access tokens it survives moving the clock by days.
pub async fn admin_key(app: &TestApp) -> reqwest::Client {
    let r = json_ok(
        app.admin_post_json(
            "/api/v1/admin/api-keys",
            &json!({"name": "hooks", "role": "admin"}),
        )
        .await,
    )
    .await;
    common::bearer_client(r["secret"].as_str().expect("secret"))
}

pub fn real_now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis();
    Timestamp::from_millis(i64::try_from(ms).expect("ms"))
}

async fn spawn(allow_private: bool, dir: &Path) -> TestApp {
    let mut cfg = common::test_config(dir);
    cfg.webhooks.allow_private_targets = allow_private;
    TestApp::spawn_with(cfg, None).await
}

async fn post(c: &reqwest::Client, app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    c.post(app.url(path)).json(body).send().await.expect("post")
}

async fn get(c: &reqwest::Client, app: &TestApp, path: &str) -> Value {
    json_ok(c.get(app.url(path)).send().await.expect("get")).await
}

async fn deliveries(c: &reqwest::Client, app: &TestApp, endpoint: &str) -> Vec<Value> {
    let v = get(
        c,
        app,
        &format!("/api/v1/admin/webhook-endpoints/{endpoint}/deliveries?per_page=100"),
    )
    .await;
    v["data"].as_array().expect("data").clone()
}

/// The delivery of event `event` to `endpoint` (the newest, when replayed), once the fan-out
/// created it.
async fn find_delivery(
    c: &reqwest::Client,
    app: &TestApp,
    endpoint: &str,
    event: &str,
) -> Option<Value> {
    deliveries(c, app, endpoint)
        .await
        .into_iter()
        .find(|d| d["event_id"] == event)
}

async fn delivery_of(c: &reqwest::Client, app: &TestApp, endpoint: &str, event: &str) -> Value {
    common::eventually(Duration::from_secs(10), || {
        find_delivery(c, app, endpoint, event)
    })
    .await
    .unwrap_or_else(|| panic!("no delivery of {event}"))
}

async fn paid_event_of(c: &reqwest::Client, app: &TestApp, order: &str) -> String {
    let evs = get(c, app, "/api/v1/admin/events?type=order.paid&per_page=100").await;
    evs["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|e| e["data"]["id"] == order)
        .and_then(|e| e["id"].as_str())
        .expect("order.paid event")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_verify_with_standard_webhooks_retry_while_down_and_arrive_once() {
    let temp = tempfile::tempdir().expect("tempdir");
    let app = spawn(true, &temp.path().join("data")).await;
    let key = admin_key(&app).await;
    let (_, v) = product(&app, "HOOK", 1, 100).await;
    // Deliveries carry the store clock's time; the reference library checks it against the
    // real clock (5 minutes' tolerance), so the shop runs on real time from here (the staff
    // token expires with the jump; the API key does not).
    app.clock.set(real_now());
    let mut rx = Receiver::start(common::free_port(), &temp.path().join("rx"));
    let created = post(&key, &app, "/api/v1/admin/webhook-endpoints",
        &json!({"url": rx.url(), "events": ["order.paid", "refund.succeeded"], "description": "ERP"})).await;
    assert_eq!(created.status(), 201);
    let endpoint = json_ok(created).await;
    let secret = endpoint["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = endpoint["id"].as_str().expect("id").to_owned();
    assert!(
        get(&key, &app, &format!("/api/v1/admin/webhook-endpoints/{id}"))
            .await
            .get("secret")
            .is_none()
    );

    // A purchase: order.paid reaches the receiver and verifies with the reference library.
    let a = place(&app, &v[0], 1, "hook-1").await;
    json_ok(pay(&app, &a, "confirm", &card("4242424242424242")).await).await;
    let paid_a = paid_event_of(&key, &app, &a.order).await;
    let got = common::eventually(Duration::from_secs(10), || async {
        rx.received().into_iter().find(|(wid, _)| *wid == paid_a)
    })
    .await
    .expect("order.paid delivered");
    assert_eq!(got.1["type"], "order.paid");
    assert_eq!(got.1["data"]["id"], a.order.as_str());
    let verdicts = rx.verify(&secret);
    assert!(!verdicts.is_empty());
    assert!(verdicts.iter().all(|v| v["ok"] == true), "{verdicts:?}");
    assert_eq!(verdicts[0]["webhook_id"], paid_a.as_str());
    let wrong = rx.verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert!(
        wrong.iter().all(|v| v["ok"] == false),
        "a wrong secret never verifies"
    );
    // order.created is not subscribed: nothing else arrived.
    assert!(rx.received().iter().all(|(_, e)| e["type"] == "order.paid"));
    let log = delivery_of(&key, &app, &id, &paid_a).await;
    assert_eq!(log["state"], "delivered");
    assert_eq!(log["attempts"][0]["status_code"], 200);
    assert!(
        log["attempts"][0]["response"]
            .as_str()
            .expect("r")
            .contains("received")
    );

    // Receiver down: the delivery is retried with growing delays on the test clock.
    rx.stop();
    let b = place(&app, &v[0], 1, "hook-2").await;
    json_ok(pay(&app, &b, "confirm", &card("4242424242424242")).await).await;
    let paid_b = paid_event_of(&key, &app, &b.order).await;
    let mut delays = Vec::new();
    for n in 1..=4 {
        let d = common::eventually(Duration::from_secs(10), || async {
            let d = delivery_of(&key, &app, &id, &paid_b).await;
            (d["attempts"].as_array().map_or(0, Vec::len) >= n).then_some(d)
        })
        .await
        .unwrap_or_else(|| panic!("attempt {n}"));
        assert_eq!(d["state"], "pending");
        assert!(d["attempts"][n - 1]["error"].as_str().is_some(), "{d}");
        let at =
            Timestamp::parse_rfc3339(d["attempts"][n - 1]["at"].as_str().expect("at")).expect("t");
        let next =
            Timestamp::parse_rfc3339(d["next_attempt_at"].as_str().expect("next")).expect("t");
        delays.push(next.since(at));
        if n < 4 {
            app.clock.set(next);
        }
    }
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "growing delays: {delays:?}"
    );
    // Back up: the next attempt delivers, once.
    let mut rx = Receiver::start(rx.port, &rx.dir.clone());
    let next = delivery_of(&key, &app, &id, &paid_b).await["next_attempt_at"]
        .as_str()
        .map(str::to_owned);
    app.clock
        .set(Timestamp::parse_rfc3339(&next.expect("pending")).expect("t"));
    common::eventually(Duration::from_secs(10), || async {
        (delivery_of(&key, &app, &id, &paid_b).await["state"] == "delivered").then_some(())
    })
    .await
    .expect("delivered after the receiver came back");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let count = |rx: &Receiver, wid: &str| rx.received().iter().filter(|(w, _)| w == wid).count();
    assert_eq!(count(&rx, &paid_b), 1, "delivered once");
    assert_eq!(count(&rx, &paid_a), 1);

    // A replay delivers the event again with the same webhook-id.
    let replayed = json_ok(
        post(
            &key,
            &app,
            &format!("/api/v1/admin/events/{paid_a}/replay"),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(replayed["data"].as_array().map(Vec::len), Some(1));
    common::eventually(Duration::from_secs(10), || async {
        (count(&rx, &paid_a) == 2).then_some(())
    })
    .await
    .expect("replayed with the same webhook-id");

    // Rotation: both secrets sign during the overlap.
    let rotated = json_ok(
        post(
            &key,
            &app,
            &format!("/api/v1/admin/webhook-endpoints/{id}/rotate-secret"),
            &json!({"overlap_hours": 1}),
        )
        .await,
    )
    .await;
    let new_secret = rotated["secret"].as_str().expect("new secret").to_owned();
    assert_ne!(new_secret, secret);
    json_ok(
        post(
            &key,
            &app,
            &format!("/api/v1/admin/events/{paid_b}/replay"),
            &json!({}),
        )
        .await,
    )
    .await;
    common::eventually(Duration::from_secs(10), || async {
        (count(&rx, &paid_b) == 2).then_some(())
    })
    .await
    .expect("replayed");
    // The clock moved only by the retry delays (under 5 minutes): the library checks these too.
    let last_b = |v: Vec<Value>| {
        v.into_iter().rfind(|x| {
            x["file"].is_string() && x.get("webhook_id").is_some_and(|w| w == paid_b.as_str())
                || x["ok"] == false
        })
    };
    let with_new = rx.verify(&new_secret);
    let with_old = rx.verify(&secret);
    assert_eq!(
        with_new.last().map(|x| x["ok"].clone()),
        Some(json!(true)),
        "{with_new:?}"
    );
    assert_eq!(
        with_old.last().map(|x| x["ok"].clone()),
        Some(json!(true)),
        "{with_old:?}"
    );
    assert_eq!(
        with_new.first().map(|x| x["ok"].clone()),
        Some(json!(false)),
        "older deliveries carry only the old secret"
    );
    let _ = last_b;
    rx.stop();

    // Down for good: dead after 3 days; the endpoint is disabled after 5 days of failures.
    let c = place(&app, &v[0], 1, "hook-3").await;
    json_ok(pay(&app, &c, "confirm", &card("4242424242424242")).await).await;
    let paid_c = paid_event_of(&key, &app, &c.order).await;
    let mut dead = None;
    let mut d = delivery_of(&key, &app, &id, &paid_c).await;
    for _ in 0..60 {
        if d["state"] == "dead" {
            dead = Some(d);
            break;
        }
        let n = d["attempts"].as_array().map_or(0, Vec::len);
        if let Some(next) = d["next_attempt_at"].as_str() {
            app.clock.set(Timestamp::parse_rfc3339(next).expect("t"));
        }
        d = common::eventually(Duration::from_secs(10), || async {
            let d = delivery_of(&key, &app, &id, &paid_c).await;
            (d["attempts"].as_array().map_or(0, Vec::len) > n || d["state"] == "dead").then_some(d)
        })
        .await
        .expect("next attempt");
    }
    let dead = dead.expect("dead after the limit");
    let first =
        Timestamp::parse_rfc3339(dead["attempts"][0]["at"].as_str().expect("at")).expect("t");
    let last = Timestamp::parse_rfc3339(
        dead["attempts"].as_array().expect("a").last().expect("l")["at"]
            .as_str()
            .expect("at"),
    )
    .expect("t");
    assert!(
        last.since(first) > Duration::from_secs(2 * 24 * 3600),
        "retried for days"
    );
    assert!(last.since(first) <= Duration::from_secs(3 * 24 * 3600));
    // Failing for more than 5 days in all disables the endpoint and mails the admins.
    app.clock.advance(Duration::from_secs(3 * 24 * 3600));
    let d = place(&app, &v[0], 1, "hook-4").await;
    json_ok(pay(&app, &d, "confirm", &card("4242424242424242")).await).await;
    let disabled = common::eventually(Duration::from_secs(10), || async {
        let e = get(&key, &app, &format!("/api/v1/admin/webhook-endpoints/{id}")).await;
        (e["enabled"] == false).then_some(e)
    })
    .await
    .expect("disabled after 5 days of failures");
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .expect("reason")
            .contains("failed")
    );
    let mailed = common::eventually(Duration::from_secs(10), || async {
        let dir = app.data_dir.join("mail").join("outbox");
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .find(|m| m.contains(&id) && m.contains("disabled") && m.contains(common::ADMIN_EMAIL))
    })
    .await;
    assert!(mailed.is_some(), "the admins are mailed");

    // Replaying the dead deliveries after the receiver is fixed and the endpoint enabled again.
    let rx2 = Receiver::start(rx.port, &temp.path().join("rx2"));
    json_ok(
        key.patch(app.url(&format!("/api/v1/admin/webhook-endpoints/{id}")))
            .json(&json!({"enabled": true}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    let since = first.plus(Duration::from_secs(0)).to_rfc3339();
    let r = post(
        &key,
        &app,
        &format!("/api/v1/admin/webhook-endpoints/{id}/replay"),
        &json!({"since": since}),
    )
    .await;
    assert_eq!(r.status(), 202);
    common::eventually(Duration::from_secs(10), || async {
        rx2.received()
            .iter()
            .any(|(w, _)| *w == paid_c)
            .then_some(())
    })
    .await
    .expect("the dead delivery was replayed");
    drop(rx2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_private_targets_at_registration_and_at_delivery() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("data");
    let app = spawn(false, &data).await;
    for url in [
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hook",
        "https://localhost./hook",
    ] {
        let r = app
            .admin_post_json(
                "/api/v1/admin/webhook-endpoints",
                &json!({"url": url, "events": ["*"]}),
            )
            .await;
        let p = problem(r, 422, "url_not_allowed").await;
        assert_eq!(p["errors"][0]["field"], "url", "{url}: {p}");
    }
    let r = app
        .admin_post_json(
            "/api/v1/admin/webhook-endpoints",
            &json!({"url": "http://example.com/hook", "events": ["*"]}),
        )
        .await;
    problem(r, 422, "url_not_allowed").await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/webhook-endpoints",
            &json!({"url": "https://example.com/h", "events": ["order.exploded"]}),
        )
        .await;
    problem(r, 422, "validation_failed").await;
    app.stop().await;

    // An endpoint registered while private targets were allowed is refused at delivery once
    // the setting is off.
    let app = spawn(true, &data).await;
    let rx = Receiver::start(common::free_port(), &temp.path().join("rx"));
    let e = json_ok(
        app.admin_post_json(
            "/api/v1/admin/webhook-endpoints",
            &json!({"url": rx.url(), "events": ["order.paid"]}),
        )
        .await,
    )
    .await;
    let id = e["id"].as_str().expect("id").to_owned();
    app.stop().await;
    let app = spawn(false, &data).await;
    let (_, v) = product(&app, "GUARD", 1, 10).await;
    let p = place(&app, &v[0], 1, "guard-1").await;
    json_ok(pay(&app, &p, "confirm", &card("4242424242424242")).await).await;
    let d = common::eventually(Duration::from_secs(10), || async {
        let v: Value = app
            .admin_get(&format!("/api/v1/admin/webhook-endpoints/{id}/deliveries"))
            .await
            .json()
            .await
            .ok()?;
        let d = v["data"][0].clone();
        d["attempts"][0]["error"].as_str().is_some().then_some(d)
    })
    .await
    .expect("an attempt");
    assert!(
        d["attempts"][0]["error"]
            .as_str()
            .expect("e")
            .contains("SSRF guard"),
        "{d}"
    );
    assert!(
        rx.received().is_empty(),
        "nothing reached the private address"
    );
    app.stop().await;
}
