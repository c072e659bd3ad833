//! Untrusted catalog input and its validation into domain values, with one issue per bad field
//! (`variants[0].price.amount: must_be_positive`) so clients can show every problem at once.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::model::{Image, ProductOption, Seo, Status};
use super::slug::{is_slug, slugify};
use crate::core::{CategoryId, Money, VariantId};

pub use crate::core::FieldIssue;

/// A variant as sent by a client.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    /// Existing id to keep (on update).
    pub id: Option<String>,
    /// SKU.
    pub sku: String,
    /// Option values in option order.
    #[serde(default)]
    pub option_values: Vec<String>,
    /// Price.
    pub price: Money,
    /// Compare-at price.
    pub compare_at_price: Option<Money>,
    /// Weight in grams.
    pub weight_grams: Option<u32>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Track stock (default true).
    pub track_inventory: Option<bool>,
}

/// An image as sent by a client.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    /// URL.
    pub url: String,
    /// Alt text.
    #[serde(default)]
    pub alt: String,
}

/// An option as sent by a client.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionInput {
    /// Name.
    pub name: String,
    /// Values.
    pub values: Vec<String>,
}

/// SEO fields as sent by a client.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeoInput {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
}

/// A product as sent by a client (create, or full replacement on update).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// Title.
    pub title: String,
    /// Slug (derived from the title when absent).
    pub slug: Option<String>,
    /// HTML description.
    #[serde(default)]
    pub description: String,
    /// `draft` (default), `active` or `archived`.
    pub status: Option<String>,
    /// Vendor.
    pub vendor: Option<String>,
    /// Product type.
    pub product_type: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Images.
    #[serde(default)]
    pub images: Vec<ImageInput>,
    /// SEO.
    #[serde(default)]
    pub seo: SeoInput,
    /// Free attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Option axes (at most 3).
    #[serde(default)]
    pub options: Vec<OptionInput>,
    /// Variants (1 to 100).
    pub variants: Vec<VariantInput>,
    /// Category ids.
    #[serde(default)]
    pub category_ids: Vec<String>,
}

/// A variant that passed validation (id resolved later).
#[derive(Clone, Debug, PartialEq)]
pub struct ValidVariant {
    /// Id to keep, if the client sent one.
    pub id: Option<VariantId>,
    /// SKU.
    pub sku: String,
    /// Option values.
    pub option_values: Vec<String>,
    /// Price.
    pub price: Money,
    /// Compare-at price.
    pub compare_at_price: Option<Money>,
    /// Weight.
    pub weight_grams: Option<u32>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Track stock.
    pub track_inventory: bool,
}

/// A product that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidProduct {
    /// Title.
    pub title: String,
    /// Explicit slug, or the one derived from the title.
    pub slug: String,
    /// Whether the client chose the slug (a clash is then an error, not a suffix).
    pub slug_explicit: bool,
    /// Description.
    pub description: String,
    /// Status.
    pub status: Status,
    /// Vendor.
    pub vendor: Option<String>,
    /// Type.
    pub product_type: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Images.
    pub images: Vec<Image>,
    /// SEO.
    pub seo: Seo,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
    /// Options.
    pub options: Vec<ProductOption>,
    /// Variants.
    pub variants: Vec<ValidVariant>,
    /// Categories.
    pub category_ids: Vec<CategoryId>,
}

struct Issues(Vec<FieldIssue>);

impl Issues {
    fn add(&mut self, field: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.0.push(FieldIssue {
            field: field.into(),
            code,
            message: message.into(),
        });
    }

    fn text(&mut self, field: &str, v: &str, min: usize, max: usize) -> String {
        let t = v.trim();
        let n = t.chars().count();
        if n < min {
            self.add(
                field,
                "required",
                format!("must have at least {min} character(s)"),
            );
        } else if n > max {
            self.add(
                field,
                "too_long",
                format!("must be at most {max} characters"),
            );
        } else if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            self.add(field, "invalid", "must not contain control characters");
        }
        t.to_owned()
    }

    fn opt_text(&mut self, field: &str, v: &Option<String>, max: usize) -> Option<String> {
        v.as_deref()
            .map(|s| self.text(field, s, 0, max))
            .filter(|s| !s.is_empty())
    }
}

const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Validates a product, reporting every invalid field.
pub fn validate(input: &ProductInput) -> Result<ValidProduct, Vec<FieldIssue>> {
    let mut is = Issues(Vec::new());
    let title = is.text("title", &input.title, 1, 200);
    let (slug, slug_explicit) = match &input.slug {
        Some(s) => {
            if !is_slug(s) {
                is.add(
                    "slug",
                    "invalid",
                    "use lower-case letters, digits and single hyphens",
                );
            }
            (s.clone(), true)
        }
        None => {
            let s = slugify(&title);
            if s.is_empty() && !title.is_empty() {
                is.add(
                    "title",
                    "invalid",
                    "needs letters or digits to derive a slug; send `slug`",
                );
            }
            (s, false)
        }
    };
    if input.description.len() > 100_000 {
        is.add("description", "too_long", "must be at most 100000 bytes");
    }
    let status = match input.status.as_deref() {
        None => Status::Draft,
        Some(s) => Status::parse(s).unwrap_or_else(|| {
            is.add("status", "invalid", "must be draft, active or archived");
            Status::Draft
        }),
    };
    let vendor = is.opt_text("vendor", &input.vendor, 100);
    let product_type = is.opt_text("product_type", &input.product_type, 100);

    if input.tags.len() > 50 {
        is.add("tags", "too_many", "at most 50 tags");
    }
    let mut seen = HashSet::new();
    let mut tags = Vec::new();
    for (i, t) in input.tags.iter().enumerate() {
        let t = is.text(&format!("tags[{i}]"), t, 1, 50);
        if !t.is_empty() && seen.insert(t.to_lowercase()) {
            tags.push(t);
        }
    }

    if input.images.len() > 50 {
        is.add("images", "too_many", "at most 50 images");
    }
    let images = input
        .images
        .iter()
        .enumerate()
        .map(|(i, im)| {
            let url = im.url.trim().to_owned();
            let ok = (url.starts_with("https://")
                || url.starts_with("http://")
                || url.starts_with("/assets/"))
                && url.len() <= 2000
                && !url.contains(char::is_whitespace)
                && !url.contains(['"', '<', '>']);
            if !ok {
                is.add(
                    format!("images[{i}].url"),
                    "invalid",
                    "must be an http(s) URL or a path under /assets/",
                );
            }
            Image {
                url,
                alt: is.text(&format!("images[{i}].alt"), &im.alt, 0, 500),
            }
        })
        .collect();
    let seo = Seo {
        title: is.opt_text("seo.title", &input.seo.title, 200),
        description: is.opt_text("seo.description", &input.seo.description, 500),
    };
    if input.attributes.len() > 50 {
        is.add("attributes", "too_many", "at most 50 attributes");
    }
    let mut attributes = BTreeMap::new();
    for (k, v) in &input.attributes {
        let key = is.text(&format!("attributes.{k}"), k, 1, 50);
        let val = is.text(&format!("attributes.{k}"), v, 0, 500);
        attributes.insert(key, val);
    }

    if input.options.len() > 3 {
        is.add("options", "too_many", "at most 3 options");
    }
    let mut option_names = HashSet::new();
    let options: Vec<ProductOption> = input
        .options
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let name = is.text(&format!("options[{i}].name"), &o.name, 1, 50);
            if !option_names.insert(name.to_lowercase()) {
                is.add(
                    format!("options[{i}].name"),
                    "duplicate",
                    "option names must be unique",
                );
            }
            if o.values.is_empty() || o.values.len() > 100 {
                is.add(
                    format!("options[{i}].values"),
                    "invalid",
                    "needs 1 to 100 values",
                );
            }
            let mut vs = HashSet::new();
            let values = o
                .values
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    let v = is.text(&format!("options[{i}].values[{j}]"), v, 1, 100);
                    if !vs.insert(v.to_lowercase()) {
                        is.add(
                            format!("options[{i}].values[{j}]"),
                            "duplicate",
                            "values must be unique",
                        );
                    }
                    v
                })
                .collect();
            ProductOption { name, values }
        })
        .collect();

    if input.variants.is_empty() || input.variants.len() > 100 {
        is.add("variants", "invalid", "a product needs 1 to 100 variants");
    }
    let currency = input.variants.first().map(|v| v.price.currency);
    let mut skus = HashSet::new();
    let mut combos = HashSet::new();
    let mut ids = HashSet::new();
    let mut variants = Vec::new();
    for (i, v) in input.variants.iter().enumerate() {
        let f = |s: &str| format!("variants[{i}].{s}");
        let id = match &v.id {
            None => None,
            Some(s) => match VariantId::parse(s) {
                Ok(id) if ids.insert(id) => Some(id),
                Ok(_) => {
                    is.add(f("id"), "duplicate", "variant ids must be unique");
                    None
                }
                Err(_) => {
                    is.add(f("id"), "invalid", "is not a variant id");
                    None
                }
            },
        };
        let sku = is.text(&f("sku"), &v.sku, 1, 100);
        if !sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            is.add(f("sku"), "invalid", "use letters, digits and - _ . /");
        } else if !sku.is_empty() && !skus.insert(sku.to_uppercase()) {
            is.add(f("sku"), "duplicate", "SKUs must be unique");
        }
        if v.option_values.len() != options.len() {
            is.add(
                f("option_values"),
                "invalid",
                format!("needs one value per option ({})", options.len()),
            );
        } else {
            for (j, (val, opt)) in v.option_values.iter().zip(&options).enumerate() {
                if !opt.values.iter().any(|x| x == val.trim()) {
                    is.add(
                        format!("variants[{i}].option_values[{j}]"),
                        "unknown_value",
                        format!("`{}` is not a value of option {}", val, opt.name),
                    );
                }
            }
            let key: Vec<String> = v
                .option_values
                .iter()
                .map(|s| s.trim().to_lowercase())
                .collect();
            if !combos.insert(key) {
                is.add(
                    f("option_values"),
                    "duplicate",
                    "two variants have the same option values",
                );
            }
        }
        if v.price.amount <= 0 {
            is.add(
                f("price.amount"),
                "must_be_positive",
                "must be greater than 0",
            );
        } else if v.price.amount > MAX_AMOUNT {
            is.add(f("price.amount"), "too_large", "is too large");
        }
        if Some(v.price.currency) != currency {
            is.add(
                f("price.currency"),
                "currency_mismatch",
                "all variants must use the same currency",
            );
        }
        if let Some(c) = v.compare_at_price {
            if c.currency != v.price.currency {
                is.add(
                    f("compare_at_price.currency"),
                    "currency_mismatch",
                    "must match the price's currency",
                );
            } else if c.amount <= v.price.amount {
                is.add(
                    f("compare_at_price.amount"),
                    "must_exceed_price",
                    "must be greater than the price",
                );
            } else if c.amount > MAX_AMOUNT {
                is.add(f("compare_at_price.amount"), "too_large", "is too large");
            }
        }
        if v.weight_grams.is_some_and(|w| w > 10_000_000) {
            is.add(f("weight_grams"), "too_large", "must be at most 10000000");
        }
        let barcode = is.opt_text(&f("barcode"), &v.barcode, 50);
        variants.push(ValidVariant {
            id,
            sku,
            option_values: v
                .option_values
                .iter()
                .map(|s| s.trim().to_owned())
                .collect(),
            price: v.price,
            compare_at_price: v.compare_at_price,
            weight_grams: v.weight_grams,
            barcode,
            track_inventory: v.track_inventory.unwrap_or(true),
        });
    }
    if input.category_ids.len() > 20 {
        is.add("category_ids", "too_many", "at most 20 categories");
    }
    let mut category_ids = Vec::new();
    for (i, c) in input.category_ids.iter().enumerate() {
        match CategoryId::parse(c) {
            Ok(id) if !category_ids.contains(&id) => category_ids.push(id),
            Ok(_) => {}
            Err(_) => is.add(
                format!("category_ids[{i}]"),
                "invalid",
                "is not a category id",
            ),
        }
    }
    if is.0.is_empty() {
        Ok(ValidProduct {
            title,
            slug,
            slug_explicit,
            description: input.description.clone(),
            status,
            vendor,
            product_type,
            tags,
            images,
            seo,
            attributes,
            options,
            variants,
            category_ids,
        })
    } else {
        Err(is.0)
    }
}
