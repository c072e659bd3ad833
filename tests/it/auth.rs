//! Identity over HTTP against the real server: accounts, tokens, cookies, rate limits, and
//! mail through a real SMTP server (roles, scopes and API keys: `auth_roles.rs`).

use crate::common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{SmtpSink, TestApp, bearer_client, link_token, problem};
use serde_json::{Value, json};

pub(crate) const PW: &str = "Tr0ub4dor&3-horse";

pub(crate) async fn register(app: &TestApp, email: &str) -> Value {
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": PW, "name": "Ann Lee"}),
        )
        .await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    r.json().await.expect("json")
}

pub(crate) async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

pub(crate) async fn tokens(app: &TestApp, email: &str) -> Value {
    let r = login(app, email, PW).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

/// Waits for mail to `to` (advancing the test clock so retries become due).
async fn wait_mail(app: &TestApp, sink: &SmtpSink, to: &str, n: usize) -> Vec<String> {
    for _ in 0..500 {
        let m = sink.to(to);
        if m.len() >= n {
            return m;
        }
        app.clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no mail to {to}; have {:?}", sink.messages().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_verify_login_refresh_logout_with_real_smtp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mails = tempfile::tempdir().expect("tempdir");
    let sink = SmtpSink::start(mails.path());
    let app = TestApp::spawn_with(common::smtp_config(dir.path(), sink.port), None).await;

    let c = register(&app, " Ann.Lee@Example.COM ").await;
    assert_eq!(c["email"], "ann.lee@example.com");
    assert_eq!(c["email_verified"], false);
    assert!(c["id"].as_str().is_some_and(|s| s.starts_with("cus_")));
    // Same address in another case is taken.
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "ANN.LEE@example.com", "password": PW, "name": "X"}),
        )
        .await;
    problem(r, 409, "email_taken").await;

    // The verification mail arrives over SMTP with a text and an HTML part.
    let m = wait_mail(&app, &sink, "ann.lee@example.com", 1).await;
    let mail = &m[0];
    assert!(common::header(mail, "Subject").is_some_and(|s| s.contains("Confirm your email")));
    assert!(
        common::header(mail, "Message-ID").is_some_and(|s| s.starts_with("<verify-email.job_"))
    );
    assert!(mail.contains("text/plain") && mail.contains("text/html"));
    let token = link_token(mail).expect("token in link");

    let r = app
        .post_json("/api/v1/auth/verify-email", &json!({"token": token}))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["email_verified"], true);
    // Single use.
    let r = app
        .post_json("/api/v1/auth/verify-email", &json!({"token": token}))
        .await;
    problem(r, 400, "invalid_token").await;
    // Welcome mail follows.
    let m = wait_mail(&app, &sink, "ann.lee@example.com", 2).await;
    assert!(
        m.iter()
            .any(|x| common::header(x, "Subject").is_some_and(|s| s.starts_with("Welcome")))
    );

    // Login (case-insensitive email) → /me → refresh → logout.
    let t = tokens(&app, "ANN.lee@example.com").await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    let access = t["access_token"].as_str().expect("access");
    let me: Value = bearer_client(access)
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["email"], "ann.lee@example.com");

    let r1 = t["refresh_token"].as_str().expect("refresh").to_owned();
    let r = app
        .post_json("/api/v1/auth/refresh", &json!({"refresh_token": r1}))
        .await;
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.expect("json");
    let r2 = t2["refresh_token"].as_str().expect("refresh").to_owned();
    assert_ne!(r1, r2);

    // Reusing the rotated token revokes the whole family: the fresh one dies too.
    let r = app
        .post_json("/api/v1/auth/refresh", &json!({"refresh_token": r1}))
        .await;
    problem(r, 401, "refresh_token_reused").await;
    let r = app
        .post_json("/api/v1/auth/refresh", &json!({"refresh_token": r2}))
        .await;
    problem(r, 401, "unauthenticated").await;

    // A new login; logout revokes it.
    let t3 = tokens(&app, "ann.lee@example.com").await;
    let r3 = t3["refresh_token"].as_str().expect("refresh").to_owned();
    let r = app
        .post_json("/api/v1/auth/logout", &json!({"refresh_token": r3}))
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .post_json("/api/v1/auth/refresh", &json!({"refresh_token": r3}))
        .await;
    problem(r, 401, "unauthenticated").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_hash_is_argon2id_with_owasp_parameters() {
    let app = TestApp::spawn().await;
    register(&app, "hash@example.com").await;
    // Read the stored PHC string through the library the server runs on (no API exposes it).
    let store_hash = app
        .auth
        .password_hash_of("hash@example.com")
        .expect("read")
        .expect("hash stored");
    let params = store_hash
        .strip_prefix("$argon2id$v=19$")
        .and_then(|r| r.split('$').next())
        .expect("argon2id PHC");
    let get = |k: &str| -> u64 {
        params
            .split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .expect("param")
    };
    assert!(get("m") >= 19456, "{store_hash}");
    assert!(get("t") >= 2, "{store_hash}");
    assert!(get("p") >= 1, "{store_hash}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_foreign_tokens_get_401() {
    let app = TestApp::spawn().await;
    register(&app, "tok@example.com").await;
    let t = tokens(&app, "tok@example.com").await;
    let access = t["access_token"].as_str().expect("access").to_owned();
    let get_me = |tok: String| {
        let app = &app;
        async move {
            bearer_client(&tok)
                .get(app.url("/api/v1/me"))
                .send()
                .await
                .expect("me")
        }
    };
    assert_eq!(get_me(access.clone()).await.status(), 200);

    let parts: Vec<&str> = access.split('.').collect();
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");

    // alg: none
    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let r = get_me(format!("{none}.{}.", parts[1])).await;
    assert!(r.headers().contains_key("www-authenticate"));
    problem(r, 401, "unauthenticated").await;

    // tampered signature
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("sig");
    sig[0] ^= 1;
    let r = get_me(format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(sig)
    ))
    .await;
    problem(r, 401, "unauthenticated").await;

    // tampered claims (role escalation) with the original signature
    let mut p2 = payload.clone();
    p2["role"] = json!("admin");
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&p2).expect("json"));
    let r = get_me(format!("{}.{forged}.{}", parts[0], parts[2])).await;
    problem(r, 401, "unauthenticated").await;

    // another audience, signed with the shop's real key
    let key_line = std::fs::read_to_string(app.data_dir.join("secrets/jwt.key")).expect("key");
    let secret = URL_SAFE_NO_PAD.decode(key_line.trim()).expect("b64");
    let other =
        shopd::domain::auth::Keys::new(std::slice::from_ref(&secret), "shopd", "some-other-api")
            .expect("keys");
    let now = shopd::core::Clock::now(&app.clock);
    let (foreign, _) = other
        .sign(
            payload["sub"].as_str().expect("sub"),
            payload["sid"].as_str().expect("sid"),
            "customer",
            now,
            900,
        )
        .expect("sign");
    problem(get_me(foreign).await, 401, "unauthenticated").await;
    // same key and audience: accepted (proves the previous rejection was the audience)
    let same = shopd::domain::auth::Keys::new(&[secret], "shopd", "shopd-api").expect("keys");
    let (ok, _) = same
        .sign(
            payload["sub"].as_str().expect("sub"),
            payload["sid"].as_str().expect("sid"),
            "customer",
            now,
            900,
        )
        .expect("sign");
    assert_eq!(get_me(ok).await.status(), 200);
    // same key and audience but `exp` ten years out: refused (life beyond the TTL + skew)
    let (long, _) = same
        .sign(
            payload["sub"].as_str().expect("sub"),
            payload["sid"].as_str().expect("sid"),
            "customer",
            now,
            10 * 365 * 24 * 3600,
        )
        .expect("sign");
    problem(get_me(long).await, 401, "unauthenticated").await;

    // past expiry
    app.clock.advance(Duration::from_secs(901));
    problem(get_me(access).await, 401, "unauthenticated").await;
    // garbage and no header
    problem(get_me("garbage".into()).await, 401, "unauthenticated").await;
    problem(app.get("/api/v1/me").await, 401, "unauthenticated").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_rate_limits_answer_429_and_recover() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = common::test_config(dir.path());
    cfg.auth.login_per_ip_per_minute = 8;
    cfg.auth.login_failures_per_account_per_hour = 3;
    let app = TestApp::spawn_with(cfg, None).await;
    register(&app, "rl@example.com").await; // 1 of 8 for this minute
    let retry_after = |r: &reqwest::Response| -> u64 {
        r.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("int")
    };

    // Per account and network: 3 free failures, the 4th makes the next try wait 1 s.
    for _ in 0..4 {
        problem(
            login(&app, "rl@example.com", "wrong-password").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let r = login(&app, "rl@example.com", PW).await;
    assert_eq!(retry_after(&r), 1);
    problem(r, 429, "rate_limited").await;

    // The owner on another network is not slowed down at all (127.0.0.2 is loopback too).
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let r = elsewhere
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "rl@example.com", "password": PW}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200, "the owner signs in from another network");

    // The delay doubles with each further failure from the first network.
    app.clock.advance(Duration::from_secs(1));
    problem(
        login(&app, "rl@example.com", "wrong-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    let r = login(&app, "rl@example.com", PW).await; // 8 of 8 for this minute
    assert_eq!(retry_after(&r), 2);
    problem(r, 429, "rate_limited").await;

    // Per IP: the minute's budget (8) is spent now, whatever the account.
    let r = login(&app, "nobody@example.com", "whatever-else").await;
    assert!(retry_after(&r) > 2, "the IP window, not the account delay");
    problem(r, 429, "rate_limited").await;

    // Next minute: IP budget back, the delay has passed, the right password works and clears it.
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(login(&app, "rl@example.com", PW).await.status(), 200);
    problem(
        login(&app, "rl@example.com", "wrong-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        login(&app, "rl@example.com", PW).await.status(),
        200,
        "one failure after a success is free again"
    );

    // An unknown account is slowed down exactly like a known one.
    for _ in 0..4 {
        problem(
            login(&app, "nobody@example.com", "wrong-password").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let r = login(&app, "nobody@example.com", "wrong-password").await;
    assert_eq!(retry_after(&r), 1);
    problem(r, 429, "rate_limited").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_emails_answer_like_known_ones() {
    let app = TestApp::spawn().await;
    register(&app, "known@example.com").await;
    for path in [
        "/api/v1/auth/password-reset",
        "/api/v1/auth/verify-email/resend",
    ] {
        let a = app
            .post_json(path, &json!({"email": "known@example.com"}))
            .await;
        let b = app
            .post_json(path, &json!({"email": "unknown@example.com"}))
            .await;
        assert_eq!(a.status(), 202);
        assert_eq!(a.status(), b.status());
        assert_eq!(a.text().await.expect("a"), b.text().await.expect("b"));
    }
    // Login errors do not say which part was wrong.
    let a: Value = login(&app, "known@example.com", "wrong-password")
        .await
        .json()
        .await
        .expect("json");
    let b: Value = login(&app, "unknown@example.com", "wrong-password")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(a, b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_revokes_every_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mails = tempfile::tempdir().expect("tempdir");
    let sink = SmtpSink::start(mails.path());
    let app = TestApp::spawn_with(common::smtp_config(dir.path(), sink.port), None).await;
    register(&app, "reset@example.com").await;
    let t = tokens(&app, "reset@example.com").await;
    let r = app
        .post_json(
            "/api/v1/auth/password-reset",
            &json!({"email": "reset@example.com"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let m = loop {
        let m: Vec<String> = wait_mail(&app, &sink, "reset@example.com", 2).await;
        if let Some(x) = m
            .iter()
            .find(|x| common::header(x, "Subject").is_some_and(|s| s.contains("Reset")))
        {
            break x.clone();
        }
    };
    let token = link_token(&m).expect("token");
    let r = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"token": token, "new_password": "password"}),
        )
        .await;
    let body = problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "too_common");
    let r = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"token": token, "new_password": "a-N3w-secret-phrase"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": t["refresh_token"]}),
        )
        .await;
    problem(r, 401, "unauthenticated").await;
    problem(
        login(&app, "reset@example.com", PW).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        login(&app, "reset@example.com", "a-N3w-secret-phrase")
            .await
            .status(),
        200
    );
    let r = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"token": token, "new_password": "another-Secret-9"}),
        )
        .await;
    problem(r, 400, "invalid_token").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_password_and_delete_account() {
    let app = TestApp::spawn().await;
    let c = register(&app, "del@example.com").await;
    let t = tokens(&app, "del@example.com").await;
    let me = bearer_client(t["access_token"].as_str().expect("t"));
    let r = me
        .post(app.url("/api/v1/me/password"))
        .json(&json!({"current_password": "nope-nope-nope", "new_password": "Another-pass-77"}))
        .send()
        .await
        .expect("send");
    problem(r, 422, "validation_failed").await;
    let r = me
        .post(app.url("/api/v1/me/password"))
        .json(&json!({"current_password": PW, "new_password": "Another-pass-77"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.expect("json");
    // The old session is gone, the returned one works.
    let r = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": t["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), 401);
    let me2 = bearer_client(t2["access_token"].as_str().expect("t"));
    let r = me2
        .delete(app.url("/api/v1/me"))
        .json(&json!({"password": "Another-pass-77"}))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    assert_eq!(
        me2.get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .status(),
        401
    );
    assert_eq!(
        login(&app, "del@example.com", "Another-pass-77")
            .await
            .status(),
        401
    );
    let id = c["id"].as_str().expect("id");
    assert_eq!(
        app.admin_get(&format!("/api/v1/admin/customers/{id}"))
            .await
            .status(),
        404
    );
    // The address is free again.
    register(&app, "del@example.com").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_sessions_need_csrf_on_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = common::test_config(dir.path());
    cfg.auth.cookie_secure = false;
    let app = TestApp::spawn_with(cfg, None).await;
    let c = register(&app, "cookie@example.com").await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .expect("client");
    let r = browser
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "cookie@example.com", "password": PW, "cookies": true}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200);
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let access = set
        .iter()
        .find(|c| c.starts_with("shopd_access="))
        .expect("access cookie");
    assert!(
        access.contains("HttpOnly") && access.contains("SameSite=Lax"),
        "{access}"
    );
    let csrf = set
        .iter()
        .find(|c| c.starts_with("shopd_csrf="))
        .and_then(|c| c.split(';').next())
        .and_then(|c| c.strip_prefix("shopd_csrf="))
        .expect("csrf cookie")
        .to_owned();
    // Reads work with the cookie alone.
    assert_eq!(
        browser
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .status(),
        200
    );
    let id = c["id"].as_str().expect("id");
    let url = app.url(&format!("/api/v1/customers/{id}"));
    // A write without the CSRF header (what a cross-site form would send) is refused.
    let r = browser
        .patch(&url)
        .json(&json!({"name": "CSRF"}))
        .send()
        .await
        .expect("patch");
    problem(r, 403, "csrf_failed").await;
    let r = browser
        .patch(&url)
        .header("x-csrf-token", "wrong")
        .json(&json!({"name": "CSRF"}))
        .send()
        .await
        .expect("patch");
    problem(r, 403, "csrf_failed").await;
    let r = browser
        .patch(&url)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "Cookie Monster"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_token_creates_the_first_admin_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = common::test_config(dir.path());
    let clock = shopd::core::TestClock::new(shopd::core::Timestamp::from_millis(1_795_000_000_000));
    let app = shopd::app::App::build(shopd::app::AppOptions {
        config: cfg,
        clock: std::sync::Arc::new(clock),
        fault: None,
        demo: false,
        tap: None,
    })
    .await
    .expect("build");
    let token = app
        .auth()
        .issue_setup_token()
        .await
        .expect("issue")
        .expect("no admin yet");
    // Another node starting on the same database prints a token of its own; both work.
    let other = app
        .auth()
        .issue_setup_token()
        .await
        .expect("issue")
        .expect("no admin yet");
    let base = app.base_url();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let c = reqwest::Client::new();
    let body = json!({"token": "setup_wrong", "email": "owner@example.com", "password": PW, "name": "Owner"});
    problem(
        c.post(format!("{base}/api/v1/auth/setup"))
            .json(&body)
            .send()
            .await
            .expect("send"),
        400,
        "invalid_token",
    )
    .await;
    let body =
        json!({"token": token, "email": "owner@example.com", "password": PW, "name": "Owner"});
    let r = c
        .post(format!("{base}/api/v1/auth/setup"))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.expect("json")["role"], "admin");
    let body =
        json!({"token": other, "email": "second@example.com", "password": PW, "name": "Second"});
    problem(
        c.post(format!("{base}/api/v1/auth/setup"))
            .json(&body)
            .send()
            .await
            .expect("send"),
        400,
        "invalid_token",
    )
    .await;
    let _ = tx.send(());
    task.await.expect("join").expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_auth_routes_with_errors() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    for (path, method, status) in [
        ("/api/v1/auth/register", "post", "422"),
        ("/api/v1/auth/login", "post", "429"),
        ("/api/v1/auth/refresh", "post", "401"),
        ("/api/v1/auth/logout", "post", "204"),
        ("/api/v1/auth/verify-email", "post", "400"),
        ("/api/v1/auth/password-reset", "post", "202"),
        ("/api/v1/auth/password-reset/confirm", "post", "422"),
        ("/api/v1/auth/setup", "post", "400"),
        ("/api/v1/me", "get", "401"),
        ("/api/v1/me/password", "post", "422"),
        ("/api/v1/customers/{id}", "get", "404"),
        ("/api/v1/admin/customers", "get", "403"),
        ("/api/v1/admin/api-keys", "post", "403"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"][status].is_object(),
            "{method} {path} lacks {status}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_upgrades_a_hash_made_with_weaker_parameters() {
    use shopd::domain::auth::{Auth, AuthSettings, HashParams, Keys, Role};
    let dir = tempfile::tempdir().expect("tempdir");
    // An account written by an older build with weak argon2 settings.
    {
        let clock: std::sync::Arc<dyn shopd::core::Clock> =
            std::sync::Arc::new(shopd::core::SystemClock);
        let store = shopd::storage::Store::open(crate::common::backend::store_options(
            dir.path(),
            clock.clone(),
            shopd::app::SCHEMA,
        ))
        .expect("open");
        let keys = Keys::load_or_create(&dir.path().join("secrets"), "", "shopd", "shopd-api")
            .expect("keys");
        let weak = AuthSettings {
            access_ttl_secs: 900,
            refresh_ttl: Duration::from_secs(3600),
            verify_ttl: Duration::from_secs(3600),
            reset_ttl: Duration::from_secs(3600),
            hash: HashParams {
                memory_kib: 4096,
                iterations: 1,
                parallelism: 1,
            },
            hashing_concurrency: 1,
            account_failures_per_hour: 100,
            public_url: "http://localhost".into(),
            shop_name: "old".into(),
        };
        let old = Auth::new(store.clone(), clock, keys, weak).expect("auth");
        old.create_account("old@example.com", PW, "Old Timer", Role::Customer)
            .await
            .expect("create");
        let h = old
            .password_hash_of("old@example.com")
            .expect("read")
            .expect("hash");
        assert!(h.contains("m=4096,t=1"), "{h}");
        drop(old);
        store.shutdown().await;
    }
    let app = TestApp::spawn_in(dir.path(), None).await;
    assert_eq!(login(&app, "old@example.com", PW).await.status(), 200);
    let h = app
        .auth
        .password_hash_of("old@example.com")
        .expect("read")
        .expect("hash");
    assert!(
        h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "upgraded at login: {h}"
    );
    assert_eq!(
        login(&app, "old@example.com", PW).await.status(),
        200,
        "new hash verifies"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_links_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mails = tempfile::tempdir().expect("tempdir");
    let sink = SmtpSink::start(mails.path());
    let app = TestApp::spawn_with(common::smtp_config(dir.path(), sink.port), None).await;
    register(&app, "late@example.com").await;
    let m = wait_mail(&app, &sink, "late@example.com", 1).await;
    let token = link_token(&m[0]).expect("token");
    app.clock.advance(Duration::from_secs(25 * 3600));
    let r = app
        .post_json("/api/v1/auth/verify-email", &json!({"token": token}))
        .await;
    problem(r, 400, "invalid_token").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_session_revokes_its_access_tokens() {
    let app = TestApp::spawn().await;
    register(&app, "sid@example.com").await;
    let t = tokens(&app, "sid@example.com").await;
    let c = bearer_client(t["access_token"].as_str().expect("t"));
    assert_eq!(
        c.get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .status(),
        200
    );
    let r = app
        .post_json(
            "/api/v1/auth/logout",
            &json!({"refresh_token": t["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = c.get(app.url("/api/v1/me")).send().await.expect("me");
    problem(r, 401, "unauthenticated").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_their_absolute_lifetime() {
    let app = TestApp::spawn().await;
    register(&app, "long@example.com").await;
    let mut rt = tokens(&app, "long@example.com").await["refresh_token"].clone();
    for days in [20u64, 9] {
        app.clock.advance(Duration::from_secs(days * 24 * 3600));
        let r = app
            .post_json("/api/v1/auth/refresh", &json!({"refresh_token": rt}))
            .await;
        assert_eq!(r.status(), 200, "rotation within 30 days of sign-in");
        rt = r.json::<Value>().await.expect("json")["refresh_token"].clone();
    }
    app.clock.advance(Duration::from_secs(2 * 24 * 3600));
    let r = app
        .post_json("/api/v1/auth/refresh", &json!({"refresh_token": rt}))
        .await;
    problem(r, 401, "unauthenticated").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_reset_links_die_with_a_password_change_and_guessing_is_throttled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mails = tempfile::tempdir().expect("tempdir");
    let sink = SmtpSink::start(mails.path());
    let mut cfg = common::smtp_config(dir.path(), sink.port);
    cfg.auth.login_failures_per_account_per_hour = 3;
    let app = TestApp::spawn_with(cfg, None).await;
    register(&app, "two@example.com").await;
    for _ in 0..2 {
        let r = app
            .post_json(
                "/api/v1/auth/password-reset",
                &json!({"email": "two@example.com"}),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    let mails: Vec<String> = wait_mail(&app, &sink, "two@example.com", 3).await;
    let resets: Vec<String> = mails
        .iter()
        .filter(|m| common::header(m, "Subject").is_some_and(|s| s.contains("Reset")))
        .filter_map(|m| link_token(m))
        .collect();
    assert_eq!(resets.len(), 2);
    let r = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"token": resets[0], "new_password": "first-New-pass-1"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"token": resets[1], "new_password": "second-New-pass-2"}),
        )
        .await;
    problem(r, 400, "invalid_token").await;

    // Guessing the current password through change-password counts as failed logins: past the
    // free ones (3 here), the next try from this network has to wait.
    let t = tokens_with(&app, "two@example.com", "first-New-pass-1").await;
    let c = bearer_client(t["access_token"].as_str().expect("t"));
    for _ in 0..4 {
        let r = c
            .post(app.url("/api/v1/me/password"))
            .json(&json!({"current_password": "guess-guess-1", "new_password": "whatever-Pass-9"}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 422);
    }
    let r = c
        .post(app.url("/api/v1/me/password"))
        .json(&json!({"current_password": "first-New-pass-1", "new_password": "whatever-Pass-9"}))
        .send()
        .await
        .expect("send");
    problem(r, 429, "rate_limited").await;
    app.stop().await;
}

/// Look-alike addresses with invisible characters are refused (422), and an accented address
/// written two ways in Unicode is one account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_cannot_make_look_alike_accounts() {
    let app = TestApp::spawn().await;
    register(&app, "jos\u{E9}@example.com").await;
    for bad in [
        "ad\u{200B}min@shopd.test",
        "admin\u{200D}@shopd.test",
        "ad\u{2060}min@shopd.test",
        "\u{FEFF}admin@shopd.test",
        "admin@shop\u{200C}d.test",
        "ad\u{202E}nim@shopd.test",
    ] {
        let r = app
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": bad, "password": PW, "name": "Mallory"}),
            )
            .await;
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], "email", "{bad:?}: {p}");
    }
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "JOSE\u{301}@example.com", "password": PW, "name": "Twin"}),
        )
        .await;
    problem(r, 409, "email_taken").await;
    app.stop().await;
}

pub(crate) async fn tokens_with(app: &TestApp, email: &str, password: &str) -> Value {
    let r = login(app, email, password).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}
