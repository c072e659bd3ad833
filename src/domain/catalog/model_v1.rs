//! Product records as version 1 wrote them (before the Shopify-fidelity fields), read once and
//! upgraded: postcard is positional, so the old shape must be spelled out to be decoded.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::model::{Image, Product, ProductOption, Seo, Status, Variant, Weight, WeightUnit};
use crate::core::{CategoryId, Money, ProductId, Timestamp, VariantId};
use crate::storage::CodecError;

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct VariantV1 {
    id: VariantId,
    sku: String,
    option_values: Vec<String>,
    price: Money,
    compare_at_price: Option<Money>,
    weight_grams: Option<u32>,
    barcode: Option<String>,
    track_inventory: bool,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct ProductV1 {
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
    variants: Vec<VariantV1>,
    category_ids: Vec<CategoryId>,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
}

fn variant(v: VariantV1) -> Variant {
    Variant {
        id: v.id,
        sku: Some(v.sku).filter(|s| !s.is_empty()),
        option_values: v.option_values,
        price: v.price,
        compare_at_price: v.compare_at_price,
        weight: v.weight_grams.map(|g| Weight {
            milligrams: u64::from(g) * 1000,
            unit: WeightUnit::G,
        }),
        barcode: v.barcode,
        track_inventory: v.track_inventory,
        requires_shipping: true,
        taxable: true,
        tax_category: None,
        cost: None,
        image_url: None,
        extra: Vec::new(),
    }
}

/// Decodes a version-1 product and fills the fields it did not have with their defaults.
pub(super) fn read(bytes: &[u8]) -> Result<Product, CodecError> {
    crate::storage::upgrade_from(bytes, upgrade)
}

fn upgrade(p: ProductV1) -> Product {
    Product {
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
        variants: p.variants.into_iter().map(variant).collect(),
        category_ids: p.category_ids,
        gift_card: false,
        product_category: None,
        tax_category: None,
        extra: Vec::new(),
        created_at: p.created_at,
        updated_at: p.updated_at,
        version: p.version,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::{Currency, TestClock};
    use crate::domain::catalog::migrate_shared_skus;
    use crate::domain::catalog::model::{SKUS, SKUS_V1};
    use crate::storage::{Order, Reader, Store, StoreOptions, Value};

    fn v1(t: Timestamp) -> ProductV1 {
        ProductV1 {
            id: ProductId::new(t),
            title: "Mug".into(),
            slug: "mug".into(),
            description: String::new(),
            status: Status::Active,
            vendor: None,
            product_type: None,
            tags: vec!["kitchen".into()],
            images: Vec::new(),
            seo: Seo::default(),
            attributes: BTreeMap::new(),
            options: Vec::new(),
            variants: vec![VariantV1 {
                id: VariantId::new(t),
                sku: "MUG-1".into(),
                option_values: Vec::new(),
                price: Money::new(1200, Currency::USD),
                compare_at_price: None,
                weight_grams: Some(350),
                barcode: None,
                track_inventory: true,
            }],
            category_ids: Vec::new(),
            created_at: t,
            updated_at: t,
            version: 3,
        }
    }

    /// A record written by version 1 reads as today's product with the new fields defaulted.
    #[test]
    fn version_1_products_upgrade() {
        let t = Timestamp::from_millis(1_000_000);
        let old = v1(t);
        let mut bytes = vec![1u8];
        bytes.extend(postcard::to_allocvec(&old).expect("encode"));
        let p = Product::decode_value(&bytes).expect("upgrade");
        assert_eq!((p.id, p.title.as_str(), p.version), (old.id, "Mug", 3));
        let v = &p.variants[0];
        assert_eq!(v.sku.as_deref(), Some("MUG-1"));
        assert_eq!(v.weight.map(|w| w.milligrams), Some(350_000));
        assert!(v.requires_shipping && v.taxable && v.cost.is_none());
        assert!(!p.gift_card && p.extra.is_empty());
        // Re-encoded, it is a current (version 2) record.
        assert_eq!(p.encode_value().expect("encode")[0], Product::VERSION);
    }

    /// Schema 8 moves the unique SKU index to the shared one, leaving the old one empty.
    #[tokio::test]
    async fn schema_8_shares_the_sku_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = Timestamp::from_millis(1_000_000);
        let store = Store::open(StoreOptions::new(
            dir.path().to_path_buf(),
            Arc::new(TestClock::new(t)),
            crate::storage::SCHEMA_V1,
        ))
        .expect("open");
        let (a, b) = (VariantId::new(t), VariantId::new(t));
        store
            .write(move |tx| {
                tx.insert(&SKUS_V1, &"MUG-1".to_owned(), &a)?;
                tx.insert(&SKUS_V1, &"MUG-10".to_owned(), &b)?;
                migrate_shared_skus(tx)
            })
            .await
            .expect("migrate");
        let r = store.read().expect("read");
        let holders: Vec<VariantId> = r
            .prefix(&SKUS, &"MUG-1".to_owned(), None, Order::Asc, 10)
            .expect("scan")
            .into_iter()
            .map(|((_, v), ())| v)
            .collect();
        assert_eq!(holders, vec![a], "a prefix of a SKU is not the SKU");
        let left = r.prefix(&SKUS_V1, &(), None, Order::Asc, 10).expect("scan");
        assert!(left.is_empty());
    }
}
