//! Experiments over real HTTP: staff define and run them, refusals name their fields, and a
//! subject's arm is the same on every call, for the cookie visitor, the signed-in customer and
//! a server-side subject — and after a restart.

use crate::common::shop::customer_buys;
use serde_json::{Value, json};

use crate::common::{TestApp, bearer_client, problem};

async fn patch(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.admin
        .patch(app.url(&format!("/api/v1/admin/experiments/{key}")))
        .json(&body)
        .send()
        .await
        .expect("PATCH")
}

async fn arm_of(app: &TestApp, key: &str, subject: &str) -> Value {
    app.admin
        .get(app.url(&format!(
            "/api/v1/experiments/{key}/assignment?subject={subject}"
        )))
        .send()
        .await
        .expect("GET")
        .json::<Value>()
        .await
        .expect("json")["variant"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_define_and_run_experiments() {
    let app = TestApp::spawn().await;
    let r = app
        .admin_post_json(
            "/api/v1/admin/experiments",
            &json!({"key": "big-button", "description": "A bigger add-to-cart button"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("etag"));
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["status"], "draft");
    assert_eq!(
        e["variants"],
        json!([{"key": "control", "weight": 1}, {"key": "treatment", "weight": 1}])
    );
    assert_eq!(e["metrics"]["primary"], "order_paid");

    let again = app
        .admin_post_json("/api/v1/admin/experiments", &json!({"key": "big-button"}))
        .await;
    problem(again, 409, "conflict").await;
    let bad = app
        .admin_post_json(
            "/api/v1/admin/experiments",
            &json!({"key": "Bad Key", "variants": [{"key": "a", "weight": 0}],
                    "metrics": {"primary": "happiness"}}),
        )
        .await;
    let p = problem(bad, 422, "validation_failed").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        ["key", "variants", "variants[0].weight", "metrics.primary"]
    );

    // Customers neither see nor change experiments.
    let shopper = bearer_client(&app.customer_token("shopper@example.com").await);
    let r = shopper
        .get(app.url("/api/v1/admin/experiments"))
        .send()
        .await
        .expect("GET");
    problem(r, 403, "forbidden").await;

    // A draft assigns nobody; running assigns; arms are fixed once it runs.
    assert_eq!(arm_of(&app, "big-button", "s-1").await, Value::Null);
    let r = patch(&app, "big-button", json!({"status": "running"})).await;
    assert_eq!(r.status(), 200);
    let running: Value = r.json().await.expect("json");
    assert!(running["started_at"].is_string());
    assert!(arm_of(&app, "big-button", "s-1").await.is_string());
    let r = patch(
        &app,
        "big-button",
        json!({"variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]}),
    )
    .await;
    problem(r, 409, "conflict").await;
    let r = app
        .admin
        .patch(app.url("/api/v1/admin/experiments/big-button"))
        .header("If-Match", "\"exp_x.1\"")
        .json(&json!({"description": "stale"}))
        .send()
        .await
        .expect("PATCH");
    problem(r, 412, "precondition_failed").await;
    let r = patch(&app, "big-button", json!({"status": "paused"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        arm_of(&app, "big-button", "s-1").await,
        Value::Null,
        "paused"
    );
    let r = patch(&app, "big-button", json!({"status": "stopped"})).await;
    assert_eq!(r.status(), 200);
    let r = patch(&app, "big-button", json!({"status": "running"})).await;
    problem(r, 409, "conflict").await;
    let list: Value = app
        .admin
        .get(app.url("/api/v1/admin/experiments"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(list["data"][0]["status"], "stopped");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_keeps_its_arm_across_calls_audiences_and_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_in(dir.path(), None).await;
    crate::common::experiments::create(&app, json!({"key": "layout", "status": "running",
                    "variants": [{"key": "grid", "weight": 1}, {"key": "list", "weight": 1}, {"key": "cards", "weight": 2}]})).await;
    let mut before = Vec::new();
    for i in 0..60 {
        before.push(arm_of(&app, "layout", &format!("subject-{i}")).await);
    }
    let arms: std::collections::BTreeSet<String> = before
        .iter()
        .map(|v| v.as_str().expect("an arm").to_owned())
        .collect();
    assert_eq!(arms.len(), 3, "60 subjects reach every arm: {arms:?}");

    // An anonymous visitor gets a cookie on the first call and keeps its arm with it.
    let visitor = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let url = app.url("/api/v1/experiments/layout/assignment");
    let first = visitor.get(&url).send().await.expect("GET");
    let cookie = first
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a visitor cookie")
        .to_owned();
    assert!(cookie.starts_with("shopd_vid=") && cookie.contains("HttpOnly"));
    let first: Value = first.json().await.expect("json");
    for _ in 0..5 {
        let again = visitor.get(&url).send().await.expect("GET");
        assert!(
            again.headers().get("set-cookie").is_none(),
            "the cookie is kept"
        );
        let again: Value = again.json().await.expect("json");
        assert_eq!(again["subject"], first["subject"]);
        assert_eq!(again["variant"], first["variant"]);
    }
    // A signed-in customer by account; naming a subject is for staff and keys only.
    let customer = bearer_client(&app.customer_token("c@example.com").await);
    let a: Value = customer
        .get(&url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert!(
        a["subject"]
            .as_str()
            .expect("subject")
            .starts_with("c:cus_")
    );
    let r = customer
        .get(format!("{url}?subject=someone-else"))
        .send()
        .await
        .expect("GET");
    problem(r, 403, "forbidden").await;
    // A signed-in-only experiment leaves anonymous visitors out.
    crate::common::experiments::create(
        &app,
        json!({"key": "members", "status": "running", "audience": "signed_in"}),
    )
    .await;
    let members = app.url("/api/v1/experiments/members/assignment");
    let anon: Value = visitor
        .get(&members)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(anon["variant"], Value::Null);
    let signed: Value = customer
        .get(&members)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert!(signed["variant"].is_string());

    // After a restart on the same data dir, every subject has the arm it had.
    app.stop().await;
    let app = TestApp::spawn_in(dir.path(), None).await;
    for (i, was) in before.iter().enumerate() {
        assert_eq!(
            &arm_of(&app, "layout", &format!("subject-{i}")).await,
            was,
            "subject-{i}"
        );
    }
    app.stop().await;
}

async fn event(app: &TestApp, body: Value) -> reqwest::Response {
    app.admin
        .post(app.url("/api/v1/experiments/events"))
        .json(&body)
        .send()
        .await
        .expect("POST")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposures_and_conversions_become_results() {
    let app = TestApp::spawn().await;
    crate::common::experiments::create(
        &app,
        json!({"key": "signup", "status": "running",
                    "metrics": {"primary": "custom:signup", "guardrails": ["add_to_cart"]}}),
    )
    .await;
    // A conversion before the exposure is not the arm's doing.
    assert_eq!(
        event(&app, json!({"type": "custom:signup", "subject": "early"}))
            .await
            .status(),
        202
    );
    let mut expected = std::collections::BTreeMap::new();
    for i in 0..400 {
        let s = format!("u{i}");
        let arm = arm_of(&app, "signup", &s).await;
        let arm = arm.as_str().expect("an arm").to_owned();
        let r = event(
            &app,
            json!({"type": "exposure", "experiment": "signup", "subject": s}),
        )
        .await;
        assert_eq!(r.status(), 202);
        // Exposed twice, counted once.
        event(
            &app,
            json!({"type": "exposure", "experiment": "signup", "subject": s}),
        )
        .await;
        let converts = if arm == "treatment" {
            i % 10 < 3
        } else {
            i % 10 < 2
        };
        if converts {
            event(&app, json!({"type": "custom:signup", "subject": s})).await;
            event(&app, json!({"type": "custom:signup", "subject": s})).await;
        }
        let e = expected.entry(arm).or_insert((0u64, 0u64));
        e.0 += 1;
        e.1 += u64::from(converts);
    }
    event(
        &app,
        json!({"type": "exposure", "experiment": "signup", "subject": "early"}),
    )
    .await;
    let control = expected.get("control").copied().unwrap_or_default();
    let treatment = expected.get("treatment").copied().unwrap_or_default();
    let results = |method: &'static str| {
        let app = &app;
        async move {
            crate::common::experiments::results(app, "signup", &format!("?method={method}"))
                .await
                .expect("results")
        }
    };
    let fixed = crate::common::experiments::results_with(&app, "signup", "?method=fixed", 401)
        .await
        .expect("the batched events are written within a flush");
    let primary = &fixed["metrics"][0];
    assert_eq!(primary["metric"], "custom:signup");
    assert_eq!(primary["test"], "two_proportion_z");
    let c = &primary["variants"][0];
    let t = &primary["variants"][1];
    assert_eq!(c["variant"], "control");
    // "early" converted before its exposure: its arm has one more subject, no more conversions.
    let early_arm = arm_of(&app, "signup", "early").await;
    let extra = |arm: &str| u64::from(early_arm == arm);
    assert_eq!(c["subjects"], control.0 + extra("control"));
    assert_eq!(c["total"].as_f64(), Some(control.1 as f64));
    assert_eq!(t["subjects"], treatment.0 + extra("treatment"));
    assert_eq!(
        t["total"].as_f64(),
        Some(treatment.1 as f64),
        "a subject converts once"
    );
    let z = shopd::domain::experiments::stats::two_proportion_z(
        (control.0 + extra("control"), control.1),
        (treatment.0 + extra("treatment"), treatment.1),
    );
    let p = t["p_value"].as_f64().expect("p");
    assert!((p - z.p_value).abs() < 1e-12, "{p} against {}", z.p_value);
    assert_eq!(fixed["srm"]["mismatch"], false);
    assert_eq!(fixed["metrics"][1]["metric"], "add_to_cart");
    // The sequential answer is the default and never less cautious.
    let seq = results("sequential").await;
    let sp = seq["metrics"][0]["variants"][1]["p_value"]
        .as_f64()
        .expect("p");
    assert!(sp >= p, "sequential {sp} against fixed {p}");
    let (lo, hi) = (
        seq["metrics"][0]["variants"][1]["absolute_lift"]["low"]
            .as_f64()
            .expect("low"),
        t["absolute_lift"]["low"].as_f64().expect("low"),
    );
    assert!(lo < hi, "the sequence is wider");

    // Refusals.
    let r = event(&app, json!({"type": "exposure"})).await;
    problem(r, 422, "validation_failed").await;
    let r = event(&app, json!({"type": "exposure", "experiment": "nope"})).await;
    problem(r, 404, "not_found").await;
    let r = event(&app, json!({"type": "order_paid"})).await;
    problem(r, 422, "validation_failed").await;
    // An anonymous visitor gets its cookie with the first event.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/experiments/events"))
        .json(&json!({"type": "exposure", "experiment": "signup"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 202);
    assert!(r.headers().get("set-cookie").is_some());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_counts_for_the_arm_its_customer_saw_once() {
    let app = TestApp::spawn().await;
    crate::common::experiments::create(
        &app,
        json!({"key": "banner", "status": "running",
                    "metrics": {"primary": "order_paid", "guardrails": ["revenue", "orders"]}}),
    )
    .await;
    let (_, variants) = crate::common::shop::product(&app, "EXP", 1, 10).await;
    let alice = bearer_client(&app.customer_token("alice@example.com").await);
    // Paid before the exposure: not the arm's doing.
    customer_buys(&app, &alice, &[(&variants[0], 1)], "before").await;
    let r = alice
        .post(app.url("/api/v1/experiments/events"))
        .json(&json!({"type": "exposure", "experiment": "banner"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 202);
    // Let the exposure be written, and the clock move past it, before the next order.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    app.clock.advance(std::time::Duration::from_secs(1));
    let total = customer_buys(&app, &alice, &[(&variants[0], 1)], "after").await;
    let arm: Value = alice
        .get(app.url("/api/v1/experiments/banner/assignment"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let arm = arm["variant"].as_str().expect("an arm").to_owned();
    let results = crate::common::eventually(std::time::Duration::from_secs(15), || async {
        let r: Value = app
            .admin
            .get(app.url("/api/v1/admin/experiments/banner/results?method=fixed"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let row = |m: usize| {
            r["metrics"][m]["variants"]
                .as_array()
                .and_then(|v| v.iter().find(|x| x["variant"] == arm.as_str()).cloned())
        };
        (row(0)?["total"].as_f64()? >= 1.0).then(|| (row(0), row(1), row(2)))
    })
    .await
    .expect("the paid order is counted");
    let (paid, revenue, orders) = results;
    let (paid, revenue, orders) = (
        paid.expect("paid"),
        revenue.expect("revenue"),
        orders.expect("orders"),
    );
    assert_eq!(paid["subjects"], 1);
    assert_eq!(paid["total"].as_f64(), Some(1.0));
    assert_eq!(
        revenue["total"].as_f64(),
        Some(total as f64),
        "only the order after the exposure"
    );
    assert_eq!(orders["total"].as_f64(), Some(1.0));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_run_an_experiment_from_the_admin_and_read_its_results() {
    use crate::common::pages::{browser, csrf, location, page, post, sign_in};
    let app = TestApp::spawn().await;
    let staff = browser();
    sign_in(
        &staff,
        &app,
        crate::common::ADMIN_EMAIL,
        crate::common::ADMIN_PASSWORD,
    )
    .await;
    let (s, html) = page(&staff, &app, "/admin/experiments").await;
    assert_eq!(s, 200);
    let token = csrf(&html);
    let mut form = vec![
        ("_csrf", token.as_str()),
        ("key", "hero"),
        ("description", "A calmer hero image"),
        ("variants", "control:1, calm:lots"),
        ("audience", "everyone"),
        ("primary", "custom:signup"),
        ("guardrails", "add_to_cart"),
        ("starts_at", "2026-01-01"),
        ("ends_at", "next week"),
    ];
    let r = post(&staff, &app, "/admin/experiments", &form).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("body").contains("key:weight"));
    form[3] = ("variants", "control:1, calm:1");
    let r = post(&staff, &app, "/admin/experiments", &form).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("body").contains("YYYY-MM-DD"));
    form[8] = ("ends_at", "2030-01-01");
    let r = post(&staff, &app, "/admin/experiments", &form).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/experiments/hero");
    let (_, html) = page(&staff, &app, "/admin/experiments/hero").await;
    assert!(html.contains(">Start</button>"), "{html}");
    assert!(
        html.contains("from 2026-01-01")
            && html.contains("until 2030-01-01")
            && html.contains("guardrails add_to_cart"),
        "dates and metrics shown: {html}"
    );
    let r = post(
        &staff,
        &app,
        "/admin/experiments/hero/status",
        &[("_csrf", &token), ("status", "running")],
    )
    .await;
    assert_eq!(r.status(), 303);
    for i in 0..60 {
        let s = format!("p{i}");
        event(
            &app,
            json!({"type": "exposure", "experiment": "hero", "subject": s}),
        )
        .await;
        if i % 3 == 0 {
            event(&app, json!({"type": "custom:signup", "subject": s})).await;
        }
    }
    let html = crate::common::eventually(std::time::Duration::from_secs(10), || async {
        let (_, html) = page(&staff, &app, "/admin/experiments/hero").await;
        html.contains("<svg class=\"chart\"")
            .then_some(html)
            .filter(|h| !h.contains(">0</td>"))
    })
    .await
    .expect("results with subjects");
    assert!(html.contains("role=\"img\"") && html.contains("Relative lift of custom:signup"));
    assert!(html.contains("Always-valid intervals"));
    let (_, fixed) = page(&staff, &app, "/admin/experiments/hero?method=fixed").await;
    assert!(fixed.contains("two proportion z"));
    // Stopping asks first.
    let r = post(
        &staff,
        &app,
        "/admin/experiments/hero/status",
        &[("_csrf", &token), ("status", "stopped")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("Please confirm"));
    let r = post(
        &staff,
        &app,
        "/admin/experiments/hero/status",
        &[("_csrf", &token), ("status", "stopped"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, html) = page(&staff, &app, "/admin/experiments").await;
    assert!(html.contains("<td>stopped</td>"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuped_uses_customers_orders_before_the_start() {
    let app = TestApp::spawn().await;
    let (_, variants) = crate::common::shop::product(&app, "CUP", 1, 100).await;
    let mut customers = Vec::new();
    // Customers who bought more before buy more after: revenue before explains revenue after.
    for i in 0..8usize {
        // Registrations are rate limited per address: let the test clock move on.
        app.clock.advance(std::time::Duration::from_secs(61));
        let c = bearer_client(&app.customer_token(&format!("c{i}@example.com")).await);
        for k in 0..(i % 4) {
            customer_buys(&app, &c, &[(&variants[0], 1)], &format!("pre-{i}-{k}")).await;
        }
        customers.push(c);
    }
    // Payments settle in the background under load: wait until the 12 earlier orders are paid.
    let paid = crate::common::eventually(std::time::Duration::from_secs(20), || async {
        let r: Value = app
            .admin
            .get(app.url("/api/v1/admin/orders?status=paid&per_page=100"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (r["data"].as_array()?.len() == 12).then_some(())
    })
    .await;
    assert!(paid.is_some(), "the earlier orders are paid");
    app.clock.advance(std::time::Duration::from_secs(60));
    crate::common::experiments::create(
        &app,
        json!({"key": "loyal", "status": "running",
                    "metrics": {"primary": "revenue", "guardrails": ["orders"]}}),
    )
    .await;
    for c in &customers {
        let r = c
            .post(app.url("/api/v1/experiments/events"))
            .json(&json!({"type": "exposure", "experiment": "loyal"}))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 202);
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    app.clock.advance(std::time::Duration::from_secs(60));
    for (i, c) in customers.iter().enumerate() {
        for k in 0..(i % 4) {
            customer_buys(&app, c, &[(&variants[0], 1)], &format!("post-{i}-{k}")).await;
        }
    }
    let get = |cuped: bool| {
        let (c, url) = (
            app.admin.clone(),
            app.url(&format!(
                "/api/v1/admin/experiments/loyal/results?method=fixed&cuped={cuped}"
            )),
        );
        async move {
            c.get(url)
                .send()
                .await
                .expect("GET")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let with = crate::common::eventually(std::time::Duration::from_secs(15), || async {
        let r = get(true).await;
        let total: f64 = r["metrics"][1]["variants"]
            .as_array()?
            .iter()
            .filter_map(|v| v["total"].as_f64())
            .sum();
        // 0+1+2+3 twice over the eight customers: 12 orders after the start.
        (total == 12.0).then_some(r)
    })
    .await
    .expect("every order after the start is counted");
    let revenue = &with["metrics"][0];
    assert_eq!(revenue["metric"], "revenue");
    let c = &revenue["cuped"];
    let reduction = c["variance_reduction"]
        .as_f64()
        .unwrap_or_else(|| panic!("CUPED applied to revenue: {with}"));
    assert!(reduction > 0.9, "the pre-period explains the revenue: {c}");
    assert!(
        (c["theta"].as_f64().expect("theta") - 1.0).abs() < 0.05,
        "{c}"
    );
    assert_eq!(revenue["test"], "welch_t");
    let without = get(false).await;
    assert!(without["metrics"][0]["cuped"].is_null());
    // The values shown are the metric as measured either way.
    assert_eq!(
        without["metrics"][0]["variants"][0]["total"],
        revenue["variants"][0]["total"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_writes_the_queued_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_in(dir.path(), None).await;
    crate::common::experiments::create(&app, json!({"key": "quick", "status": "running"})).await;
    for i in 0..25 {
        let r = event(
            &app,
            json!({"type": "exposure", "experiment": "quick", "subject": format!("q{i}")}),
        )
        .await;
        assert_eq!(r.status(), 202);
    }
    // Stopped at once, well inside the 500 ms flush interval.
    app.stop().await;
    let app = TestApp::spawn_in(dir.path(), None).await;
    let r: Value = app
        .admin
        .get(app.url("/api/v1/admin/experiments/quick/results"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let subjects: u64 = r["metrics"][0]["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["subjects"].as_u64().expect("subjects"))
        .sum();
    assert_eq!(
        subjects, 25,
        "every accepted event was written before the store closed"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_events_with_values_sum_per_subject() {
    let app = TestApp::spawn().await;
    crate::common::experiments::create(
        &app,
        json!({"key": "basket", "status": "running",
                    "metrics": {"primary": "value:items", "guardrails": ["custom:items"]}}),
    )
    .await;
    let mut sums: std::collections::BTreeMap<String, (u64, i64)> = Default::default();
    for i in 0..40 {
        let s = format!("s{i}");
        let arm = arm_of(&app, "basket", &s).await;
        let arm = arm.as_str().expect("an arm").to_owned();
        let r = event(
            &app,
            json!({"type": "exposure", "experiment": "basket", "subject": s}),
        )
        .await;
        assert_eq!(r.status(), 202);
        // Two events each: the values add up; `custom:items` counts the subject once.
        for v in [i % 5, 2] {
            let r = event(
                &app,
                json!({"type": "custom:items", "subject": s, "value": v}),
            )
            .await;
            assert_eq!(r.status(), 202);
        }
        let e = sums.entry(arm).or_default();
        e.0 += 1;
        e.1 += i64::from(i % 5 + 2);
    }
    // The last subject's values may reach the results a batch after its exposure: wait for
    // the totals too (a lost value then fails the comparison below, naming the arm).
    let expected: i64 = sums.values().map(|(_, t)| t).sum();
    let summed = |r: &Value| -> i64 {
        r["metrics"][0]["variants"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v["total"].as_f64().unwrap_or(0.0) as i64)
            .sum()
    };
    let got = crate::common::experiments::results_when(&app, "basket", "?method=fixed", |r| {
        crate::common::experiments::subjects(r) == 40 && summed(r) == expected
    })
    .await;
    let got = match got {
        Some(r) => r,
        None => crate::common::experiments::results(&app, "basket", "?method=fixed")
            .await
            .expect("results"),
    };
    let primary = &got["metrics"][0];
    assert_eq!(primary["metric"], "value:items");
    assert_eq!(
        primary["test"], "welch_t",
        "a sum is a mean per subject: {primary}"
    );
    for v in primary["variants"].as_array().expect("variants") {
        let (n, total) = sums[v["variant"].as_str().expect("variant")];
        assert_eq!(v["subjects"], n);
        assert_eq!(v["total"].as_f64(), Some(total as f64), "{v}");
    }
    let guard = &got["metrics"][1];
    for v in guard["variants"].as_array().expect("variants") {
        assert_eq!(
            v["total"],
            v["subjects"].as_f64().expect("n"),
            "each subject once: {v}"
        );
    }
    // A value belongs to custom events only, and is bounded.
    let r = event(
        &app,
        json!({"type": "add_to_cart", "subject": "s1", "value": 3}),
    )
    .await;
    crate::common::problem(r, 422, "validation_failed").await;
    let r = event(
        &app,
        json!({"type": "custom:items", "subject": "s1", "value": -1}),
    )
    .await;
    crate::common::problem(r, 422, "validation_failed").await;
    app.stop().await;
}
