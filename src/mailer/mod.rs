//! Outgoing mail as durable jobs: a mail is enqueued in the write that causes it, rendered from
//! templates (embedded, overridable from `<data_dir>/templates/mail/`) and sent over SMTP, or
//! written as `.eml` files when no SMTP server is configured. Knows no domain.

pub mod templates;
pub mod transport;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::core::{JobId, Timestamp};
use crate::jobs::{self, JobContext, JobError, JobOutcome, NewJob};
use crate::storage::{StorageError, WriteTx};

pub use templates::Templates;
pub use transport::Transport;

/// Job kind of outgoing mail.
pub const MAIL_JOB: &str = "mail.send";

/// A mail to send: a template name and its variables.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Recipient display name.
    pub to_name: Option<String>,
    /// Template name (`verify_email`, `reset_password`, `welcome`, …).
    pub template: String,
    /// Template variables.
    pub vars: serde_json::Value,
    /// Stable Message-ID local part: the same on every retry, so receivers can deduplicate.
    pub message_id: String,
}

impl Mail {
    /// A mail with a fresh Message-ID minted from `now`.
    pub fn new(
        to: &str,
        to_name: Option<&str>,
        template: &str,
        vars: serde_json::Value,
        now: Timestamp,
    ) -> Self {
        Mail {
            to: to.to_owned(),
            to_name: to_name.filter(|n| !n.is_empty()).map(str::to_owned),
            template: template.to_owned(),
            vars,
            message_id: format!("{}.{}", template.replace('_', "-"), JobId::new(now)),
        }
    }
}

/// Queues `mail` inside `tx`; enqueueing the same Message-ID twice sends once.
pub fn enqueue(tx: &mut WriteTx<'_>, mail: &Mail) -> Result<JobId, StorageError> {
    let job = NewJob::new(MAIL_JOB, mail)?
        .dedupe(mail.message_id.clone())
        .max_attempts(25);
    Ok(jobs::enqueue(tx, job)?.id())
}

/// Renders and delivers mail jobs.
pub struct Mailer {
    templates: Templates,
    transport: Transport,
    from: lettre::message::Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("transport", &self.transport.describe())
            .finish()
    }
}

/// Why a mailer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// Bad sender address.
    #[error("mail.from `{0}` is not a valid mailbox")]
    From(String),
    /// Transport setup failed.
    #[error("mail transport: {0}")]
    Transport(String),
}

impl Mailer {
    /// A mailer sending from `from` through `transport`.
    pub fn new(
        templates: Templates,
        transport: Transport,
        from: &str,
    ) -> Result<Arc<Self>, MailerError> {
        let from = from
            .parse()
            .map_err(|_| MailerError::From(from.to_owned()))?;
        Ok(Arc::new(Mailer {
            templates,
            transport,
            from,
        }))
    }

    /// Where mail goes, for the start-up log.
    pub fn describe(&self) -> String {
        self.transport.describe()
    }

    /// Builds the MIME message (plain text + HTML alternatives, stable Message-ID).
    pub fn build(&self, mail: &Mail) -> Result<lettre::Message, JobError> {
        let rendered = self
            .templates
            .render(&mail.template, &mail.vars)
            .map_err(|e| JobError::permanent(format!("template `{}`: {e}", mail.template)))?;
        let to_addr: lettre::Address = mail
            .to
            .parse()
            .map_err(|_| JobError::permanent(format!("invalid recipient `{}`", mail.to)))?;
        let to = lettre::message::Mailbox::new(mail.to_name.clone(), to_addr);
        let domain = self.from.email.domain().to_owned();
        lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .message_id(Some(format!("<{}@{}>", mail.message_id, domain)))
            .multipart(lettre::message::MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| JobError::permanent(format!("building message: {e}")))
    }

    /// The mailer's background work: sending, four conversations at a time.
    pub fn work(self: &Arc<Self>) -> jobs::Work {
        let m = self.clone();
        jobs::Work::new().handler(MAIL_JOB, 4, jobs::handler_fn(move |ctx| m.clone().run(ctx)))
    }

    /// Job handler of [`MAIL_JOB`].
    pub async fn run(self: Arc<Self>, ctx: JobContext) -> Result<JobOutcome, JobError> {
        let mail: Mail = ctx.payload()?;
        let message = self.build(&mail)?;
        self.transport.send(message).await.map_err(|e| {
            if e.permanent {
                JobError::permanent(format!("refused by the mail server: {}", e.message))
            } else {
                JobError::retry(e.message)
            }
        })?;
        tracing::info!(to = %mail.to, template = %mail.template, message_id = %mail.message_id, "mail sent");
        Ok(JobOutcome::Done)
    }
}
