//! `shopd recommend evaluate` and `shopd recommend import-orders` (offline: stop the server
//! first; they open the data directory themselves).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::offline_store;
use crate::config::Config;
use crate::domain::catalog::Catalog;
use crate::domain::inventory::Inventory;
use crate::domain::recommend::{Recommender, evaluate};
use crate::domain::search::Search;

fn bar(what: &str, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The store, a recommender over it and a runtime, for one offline command.
fn open(
    cfg: &Config,
) -> anyhow::Result<(tokio::runtime::Runtime, crate::storage::Store, Recommender)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let store = offline_store(cfg)?;
    let catalog = Catalog::new(store.clone());
    let inventory = Inventory::new(store.clone());
    let search = Search::open(
        &cfg.data_dir().join("search"),
        catalog.clone(),
        inventory.clone(),
        1,
    )?;
    let rec = Recommender::new(store.clone(), catalog, search);
    Ok((runtime, store, rec))
}

/// Prints the evaluation table (or JSON).
pub(super) fn evaluate(cfg: Config, k: usize, json: bool) -> anyhow::Result<ExitCode> {
    if !(1..=50).contains(&k) {
        anyhow::bail!("--k must be 1 to 50");
    }
    let (_runtime, store, rec) = open(&cfg)?;
    let reading = ProgressBar::new_spinner();
    reading.enable_steady_tick(Duration::from_millis(200));
    let baskets =
        rec.history(&mut |n| reading.set_message(format!("reading history: {n} orders")))?;
    reading.finish_and_clear();
    let catalog = Catalog::new(store.clone())
        .all_products(1000)
        .filter(|p| {
            p.as_ref()
                .is_ok_and(|p| p.status == crate::domain::catalog::Status::Active)
        })
        .count();
    let b = bar("evaluating", "test orders");
    let report = evaluate::evaluate(
        &baskets,
        &|p| rec.similar_list(p),
        catalog,
        k,
        &mut |done, total| {
            b.set_length(total);
            b.set_position(done);
        },
    );
    b.finish_and_clear();
    store.shutdown_blocking();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", table(&report));
    Ok(ExitCode::SUCCESS)
}

/// The report as a text table, one block per split.
pub fn table(r: &evaluate::Report) -> String {
    let mut out = format!(
        "{} orders replayed, catalog of {} products, k = {}\n",
        r.orders, r.catalog, r.k
    );
    for s in &r.splits {
        out.push_str(&format!(
            "\n{} ({} test orders, {} training orders)\n{:<16} {:>9} {:>9} {:>9} {:>9}\n",
            s.name,
            s.cases,
            s.training_orders,
            "strategy",
            format!("hit@{}", r.k),
            format!("recall@{}", r.k),
            format!("ndcg@{}", r.k),
            "coverage"
        ));
        for row in &s.rows {
            out.push_str(&format!(
                "{:<16} {:>9.3} {:>9.3} {:>9.3} {:>9.3}\n",
                row.strategy, row.hit_rate, row.recall, row.ndcg, row.coverage
            ));
        }
    }
    if r.splits.iter().all(|s| s.cases == 0) {
        out.push_str("\nno repeat customers yet: nothing to evaluate\n");
    }
    out
}

/// Imports order lines and ranks every list again.
pub(super) fn import_orders(cfg: Config, file: &Path) -> anyhow::Result<ExitCode> {
    let f = std::fs::File::open(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let (runtime, store, rec) = open(&cfg)?;
    let public = if cfg.server.public_url.is_empty() {
        format!("http://{}", cfg.server.bind)
    } else {
        cfg.server.public_url.clone()
    };
    let clock: Arc<dyn crate::core::Clock> = Arc::new(crate::core::SystemClock);
    let auth = crate::app::build_auth(&cfg, store.clone(), clock, &public)?;
    let customer = move |who: &str| {
        auth.customer_id_by_email(who)
            .ok()
            .flatten()
            .map(|c| c.to_string())
    };
    let b = bar("importing", "orders");
    let b2 = b.clone();
    let report = runtime.block_on(rec.import_orders(
        std::io::BufReader::new(f),
        &customer,
        &mut move |done, total| {
            b2.set_length(total);
            b2.set_position(done);
        },
    ))?;
    b.finish_and_clear();
    let ranking = bar("ranking", "products");
    let r2 = ranking.clone();
    let ranked = runtime.block_on(rec.rank_all_together(&mut move |n| r2.set_position(n)))?;
    ranking.finish_and_clear();
    store.shutdown_blocking();
    println!(
        "{} lines read: {} orders imported, {} already imported, {} lines of unpaid orders left out, {} lines skipped; {ranked} products ranked",
        report.lines,
        report.orders_imported,
        report.orders_already_imported,
        report.lines_not_paid,
        report.lines_skipped
    );
    for p in &report.problems {
        println!("  {p}");
    }
    // A file of which no order could be read is an error (a wrong file, a wrong layout).
    let read = report.orders_imported + report.orders_already_imported;
    Ok(if report.lines_skipped > 0 && read == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
