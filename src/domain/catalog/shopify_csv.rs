//! Shopify's product CSV format, both ways, so a merchant can move a Shopify store over (and
//! back). One product spans consecutive rows sharing a `Handle`: the first row carries the
//! product fields, later rows add variants and images. Prices are decimal strings turned into
//! minor units without floating point.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use super::input::{ImageInput, OptionInput, ProductInput, SeoInput, VariantInput};
use super::model::{Product, Status};
use crate::core::{Currency, Money};

/// Columns written on export (a subset of Shopify's, in Shopify's order).
pub const HEADER: &[&str] = &[
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "SEO Title",
    "SEO Description",
    "Status",
];

/// A problem with one line of an import file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// The product's handle, when known.
    pub handle: String,
    /// What is wrong.
    pub message: String,
}

/// A product parsed from the file, with the line its rows start on.
#[derive(Debug)]
pub struct ParsedProduct {
    /// First line of the product.
    pub line: u64,
    /// Handle (our slug).
    pub handle: String,
    /// The product.
    pub input: ProductInput,
    /// Stock on hand by variant SKU, for tracked variants with a quantity.
    pub stock: Vec<(String, i64)>,
}

/// Parses a decimal price (`19.99`, `20`, `1,299.50`) into minor units of `currency`.
pub fn parse_price(s: &str, currency: Currency) -> Option<i64> {
    let s = s.trim().replace(',', "");
    if s.is_empty() {
        return None;
    }
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r.to_owned()),
        None => (false, s),
    };
    let exp = currency.exponent() as usize;
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if frac.len() > exp && frac[exp..].bytes().any(|b| b != b'0') {
        return None; // more precision than the currency has
    }
    let mut frac_digits: String = frac.chars().take(exp).collect();
    while frac_digits.len() < exp {
        frac_digits.push('0');
    }
    let int_v: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_v: i64 = if exp == 0 {
        0
    } else {
        frac_digits.parse().ok()?
    };
    let v = int_v
        .checked_mul(10i64.pow(exp as u32))?
        .checked_add(frac_v)?;
    Some(if neg { -v } else { v })
}

/// Formats minor units as Shopify writes prices (`19.99`).
pub fn format_price(m: &Money) -> String {
    let exp = m.currency.exponent();
    if exp == 0 {
        return m.amount.to_string();
    }
    let div = 10i64.pow(exp);
    let sign = if m.amount < 0 { "-" } else { "" };
    let a = m.amount.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        a / div.unsigned_abs(),
        a % div.unsigned_abs(),
        width = exp as usize
    )
}

fn col(row: &csv::StringRecord, idx: &BTreeMap<String, usize>, name: &str) -> String {
    idx.get(name)
        .and_then(|&i| row.get(i))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Parses a Shopify product CSV. Rows that cannot be read are reported with their line and the
/// product they belong to is skipped; everything else is returned for import.
pub fn parse(reader: impl Read, currency: Currency) -> (Vec<ParsedProduct>, Vec<RowError>) {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let mut errors = Vec::new();
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            errors.push(RowError {
                line: 1,
                handle: String::new(),
                message: format!("unreadable header: {e}"),
            });
            return (Vec::new(), errors);
        }
    };
    let idx: BTreeMap<String, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_owned(), i))
        .collect();
    if !idx.contains_key("Handle") {
        errors.push(RowError {
            line: 1,
            handle: String::new(),
            message: "missing the Handle column".into(),
        });
        return (Vec::new(), errors);
    }
    struct Acc {
        line: u64,
        handle: String,
        input: ProductInput,
        option_names: Vec<String>,
        option_values: Vec<Vec<String>>,
        images: Vec<(u32, ImageInput)>,
        stock: Vec<(String, i64)>,
        broken: bool,
    }
    let mut order: Vec<String> = Vec::new();
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = rec
            .as_ref()
            .ok()
            .and_then(|r| r.position().map(|p| p.line()))
            .unwrap_or(i as u64 + 2);
        let row = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError {
                    line,
                    handle: String::new(),
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let handle = col(&row, &idx, "Handle");
        if handle.is_empty() {
            errors.push(RowError {
                line,
                handle,
                message: "empty Handle".into(),
            });
            continue;
        }
        let title = col(&row, &idx, "Title");
        let entry = acc.entry(handle.clone()).or_insert_with(|| {
            order.push(handle.clone());
            Acc {
                line,
                handle: handle.clone(),
                input: ProductInput {
                    title: String::new(),
                    slug: Some(handle.clone()),
                    description: String::new(),
                    status: None,
                    vendor: None,
                    product_type: None,
                    tags: Vec::new(),
                    images: Vec::new(),
                    seo: SeoInput::default(),
                    attributes: BTreeMap::new(),
                    options: Vec::new(),
                    variants: Vec::new(),
                    category_ids: Vec::new(),
                },
                option_names: Vec::new(),
                stock: Vec::new(),
                option_values: vec![Vec::new(); 3],
                images: Vec::new(),
                broken: false,
            }
        });
        let mut fail = |entry: &mut Acc, msg: String| {
            errors.push(RowError {
                line,
                handle: handle.clone(),
                message: msg,
            });
            entry.broken = true;
        };
        if !title.is_empty() {
            let e = &mut entry.input;
            e.title = title;
            e.description = col(&row, &idx, "Body (HTML)");
            e.vendor = Some(col(&row, &idx, "Vendor")).filter(|s| !s.is_empty());
            e.product_type = Some(col(&row, &idx, "Type")).filter(|s| !s.is_empty());
            e.tags = col(&row, &idx, "Tags")
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect();
            let status = col(&row, &idx, "Status").to_lowercase();
            let published = col(&row, &idx, "Published").to_lowercase();
            e.status = Some(match status.as_str() {
                "active" | "draft" | "archived" => status,
                _ if published == "true" => "active".into(),
                _ => "draft".into(),
            });
            e.seo = SeoInput {
                title: Some(col(&row, &idx, "SEO Title")).filter(|s| !s.is_empty()),
                description: Some(col(&row, &idx, "SEO Description")).filter(|s| !s.is_empty()),
            };
            for n in 1..=3 {
                let name = col(&row, &idx, &format!("Option{n} Name"));
                let shopify_default = n == 1
                    && name == "Title"
                    && col(&row, &idx, "Option1 Value") == "Default Title";
                if !name.is_empty() && !shopify_default {
                    entry.option_names.push(name);
                }
            }
        }
        // A variant row has a price or a SKU.
        let price = col(&row, &idx, "Variant Price");
        let sku = col(&row, &idx, "Variant SKU");
        if !price.is_empty() || !sku.is_empty() {
            let Some(amount) = parse_price(&price, currency) else {
                fail(entry, format!("Variant Price `{price}` is not a price"));
                continue;
            };
            let compare = col(&row, &idx, "Variant Compare At Price");
            let compare_at = if compare.is_empty() {
                None
            } else {
                match parse_price(&compare, currency) {
                    Some(a) => Some(Money::new(a, currency)),
                    None => {
                        fail(
                            entry,
                            format!("Variant Compare At Price `{compare}` is not a price"),
                        );
                        continue;
                    }
                }
            };
            let grams = col(&row, &idx, "Variant Grams");
            let weight = if grams.is_empty() {
                None
            } else {
                match grams.parse::<f64>().ok().filter(|g| *g >= 0.0 && *g < 1e9) {
                    Some(g) => Some(g.round() as u32),
                    None => {
                        fail(entry, format!("Variant Grams `{grams}` is not a number"));
                        continue;
                    }
                }
            };
            let mut values = Vec::new();
            for n in 0..entry.option_names.len() {
                let v = col(&row, &idx, &format!("Option{} Value", n + 1));
                if !v.is_empty() && !entry.option_values[n].contains(&v) {
                    entry.option_values[n].push(v.clone());
                }
                values.push(v);
            }
            let tracker = col(&row, &idx, "Variant Inventory Tracker");
            let qty = col(&row, &idx, "Variant Inventory Qty");
            let qty = if qty.is_empty() || tracker.is_empty() {
                None
            } else {
                // Shopify exports oversold variants with negative quantities; nothing is on
                // hand for them.
                match qty.parse::<i64>() {
                    Ok(q) if q.abs() < 1_000_000_000 => Some(q.max(0)),
                    _ => {
                        fail(
                            entry,
                            format!("Variant Inventory Qty `{qty}` is not a whole number"),
                        );
                        continue;
                    }
                }
            };
            let sku = if sku.is_empty() {
                format!(
                    "{}-{}",
                    handle.to_uppercase(),
                    entry.input.variants.len() + 1
                )
            } else {
                sku
            };
            if let Some(q) = qty {
                entry.stock.push((sku.clone(), q));
            }
            entry.input.variants.push(VariantInput {
                id: None,
                sku,
                option_values: values,
                price: Money::new(amount, currency),
                compare_at_price: compare_at,
                weight_grams: weight,
                barcode: Some(col(&row, &idx, "Variant Barcode")).filter(|s| !s.is_empty()),
                track_inventory: Some(!tracker.is_empty()),
            });
        }
        let src = col(&row, &idx, "Image Src");
        if !src.is_empty() {
            let pos = col(&row, &idx, "Image Position")
                .parse()
                .unwrap_or(u32::MAX);
            if !entry.images.iter().any(|(_, im)| im.url == src) {
                entry.images.push((
                    pos,
                    ImageInput {
                        url: src,
                        alt: col(&row, &idx, "Image Alt Text"),
                    },
                ));
            }
        }
    }
    let mut out = Vec::new();
    for h in order {
        let Some(mut a) = acc.remove(&h) else {
            continue;
        };
        if a.broken {
            continue;
        }
        if a.input.title.is_empty() {
            errors.push(RowError {
                line: a.line,
                handle: a.handle,
                message: "no row of this product has a Title".into(),
            });
            continue;
        }
        a.images.sort_by_key(|(p, _)| *p);
        a.input.images = a.images.into_iter().map(|(_, i)| i).collect();
        a.input.options = a
            .option_names
            .iter()
            .zip(a.option_values)
            .map(|(name, values)| OptionInput {
                name: name.clone(),
                values,
            })
            .collect();
        out.push(ParsedProduct {
            line: a.line,
            handle: a.handle,
            input: a.input,
            stock: a.stock,
        });
    }
    (out, errors)
}

/// Writes products in Shopify's format; `stock` gives a tracked variant's units on hand.
pub fn write(
    products: impl Iterator<Item = Product>,
    stock: &mut dyn FnMut(&crate::domain::catalog::Variant) -> Option<i64>,
    out: impl Write,
) -> Result<u64, String> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER).map_err(|e| e.to_string())?;
    let mut n = 0;
    for p in products {
        let rows = p.variants.len().max(p.images.len()).max(1);
        for i in 0..rows {
            let mut r: BTreeMap<&str, String> = BTreeMap::new();
            r.insert("Handle", p.slug.clone());
            if i == 0 {
                r.insert("Title", p.title.clone());
                r.insert("Body (HTML)", p.description.clone());
                r.insert("Vendor", p.vendor.clone().unwrap_or_default());
                r.insert("Type", p.product_type.clone().unwrap_or_default());
                r.insert("Tags", p.tags.join(", "));
                r.insert(
                    "Published",
                    if p.status == Status::Active {
                        "TRUE".into()
                    } else {
                        "FALSE".into()
                    },
                );
                r.insert("SEO Title", p.seo.title.clone().unwrap_or_default());
                r.insert(
                    "SEO Description",
                    p.seo.description.clone().unwrap_or_default(),
                );
                r.insert(
                    "Status",
                    match p.status {
                        Status::Active => "active",
                        Status::Draft => "draft",
                        Status::Archived => "archived",
                    }
                    .into(),
                );
                if p.options.is_empty() {
                    r.insert("Option1 Name", "Title".into());
                } else {
                    for (k, o) in p.options.iter().enumerate() {
                        r.insert(
                            ["Option1 Name", "Option2 Name", "Option3 Name"][k.min(2)],
                            o.name.clone(),
                        );
                    }
                }
            }
            if let Some(v) = p.variants.get(i) {
                if p.options.is_empty() {
                    r.insert("Option1 Value", "Default Title".into());
                }
                for (k, val) in v.option_values.iter().enumerate() {
                    r.insert(
                        ["Option1 Value", "Option2 Value", "Option3 Value"][k.min(2)],
                        val.clone(),
                    );
                }
                r.insert("Variant SKU", v.sku.clone());
                r.insert(
                    "Variant Grams",
                    v.weight_grams.map(|g| g.to_string()).unwrap_or_default(),
                );
                r.insert(
                    "Variant Inventory Tracker",
                    if v.track_inventory {
                        "shopify".into()
                    } else {
                        String::new()
                    },
                );
                if v.track_inventory
                    && let Some(q) = stock(v)
                {
                    r.insert("Variant Inventory Qty", q.to_string());
                }
                r.insert("Variant Price", format_price(&v.price));
                r.insert(
                    "Variant Compare At Price",
                    v.compare_at_price
                        .as_ref()
                        .map(format_price)
                        .unwrap_or_default(),
                );
                r.insert("Variant Barcode", v.barcode.clone().unwrap_or_default());
            }
            if let Some(im) = p.images.get(i) {
                r.insert("Image Src", im.url.clone());
                r.insert("Image Position", (i + 1).to_string());
                r.insert("Image Alt Text", im.alt.clone());
            }
            let rec: Vec<String> = HEADER
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_without_floats() {
        let usd = Currency::USD;
        assert_eq!(parse_price("19.99", usd), Some(1999));
        assert_eq!(parse_price("20", usd), Some(2000));
        assert_eq!(parse_price("1,299.5", usd), Some(129_950));
        assert_eq!(parse_price("0.10", usd), Some(10));
        assert_eq!(parse_price("19.999", usd), None);
        assert_eq!(parse_price("19.990", usd), Some(1999));
        assert_eq!(parse_price("abc", usd), None);
        assert_eq!(parse_price("", usd), None);
        let jpy = Currency::parse("JPY").expect("jpy");
        assert_eq!(parse_price("1500", jpy), Some(1500));
        assert_eq!(format_price(&Money::new(1999, usd)), "19.99");
        assert_eq!(format_price(&Money::new(5, usd)), "0.05");
    }
}
