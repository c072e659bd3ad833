//! Catalog records: products with options and variants, categories (a tree) and collections.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::{CategoryId, CollectionId, Money, ProductId, Timestamp, VariantId};
use crate::storage::{CodecError, Table, Value};

/// Publication state of a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ProductStatus)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being prepared; invisible to the public.
    Draft,
    /// On sale.
    Active,
    /// Retired; invisible to the public, kept for orders.
    Archived,
    /// On sale to whoever has the link (Shopify's `unlisted`): its page and cart work, but no
    /// list, collection or search shows it. Added with schema 8.
    Unlisted,
}

impl Status {
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "draft" => Some(Status::Draft),
            "active" => Some(Status::Active),
            "archived" => Some(Status::Archived),
            "unlisted" => Some(Status::Unlisted),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Active => "active",
            Status::Archived => "archived",
            Status::Unlisted => "unlisted",
        }
    }

    /// Whether a customer with the product's link may see and buy it.
    pub fn sellable(self) -> bool {
        matches!(self, Status::Active | Status::Unlisted)
    }
}

/// A product image by URL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Image {
    /// Absolute URL or a path under `/assets/`.
    pub url: String,
    /// Alternative text.
    pub alt: String,
}

/// An option axis such as Size or Color, with its allowed values in display order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductOption {
    /// Name, e.g. `Size`.
    pub name: String,
    /// Values, e.g. `["S", "M", "L"]`.
    pub values: Vec<String>,
}

/// Unit a weight is shown in; the weight itself is kept in milligrams, so `0.5 g` and
/// `1.25 lb` survive exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WeightUnit {
    /// Grams.
    G,
    /// Kilograms.
    Kg,
    /// Pounds.
    Lb,
    /// Ounces.
    Oz,
}

impl WeightUnit {
    /// Parses Shopify's and the API's spelling (`g`, `kg`, `lb`, `oz`, any case).
    pub fn parse(s: &str) -> Option<WeightUnit> {
        match s.trim().to_ascii_lowercase().as_str() {
            "g" => Some(WeightUnit::G),
            "kg" => Some(WeightUnit::Kg),
            "lb" | "lbs" => Some(WeightUnit::Lb),
            "oz" => Some(WeightUnit::Oz),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WeightUnit::G => "g",
            WeightUnit::Kg => "kg",
            WeightUnit::Lb => "lb",
            WeightUnit::Oz => "oz",
        }
    }
}

/// A shipping weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Weight {
    /// Weight in milligrams (integer, so no rounding creeps in).
    pub milligrams: u64,
    /// Unit the merchant shows it in.
    pub unit: WeightUnit,
}

impl Weight {
    /// Whole grams, rounded half up (the API's `weight_grams`).
    pub fn grams(&self) -> u64 {
        self.milligrams.saturating_add(500) / 1000
    }
}

/// A purchasable variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// Id (`var_…`).
    pub id: VariantId,
    /// Stock-keeping unit, if the merchant gave one. Not unique: Shopify allows the same SKU
    /// on several variants, so variants are found by product and option values instead.
    pub sku: Option<String>,
    /// One value per product option, in option order.
    pub option_values: Vec<String>,
    /// Price (0 for free samples and gifts).
    pub price: Money,
    /// Former price; shown struck through only when above the price.
    pub compare_at_price: Option<Money>,
    /// Shipping weight.
    pub weight: Option<Weight>,
    /// GTIN/EAN/UPC.
    pub barcode: Option<String>,
    /// Whether stock is tracked for this variant.
    pub track_inventory: bool,
    /// Whether it ships (false for digital goods and services).
    pub requires_shipping: bool,
    /// Whether tax applies (false: the `exempt` category, whatever else is set).
    pub taxable: bool,
    /// Tax category (`standard`, `reduced`, `zero`, `exempt` or the shop's own); none: the
    /// product's, else `standard`.
    pub tax_category: Option<String>,
    /// Cost per item, for margins; staff only.
    pub cost: Option<Money>,
    /// URL of the product image that shows this variant.
    pub image_url: Option<String>,
    /// Import columns shopd does not model (market prices, fulfilment service, …), kept in
    /// file order and written back on export.
    pub extra: Vec<(String, String)>,
}

/// Search-engine fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Seo {
    /// `<title>`.
    pub title: Option<String>,
    /// Meta description.
    pub description: Option<String>,
}

/// A product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Id (`prod_…`).
    pub id: ProductId,
    /// Title.
    pub title: String,
    /// Unique URL slug.
    pub slug: String,
    /// Description (HTML).
    pub description: String,
    /// Publication state.
    pub status: Status,
    /// Brand or maker.
    pub vendor: Option<String>,
    /// Merchant's product type.
    pub product_type: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Images in display order.
    pub images: Vec<Image>,
    /// SEO fields.
    pub seo: Seo,
    /// Free attributes (material, care, …).
    pub attributes: BTreeMap<String, String>,
    /// Option axes.
    pub options: Vec<ProductOption>,
    /// Variants (at least one).
    pub variants: Vec<Variant>,
    /// Categories it appears in.
    pub category_ids: Vec<CategoryId>,
    /// Sold as a gift card.
    pub gift_card: bool,
    /// Shopify's standard product taxonomy path (`Apparel & Accessories > Clothing`).
    pub product_category: Option<String>,
    /// Tax category of its variants that name none (none: `standard`).
    pub tax_category: Option<String>,
    /// Import columns shopd does not model (metafields, Google Shopping, …), kept in file
    /// order and written back on export.
    pub extra: Vec<(String, String)>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Incremented on every change; the `ETag` and `If-Match` value.
    pub version: u64,
}
impl Value for Product {
    const VERSION: u8 = 3;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self, CodecError> {
        match version {
            1 => super::model_v1::read(bytes),
            2 => super::model_v2::read(bytes),
            found => Err(crate::storage::unknown_version::<Self>(found)),
        }
    }
}

impl Product {
    /// The tax category `variant` is sold under: exempt when not taxable (a gift card is money,
    /// not a supply), else its own, the product's, or `standard`.
    pub fn tax_category_of(&self, variant: &Variant) -> String {
        if !variant.taxable || self.gift_card {
            return "exempt".to_owned();
        }
        variant
            .tax_category
            .clone()
            .or_else(|| self.tax_category.clone())
            .unwrap_or_else(|| "standard".to_owned())
    }
}

/// A node of the category tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Id (`cat_…`).
    pub id: CategoryId,
    /// Display name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Parent, `None` for roots.
    pub parent_id: Option<CategoryId>,
    /// Order among siblings.
    pub position: u32,
    /// Incremented on every change.
    pub version: u64,
}
impl Value for Category {}

/// A manual, ordered list of products ("Summer picks").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    /// Id (`col_…`).
    pub id: CollectionId,
    /// Title.
    pub title: String,
    /// Unique slug.
    pub slug: String,
    /// Description (HTML).
    pub description: String,
    /// Products in display order.
    pub product_ids: Vec<ProductId>,
    /// Incremented on every change.
    pub version: u64,
}
impl Value for Collection {}

pub(super) const COLLECTIONS: Table<CollectionId, Collection> = Table::new("catalog_collections");
pub(super) const COLLECTION_SLUGS: Table<String, CollectionId> =
    Table::new("catalog_collection_slugs");
pub(super) const PRODUCTS: Table<ProductId, Product> = Table::new("catalog_products");
pub(super) const PRODUCT_SLUGS: Table<String, ProductId> = Table::new("catalog_product_slugs");
/// Before schema 8: one variant per upper-cased SKU (SKUs were unique then).
pub(super) const SKUS_V1: Table<String, VariantId> = Table::new("catalog_skus");
/// Variants by upper-cased SKU; several variants may share one.
pub(super) const SKUS: Table<(String, VariantId), ()> = Table::new("catalog_sku_variants");
pub(super) const VARIANTS: Table<VariantId, ProductId> = Table::new("catalog_variants");
/// Active products per category, for public listing.
pub(super) const CATEGORY_PRODUCTS: Table<(CategoryId, ProductId), ()> =
    Table::new("catalog_category_products");
/// Every product (any status) per category, so deleting a category checks for members with one
/// lookup instead of reading the catalog.
pub(super) const CATEGORY_MEMBERS: Table<(CategoryId, ProductId), ()> =
    Table::new("catalog_category_members");
/// Active products, for public listing.
pub(super) const ACTIVE: Table<ProductId, ()> = Table::new("catalog_active");
pub(super) const CATEGORIES: Table<CategoryId, Category> = Table::new("catalog_categories");
pub(super) const CATEGORY_SLUGS: Table<String, CategoryId> = Table::new("catalog_category_slugs");
