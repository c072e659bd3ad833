//! Command line: `serve`, `check-config`, `config example`, `backup`, `restore`, `admin`,
//! `reindex`, `import`, `export`, `demo`, `recommend`, `version`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::{App, AppOptions, SCHEMA};
use crate::config::{Config, Overrides};
use crate::domain::inventory::Inventory;
use crate::domain::search::Search;
use crate::observability::logging;
use crate::storage::{self, DataDirLock, backup};

mod recommend;

/// shopd — a complete online shop in one binary.
///
/// Runs the storefront, admin, JSON API, payments, search, mail and background jobs on one
/// embedded data directory: no database server, cache, queue broker or search cluster.
/// Start with `shopd serve --temp` to try it on a throw-away data directory.
#[derive(Parser, Debug)]
#[command(name = "shopd", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Configuration file (TOML); see `shopd config example`.
    #[arg(long, global = true, env = "SHOPD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log format: auto (human on a terminal, JSON otherwise), human or json.
    #[arg(long, global = true, value_name = "FORMAT", value_parser = ["auto", "human", "json"])]
    log_format: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the shop: HTTP API, web pages and background workers.
    Serve(ServeArgs),
    /// Validate configuration and the data directory (on PostgreSQL: connect, and report TLS and
    /// the schema version), then print the effective settings.
    CheckConfig(DataDirArg),
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Write a consistent backup of a data directory to a file (embedded store: stop the server
    /// first; on PostgreSQL it runs online).
    Backup {
        /// Backup file to write.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Replace a data directory's contents with a backup (offline: stop the server first).
    Restore {
        /// Backup file written by `shopd backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Copy a whole shop between the embedded store and PostgreSQL (either way), then verify
    /// the copy by entry counts and a SHA-256 over every table, key and value. The target must
    /// be empty; stop the shop first.
    MigrateStorage {
        /// Where the shop is now: a data directory, or a postgres:// connection string.
        #[arg(long, value_name = "DIR|URL")]
        from: String,
        /// Where it goes: an empty data directory, or a postgres:// connection string of an
        /// empty database.
        #[arg(long, value_name = "DIR|URL")]
        to: String,
    },
    /// Manage admin accounts (embedded store: stop the server first; on PostgreSQL it may run beside the nodes, with a --data-dir of its own).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Rebuild the search index from the catalog (offline: stop the server first).
    Reindex(DataDirArg),
    /// Import data (embedded store: stop the server first; on PostgreSQL it may run beside the nodes, with a --data-dir of its own).
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Export data (embedded store: stop the server first; on PostgreSQL it may run beside the nodes, with a --data-dir of its own).
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Add a generated, deterministic demo catalog of N products (embedded store: stop the server first; on PostgreSQL it may run beside the nodes, with a --data-dir of its own).
    Demo {
        /// Number of products.
        #[arg(long, default_value_t = 300)]
        products: usize,
        /// Seed (the same seed gives the same catalog).
        #[arg(long, default_value_t = crate::app::DEMO_SEED)]
        seed: u64,
        /// Order lines of the generated order history the recommendations learn from.
        #[arg(long, default_value_t = crate::domain::recommend::demo::DEFAULT_LINES)]
        order_lines: usize,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Recommendations: measure the strategies on the shop's order history, or import
    /// historical orders (embedded store: stop the server first; on PostgreSQL it may run beside the nodes, with a --data-dir of its own).
    Recommend {
        #[command(subcommand)]
        command: RecommendCommand,
    },
    /// Print the version and the data schema version.
    Version,
}

#[derive(Subcommand, Debug)]
enum RecommendCommand {
    /// Replay the paid order history and print hit rate, recall, NDCG at k and catalog
    /// coverage of every strategy: each repeat customer's last order held out, and a time
    /// split (the last 20 % of orders tested against the first 80 %).
    Evaluate {
        /// Recommendations per test order (1–50).
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Count historical orders from a CSV of order lines (columns
    /// `order_id,customer,product,quantity,time`, or Shopify's order export); a product is a
    /// handle, id or SKU; an order already imported is not counted twice.
    ImportOrders {
        /// The CSV file.
        file: PathBuf,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Subcommand, Debug)]
enum ImportWhat {
    /// Products from a Shopify product CSV; re-importing updates by handle instead of duplicating.
    Products {
        /// The CSV file (Shopify's export format).
        file: PathBuf,
        /// Currency of the prices in the file.
        #[arg(long, default_value = "USD")]
        currency: String,
        /// Check the file and report what an import would do, writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also write the full report (every product, error and warning) as JSON to this file.
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Subcommand, Debug)]
enum ExportWhat {
    /// Products as a Shopify product CSV.
    Products {
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create an admin account. Prompts for the password on a terminal; otherwise reads the
    /// password and its confirmation as two lines from standard input.
    Create {
        /// Email of the new admin.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long, default_value = "Admin")]
        name: String,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print a complete configuration file with every key, its default and a comment.
    Example,
}

#[derive(Args, Debug)]
struct DataDirArg {
    /// Data directory (default from config, `SHOPD_STORAGE_DATA_DIR`, or ./shopd-data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Data directory (created if missing).
    #[arg(long, value_name = "DIR", conflicts_with = "temp")]
    data_dir: Option<PathBuf>,
    /// Use a fresh temporary data directory, removed on clean exit (for trying and testing).
    #[arg(long)]
    temp: bool,
    /// Listen address, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Start with a demo catalog (a few hundred products) when the catalog is empty.
    #[arg(long)]
    demo: bool,
}

/// Parses the command line and runs it; the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(
    cli_config: &Option<PathBuf>,
    log_format: &Option<String>,
    data_dir: Option<PathBuf>,
    bind: Option<String>,
) -> anyhow::Result<Config> {
    let overrides = Overrides {
        bind,
        data_dir,
        log_format: log_format.clone(),
    };
    Ok(Config::load(cli_config.as_deref(), &overrides)?)
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Version => {
            println!(
                "shopd {} (data schema {})",
                env!("CARGO_PKG_VERSION"),
                SCHEMA.version
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", Config::example());
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin {
            command: AdminCommand::Create { email, name, dir },
        } => {
            let cfg = load(&cli.config, &cli.log_format, dir.data_dir, None)?;
            let password = read_new_password()?;
            create_admin(cfg, &email, &name, &password)
        }
        Command::Demo {
            products,
            seed,
            order_lines,
            dir,
        } => {
            let cfg = load(&cli.config, &cli.log_format, dir.data_dir, None)?;
            demo(cfg, products, seed, order_lines)
        }
        Command::Import {
            what:
                ImportWhat::Products {
                    file,
                    currency,
                    dry_run,
                    report,
                    dir,
                },
        } => {
            let cfg = load(&cli.config, &cli.log_format, dir.data_dir, None)?;
            import_products(cfg, &file, &currency, dry_run, report.as_deref())
        }
        Command::Export {
            what: ExportWhat::Products { out, dir },
        } => {
            let cfg = load(&cli.config, &cli.log_format, dir.data_dir, None)?;
            export_products(cfg, out)
        }
        Command::Recommend {
            command: RecommendCommand::Evaluate { k, json, dir },
        } => {
            let cfg = load(&cli.config, &cli.log_format, dir.data_dir, None)?;
            recommend::evaluate(cfg, k, json)
        }
        Command::Recommend {
            command: RecommendCommand::ImportOrders { file, dir },
        } => {
            let cfg = load(&cli.config, &cli.log_format, dir.data_dir, None)?;
            recommend::import_orders(cfg, &file)
        }
        Command::Reindex(dir) => {
            let cfg = load(&cli.config, &cli.log_format, dir.data_dir, None)?;
            reindex(cfg)
        }
        Command::CheckConfig(dir) => check_config(&cli.config, &cli.log_format, dir.data_dir),
        Command::Serve(args) => serve(&cli.config, &cli.log_format, args),
        Command::Backup { to, dir } => {
            let cfg = load(&cli.config, &cli.log_format, dir.data_dir, None)?;
            let bar = progress_bar("backing up");
            let stats = backup::backup(&store_options(&cfg), &to, &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            println!(
                "backup written to {}: {} tables, {} entries, {} bytes (schema {})",
                to.display(),
                stats.tables,
                stats.entries,
                stats.bytes,
                stats.schema_version
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { from, dir } => {
            let cfg = load(&cli.config, &cli.log_format, dir.data_dir, None)?;
            let bar = progress_bar("restoring");
            let stats = backup::restore(
                &store_options(&cfg),
                &from,
                SCHEMA.version,
                &mut |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                },
            )?;
            bar.finish_and_clear();
            let kept = match cfg.storage_backend() {
                storage::Backend::Embedded => format!(
                    "{}: the previous database is kept as {}.before-restore",
                    cfg.data_dir().display(),
                    storage::DB_FILE
                ),
                storage::Backend::Postgres(_) => {
                    "PostgreSQL: the previous rows are kept in the table shopd_kv_before_restore_<time>"
                        .to_string()
                }
            };
            println!(
                "restored {} tables, {} entries (schema {}) into {kept}",
                stats.tables, stats.entries, stats.schema_version,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::MigrateStorage { from, to } => {
            let cfg = load(&cli.config, &cli.log_format, None, None)?;
            let (from_opts, to_opts) = (location(&cfg, &from), location(&cfg, &to));
            let bar = progress_bar("copying");
            let moved = backup::migrate_storage(&from_opts, &to_opts, &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            println!(
                "copied {} tables, {} entries (schema {}) and verified the copy: SHA-256 {} on both sides",
                moved.stats.tables, moved.stats.entries, moved.stats.schema_version, moved.digest
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The store the configuration names (for offline tools).
fn store_options(cfg: &Config) -> storage::StoreOptions {
    storage::StoreOptions {
        backend: cfg.storage_backend(),
        cache_mib: cfg.storage.cache_mib,
        ..storage::StoreOptions::new(
            cfg.data_dir(),
            std::sync::Arc::new(crate::core::SystemClock),
            SCHEMA,
        )
    }
}

/// A `--from`/`--to` of migrate-storage: a postgres:// URL (or key=value string), or a data
/// directory.
fn location(cfg: &Config, place: &str) -> storage::StoreOptions {
    let mut opts = store_options(cfg);
    if place.starts_with("postgres://")
        || place.starts_with("postgresql://")
        || place.contains("dbname=")
    {
        opts.backend = storage::Backend::Postgres(storage::PgOptions {
            url: place.to_owned(),
            pool_size: cfg.storage.postgres_pool_size,
            statement_timeout: std::time::Duration::from_millis(
                cfg.storage.postgres_statement_timeout_ms,
            ),
        });
    } else {
        opts.backend = storage::Backend::Embedded;
        opts.data_dir = std::path::PathBuf::from(place);
    }
    opts
}

fn progress_bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} entries ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn check_config(
    config: &Option<PathBuf>,
    log_format: &Option<String>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let cfg = load(config, log_format, data_dir, None)?;
    println!("# effective configuration");
    print!("{}", toml::to_string_pretty(&cfg)?);
    if let storage::Backend::Postgres(pg) = cfg.storage_backend() {
        let probe = storage::probe_database(&pg)?;
        let tls = match &probe.tls {
            Some(v) => format!("encrypted ({v})"),
            None => "NOT encrypted (add ?sslmode=verify-full to the URL)".into(),
        };
        println!(
            "\n# database: PostgreSQL {}, connection {tls}",
            probe.server_version
        );
        println!("# database: {}", schema_state(probe.schema_version)?);
        println!("# configuration OK");
        return Ok(ExitCode::SUCCESS);
    }
    let dir = cfg.data_dir();
    if !dir.exists() {
        println!(
            "\n# data directory {} does not exist yet; it will be created at start",
            dir.display()
        );
        println!("# configuration OK");
        return Ok(ExitCode::SUCCESS);
    }
    match DataDirLock::acquire(&dir) {
        Ok(lock) => {
            let state = schema_state(storage::schema_version_of(&dir)?)?;
            println!("\n# data directory {}: {state}", dir.display());
            drop(lock);
        }
        Err(e) => println!("\n# {e}"),
    }
    println!("# configuration OK");
    Ok(ExitCode::SUCCESS)
}

/// A stored schema version against this build's: refused when newer.
fn schema_state(stored: Option<u32>) -> anyhow::Result<String> {
    let ours = SCHEMA.version;
    Ok(match stored {
        None => "empty".into(),
        Some(v) if v > ours => {
            anyhow::bail!("the data has schema version {v}, newer than this shopd's {ours}")
        }
        Some(v) if v < ours => {
            format!("schema version {v} (this shopd: {ours}), will be migrated at start")
        }
        Some(v) => format!("schema version {v} (this shopd: {ours})"),
    })
}

fn serve(
    config: &Option<PathBuf>,
    log_format: &Option<String>,
    args: ServeArgs,
) -> anyhow::Result<ExitCode> {
    let temp = if args.temp {
        Some(tempfile::Builder::new().prefix("shopd-").tempdir()?)
    } else {
        None
    };
    let data_dir = temp
        .as_ref()
        .map(|t| t.path().to_path_buf())
        .or(args.data_dir);
    let cfg = load(config, log_format, data_dir, args.bind)?;
    logging::init(&cfg.log.format, &cfg.log.level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shopd")
        .build()?;
    runtime.block_on(async move {
        let data_dir = std::path::absolute(cfg.data_dir()).unwrap_or_else(|_| cfg.data_dir());
                let mut opts = AppOptions::new(cfg);
        opts.demo = args.demo;
        let app = App::build(opts).await?;
        let base = app.base_url();
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            data_dir = %data_dir.display(),
            temporary = temp.is_some(),
            "shopd is running; data lives in {}{}",
            data_dir.display(),
            if temp.is_some() { " (temporary: removed on clean exit)" } else { "" }
        );
        tracing::info!("open {base}/ · API docs {base}/api/docs/ · health {base}/readyz · metrics {base}/metrics");
        app.run_until(shutdown_signal()).await?;
        drop(temp);
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn read_new_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let (first, second) = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ")?;
        let b = rpassword::prompt_password("Repeat password: ")?;
        (a, b)
    } else {
        let mut lines = std::io::stdin().lock().lines();
        let a = lines.next().transpose()?.unwrap_or_default();
        let b = lines.next().transpose()?.unwrap_or_default();
        (a, b)
    };
    if first != second {
        anyhow::bail!("the two passwords differ");
    }
    Ok(first)
}

fn create_admin(cfg: Config, email: &str, name: &str, password: &str) -> anyhow::Result<ExitCode> {
    use std::sync::Arc;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let store = offline_store(&cfg)?;
    runtime.block_on(async {
        let clock: Arc<dyn crate::core::Clock> = Arc::new(crate::core::SystemClock);
        let public = if cfg.server.public_url.is_empty() {
            format!("http://{}", cfg.server.bind)
        } else {
            cfg.server.public_url.clone()
        };
        let auth = crate::app::build_auth(&cfg, store.clone(), clock, &public)?;
        let result = auth
            .create_account(email, password, name, crate::domain::auth::Role::Admin)
            .await;
        drop(auth);
        store.shutdown().await;
        match result {
            Ok(c) => {
                println!(
                    "admin {} created ({}); sign in at POST /api/v1/auth/login",
                    c.email, c.id
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(anyhow::anyhow!("{e}")),
        }
    })
}

fn reindex(cfg: Config) -> anyhow::Result<ExitCode> {
    let store = offline_store(&cfg)?;
    let catalog = crate::domain::catalog::Catalog::new(store.clone());
    let inventory = Inventory::new(store.clone());
    // Opening builds a fresh index when needed; reindex rebuilds it either way.
    let search = Search::open(&cfg.data_dir().join("search"), catalog, inventory, 1)?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} reindexing: {pos} products ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let n = search.reindex(&mut |done| bar.set_position(done))?;
    bar.finish_and_clear();
    println!(
        "search index rebuilt: {n} products read, {} active products indexed",
        search.indexed()
    );
    drop(search);
    store.shutdown_blocking();
    Ok(ExitCode::SUCCESS)
}

fn demo(cfg: Config, products: usize, seed: u64, order_lines: usize) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let store = offline_store(&cfg)?;
    let catalog = crate::domain::catalog::Catalog::new(store.clone());
    let bar = ProgressBar::new(products as u64);
    bar.set_style(
        ProgressStyle::with_template("creating products [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let b2 = bar.clone();
    let created = runtime
        .block_on(catalog.seed_demo(products, seed, false, &mut move |n| b2.set_position(n)))?;
    bar.finish_and_clear();
    let inventory = Inventory::new(store.clone());
    runtime.block_on(inventory.seed_demo(&catalog))?;
    let search = Search::open(
        &cfg.data_dir().join("search"),
        catalog.clone(),
        inventory.clone(),
        1,
    )?;
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(200));
    spinner.set_message("indexing");
    search.reindex(&mut |n| spinner.set_message(format!("indexing: {n} products")))?;
    spinner.set_message("order history and recommendations");
    let rec = crate::domain::recommend::Recommender::new(store.clone(), catalog, search.clone());
    let sp = spinner.clone();
    let orders =
        runtime.block_on(
            rec.seed_demo(seed, order_lines, &mut move |stage, done, total| {
                sp.set_message(format!("{stage}: {done}/{total}"));
            }),
        )?;
    spinner.finish_and_clear();
    println!(
        "demo catalog: {created} products created, {} indexed, {orders} historical orders counted, in {:.1} s",
        search.indexed(),
        started.elapsed().as_secs_f64()
    );
    drop(rec);
    drop(search);
    store.shutdown_blocking();
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn offline_store(cfg: &Config) -> anyhow::Result<storage::Store> {
    Ok(storage::Store::open(store_options(cfg))?)
}

fn import_products(
    cfg: Config,
    file: &std::path::Path,
    currency: &str,
    dry_run: bool,
    report_file: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let currency = crate::core::Currency::parse(currency)?;
    let f = std::fs::File::open(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let store = offline_store(&cfg)?;
    let catalog = crate::domain::catalog::Catalog::new(store.clone());
    let inventory = Inventory::new(store.clone());
    let bar = progress_bar(if dry_run { "checking" } else { "importing" });
    let b2 = bar.clone();
    let report = runtime.block_on(inventory.import_csv(
        &catalog,
        std::io::BufReader::new(f),
        currency,
        dry_run,
        ("cli", false),
        &mut move |done, total| {
            b2.set_length(total);
            b2.set_position(done);
        },
    ))?;
    bar.finish_and_clear();
    if !dry_run {
        let search = Search::open(&cfg.data_dir().join("search"), catalog, inventory, 1)?;
        search.reindex(&mut |_| {})?;
        drop(search);
    }
    store.shutdown_blocking();
    if let Some(path) = report_file {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(path, json).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    print_import_report(file, &report);
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn print_import_report(file: &std::path::Path, report: &crate::domain::catalog::ImportReport) {
    let line = |kind: &str, e: &crate::domain::catalog::shopify_csv::RowError| {
        let handle = if e.handle.is_empty() {
            String::new()
        } else {
            format!(" ({})", e.handle)
        };
        println!("  {kind} line {}{handle}: {}", e.line, e.message);
    };
    for e in &report.errors {
        line("error", e);
    }
    for w in &report.warnings {
        line("warning", w);
    }
    println!(
        "{} {}: {} created, {} updated, {} with warnings, {} failed",
        if report.dry_run {
            "checked (dry run, nothing written)"
        } else {
            "imported"
        },
        file.display(),
        report.created,
        report.updated,
        report.warned,
        report.failed
    );
}

fn export_products(cfg: Config, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let store = offline_store(&cfg)?;
    let catalog = crate::domain::catalog::Catalog::new(store.clone());
    let inventory = Inventory::new(store.clone());
    let n = match &out {
        Some(path) => {
            let f = std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            inventory.export_csv(&catalog, std::io::BufWriter::new(f))?
        }
        None => inventory.export_csv(&catalog, std::io::stdout().lock())?,
    };
    store.shutdown_blocking();
    if let Some(path) = out {
        eprintln!("exported {n} products to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
