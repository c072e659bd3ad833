//! The sender: one HTTPS client for every endpoint — no redirects followed, no proxy, a
//! 10-second timeout, rustls with the Mozilla roots, and a resolver that applies the SSRF guard
//! to the addresses it returns, so the connection goes only where the guard allowed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::guard::{self, Policy, Refused};

/// What an endpoint answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// How long the call took.
    pub duration_ms: u64,
    /// The first 1 KiB of the body (lossy UTF-8).
    pub head: String,
}

/// Why a delivery got no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The URL or its addresses are refused by the guard.
    #[error("refused: {0}")]
    Refused(Refused),
    /// Connection, TLS or timeout.
    #[error("{0}")]
    Transport(String),
}

#[derive(Debug)]
struct GuardedResolver {
    policy: Policy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = guard::resolve(&host, 0, policy)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The webhook sender.
#[derive(Clone, Debug)]
pub struct Sender {
    client: reqwest::Client,
    policy: Policy,
}

/// How long one delivery may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer is kept.
pub const HEAD_BYTES: usize = 1024;

impl Sender {
    /// A sender under `policy`.
    pub fn new(policy: Policy) -> Result<Sender, String> {
        // reqwest looks for a process-wide provider even when handed a configuration; ring is
        // the only one compiled in (an error only means one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent(concat!("shopd-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Sender { client, policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// POSTs `body` as JSON with `headers` to `url`, after checking the URL again.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, SendError> {
        let url = guard::check_url(url, self.policy).map_err(SendError::Refused)?;
        let mut req = self
            .client
            .post(url)
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let started = Instant::now();
        let resp = req.body(body).send().await.map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        let mut head = Vec::new();
        let mut resp = resp;
        while head.len() < HEAD_BYTES {
            match resp.chunk().await {
                Ok(Some(c)) => head.extend_from_slice(&c[..c.len().min(HEAD_BYTES - head.len())]),
                _ => break,
            }
        }
        Ok(Answer {
            status,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            head: String::from_utf8_lossy(&head).into_owned(),
        })
    }
}

/// The reason of a transport failure, with the guard's refusal named when it was one.
fn transport(e: &reqwest::Error) -> SendError {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return SendError::Refused(r.clone());
        }
        src = s.source();
    }
    if e.is_timeout() {
        SendError::Transport("timed out after 10 s".into())
    } else if e.is_connect() {
        SendError::Transport(format!("cannot connect: {}", root(e)))
    } else {
        SendError::Transport(root(e))
    }
}

fn root(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}
