//! Reusable load driver for shopd benchmarks: starts the real binary on a temporary data dir,
//! drives HTTP at a fixed concurrency for a bounded time and request count, and reports
//! throughput, latency percentiles and the server's memory.
#![allow(dead_code)]

pub mod cluster;
pub mod commits;
pub mod shop;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A shopd child process.
pub struct Server {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    /// Time from spawn to the first 200 on `/readyz`.
    pub ready_after: Duration,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `shopd serve` on a fresh temporary data dir with `env` overrides.
    pub fn start(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("shopd-bench-")
            .tempdir_in(
                std::env::var("SHOPD_BENCH_DIR")
                    .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
            )
            .expect("tempdir");
        let mut s = Self::start_in(dir.path(), env);
        s._dir = Some(dir);
        s
    }

    /// Starts `shopd serve` on `dir`.
    pub fn start_in(dir: &Path, env: &[(&str, &str)]) -> Server {
        let started = Instant::now();
        let mut cmd = Command::new(bin());
        cmd.args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir)
        .env("SHOPD_LOG_LEVEL", "warn,shopd=info")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn shopd");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("open http://").filter(|_| !sent) {
                    let url = line[i + 5..]
                        .split('/')
                        .take(3)
                        .collect::<Vec<_>>()
                        .join("/");
                    let _ = tx.send(url);
                    sent = true;
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("shopd announced its URL");
        let rt = runtime();
        rt.block_on(async {
            let c = reqwest::Client::new();
            loop {
                if let Ok(r) = c.get(format!("{base}/readyz")).send().await
                    && r.status() == 200
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let ready_after = started.elapsed();
        Server {
            child,
            base,
            ready_after,
            _dir: None,
        }
    }

    /// Removes `dir` when the server is dropped.
    pub fn keep_dir(&mut self, dir: tempfile::TempDir) {
        self._dir = Some(dir);
    }

    /// Resident memory of the server process in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }

    /// Peak resident memory (VmHWM) in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shopd binary built alongside this benchmark.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shopd"))
}

/// reqwest is built with the shop's TLS feature (rustls without a built-in crypto provider):
/// every client needs a process-wide provider, installed once as the shop does at start.
pub fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A tokio runtime for the driver.
pub fn runtime() -> tokio::runtime::Runtime {
    tls();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// What one virtual client sends; `n` is a globally unique request number.
pub type MakeRequest =
    Arc<dyn Fn(&reqwest::Client, &str, u64) -> reqwest::RequestBuilder + Send + Sync>;

/// Load shape.
#[derive(Clone, Debug)]
pub struct Load {
    /// Concurrent clients.
    pub concurrency: usize,
    /// Longest run.
    pub duration: Duration,
    /// Most requests in total.
    pub max_requests: u64,
    /// Unmeasured start.
    pub warmup: Duration,
    /// Non-2xx statuses the scenario expects (e.g. 503 `stock_contention` under optimistic
    /// reservations); any other non-2xx answer or transport error fails the bench.
    pub expected: &'static [u16],
}

/// Unexpected answers seen by any scenario of this bench run.
static UNEXPECTED: AtomicU64 = AtomicU64::new(0);

/// Counts `n` unexpected answers (a bench that drives its own loop reports them here).
pub fn unexpected(what: &str, n: u64) {
    if n > 0 {
        eprintln!("UNEXPECTED: {n} failed answers in `{what}`");
        UNEXPECTED.fetch_add(n, Ordering::SeqCst);
    }
}

/// Ends the bench: exit status 1 when any scenario saw unexpected answers, so a throughput of
/// error answers can never pass for a figure.
pub fn finish() {
    let n = UNEXPECTED.load(Ordering::SeqCst);
    if n > 0 {
        eprintln!("bench FAILED: {n} unexpected non-2xx answers or transport errors (see above)");
        std::process::exit(1);
    }
}

/// Figures of one run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Scenario name.
    pub name: String,
    /// Requests completed in the measured window.
    pub requests: u64,
    /// Non-2xx answers or transport errors in the measured window.
    pub errors: u64,
    /// Every non-2xx answer of the run, warm-up included, by status (0: transport error).
    pub statuses: BTreeMap<u16, u64>,
    /// Completed requests per second.
    pub rps: f64,
    /// Latency percentiles in milliseconds.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest latency.
    pub max: f64,
    /// Concurrency used.
    pub concurrency: usize,
    /// The server's own time (its `Server-Timing` header): p50, p95, p99 in milliseconds,
    /// without the time a request waited for a busy CPU before the server read it.
    pub server: Option<[f64; 3]>,
}

/// The `app;dur=…` of a `Server-Timing` header, in milliseconds.
fn server_timing(h: &reqwest::header::HeaderMap) -> Option<f64> {
    h.get("server-timing")?
        .to_str()
        .ok()?
        .split(';')
        .find_map(|p| p.trim().strip_prefix("dur="))?
        .parse()
        .ok()
}

impl Report {
    /// One line for logs and issue notes.
    pub fn line(&self) -> String {
        format!(
            "{:<28} c={:<3} {:>9.0} req/s  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({} requests, {} non-2xx{})",
            self.name,
            self.concurrency,
            self.rps,
            self.p50,
            self.p95,
            self.p99,
            self.max,
            self.requests,
            self.errors,
            if self.statuses.is_empty() {
                String::new()
            } else {
                format!(" by status {:?}", self.statuses)
            }
        ) + &self
            .server
            .map(|[a, b, c]| {
                format!(
                    "\n{:<28}       server time p50 {a:>7.2} ms  p95 {b:>7.2} ms  p99 {c:>7.2} ms",
                    ""
                )
            })
            .unwrap_or_default()
    }
}

/// Percentile (nearest rank) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Drives `make` against `base` with `load`, bounded by both time and count.
pub fn drive(name: &str, base: &str, load: &Load, make: MakeRequest) -> Report {
    let rt = runtime();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(load.concurrency)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let counter = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let measuring = Arc::new(AtomicBool::new(load.warmup.is_zero()));
        let mut tasks = Vec::new();
        for _ in 0..load.concurrency {
            let (client, base, make) = (client.clone(), base.to_owned(), make.clone());
            let (counter, errors, stop, measuring) = (
                counter.clone(),
                errors.clone(),
                stop.clone(),
                measuring.clone(),
            );
            let max = load.max_requests;
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(4096);
                let mut server = Vec::with_capacity(4096);
                let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
                while !stop.load(Ordering::Relaxed) {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    if n >= max {
                        break;
                    }
                    let t = Instant::now();
                    let mut app_ms = None;
                    let status = match make(&client, &base, n).send().await {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            app_ms = server_timing(r.headers());
                            match r.bytes().await {
                                Ok(_) => s,
                                Err(_) => 0,
                            }
                        }
                        Err(_) => 0,
                    };
                    let ok = (200..300).contains(&status);
                    if !ok {
                        *statuses.entry(status).or_default() += 1;
                    }
                    if measuring.load(Ordering::Relaxed) {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        server.extend(app_ms);
                        if !ok {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                (lat, server, statuses)
            }));
        }
        tokio::time::sleep(load.warmup).await;
        measuring.store(true, Ordering::SeqCst);
        let started = Instant::now();
        let deadline = started + load.duration;
        while Instant::now() < deadline && tasks.iter().any(|t| !t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        let mut app = Vec::new();
        let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
        for t in tasks {
            let (lat, srv, st) = t.await.unwrap_or_default();
            all.extend(lat);
            app.extend(srv);
            for (s, n) in st {
                *statuses.entry(s).or_default() += n;
            }
        }
        let bad: u64 = statuses
            .iter()
            .filter(|(s, _)| !load.expected.contains(s))
            .map(|(_, n)| n)
            .sum();
        unexpected(name, bad);
        let elapsed = started.elapsed().as_secs_f64();
        all.sort_by(|a, b| a.total_cmp(b));
        app.sort_by(|a, b| a.total_cmp(b));
        let server = (!app.is_empty()).then(|| [50.0, 95.0, 99.0].map(|p| percentile(&app, p)));
        Report {
            server,
            name: name.to_owned(),
            requests: all.len() as u64,
            errors: errors.load(Ordering::SeqCst),
            statuses,
            rps: all.len() as f64 / elapsed,
            p50: percentile(&all, 50.0),
            p95: percentile(&all, 95.0),
            p99: percentile(&all, 99.0),
            max: all.last().copied().unwrap_or(0.0),
            concurrency: load.concurrency,
        }
    })
}

/// A data dir under `SHOPD_BENCH_DIR` (or the system's temp dir) holding `shopd demo`'s
/// deterministic catalog of `products` products; returns it with the time generating and
/// indexing took and what `shopd demo` printed.
pub fn demo_catalog(products: usize) -> (tempfile::TempDir, Duration, String) {
    demo_catalog_with(products, &[])
}

/// [`demo_catalog`] with more `shopd demo` arguments (e.g. `--order-lines`).
pub fn demo_catalog_with(products: usize, extra: &[&str]) -> (tempfile::TempDir, Duration, String) {
    let dir = tempfile::Builder::new()
        .prefix("shopd-bench-")
        .tempdir_in(
            std::env::var("SHOPD_BENCH_DIR")
                .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
        )
        .expect("tempdir");
    let started = Instant::now();
    let out = Command::new(bin())
        .args(["demo", "--products", &products.to_string(), "--data-dir"])
        .arg(dir.path())
        .args(extra)
        .output()
        .expect("shopd demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let took = started.elapsed();
    (
        dir,
        took,
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

/// Reads `--name value` from the bench's command line (after `--`).
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Admin account the write benchmarks create.
pub const ADMIN: (&str, &str) = ("bench-admin@shopd.test", "Bench-Adm1n-Passw0rd");

/// Creates [`ADMIN`] in `dir` with the real CLI (`shopd admin create`, password on stdin).
pub fn create_admin(dir: &Path) {
    create_admin_with(dir, &[]);
}

/// [`create_admin`] with `env` overrides (another storage backend). An existing admin (another
/// node of the same database made it) is fine.
pub fn create_admin_with(dir: &Path, env: &[(&str, &str)]) {
    use std::io::Write;
    let mut cmd = Command::new(bin());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args([
            "admin",
            "create",
            "--email",
            ADMIN.0,
            "--name",
            "Bench",
            "--data-dir",
        ])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn admin create");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{0}\n{0}\n", ADMIN.1).as_bytes())
            .expect("password");
    }
    let out = child.wait_with_output().expect("admin create");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || err.contains("already exists"),
        "admin create: {err}"
    );
}

/// Signs [`ADMIN`] in; returns the access token.
pub async fn admin_token(c: &reqwest::Client, base: &str) -> String {
    let v: serde_json::Value = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": ADMIN.0, "password": ADMIN.1}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    v["access_token"].as_str().expect("access_token").to_owned()
}

/// The median of `v` (the upper one of an even count; 0 when empty), for figures quoted as
/// medians of rounds.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The median of one figure of several runs.
pub fn median_of(runs: &[Report], f: fn(&Report) -> f64) -> f64 {
    median(runs.iter().map(f).collect())
}

/// `key` of the items of a paged public list at `path`, following its cursors, at most about
/// `limit`.
pub fn listed(base: &str, path: &str, key: &str, limit: usize) -> Vec<String> {
    let rt = runtime();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let mut out = Vec::new();
        let mut url = format!("{base}{path}");
        while out.len() < limit {
            let page: serde_json::Value = c
                .get(&url)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            for p in page["data"].as_array().into_iter().flatten() {
                if let Some(s) = p[key].as_str() {
                    out.push(s.to_owned());
                }
            }
            match page["next_cursor"]
                .as_str()
                .filter(|_| page["has_more"] == true)
            {
                Some(cur) => {
                    let sep = if path.contains('?') { '&' } else { '?' };
                    url = format!("{base}{path}{sep}cursor={cur}");
                }
                None => break,
            }
        }
        out
    })
}

/// The number `--name` on the command line, else `full` for a `--bench` run and `small` for
/// the smoke run `cargo test` makes.
pub fn num(name: &str, full: usize, small: usize) -> usize {
    let smoke = !std::env::args().any(|a| a == "--bench");
    arg(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { small } else { full })
}
