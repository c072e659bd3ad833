//! Delivery: SMTP (STARTTLS, implicit TLS or plain, optional auth) or `.eml` files.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    /// An SMTP relay.
    Smtp {
        /// Connection pool to the relay.
        inner: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port (security)`, for logs.
        label: String,
    },
    /// `.eml` files in a directory (zero-configuration default).
    File {
        /// Writer.
        inner: AsyncFileTransport<Tokio1Executor>,
        /// Directory.
        dir: PathBuf,
    },
}

/// SMTP settings.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: String,
    /// User, empty for none.
    pub username: String,
    /// Password.
    pub password: crate::core::secret::Secret,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

impl Transport {
    /// An SMTP transport.
    pub fn smtp(s: &SmtpSettings) -> Result<Self, String> {
        let builder = match s.security.as_str() {
            "tls" => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host).map_err(|e| e.to_string())?
            }
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                .map_err(|e| e.to_string())?,
            _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone()),
        };
        let mut builder = builder.port(s.port).timeout(Some(s.timeout));
        if !s.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                s.username.clone(),
                s.password.expose().to_owned(),
            ));
        }
        Ok(Transport::Smtp {
            inner: builder.build(),
            label: format!("smtp://{}:{} ({})", s.host, s.port, s.security),
        })
    }

    /// A transport writing `.eml` files into `dir` (created if missing).
    pub fn file(dir: PathBuf) -> Result<Self, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Transport::File {
            inner: AsyncFileTransport::<Tokio1Executor>::new(&dir),
            dir,
        })
    }

    /// Human description for logs.
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp { label, .. } => label.clone(),
            Transport::File { dir, .. } => format!(".eml files in {}", dir.display()),
        }
    }

    /// Delivers one message.
    pub async fn send(&self, m: Message) -> Result<(), SendError> {
        match self {
            Transport::Smtp { inner, .. } => inner.send(m).await.map(|_| ()).map_err(|e| {
                let message = e.to_string();
                SendError {
                    permanent: refused_mailbox(&e, &message),
                    message,
                }
            }),
            Transport::File { inner, .. } => {
                inner.send(m).await.map(|_| ()).map_err(|e| SendError {
                    permanent: false,
                    message: e.to_string(),
                })
            }
        }
    }
}

/// Whether a failure is about this message's mailbox, so retrying cannot help: a 550–553 reply
/// (mailbox unavailable, not local, over quota, name not allowed) that is not a policy refusal
/// (`5.7.x`: relaying denied, authentication). Other 5xx replies (bad credentials 535, relay
/// 554, a refusing greeting) are the server's or the configuration's and are retried, so a
/// wrong password delays mail instead of killing it.
fn refused_mailbox(e: &lettre::transport::smtp::Error, message: &str) -> bool {
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    e.is_permanent()
        && matches!(code.as_str(), "550" | "551" | "552" | "553")
        && !message.contains("5.7.")
}

/// Why a message was not sent.
#[derive(Debug)]
pub struct SendError {
    /// The server refused it for good (a 5xx reply such as `550 no such user`): retrying
    /// cannot help.
    pub permanent: bool,
    /// What happened.
    pub message: String,
}
