//! Categories and collections: the category tree (slugs unique, parents checked, members
//! indexed) and manual collections with their products in order.

use std::collections::HashSet;
use std::ops::Bound;

use super::*;

impl Catalog {
    /// Creates a category under `parent_id`.
    pub async fn create_category(
        &self,
        name: &str,
        slug: Option<&str>,
        parent_id: Option<CategoryId>,
        position: u32,
    ) -> Result<Category, CatalogError> {
        let (name, slug) = category_fields(name, slug)?;
        self.store
            .write(move |tx| {
                full(tx, &CATEGORIES, MAX_CATEGORIES, "categories")?;
                if let Some(p) = parent_id
                    && !tx.contains(&CATEGORIES, &p)?
                {
                    return Err(issue(
                        "parent_id",
                        "unknown_category",
                        "no such parent category",
                    ));
                }
                if tx.contains(&CATEGORY_SLUGS, &slug)? {
                    return Err(CatalogError::SlugTaken(slug));
                }
                let c = Category {
                    id: CategoryId::new(tx.now()),
                    name,
                    slug,
                    parent_id,
                    position,
                    version: 1,
                };
                tx.insert(&CATEGORY_SLUGS, &c.slug, &c.id)?;
                tx.insert(&CATEGORIES, &c.id, &c)?;
                Ok(c)
            })
            .await
    }

    /// Renames or moves a category (cycles are refused).
    pub async fn update_category(
        &self,
        id: CategoryId,
        name: &str,
        slug: Option<&str>,
        parent_id: Option<CategoryId>,
        position: u32,
        if_match: Option<u64>,
    ) -> Result<Category, CatalogError> {
        let (name, slug) = category_fields(name, slug)?;
        self.store
            .write(move |tx| {
                let mut c = tx.get(&CATEGORIES, &id)?.ok_or(CatalogError::NotFound)?;
                check_version(if_match, c.version)?;
                // Walk up from the new parent: reaching `id` would make a cycle.
                let mut cur = parent_id;
                let mut hops = 0;
                while let Some(p) = cur {
                    if p == id || hops > 1000 {
                        return Err(issue(
                            "parent_id",
                            "cycle",
                            "a category cannot be inside itself",
                        ));
                    }
                    cur = tx
                        .get(&CATEGORIES, &p)?
                        .ok_or_else(|| {
                            issue("parent_id", "unknown_category", "no such parent category")
                        })?
                        .parent_id;
                    hops += 1;
                }
                if slug != c.slug {
                    if tx.contains(&CATEGORY_SLUGS, &slug)? {
                        return Err(CatalogError::SlugTaken(slug));
                    }
                    tx.remove(&CATEGORY_SLUGS, &c.slug)?;
                    tx.insert(&CATEGORY_SLUGS, &slug, &id)?;
                }
                if c.parent_id != parent_id {
                    super::changes::record(tx, super::changes::Change::CategoryMoved(id))?;
                }
                c.name = name;
                c.slug = slug;
                c.parent_id = parent_id;
                c.position = position;
                c.version += 1;
                tx.insert(&CATEGORIES, &id, &c)?;
                Ok(c)
            })
            .await
    }

    /// Deletes a leaf category that no product uses.
    pub async fn delete_category(&self, id: CategoryId) -> Result<(), CatalogError> {
        self.store
            .write(move |tx| {
                let c = tx.get(&CATEGORIES, &id)?.ok_or(CatalogError::NotFound)?;
                // Bounded: a shop has at most MAX_CATEGORIES.
                let all = tx.range(
                    &CATEGORIES,
                    Bound::Unbounded,
                    Bound::Unbounded,
                    Order::Asc,
                    MAX_CATEGORIES,
                )?;
                if all.iter().any(|(_, x)| x.parent_id == Some(id)) {
                    return Err(CatalogError::Conflict(
                        "the category has subcategories; move or delete them first".into(),
                    ));
                }
                if !tx
                    .prefix(&CATEGORY_MEMBERS, &id, None, Order::Asc, 1)?
                    .is_empty()
                {
                    return Err(CatalogError::Conflict(
                        "products are in this category; remove them first".into(),
                    ));
                }
                tx.remove(&CATEGORY_SLUGS, &c.slug)?;
                tx.remove(&CATEGORIES, &id)?;
                Ok(())
            })
            .await
    }

    /// Creates or replaces (`id`) a collection; every listed product must exist.
    pub async fn save_collection(
        &self,
        id: Option<CollectionId>,
        title: &str,
        slug: Option<&str>,
        description: &str,
        product_ids: Vec<ProductId>,
        if_match: Option<u64>,
    ) -> Result<Collection, CatalogError> {
        let (title, slug) = category_fields(title, slug).map_err(|e| match e {
            CatalogError::Invalid(mut v) => {
                for i in &mut v {
                    if i.field == "name" {
                        i.field = "title".into();
                    }
                }
                CatalogError::Invalid(v)
            }
            other => other,
        })?;
        if description.len() > 100_000 {
            return Err(issue(
                "description",
                "too_long",
                "must be at most 100000 bytes",
            ));
        }
        if product_ids.len() > 1000 {
            return Err(issue("product_ids", "too_many", "at most 1000 products"));
        }
        let mut seen = HashSet::new();
        let product_ids: Vec<ProductId> = product_ids
            .into_iter()
            .filter(|p| seen.insert(*p))
            .collect();
        let description = description.to_owned();
        self.store
            .write(move |tx| {
                for (i, p) in product_ids.iter().enumerate() {
                    if !tx.contains(&PRODUCTS, p)? {
                        return Err(issue(
                            &format!("product_ids[{i}]"),
                            "unknown_product",
                            "no such product",
                        ));
                    }
                }
                let (cid, version, old_slug) = match id {
                    Some(cid) => {
                        let old = tx.get(&COLLECTIONS, &cid)?.ok_or(CatalogError::NotFound)?;
                        check_version(if_match, old.version)?;
                        (cid, old.version + 1, Some(old.slug))
                    }
                    None => {
                        full(tx, &COLLECTIONS, MAX_COLLECTIONS, "collections")?;
                        (CollectionId::new(tx.now()), 1, None)
                    }
                };
                if old_slug.as_deref() != Some(slug.as_str()) {
                    if tx.contains(&COLLECTION_SLUGS, &slug)? {
                        return Err(CatalogError::SlugTaken(slug));
                    }
                    if let Some(o) = &old_slug {
                        tx.remove(&COLLECTION_SLUGS, o)?;
                    }
                    tx.insert(&COLLECTION_SLUGS, &slug, &cid)?;
                }
                let c = Collection {
                    id: cid,
                    title,
                    slug,
                    description,
                    product_ids,
                    version,
                };
                tx.insert(&COLLECTIONS, &cid, &c)?;
                Ok(c)
            })
            .await
    }

    /// Deletes a collection (its products stay).
    pub async fn delete_collection(&self, id: CollectionId) -> Result<(), CatalogError> {
        self.store
            .write(move |tx| {
                let c = tx.get(&COLLECTIONS, &id)?.ok_or(CatalogError::NotFound)?;
                tx.remove(&COLLECTION_SLUGS, &c.slug)?;
                tx.remove(&COLLECTIONS, &id)?;
                Ok(())
            })
            .await
    }

    /// A collection by id or slug with its products in order (`public`: active ones only).
    pub fn get_collection(
        &self,
        id_or_slug: &str,
        public: bool,
    ) -> Result<(Collection, Vec<Product>), CatalogError> {
        let r = self.store.read()?;
        let id = match CollectionId::parse(id_or_slug) {
            Ok(id) => Some(id),
            Err(_) => r.get(&COLLECTION_SLUGS, &id_or_slug.to_owned())?,
        };
        let c = match id {
            Some(id) => r.get(&COLLECTIONS, &id)?,
            None => None,
        }
        .ok_or(CatalogError::NotFound)?;
        let mut products = Vec::new();
        for pid in &c.product_ids {
            if let Some(p) = r
                .get(&PRODUCTS, pid)?
                .filter(|p| !public || p.status == Status::Active)
            {
                products.push(p);
            }
        }
        Ok((c, products))
    }

    /// A category by id or slug.
    pub fn get_category(&self, id_or_slug: &str) -> Result<Category, CatalogError> {
        let r = self.store.read()?;
        let id = match CategoryId::parse(id_or_slug) {
            Ok(id) => Some(id),
            Err(_) => r.get(&CATEGORY_SLUGS, &id_or_slug.to_owned())?,
        };
        match id {
            Some(id) => r.get(&CATEGORIES, &id)?,
            None => None,
        }
        .ok_or(CatalogError::NotFound)
    }

    /// Every collection.
    pub fn collections(&self) -> Result<Vec<Collection>, CatalogError> {
        let r = self.store.read()?;
        Ok(r.range(
            &COLLECTIONS,
            Bound::Unbounded,
            Bound::Unbounded,
            Order::Asc,
            MAX_COLLECTIONS,
        )?
        .into_iter()
        .map(|(_, c)| c)
        .collect())
    }

    /// Every category, ordered by parent then position (clients build the tree).
    pub fn categories(&self) -> Result<Vec<Category>, CatalogError> {
        let r = self.store.read()?;
        let mut all: Vec<Category> = r
            .range(
                &CATEGORIES,
                Bound::Unbounded,
                Bound::Unbounded,
                Order::Asc,
                MAX_CATEGORIES,
            )?
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        all.sort_by(|a, b| {
            (a.parent_id, a.position, &a.name).cmp(&(b.parent_id, b.position, &b.name))
        });
        Ok(all)
    }
}

fn category_fields(name: &str, slug: Option<&str>) -> Result<(String, String), CatalogError> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(issue("name", "invalid", "must be 1 to 100 characters"));
    }
    let slug = match slug {
        Some(s) if slug::is_slug(s) => s.to_owned(),
        Some(_) => {
            return Err(issue(
                "slug",
                "invalid",
                "use lower-case letters, digits and single hyphens",
            ));
        }
        None => slug::slugify(&name),
    };
    if slug.is_empty() {
        return Err(issue(
            "name",
            "invalid",
            "needs letters or digits to derive a slug; send `slug`",
        ));
    }
    Ok((name, slug))
}
