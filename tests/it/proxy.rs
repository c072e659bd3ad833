//! Behind the reverse proxies the README recommends: a real nginx (Debian `nginx-light`) with
//! the shipped `packaging/nginx/shopd-proxy.conf` and a real Caddy (Debian `caddy`) with the
//! shipped `packaging/caddy/Caddyfile`, on loopback in front of the real binary. Customers connect from their own loopback addresses (127.0.0.2, 127.0.0.3, …).
//! With the proxy trusted, sign-ins are limited per customer and the access log names each
//! customer; untrusted, the proxy's headers are ignored, and a direct client's forged
//! `X-Forwarded-For` changes nothing.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Proc;
use serde_json::{Value, json};

const PROXY_CONF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/nginx/shopd-proxy.conf"
);
const CUSTOMERS: u8 = 20;
const PASSWORD: &str = "Tr0ub4dor&3-horse";

/// nginx in the foreground with its whole state in a temporary directory.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Proxies 127.0.0.1:<port> to `upstream` with the shipped proxy settings.
    fn start(upstream: &str) -> Nginx {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = common::free_port();
        let include = std::fs::read_to_string(PROXY_CONF)
            .expect("proxy conf")
            .replace("http://127.0.0.1:8080", upstream);
        std::fs::write(dir.path().join("shopd-proxy.conf"), include).expect("write");
        let d = dir.path().display();
        // As root, nginx's workers would switch to an account that cannot use the temp dir.
        let user = if is_root() { "user root;" } else { "" };
        let conf = format!(
            "{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n    server_name shop.test;\n\
             location / {{ include {d}/shopd-proxy.conf; }}\n  }}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("write conf");
        let bin = if Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let child = Command::new(bin)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx (Debian nginx-light; the README test command installs it)");
        let n = Nginx {
            child,
            port,
            _dir: dir,
        };
        n.wait_ready();
        n
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CADDYFILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/caddy/Caddyfile");

/// Caddy (Debian `caddy`) in the foreground with the shipped Caddyfile, its site moved to plain
/// HTTP on a loopback port (no certificate to obtain) and its upstream to `upstream`.
struct Caddy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Caddy {
    fn start(upstream: &str) -> Caddy {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = common::free_port();
        let shipped = std::fs::read_to_string(CADDYFILE).expect("Caddyfile");
        let site = shipped
            .replace("shop.example.com {", &format!("http://127.0.0.1:{port} {{"))
            .replace("127.0.0.1:8080", upstream.trim_start_matches("http://"));
        let conf = format!("{{\n  admin off\n  auto_https off\n}}\n{site}");
        let path = dir.path().join("Caddyfile");
        std::fs::write(&path, conf).expect("write Caddyfile");
        let child = Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("caddy (Debian caddy; the README test command installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "caddy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Caddy {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid() == 0
    }
}

/// A client whose connections come from 127.0.0.<n>.
fn customer_client(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .expect("client")
}

async fn sign_in(c: &reqwest::Client, url: &str, email: &str, xff: Option<&str>) -> u16 {
    let mut r = c
        .post(url)
        .json(&json!({"email": email, "password": PASSWORD}));
    if let Some(x) = xff {
        r = r
            .header("X-Forwarded-For", x)
            .header("Forwarded", format!("for={x}"))
            .header("X-Forwarded-Host", "evil.example")
            .header("X-Forwarded-Proto", "https");
    }
    r.send().await.expect("sign in").status().as_u16()
}

/// Registers and signs in customer `n` through `base`; returns the sign-in statuses.
async fn customer_signs_in(base: &dyn Fn(&str) -> String, n: u8, times: usize) -> Vec<u16> {
    let c = customer_client(n);
    let email = format!("customer{n}@example.com");
    let r = c
        .post(base("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD, "name": "Shopper"}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201, "register customer {n}");
    let mut out = Vec::new();
    for _ in 0..times {
        out.push(sign_in(&c, &base("/api/v1/auth/login"), &email, None).await);
    }
    out
}

/// Values of `field` in the access log lines of sign-ins.
fn access_log(log: &str, field: &str) -> std::collections::BTreeSet<String> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["fields"]["path"] == "/api/v1/auth/login" || v["path"] == "/api/v1/auth/login"
        })
        .filter_map(|v| {
            v["fields"][field]
                .as_str()
                .or_else(|| v[field].as_str())
                .map(str::to_owned)
        })
        .collect()
}

fn access_log_clients(log: &str) -> std::collections::BTreeSet<String> {
    access_log(log, "client")
}

/// Through a trusted proxy at `base`: 20 customers × (1 registration + 2 sign-ins) = 60
/// requests from one proxy address, six times the per-address budget of 10 a minute, and none
/// is refused; one customer's own budget still holds (forged `X-Forwarded-For` or not), the
/// others are unaffected, and the access log names each customer and no forged address.
async fn customers_keep_their_own_budgets(p: &Proc, base: &dyn Fn(&str) -> String) {
    // Customer 2 spends its budget first, in one burst, so its requests fall well inside one
    // budget window however slow the machine is (the others' sign-ins take a while).
    let statuses = customer_signs_in(base, 2, 2).await;
    assert_eq!(statuses, vec![200, 200], "customer 2");
    let c = customer_client(2);
    let mut last = 0;
    for i in 0..8 {
        let forged = format!("203.0.113.{i}");
        let url = base("/api/v1/auth/login");
        last = sign_in(&c, &url, "customer2@example.com", Some(&forged)).await;
    }
    assert_eq!(
        last, 429,
        "the 11th request of one customer within a minute"
    );
    // Every other customer still has a budget of their own.
    for n in 3..2 + CUSTOMERS {
        let statuses = customer_signs_in(base, n, 2).await;
        assert_eq!(statuses, vec![200, 200], "customer {n}");
    }
    let c3 = customer_client(3);
    let url = base("/api/v1/auth/login");
    assert_eq!(sign_in(&c3, &url, "customer3@example.com", None).await, 200);
    let clients = access_log_clients(&p.log_text());
    for n in 2..2 + CUSTOMERS {
        assert!(clients.contains(&format!("127.0.0.{n}")), "{clients:?}");
    }
    assert!(
        !clients.iter().any(|c| c.starts_with("203.0.113.")),
        "a forged address never reaches the log: {clients:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_nginx_limits_each_customer_on_their_own_address() {
    let data = tempfile::tempdir().expect("tempdir");
    let p = Proc::serve(
        data.path(),
        &[("SHOPD_SERVER_TRUSTED_PROXIES", "127.0.0.1")],
    );
    let nginx = Nginx::start(&p.base);
    customers_keep_their_own_budgets(&p, &|path: &str| nginx.url(path)).await;
    let origins = access_log(&p.log_text(), "origin");
    assert!(
        origins.contains("http://127.0.0.1"),
        "the scheme and host nginx saw: {origins:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_untrusted_peers_change_nothing() {
    let data = tempfile::tempdir().expect("tempdir");
    // Trusted: only the proxy on 127.0.0.1. A direct client on 127.0.0.50 forges addresses.
    let p = Proc::serve(
        data.path(),
        &[("SHOPD_SERVER_TRUSTED_PROXIES", "127.0.0.1")],
    );
    let c = customer_client(50);
    let mut statuses = Vec::new();
    for i in 0..11 {
        let forged = format!("198.51.100.{i}");
        statuses.push(
            sign_in(
                &c,
                &p.url("/api/v1/auth/login"),
                "nobody@example.com",
                Some(&forged),
            )
            .await,
        );
    }
    assert_eq!(statuses[..10], [401; 10], "{statuses:?}");
    assert_eq!(
        statuses[10], 429,
        "forged X-Forwarded-For is ignored: {statuses:?}"
    );
    let origins = access_log(&p.log_text(), "origin");
    assert!(
        !origins.iter().any(|o| o.contains("evil")),
        "forged host ignored: {origins:?}"
    );
    drop(p);

    // Not trusted at all (the default): through nginx every customer is the proxy. A budget of
    // 5 per minute: even if the minute's window turns over during the loop (a loaded machine),
    // at most 10 of the 20 get through.
    let data = tempfile::tempdir().expect("tempdir");
    let p = Proc::serve(data.path(), &[("SHOPD_AUTH_LOGIN_PER_IP_PER_MINUTE", "5")]);
    let nginx = Nginx::start(&p.base);
    let mut refused = 0;
    for n in 2..2 + CUSTOMERS {
        let c = customer_client(n);
        let s = sign_in(
            &c,
            &nginx.url("/api/v1/auth/login"),
            "nobody@example.com",
            None,
        )
        .await;
        refused += usize::from(s == 429);
    }
    assert!(
        refused >= usize::from(CUSTOMERS) - 10,
        "an untrusted proxy's header is ignored, so customers share its budget ({refused} refused)"
    );
}

/// The shipped Caddyfile does the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_caddy_limits_each_customer_on_their_own_address() {
    let data = tempfile::tempdir().expect("tempdir");
    let p = Proc::serve(
        data.path(),
        &[("SHOPD_SERVER_TRUSTED_PROXIES", "127.0.0.1")],
    );
    let caddy = Caddy::start(&p.base);
    customers_keep_their_own_budgets(&p, &|path: &str| caddy.url(path)).await;
    let origins = access_log(&p.log_text(), "origin");
    assert!(
        origins.contains(&format!("http://127.0.0.1:{}", caddy.port)),
        "the scheme and host Caddy saw: {origins:?}"
    );
}
