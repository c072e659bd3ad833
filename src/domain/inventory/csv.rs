//! Shopify CSV import and export with stock: the catalog reads and writes the products, and
//! `Variant Inventory Qty` becomes (or comes from) each tracked variant's units on hand.

use super::{
    Backorder, Inventory, InventoryError, MovementKind, Policy, STOCK, set_on_hand_notify,
};
use crate::core::Currency;
use crate::core::errors::{Code, ErrorCode, FieldIssue};
use crate::domain::catalog::shopify_csv::StockOut;
use crate::domain::catalog::{Catalog, CatalogError, ImportReport, ImportedStock};
use crate::storage::{Reader, WriteTx};

/// Why an import or export failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The catalog refused or failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Stock could not be written.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

impl ErrorCode for CsvError {
    fn code(&self) -> Code {
        match self {
            CsvError::Catalog(c) => c.code(),
            CsvError::Inventory(i) => i.code(),
        }
    }
    fn message(&self) -> String {
        match self {
            CsvError::Catalog(c) => c.message(),
            CsvError::Inventory(i) => i.message(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            CsvError::Catalog(c) => c.fields(),
            CsvError::Inventory(i) => i.fields(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            CsvError::Catalog(c) => c.retry_after(),
            CsvError::Inventory(i) => i.retry_after(),
        }
    }
}

impl Inventory {
    /// Imports a Shopify product CSV, then applies its stock facts: on hand of every imported
    /// tracked variant that had a `Variant Inventory Qty`, and the backorder policy from
    /// `Variant Inventory Policy`. `actor` is recorded on the stock movements; `notify` queues
    /// re-indexing of products whose availability changed (off when a reindex follows).
    pub async fn import_csv(
        &self,
        catalog: &Catalog,
        data: impl std::io::Read + Send + 'static,
        currency: Currency,
        dry_run: bool,
        who: (&str, bool),
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<ImportReport, CsvError> {
        let (actor, notify) = who;
        let mut report = catalog
            .import_csv(data, currency, dry_run, progress)
            .await?;
        let stock = std::mem::take(&mut report.stock);
        for chunk in stock.chunks(500) {
            let chunk = chunk.to_vec();
            let actor = actor.to_owned();
            self.store
                .write(move |tx| {
                    for s in chunk {
                        apply(tx, &s, &actor, notify)?;
                    }
                    Ok::<_, InventoryError>(())
                })
                .await?;
        }
        Ok(report)
    }

    /// Writes every product as Shopify CSV with units on hand and backorder policy of each
    /// variant that has a stock level. Returns the number of products.
    pub fn export_csv(&self, catalog: &Catalog, out: impl std::io::Write) -> Result<u64, CsvError> {
        let mut failed = None;
        let n = catalog.export_csv(
            &mut |r, v| match r.get(&STOCK, &v.id) {
                Ok(l) => StockOut {
                    on_hand: l.as_ref().map(|l| l.on_hand),
                    allow_backorder: l.is_some_and(|l| l.backorder == Backorder::Allow),
                },
                Err(e) => {
                    failed = Some(e);
                    StockOut::default()
                }
            },
            out,
        )?;
        match failed {
            Some(e) => Err(CsvError::Inventory(e.into())),
            None => Ok(n),
        }
    }
}

/// Sets one imported variant's stock facts, writing only what changed.
fn apply(
    tx: &mut WriteTx<'_>,
    s: &ImportedStock,
    actor: &str,
    notify: bool,
) -> Result<(), InventoryError> {
    let existing = tx.get(&STOCK, &s.variant)?;
    let current = existing.clone().unwrap_or_default();
    let backorder = if s.allow_backorder {
        Backorder::Allow
    } else {
        Backorder::Deny
    };
    let on_hand = s.on_hand.unwrap_or(current.on_hand);
    // A count the file states (0 included) is kept as a level, so the export says it again.
    let stated = s.on_hand.is_some() && existing.is_none();
    if current.on_hand == on_hand && current.backorder == backorder && !stated {
        return Ok(());
    }
    let policy = Policy {
        backorder: Some(backorder),
        low_stock_threshold: None,
    };
    let why = (MovementKind::Import, "CSV import", actor);
    set_on_hand_notify(tx, s.variant, on_hand, &policy, why, notify)?;
    Ok(())
}
