//! A product's card: the few facts a list of products needs (what it is called, whether it is
//! on sale, its lowest price, which variants' stock decides whether it can be bought), kept in
//! the product's own write, so a list (recommendations) checks and shows a product without
//! decoding it whole.

use serde::{Deserialize, Serialize};

use super::model::{Product, Status};
use crate::core::{Money, ProductId, VariantId};
use crate::storage::{Reader, StorageError, Table, Value, WriteTx};

/// A product as a list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Card {
    /// Slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: Status,
    /// The lowest variant price (none without variants).
    pub price: Option<Money>,
    /// Variants whose stock is tracked.
    pub tracked: Vec<VariantId>,
    /// Whether some variant is not tracked (so always available).
    pub untracked: bool,
}
impl Value for Card {}

/// Each product's card.
const CARDS: Table<ProductId, Card> = Table::new("catalog_cards");

impl Card {
    /// The card of `p`.
    pub fn of(p: &Product) -> Card {
        Card {
            slug: p.slug.clone(),
            title: p.title.clone(),
            status: p.status,
            price: p.variants.iter().map(|v| v.price).min_by_key(|m| m.amount),
            tracked: p
                .variants
                .iter()
                .filter(|v| v.track_inventory)
                .map(|v| v.id)
                .collect(),
            untracked: p.variants.iter().any(|v| !v.track_inventory),
        }
    }
}

/// Writes `p`'s card (with the product).
pub(super) fn put(tx: &mut WriteTx<'_>, p: &Product) -> Result<(), StorageError> {
    tx.insert(&CARDS, &p.id, &Card::of(p))
}

/// Removes a deleted product's card.
pub(super) fn remove(tx: &mut WriteTx<'_>, id: ProductId) -> Result<(), StorageError> {
    tx.remove(&CARDS, &id).map(|_| ())
}

/// The card of product `id` as `r` sees it.
pub fn card_in(r: &impl Reader, id: ProductId) -> Result<Option<Card>, StorageError> {
    r.get(&CARDS, &id)
}

/// Migration to schema 13: a card for every product.
pub fn migrate_cards(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    tx.for_each_batch(&super::model::PRODUCTS, 1000, |tx, rows| {
        for (_, p) in rows {
            put(tx, &p)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::demo::test_catalog;

    /// Schema 13: products written before cards existed get theirs from the migration, the
    /// same as a product written now; a deleted product's card goes with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_migration_gives_every_product_its_card() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, catalog, products) = test_catalog(dir.path(), 20).await;
        // As an older build left them: no cards.
        let ids: Vec<ProductId> = products.iter().map(|p| p.id).collect();
        store
            .write(move |tx| {
                for id in &ids {
                    remove(tx, *id)?;
                }
                Ok::<_, StorageError>(())
            })
            .await
            .expect("older data");
        assert!(
            card_in(&store.read().expect("read"), products[0].id)
                .expect("read")
                .is_none()
        );
        store.write(migrate_cards).await.expect("migrate");
        let r = store.read().expect("read");
        for p in &products {
            let c = card_in(&r, p.id).expect("read").expect("a card");
            assert_eq!(c, Card::of(p));
            assert_eq!(c.title, p.title);
            assert!(
                c.price.is_some() && !c.tracked.is_empty(),
                "demo variants are tracked"
            );
        }
        drop(r);
        let gone = products[0].clone();
        catalog.delete_product(gone.id, None).await.expect("delete");
        assert!(
            card_in(&store.read().expect("read"), gone.id)
                .expect("read")
                .is_none()
        );
        store.shutdown().await;
    }
}
