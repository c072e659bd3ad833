//! Shopify's product CSV format, both ways, so a merchant can move a Shopify store over (and
//! back). One product spans consecutive rows sharing a `Handle`: the first row carries the
//! product fields, later rows add variants and images. The rule: shopd accepts what Shopify
//! accepts, reports what it must change as a warning on the line, and loses nothing — columns
//! it does not model (metafields, Google Shopping, market prices) are kept with the product and
//! written back. Prices are decimal strings turned into minor units without floating point.

mod read;
mod write;

pub use read::{ParsedProduct, StockLine, parse};
pub use write::{ExtraColumns, StockOut, write};

use crate::core::Money;

/// Columns shopd models, in Shopify's order; the export writes these (plus the kept ones).
pub const HEADER: &[&str] = &[
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
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
    "Variant Inventory Policy",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Requires Shipping",
    "Variant Taxable",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Gift Card",
    "SEO Title",
    "SEO Description",
    "Variant Image",
    "Variant Weight Unit",
    "Cost per item",
    "Status",
];

/// Kept product-level columns are written after this one, as Shopify places metafields.
const PRODUCT_EXTRA_AFTER: &str = "SEO Description";
/// Kept variant-level columns are written after this one, as Shopify places market prices.
const VARIANT_EXTRA_AFTER: &str = "Cost per item";

/// Whether an unmodelled column holds a value per variant (written on variant rows) rather than
/// per product (written on the product's first row).
fn variant_level(column: &str) -> bool {
    column.starts_with("Variant ")
        || column.starts_with("Price / ")
        || column.starts_with("Compare At Price / ")
        || column.starts_with("Included / ")
        || column.contains("(variant.")
}

/// A problem (or a warning) with one line of an import file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// 1-based row number as a spreadsheet shows it (the header is row 1; a quoted cell with
    /// line breaks does not add rows).
    pub line: u64,
    /// The product's handle, when known.
    pub handle: String,
    /// What is wrong, or what was changed.
    pub message: String,
}

/// Removes the apostrophe Shopify writes before an all-digit SKU or barcode (`'25970`) so
/// spreadsheets keep its digits.
pub fn strip_apostrophe(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => s,
    }
}

/// Writes an SKU or barcode the way Shopify does: all-digit values get the apostrophe.
pub fn with_apostrophe(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// Parses a decimal price into minor units of `currency` (Shopify's price columns).
pub use crate::core::money::parse_amount as parse_price;

/// Parses Shopify's `Variant Grams` (`500`, `0.5`, `453.592`) into milligrams; finer digits
/// than a milligram are rounded away (no scale weighs them).
pub fn parse_grams(s: &str) -> Option<u64> {
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let frac: String = frac.chars().take(3).collect();
    let round_up = t
        .split_once('.')
        .and_then(|(_, f)| f.as_bytes().get(3))
        .is_some_and(|d| (b'5'..=b'9').contains(d));
    let mg = crate::core::money::parse_decimal(&format!("{int}.{frac}"), 3)?;
    u64::try_from(mg).ok().map(|m| m + u64::from(round_up))
}

/// Formats an integer with `exp` decimals (`1999`, 2 → `19.99`).
fn format_decimal(v: i64, exp: u32, trim: bool) -> String {
    if exp == 0 {
        return v.to_string();
    }
    let div = 10u64.pow(exp);
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let frac = format!("{:0width$}", a % div, width = exp as usize);
    let frac = if trim {
        frac.trim_end_matches('0')
    } else {
        &frac
    };
    if frac.is_empty() {
        format!("{sign}{}", a / div)
    } else {
        format!("{sign}{}.{frac}", a / div)
    }
}

/// Formats minor units as Shopify writes prices (`19.99`).
pub fn format_price(m: &Money) -> String {
    format_decimal(m.amount, m.currency.exponent(), false)
}

/// Formats milligrams as Shopify's `Variant Grams` (`500`, `0.5`).
pub fn format_grams(mg: u64) -> String {
    format_decimal(i64::try_from(mg).unwrap_or(i64::MAX), 3, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Currency;

    #[test]
    fn prices_without_floats() {
        let usd = Currency::USD;
        assert_eq!(parse_price("19.99", usd), Some(1999));
        assert_eq!(parse_price("20", usd), Some(2000));
        assert_eq!(parse_price("0", usd), Some(0));
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
        assert_eq!(format_price(&Money::new(0, usd)), "0.00");
    }

    #[test]
    fn grams_keep_fractions() {
        assert_eq!(parse_grams("500"), Some(500_000));
        assert_eq!(parse_grams("0.5"), Some(500));
        assert_eq!(parse_grams("453.59237"), Some(453_592));
        assert_eq!(parse_grams("0.0005"), Some(1));
        assert_eq!(parse_grams("-1"), None);
        assert_eq!(parse_grams("heavy"), None);
        assert_eq!(format_grams(500), "0.5");
        assert_eq!(format_grams(500_000), "500");
        assert_eq!(format_grams(453_592), "453.592");
        assert_eq!(format_grams(0), "0");
    }

    #[test]
    fn apostrophes_like_shopify() {
        assert_eq!(strip_apostrophe("'25970"), "25970");
        assert_eq!(strip_apostrophe("'810107445129"), "810107445129");
        assert_eq!(strip_apostrophe("'ABC"), "'ABC");
        assert_eq!(strip_apostrophe("'"), "'");
        assert_eq!(with_apostrophe("25970"), "'25970");
        assert_eq!(with_apostrophe("TFRG 2TGP #1"), "TFRG 2TGP #1");
        assert_eq!(with_apostrophe(""), "");
    }
}
