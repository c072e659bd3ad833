//! Writing products as a Shopify product CSV that Shopify (and shopd) import unchanged: the
//! modelled columns in Shopify's order, kept columns where Shopify puts them, apostrophes
//! before all-digit SKUs and barcodes.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use super::{
    HEADER, PRODUCT_EXTRA_AFTER, VARIANT_EXTRA_AFTER, format_grams, format_price, with_apostrophe,
};
use crate::domain::catalog::model::{Product, Variant};

/// Stock facts of a variant, from inventory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StockOut {
    /// Units on hand, when the variant has a stock level.
    pub on_hand: Option<i64>,
    /// Sells beyond zero (`Variant Inventory Policy: continue`).
    pub allow_backorder: bool,
}

/// Names of the kept columns across all products, in first-seen order.
#[derive(Debug, Default)]
pub struct ExtraColumns {
    product: Vec<String>,
    variant: Vec<String>,
    seen: HashSet<String>,
}

impl ExtraColumns {
    /// Notes the kept columns of `p`.
    pub fn add(&mut self, p: &Product) {
        // A kept value of a modelled column (a third-party `Variant Inventory Tracker`) is
        // written in that column's own place, not as a column of its own.
        let kept = |k: &String| !HEADER.contains(&k.as_str());
        for (k, _) in p.extra.iter().filter(|(k, _)| kept(k)) {
            if self.seen.insert(k.clone()) {
                self.product.push(k.clone());
            }
        }
        for (k, _) in p
            .variants
            .iter()
            .flat_map(|v| &v.extra)
            .filter(|(k, _)| kept(k))
        {
            if self.seen.insert(k.clone()) {
                self.variant.push(k.clone());
            }
        }
    }

    fn header(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(HEADER.len() + self.seen.len());
        for h in HEADER {
            out.push((*h).to_owned());
            if *h == PRODUCT_EXTRA_AFTER {
                out.extend(self.product.iter().cloned());
            }
            if *h == VARIANT_EXTRA_AFTER {
                out.extend(self.variant.iter().cloned());
            }
        }
        out
    }
}

fn flag(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.into()
}

fn product_cells(p: &Product, r: &mut BTreeMap<String, String>) {
    let mut put = |k: &str, v: String| {
        r.insert(k.to_owned(), v);
    };
    put("Title", p.title.clone());
    put("Body (HTML)", p.description.clone());
    put("Vendor", p.vendor.clone().unwrap_or_default());
    put(
        "Product Category",
        p.product_category.clone().unwrap_or_default(),
    );
    put("Type", p.product_type.clone().unwrap_or_default());
    put("Tags", p.tags.join(", "));
    put("Published", flag(p.status.sellable()));
    put("Gift Card", flag(p.gift_card));
    put("SEO Title", p.seo.title.clone().unwrap_or_default());
    put(
        "SEO Description",
        p.seo.description.clone().unwrap_or_default(),
    );
    put("Status", p.status.as_str().into());
    if p.options.is_empty() {
        put("Option1 Name", "Title".into());
    }
    for (o, k) in p
        .options
        .iter()
        .zip(["Option1 Name", "Option2 Name", "Option3 Name"])
    {
        put(k, o.name.clone());
    }
    for (k, v) in &p.extra {
        put(k, v.clone());
    }
}

fn variant_cells(p: &Product, v: &Variant, stock: StockOut, r: &mut BTreeMap<String, String>) {
    let mut put = |k: &str, val: String| {
        r.insert(k.to_owned(), val);
    };
    if p.options.is_empty() {
        put("Option1 Value", "Default Title".into());
    }
    for (val, k) in v
        .option_values
        .iter()
        .zip(["Option1 Value", "Option2 Value", "Option3 Value"])
    {
        put(k, val.clone());
    }
    put(
        "Variant SKU",
        with_apostrophe(v.sku.as_deref().unwrap_or("")),
    );
    if let Some(w) = &v.weight {
        put("Variant Grams", format_grams(w.milligrams));
        put("Variant Weight Unit", w.unit.as_str().into());
    }
    if v.track_inventory {
        put("Variant Inventory Tracker", "shopify".into());
    }
    if let Some(q) = stock.on_hand {
        put("Variant Inventory Qty", q.to_string());
    }
    let policy = if stock.allow_backorder {
        "continue"
    } else {
        "deny"
    };
    put("Variant Inventory Policy", policy.into());
    put("Variant Price", format_price(&v.price));
    if let Some(c) = &v.compare_at_price {
        put("Variant Compare At Price", format_price(c));
    }
    put("Variant Requires Shipping", flag(v.requires_shipping));
    put("Variant Taxable", flag(v.taxable));
    put(
        "Variant Barcode",
        with_apostrophe(v.barcode.as_deref().unwrap_or("")),
    );
    put("Variant Image", v.image_url.clone().unwrap_or_default());
    if let Some(c) = &v.cost {
        put("Cost per item", format_price(c));
    }
    for (k, val) in &v.extra {
        put(k, val.clone());
    }
}

/// Writes products in Shopify's format with the kept columns `extra` names; `stock` gives a
/// variant's stock facts.
pub fn write(
    extra: &ExtraColumns,
    products: impl Iterator<Item = Product>,
    stock: &mut dyn FnMut(&Variant) -> StockOut,
    out: impl Write,
) -> Result<u64, String> {
    let mut w = csv::Writer::from_writer(out);
    let header = extra.header();
    w.write_record(&header).map_err(|e| e.to_string())?;
    let mut n = 0;
    for p in products {
        let rows = p.variants.len().max(p.images.len()).max(1);
        for i in 0..rows {
            let mut r: BTreeMap<String, String> = BTreeMap::new();
            r.insert("Handle".into(), p.slug.clone());
            if i == 0 {
                product_cells(&p, &mut r);
            }
            if let Some(v) = p.variants.get(i) {
                variant_cells(&p, v, stock(v), &mut r);
            }
            if let Some(im) = p.images.get(i) {
                r.insert("Image Src".into(), im.url.clone());
                r.insert("Image Position".into(), (i + 1).to_string());
                r.insert("Image Alt Text".into(), im.alt.clone());
            }
            let rec: Vec<String> = header
                .iter()
                .map(|h| r.remove(h).unwrap_or_default())
                .collect();
            w.write_record(&rec).map_err(|e| e.to_string())?;
        }
        n += 1;
    }
    w.flush().map_err(|e| e.to_string())?;
    Ok(n)
}
