//! Finding variants by SKU. SKUs are not unique (as in Shopify: one SKU on several variants or
//! products is normal), so a lookup lists every holder and never picks one; a caller that needs
//! exactly one variant matches by handle and option values instead, or reports the candidates.

use serde::Serialize;

use super::model::{PRODUCTS, SKUS, VARIANTS};
use super::{Catalog, CatalogError};
use crate::core::{Page, ProductId, VariantId};
use crate::storage::{Order, Reader};

/// A variant holding a SKU, with what a person needs to tell holders apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SkuHolder {
    /// `var_…`.
    #[schema(value_type = String)]
    pub variant_id: VariantId,
    /// The SKU as the variant spells it.
    pub sku: String,
    /// Option values of the variant.
    pub option_values: Vec<String>,
    /// `prod_…`.
    #[schema(value_type = String)]
    pub product_id: ProductId,
    /// The product's handle.
    pub product_slug: String,
    /// The product's title.
    pub product_title: String,
}

impl Catalog {
    /// Every variant whose SKU is `sku` (trimmed, compared case-insensitively, as the index
    /// keeps it), in variant-id order, a page at a time (`after`: the last variant id seen).
    pub fn variants_by_sku(
        &self,
        sku: &str,
        per_page: usize,
        after: Option<VariantId>,
    ) -> Result<Page<SkuHolder>, CatalogError> {
        let key = sku.trim().to_uppercase();
        let r = self.store.read()?;
        let after = after.map(|v| (key.clone(), v));
        let mut rows = r.prefix(&SKUS, &key, after.as_ref(), Order::Asc, per_page + 1)?;
        // Paging follows the index rows, so a stale row (skipped below) never ends it early.
        let has_more = rows.len() > per_page;
        rows.truncate(per_page);
        let next_cursor = has_more
            .then(|| rows.last().map(|((_, v), ())| v.to_string()))
            .flatten();
        let mut holders = Vec::with_capacity(rows.len());
        for ((_, variant), ()) in rows {
            let Some(pid) = r.get(&VARIANTS, &variant)? else {
                continue;
            };
            let Some(p) = r.get(&PRODUCTS, &pid)? else {
                continue;
            };
            let Some(v) = p.variants.iter().find(|v| v.id == variant) else {
                continue;
            };
            holders.push(SkuHolder {
                variant_id: v.id,
                sku: v.sku.clone().unwrap_or_default(),
                option_values: v.option_values.clone(),
                product_id: p.id,
                product_slug: p.slug.clone(),
                product_title: p.title.clone(),
            });
        }
        Ok(Page {
            data: holders,
            next_cursor,
            has_more,
        })
    }
}
