//! Reading a Shopify product CSV into product inputs, with every problem and every change
//! reported on its line.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use super::{HEADER, RowError, parse_grams, parse_price, strip_apostrophe, variant_level};
use crate::core::{Currency, Money};
use crate::domain::catalog::input::{
    ImageInput, OptionInput, ProductInput, SeoInput, VariantInput,
};
use crate::domain::catalog::model::{Weight, WeightUnit};
use crate::domain::catalog::slug;

/// Stock facts of one variant, for inventory to apply once the product is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockLine {
    /// Position of the variant in the product.
    pub variant: usize,
    /// `Variant Inventory Qty` of a tracked variant.
    pub on_hand: Option<i64>,
    /// `Variant Inventory Policy` is `continue`: keep selling at zero.
    pub allow_backorder: bool,
}

/// A product parsed from the file, with the lines it came from.
#[derive(Debug)]
pub struct ParsedProduct {
    /// First line of the product.
    pub line: u64,
    /// Handle as written in the file.
    pub handle: String,
    /// The product (its slug is the usable, normalised handle).
    pub input: ProductInput,
    /// Line of each variant, in variant order (to put validation messages on lines).
    pub variant_lines: Vec<u64>,
    /// Stock by variant position.
    pub stock: Vec<StockLine>,
    /// What the reader changed (an unusable handle, an unknown policy).
    pub warnings: Vec<RowError>,
    /// Why the product cannot be imported; empty when it can.
    pub errors: Vec<RowError>,
    /// The handle could not be used and was made from the title: the product never replaces
    /// one that already has that handle.
    pub regenerated: bool,
}

/// Column positions: the modelled ones by name, the kept ones in file order.
struct Columns {
    known: HashMap<&'static str, usize>,
    /// (position, name, holds a value per variant).
    extra: Vec<(usize, String, bool)>,
}

impl Columns {
    fn new(headers: &csv::StringRecord) -> Columns {
        let mut known = HashMap::new();
        let mut extra = Vec::new();
        for (i, h) in headers.iter().enumerate() {
            let h = h.trim();
            match HEADER.iter().find(|k| **k == h) {
                Some(k) => {
                    known.entry(*k).or_insert(i);
                }
                None if !h.is_empty() && !extra.iter().any(|(_, n, _)| n == h) => {
                    extra.push((i, h.to_owned(), variant_level(h)));
                }
                None => {}
            }
        }
        Columns { known, extra }
    }
}

/// One row, with its cells cleaned: trimmed, and a CR (alone or before LF) read as a newline.
struct Row<'a> {
    rec: &'a csv::StringRecord,
    cols: &'a Columns,
}

impl Row<'_> {
    fn get(&self, name: &'static str) -> String {
        self.cols
            .known
            .get(name)
            .and_then(|&i| self.rec.get(i))
            .map(clean)
            .unwrap_or_default()
    }

    fn extra(&self, variant: bool) -> Vec<(String, String)> {
        self.cols
            .extra
            .iter()
            .filter(|(_, _, v)| *v == variant)
            .filter_map(|(i, name, _)| {
                let v = self.rec.get(*i).map(clean).unwrap_or_default();
                (!v.is_empty()).then(|| (name.clone(), v))
            })
            .collect()
    }
}

fn clean(s: &str) -> String {
    s.trim().replace("\r\n", "\n").replace('\r', "\n")
}

/// A product being assembled from its rows.
struct Acc {
    p: ParsedProduct,
    option_names: Vec<String>,
    option_values: Vec<Vec<String>>,
    images: Vec<(u32, ImageInput)>,
}

impl Acc {
    fn new(line: u64, handle: &str) -> Acc {
        Acc {
            p: ParsedProduct {
                line,
                handle: handle.to_owned(),
                input: empty_input(handle),
                variant_lines: Vec::new(),
                stock: Vec::new(),
                warnings: Vec::new(),
                errors: Vec::new(),
                regenerated: false,
            },
            option_names: Vec::new(),
            option_values: vec![Vec::new(); 3],
            images: Vec::new(),
        }
    }

    fn fail(&mut self, line: u64, message: String) {
        let handle = self.p.handle.clone();
        self.p.errors.push(RowError {
            line,
            handle,
            message,
        });
    }

    fn warn(&mut self, line: u64, message: String) {
        let handle = self.p.handle.clone();
        self.p.warnings.push(RowError {
            line,
            handle,
            message,
        });
    }
}

fn empty_input(handle: &str) -> ProductInput {
    ProductInput {
        title: String::new(),
        slug: Some(handle.to_owned()),
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
        gift_card: None,
        tax_category: None,
        product_category: None,
        extra: Some(Vec::new()),
    }
}

/// Parses a Shopify product CSV (BOM, CRLF and CRs inside quoted cells are fine). Lines that
/// belong to no product are returned as errors; each product carries its own.
pub fn parse(reader: impl Read, currency: Currency) -> (Vec<ParsedProduct>, Vec<RowError>) {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let mut errors = Vec::new();
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            errors.push(file_error(1, format!("unreadable header: {e}")));
            return (Vec::new(), errors);
        }
    };
    let cols = Columns::new(&headers);
    if !cols.known.contains_key("Handle") {
        errors.push(file_error(1, "missing the Handle column".into()));
        return (Vec::new(), errors);
    }
    let mut order: Vec<String> = Vec::new();
    let mut acc: HashMap<String, Acc> = HashMap::new();
    for (i, rec) in rdr.records().enumerate() {
        // The spreadsheet row a merchant sees (the header is row 1), not the text line: a
        // quoted cell with line breaks (common in Body (HTML)) is still one row.
        let line = i as u64 + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(file_error(line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let row = Row {
            rec: &rec,
            cols: &cols,
        };
        let handle = row.get("Handle");
        if handle.is_empty() {
            errors.push(file_error(line, "empty Handle".into()));
            continue;
        }
        // Rows belong together by their handle as shopd stores it (case and Unicode form
        // aside), so `Café-Mug` and `café-mug` are one product, not one replacing the other.
        let key = slug::normalize(&handle);
        let a = acc.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Acc::new(line, &handle)
        });
        if a.p.input.title.is_empty() && !row.get("Title").is_empty() {
            product_row(a, &row, line);
        }
        variant_row(a, &row, line, currency);
        image_row(a, &row);
    }
    let out = order
        .into_iter()
        .filter_map(|h| acc.remove(&h))
        .map(finish)
        .collect();
    (out, errors)
}

fn file_error(line: u64, message: String) -> RowError {
    RowError {
        line,
        handle: String::new(),
        message,
    }
}

fn flag(a: &mut Acc, line: u64, row: &Row<'_>, name: &'static str, default: bool) -> bool {
    let v = row.get(name);
    match v.to_ascii_lowercase().as_str() {
        "" => default,
        "true" | "yes" | "1" => true,
        "false" | "no" | "0" => false,
        _ => {
            a.warn(
                line,
                format!("{name} `{v}` is not TRUE or FALSE; read as {default}"),
            );
            default
        }
    }
}

fn product_row(a: &mut Acc, row: &Row<'_>, line: u64) {
    let gift_card = flag(a, line, row, "Gift Card", false);
    let e = &mut a.p.input;
    e.title = row.get("Title");
    e.description = row.get("Body (HTML)");
    e.vendor = Some(row.get("Vendor")).filter(|s| !s.is_empty());
    e.product_type = Some(row.get("Type")).filter(|s| !s.is_empty());
    e.product_category = Some(row.get("Product Category")).filter(|s| !s.is_empty());
    e.gift_card = Some(gift_card);
    e.tags = row
        .get("Tags")
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let status = row.get("Status").to_lowercase();
    let published = row.get("Published").to_lowercase();
    let by_published = if published == "true" {
        "active"
    } else {
        "draft"
    };
    let unknown = !matches!(
        status.as_str(),
        "active" | "draft" | "archived" | "unlisted" | ""
    );
    e.status = Some(match status.as_str() {
        "active" | "draft" | "archived" | "unlisted" => status.clone(),
        _ => by_published.into(),
    });
    e.seo = SeoInput {
        title: Some(row.get("SEO Title")).filter(|s| !s.is_empty()),
        description: Some(row.get("SEO Description")).filter(|s| !s.is_empty()),
    };
    e.extra = Some(row.extra(false));
    for (n, name_col, value_col) in [
        (1, "Option1 Name", "Option1 Value"),
        (2, "Option2 Name", "Option2 Value"),
        (3, "Option3 Name", "Option3 Value"),
    ] {
        let name = row.get(name_col);
        let shopify_default = n == 1 && name == "Title" && row.get(value_col) == "Default Title";
        if !name.is_empty() && !shopify_default {
            a.option_names.push(name);
        }
    }
    if unknown {
        a.warn(
            line,
            format!(
                "Status `{status}` is not active, draft, archived or unlisted; read as {by_published}"
            ),
        );
    }
}

const VALUE_COLS: [&str; 3] = ["Option1 Value", "Option2 Value", "Option3 Value"];

/// A variant row has a price, a SKU, a barcode or an option value; image-only rows have none.
fn variant_row(a: &mut Acc, row: &Row<'_>, line: u64, currency: Currency) {
    let price = row.get("Variant Price");
    let sku = strip_apostrophe(&row.get("Variant SKU")).to_owned();
    let barcode = strip_apostrophe(&row.get("Variant Barcode")).to_owned();
    let has_values = VALUE_COLS.iter().any(|c| !row.get(c).is_empty());
    if price.is_empty() && sku.is_empty() && barcode.is_empty() && !has_values {
        return;
    }
    if price.is_empty() {
        return a.fail(line, "variant row without a Variant Price".into());
    }
    let Some(amount) = parse_price(&price, currency) else {
        return a.fail(line, format!("Variant Price `{price}` is not a price"));
    };
    let Ok(compare_at) = money(row, "Variant Compare At Price", currency) else {
        let v = row.get("Variant Compare At Price");
        return a.fail(
            line,
            format!("Variant Compare At Price `{v}` is not a price"),
        );
    };
    let Ok(cost) = money(row, "Cost per item", currency) else {
        let v = row.get("Cost per item");
        return a.fail(line, format!("Cost per item `{v}` is not a price"));
    };
    let grams = row.get("Variant Grams");
    let weight_milligrams = match grams.as_str() {
        "" => None,
        g => match parse_grams(g).filter(|mg| *mg <= 10_000_000_000) {
            Some(mg) => Some(mg),
            None => return a.fail(line, format!("Variant Grams `{g}` is not a weight")),
        },
    };
    let unit = row.get("Variant Weight Unit");
    let unit = match WeightUnit::parse(&unit) {
        Some(u) => u,
        None if unit.is_empty() => WeightUnit::G,
        None => {
            a.warn(
                line,
                format!("Variant Weight Unit `{unit}` is not g, kg, lb or oz; read as g"),
            );
            WeightUnit::G
        }
    };
    let weight = weight_milligrams.map(|milligrams| Weight { milligrams, unit });
    let values: Vec<String> = (0..a.option_names.len())
        .map(|n| row.get(VALUE_COLS[n]))
        .collect();
    for (n, v) in values.iter().enumerate() {
        if !v.is_empty() && !a.option_values[n].contains(v) {
            a.option_values[n].push(v.clone());
        }
    }
    let tracker = row.get("Variant Inventory Tracker");
    let tracked = !tracker.is_empty();
    let Ok(on_hand) = quantity(row) else {
        let q = row.get("Variant Inventory Qty");
        return a.fail(
            line,
            format!("Variant Inventory Qty `{q}` is not a whole number"),
        );
    };
    let on_hand = on_hand.map(|q| {
        if q < 0 {
            a.warn(
                line,
                format!("Variant Inventory Qty `{q}` (oversold) read as 0 on hand"),
            );
        }
        q.max(0)
    });
    let mut extra = row.extra(true);
    if tracked && !tracker.eq_ignore_ascii_case("shopify") {
        // Stock kept by a fulfilment service (`dsers-fulfillment-service`): tracked, and the
        // service's name goes back out in its column.
        extra.push(("Variant Inventory Tracker".into(), tracker));
    }
    let allow_backorder = policy(a, row, line);
    let requires_shipping = flag(a, line, row, "Variant Requires Shipping", true);
    let taxable = flag(a, line, row, "Variant Taxable", true);
    let position = a.p.input.variants.len();
    if on_hand.is_some() || allow_backorder {
        a.p.stock.push(StockLine {
            variant: position,
            on_hand,
            allow_backorder,
        });
    }
    a.p.variant_lines.push(line);
    a.p.input.variants.push(VariantInput {
        id: None,
        sku: Some(sku).filter(|s| !s.is_empty()),
        option_values: values,
        price: Money::new(amount, currency),
        compare_at_price: compare_at,
        weight_grams: None,
        weight,
        barcode: Some(barcode).filter(|s| !s.is_empty()),
        track_inventory: Some(tracked),
        requires_shipping: Some(requires_shipping),
        taxable: Some(taxable),
        tax_category: None,
        cost,
        image_url: Some(row.get("Variant Image")).filter(|s| !s.is_empty()),
        extra: Some(extra),
    });
}

fn money(row: &Row<'_>, name: &'static str, currency: Currency) -> Result<Option<Money>, ()> {
    let v = row.get(name);
    if v.is_empty() {
        return Ok(None);
    }
    parse_price(&v, currency)
        .map(|a| Some(Money::new(a, currency)))
        .ok_or(())
}

/// Units in the file, tracked or not (Shopify exports a count for untracked variants too, and
/// negative counts for oversold ones).
fn quantity(row: &Row<'_>) -> Result<Option<i64>, ()> {
    let q = row.get("Variant Inventory Qty");
    if q.is_empty() {
        return Ok(None);
    }
    match q.parse::<i64>() {
        Ok(q) if q.abs() < 1_000_000_000 => Ok(Some(q)),
        _ => Err(()),
    }
}

fn policy(a: &mut Acc, row: &Row<'_>, line: u64) -> bool {
    let p = row.get("Variant Inventory Policy");
    match p.to_ascii_lowercase().as_str() {
        "continue" => true,
        "deny" | "" => false,
        _ => {
            a.warn(
                line,
                format!("Variant Inventory Policy `{p}` is not deny or continue; read as deny"),
            );
            false
        }
    }
}

fn image_row(a: &mut Acc, row: &Row<'_>) {
    let src = row.get("Image Src");
    if src.is_empty() || a.images.iter().any(|(_, im)| im.url == src) {
        return;
    }
    let pos = row.get("Image Position").parse().unwrap_or(u32::MAX);
    a.images.push((
        pos,
        ImageInput {
            url: src,
            alt: row.get("Image Alt Text"),
        },
    ));
}

/// Completes a product: options from the values seen, images in position order, a usable
/// handle (regenerated from the title, with a warning, when the file's cannot be used).
fn finish(mut a: Acc) -> ParsedProduct {
    if a.p.input.title.is_empty() {
        let line = a.p.line;
        a.fail(line, "no row of this product has a Title".into());
    }
    a.images.sort_by_key(|(p, _)| *p);
    a.p.input.images = a.images.into_iter().map(|(_, i)| i).collect();
    a.p.input.options = a
        .option_names
        .iter()
        .zip(a.option_values)
        .map(|(name, values)| OptionInput {
            name: name.clone(),
            values,
        })
        .collect();
    let handle = slug::normalize(&a.p.handle);
    let usable = if slug::is_slug(&handle) {
        handle
    } else {
        let derived = slug::slugify(&a.p.input.title);
        let new = if derived.is_empty() {
            format!("product-{}", a.p.line)
        } else {
            derived
        };
        a.p.warnings.push(RowError {
            line: a.p.line,
            handle: a.p.handle.clone(),
            message: format!(
                "Handle cannot be used in a URL; the product's handle is `{new}` (with a number \
                 added if another product has it; importing this file again makes another copy)"
            ),
        });
        a.p.regenerated = true;
        new
    };
    a.p.input.slug = Some(usable);
    a.p
}
