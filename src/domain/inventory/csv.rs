//! Shopify CSV import and export with stock: the catalog reads and writes the products, and
//! `Variant Inventory Qty` becomes (or comes from) each tracked variant's units on hand.

use super::{Inventory, InventoryError, MovementKind, STOCK};
use crate::core::Currency;
use crate::core::errors::{Code, ErrorCode, FieldIssue};
use crate::domain::catalog::{Catalog, CatalogError, ImportReport};
use crate::storage::Reader;

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
    /// Imports a Shopify product CSV, then sets on hand of every imported tracked variant that
    /// had a `Variant Inventory Qty`. `actor` is recorded on the stock movements; `notify`
    /// queues re-indexing of products whose availability changed (off when a reindex follows).
    pub async fn import_csv(
        &self,
        catalog: &Catalog,
        data: impl std::io::Read,
        currency: Currency,
        actor: &str,
        notify: bool,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<ImportReport, CsvError> {
        let mut report = catalog.import_csv(data, currency, progress).await?;
        let stock = std::mem::take(&mut report.stock);
        self.set_many(stock, MovementKind::Import, "CSV import", actor, notify)
            .await?;
        Ok(report)
    }

    /// Writes every product as Shopify CSV with units on hand of tracked variants that have a
    /// stock level. Returns the number of products.
    pub fn export_csv(&self, catalog: &Catalog, out: impl std::io::Write) -> Result<u64, CsvError> {
        let r = self
            .store
            .read()
            .map_err(|e| CsvError::Inventory(e.into()))?;
        let mut failed = None;
        let n = catalog.export_csv(
            &mut |v| match r.get(&STOCK, &v.id) {
                Ok(l) => l.map(|l| l.on_hand),
                Err(e) => {
                    failed = Some(e);
                    None
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
