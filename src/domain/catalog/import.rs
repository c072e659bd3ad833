//! Importing a Shopify product CSV: products are validated outside the writer, then written
//! a batch per transaction, each product created or updated whole or not at all. The report
//! says, per product and per line, what was created, updated, changed and refused.

use std::collections::HashMap;

use serde::Serialize;

use super::input::{FieldIssue, ValidProduct, validate};
use super::model::{PRODUCT_SLUGS, PRODUCTS, Product, SKUS, VARIANTS};
use super::shopify_csv::{self, ParsedProduct, RowError};
use super::{Catalog, CatalogError, assemble, changed, describe, index, unindex};
use crate::core::{Currency, ProductId, VariantId};
use crate::storage::{Order, Reader, StorageError, WriteTx};

/// Products per write transaction.
const BATCH: usize = 100;

/// What happened to one product of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportResult {
    /// A new product (with `dry_run`: would be).
    Created,
    /// An existing product with the same handle, replaced (with `dry_run`: would be).
    Updated,
    /// Refused; the reasons are in `errors` under its lines.
    Failed,
}

/// One product of the file.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ImportedProduct {
    /// First line of the product.
    pub line: u64,
    /// Handle as written in the file.
    pub handle: String,
    /// Handle (slug) it has in shopd.
    pub slug: String,
    /// Outcome.
    pub result: ImportResult,
    /// Id of the created or updated product (absent for failures and dry-run creations).
    #[schema(value_type = Option<String>)]
    pub id: Option<ProductId>,
    /// Number of warnings on its lines.
    pub warnings: u32,
}

/// Stock facts of an imported variant, for inventory to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedStock {
    /// The variant.
    pub variant: VariantId,
    /// Units on hand, when the file gave a quantity for a tracked variant.
    pub on_hand: Option<i64>,
    /// Sell beyond zero.
    pub allow_backorder: bool,
}

/// Outcome of a CSV import.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Nothing was written (`--dry-run`): the figures say what an import would do.
    pub dry_run: bool,
    /// Products created.
    pub created: u64,
    /// Products updated.
    pub updated: u64,
    /// Products created or updated with at least one warning.
    pub warned: u64,
    /// Products refused.
    pub failed: u64,
    /// Every product of the file, in file order.
    pub products: Vec<ImportedProduct>,
    /// Lines that could not be imported (their product was skipped whole), in line order.
    pub errors: Vec<RowError>,
    /// What was accepted but changed or deserves a look, in line order.
    pub warnings: Vec<RowError>,
    /// Stock facts of imported variants, for inventory to apply.
    #[serde(skip)]
    pub stock: Vec<ImportedStock>,
}

/// A parsed product with its validation done (outside the writer).
struct Prepared {
    parsed: ParsedProduct,
    valid: Option<ValidProduct>,
}

/// Puts a field's message on the line it came from: a variant's own line, else the product's.
fn on_line(p: &ParsedProduct, issue: &FieldIssue) -> RowError {
    let line = issue
        .field
        .strip_prefix("variants[")
        .and_then(|r| r.split_once(']'))
        .and_then(|(n, _)| n.parse::<usize>().ok())
        .and_then(|n| p.variant_lines.get(n).copied())
        .unwrap_or(p.line);
    RowError {
        line,
        handle: p.handle.clone(),
        message: format!("{}: {}", issue.field, issue.message),
    }
}

fn prepare(mut parsed: ParsedProduct) -> Prepared {
    if !parsed.errors.is_empty() {
        return Prepared {
            parsed,
            valid: None,
        };
    }
    match validate(&parsed.input) {
        Ok(v) => {
            let w: Vec<RowError> = v.warnings.iter().map(|i| on_line(&parsed, i)).collect();
            parsed.warnings.extend(w);
            Prepared {
                parsed,
                valid: Some(v),
            }
        }
        Err(issues) => {
            let e: Vec<RowError> = issues.iter().map(|i| on_line(&parsed, i)).collect();
            parsed.errors.extend(e);
            Prepared {
                parsed,
                valid: None,
            }
        }
    }
}

fn option_key(values: &[String]) -> Vec<String> {
    values.iter().map(|s| s.trim().to_lowercase()).collect()
}

/// What the products of this file done so far hold: their SKUs (upper case → slug; a dry run
/// writes nothing, so the store cannot say that an earlier product of the file has a SKU) and
/// their handles (→ first line), so a later product never replaces an earlier one of the same
/// file.
#[derive(Default)]
struct Seen {
    skus: HashMap<String, String>,
    slugs: HashMap<String, u64>,
}

/// Warns about SKUs that other products hold too (allowed, as in Shopify).
fn shared_skus(
    tx: &WriteTx<'_>,
    p: &Product,
    parsed: &ParsedProduct,
    seen: &mut Seen,
) -> Result<Vec<RowError>, StorageError> {
    let mut out = Vec::new();
    for (i, v) in p.variants.iter().enumerate() {
        let Some(sku) = &v.sku else { continue };
        let key = sku.to_uppercase();
        let mut message = None;
        let holders = tx.prefix(&SKUS, &key, None, Order::Asc, 8)?;
        for ((_, other), ()) in holders {
            match tx.get(&VARIANTS, &other)? {
                Some(owner) if owner != p.id => {
                    message = Some(format!("SKU `{sku}` is also used by product {owner}"));
                    break;
                }
                _ => {}
            }
        }
        match seen.skus.get(&key) {
            Some(slug) if message.is_none() && *slug != p.slug => {
                message = Some(format!(
                    "SKU `{sku}` is also used by product `{slug}` earlier in this file"
                ));
            }
            _ => {}
        }
        if let Some(message) = message {
            out.push(RowError {
                line: parsed.variant_lines.get(i).copied().unwrap_or(parsed.line),
                handle: parsed.handle.clone(),
                message,
            });
        }
    }
    Ok(out)
}

/// Remembers a dry-run product's SKUs for the products after it.
fn remember(seen: &mut Seen, p: &Product) {
    for sku in p.variants.iter().filter_map(|v| v.sku.as_ref()) {
        seen.skus
            .entry(sku.to_uppercase())
            .or_insert_with(|| p.slug.clone());
    }
}

/// One product's outcome and the stock facts to apply.
struct Applied {
    product: ImportedProduct,
    warnings: Vec<RowError>,
    errors: Vec<RowError>,
    stock: Vec<ImportedStock>,
}

fn failed(p: ParsedProduct, slug: String) -> Applied {
    Applied {
        product: ImportedProduct {
            line: p.line,
            handle: p.handle,
            slug,
            result: ImportResult::Failed,
            id: None,
            warnings: u32::try_from(p.warnings.len()).unwrap_or(u32::MAX),
        },
        warnings: p.warnings,
        errors: p.errors,
        stock: Vec::new(),
    }
}

/// Creates or updates one product inside `tx` (or, with `dry_run`, only checks it can be).
fn apply(
    tx: &mut WriteTx<'_>,
    prep: Prepared,
    dry_run: bool,
    seen: &mut Seen,
) -> Result<Applied, StorageError> {
    let Prepared { mut parsed, valid } = prep;
    let slug = parsed.input.slug.clone().unwrap_or_default();
    let Some(mut valid) = valid else {
        return Ok(failed(parsed, slug));
    };
    if let Some(first) = seen.slugs.get(&valid.slug).filter(|_| !parsed.regenerated) {
        parsed.errors.push(RowError {
            line: parsed.line,
            handle: parsed.handle.clone(),
            message: format!(
                "Handle `{}` is already the handle of the product on line {first} of this file",
                valid.slug
            ),
        });
        return Ok(failed(parsed, slug));
    }
    // A handle made from the title never names an existing product: it gets a number instead.
    valid.slug_explicit &= !parsed.regenerated;
    let existing = match tx.get(&PRODUCT_SLUGS, &valid.slug)? {
        Some(id) if !parsed.regenerated => tx.get(&PRODUCTS, &id)?,
        _ => None,
    };
    if let Some(old) = &existing {
        // Variants are found by option values (SKUs may repeat or be missing).
        let ids: HashMap<Vec<String>, VariantId> = old
            .variants
            .iter()
            .map(|v| (option_key(&v.option_values), v.id))
            .collect();
        for v in valid.variants.iter_mut() {
            v.id = ids.get(&option_key(&v.option_values)).copied();
        }
    }
    let p = match assemble(tx, valid, existing.as_ref()) {
        Ok(p) => p,
        Err(CatalogError::Storage(s)) => return Err(s),
        Err(e) => {
            parsed.errors.push(RowError {
                line: parsed.line,
                handle: parsed.handle.clone(),
                message: describe(&e),
            });
            return Ok(failed(parsed, slug));
        }
    };
    seen.slugs.entry(p.slug.clone()).or_insert(parsed.line);
    let shared = shared_skus(tx, &p, &parsed, seen)?;
    parsed.warnings.extend(shared);
    if dry_run {
        remember(seen, &p);
    } else {
        if let Some(old) = &existing {
            unindex(tx, old)?;
        }
        index(tx, &p)?;
        changed(tx, p.id)?;
    }
    let stock = if dry_run {
        Vec::new()
    } else {
        parsed
            .stock
            .iter()
            .filter_map(|s| {
                p.variants.get(s.variant).map(|v| ImportedStock {
                    variant: v.id,
                    on_hand: s.on_hand,
                    allow_backorder: s.allow_backorder,
                })
            })
            .collect()
    };
    let result = if existing.is_some() {
        ImportResult::Updated
    } else {
        ImportResult::Created
    };
    Ok(Applied {
        product: ImportedProduct {
            line: parsed.line,
            handle: parsed.handle,
            slug: p.slug,
            result,
            id: (existing.is_some() || !dry_run).then_some(p.id),
            warnings: u32::try_from(parsed.warnings.len()).unwrap_or(u32::MAX),
        },
        warnings: parsed.warnings,
        errors: parsed.errors,
        stock,
    })
}

impl ImportReport {
    fn add(&mut self, a: Applied) {
        match a.product.result {
            ImportResult::Created => self.created += 1,
            ImportResult::Updated => self.updated += 1,
            ImportResult::Failed => self.failed += 1,
        }
        if a.product.result != ImportResult::Failed && !a.warnings.is_empty() {
            self.warned += 1;
        }
        self.products.push(a.product);
        self.warnings.extend(a.warnings);
        self.errors.extend(a.errors);
        self.stock.extend(a.stock);
    }
}

impl Catalog {
    /// Imports a Shopify product CSV: each product is created, or updated when its handle exists
    /// (variants keep their ids when their option values match), whole or not at all. With
    /// `dry_run` nothing is written. `progress` gets (products done, products in the file).
    pub async fn import_csv(
        &self,
        data: impl std::io::Read + Send + 'static,
        currency: Currency,
        dry_run: bool,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<ImportReport, CatalogError> {
        // Parsing and validating tens of MB is seconds of CPU: off the async workers.
        let (prepared, errors) = tokio::task::spawn_blocking(move || {
            let (parsed, errors) = shopify_csv::parse(data, currency);
            let prepared: Vec<Prepared> = parsed.into_iter().map(prepare).collect();
            (prepared, errors)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "import parser stopped");
            CatalogError::Internal(format!("import parser stopped: {e}"))
        })?;
        let total = prepared.len() as u64;
        let mut report = ImportReport {
            dry_run,
            errors,
            ..ImportReport::default()
        };
        let mut it = prepared.into_iter().peekable();
        let mut done = 0;
        let mut seen = Seen::default();
        while it.peek().is_some() {
            let chunk: Vec<Prepared> = it.by_ref().take(BATCH).collect();
            done += chunk.len() as u64;
            let (applied, back) = self
                .store
                .write(move |tx| {
                    let mut out = Vec::with_capacity(chunk.len());
                    for p in chunk {
                        out.push(apply(tx, p, dry_run, &mut seen)?);
                    }
                    Ok::<_, StorageError>((out, seen))
                })
                .await?;
            seen = back;
            for a in applied {
                report.add(a);
            }
            progress(done, total);
        }
        report.errors.sort_by_key(|e| e.line);
        report.warnings.sort_by_key(|e| e.line);
        Ok(report)
    }
}
