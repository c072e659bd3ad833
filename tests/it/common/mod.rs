//! Test harness: the real app in-process on port 0 with a temporary data dir and a test clock,
//! and the real binary as a child process for CLI, signal and crash tests.

pub mod backend;
pub mod contract;
pub mod experiments;
pub mod pages;
pub mod shop;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shopd::app::{App, AppOptions};
use shopd::config::Config;
use shopd::core::{TestClock, Timestamp};
use shopd::storage::FaultSwitch;

/// Admin account every test app and test binary run gets.
pub const ADMIN_EMAIL: &str = "admin@shopd.test";
/// Its password.
pub const ADMIN_PASSWORD: &str = "Adm1n-Passw0rd!x";

/// A running in-process shop.
pub struct TestApp {
    pub base: String,
    /// Anonymous client.
    pub client: reqwest::Client,
    /// Client sending the admin's bearer token.
    pub admin: reqwest::Client,
    /// That token, for outside clients.
    pub admin_token: String,
    /// The server's auth service (to inspect what no API exposes, e.g. stored hashes).
    pub auth: shopd::domain::auth::Auth,
    pub clock: TestClock,
    pub data_dir: PathBuf,
    /// Every answer this app sends is checked against the OpenAPI document; a difference
    /// fails the test when the app is stopped or dropped.
    pub contract: contract::Contract,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _temp: Option<tempfile::TempDir>,
}

/// Configuration used by in-process tests.
pub fn test_config(data_dir: &Path) -> Config {
    let mut cfg = Config::default();
    cfg.server.bind = "127.0.0.1:0".into();
    cfg.server.workers = 2;
    cfg.server.shutdown_timeout_secs = 5;
    cfg.storage.data_dir = data_dir.display().to_string();
    cfg.diagnostics.enabled = true;
    cfg.jobs.backoff_base_ms = 10;
    backend::configure(&mut cfg);
    cfg
}

impl TestApp {
    /// Starts on a fresh temporary data dir.
    pub async fn spawn() -> TestApp {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().to_path_buf();
        let mut app = Self::spawn_in(&dir, None).await;
        app._temp = Some(temp);
        app
    }

    /// Starts on `dir` (kept by the caller), optionally over a fault-injecting backend.
    pub async fn spawn_in(dir: &Path, fault: Option<FaultSwitch>) -> TestApp {
        Self::spawn_with(test_config(dir), fault).await
    }

    /// Starts with an explicit configuration.
    pub async fn spawn_with(cfg: Config, fault: Option<FaultSwitch>) -> TestApp {
        Self::spawn_opts(cfg, fault, false).await
    }

    /// Starts on a fresh temporary data dir with the demo shop (catalog, stock, rules).
    pub async fn spawn_demo() -> TestApp {
        let temp = tempfile::tempdir().expect("tempdir");
        let mut app = Self::spawn_opts(test_config(temp.path()), None, true).await;
        app._temp = Some(temp);
        app
    }

    /// Starts the demo shop with `cfg` (its data dir kept by the caller).
    pub async fn spawn_demo_with(cfg: Config) -> TestApp {
        Self::spawn_opts(cfg, None, true).await
    }

    async fn spawn_opts(cfg: Config, fault: Option<FaultSwitch>, demo: bool) -> TestApp {
        let clock = TestClock::new(Timestamp::from_millis(1_795_000_000_000));
        let data_dir = cfg.data_dir();
        let (contract, tap) = contract::Contract::new();
        let app = App::build(AppOptions {
            config: cfg,
            clock: Arc::new(clock.clone()),
            fault,
            demo,
            tap: Some(tap),
        })
        .await
        .expect("app builds");
        let base = app.base_url();
        match app
            .auth()
            .create_account(
                ADMIN_EMAIL,
                ADMIN_PASSWORD,
                "Test Admin",
                shopd::domain::auth::Role::Admin,
            )
            .await
        {
            Ok(_) | Err(shopd::domain::auth::AuthError::EmailTaken) => {}
            Err(e) => panic!("creating the test admin: {e}"),
        }
        let admin_token = app
            .auth()
            .login(ADMIN_EMAIL, ADMIN_PASSWORD, "127.0.0.1")
            .await
            .expect("admin login")
            .access_token;
        let auth = app.auth().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_idle_timeout(IDLE)
                .build()
                .expect("client"),
            admin: bearer_client(&admin_token),
            admin_token,
            auth,
            clock,
            data_dir,
            contract,
            stop: Some(tx),
            task: Some(task),
            _temp: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.admin.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn admin_post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.admin
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Registers a customer and returns an access token for it.
    pub async fn customer_token(&self, email: &str) -> String {
        let password = "Tr0ub4dor&3-horse";
        let r = self
            .post_json(
                "/api/v1/auth/register",
                &serde_json::json!({"email": email, "password": password, "name": "Shopper"}),
            )
            .await;
        assert_eq!(r.status(), 201, "register {email}");
        let t: serde_json::Value = self
            .post_json(
                "/api/v1/auth/login",
                &serde_json::json!({"email": email, "password": password}),
            )
            .await
            .json()
            .await
            .expect("login json");
        t["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Sends a staff request with a JSON body.
    pub async fn admin_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.admin
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Graceful shutdown; waits until the data dir is released.
    pub async fn stop(self) {
        let TestApp {
            stop,
            task,
            auth,
            _temp,
            ..
        } = self;
        drop(auth); // the server waits for every store handle before it reports stopped
        if let Some(tx) = stop {
            let _ = tx.send(());
        }
        if let Some(t) = task {
            t.await.expect("join").expect("clean shutdown");
        }
        drop(_temp);
    }
}

/// A client that sends `Authorization: Bearer <token>` on every request.
pub fn bearer_client(token: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(h)
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(IDLE)
        .build()
        .expect("client")
}

/// Reads a problem+json response and checks its shape.
pub async fn problem(resp: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct}"
    );
    let body: serde_json::Value = resp.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code, "{body}");
    for f in ["type", "title", "detail"] {
        assert!(body[f].is_string(), "missing {f}: {body}");
    }
    body
}

/// Path of the built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shopd"))
}

/// The binary running as a child process.
pub struct Proc {
    pub child: Child,
    pub base: String,
    /// Admin access token (valid 15 minutes), set by [`Proc::serve`].
    pub admin_token: String,
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proc {
    /// Runs `shopd serve --data-dir DIR --bind 127.0.0.1:0` and waits until it reports its URL;
    /// the data dir gets the test admin first (`shopd admin create`), who is then signed in.
    pub fn serve(dir: &Path, extra_env: &[(&str, &str)]) -> Proc {
        Self::serve_wrapped(dir, &[], extra_env)
    }

    /// [`Proc::serve`] through a wrapper command (`wrapper… shopd serve …`), e.g. one that
    /// applies a seccomp filter before it executes the binary.
    pub fn serve_wrapped(
        dir: &Path,
        wrapper: &[std::ffi::OsString],
        extra_env: &[(&str, &str)],
    ) -> Proc {
        create_admin(dir);
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        for (k, v) in backend::env_for(dir) {
            cmd.env(k, v);
        }
        cmd.args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir)
        .env("SHOPD_DIAGNOSTICS_ENABLED", "true")
        .env("SHOPD_SERVER_WORKERS", "2")
        .env("SHOPD_JOBS_BACKOFF_BASE_MS", "10")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut p = Self::start(cmd);
        p.admin_token = login_blocking(&p.base, ADMIN_EMAIL, ADMIN_PASSWORD);
        p
    }

    /// Starts `cmd` (which must log its URL) and waits for the URL.
    pub fn start(mut cmd: Command) -> Proc {
        let mut child = cmd.spawn().expect("spawn shopd");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<Option<String>>();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(i) = line.find("open http://") {
                    let rest = &line[i + 5..];
                    let url = rest.split('/').take(3).collect::<Vec<_>>().join("/");
                    let _ = tx.send(Some(url));
                    sent = true;
                }
                if let Ok(mut l) = log2.lock() {
                    l.push(line);
                }
            }
            if !sent {
                let _ = tx.send(None);
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(url)) => url,
            other => {
                let _ = child.kill();
                let lines = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                panic!("shopd did not start ({other:?}); log:\n{lines}");
            }
        };
        Proc {
            child,
            base,
            admin_token: String::new(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status (bounded).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("shopd did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it returns Some or the time runs out.
/// Test clients drop idle connections before the server's 5 s keep-alive closes them, so a
/// request never races the server closing the connection it reuses.
const IDLE: Duration = Duration::from_secs(2);

pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates the test admin in `dir` with the real CLI (no-op if it exists).
pub fn create_admin(dir: &Path) {
    use std::io::Write;
    let mut child = backend::shopd(dir)
        .args([
            "admin",
            "create",
            "--email",
            ADMIN_EMAIL,
            "--name",
            "Test Admin",
            "--data-dir",
        ])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn admin create");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("admin create");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || err.contains("already exists"),
        "admin create failed: {err}"
    );
}

/// Signs in over HTTP from synchronous code; returns the access token.
pub fn login_blocking(base: &str, email: &str, password: &str) -> String {
    // Own thread: callers may be inside an async runtime.
    let (base, email, password) = (base.to_owned(), email.to_owned(), password.to_owned());
    std::thread::spawn(move || login_on_thread(&base, &email, &password))
        .join()
        .expect("login thread")
}

fn login_on_thread(base: &str, email: &str, password: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200, "admin login");
        let v: serde_json::Value = r.json().await.expect("json");
        v["access_token"].as_str().expect("token").to_owned()
    })
}

/// A real SMTP server (Python aiosmtpd, `tests/support/smtp_sink.py`) on loopback that stores
/// every received message as a file.
pub struct SmtpSink {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
}

/// Starts a helper process (a Python server of `tests/support/`) that prints `READY` on stdout
/// once it listens; `what` names it in the failure.
pub fn start_ready(mut cmd: Command, what: &str) -> Child {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "READY", "{what} did not start");
    child
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl SmtpSink {
    /// Starts a sink on a free port storing into `dir`.
    pub fn start(dir: &Path) -> SmtpSink {
        Self::start_on(free_port(), dir)
    }

    /// Starts a sink on `port` (e.g. again after [`SmtpSink::stop`]).
    pub fn start_on(port: u16, dir: &Path) -> SmtpSink {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(port.to_string()).arg(dir);
        let child = start_ready(
            cmd,
            "the SMTP sink (python3 with aiosmtpd; the README test command installs it)",
        );
        SmtpSink {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// Stops the server (connections are then refused).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Messages whose headers name `to` as recipient.
    pub fn to(&self, to: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| header(m, "To").is_some_and(|h| h.contains(to)))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A header's value (first occurrence, unfolded).
pub fn header(msg: &str, name: &str) -> Option<String> {
    let mut lines = msg.lines().peekable();
    while let Some(l) = lines.next() {
        if l.is_empty() {
            return None;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            let mut v = v.trim().to_owned();
            while let Some(next) = lines.peek() {
                if next.starts_with(' ') || next.starts_with('\t') {
                    v.push(' ');
                    v.push_str(next.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            return Some(v);
        }
    }
    None
}

/// Extracts the `token=` value of the first link in a mail (quoted-printable soft breaks undone).
pub fn link_token(msg: &str) -> Option<String> {
    let unfolded = msg
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let i = unfolded.find("token=")?;
    Some(
        unfolded[i + 6..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect(),
    )
}

/// Test config sending mail to `smtp_port` on loopback without TLS.
pub fn smtp_config(data_dir: &Path, smtp_port: u16) -> Config {
    let mut cfg = test_config(data_dir);
    cfg.mail.smtp_host = "127.0.0.1".into();
    cfg.mail.smtp_port = smtp_port;
    cfg.mail.smtp_security = "none".into();
    cfg.mail.smtp_timeout_secs = 2;
    cfg.mail.from = "Test Shop <shop@shopd.test>".into();
    cfg.auth.cookie_secure = false;
    cfg
}

/// The diagnostics job summary (`GET /api/v1/admin/diagnostics/jobs/summary`) of a run whose
/// jobs all finished: no effect applied twice, and every job's effect applied.
pub fn assert_effects_applied_once(summary: &serde_json::Value) {
    assert_eq!(summary["duplicated"], 0, "{summary}");
    assert_eq!(summary["applied"], summary["keys"], "{summary}");
    assert_eq!(
        summary["keys"], summary["jobs"],
        "every job's effect applied: {summary}"
    );
}
