//! Configuration: built-in defaults < TOML file < `SHOPD_<SECTION>_<KEY>` environment
//! (or `…_FILE` naming a file holding the value) < command-line flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::core::secret::{Secret, SecretList};

/// Declares one `[section]` of the configuration: every key once, with its doc line (shown by
/// `config example`), its type, its default and the rule it must meet, so the struct, the
/// defaults, the example and the validation cannot drift apart.
macro_rules! section {
    (
        $(#[doc = $sdoc:literal])+
        $name:ident [$section:literal] {
            $(
                $(#[doc = $doc:literal])+
                $key:ident : $ty:ty = $default:expr $(, $rule:expr)? ;
            )*
        }
    ) => {
        $(#[doc = $sdoc])+
        #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $key: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $key: $default, )* }
            }
        }

        impl Section for $name {
            const NAME: &'static str = $section;
            const DOC: &'static str = concat!($($sdoc),+);
            const KEYS: &'static [(&'static str, &'static str)] =
                &[ $( (stringify!($key), concat!($($doc),+)), )* ];

            #[allow(unused_variables)] // a section whose keys have no rule
            fn check(&self, errs: &mut Vec<String>) {
                $( $(
                    if let Err(m) = rules::apply($rule, &self.$key) {
                        errs.push(format!("{}.{} {m}", $section, stringify!($key)));
                    }
                )? )*
            }
        }
    };
}

/// What every section declared by `section!` offers the loader and `config example`.
pub trait Section {
    /// The `[name]` of the section.
    const NAME: &'static str;
    /// Its one-line explanation.
    const DOC: &'static str;
    /// Each key with its one-line explanation, in declaration order.
    const KEYS: &'static [(&'static str, &'static str)];
    /// Appends a message for every key that breaks its rule.
    fn check(&self, errs: &mut Vec<String>);
}

/// Declares the whole configuration from its sections, once.
macro_rules! sections {
    ( $( $(#[doc = $doc:literal])+ $field:ident : $ty:ty, )* ) => {
        /// Every setting shopd reads.
        #[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
        #[serde(deny_unknown_fields, default)]
        pub struct Config {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
        }

        /// Each section's name, explanation and keys (for `config example` and its test).
        pub const SECTIONS: &[(&str, &str, &[(&str, &str)])] =
            &[ $( (<$ty as Section>::NAME, <$ty as Section>::DOC, <$ty as Section>::KEYS), )* ];

        impl Config {
            fn check_sections(&self, errs: &mut Vec<String>) {
                $( self.$field.check(errs); )*
            }
        }
    };
}

sections! {
    /// The shop itself.
    shop: ShopConfig,
    /// HTTP server.
    server: ServerConfig,
    /// Embedded store.
    storage: StorageConfig,
    /// Background jobs.
    jobs: JobsConfig,
    /// Accounts, tokens and abuse limits.
    auth: AuthConfig,
    /// Outgoing mail.
    mail: MailConfig,
    /// Product search.
    search: SearchConfig,
    /// Carts.
    cart: CartConfig,
    /// Checkout and reservations.
    checkout: CheckoutConfig,
    /// Payments.
    payments: PaymentsConfig,
    /// Stripe (`[payments.stripe]` in the file).
    payments_stripe: StripeConfig,
    /// Outgoing webhooks.
    webhooks: WebhooksConfig,
    /// Logging.
    log: LogConfig,
    /// Diagnostics routes for operators and tests.
    diagnostics: DiagnosticsConfig,
}

section! {
    /// The shop
    ShopConfig ["shop"] {
        /// Shop name shown in mails and pages
        name: String = "shopd".into(), rules::chars(1, 100);
        /// ISO 4217 currency shown for empty carts
        currency: String = "USD".into(), rules::currency;
    }
}

section! {
    /// HTTP server
    ServerConfig ["server"] {
        /// Address and port to listen on; use 0.0.0.0:8080 to accept remote clients
        bind: String = "127.0.0.1:8080".into(), rules::socket_addr;
        /// Public base URL used in links and mails (empty: http://<bind>)
        public_url: String = String::new(), rules::http_url_or_empty;
        /// HTTP worker threads (0: one per CPU core)
        workers: usize = 0, rules::between(0, 256);
        /// Largest accepted request body, in bytes
        body_limit: usize = 1024 * 1024, rules::between(1024, 256 * 1024 * 1024);
        /// Largest CSV file accepted by the admin import routes, in bytes (real exports reach tens of MB)
        import_body_limit: usize = 64 * 1024 * 1024, rules::between(1024, 1024 * 1024 * 1024);
        /// Reverse proxies whose Forwarded / X-Forwarded-* headers are believed: addresses or CIDR blocks, comma-separated (empty: none, the TCP peer is the client)
        trusted_proxies: String = String::new(), rules::trusted_proxies;
        /// The header the trusted proxies set: x-forwarded-for (nginx, Caddy, HAProxy, Traefik) or forwarded (RFC 7239); the other is never read
        forwarded_header: String = "x-forwarded-for".into(), rules::forwarded_header;
        /// Seconds to finish in-flight requests on shutdown
        shutdown_timeout_secs: u64 = 30, rules::between(0, 3600);
    }
}

section! {
    /// Where shopd keeps its data: the embedded store (one redb file in the data directory), or PostgreSQL shared by several nodes
    StorageConfig ["storage"] {
        /// Directory holding the database, search index, mail spool and secrets
        data_dir: String = "./shopd-data".into(), rules::chars(1, 4096);
        /// Where the tables live: embedded (one redb file in data_dir) or postgres (storage.postgres_url; several nodes may share it, each with its own data_dir)
        backend: String = "embedded".into(), rules::one_of(&["embedded", "postgres"]);
        /// PostgreSQL connection string, postgres://user:password@host:5432/db or key=value form (prefer SHOPD_STORAGE_POSTGRES_URL_FILE); TLS as in libpq: ?sslmode=verify-full (or verify-ca, require, prefer, disable) and sslrootcert=/path/ca.pem (default: the Mozilla roots)
        postgres_url: Secret = Secret::default();
        /// Pooled PostgreSQL connections for reads, per node (the writer and the change listener use one more each)
        postgres_pool_size: usize = 16, rules::between(1, 1000);
        /// Longest one PostgreSQL statement may run, including a write waiting for the cluster's write lock, in milliseconds
        postgres_statement_timeout_ms: u64 = 10_000, rules::between(100, 3_600_000);
        /// Most write requests folded into one durable commit
        group_commit_max_batch: usize = 512, rules::between(1, 100_000);
        /// Longest a commit batch keeps taking requests, in milliseconds
        group_commit_max_batch_ms: u64 = 20, rules::between(0, 10_000);
        /// Page cache of the database file in MiB (memory shopd keeps for hot data; 8 to 65536)
        cache_mib: usize = crate::storage::DEFAULT_CACHE_MIB, rules::between(8, 65_536);
    }
}

section! {
    /// Background jobs (mail, webhooks, search indexing)
    JobsConfig ["jobs"] {
        /// Jobs running at once
        workers: usize = 16, rules::between(1, 1024);
        /// First retry delay in milliseconds; doubles per attempt, with jitter
        backoff_base_ms: u64 = 1000, rules::between(1, 3_600_000);
        /// Longest retry delay in seconds
        backoff_max_secs: u64 = 3600, rules::between(1, 7 * 24 * 3600);
        /// Seconds shutdown waits for running jobs
        shutdown_timeout_secs: u64 = 10, rules::between(0, 3600);
        /// Days finished jobs are kept
        retention_days: u64 = 7, rules::between(1, 3650);
        /// Seconds a running job's claim lasts unless its node renews it (every third of it); with several nodes, another one runs the job again after a node dies
        lease_secs: u64 = 30, rules::between(3, 3600);
    }
}

section! {
    /// Customer and staff accounts, tokens and abuse limits
    AuthConfig ["auth"] {
        /// HS256 signing secret, at least 32 bytes (empty: generated into <data_dir>/secrets/jwt.key)
        jwt_secret: Secret = Secret::default(), rules::secret_of_at_least(32);
        /// Issuer (iss) of access tokens
        jwt_issuer: String = "shopd".into(), rules::chars(1, 200);
        /// Audience (aud) of access tokens
        jwt_audience: String = "shopd-api".into(), rules::chars(1, 200);
        /// Access token lifetime in seconds
        access_token_ttl_secs: u64 = 900, rules::between(1, 86_400);
        /// Refresh token lifetime in days (rotated on every use)
        refresh_token_ttl_days: u64 = 30, rules::between(1, 3650);
        /// Email verification link lifetime in hours
        verification_ttl_hours: u64 = 24, rules::between(1, 24 * 365);
        /// Password reset link lifetime in minutes
        reset_ttl_minutes: u64 = 60, rules::between(1, 7 * 24 * 60);
        /// Mark auth cookies Secure; turn off only for plain-HTTP development
        cookie_secure: bool = true;
        /// Login and token requests per minute per client IP
        login_per_ip_per_minute: u32 = 10, rules::between(1, 1_000_000);
        /// Failed logins per hour per account and client network (IPv4 address, IPv6 /64) before each further try from it waits 1 s, doubling up to 15 min
        login_failures_per_account_per_hour: u32 = 10, rules::between(1, 1_000_000);
        /// argon2id memory cost in KiB (OWASP minimum 19456)
        argon2_memory_kib: u32 = 19456, rules::between(19456, 4 * 1024 * 1024);
        /// argon2id iterations (OWASP minimum 2)
        argon2_iterations: u32 = 2, rules::between(2, 100);
        /// argon2id lanes
        argon2_parallelism: u32 = 1, rules::between(1, 64);
        /// Password hashes computed at once, off the request workers
        hashing_concurrency: usize = 2, rules::between(1, 256);
    }
}

section! {
    /// Outgoing mail (every mail is a durable job with retries)
    MailConfig ["mail"] {
        /// Sender address of shop mails
        from: String = "shopd <shop@localhost>".into(), rules::mailbox;
        /// SMTP server (empty: write .eml files to <data_dir>/mail/outbox)
        smtp_host: String = String::new();
        /// SMTP port (587 for STARTTLS, 465 for implicit TLS)
        smtp_port: u16 = 587, rules::between(1, u16::MAX);
        /// starttls, tls (implicit) or none
        smtp_security: String = "starttls".into(), rules::one_of(&["starttls", "tls", "none"]);
        /// SMTP user (empty: no authentication)
        smtp_username: String = String::new();
        /// SMTP password (prefer SHOPD_MAIL_SMTP_PASSWORD_FILE)
        smtp_password: Secret = Secret::default();
        /// Seconds before an SMTP attempt is abandoned and retried later
        smtp_timeout_secs: u64 = 10, rules::between(1, 600);
    }
}

section! {
    /// Product search (full-text index in the data directory)
    SearchConfig ["search"] {
        /// Threads answering searches, first come first served (0: one per CPU core)
        threads: usize = 0, rules::between(0, 256);
    }
}

section! {
    /// Shopping carts
    CartConfig ["cart"] {
        /// Most lines (different variants) in one cart
        max_lines: usize = 100, rules::between(1, 1000);
        /// Most units of one variant in one cart
        max_line_quantity: i64 = 99, rules::between(1, 1_000_000);
        /// Days an untouched cart is kept before the hourly sweeper deletes it
        idle_days: u64 = 30, rules::between(1, 3650);
    }
}

section! {
    /// Checkout, stock reservations and shipping
    CheckoutConfig ["checkout"] {
        /// Minutes stock stays reserved for an unpaid order before it expires
        reservation_ttl_minutes: u64 = 15, rules::between(1, 7 * 24 * 60);
        /// pessimistic (check and reserve inside the serialised write) or optimistic (snapshot, then commit if stock is unchanged)
        reservation_strategy: String = "pessimistic".into(), rules::one_of(&["pessimistic", "optimistic"]);
        /// Price of the `standard` method in the shipping zone a new shop starts with (minor units; 500 = 5.00); zones and methods are then edited through the admin API
        flat_rate_shipping: i64 = 500, rules::between(0, 100_000_000);
    }
}

section! {
    /// Payments
    PaymentsConfig ["payments"] {
        /// Provider of new payments: test (built in, offline, Stripe's test cards), stripe or manual (bank transfer, cash on delivery; staff mark orders paid)
        provider: String = "test".into(), rules::one_of(&["test", "stripe", "manual"]);
        /// automatic (take the money when the customer pays) or manual (authorize, capture on the first fulfilment or by staff)
        capture: String = "automatic".into(), rules::one_of(&["automatic", "manual"]);
        /// Seconds a payment may stay open before the reconciliation pass (every minute) asks its provider about it
        reconcile_after_secs: u64 = 300, rules::between(1, 7 * 24 * 3600);
    }
}

section! {
    /// Stripe, when payments.provider = "stripe"
    StripeConfig ["payments.stripe"] {
        /// Secret API key, sk_test_… or sk_live_… (prefer SHOPD_PAYMENTS_STRIPE_SECRET_KEY_FILE)
        secret_key: Secret = Secret::default();
        /// Signing secrets of the webhook endpoint (whsec_…), several during a rotation: a TOML list, comma-separated in the environment
        webhook_secrets: SecretList = SecretList::default();
        /// Stripe API base URL (tests point it at a local server)
        api_base: String = "https://api.stripe.com/".into(), rules::http_url_or_empty;
        /// payment_intents (Stripe's Payment Element confirms on the page) or checkout (redirect to Stripe Checkout)
        mode: String = "payment_intents".into(), rules::one_of(&["payment_intents", "checkout"]);
        /// Publishable key, pk_test_… or pk_live_…: the payment page's Payment Element needs it in payment_intents mode
        publishable_key: String = String::new();
    }
}

section! {
    /// Outgoing webhooks to merchants' endpoints (Standard Webhooks)
    WebhooksConfig ["webhooks"] {
        /// Allow endpoints on loopback, private and link-local addresses and plain http (tests, an internal network); keep off when staff are not fully trusted
        allow_private_targets: bool = false;
    }
}

section! {
    /// Logging
    LogConfig ["log"] {
        /// auto (human on a terminal, JSON otherwise), human or json
        format: String = "auto".into(), rules::one_of(&["auto", "human", "json"]);
        /// Log filter, e.g. info or shopd=debug,actix_web=info (RUST_LOG also works)
        level: String = "info".into();
    }
}

section! {
    /// Diagnostics routes for operators and test suites
    DiagnosticsConfig ["diagnostics"] {
        /// Enable /api/v1/admin/diagnostics (test jobs and a panic route); keep off in production
        enabled: bool = false;
    }
}

/// The rules a setting can be declared with; each returns the end of a sentence that starts
/// with the key's name.
#[allow(clippy::ptr_arg)] // a rule takes the setting's own type (`&String`)
pub mod rules {
    use std::fmt::Display;
    use std::net::SocketAddr;

    use super::Secret;

    /// Runs one rule on one value (lets `section!` call plain functions and closures alike).
    pub fn apply<T: ?Sized>(rule: impl Fn(&T) -> Result<(), String>, v: &T) -> Result<(), String> {
        rule(v)
    }

    /// An inclusive range.
    pub fn between<T: PartialOrd + Display>(lo: T, hi: T) -> impl Fn(&T) -> Result<(), String> {
        move |v| {
            if *v < lo || *v > hi {
                Err(format!("must be between {lo} and {hi} (got {v})"))
            } else {
                Ok(())
            }
        }
    }

    /// Text of `lo..=hi` characters that is not only spaces.
    pub fn chars(lo: usize, hi: usize) -> impl Fn(&String) -> Result<(), String> {
        move |v| {
            let n = v.chars().count();
            if n < lo || n > hi || (lo > 0 && v.trim().is_empty()) {
                Err(format!("must be {lo} to {hi} characters"))
            } else {
                Ok(())
            }
        }
    }

    /// One of a fixed set of words.
    pub fn one_of(words: &'static [&'static str]) -> impl Fn(&String) -> Result<(), String> {
        move |v| {
            if words.contains(&v.as_str()) {
                Ok(())
            } else {
                Err(format!("`{v}` must be one of {}", words.join(", ")))
            }
        }
    }

    /// An address like `127.0.0.1:8080`.
    pub fn socket_addr(v: &String) -> Result<(), String> {
        v.parse::<SocketAddr>()
            .map(|_| ())
            .map_err(|_| format!("`{v}` is not an address like 127.0.0.1:8080"))
    }

    /// Addresses and CIDR blocks, comma- or space-separated (may be empty).
    pub fn trusted_proxies(v: &String) -> Result<(), String> {
        crate::http::client::TrustedProxies::parse(v).map(|_| ())
    }

    /// `x-forwarded-for` or `forwarded`.
    pub fn forwarded_header(v: &String) -> Result<(), String> {
        crate::http::client::ForwardedHeader::parse(v)
            .map(|_| ())
            .ok_or_else(|| format!("`{v}` is not x-forwarded-for or forwarded"))
    }

    /// Empty, or an `http://` / `https://` URL.
    pub fn http_url_or_empty(v: &String) -> Result<(), String> {
        if v.is_empty() || v.starts_with("http://") || v.starts_with("https://") {
            Ok(())
        } else {
            Err("must start with http:// or https://".into())
        }
    }

    /// An ISO 4217 code in circulation.
    pub fn currency(v: &String) -> Result<(), String> {
        crate::core::Currency::parse(v)
            .map(|_| ())
            .map_err(|_| format!("`{v}` is not an ISO 4217 code such as USD"))
    }

    /// A sender such as `Shop <shop@example.com>`.
    pub fn mailbox(v: &String) -> Result<(), String> {
        if v.contains('@') {
            Ok(())
        } else {
            Err("must contain an email address".into())
        }
    }

    /// Unset, or a secret of at least `n` bytes.
    pub fn secret_of_at_least(n: usize) -> impl Fn(&Secret) -> Result<(), String> {
        move |v| {
            if v.is_empty() || v.expose().len() >= n {
                Ok(())
            } else {
                Err(format!(
                    "must be at least {n} bytes (or empty to generate one)"
                ))
            }
        }
    }
}

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
            merge(&mut merged, nest_sections(table));
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

    /// Checks values that deserialize but cannot work: every key's declared rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errs = Vec::new();
        self.check_sections(&mut errs);
        if self.storage.backend == "postgres" && self.storage.postgres_url.expose().is_empty() {
            errs.push(
                "storage.postgres_url: required when storage.backend = \"postgres\"".to_string(),
            );
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

    /// The storage backend the settings choose.
    pub fn storage_backend(&self) -> crate::storage::Backend {
        match self.storage.backend.as_str() {
            "postgres" => crate::storage::Backend::Postgres(crate::storage::PgOptions {
                url: self.storage.postgres_url.expose().to_string(),
                pool_size: self.storage.postgres_pool_size,
                statement_timeout: Duration::from_millis(
                    self.storage.postgres_statement_timeout_ms,
                ),
            }),
            _ => crate::storage::Backend::Embedded,
        }
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
        for (name, doc, docs) in SECTIONS {
            out.push_str(&format!("\n# {}\n[{name}]\n", doc.trim()));
            let section = name.replace('.', "_");
            let Some(keys) = defaults.get(&section).and_then(|k| k.as_table()) else {
                continue;
            };
            for (key, doc) in docs.iter() {
                let Some(value) = keys.get(*key) else {
                    continue;
                };
                let env = format!("SHOPD_{}_{}", section.to_uppercase(), key.to_uppercase());
                out.push_str(&format!("# {} (env {env})\n{key} = {value}\n", doc.trim()));
            }
        }
        out
    }
}

/// The file writes `[payments.stripe]`; the struct keeps it as `payments_stripe` (one level,
/// like every section, so environment names stay `SHOPD_PAYMENTS_STRIPE_<KEY>`).
fn nest_sections(mut table: toml::Table) -> toml::Table {
    let sub = table
        .get_mut("payments")
        .and_then(|p| p.as_table_mut())
        .and_then(|p| p.remove("stripe"));
    if let Some(sub) = sub {
        table.insert("payments_stripe".into(), sub);
    }
    table
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
        // A list from the environment is comma-separated.
        toml::Value::Array(_) => Some(toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_key_is_declared_once_with_a_doc_line() {
        let defaults = toml::Table::try_from(Config::default()).expect("defaults");
        // `[payments.stripe]` is kept as `payments_stripe`.
        let declared: Vec<String> = SECTIONS
            .iter()
            .map(|(s, _, _)| s.replace('.', "_"))
            .collect();
        let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
        let serialised: Vec<&str> = defaults.keys().map(String::as_str).collect();
        let mut a = declared.clone();
        let mut b = serialised.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(
            a, b,
            "every section is declared by section! and listed in sections!"
        );
        for (section, doc, keys) in SECTIONS {
            assert!(!doc.trim().is_empty(), "{section}");
            let table = defaults[&section.replace('.', "_")]
                .as_table()
                .expect("table");
            let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
            let mut want: Vec<&str> = table.keys().map(String::as_str).collect();
            let mut got = names.clone();
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "[{section}]");
            for (key, doc) in keys.iter() {
                assert!(!doc.trim().is_empty(), "{section}.{key} has no doc line");
            }
        }
    }

    #[test]
    fn the_defaults_meet_their_rules_and_a_broken_key_is_named() {
        Config::default().validate().expect("defaults are valid");
        let mut cfg = Config::default();
        cfg.cart.max_lines = 0;
        cfg.mail.smtp_security = "ssl".into();
        cfg.auth.jwt_secret = Secret::new("short");
        let Err(ConfigError::Invalid(errs)) = cfg.validate() else {
            panic!("three broken keys must be refused");
        };
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0].starts_with("auth.jwt_secret must be at least 32 bytes"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("mail.smtp_security `ssl` must be one of"),
            "{errs:?}"
        );
        assert!(
            errs[2].starts_with("cart.max_lines must be between 1 and 1000"),
            "{errs:?}"
        );
        assert!(
            !errs.iter().any(|e| e.contains("short")),
            "a secret never prints"
        );
    }

    #[test]
    fn example_parses_back_to_defaults() {
        let text = Config::example();
        let table: toml::Table = text.parse().expect("example parses");
        let cfg = Config::deserialize(toml::Value::Table(nest_sections(table))).expect("config");
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

    /// `[payments.stripe]` in the file, its secrets as a TOML list; a comma-separated list and
    /// a `_FILE` secret from the environment; secrets never print.
    #[test]
    fn stripe_settings_come_from_a_nested_section_and_the_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("shopd.toml");
        std::fs::write(
            &file,
            "[payments]\nprovider = \"stripe\"\n[payments.stripe]\nwebhook_secrets = [\"whsec_a\", \"whsec_b\"]\nmode = \"checkout\"\n",
        )
        .expect("write");
        let key = dir.path().join("sk");
        std::fs::write(&key, "sk_test_123\n").expect("write");
        let env: HashMap<&str, String> = [(
            "SHOPD_PAYMENTS_STRIPE_SECRET_KEY_FILE",
            key.display().to_string(),
        )]
        .into();
        let cfg = Config::load_from(Some(&file), &Overrides::default(), |k| env.get(k).cloned())
            .expect("load");
        assert_eq!(cfg.payments.provider, "stripe");
        assert_eq!(cfg.payments_stripe.mode, "checkout");
        assert_eq!(cfg.payments_stripe.secret_key.expose(), "sk_test_123");
        assert_eq!(
            cfg.payments_stripe.webhook_secrets.expose(),
            ["whsec_a", "whsec_b"]
        );
        let env: HashMap<&str, String> = [(
            "SHOPD_PAYMENTS_STRIPE_WEBHOOK_SECRETS",
            "whsec_x, whsec_y".to_string(),
        )]
        .into();
        let cfg =
            Config::load_from(None, &Overrides::default(), |k| env.get(k).cloned()).expect("load");
        assert_eq!(
            cfg.payments_stripe.webhook_secrets.expose(),
            ["whsec_x", "whsec_y"]
        );
        let shown = format!(
            "{:?} {}",
            cfg.payments_stripe,
            toml::to_string(&cfg).expect("toml")
        );
        assert!(!shown.contains("whsec_x"), "{shown}");
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
