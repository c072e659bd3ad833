//! Catalog objects as API clients see them, separate from the stored records: a record can
//! gain a field (an import's bookkeeping, a derived index) without it appearing in the API, and
//! the API document is derived from these types alone. The parts a product is made of (images,
//! options, variants, SEO fields) are plain values shown as stored, as order lines are.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{
    Category, Collection, Image, Product, ProductOption, Seo, Status, Variant, Weight,
};
use crate::core::{CategoryId, CollectionId, Money, ProductId, Timestamp, VariantId};

/// A product.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Product)]
pub struct ProductView {
    /// Id (`prod_…`).
    #[schema(value_type = String)]
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
    pub variants: Vec<VariantView>,
    /// Categories it appears in.
    #[schema(value_type = Vec<String>)]
    pub category_ids: Vec<CategoryId>,
    /// Sold as a gift card.
    pub gift_card: bool,
    /// Shopify's taxonomy path (`Apparel & Accessories > Clothing`).
    pub product_category: Option<String>,
    /// Tax category of variants that name none (`null`: `standard`).
    pub tax_category: Option<String>,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Incremented on every change; the `ETag` and `If-Match` value.
    pub version: u64,
}

/// A purchasable variant.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Variant)]
pub struct VariantView {
    /// Id (`var_…`).
    #[schema(value_type = String)]
    pub id: VariantId,
    /// Stock-keeping unit, if any (not unique).
    pub sku: Option<String>,
    /// One value per product option, in option order.
    pub option_values: Vec<String>,
    /// Price (may be 0).
    pub price: Money,
    /// Former price; show it struck through only when it is above `price`.
    pub compare_at_price: Option<Money>,
    /// Shipping weight in whole grams (rounded; `weight` is exact).
    pub weight_grams: Option<u64>,
    /// Exact weight and the unit it is shown in.
    pub weight: Option<Weight>,
    /// GTIN/EAN/UPC.
    pub barcode: Option<String>,
    /// Whether stock is tracked.
    pub track_inventory: bool,
    /// Whether it ships (false: no shipping address needed for it).
    pub requires_shipping: bool,
    /// Whether tax applies.
    pub taxable: bool,
    /// Tax category (`null`: the product's).
    pub tax_category: Option<String>,
    /// Cost per item; only in staff views.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Money>,
    /// Image showing this variant.
    pub image_url: Option<String>,
}

impl VariantView {
    fn new(v: Variant, staff: bool) -> VariantView {
        VariantView {
            id: v.id,
            sku: v.sku,
            option_values: v.option_values,
            price: v.price,
            compare_at_price: v.compare_at_price,
            weight_grams: v.weight.as_ref().map(Weight::grams),
            weight: v.weight,
            barcode: v.barcode,
            track_inventory: v.track_inventory,
            requires_shipping: v.requires_shipping,
            taxable: v.taxable,
            tax_category: v.tax_category,
            cost: v.cost.filter(|_| staff),
            image_url: v.image_url,
        }
    }
}

impl ProductView {
    /// The view staff see: the public one plus cost per item.
    pub fn staff(p: Product) -> ProductView {
        ProductView::new(p, true)
    }

    fn new(p: Product, staff: bool) -> ProductView {
        ProductView {
            id: p.id,
            title: p.title,
            slug: p.slug,
            description: p.description,
            status: p.status,
            vendor: p.vendor,
            product_type: p.product_type,
            tags: p.tags,
            images: p.images,
            seo: p.seo,
            attributes: p.attributes,
            options: p.options,
            variants: p
                .variants
                .into_iter()
                .map(|v| VariantView::new(v, staff))
                .collect(),
            category_ids: p.category_ids,
            gift_card: p.gift_card,
            product_category: p.product_category,
            tax_category: p.tax_category,
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
        }
    }
}

impl From<Product> for ProductView {
    /// The public view (no cost per item).
    fn from(p: Product) -> ProductView {
        ProductView::new(p, false)
    }
}

/// A node of the category tree.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Category)]
pub struct CategoryView {
    /// Id (`cat_…`).
    #[schema(value_type = String)]
    pub id: CategoryId,
    /// Display name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Parent, `null` for roots.
    #[schema(value_type = Option<String>)]
    pub parent_id: Option<CategoryId>,
    /// Order among siblings.
    pub position: u32,
    /// Incremented on every change.
    pub version: u64,
}

impl From<Category> for CategoryView {
    fn from(c: Category) -> CategoryView {
        CategoryView {
            id: c.id,
            name: c.name,
            slug: c.slug,
            parent_id: c.parent_id,
            position: c.position,
            version: c.version,
        }
    }
}

/// A manual, ordered list of products.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Collection)]
pub struct CollectionView {
    /// Id (`col_…`).
    #[schema(value_type = String)]
    pub id: CollectionId,
    /// Title.
    pub title: String,
    /// Unique slug.
    pub slug: String,
    /// Description (HTML).
    pub description: String,
    /// Products in display order.
    #[schema(value_type = Vec<String>)]
    pub product_ids: Vec<ProductId>,
    /// Incremented on every change.
    pub version: u64,
}

impl From<Collection> for CollectionView {
    fn from(c: Collection) -> CollectionView {
        CollectionView {
            id: c.id,
            title: c.title,
            slug: c.slug,
            description: c.description,
            product_ids: c.product_ids,
            version: c.version,
        }
    }
}
