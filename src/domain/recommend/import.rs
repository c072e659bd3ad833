//! Historical order lines from a CSV file, for shops migrating with their history: grouped
//! into baskets and counted like paid orders, so the recommendations (and their offline
//! evaluation) start from the shop's past. Two layouts are read: shopd's own
//! (`order_id,customer,product,quantity,time`) and Shopify's order export (`Name`, `Email`,
//! `Lineitem sku`, `Lineitem quantity`, `Created at`, with `Financial Status`: only paid
//! orders count). A product is named by handle, id or SKU.

use std::collections::BTreeMap;

use serde::Serialize;

use super::history::{self, Basket};
use super::{RecommendError, Recommender};
use crate::core::{ProductId, Timestamp};

/// Problems listed in a report (the rest are counted).
pub const MAX_PROBLEMS: usize = 50;

/// Columns of one layout.
struct Columns {
    order: usize,
    customer: Option<usize>,
    product: usize,
    quantity: usize,
    time: usize,
    paid: Option<usize>,
}

/// What an import did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    /// Lines read.
    pub lines: u64,
    /// Orders counted now.
    pub orders_imported: u64,
    /// Orders counted by an earlier import (a file imported twice counts once).
    pub orders_already_imported: u64,
    /// Lines of orders that were not paid (Shopify's `Financial Status`).
    pub lines_not_paid: u64,
    /// Lines skipped, with why (the first [`MAX_PROBLEMS`]).
    pub problems: Vec<String>,
    /// Lines skipped in all.
    pub lines_skipped: u64,
}

impl ImportReport {
    fn skip(&mut self, line: u64, why: String) {
        self.lines_skipped += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(format!("line {line}: {why}"));
        }
    }
}

fn columns(headers: &csv::StringRecord) -> Result<Columns, String> {
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    let need = |names: &[&str]| find(names).ok_or_else(|| format!("no `{}` column", names[0]));
    Ok(Columns {
        order: need(&["order_id", "order", "Name"])?,
        customer: find(&["customer", "customer_email", "email", "Email"]),
        product: need(&["product", "handle", "sku", "Lineitem sku"])?,
        quantity: need(&["quantity", "Lineitem quantity"])?,
        time: need(&["time", "created_at", "Created at", "Paid at"])?,
        paid: find(&["Financial Status"]),
    })
}

/// RFC 3339, Shopify's `2024-03-01 10:15:00 -0500`, or a date.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        return Some(t);
    }
    let shopify = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
    );
    if let Ok(t) = time::OffsetDateTime::parse(s, &shopify) {
        return Some(Timestamp::from_millis(
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()?,
        ));
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &date).ok()?;
    let t = d.midnight().assume_utc();
    Some(Timestamp::from_millis(t.unix_timestamp() * 1000))
}

impl Recommender {
    /// The product a line names: a handle or id, else a SKU held by exactly one product.
    fn product_named(&self, name: &str) -> Result<Option<ProductId>, RecommendError> {
        match self.catalog.get_product(name, false) {
            Ok(p) => return Ok(Some(p.id)),
            Err(crate::domain::catalog::CatalogError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let holders = self.catalog.variants_by_sku(name, 10, None)?.data;
        let mut products: Vec<ProductId> = holders.iter().map(|h| h.product_id).collect();
        products.dedup();
        Ok((products.len() == 1).then(|| products[0]))
    }

    /// Reads order lines from `file` and counts each paid order once, in writes bounded by
    /// [`history::write_runs`], then ranks every list again. `customer` maps a file's customer (an email or
    /// id) to the shop's customer id when it has an account. `progress(done, total)` follows
    /// the orders.
    pub async fn import_orders(
        &self,
        file: impl std::io::Read,
        customer: &(dyn Fn(&str) -> Option<String> + Sync),
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<ImportReport, RecommendError> {
        let mut report = ImportReport::default();
        let mut rd = csv::ReaderBuilder::new().flexible(true).from_reader(file);
        let headers = rd
            .headers()
            .map_err(|e| crate::storage::StorageError::Io(e.to_string()))?
            .clone();
        let cols = columns(&headers).map_err(crate::storage::StorageError::Io)?;
        let mut baskets: BTreeMap<String, Basket> = BTreeMap::new();
        // Shopify writes an order's status on its first line only: its other lines follow it.
        let mut unpaid: std::collections::HashSet<String> = std::collections::HashSet::new();
        for (i, rec) in rd.records().enumerate() {
            let line = i as u64 + 2;
            report.lines += 1;
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    report.skip(line, e.to_string());
                    continue;
                }
            };
            let field = |c: usize| rec.get(c).unwrap_or("").trim();
            let order = field(cols.order);
            if order.is_empty() {
                report.skip(line, "no order id".into());
                continue;
            }
            if let Some(p) = cols.paid
                && !field(p).is_empty()
                && !matches!(
                    field(p).to_ascii_lowercase().as_str(),
                    "paid" | "partially_refunded"
                )
            {
                unpaid.insert(order.to_owned());
            }
            if unpaid.contains(order) {
                report.lines_not_paid += 1;
                continue;
            }
            let Some(product) = self.product_named(field(cols.product))? else {
                report.skip(line, format!("no single product `{}`", field(cols.product)));
                continue;
            };
            let Ok(qty) = field(cols.quantity).parse::<u32>() else {
                report.skip(
                    line,
                    format!("quantity `{}` is not a whole number", field(cols.quantity)),
                );
                continue;
            };
            let entry = baskets.entry(order.to_owned());
            let b = match entry {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    // Shopify repeats the time only on an order's first line.
                    let Some(at) = parse_time(field(cols.time)) else {
                        report.skip(line, format!("time `{}` is not a date", field(cols.time)));
                        continue;
                    };
                    let who = cols.customer.map(field).filter(|c| !c.is_empty());
                    v.insert(Basket {
                        key: format!("import:{order}"),
                        customer: who.map(|c| {
                            customer(c).unwrap_or_else(|| format!("import:{}", c.to_lowercase()))
                        }),
                        at,
                        lines: Vec::new(),
                    })
                }
            };
            b.lines.push((product, qty));
        }
        let total = baskets.len() as u64;
        let all: Vec<Basket> = baskets.into_values().collect();
        let mut done = 0u64;
        for chunk in history::write_runs(&all) {
            let chunk = chunk.to_vec();
            let counted = self
                .store
                .write(move |tx| {
                    let mut n = 0u64;
                    for b in &chunk {
                        n += u64::from(history::count(tx, b, false)?);
                    }
                    Ok::<_, crate::storage::StorageError>((n, chunk.len() as u64))
                })
                .await?;
            report.orders_imported += counted.0;
            report.orders_already_imported += counted.1 - counted.0;
            done += counted.1;
            progress(done, total);
        }
        Ok(report)
    }
}
