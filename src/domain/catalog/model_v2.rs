//! Product records as version 2 wrote them (before tax categories), read once and upgraded:
//! postcard is positional, so the old shape is spelled out to be decoded.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::model::{Image, Product, ProductOption, Seo, Status, Variant, Weight};
use crate::core::{CategoryId, Money, ProductId, Timestamp, VariantId};
use crate::storage::CodecError;

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct VariantV2 {
    id: VariantId,
    sku: Option<String>,
    option_values: Vec<String>,
    price: Money,
    compare_at_price: Option<Money>,
    weight: Option<Weight>,
    barcode: Option<String>,
    track_inventory: bool,
    requires_shipping: bool,
    taxable: bool,
    cost: Option<Money>,
    image_url: Option<String>,
    extra: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct ProductV2 {
    id: ProductId,
    title: String,
    slug: String,
    description: String,
    status: Status,
    vendor: Option<String>,
    product_type: Option<String>,
    tags: Vec<String>,
    images: Vec<Image>,
    seo: Seo,
    attributes: BTreeMap<String, String>,
    options: Vec<ProductOption>,
    variants: Vec<VariantV2>,
    category_ids: Vec<CategoryId>,
    gift_card: bool,
    product_category: Option<String>,
    extra: Vec<(String, String)>,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
}

/// Decodes a version-2 product: no tax category anywhere (the `taxable` flag decides).
pub(super) fn read(bytes: &[u8]) -> Result<Product, CodecError> {
    crate::storage::upgrade_from(bytes, |p: ProductV2| Product {
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
            .map(|v| Variant {
                id: v.id,
                sku: v.sku,
                option_values: v.option_values,
                price: v.price,
                compare_at_price: v.compare_at_price,
                weight: v.weight,
                barcode: v.barcode,
                track_inventory: v.track_inventory,
                requires_shipping: v.requires_shipping,
                taxable: v.taxable,
                tax_category: None,
                cost: v.cost,
                image_url: v.image_url,
                extra: v.extra,
            })
            .collect(),
        category_ids: p.category_ids,
        gift_card: p.gift_card,
        product_category: p.product_category,
        tax_category: None,
        extra: p.extra,
        created_at: p.created_at,
        updated_at: p.updated_at,
        version: p.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Currency;
    use crate::storage::Value;

    /// A product written before tax categories reads with none, its variants too.
    #[test]
    fn version_2_products_read_without_tax_categories() {
        let now = Timestamp::from_millis(1_795_000_000_000);
        let v2 = ProductV2 {
            id: ProductId::new(now),
            title: "Tee".into(),
            slug: "tee".into(),
            description: String::new(),
            status: Status::Active,
            vendor: None,
            product_type: None,
            tags: vec!["a".into()],
            images: Vec::new(),
            seo: Seo::default(),
            attributes: BTreeMap::new(),
            options: Vec::new(),
            variants: vec![VariantV2 {
                id: VariantId::new(now),
                sku: Some("T".into()),
                option_values: Vec::new(),
                price: Money::new(1000, Currency::USD),
                compare_at_price: None,
                weight: None,
                barcode: None,
                track_inventory: true,
                requires_shipping: true,
                taxable: false,
                cost: None,
                image_url: None,
                extra: Vec::new(),
            }],
            category_ids: Vec::new(),
            gift_card: false,
            product_category: None,
            extra: vec![("Metafield".into(), "x".into())],
            created_at: now,
            updated_at: now,
            version: 4,
        };
        let mut bytes = vec![2u8];
        bytes.extend(postcard::to_stdvec(&v2).expect("encode"));
        let p = Product::decode_value(&bytes).expect("decode");
        assert_eq!((p.version, p.tax_category.as_deref()), (4, None));
        assert_eq!(p.variants[0].tax_category, None);
        assert_eq!(p.tax_category_of(&p.variants[0]), "exempt", "not taxable");
        assert_eq!(p.extra, vec![("Metafield".to_owned(), "x".to_owned())]);
    }
}
