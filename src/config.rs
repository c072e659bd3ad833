//! Configuration: built-in defaults < TOML file < `SHOPD_<SECTION>_<KEY>` environment
//! (or `…_FILE` naming a file holding the value) < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::core::secret::Secret;

/// Every setting shopd reads.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    /// The shop itself.
    pub shop: ShopConfig,
    /// HTTP server.
    pub server: ServerConfig,
    /// Embedded store.
    pub storage: StorageConfig,
    /// Background jobs.
    pub jobs: JobsConfig,
    /// Accounts, tokens and abuse limits.
    pub auth: AuthConfig,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// Product search.
    pub search: SearchConfig,
    /// Carts.
    pub cart: CartConfig,
    /// Checkout and reservations.
    pub checkout: CheckoutConfig,
    /// Logging.
    pub log: LogConfig,
    /// Diagnostics routes for operators and tests.
    pub diagnostics: DiagnosticsConfig,
}

/// `[shop]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShopConfig {
    /// Name shown in mails and pages.
    pub name: String,
    /// ISO 4217 currency shown for empty carts.
    pub currency: String,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            name: "shopd".into(),
            currency: "USD".into(),
        }
    }
}

/// `[cart]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CartConfig {
    /// Most lines in one cart.
    pub max_lines: usize,
    /// Most units of one line.
    pub max_line_quantity: i64,
    /// Days an untouched cart is kept.
    pub idle_days: u64,
}

impl Default for CartConfig {
    fn default() -> Self {
        CartConfig {
            max_lines: 100,
            max_line_quantity: 99,
            idle_days: 30,
        }
    }
}

/// `[checkout]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutConfig {
    /// Minutes stock stays reserved for an unpaid order.
    pub reservation_ttl_minutes: u64,
    /// `pessimistic` or `optimistic`.
    pub reservation_strategy: String,
    /// Flat shipping rate in minor units of the order's currency.
    pub flat_rate_shipping: i64,
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        CheckoutConfig {
            reservation_ttl_minutes: 15,
            reservation_strategy: "pessimistic".into(),
            flat_rate_shipping: 500,
        }
    }
}

/// `[server]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address.
    pub bind: String,
    /// Public base URL for links in mails; empty means derived from `bind`.
    pub public_url: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Seconds to finish in-flight requests on shutdown.
    pub shutdown_timeout_secs: u64,
}

/// `[storage]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory holding the database, search index and mail spool.
    pub data_dir: String,
    /// Most write requests folded into one durable commit.
    pub group_commit_max_batch: usize,
    /// Longest a commit batch keeps taking new requests, in milliseconds.
    pub group_commit_max_batch_ms: u64,
    /// Page cache of the database file in MiB.
    pub cache_mib: usize,
}

/// `[jobs]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs running at once.
    pub workers: usize,
    /// First retry delay in milliseconds (doubles per attempt, with jitter).
    pub backoff_base_ms: u64,
    /// Longest retry delay in seconds.
    pub backoff_max_secs: u64,
    /// Seconds shutdown waits for running jobs.
    pub shutdown_timeout_secs: u64,
    /// Days finished jobs are kept.
    pub retention_days: u64,
}

/// `[auth]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 signing secret (at least 32 bytes); empty means generated into the data dir.
    pub jwt_secret: Secret,
    /// `iss` of issued tokens.
    pub jwt_issuer: String,
    /// `aud` of issued tokens.
    pub jwt_audience: String,
    /// Access token lifetime in seconds.
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime in days.
    pub refresh_token_ttl_days: u64,
    /// Email verification link lifetime in hours.
    pub verification_ttl_hours: u64,
    /// Password reset link lifetime in minutes.
    pub reset_ttl_minutes: u64,
    /// Mark auth cookies `Secure` (turn off only for plain-HTTP development).
    pub cookie_secure: bool,
    /// Attempts per minute per client IP on login and token endpoints.
    pub login_per_ip_per_minute: u32,
    /// Failed password checks per hour per account and client network before each further
    /// attempt from that network waits (1 s, doubling, up to 15 min); other networks unaffected.
    pub login_failures_per_account_per_hour: u32,
    /// argon2id memory in KiB (OWASP minimum 19456).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (OWASP minimum 2).
    pub argon2_iterations: u32,
    /// argon2id lanes.
    pub argon2_parallelism: u32,
    /// Password hashes computed at once (each uses `argon2_memory_kib`).
    pub hashing_concurrency: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: Secret::default(),
            jwt_issuer: "shopd".into(),
            jwt_audience: "shopd-api".into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            verification_ttl_hours: 24,
            reset_ttl_minutes: 60,
            cookie_secure: true,
            login_per_ip_per_minute: 10,
            login_failures_per_account_per_hour: 10,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hashing_concurrency: 2,
        }
    }
}

/// `[mail]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Sender, e.g. `Shop <shop@example.com>`.
    pub from: String,
    /// SMTP server; empty means mails are written as .eml files under the data dir.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// `starttls`, `tls` (implicit) or `none`.
    pub smtp_security: String,
    /// SMTP user (empty: no authentication).
    pub smtp_username: String,
    /// SMTP password.
    pub smtp_password: Secret,
    /// Seconds before an SMTP conversation is abandoned (the mail is retried).
    pub smtp_timeout_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            from: "shopd <shop@localhost>".into(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_security: "starttls".into(),
            smtp_username: String::new(),
            smtp_password: Secret::default(),
            smtp_timeout_secs: 10,
        }
    }
}

/// `[search]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Threads answering searches, first come first served; 0 means one per CPU core.
    pub threads: usize,
}

/// `[log]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `auto` (human on a terminal, JSON otherwise), `human` or `json`.
    pub format: String,
    /// Filter in `tracing` syntax, e.g. `info` or `shopd=debug,actix_web=info`.
    pub level: String,
}

/// `[diagnostics]`
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnosticsConfig {
    /// Enables `/api/v1/admin/diagnostics/*` (test jobs, a panic route). Off in production.
    pub enabled: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            public_url: String::new(),
            workers: 0,
            body_limit: 1024 * 1024,
            shutdown_timeout_secs: 30,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: "./shopd-data".into(),
            group_commit_max_batch: 512,
            group_commit_max_batch_ms: 20,
            cache_mib: crate::storage::DEFAULT_CACHE_MIB,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            workers: 16,
            backoff_base_ms: 1000,
            backoff_max_secs: 3600,
            shutdown_timeout_secs: 10,
            retention_days: 7,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "auto".into(),
            level: "info".into(),
        }
    }
}

/// One-line explanation of each section and key, used by `shopd config example`.
pub const DOCS: &[(&str, &str, &str)] = &[
    ("shop", "", "The shop"),
    ("shop", "name", "Shop name shown in mails and pages"),
    (
        "shop",
        "currency",
        "ISO 4217 currency shown for empty carts",
    ),
    ("server", "", "HTTP server"),
    (
        "server",
        "bind",
        "Address and port to listen on; use 0.0.0.0:8080 to accept remote clients",
    ),
    (
        "server",
        "public_url",
        "Public base URL used in links and mails (empty: http://<bind>)",
    ),
    (
        "server",
        "workers",
        "HTTP worker threads (0: one per CPU core)",
    ),
    (
        "server",
        "body_limit",
        "Largest accepted request body, in bytes",
    ),
    (
        "server",
        "shutdown_timeout_secs",
        "Seconds to finish in-flight requests on shutdown",
    ),
    (
        "storage",
        "",
        "Embedded store (one redb file in the data directory)",
    ),
    (
        "storage",
        "data_dir",
        "Directory holding the database, search index, mail spool and secrets",
    ),
    (
        "storage",
        "group_commit_max_batch",
        "Most write requests folded into one durable commit",
    ),
    (
        "storage",
        "group_commit_max_batch_ms",
        "Longest a commit batch keeps taking requests, in milliseconds",
    ),
    (
        "storage",
        "cache_mib",
        "Page cache of the database file in MiB (memory shopd keeps for hot data; 8 to 65536)",
    ),
    (
        "jobs",
        "",
        "Background jobs (mail, webhooks, search indexing)",
    ),
    ("jobs", "workers", "Jobs running at once"),
    (
        "jobs",
        "backoff_base_ms",
        "First retry delay in milliseconds; doubles per attempt, with jitter",
    ),
    ("jobs", "backoff_max_secs", "Longest retry delay in seconds"),
    (
        "jobs",
        "shutdown_timeout_secs",
        "Seconds shutdown waits for running jobs",
    ),
    ("jobs", "retention_days", "Days finished jobs are kept"),
    (
        "auth",
        "",
        "Customer and staff accounts, tokens and abuse limits",
    ),
    (
        "auth",
        "jwt_secret",
        "HS256 signing secret, at least 32 bytes (empty: generated into <data_dir>/secrets/jwt.key)",
    ),
    ("auth", "jwt_issuer", "Issuer (iss) of access tokens"),
    ("auth", "jwt_audience", "Audience (aud) of access tokens"),
    (
        "auth",
        "access_token_ttl_secs",
        "Access token lifetime in seconds",
    ),
    (
        "auth",
        "refresh_token_ttl_days",
        "Refresh token lifetime in days (rotated on every use)",
    ),
    (
        "auth",
        "verification_ttl_hours",
        "Email verification link lifetime in hours",
    ),
    (
        "auth",
        "reset_ttl_minutes",
        "Password reset link lifetime in minutes",
    ),
    (
        "auth",
        "cookie_secure",
        "Mark auth cookies Secure; turn off only for plain-HTTP development",
    ),
    (
        "auth",
        "login_per_ip_per_minute",
        "Login and token requests per minute per client IP",
    ),
    (
        "auth",
        "login_failures_per_account_per_hour",
        "Failed logins per hour per account and client network (IPv4 address, IPv6 /64) before each further try from it waits 1 s, doubling up to 15 min",
    ),
    (
        "auth",
        "argon2_memory_kib",
        "argon2id memory cost in KiB (OWASP minimum 19456)",
    ),
    (
        "auth",
        "argon2_iterations",
        "argon2id iterations (OWASP minimum 2)",
    ),
    ("auth", "argon2_parallelism", "argon2id lanes"),
    (
        "auth",
        "hashing_concurrency",
        "Password hashes computed at once, off the request workers",
    ),
    (
        "mail",
        "",
        "Outgoing mail (every mail is a durable job with retries)",
    ),
    ("mail", "from", "Sender address of shop mails"),
    (
        "mail",
        "smtp_host",
        "SMTP server (empty: write .eml files to <data_dir>/mail/outbox)",
    ),
    (
        "mail",
        "smtp_port",
        "SMTP port (587 for STARTTLS, 465 for implicit TLS)",
    ),
    ("mail", "smtp_security", "starttls, tls (implicit) or none"),
    (
        "mail",
        "smtp_username",
        "SMTP user (empty: no authentication)",
    ),
    (
        "mail",
        "smtp_password",
        "SMTP password (prefer SHOPD_MAIL_SMTP_PASSWORD_FILE)",
    ),
    (
        "mail",
        "smtp_timeout_secs",
        "Seconds before an SMTP attempt is abandoned and retried later",
    ),
    (
        "search",
        "",
        "Product search (full-text index in the data directory)",
    ),
    (
        "search",
        "threads",
        "Threads answering searches, first come first served (0: one per CPU core)",
    ),
    ("cart", "", "Shopping carts"),
    (
        "cart",
        "max_lines",
        "Most lines (different variants) in one cart",
    ),
    (
        "cart",
        "max_line_quantity",
        "Most units of one variant in one cart",
    ),
    (
        "cart",
        "idle_days",
        "Days an untouched cart is kept before the hourly sweeper deletes it",
    ),
    ("checkout", "", "Checkout, stock reservations and shipping"),
    (
        "checkout",
        "reservation_ttl_minutes",
        "Minutes stock stays reserved for an unpaid order before it expires",
    ),
    (
        "checkout",
        "reservation_strategy",
        "pessimistic (check and reserve inside the serialised write) or optimistic (snapshot, then commit if stock is unchanged)",
    ),
    (
        "checkout",
        "flat_rate_shipping",
        "Flat shipping rate in minor units of the order's currency (500 = 5.00)",
    ),
    ("log", "", "Logging"),
    (
        "log",
        "format",
        "auto (human on a terminal, JSON otherwise), human or json",
    ),
    (
        "log",
        "level",
        "Log filter, e.g. info or shopd=debug,actix_web=info (RUST_LOG also works)",
    ),
    (
        "diagnostics",
        "",
        "Diagnostics routes for operators and test suites",
    ),
    (
        "diagnostics",
        "enabled",
        "Enable /api/v1/admin/diagnostics (test jobs and a panic route); keep off in production",
    ),
];

/// A configuration problem, reported by `check-config` and at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML syntax or an unknown/mistyped key.
    #[error("{origin}: {message}")]
    Parse {
        /// File or environment variable.
        origin: String,
        /// Parser message.
        message: String,
    },
    /// Values that parse but make no sense.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// Flag values that override everything else.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--bind`
    pub bind: Option<String>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--log-format`
    pub log_format: Option<String>,
}

impl Config {
    /// Loads defaults, then `file`, then the process environment, then `flags`, and validates.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from(file, flags, |k| std::env::var(k).ok())
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_from(
        file: Option<&Path>,
        flags: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let defaults =
            toml::Table::try_from(Config::default()).map_err(|e| ConfigError::Parse {
                origin: "defaults".into(),
                message: e.to_string(),
            })?;
        let mut merged = defaults.clone();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        origin: path.display().to_string(),
                        message: e.to_string(),
                    })?;
            merge(&mut merged, table);
            // Deserialize now so unknown keys are reported against the file.
            Config::deserialize(toml::Value::Table(merged.clone())).map_err(|e| {
                ConfigError::Parse {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                }
            })?;
        }
        for (section, keys) in &defaults {
            let Some(keys) = keys.as_table() else {
                continue;
            };
            for (key, default) in keys {
                let var = format!("SHOPD_{}_{}", section.to_uppercase(), key.to_uppercase());
                let raw = match env(&var) {
                    Some(v) => Some((var.clone(), v)),
                    None => match env(&format!("{var}_FILE")) {
                        Some(p) => {
                            let v = std::fs::read_to_string(&p).map_err(|source| {
                                ConfigError::Read {
                                    path: p.clone(),
                                    source,
                                }
                            })?;
                            Some((
                                format!("{var}_FILE"),
                                v.trim_end_matches(['\n', '\r']).to_owned(),
                            ))
                        }
                        None => None,
                    },
                };
                if let Some((origin, raw)) = raw {
                    let value = parse_like(default, &raw).ok_or_else(|| ConfigError::Parse {
                        origin: origin.clone(),
                        message: format!("expected {}, got `{raw}`", default.type_str()),
                    })?;
                    if let Some(t) = merged.get_mut(section).and_then(|s| s.as_table_mut()) {
                        t.insert(key.clone(), value);
                    }
                }
            }
        }
        let mut cfg =
            Config::deserialize(toml::Value::Table(merged)).map_err(|e| ConfigError::Parse {
                origin: "configuration".into(),
                message: e.to_string(),
            })?;
        if let Some(b) = &flags.bind {
            cfg.server.bind = b.clone();
        }
        if let Some(d) = &flags.data_dir {
            cfg.storage.data_dir = d.display().to_string();
        }
        if let Some(f) = &flags.log_format {
            cfg.log.format = f.clone();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that deserialize but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errs = Vec::new();
        if self.shop.name.trim().is_empty() || self.shop.name.len() > 100 {
            errs.push("shop.name must be 1 to 100 characters".into());
        }
        if self.server.bind.parse::<SocketAddr>().is_err() {
            errs.push(format!(
                "server.bind `{}` is not an address like 127.0.0.1:8080",
                self.server.bind
            ));
        }
        let url = &self.server.public_url;
        if !url.is_empty() && !url.starts_with("http://") && !url.starts_with("https://") {
            errs.push("server.public_url must start with http:// or https://".into());
        }
        if self.server.body_limit < 1024 || self.server.body_limit > 256 * 1024 * 1024 {
            errs.push("server.body_limit must be between 1024 and 268435456 bytes".into());
        }
        if self.server.workers > 256 {
            errs.push("server.workers must be at most 256".into());
        }
        if self.storage.data_dir.trim().is_empty() {
            errs.push("storage.data_dir must not be empty".into());
        }
        if self.storage.group_commit_max_batch == 0 || self.storage.group_commit_max_batch > 100_000
        {
            errs.push("storage.group_commit_max_batch must be between 1 and 100000".into());
        }
        if !(8..=65_536).contains(&self.storage.cache_mib) {
            errs.push("storage.cache_mib must be between 8 and 65536".into());
        }
        if self.storage.group_commit_max_batch_ms > 10_000 {
            errs.push("storage.group_commit_max_batch_ms must be at most 10000".into());
        }
        if self.jobs.workers == 0 || self.jobs.workers > 1024 {
            errs.push("jobs.workers must be between 1 and 1024".into());
        }
        if !self.auth.jwt_secret.is_empty() && self.auth.jwt_secret.expose().len() < 32 {
            errs.push(
                "auth.jwt_secret must be at least 32 bytes (or empty to generate one)".into(),
            );
        }
        if self.auth.argon2_memory_kib < 19456 || self.auth.argon2_iterations < 2 {
            errs.push("auth.argon2_memory_kib must be >= 19456 and auth.argon2_iterations >= 2 (OWASP minimum)".into());
        }
        if self.auth.argon2_parallelism == 0 || self.auth.hashing_concurrency == 0 {
            errs.push(
                "auth.argon2_parallelism and auth.hashing_concurrency must be at least 1".into(),
            );
        }
        if self.auth.access_token_ttl_secs == 0 || self.auth.access_token_ttl_secs > 86_400 {
            errs.push("auth.access_token_ttl_secs must be between 1 and 86400".into());
        }
        if self.auth.login_per_ip_per_minute == 0
            || self.auth.login_failures_per_account_per_hour == 0
        {
            errs.push("auth rate limits must be at least 1".into());
        }
        if !matches!(
            self.mail.smtp_security.as_str(),
            "starttls" | "tls" | "none"
        ) {
            errs.push("mail.smtp_security must be starttls, tls or none".into());
        }
        if !self.mail.from.contains('@') {
            errs.push("mail.from must contain an email address".into());
        }
        if crate::core::Currency::parse(&self.shop.currency).is_err() {
            errs.push(format!(
                "shop.currency `{}` is not an ISO 4217 code such as USD",
                self.shop.currency
            ));
        }
        if self.cart.max_lines == 0 || self.cart.max_lines > 1000 {
            errs.push("cart.max_lines must be between 1 and 1000".into());
        }
        if !(1..=1_000_000).contains(&self.cart.max_line_quantity) {
            errs.push("cart.max_line_quantity must be between 1 and 1000000".into());
        }
        if self.cart.idle_days == 0 || self.cart.idle_days > 3650 {
            errs.push("cart.idle_days must be between 1 and 3650".into());
        }
        if self.checkout.reservation_ttl_minutes == 0
            || self.checkout.reservation_ttl_minutes > 7 * 24 * 60
        {
            errs.push("checkout.reservation_ttl_minutes must be between 1 and 10080".into());
        }
        if !matches!(
            self.checkout.reservation_strategy.as_str(),
            "pessimistic" | "optimistic"
        ) {
            errs.push("checkout.reservation_strategy must be pessimistic or optimistic".into());
        }
        if !(0..=100_000_000).contains(&self.checkout.flat_rate_shipping) {
            errs.push("checkout.flat_rate_shipping must be between 0 and 100000000".into());
        }
        if !matches!(self.log.format.as_str(), "auto" | "human" | "json") {
            errs.push(format!(
                "log.format `{}` must be auto, human or json",
                self.log.format
            ));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errs))
        }
    }

    /// The data directory as a path.
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.storage.data_dir)
    }

    /// Group commit batch window.
    pub fn group_commit_window(&self) -> Duration {
        Duration::from_millis(self.storage.group_commit_max_batch_ms)
    }

    /// The complete, commented example configuration (`shopd config example`).
    pub fn example() -> String {
        let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
        let mut out = String::from(
            "# shopd configuration. Every key is optional; shown values are the defaults.\n\
             # Precedence: defaults < this file (--config) < SHOPD_<SECTION>_<KEY> environment\n\
             # variables (or SHOPD_<SECTION>_<KEY>_FILE naming a file) < command-line flags.\n",
        );
        for (section, keys) in &defaults {
            let doc = DOCS
                .iter()
                .find(|(s, k, _)| s == section && k.is_empty())
                .map(|(_, _, d)| *d)
                .unwrap_or("");
            out.push_str(&format!("\n# {doc}\n[{section}]\n"));
            if let Some(keys) = keys.as_table() {
                for (key, value) in keys {
                    let doc = DOCS
                        .iter()
                        .find(|(s, k, _)| s == section && k == key)
                        .map(|(_, _, d)| *d)
                        .unwrap_or("");
                    let env = format!("SHOPD_{}_{}", section.to_uppercase(), key.to_uppercase());
                    out.push_str(&format!("# {doc} (env {env})\n{key} = {value}\n"));
                }
            }
        }
        out
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn parse_like(default: &toml::Value, raw: &str) -> Option<toml::Value> {
    match default {
        toml::Value::String(_) => Some(toml::Value::String(raw.to_owned())),
        toml::Value::Integer(_) => raw.trim().parse::<i64>().ok().map(toml::Value::Integer),
        toml::Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Some(toml::Value::Boolean(false)),
            _ => None,
        },
        toml::Value::Float(_) => raw.trim().parse::<f64>().ok().map(toml::Value::Float),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_key_is_documented() {
        let defaults = toml::Table::try_from(Config::default()).expect("defaults");
        for (section, keys) in &defaults {
            assert!(
                DOCS.iter().any(|(s, k, _)| s == section && k.is_empty()),
                "{section}"
            );
            for key in keys.as_table().expect("table").keys() {
                assert!(
                    DOCS.iter().any(|(s, k, _)| s == section && k == key),
                    "{section}.{key} has no doc line"
                );
            }
        }
    }

    #[test]
    fn example_parses_back_to_defaults() {
        let text = Config::example();
        let cfg: Config = toml::from_str(&text).expect("example parses");
        assert_eq!(cfg, Config::default());
    }

    #[test]
    fn precedence_file_env_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("shopd.toml");
        std::fs::write(
            &file,
            "[server]\nbind = \"127.0.0.1:9000\"\nworkers = 3\n[jobs]\nworkers = 5\n",
        )
        .expect("write");
        let secret = dir.path().join("dd");
        std::fs::write(&secret, "/from/file\n").expect("write");
        let env: HashMap<&str, String> = [
            ("SHOPD_SERVER_WORKERS", "4".to_string()),
            ("SHOPD_STORAGE_DATA_DIR_FILE", secret.display().to_string()),
            ("SHOPD_DIAGNOSTICS_ENABLED", "true".to_string()),
        ]
        .into();
        let flags = Overrides {
            bind: Some("127.0.0.1:9100".into()),
            ..Default::default()
        };
        let cfg = Config::load_from(Some(&file), &flags, |k| env.get(k).cloned()).expect("load");
        assert_eq!(cfg.server.bind, "127.0.0.1:9100"); // flag beats file
        assert_eq!(cfg.server.workers, 4); // env beats file
        assert_eq!(cfg.jobs.workers, 5); // file beats default
        assert_eq!(cfg.storage.data_dir, "/from/file"); // *_FILE
        assert!(cfg.diagnostics.enabled);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[server]\nbnid = \"x\"\n").expect("write");
        let err = Config::load_from(Some(&file), &Overrides::default(), |_| None)
            .expect_err("unknown key");
        assert!(err.to_string().contains("bnid"), "{err}");
        let err = Config::load_from(None, &Overrides::default(), |k| {
            (k == "SHOPD_SERVER_WORKERS").then(|| "many".to_string())
        })
        .expect_err("bad int");
        assert!(err.to_string().contains("SHOPD_SERVER_WORKERS"), "{err}");
        let err = Config::load_from(
            None,
            &Overrides {
                bind: Some("nope".into()),
                ..Default::default()
            },
            |_| None,
        )
        .expect_err("bad bind");
        assert!(err.to_string().contains("server.bind"), "{err}");
    }
}
