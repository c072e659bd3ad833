//! Catalog objects as API clients see them, separate from the stored records: a record can
//! gain a field (an import's bookkeeping, a derived index) without it appearing in the API, and
//! the API document is derived from these types alone. The parts a product is made of (images,
//! options, variants, SEO fields) are plain values shown as stored, as order lines are.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{Category, Collection, Image, Product, ProductOption, Seo, Status, Variant};
use crate::core::{CategoryId, CollectionId, ProductId, Timestamp};

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
    pub variants: Vec<Variant>,
    /// Categories it appears in.
    #[schema(value_type = Vec<String>)]
    pub category_ids: Vec<CategoryId>,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Incremented on every change; the `ETag` and `If-Match` value.
    pub version: u64,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> ProductView {
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
            variants: p.variants,
            category_ids: p.category_ids,
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
        }
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
