//! Untrusted catalog input and its validation into domain values, with one issue per bad field
//! (`variants[0].price.amount: must_be_positive`) so clients can show every problem at once.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::model::{Image, ProductOption, Seo, Status, Weight, WeightUnit};
use super::slug::{is_slug, normalize, slugify};
use crate::core::{CategoryId, Money, VariantId};

pub use crate::core::FieldIssue;

/// A variant as sent by a client.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    /// Existing id to keep (on update).
    pub id: Option<String>,
    /// SKU (optional, not unique).
    #[serde(default)]
    pub sku: Option<String>,
    /// Option values in option order.
    #[serde(default)]
    pub option_values: Vec<String>,
    /// Price.
    pub price: Money,
    /// Compare-at price.
    pub compare_at_price: Option<Money>,
    /// Weight in whole grams (`weight` wins when both are sent).
    pub weight_grams: Option<u64>,
    /// Exact weight in milligrams and the unit it is shown in.
    pub weight: Option<Weight>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Track stock (default true).
    pub track_inventory: Option<bool>,
    /// Ships physically (default true; false for digital goods).
    pub requires_shipping: Option<bool>,
    /// Tax applies (default true).
    pub taxable: Option<bool>,
    /// Tax category (`standard`, `reduced`, `zero`, `exempt` or the shop's own key); omitted
    /// keeps the current one (none: the product's).
    pub tax_category: Option<String>,
    /// Cost per item (staff only).
    pub cost: Option<Money>,
    /// URL of the image showing this variant (one of the product's images).
    pub image_url: Option<String>,
    /// Unmodelled import columns; `None` keeps the variant's current ones (the API never
    /// sends them, so an API edit does not lose an import's metafields).
    #[serde(skip)]
    pub extra: Option<Vec<(String, String)>>,
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
    /// Variants (1 to 2,048).
    pub variants: Vec<VariantInput>,
    /// Category ids.
    #[serde(default)]
    pub category_ids: Vec<String>,
    /// Sold as a gift card (default false).
    pub gift_card: Option<bool>,
    /// Shopify's taxonomy path.
    pub product_category: Option<String>,
    /// Tax category of variants that name none; omitted keeps the current one.
    pub tax_category: Option<String>,
    /// Unmodelled import columns; `None` keeps the product's current ones.
    #[serde(skip)]
    pub extra: Option<Vec<(String, String)>>,
}

/// A variant that passed validation (id resolved later).
#[derive(Clone, Debug, PartialEq)]
pub struct ValidVariant {
    /// Id to keep, if the client sent one.
    pub id: Option<VariantId>,
    /// SKU.
    pub sku: Option<String>,
    /// Option values.
    pub option_values: Vec<String>,
    /// Price.
    pub price: Money,
    /// Compare-at price.
    pub compare_at_price: Option<Money>,
    /// Weight.
    pub weight: Option<Weight>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Track stock.
    pub track_inventory: bool,
    /// Ships physically.
    pub requires_shipping: bool,
    /// Tax applies.
    pub taxable: bool,
    /// Tax category (`None`: keep / none).
    pub tax_category: Option<String>,
    /// Cost per item.
    pub cost: Option<Money>,
    /// Variant image.
    pub image_url: Option<String>,
    /// Unmodelled columns (`None`: keep).
    pub extra: Option<Vec<(String, String)>>,
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
    /// Gift card.
    pub gift_card: bool,
    /// Taxonomy path.
    pub product_category: Option<String>,
    /// Tax category (`None`: keep / none).
    pub tax_category: Option<String>,
    /// Unmodelled columns (`None`: keep).
    pub extra: Option<Vec<(String, String)>>,
    /// What was accepted but deserves the merchant's eye (duplicate SKUs, a compare-at price
    /// not above the price).
    pub warnings: Vec<FieldIssue>,
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

/// Limits, at least Shopify's published ones so every Shopify product fits.
pub mod limits {
    /// Variants per product (Shopify: 2,048 since 2025).
    pub const VARIANTS: usize = 2048;
    /// Tags per product (Shopify: 250).
    pub const TAGS: usize = 250;
    /// Characters per tag (Shopify: 255).
    pub const TAG_CHARS: usize = 255;
    /// Images per product (Shopify: 250).
    pub const IMAGES: usize = 250;
    /// Characters of a title, vendor, type, option name or value, SKU or barcode (Shopify: 255).
    pub const SHORT_TEXT: usize = 255;
    /// Characters of an SEO title.
    pub const SEO_TITLE: usize = 1000;
    /// Characters of an SEO description (Shopify shows 320, stores hold more).
    pub const SEO_DESCRIPTION: usize = 5000;
    /// Characters of an image's alt text (Shopify: 512).
    pub const ALT: usize = 512;
    /// Unmodelled import columns kept per product or variant, and bytes per value.
    pub const EXTRA_COLUMNS: usize = 200;
    /// Bytes of one unmodelled column's value.
    pub const EXTRA_VALUE_BYTES: usize = 65_536;
    /// Largest weight, in milligrams (10 tonnes).
    pub const WEIGHT_MG: u64 = 10_000_000_000;
}

fn image_url_ok(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://") || url.starts_with("/assets/"))
        && url.len() <= 2000
        && !url.contains(char::is_whitespace)
        && !url.contains(['"', '<', '>'])
}

/// Validates a product, reporting every invalid field.
pub fn validate(input: &ProductInput) -> Result<ValidProduct, Vec<FieldIssue>> {
    let mut is = Issues(Vec::new());
    let mut warnings = Vec::new();
    let title = is.text("title", &input.title, 1, limits::SHORT_TEXT);
    let (slug, slug_explicit) = slug_of(&mut is, input.slug.as_deref(), &title);
    if input.description.len() > 100_000 {
        is.add("description", "too_long", "must be at most 100000 bytes");
    }
    let status = match input.status.as_deref() {
        None => Status::Draft,
        Some(s) => Status::parse(s).unwrap_or_else(|| {
            is.add(
                "status",
                "invalid",
                "must be draft, active, archived or unlisted",
            );
            Status::Draft
        }),
    };
    let vendor = is.opt_text("vendor", &input.vendor, limits::SHORT_TEXT);
    let product_type = is.opt_text("product_type", &input.product_type, limits::SHORT_TEXT);
    let product_category = is.opt_text("product_category", &input.product_category, 1000);
    let product_tax = tax_category(&mut is, "tax_category", input.tax_category.as_deref());
    let tags = tags(&mut is, &input.tags);
    let images = images(&mut is, &input.images);
    let seo = Seo {
        title: is.opt_text("seo.title", &input.seo.title, limits::SEO_TITLE),
        description: is.opt_text(
            "seo.description",
            &input.seo.description,
            limits::SEO_DESCRIPTION,
        ),
    };
    let attributes = attributes(&mut is, &input.attributes);
    let options = options(&mut is, &input.options);
    let variants = variants(&mut is, &mut warnings, &input.variants, &options);
    if let Some(extra) = &input.extra {
        extra_ok(&mut is, "extra", extra);
    }
    let category_ids = category_ids(&mut is, &input.category_ids);
    if !is.0.is_empty() {
        return Err(is.0);
    }
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
        gift_card: input.gift_card.unwrap_or(false),
        product_category,
        tax_category: product_tax,
        extra: input.extra.clone(),
        warnings,
    })
}

fn slug_of(is: &mut Issues, slug: Option<&str>, title: &str) -> (String, bool) {
    match slug {
        Some(s) => {
            let s = normalize(s);
            if !is_slug(&s) {
                is.add(
                    "slug",
                    "invalid",
                    "use letters, digits, - and _ (at most 255 characters)",
                );
            }
            (s, true)
        }
        None => {
            let s = slugify(title);
            if s.is_empty() && !title.is_empty() {
                is.add(
                    "title",
                    "invalid",
                    "needs letters or digits to derive a slug; send `slug`",
                );
            }
            (s, false)
        }
    }
}

fn tags(is: &mut Issues, input: &[String]) -> Vec<String> {
    if input.len() > limits::TAGS {
        is.add("tags", "too_many", format!("at most {} tags", limits::TAGS));
    }
    let mut seen = HashSet::new();
    let mut tags = Vec::new();
    for (i, t) in input.iter().enumerate() {
        let t = is.text(&format!("tags[{i}]"), t, 1, limits::TAG_CHARS);
        if !t.is_empty() && seen.insert(t.to_lowercase()) {
            tags.push(t);
        }
    }
    tags
}

fn images(is: &mut Issues, input: &[ImageInput]) -> Vec<Image> {
    if input.len() > limits::IMAGES {
        is.add(
            "images",
            "too_many",
            format!("at most {} images", limits::IMAGES),
        );
    }
    input
        .iter()
        .enumerate()
        .map(|(i, im)| {
            let url = im.url.trim().to_owned();
            if !image_url_ok(&url) {
                is.add(
                    format!("images[{i}].url"),
                    "invalid",
                    "must be an http(s) URL or a path under /assets/",
                );
            }
            Image {
                url,
                alt: is.text(&format!("images[{i}].alt"), &im.alt, 0, limits::ALT),
            }
        })
        .collect()
}

fn attributes(is: &mut Issues, input: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    if input.len() > 50 {
        is.add("attributes", "too_many", "at most 50 attributes");
    }
    let mut attributes = BTreeMap::new();
    for (k, v) in input {
        let key = is.text(&format!("attributes.{k}"), k, 1, 50);
        let val = is.text(&format!("attributes.{k}"), v, 0, 500);
        attributes.insert(key, val);
    }
    attributes
}

fn options(is: &mut Issues, input: &[OptionInput]) -> Vec<ProductOption> {
    if input.len() > 3 {
        is.add("options", "too_many", "at most 3 options");
    }
    let mut names = HashSet::new();
    input
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let name = is.text(
                &format!("options[{i}].name"),
                &o.name,
                1,
                limits::SHORT_TEXT,
            );
            if !names.insert(name.to_lowercase()) {
                is.add(
                    format!("options[{i}].name"),
                    "duplicate",
                    "option names must be unique",
                );
            }
            if o.values.is_empty() || o.values.len() > limits::VARIANTS {
                is.add(
                    format!("options[{i}].values"),
                    "invalid",
                    format!("needs 1 to {} values", limits::VARIANTS),
                );
            }
            let mut seen = HashSet::new();
            let values = o
                .values
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    let field = format!("options[{i}].values[{j}]");
                    let v = is.text(&field, v, 1, limits::SHORT_TEXT);
                    if !seen.insert(v.to_lowercase()) {
                        is.add(field, "duplicate", "values must be unique");
                    }
                    v
                })
                .collect();
            ProductOption { name, values }
        })
        .collect()
}

fn variants(
    is: &mut Issues,
    warnings: &mut Vec<FieldIssue>,
    input: &[VariantInput],
    options: &[ProductOption],
) -> Vec<ValidVariant> {
    if input.is_empty() || input.len() > limits::VARIANTS {
        is.add(
            "variants",
            "invalid",
            format!("a product needs 1 to {} variants", limits::VARIANTS),
        );
    }
    let currency = input.first().map(|v| v.price.currency);
    let values: Vec<HashSet<&str>> = options
        .iter()
        .map(|o| o.values.iter().map(String::as_str).collect())
        .collect();
    let mut skus = HashSet::new();
    let mut combos = HashSet::new();
    let mut ids = HashSet::new();
    let mut out = Vec::with_capacity(input.len());
    for (i, v) in input.iter().enumerate() {
        let f = |s: &str| format!("variants[{i}].{s}");
        let id = variant_id(is, &f("id"), v.id.as_deref(), &mut ids);
        let sku = is.opt_text(&f("sku"), &v.sku, limits::SHORT_TEXT);
        if let Some(sku) = &sku
            && !skus.insert(sku.to_uppercase())
        {
            warnings.push(FieldIssue {
                field: f("sku"),
                code: "duplicate_sku",
                message: format!("SKU `{sku}` is also used by another variant of this product"),
            });
        }
        option_values(is, i, v, options, &values, &mut combos);
        money(is, &f("price"), &v.price, currency);
        if let Some(c) = &v.compare_at_price {
            money(is, &f("compare_at_price"), c, Some(v.price.currency));
            if c.amount <= v.price.amount {
                warnings.push(FieldIssue {
                    field: f("compare_at_price"),
                    code: "compare_at_not_above_price",
                    message: "kept, but shown without a strikethrough: it is not above the price"
                        .into(),
                });
            }
        }
        if let Some(c) = &v.cost {
            money(is, &f("cost"), c, Some(v.price.currency));
        }
        let weight = weight(is, &f("weight"), v);
        let barcode = is.opt_text(&f("barcode"), &v.barcode, limits::SHORT_TEXT);
        let image_url = v.image_url.as_deref().map(str::trim).map(str::to_owned);
        if image_url.as_deref().is_some_and(|u| !image_url_ok(u)) {
            is.add(
                f("image_url"),
                "invalid",
                "must be an http(s) URL or a path under /assets/",
            );
        }
        if let Some(extra) = &v.extra {
            extra_ok(is, &f("extra"), extra);
        }
        out.push(ValidVariant {
            id,
            sku,
            option_values: v
                .option_values
                .iter()
                .map(|s| s.trim().to_owned())
                .collect(),
            price: v.price,
            compare_at_price: v.compare_at_price,
            weight,
            barcode,
            track_inventory: v.track_inventory.unwrap_or(true),
            requires_shipping: v.requires_shipping.unwrap_or(true),
            taxable: v.taxable.unwrap_or(true),
            tax_category: tax_category(
                is,
                &format!("variants[{i}].tax_category"),
                v.tax_category.as_deref(),
            ),
            cost: v.cost,
            image_url: image_url.filter(|u| !u.is_empty()),
            extra: v.extra.clone(),
        });
    }
    out
}

fn variant_id(
    is: &mut Issues,
    field: &str,
    id: Option<&str>,
    seen: &mut HashSet<VariantId>,
) -> Option<VariantId> {
    match VariantId::parse(id?) {
        Ok(id) if seen.insert(id) => Some(id),
        Ok(_) => {
            is.add(field, "duplicate", "variant ids must be unique");
            None
        }
        Err(_) => {
            is.add(field, "invalid", "is not a variant id");
            None
        }
    }
}

fn option_values(
    is: &mut Issues,
    i: usize,
    v: &VariantInput,
    options: &[ProductOption],
    values: &[HashSet<&str>],
    combos: &mut HashSet<Vec<String>>,
) {
    if v.option_values.len() != options.len() {
        is.add(
            format!("variants[{i}].option_values"),
            "invalid",
            format!("needs one value per option ({})", options.len()),
        );
        return;
    }
    for (j, (val, opt)) in v.option_values.iter().zip(options).enumerate() {
        if !values[j].contains(val.trim()) {
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
            format!("variants[{i}].option_values"),
            "duplicate",
            "two variants have the same option values",
        );
    }
}

/// Checks an amount: not negative (0 is a valid price: free samples, gifts), bounded, and in
/// `currency` when one is required.
fn money(is: &mut Issues, field: &str, m: &Money, currency: Option<crate::core::Currency>) {
    if m.amount < 0 {
        is.add(
            format!("{field}.amount"),
            "must_not_be_negative",
            "must be 0 or more",
        );
    } else if m.amount > MAX_AMOUNT {
        is.add(format!("{field}.amount"), "too_large", "is too large");
    }
    if currency.is_some_and(|c| c != m.currency) {
        is.add(
            format!("{field}.currency"),
            "currency_mismatch",
            "all prices of a product must use the same currency",
        );
    }
}

fn weight(is: &mut Issues, field: &str, v: &VariantInput) -> Option<Weight> {
    let w = v.weight.or_else(|| {
        v.weight_grams.map(|g| Weight {
            milligrams: g.saturating_mul(1000),
            unit: WeightUnit::G,
        })
    })?;
    if w.milligrams > limits::WEIGHT_MG {
        is.add(field, "too_large", "a weight must be at most 10 t");
    }
    Some(w)
}

fn extra_ok(is: &mut Issues, field: &str, extra: &[(String, String)]) {
    if extra.len() > limits::EXTRA_COLUMNS
        || extra
            .iter()
            .any(|(k, v)| k.len() > 1000 || v.len() > limits::EXTRA_VALUE_BYTES)
    {
        is.add(
            field,
            "too_large",
            format!(
                "at most {} extra columns of {} bytes",
                limits::EXTRA_COLUMNS,
                limits::EXTRA_VALUE_BYTES
            ),
        );
    }
}

fn category_ids(is: &mut Issues, input: &[String]) -> Vec<CategoryId> {
    if input.len() > 20 {
        is.add("category_ids", "too_many", "at most 20 categories");
    }
    let mut out = Vec::new();
    for (i, c) in input.iter().enumerate() {
        match CategoryId::parse(c) {
            Ok(id) if !out.contains(&id) => out.push(id),
            Ok(_) => {}
            Err(_) => is.add(
                format!("category_ids[{i}]"),
                "invalid",
                "is not a category id",
            ),
        }
    }
    out
}

/// A tax category key as sent: `[a-z0-9_]`, 1–50 (whether the shop defines it is the
/// pricing rules' business: an unknown key is taxed at its zone's standard rate).
fn tax_category(is: &mut Issues, field: &str, v: Option<&str>) -> Option<String> {
    let k = v?.trim().to_ascii_lowercase();
    if k.is_empty() || k.len() > 50 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        is.add(
            field,
            "invalid",
            "must be a tax category key: 1 to 50 of a-z, 0-9 and _",
        );
        return None;
    }
    Some(k)
}

impl ProductInput {
    /// The input that would store `p` as it is: an edit form starts from it and changes only
    /// what was edited, so every other field (variant ids, extra Shopify columns) survives.
    pub fn of(p: &super::model::Product) -> ProductInput {
        ProductInput {
            title: p.title.clone(),
            slug: Some(p.slug.clone()),
            description: p.description.clone(),
            status: Some(p.status.as_str().to_owned()),
            vendor: p.vendor.clone(),
            product_type: p.product_type.clone(),
            tags: p.tags.clone(),
            images: p
                .images
                .iter()
                .map(|i| ImageInput {
                    url: i.url.clone(),
                    alt: i.alt.clone(),
                })
                .collect(),
            seo: SeoInput {
                title: p.seo.title.clone(),
                description: p.seo.description.clone(),
            },
            attributes: p.attributes.clone(),
            options: p
                .options
                .iter()
                .map(|o| OptionInput {
                    name: o.name.clone(),
                    values: o.values.clone(),
                })
                .collect(),
            variants: p.variants.iter().map(VariantInput::of).collect(),
            category_ids: p.category_ids.iter().map(ToString::to_string).collect(),
            gift_card: Some(p.gift_card),
            product_category: p.product_category.clone(),
            tax_category: p.tax_category.clone(),
            extra: Some(p.extra.clone()),
        }
    }
}

impl VariantInput {
    /// The input that would store `v` as it is.
    pub fn of(v: &super::model::Variant) -> VariantInput {
        VariantInput {
            id: Some(v.id.to_string()),
            sku: v.sku.clone(),
            option_values: v.option_values.clone(),
            price: v.price,
            compare_at_price: v.compare_at_price,
            weight_grams: None,
            weight: v.weight,
            barcode: v.barcode.clone(),
            track_inventory: Some(v.track_inventory),
            requires_shipping: Some(v.requires_shipping),
            taxable: Some(v.taxable),
            tax_category: v.tax_category.clone(),
            cost: v.cost,
            image_url: v.image_url.clone(),
            extra: Some(v.extra.clone()),
        }
    }
}
