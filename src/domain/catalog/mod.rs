//! The catalog: products with options and variants, and a category tree.
//! Slugs are unique and SKUs indexed (index tables maintained in the same transaction as the
//! record; SKUs may repeat, as in Shopify),
//! every record carries a version for `ETag`/`If-Match`, and the public only sees active products.

pub mod card;
pub mod changes;
pub mod demo;
mod import;
pub mod input;
pub mod model;
mod model_v1;
mod model_v2;
pub mod shopify_csv;
pub mod sku;
pub mod slug;
mod taxonomy;
pub mod view;

use std::collections::HashMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::core::errors::{self as codes, Code, ErrorCode};
use crate::core::page::Cursor;
use crate::core::{CategoryId, CollectionId, Money, Page, ProductId, VariantId, page};
use crate::jobs::{self, NewJob};
use crate::storage::{Order, ReadTx, Reader, StorageError, Store, WriteTx};

/// Job kind enqueued with every product change (search indexing consumes it).
pub const PRODUCT_CHANGED_JOB: &str = "catalog.product_changed";

/// Payload of [`PRODUCT_CHANGED_JOB`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProductChanged {
    /// The product created, updated or deleted.
    pub product_id: ProductId,
    /// Its entry in the change feed (absent in jobs queued before the feed existed).
    #[serde(default)]
    pub seq: Option<u64>,
}

/// What [`Catalog::feed`] read.
#[derive(Clone, Debug)]
pub struct Feed {
    /// Entries after the position asked for, in order.
    pub entries: Vec<(u64, changes::ChangeRecord)>,
    /// The oldest entry kept (older ones were pruned).
    pub oldest: Option<u64>,
    /// The last sequence number given.
    pub head: u64,
}

/// Job kind of the hourly feed pruning.
pub const FEED_PRUNE_JOB: &str = "catalog.feed_prune";

/// Job kind older versions enqueued when a category moved (the move is now a change-feed
/// entry); still handled so such jobs left in a queue finish.
pub const CATEGORY_MOVED_JOB: &str = "catalog.category_moved";

/// Payload of [`CATEGORY_MOVED_JOB`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CategoryMoved {
    /// The category that moved.
    pub category_id: CategoryId,
}

/// Queues re-indexing of a product whose derived data changed elsewhere (stock levels), in the
/// caller's transaction.
pub fn notify_changed(tx: &mut WriteTx<'_>, id: ProductId) -> Result<(), StorageError> {
    changed(tx, id)
}

/// The product owning a variant, read inside any transaction.
pub fn product_id_of_variant(
    r: &impl Reader,
    id: VariantId,
) -> Result<Option<ProductId>, StorageError> {
    r.get(&VARIANTS, &id)
}

/// The product owning a variant, whole, read inside any transaction (carts, checkout).
pub fn product_of_variant_in(
    r: &impl Reader,
    id: VariantId,
) -> Result<Option<Product>, StorageError> {
    match r.get(&VARIANTS, &id)? {
        Some(pid) => r.get(&PRODUCTS, &pid),
        None => Ok(None),
    }
}

/// The product's categories and all their ancestors, so a promotion scoped to a category also
/// covers the categories below it. The walk up stops at 32 levels (the tree has no cycles; the
/// bound only keeps a damaged record from looping).
pub fn categories_with_ancestors(
    r: &impl Reader,
    p: &Product,
) -> Result<Vec<CategoryId>, StorageError> {
    let mut out: Vec<CategoryId> = Vec::new();
    for &start in &p.category_ids {
        let mut next = Some(start);
        for _ in 0..32 {
            let Some(id) = next.filter(|id| !out.contains(id)) else {
                break;
            };
            out.push(id);
            next = r.get(&CATEGORIES, &id)?.and_then(|c| c.parent_id);
        }
    }
    Ok(out)
}

/// Which of the collections `among` hold `product` (promotion scopes name a few collections;
/// each is read once per lookup).
pub fn collections_holding(
    r: &impl Reader,
    among: &[CollectionId],
    product: ProductId,
) -> Result<Vec<CollectionId>, StorageError> {
    let mut out = Vec::new();
    for id in among {
        if r.get(&COLLECTIONS, id)?
            .is_some_and(|c| c.product_ids.contains(&product))
        {
            out.push(*id);
        }
    }
    Ok(out)
}

/// Every product of one snapshot, in id order, `batch` at a time (export, reindexing).
fn products_in<R: std::borrow::Borrow<ReadTx>>(
    r: R,
    batch: usize,
) -> impl Iterator<Item = Result<Product, CatalogError>> {
    let mut after: Option<ProductId> = None;
    let mut buf: std::collections::VecDeque<Product> = std::collections::VecDeque::new();
    let mut done = false;
    std::iter::from_fn(move || {
        if buf.is_empty() && !done {
            let lo = after.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
            match r
                .borrow()
                .range(&PRODUCTS, lo, Bound::Unbounded, Order::Asc, batch.max(1))
            {
                Ok(rows) => {
                    done = rows.len() < batch.max(1);
                    after = rows.last().map(|(id, _)| *id);
                    buf.extend(rows.into_iter().map(|(_, p)| p));
                }
                Err(e) => {
                    done = true;
                    return Some(Err(e.into()));
                }
            }
        }
        buf.pop_front().map(Ok)
    })
}

/// Records the change in the feed every node's index follows, and queues the once-per-cluster
/// follow-up work, in the same transaction as the change.
fn changed(tx: &mut WriteTx<'_>, id: ProductId) -> Result<(), StorageError> {
    let seq = changes::record(tx, changes::Change::Product(id))?;
    jobs::enqueue(
        tx,
        NewJob::new(
            PRODUCT_CHANGED_JOB,
            &ProductChanged {
                product_id: id,
                seq: Some(seq),
            },
        )?,
    )?;
    Ok(())
}

pub use import::{ImportReport, ImportResult, ImportedProduct, ImportedStock};
pub use input::{FieldIssue, OptionInput, ProductInput, ValidProduct, VariantInput, validate};
pub use model::{Category, Collection, Image, Product, ProductOption, Seo, Status, Variant};
pub use sku::SkuHolder;
pub use view::{CategoryView, CollectionView, ProductView, VariantView};

use model::{
    ACTIVE, CATEGORIES, CATEGORY_MEMBERS, CATEGORY_PRODUCTS, CATEGORY_SLUGS, COLLECTION_SLUGS,
    COLLECTIONS, PRODUCT_SLUGS, PRODUCTS, SKUS, SKUS_V1, VARIANTS,
};

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Invalid fields.
    #[error("invalid input")]
    Invalid(Vec<FieldIssue>),
    /// No such object (or not visible).
    #[error("not found")]
    NotFound,
    /// The slug belongs to another object.
    #[error("slug `{0}` is taken")]
    SlugTaken(String),
    /// `If-Match` named an older version.
    #[error("the object changed since version {expected}; current version is {current}")]
    VersionMismatch {
        /// Version the client had.
        expected: u64,
        /// Current version.
        current: u64,
    },
    /// The change conflicts with other objects (e.g. deleting a category with children).
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A fault of ours (the import parser's thread stopped); logged, never shown.
    #[error("internal: {0}")]
    Internal(String),
}

impl ErrorCode for CatalogError {
    fn code(&self) -> Code {
        match self {
            CatalogError::Invalid(_) => codes::VALIDATION_FAILED,
            CatalogError::NotFound => codes::NOT_FOUND,
            CatalogError::SlugTaken(_) => codes::SLUG_TAKEN,
            CatalogError::VersionMismatch { .. } => codes::PRECONDITION_FAILED,
            CatalogError::Conflict(_) => codes::CONFLICT,
            CatalogError::Storage(s) => s.code(),
            CatalogError::Internal(_) => codes::INTERNAL_ERROR,
        }
    }
    fn message(&self) -> String {
        match self {
            CatalogError::Invalid(issues) => codes::joined(issues),
            CatalogError::NotFound => "no such product or category".into(),
            CatalogError::SlugTaken(s) => format!("slug `{s}` is already used"),
            CatalogError::VersionMismatch { expected, current } => format!(
                "If-Match names version {expected} but the object is at version {current}; reload and retry"
            ),
            CatalogError::Conflict(m) => m.clone(),
            CatalogError::Storage(s) => s.message(),
            CatalogError::Internal(_) => "an internal error stopped the import".into(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            CatalogError::Invalid(issues) => issues.clone(),
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            CatalogError::Storage(s) => s.retry_after(),
            _ => None,
        }
    }
}

impl From<page::BadCursor> for CatalogError {
    fn from(e: page::BadCursor) -> Self {
        issue("cursor", "invalid", &e.to_string())
    }
}

fn issue(field: &str, code: &'static str, message: &str) -> CatalogError {
    CatalogError::Invalid(vec![FieldIssue {
        field: field.to_owned(),
        code,
        message: message.to_owned(),
    }])
}

/// Public list filters.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Only products in this category.
    pub category: Option<CategoryId>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
}

/// Catalog operations over the store.
#[derive(Clone, Debug)]
pub struct Catalog {
    store: Store,
}

fn check_version(expected: Option<u64>, current: u64) -> Result<(), CatalogError> {
    match expected {
        Some(e) if e != current => Err(CatalogError::VersionMismatch {
            expected: e,
            current,
        }),
        _ => Ok(()),
    }
}

/// Removes a product's index entries (slug, SKUs, variants, listing indexes).
fn unindex(tx: &mut WriteTx<'_>, p: &Product) -> Result<(), StorageError> {
    tx.remove(&PRODUCT_SLUGS, &p.slug)?;
    for v in &p.variants {
        if let Some(sku) = &v.sku {
            tx.remove(&SKUS, &(sku.to_uppercase(), v.id))?;
        }
        tx.remove(&VARIANTS, &v.id)?;
    }
    tx.remove(&ACTIVE, &p.id)?;
    for c in &p.category_ids {
        tx.remove(&CATEGORY_PRODUCTS, &(*c, p.id))?;
        tx.remove(&CATEGORY_MEMBERS, &(*c, p.id))?;
    }
    Ok(())
}

/// Writes a product and its index entries.
fn index(tx: &mut WriteTx<'_>, p: &Product) -> Result<(), StorageError> {
    tx.insert(&PRODUCT_SLUGS, &p.slug, &p.id)?;
    for v in &p.variants {
        if let Some(sku) = &v.sku {
            tx.insert(&SKUS, &(sku.to_uppercase(), v.id), &())?;
        }
        tx.insert(&VARIANTS, &v.id, &p.id)?;
    }
    for c in &p.category_ids {
        tx.insert(&CATEGORY_MEMBERS, &(*c, p.id), &())?;
    }
    if p.status == Status::Active {
        tx.insert(&ACTIVE, &p.id, &())?;
        for c in &p.category_ids {
            tx.insert(&CATEGORY_PRODUCTS, &(*c, p.id), &())?;
        }
    }
    card::put(tx, p)?;
    tx.insert(&PRODUCTS, &p.id, p)
}

/// Builds the stored product from valid input, checking uniqueness against everything but
/// `existing` (the product being replaced).
fn assemble(
    tx: &mut WriteTx<'_>,
    v: ValidProduct,
    existing: Option<&Product>,
) -> Result<Product, CatalogError> {
    let now = tx.now();
    let id = existing
        .map(|p| p.id)
        .unwrap_or_else(|| ProductId::new(now));
    // Slug: explicit clashes are errors; derived ones get a numeric suffix.
    let mut slug = v.slug.clone();
    let mut n = 1;
    loop {
        match tx.get(&PRODUCT_SLUGS, &slug)? {
            Some(owner) if owner != id => {
                if v.slug_explicit {
                    return Err(CatalogError::SlugTaken(slug));
                }
                n += 1;
                slug = format!("{}-{n}", v.slug);
            }
            _ => break,
        }
    }
    for c in &v.category_ids {
        if !tx.contains(&CATEGORIES, c)? {
            return Err(issue(
                "category_ids",
                "unknown_category",
                &format!("no category {c}"),
            ));
        }
    }
    let keep: HashMap<VariantId, &Variant> = existing
        .map(|p| p.variants.iter().map(|x| (x.id, x)).collect())
        .unwrap_or_default();
    let mut variants = Vec::with_capacity(v.variants.len());
    for (i, x) in v.variants.into_iter().enumerate() {
        let old = match x.id {
            Some(vid) => Some(*keep.get(&vid).ok_or_else(|| {
                issue(
                    &format!("variants[{i}].id"),
                    "unknown_variant",
                    "not a variant of this product",
                )
            })?),
            None => None,
        };
        variants.push(Variant {
            id: old.map(|o| o.id).unwrap_or_else(|| VariantId::new(now)),
            sku: x.sku,
            option_values: x.option_values,
            price: x.price,
            compare_at_price: x.compare_at_price,
            weight: x.weight,
            barcode: x.barcode,
            track_inventory: x.track_inventory,
            requires_shipping: x.requires_shipping,
            taxable: x.taxable,
            tax_category: x
                .tax_category
                .or_else(|| old.and_then(|o| o.tax_category.clone())),
            cost: x.cost,
            image_url: x.image_url,
            extra: x
                .extra
                .or_else(|| old.map(|o| o.extra.clone()))
                .unwrap_or_default(),
        });
    }
    Ok(Product {
        id,
        title: v.title,
        slug,
        description: v.description,
        status: v.status,
        vendor: v.vendor,
        product_type: v.product_type,
        tags: v.tags,
        images: v.images,
        seo: v.seo,
        attributes: v.attributes,
        options: v.options,
        variants,
        category_ids: v.category_ids,
        gift_card: v.gift_card,
        product_category: v.product_category,
        tax_category: v
            .tax_category
            .or_else(|| existing.and_then(|p| p.tax_category.clone())),
        extra: v
            .extra
            .or_else(|| existing.map(|p| p.extra.clone()))
            .unwrap_or_default(),
        created_at: existing.map(|p| p.created_at).unwrap_or(now),
        updated_at: now,
        version: existing.map(|p| p.version + 1).unwrap_or(1),
    })
}

impl Catalog {
    /// Service over `store`.
    pub fn new(store: Store) -> Self {
        Catalog { store }
    }

    /// The change feed as of one snapshot: up to `limit` entries after `after`, the oldest entry
    /// still kept, and the last sequence number given.
    pub fn feed(&self, after: u64, limit: usize) -> Result<Feed, CatalogError> {
        let r = self.store.read()?;
        Ok(Feed {
            entries: changes::after(&r, after, limit)?,
            oldest: changes::oldest(&r)?,
            head: changes::head(&r)?,
        })
    }

    /// The last change-feed sequence number given (0: none yet).
    pub fn feed_head(&self) -> Result<u64, CatalogError> {
        Ok(changes::head(&self.store.read()?)?)
    }

    /// Changes whenever a commit appends to the change feed (on any node, on PostgreSQL).
    pub fn watch_feed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store.watch(changes::FEED_TABLE)
    }

    /// Removes feed entries older than the last [`changes::KEEP`], a batch per write; returns
    /// how many (bounded: at most 100 batches per call).
    pub async fn prune_feed(&self) -> Result<usize, CatalogError> {
        let mut total = 0;
        for _ in 0..100 {
            let n = self.store.write(changes::prune).await?;
            total += n;
            if n == 0 {
                break;
            }
        }
        Ok(total)
    }

    /// Creates a product.
    pub async fn create_product(&self, input: ProductInput) -> Result<Product, CatalogError> {
        let valid = validate(&input).map_err(CatalogError::Invalid)?;
        self.store
            .write(move |tx| {
                let p = assemble(tx, valid, None)?;
                index(tx, &p)?;
                changed(tx, p.id)?;
                Ok(p)
            })
            .await
    }

    /// Replaces a product, optionally only if it is still at `if_match`.
    pub async fn update_product(
        &self,
        id: ProductId,
        input: ProductInput,
        if_match: Option<u64>,
    ) -> Result<Product, CatalogError> {
        let valid = validate(&input).map_err(CatalogError::Invalid)?;
        self.store
            .write(move |tx| {
                let old = tx.get(&PRODUCTS, &id)?.ok_or(CatalogError::NotFound)?;
                check_version(if_match, old.version)?;
                unindex(tx, &old)?;
                let p = assemble(tx, valid, Some(&old))?;
                index(tx, &p)?;
                changed(tx, p.id)?;
                Ok(p)
            })
            .await
    }

    /// Sets variant prices of several products in one transaction, all or nothing: each
    /// product must still be at the version the editor saw (the admin's bulk grid). At most
    /// [`crate::core::MAX_PER_PAGE`] products.
    pub async fn set_prices(&self, edits: Vec<PriceEdit>) -> Result<usize, CatalogError> {
        if edits.len() > crate::core::MAX_PER_PAGE {
            return Err(issue("edits", "too_many", "at most 100 products at once"));
        }
        self.store
            .write(move |tx| {
                for e in &edits {
                    let old = tx
                        .get(&PRODUCTS, &e.product)?
                        .ok_or(CatalogError::NotFound)?;
                    check_version(Some(e.version), old.version)?;
                    let mut input = ProductInput::of(&old);
                    for v in &mut input.variants {
                        if let Some((_, price)) = e
                            .prices
                            .iter()
                            .find(|(id, _)| v.id.as_deref() == Some(id.to_string().as_str()))
                        {
                            v.price = *price;
                        }
                    }
                    let valid = validate(&input).map_err(CatalogError::Invalid)?;
                    unindex(tx, &old)?;
                    let p = assemble(tx, valid, Some(&old))?;
                    index(tx, &p)?;
                    changed(tx, p.id)?;
                }
                Ok(edits.len())
            })
            .await
    }

    /// Deletes a product, optionally only if it is still at `if_match`.
    pub async fn delete_product(
        &self,
        id: ProductId,
        if_match: Option<u64>,
    ) -> Result<(), CatalogError> {
        self.store
            .write(move |tx| {
                let old = tx.get(&PRODUCTS, &id)?.ok_or(CatalogError::NotFound)?;
                check_version(if_match, old.version)?;
                unindex(tx, &old)?;
                tx.remove(&PRODUCTS, &id)?;
                card::remove(tx, id)?;
                changed(tx, id)?;
                Ok(())
            })
            .await
    }

    /// Sets the status of many products at once (all or nothing).
    pub async fn bulk_status(
        &self,
        ids: Vec<ProductId>,
        status: Status,
    ) -> Result<usize, CatalogError> {
        if ids.is_empty() || ids.len() > 500 {
            return Err(issue("ids", "invalid", "send 1 to 500 product ids"));
        }
        self.store
            .write(move |tx| {
                let mut n = 0;
                for id in ids {
                    let mut p = tx.get(&PRODUCTS, &id)?.ok_or(CatalogError::NotFound)?;
                    if p.status != status {
                        unindex(tx, &p)?;
                        p.status = status;
                        p.version += 1;
                        p.updated_at = tx.now();
                        index(tx, &p)?;
                        changed(tx, p.id)?;
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await
    }

    /// A product by id (`prod_…`) or slug; `public` hides everything but active products.
    pub fn get_product(&self, id_or_slug: &str, public: bool) -> Result<Product, CatalogError> {
        let r = self.store.read()?;
        let id = match ProductId::parse(id_or_slug) {
            Ok(id) => Some(id),
            Err(_) => r.get(&PRODUCT_SLUGS, &id_or_slug.to_owned())?,
        };
        let p = match id {
            Some(id) => r.get(&PRODUCTS, &id)?,
            None => None,
        };
        p.filter(|p| !public || p.status.sellable())
            .ok_or(CatalogError::NotFound)
    }

    /// The product with `id` as `r` sees it (any status), for callers that read several
    /// things in one snapshot.
    pub fn product_in(r: &impl Reader, id: ProductId) -> Result<Option<Product>, StorageError> {
        r.get(&PRODUCTS, &id)
    }

    /// Inserts many validated products, `batch` per transaction, each product whole or not at
    /// all. Without `notify`, no change jobs are queued (the caller reindexes once afterwards).
    /// Returns per-input results in input order.
    pub async fn insert_many(
        &self,
        inputs: Vec<ProductInput>,
        batch: usize,
        notify: bool,
    ) -> Result<Vec<Result<ProductId, CatalogError>>, CatalogError> {
        let mut results = Vec::with_capacity(inputs.len());
        let mut it = inputs.into_iter().peekable();
        while it.peek().is_some() {
            let chunk: Vec<ProductInput> = it.by_ref().take(batch.max(1)).collect();
            let valid: Vec<Result<ValidProduct, CatalogError>> = chunk
                .iter()
                .map(|i| validate(i).map_err(CatalogError::Invalid))
                .collect();
            let out = self
                .store
                .write(move |tx| {
                    let mut out = Vec::with_capacity(valid.len());
                    for v in valid {
                        out.push(match v {
                            Err(e) => Err(e),
                            Ok(v) => match assemble(tx, v, None) {
                                Ok(p) => {
                                    index(tx, &p)?;
                                    if notify {
                                        changed(tx, p.id)?;
                                    }
                                    Ok(p.id)
                                }
                                Err(CatalogError::Storage(s)) => return Err(s),
                                Err(e) => Err(e),
                            },
                        });
                    }
                    Ok::<_, StorageError>(out)
                })
                .await?;
            results.extend(out);
        }
        Ok(results)
    }

    /// Creates the demo category tree (if the catalog has no categories) and `count` demo
    /// products. Returns how many products were created.
    pub async fn seed_demo(
        &self,
        count: usize,
        seed: u64,
        notify: bool,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, CatalogError> {
        let mut child_ids = Vec::new();
        let existing = self.categories()?;
        for (root, children) in demo::TREE {
            let root_id = match existing
                .iter()
                .find(|c| c.name == *root && c.parent_id.is_none())
            {
                Some(c) => c.id,
                None => self.create_category(root, None, None, 0).await?.id,
            };
            for (i, (child, _, _)) in children.iter().enumerate() {
                let id = match existing
                    .iter()
                    .find(|c| c.name == *child && c.parent_id == Some(root_id))
                {
                    Some(c) => c.id,
                    None => {
                        self.create_category(
                            child,
                            None,
                            Some(root_id),
                            u32::try_from(i).unwrap_or(0),
                        )
                        .await?
                        .id
                    }
                };
                child_ids.push(id.to_string());
            }
        }
        let mut created = 0u64;
        let mut start = 0;
        while start < count {
            let end = (start + 2000).min(count);
            let inputs = (start..end)
                .map(|n| {
                    demo::product(seed, n, &child_ids).map_err(|m| issue("demo", "invalid", &m))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for r in self.insert_many(inputs, 500, notify).await? {
                if r.is_ok() {
                    created += 1;
                }
            }
            start = end;
            progress(created);
        }
        if created > 0 && self.collections()?.is_empty() {
            self.seed_demo_collections().await?;
        }
        Ok(created)
    }

    /// The demo shop's collections: "Featured" (the home page shows it) and "Gifts under $30".
    async fn seed_demo_collections(&self) -> Result<(), CatalogError> {
        let some = self
            .list_products(true, &ListFilter::default(), 200, None)?
            .data;
        // Spread over the catalog, so the home page's featured row differs from its newest row.
        let featured: Vec<ProductId> = some
            .iter()
            .skip(8)
            .step_by(13)
            .take(12)
            .map(|p| p.id)
            .collect();
        let gifts: Vec<ProductId> = some
            .iter()
            .filter(|p| p.variants.iter().any(|v| v.price.amount < 3000))
            .take(36)
            .map(|p| p.id)
            .collect();
        self.save_collection(
            None,
            "Featured",
            Some("featured"),
            "<p>Hand-picked favourites.</p>",
            featured,
            None,
        )
        .await?;
        self.save_collection(
            None,
            "Gifts under $30",
            Some("gifts-under-30"),
            "<p>Small things that make a day.</p>",
            gifts,
            None,
        )
        .await?;
        Ok(())
    }

    /// Writes every product as Shopify CSV; `stock` gives a variant's stock facts, read from
    /// the same snapshot. Two passes over one snapshot: the first collects the kept columns'
    /// names for the header, and a product changed meanwhile cannot break the file's shape.
    pub fn export_csv(
        &self,
        stock: &mut dyn FnMut(&ReadTx, &Variant) -> shopify_csv::StockOut,
        out: impl std::io::Write,
    ) -> Result<u64, CatalogError> {
        let r = self.store.read()?;
        let mut extra = shopify_csv::ExtraColumns::default();
        for p in products_in(&r, 1000) {
            extra.add(&p?);
        }
        let mut failed = None;
        let products = products_in(&r, 1000).map_while(|p| match p {
            Ok(p) => Some(p),
            Err(e) => {
                failed = Some(e);
                None
            }
        });
        let mut stock_of = |v: &Variant| stock(&r, v);
        let n = shopify_csv::write(&extra, products, &mut stock_of, out)
            .map_err(|m| issue("csv", "write_failed", &m))?;
        match failed {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    /// Every product of one snapshot, in id order, `batch` at a time (reindexing).
    pub fn all_products(
        &self,
        batch: usize,
    ) -> Box<dyn Iterator<Item = Result<Product, CatalogError>> + Send + '_> {
        match self.store.read() {
            Ok(r) => Box::new(products_in(r, batch)),
            Err(e) => Box::new(std::iter::once(Err(e.into()))),
        }
    }

    /// The product owning a variant.
    pub fn product_of_variant(&self, id: VariantId) -> Result<Product, CatalogError> {
        let r = self.store.read()?;
        let pid = r.get(&VARIANTS, &id)?.ok_or(CatalogError::NotFound)?;
        r.get(&PRODUCTS, &pid)?.ok_or(CatalogError::NotFound)
    }

    /// Lists products, newest first by default, with cursor pagination. `public` lists active
    /// products only (and is the only mode that can filter by category).
    pub fn list_products(
        &self,
        public: bool,
        filter: &ListFilter,
        per_page: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Product>, CatalogError> {
        let after: Option<ProductId> = page::after(cursor)?;
        let order = if filter.oldest_first {
            Order::Asc
        } else {
            Order::Desc
        };
        let r = self.store.read()?;
        let ids: Vec<ProductId> = match (&filter.category, public) {
            (Some(c), _) => {
                let after_key = after.map(|a| (*c, a));
                r.prefix(
                    &CATEGORY_PRODUCTS,
                    c,
                    after_key.as_ref(),
                    order,
                    per_page + 1,
                )?
                .into_iter()
                .map(|((_, p), ())| p)
                .collect()
            }
            (None, true) => scan_ids(&r, &ACTIVE, after, order, per_page + 1)?,
            (None, false) => {
                let (lo, hi) = bounds(after.as_ref(), order);
                r.range(&PRODUCTS, lo, hi, order, per_page + 1)?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect()
            }
        };
        let page = Page::from_overfetch(ids, per_page, Cursor::to_cursor);
        let mut data = Vec::with_capacity(page.data.len());
        for id in &page.data {
            if let Some(p) = r.get(&PRODUCTS, id)? {
                data.push(p);
            }
        }
        Ok(Page {
            data,
            next_cursor: page.next_cursor,
            has_more: page.has_more,
        })
    }

    /// `p`'s categories with all their ancestors (search indexes a product under each, so a
    /// category page lists what its subcategories hold).
    pub fn categories_with_ancestors(&self, p: &Product) -> Result<Vec<CategoryId>, CatalogError> {
        Ok(categories_with_ancestors(&self.store.read()?, p)?)
    }

    /// The sellable products among `ids`, in their order, read in one transaction (listing
    /// pages show a page of search hits as cards). At most [`crate::core::MAX_PER_PAGE`].
    pub fn sellable_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, CatalogError> {
        let r = self.store.read()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids.iter().take(crate::core::MAX_PER_PAGE) {
            if let Some(p) = r.get(&PRODUCTS, id)?.filter(|p| p.status.sellable()) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Active products in id order after `after`, at most `limit` (a sitemap file each).
    pub fn active_after(
        &self,
        after: Option<ProductId>,
        limit: usize,
    ) -> Result<Vec<Product>, CatalogError> {
        let r = self.store.read()?;
        let ids = scan_ids(&r, &ACTIVE, after, Order::Asc, limit)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(p) = r.get(&PRODUCTS, id)? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Where each run of `per` active products starts (`None` for the first), at most
    /// `max_runs` runs: the sitemap index's files. Reads ids only.
    pub fn active_runs(
        &self,
        per: usize,
        max_runs: usize,
    ) -> Result<Vec<Option<ProductId>>, CatalogError> {
        let r = self.store.read()?;
        let mut runs = vec![None];
        let mut after = None;
        while runs.len() < max_runs {
            let ids = scan_ids(&r, &ACTIVE, after, Order::Asc, per + 1)?;
            if ids.len() <= per {
                break;
            }
            after = ids.get(per - 1).copied();
            runs.push(after);
        }
        Ok(runs)
    }
}

/// New prices for some variants of one product, at the version the editor saw.
#[derive(Clone, Debug)]
pub struct PriceEdit {
    /// The product.
    pub product: ProductId,
    /// Its version when the edit was prepared.
    pub version: u64,
    /// (variant, new price).
    pub prices: Vec<(VariantId, Money)>,
}

/// Most categories a shop may have: every list of them is whole, never silently cut.
pub const MAX_CATEGORIES: usize = 5_000;
/// Most collections a shop may have (Shopify's limit too).
pub const MAX_COLLECTIONS: usize = 5_000;

/// Refuses a new row of `what` when `table` already holds `max` (a bounded key count).
fn full<K: crate::storage::Key, V: crate::storage::Value>(
    tx: &WriteTx<'_>,
    table: &crate::storage::Table<K, V>,
    max: usize,
    what: &str,
) -> Result<(), CatalogError> {
    if tx.prefix(table, &(), None, Order::Asc, max)?.len() >= max {
        return Err(CatalogError::Conflict(format!(
            "a shop can have at most {max} {what}; delete one first"
        )));
    }
    Ok(())
}

/// The catalog's own schema steps.
pub const MIGRATIONS: &[crate::storage::Migration] = &[
    crate::storage::Migration {
        to: 6,
        description: "index products of every status by category",
        run: migrate_category_members,
    },
    crate::storage::Migration {
        to: 8,
        description: "index SKUs as shared (several variants may hold one)",
        run: migrate_shared_skus,
    },
    crate::storage::Migration {
        to: 13,
        description: "a card (title, status, lowest price, tracked variants) for every product",
        run: card::migrate_cards,
    },
];

/// Migration to schema 8: moves the unique SKU index to the shared one.
pub fn migrate_shared_skus(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    tx.for_each_batch(&SKUS_V1, 1000, |tx, rows| {
        for (sku, variant) in rows {
            tx.remove(&SKUS_V1, &sku)?;
            tx.insert(&SKUS, &(sku, variant), &())?;
        }
        Ok(())
    })
}

/// Migration to schema 6: lists every product under its categories in the member index.
pub fn migrate_category_members(tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    tx.for_each_batch(&PRODUCTS, 1000, |tx, rows| {
        for (id, p) in rows {
            for c in &p.category_ids {
                tx.insert(&CATEGORY_MEMBERS, &(*c, id), &())?;
            }
        }
        Ok(())
    })
}

fn bounds(after: Option<&ProductId>, order: Order) -> (Bound<&ProductId>, Bound<&ProductId>) {
    match (after, order) {
        (None, _) => (Bound::Unbounded, Bound::Unbounded),
        (Some(a), Order::Asc) => (Bound::Excluded(a), Bound::Unbounded),
        (Some(a), Order::Desc) => (Bound::Unbounded, Bound::Excluded(a)),
    }
}

fn scan_ids(
    r: &impl Reader,
    t: &crate::storage::Table<ProductId, ()>,
    after: Option<ProductId>,
    order: Order,
    limit: usize,
) -> Result<Vec<ProductId>, StorageError> {
    let (lo, hi) = bounds(after.as_ref(), order);
    Ok(r.range(t, lo, hi, order, limit)?
        .into_iter()
        .map(|(id, ())| id)
        .collect())
}

fn describe(e: &CatalogError) -> String {
    match e {
        CatalogError::Invalid(issues) => issues
            .iter()
            .map(|i| format!("{}: {}", i.field, i.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
