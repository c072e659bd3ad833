//! Composition root: opens the store, registers job handlers, wires HTTP, and runs until told
//! to stop. The only place (with `cli.rs` and `main.rs`) that sees every module.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App as ActixApp, HttpServer, web};
use anyhow::Context;

use crate::config::Config;
use crate::core::RateLimiter;
use crate::core::{Clock, SystemClock};
use crate::domain::auth::{Auth, AuthSettings, HashParams, Keys};
use crate::domain::catalog::Catalog;
use crate::domain::diagnostics::{self, Diagnostics};
use crate::domain::inventory::Inventory;
use crate::domain::search::Search;
use crate::domain::{cart, checkout, idempotency, orders, payments};
use crate::http::middleware::{Observe, Tap};
use crate::http::{self, Health, HttpState};
use crate::jobs::{self, Runner, RunnerConfig, RunningJobs};
use crate::mailer::{self, Mailer, Templates, Transport};
use crate::observability::metrics::Metrics;
use crate::storage::{FaultSwitch, GroupCommit, Schema, Store, StoreOptions};

/// Size of the `serve --demo` catalog.
pub const DEMO_PRODUCTS: usize = 300;
/// Seed of the demo catalog (the same seed gives the same shop).
pub const DEMO_SEED: u64 = 42;

/// Schema version this build writes; each module declares the steps that reach it (checked
/// at open: every version from 2 up, once).
pub const SCHEMA: Schema = Schema {
    version: 13,
    migrations: &[
        jobs::queue::MIGRATIONS,
        orders::MIGRATIONS,
        crate::domain::auth::MIGRATIONS,
        checkout::MIGRATIONS,
        crate::domain::catalog::MIGRATIONS,
        crate::domain::events::MIGRATIONS,
        payments::MIGRATIONS,
        crate::domain::rules::MIGRATIONS,
    ],
};

/// Inputs of [`App::build`].
pub struct AppOptions {
    /// Effective configuration.
    pub config: Config,
    /// Time source (tests pass a `TestClock`).
    pub clock: Arc<dyn Clock>,
    /// Test hook: storage over a fault-injecting backend.
    pub fault: Option<FaultSwitch>,
    /// Seed the demo catalog when the catalog is empty (`serve --demo`).
    pub demo: bool,
    /// Test hook shown every HTTP answer (the contract check of the integration suite).
    pub tap: Option<Tap>,
}

impl AppOptions {
    /// Production options for `config`.
    pub fn new(config: Config) -> Self {
        AppOptions {
            config,
            clock: Arc::new(SystemClock),
            fault: None,
            demo: false,
            tap: None,
        }
    }
}

/// A built, bound, not yet serving shop.
pub struct App {
    addr: SocketAddr,
    server: actix_web::dev::Server,
    store: Store,
    jobs: RunningJobs,
    health: Arc<Health>,
    auth: Auth,
    public_url: String,
    /// This node's search index following the catalog's change feed.
    index_follower: tokio::task::JoinHandle<()>,
    /// The experiment-event flusher and the switch for its last write at shutdown.
    experiment_events: (
        crate::domain::experiments::exposures::FlushStop,
        tokio::task::JoinHandle<()>,
    ),
}

impl App {
    /// Opens the data dir (lock, migrations), recovers the job queue, starts workers and binds
    /// the listener. Port 0 binds an ephemeral port, reported by [`App::addr`].
    pub async fn build(opts: AppOptions) -> anyhow::Result<App> {
        let AppOptions {
            config,
            clock,
            fault,
            demo,
            tap,
        } = opts;
        let metrics = Metrics::new();
        let store_opts = StoreOptions {
            data_dir: config.data_dir(),
            clock: clock.clone(),
            schema: SCHEMA,
            group_commit: GroupCommit {
                max_batch: config.storage.group_commit_max_batch,
                max_batch_time: config.group_commit_window(),
            },
            fault,
            observer: Some(metrics.clone()),
            cache_mib: config.storage.cache_mib,
            backend: config.storage_backend(),
        };
        let store = tokio::task::spawn_blocking(move || Store::open(store_opts))
            .await
            .context("opening the store")??;
        let node = node_id(&config.data_dir()).context("the node id")?;
        let recovered = jobs::recover(&store, &node)
            .await
            .context("recovering jobs")?;
        if recovered > 0 {
            tracing::info!(
                recovered,
                "requeued jobs interrupted by the previous shutdown"
            );
        }

        let mut runner = Runner::new(
            store.clone(),
            clock.clone(),
            RunnerConfig {
                workers: config.jobs.workers,
                backoff_base: Duration::from_millis(config.jobs.backoff_base_ms),
                backoff_max: Duration::from_secs(config.jobs.backoff_max_secs),
                shutdown_timeout: Duration::from_secs(config.jobs.shutdown_timeout_secs),
                retention: Duration::from_secs(config.jobs.retention_days * 24 * 3600),
                node: node.clone(),
                lease: Duration::from_secs(config.jobs.lease_secs),
                ..RunnerConfig::default()
            },
        );
        runner.observe(metrics.clone());

        let listener = TcpListener::bind(&config.server.bind)
            .with_context(|| format!("binding {}", config.server.bind))?;
        let addr = listener.local_addr()?;
        let public_url = public_url(&config, addr);

        let mailer = build_mailer(&config)?;
        let mailer_label = mailer.describe();
        tracing::info!("mail goes to {mailer_label}");
        share_secrets(&store, &config).await?;
        let auth = build_auth(&config, store.clone(), clock.clone(), &public_url)?;
        let catalog = Catalog::new(store.clone());
        let inventory = Inventory::new(store.clone());
        let seeded = if demo
            && catalog
                .list_products(false, &Default::default(), 1, None)?
                .data
                .is_empty()
        {
            let n = catalog
                .seed_demo(DEMO_PRODUCTS, DEMO_SEED, false, &mut |_| {})
                .await?;
            inventory.seed_demo(&catalog).await?;
            tracing::info!(products = n, "demo catalog created");
            n
        } else {
            0
        };
        let search = open_search(&config, catalog.clone(), inventory.clone()).await?;
        if seeded > 0 {
            let s = search.clone();
            tokio::task::spawn_blocking(move || s.reindex(&mut |_| {}))
                .await
                .context("indexing the demo catalog")??;
        }
        let Commerce {
            carts,
            checkout,
            orders,
            payments,
            rules,
        } = build_commerce(&config, store.clone(), &public_url)?;
        if rules
            .ensure_default_shipping(config.checkout.flat_rate_shipping)
            .await?
        {
            tracing::info!(
                "no shipping zones yet: created `Everywhere` with the flat `standard` method ({} minor units)",
                config.checkout.flat_rate_shipping
            );
        }
        let webhooks = crate::domain::webhooks::Webhooks::new(
            store.clone(),
            crate::domain::webhooks::WebhookSettings {
                policy: crate::outbound::Policy {
                    allow_private: config.webhooks.allow_private_targets,
                },
                shop_name: config.shop.name.clone(),
                public_url: public_url.clone(),
            },
        )
        .map_err(anyhow::Error::msg)?;
        if config.webhooks.allow_private_targets {
            tracing::warn!(
                "webhooks.allow_private_targets is on: webhook endpoints may point at loopback and private addresses"
            );
        }
        let gift_cards = crate::domain::giftcards::GiftCards::new(
            store.clone(),
            crate::domain::giftcards::GiftCardSettings {
                shop_name: config.shop.name.clone(),
                public_url: public_url.clone(),
                currency: rules.currency(),
            },
        );
        if demo && rules.seed_demo().await? {
            let card = gift_cards
                .issue(
                    crate::domain::giftcards::IssueInput {
                        amount: crate::core::Money::new(5000, rules.currency()),
                        recipient_email: None,
                        note: Some("demo".into()),
                        expires_at: None,
                    },
                    "system".into(),
                    None,
                )
                .await?
                .outcome;
            tracing::info!(
                gift_card = card.code.as_deref().unwrap_or_default(),
                "demo pricing created: US sales tax (NY, CA, TX), EU VAT (DE, FR, NL), US and EU shipping (standard, express, pickup), two automatic promotions, the code WELCOME10 and this demo gift card worth 50.00"
            );
        }
        // Experiment events are batched: the flusher writes them every 500 ms.
        let (experiments, flusher, flush_stop) =
            crate::domain::experiments::Experiments::new(store.clone());
        let experiment_events = (flush_stop, tokio::spawn(flusher));
        let recommender = crate::domain::recommend::Recommender::new(
            store.clone(),
            catalog.clone(),
            search.clone(),
        );
        if seeded > 0 {
            let orders = recommender
                .seed_demo(
                    DEMO_SEED,
                    crate::domain::recommend::demo::DEFAULT_LINES,
                    &mut |_, _, _| {},
                )
                .await?;
            tracing::info!(
                orders,
                "demo order history counted; recommendations ranked (see `shopd recommend evaluate`)"
            );
        }
        // Every module's job handlers and recurring schedules, declared by the module.
        runner
            .install(vec![
                diagnostics::work(),
                mailer.work(),
                search.work(),
                carts.work(),
                orders.work(),
                payments.work(),
                webhooks.work(),
                gift_cards.work(),
                experiments.work(),
                recommender.work(),
                idempotency::work(store.clone()),
            ])
            .await
            .context("installing job handlers")?;
        if let Some(token) = auth.issue_setup_token().await? {
            tracing::warn!(
                "no admin account yet: open {public_url}/admin/setup?token={token} to create it, or run `shopd admin create --email you@example.com` (with the server stopped), or POST {public_url}/api/v1/auth/setup with {{\"token\", \"email\", \"password\", \"name\"}}; the token works once and only until an admin exists"
            );
        }

        let health = Arc::new(Health::default());
        let state = HttpState {
            health: health.clone(),
            metrics: metrics.clone(),
            store: store.clone(),
            diagnostics: config
                .diagnostics
                .enabled
                .then(|| Diagnostics::new(store.clone())),
            auth: auth.clone(),
            catalog: catalog.clone(),
            search: search.clone(),
            inventory: inventory.clone(),
            carts: carts.clone(),
            checkout: checkout.clone(),
            orders: orders.clone(),
            payments: payments.clone(),
            webhooks: webhooks.clone(),
            rules: rules.clone(),
            gift_cards: gift_cards.clone(),
            experiments: experiments.clone(),
            recommender: recommender.clone(),
            jobs: crate::domain::jobs_admin::JobsAdmin::new(store.clone()),
            auth_limiter: Arc::new(RateLimiter::new(
                config.auth.login_per_ip_per_minute,
                Duration::from_secs(60),
            )),
            clock: clock.clone(),
            cookie_secure: config.auth.cookie_secure,
            refresh_cookie_secs: i64::try_from(config.auth.refresh_token_ttl_days * 24 * 3600)
                .unwrap_or(i64::MAX),
        };
        let limits = http::BodyLimits {
            default: config.server.body_limit,
            import: config.server.import_body_limit,
        };
        let trusted = trusted_proxies(&config, &public_url)?;
        let mut pages = crate::pages::Pages::load(
            Some(&config.data_dir().join("theme")),
            &config.shop.name,
            &config.server.public_url,
        )
        .map_err(|e| anyhow::anyhow!("the theme could not be loaded: {e}"))?;
        pages.settings = shown_settings(&config, &public_url, &mailer_label);
        pages.stripe_key = (config.payments.provider == "stripe"
            && !config.payments_stripe.publishable_key.is_empty())
        .then(|| config.payments_stripe.publishable_key.clone());
        let pages = Arc::new(pages);
        let m = metrics.clone();
        let mut server = HttpServer::new(move || {
            ActixApp::new()
                .wrap(Observe::new(m.clone(), tap.clone(), trusted.clone()))
                .wrap(actix_web::middleware::from_fn(
                    crate::pages::error::themed_errors,
                ))
                .configure(|c| http::configure(c, state.clone(), limits))
                .configure(|c| crate::pages::configure(c, pages.clone()))
                .default_service(web::to(http::not_found))
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(config.server.shutdown_timeout_secs);
        if config.server.workers > 0 {
            server = server.workers(config.server.workers);
        }
        let server = server.run();
        let jobs = runner.start();
        let index_follower = search.follow();
        health.set_ready();
        Ok(App {
            addr,
            server,
            store,
            jobs,
            health,
            auth,
            public_url,
            experiment_events,
            index_follower,
        })
    }

    /// The bound address (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store, for tests that inspect state directly.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The URL clients should open.
    pub fn base_url(&self) -> String {
        self.public_url.clone()
    }

    /// The auth service (tests create accounts directly).
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Serves until `stop` resolves, then shuts down in order: readiness off, stop accepting
    /// and finish in-flight requests, let running jobs finish, drain and stop the writer.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let App {
            server,
            store,
            jobs,
            health,
            auth,
            experiment_events,
            index_follower,
            ..
        } = self;
        let handle = server.handle();
        let mut task = tokio::spawn(server);
        let early = tokio::select! {
            _ = stop => None,
            r = &mut task => Some(r),
        };
        health.set_stopping();
        if early.is_none() {
            tracing::info!("shutting down: finishing in-flight requests");
            handle.stop(true).await;
            let _ = task.await;
        }
        jobs.shutdown().await;
        index_follower.abort();
        // The requests are over: write the experiment events still queued, then close.
        let (flush_stop, flusher) = experiment_events;
        flush_stop.stop();
        if tokio::time::timeout(Duration::from_secs(10), flusher)
            .await
            .is_err()
        {
            tracing::warn!("shutdown: experiment events were still being written after 10 s");
        }
        drop(auth);
        store.shutdown().await;
        if !store.wait_released(Duration::from_secs(5)).await {
            tracing::warn!("shutdown: some store handles are still alive");
        }
        tracing::info!("shutdown complete");
        match early {
            Some(Ok(Err(e))) => Err(e.into()),
            Some(Err(e)) => Err(anyhow::anyhow!("server task failed: {e}")),
            _ => Ok(()),
        }
    }
}

/// Name of the order-link key file in the secrets directory.
const ORDER_LINK_KEY_FILE: &str = "order-links.key";

/// A new order-link key: 256 random bits as hex.
fn fresh_link_key() -> Vec<u8> {
    crate::core::secret::hex(&rand::random::<[u8; 32]>()).into_bytes()
}

/// On PostgreSQL every node must sign and check with the same keys: the first node's key files
/// are stored in the database and written into every other node's `secrets/` before they are
/// read (see `storage::shared`).
async fn share_secrets(store: &Store, config: &Config) -> anyhow::Result<()> {
    let dir = config.data_dir().join("secrets");
    store
        .share_file(
            &dir,
            crate::domain::auth::KEY_FILE,
            crate::domain::auth::fresh_key_file,
        )
        .await
        .context("sharing the token signing keys")?;
    store
        .share_file(&dir, ORDER_LINK_KEY_FILE, fresh_link_key)
        .await
        .context("sharing the order-link key")?;
    Ok(())
}

/// `<data_dir>/node-id`: this node's name on job leases, made on first start and kept, so a
/// restarted node takes back at once the jobs it was running (its data dir is locked, so no
/// other process has the same id).
fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    if let Ok(text) = std::fs::read_to_string(&path)
        && !text.trim().is_empty()
    {
        return Ok(text.trim().to_owned());
    }
    let id = format!(
        "node_{}",
        crate::core::secret::hex(&rand::random::<[u8; 8]>())
    );
    std::fs::write(&path, format!("{id}\n"))?;
    Ok(id)
}

/// `<dir>/order-links.key`: the key of the order links in mails, made (random, mode 0600) on
/// first start. Replacing the file invalidates the links already mailed.
fn order_link_key(dir: &std::path::Path) -> anyhow::Result<crate::core::secret::Secret> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(ORDER_LINK_KEY_FILE);
    if !path.exists() {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&path)?;
        std::io::Write::write_all(&mut f, &fresh_link_key())?;
        f.sync_all()?;
    }
    let text = std::fs::read_to_string(&path)?;
    anyhow::ensure!(text.trim().len() >= 32, "{} is too short", path.display());
    Ok(crate::core::secret::Secret::new(text.trim()))
}

/// The admin's settings page: what is in force and where each is set. Secrets show only
/// whether they are set.
fn shown_settings(config: &Config, public_url: &str, mail: &str) -> Vec<(String, String, String)> {
    let set = |on: bool| if on { "set" } else { "not set" }.to_owned();
    let row = |a: &str, b: String, c: &str| (a.to_owned(), b, c.to_owned());
    let stripe = &config.payments_stripe;
    vec![
        row("Shop name", config.shop.name.clone(), "shop.name"),
        row("Currency", config.shop.currency.clone(), "shop.currency"),
        row("Public URL", public_url.to_owned(), "server.public_url"),
        row(
            "Logo and look",
            "theme files".into(),
            "<data_dir>/theme/assets/, /templates/",
        ),
        row("Mail", mail.to_owned(), "mail.smtp_host, mail.from"),
        row("Mail sender", config.mail.from.clone(), "mail.from"),
        row(
            "Payment provider",
            config.payments.provider.clone(),
            "payments.provider",
        ),
        row("Stripe mode", stripe.mode.clone(), "payments.stripe.mode"),
        row(
            "Stripe secret key",
            set(!stripe.secret_key.is_empty()),
            "payments.stripe.secret_key",
        ),
        row(
            "Stripe publishable key",
            set(!stripe.publishable_key.is_empty()),
            "payments.stripe.publishable_key",
        ),
        row(
            "Stripe webhook secrets",
            set(!stripe.webhook_secrets.expose().is_empty()),
            "payments.stripe.webhook_secrets",
        ),
        row(
            "Data directory",
            config.data_dir().display().to_string(),
            "storage.data_dir",
        ),
        row("Version", env!("CARGO_PKG_VERSION").into(), ""),
    ]
}

fn public_url(config: &Config, addr: SocketAddr) -> String {
    if !config.server.public_url.is_empty() {
        return config.server.public_url.trim_end_matches('/').to_owned();
    }
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("http://{host}:{}", addr.port())
}

/// The proxies whose forwarding headers decide the client address, with a start-up line
/// saying so (and a warning when mail links would point at the loopback address behind them).
fn trusted_proxies(
    config: &Config,
    public_url: &str,
) -> anyhow::Result<http::client::TrustedProxies> {
    let header = http::client::ForwardedHeader::parse(&config.server.forwarded_header)
        .ok_or_else(|| anyhow::anyhow!("server.forwarded_header: x-forwarded-for or forwarded"))?;
    let trusted = http::client::TrustedProxies::parse(&config.server.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("server.trusted_proxies: {e}"))?
        .with_header(header);
    if !trusted.is_empty() {
        tracing::info!(
            proxies = %config.server.trusted_proxies,
            header = %config.server.forwarded_header,
            "client addresses come from this header when these proxies send it"
        );
        if config.server.public_url.is_empty() {
            tracing::warn!(
                "server.public_url is empty: links in mails point at {public_url}; set it to the address customers use"
            );
        }
    }
    Ok(trusted)
}

/// The mail transport from configuration: SMTP when a host is set, `.eml` files otherwise.
pub fn build_mailer(config: &Config) -> anyhow::Result<Arc<Mailer>> {
    let transport = if config.mail.smtp_host.is_empty() {
        Transport::file(config.data_dir().join("mail").join("outbox"))
            .map_err(anyhow::Error::msg)?
    } else {
        Transport::smtp(&mailer::transport::SmtpSettings {
            host: config.mail.smtp_host.clone(),
            port: config.mail.smtp_port,
            security: config.mail.smtp_security.clone(),
            username: config.mail.smtp_username.clone(),
            password: config.mail.smtp_password.clone(),
            timeout: Duration::from_secs(config.mail.smtp_timeout_secs),
        })
        .map_err(anyhow::Error::msg)?
    };
    let templates = Templates::new(Some(config.data_dir().join("templates").join("mail")));
    Ok(Mailer::new(templates, transport, &config.mail.from)?)
}

/// The auth service with keys from `<data_dir>/secrets` (or the configured secret).
pub fn build_auth(
    config: &Config,
    store: Store,
    clock: Arc<dyn Clock>,
    public_url: &str,
) -> anyhow::Result<Auth> {
    let a = &config.auth;
    let keys = Keys::load_or_create(
        &config.data_dir().join("secrets"),
        a.jwt_secret.expose(),
        &a.jwt_issuer,
        &a.jwt_audience,
    )
    .map_err(anyhow::Error::msg)?;
    let settings = AuthSettings {
        access_ttl_secs: a.access_token_ttl_secs,
        refresh_ttl: Duration::from_secs(a.refresh_token_ttl_days * 24 * 3600),
        verify_ttl: Duration::from_secs(a.verification_ttl_hours * 3600),
        reset_ttl: Duration::from_secs(a.reset_ttl_minutes * 60),
        hash: HashParams {
            memory_kib: a.argon2_memory_kib,
            iterations: a.argon2_iterations,
            parallelism: a.argon2_parallelism,
        },
        hashing_concurrency: a.hashing_concurrency,
        account_failures_per_hour: a.login_failures_per_account_per_hour,
        public_url: public_url.to_owned(),
        shop_name: config.shop.name.clone(),
    };
    Auth::new(store, clock, keys, settings).map_err(anyhow::Error::msg)
}

/// The commerce services, wired to one another.
pub struct Commerce {
    /// Carts.
    pub carts: cart::Carts,
    /// Checkout.
    pub checkout: checkout::Checkout,
    /// Orders.
    pub orders: orders::Orders,
    /// Payments.
    pub payments: payments::Payments,
    /// Pricing rules.
    pub rules: crate::domain::rules::PricingRules,
}

/// Builds the commerce services from the configuration.
pub fn build_commerce(config: &Config, store: Store, public_url: &str) -> anyhow::Result<Commerce> {
    let currency = crate::core::Currency::parse(&config.shop.currency)
        .map_err(|e| anyhow::anyhow!("shop.currency: {e}"))?;
    let cart_settings = cart::CartSettings {
        max_lines: config.cart.max_lines,
        max_line_quantity: config.cart.max_line_quantity,
        idle: Duration::from_secs(config.cart.idle_days * 24 * 3600),
        currency,
    };
    let order_settings = orders::OrderSettings {
        shop_name: config.shop.name.clone(),
        public_url: public_url.to_owned(),
        link_key: order_link_key(&config.data_dir().join("secrets"))
            .context("the order-link key")?,
    };
    let strategy = crate::domain::inventory::Strategy::parse(&config.checkout.reservation_strategy)
        .ok_or_else(|| {
            anyhow::anyhow!("checkout.reservation_strategy must be pessimistic or optimistic")
        })?;
    let checkout_settings = checkout::CheckoutSettings {
        reservation_ttl: Duration::from_secs(config.checkout.reservation_ttl_minutes * 60),
        strategy,
        flat_rate: config.checkout.flat_rate_shipping,
        ..checkout::CheckoutSettings::default()
    };
    let payment_settings = payments::PaymentSettings {
        provider: config.payments.provider.clone(),
        capture: payments::Capture::parse(&config.payments.capture)
            .ok_or_else(|| anyhow::anyhow!("payments.capture must be automatic or manual"))?,
        settle: payments::SettleSettings {
            orders: order_settings.clone(),
        },
        stripe_webhook_secrets: config.payments_stripe.webhook_secrets.expose().to_vec(),
        reconcile_after: Duration::from_secs(config.payments.reconcile_after_secs),
    };
    tracing::info!(
        provider = %payment_settings.provider,
        capture = %config.payments.capture,
        "payments"
    );
    let mut gateways = payments::Gateways::builtin();
    let s = &config.payments_stripe;
    if payment_settings.provider == "stripe" && s.secret_key.is_empty() {
        anyhow::bail!(
            "payments.provider is stripe: set payments.stripe.secret_key (SHOPD_PAYMENTS_STRIPE_SECRET_KEY_FILE)"
        );
    }
    if !s.secret_key.is_empty() {
        let mode = match s.mode.as_str() {
            "checkout" => crate::gateway::stripe::Mode::Checkout,
            _ => crate::gateway::stripe::Mode::PaymentIntents,
        };
        let g =
            crate::gateway::stripe::StripeGateway::new(crate::gateway::stripe::StripeSettings {
                secret_key: s.secret_key.expose().to_owned(),
                api_base: s.api_base.clone(),
                mode,
                public_url: public_url.to_owned(),
            })
            .map_err(anyhow::Error::msg)?;
        gateways.add(Arc::new(g));
        if s.webhook_secrets.expose().is_empty() {
            tracing::warn!(
                "payments.stripe.webhook_secrets is empty: Stripe webhooks are refused, payments settle only by the return call and reconciliation"
            );
        }
    }
    let payments = payments::Payments::new(store.clone(), gateways, payment_settings);
    let rules = crate::domain::rules::PricingRules::new(store.clone(), currency);
    Ok(Commerce {
        carts: cart::Carts::new(store.clone(), cart_settings.clone(), rules.clone()),
        checkout: checkout::Checkout::new(
            store.clone(),
            cart_settings,
            checkout_settings,
            payments.clone(),
            rules.clone(),
        ),
        orders: orders::Orders::new(store, order_settings),
        payments,
        rules,
    })
}

/// Opens (and if needed rebuilds) the search index under `<data_dir>/search`.
pub async fn open_search(
    config: &Config,
    catalog: Catalog,
    inventory: Inventory,
) -> anyhow::Result<Search> {
    let root = config.data_dir().join("search");
    let threads = config.search.threads;
    tokio::task::spawn_blocking(move || Search::open(&root, catalog, inventory, threads))
        .await
        .context("opening the search index")?
        .map_err(anyhow::Error::new)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_modules_migrations_reach_the_schema_version_once_each() {
        super::SCHEMA.check().expect("one step to every version");
    }
}
