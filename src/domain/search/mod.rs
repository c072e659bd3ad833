//! Full-text product search on tantivy, derived from the catalog in redb. The index lives in
//! `<data_dir>/search/v<INDEX_VERSION>`; a schema change bumps the version, and a missing or
//! unreadable index is rebuilt from the store at start. Catalog changes reach it through jobs
//! enqueued in the same transaction as the change.

mod counts;
mod facets;
mod follow;
mod listed;
pub mod query;
mod similar;
mod snippets;

use crate::core::errors::{self as codes, Code, ErrorCode, FieldIssue};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::core::{CategoryId, ProductId};
use crate::domain::catalog::{Product, Status};

pub use listed::filter_listed;
pub use query::{Facets, Hit, SearchQuery, SearchResult, Sort};

/// Version of the index schema and settings; bump it when either changes and the index is
/// rebuilt. v2: uncompressed document store, one `body` field for description, vendor and tags.
/// v3: a product is indexed under its categories and their ancestors.
pub const INDEX_VERSION: u32 = 3;

/// Why search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// tantivy failed.
    #[error("search index: {0}")]
    Index(String),
    /// Every search thread is busy and the queue is full.
    #[error("too many searches at once")]
    Busy,
    /// Bad query parameters.
    #[error("{0}")]
    Invalid(FieldIssue),
}

impl ErrorCode for SearchError {
    fn code(&self) -> Code {
        match self {
            SearchError::Index(_) => codes::INTERNAL_ERROR,
            SearchError::Busy => codes::BUSY,
            SearchError::Invalid(_) => codes::VALIDATION_FAILED,
        }
    }
    fn message(&self) -> String {
        match self {
            SearchError::Index(_) => codes::INTERNAL_MESSAGE.into(),
            SearchError::Busy => "too many searches are running; retry in a moment".into(),
            SearchError::Invalid(i) => i.to_string(),
        }
    }
    fn fields(&self) -> Vec<FieldIssue> {
        match self {
            SearchError::Invalid(i) => vec![i.clone()],
            _ => Vec::new(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        matches!(self, SearchError::Busy).then_some(1)
    }
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Index(e.to_string())
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub(crate) id: Field,
    pub(crate) slug: Field,
    pub(crate) title: Field,
    pub(crate) title_joined: Field,
    /// Stored only: snippets are cut from it.
    pub(crate) description: Field,
    /// Description, vendor and tags as one searchable text: one posting list per word to
    /// score instead of three.
    pub(crate) body: Field,
    pub(crate) category: Field,
    pub(crate) tag: Field,
    pub(crate) option: Field,
    pub(crate) price: Field,
    pub(crate) currency: Field,
    pub(crate) created: Field,
    pub(crate) in_stock: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stemmed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let plain = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let f = Fields {
        id: b.add_text_field("id", STRING | STORED),
        slug: b.add_text_field("slug", STORED),
        title: b.add_text_field("title", stemmed.clone() | STORED),
        title_joined: b.add_text_field("title_joined", plain.clone()),
        description: b.add_text_field("description", STORED),
        body: b.add_text_field("body", stemmed),
        category: b.add_facet_field("category", FacetOptions::default()),
        tag: b.add_facet_field("tag", FacetOptions::default()),
        option: b.add_facet_field("option", FacetOptions::default()),
        price: b.add_u64_field("price", FAST | INDEXED | STORED),
        currency: b.add_text_field("currency", STRING | STORED),
        created: b.add_u64_field("created", FAST),
        in_stock: b.add_u64_field("in_stock", FAST | INDEXED),
    };
    (b.build(), f)
}

/// Text of an HTML description without tags, for indexing and snippets.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
}

/// One flat facet segment per option value (`name` US `value`), so a single facet pass counts
/// every value of every option.
pub(crate) fn option_facet(name: &str, value: &str) -> String {
    format!("{}\u{1f}{}", facet_part(name), facet_part(value))
}

/// The tag and option facets a product is filed under: the one definition the index and
/// in-memory lists ([`filter_listed`]) share. Tags are lower-cased; an option value counts once
/// however many variants carry it.
pub(crate) fn facet_keys(p: &Product) -> Vec<facets::FacetKey> {
    let mut out: Vec<facets::FacetKey> = p
        .tags
        .iter()
        .map(|t| facets::FacetKey::Tag(facet_part(&t.to_lowercase())))
        .collect();
    for (i, o) in p.options.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        for v in &p.variants {
            if let Some(val) = v.option_values.get(i)
                && seen.insert(val.as_str())
            {
                out.push(facets::FacetKey::Option(option_facet(&o.name, val)));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Facet path segments may not contain `/`.
pub(crate) fn facet_part(s: &str) -> String {
    s.replace('/', " ")
}

/// The search index.
pub struct SearchIndex {
    pub(crate) index: Index,
    pub(crate) reader: IndexReader,
    writer: Mutex<IndexWriter>,
    pub(crate) f: Fields,
    /// Per-segment facet tables, built as segments appear (the reader's warmer).
    pub(crate) facets: std::sync::Arc<facets::FacetCache>,
    /// Facet counts and totals of recent filter sets, for the current searcher generation.
    pub(crate) counts: counts::CountCache,
    /// Hits per page, by filter set, sort and page, for the current generation.
    pub(crate) pages: counts::PageCache,
    /// The change-feed position the searchable index reflects (every entry up to it applied);
    /// stored as the payload of each index commit, so it survives restarts with the index.
    applied: tokio::sync::watch::Sender<u64>,
    dir: PathBuf,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, fm: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fm.debug_struct("SearchIndex")
            .field("dir", &self.dir)
            .finish()
    }
}

impl SearchIndex {
    /// Opens `<root>/v<INDEX_VERSION>`, or creates it empty (after removing older versions or
    /// an unreadable index). Returns whether it must be rebuilt from the store.
    pub fn open(root: &Path) -> Result<(SearchIndex, bool), SearchError> {
        let dir = root.join(format!("v{INDEX_VERSION}"));
        let (schema, f) = schema();
        let io = |e: std::io::Error| SearchError::Index(format!("{}: {e}", dir.display()));
        let opened = if dir.join("meta.json").exists() {
            match Index::open_in_dir(&dir) {
                Ok(i) if i.schema() == schema => Some(i),
                Ok(_) | Err(_) => {
                    tracing::warn!(dir = %dir.display(), "search index unreadable or of another schema; rebuilding");
                    None
                }
            }
        } else {
            None
        };
        let (index, rebuild) = match opened {
            Some(i) => (i, false),
            None => {
                // Remove every other version and any broken remains.
                if root.exists() {
                    for e in std::fs::read_dir(root).map_err(io)?.flatten() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
                std::fs::create_dir_all(&dir).map_err(io)?;
                // Hits read their stored fields on every search; an uncompressed store turns
                // that from an LZ4 block decompression into a copy (the store is small).
                // Small blocks: a hit copies one 4 KiB block (a few products), not 16 KiB.
                let settings = tantivy::IndexSettings {
                    docstore_compression: tantivy::store::Compressor::None,
                    docstore_blocksize: 4096,
                    ..Default::default()
                };
                let index = Index::builder()
                    .schema(schema)
                    .settings(settings)
                    .create_in_dir(&dir)?;
                (index, true)
            }
        };
        let writer: IndexWriter = index.writer_with_num_threads(1, 32_000_000)?;
        let facets = std::sync::Arc::new(facets::FacetCache::default());
        let warmer: std::sync::Arc<dyn tantivy::Warmer> = facets.clone();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(vec![std::sync::Arc::downgrade(&warmer)])
            .try_into()?;
        let position = match rebuild {
            true => 0,
            false => index
                .load_metas()?
                .payload
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
        };
        Ok((
            SearchIndex {
                index,
                reader,
                writer: Mutex::new(writer),
                f,
                facets,
                counts: counts::CountCache::default(),
                pages: counts::PageCache::default(),
                applied: tokio::sync::watch::channel(position).0,
                dir,
            },
            rebuild,
        ))
    }

    /// The change-feed position the index reflects.
    pub fn position(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits (at most `timeout`) until the index reflects feed entry `seq`; false on timeout.
    pub async fn wait_applied(&self, seq: u64, timeout: std::time::Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Commits the writer's changes as reflecting feed `position`, then makes them searchable.
    fn commit_at(&self, w: &mut IndexWriter, position: u64) -> Result<(), SearchError> {
        let mut prepared = w.prepare_commit()?;
        prepared.set_payload(&position.to_string());
        prepared.commit()?;
        Ok(())
    }

    fn published(&self, position: u64) -> Result<(), SearchError> {
        self.reader.reload()?;
        self.applied.send_replace(position);
        Ok(())
    }

    fn doc(&self, p: &Product, in_stock: bool) -> TantivyDocument {
        let f = self.f;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, p.id.to_string());
        d.add_text(f.slug, &p.slug);
        d.add_text(f.title, &p.title);
        d.add_text(f.title_joined, p.title.replace(['-', '\''], ""));
        let description = strip_html(&p.description);
        d.add_text(f.body, &description);
        d.add_text(f.description, description);
        if let Some(v) = &p.vendor {
            d.add_text(f.body, v);
        }
        for t in &p.tags {
            d.add_text(f.body, t);
        }
        for c in &p.category_ids {
            d.add_facet(f.category, Facet::from_path([c.to_string()]));
        }
        for k in facet_keys(p) {
            match k {
                facets::FacetKey::Tag(t) => d.add_facet(f.tag, Facet::from_path([t])),
                facets::FacetKey::Option(o) => d.add_facet(f.option, Facet::from_path([o])),
                facets::FacetKey::Category(_) | facets::FacetKey::Price(_) => {}
            }
        }
        let min = p.variants.iter().map(|v| v.price).min_by_key(|m| m.amount);
        if let Some(m) = min {
            d.add_u64(f.price, u64::try_from(m.amount).unwrap_or(0));
            d.add_text(f.currency, m.currency.as_str());
        }
        d.add_u64(
            f.created,
            u64::try_from(p.created_at.as_millis()).unwrap_or(0),
        );
        d.add_u64(f.in_stock, u64::from(in_stock));
        d
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        crate::core::sync::lock(&self.writer)
    }

    /// The products filed under category `c` (directly or through a subcategory).
    pub fn ids_in_category(&self, c: CategoryId) -> Result<Vec<ProductId>, SearchError> {
        let searcher = self.reader.searcher();
        let term = Term::from_facet(self.f.category, &Facet::from_path([c.to_string()]));
        let q = tantivy::query::TermQuery::new(term, IndexRecordOption::Basic);
        let addrs = searcher.search(&q, &tantivy::collector::DocSetCollector)?;
        let mut out = Vec::with_capacity(addrs.len());
        for a in addrs {
            let doc: TantivyDocument = searcher.doc(a)?;
            if let Ok(id) = ProductId::parse(&Self::stored_str(&doc, self.f.id)) {
                out.push(id);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Makes the index reflect several products at once (one commit): each indexed with
    /// whether it is in stock when active, removed otherwise or when gone; the commit records
    /// that the index reflects the change feed up to `position`.
    pub fn apply_many(
        &self,
        products: &[(ProductId, Option<(Product, bool)>)],
        position: u64,
    ) -> Result<(), SearchError> {
        let mut w = self.lock();
        for (id, product) in products {
            w.delete_term(Term::from_field_text(self.f.id, &id.to_string()));
            if let Some((p, in_stock)) =
                product.as_ref().filter(|(p, _)| p.status == Status::Active)
            {
                w.add_document(self.doc(p, *in_stock))?;
            }
        }
        self.commit_at(&mut w, position)?;
        drop(w);
        self.published(position)
    }

    /// Replaces the whole index with `products` and whether each is in stock (reindex,
    /// rebuild at start), read after the change feed stood at `position`.
    pub fn rebuild(
        &self,
        products: impl Iterator<Item = (Product, bool)>,
        position: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, SearchError> {
        let mut w = self.lock();
        w.delete_all_documents()?;
        let mut n = 0;
        for (p, in_stock) in products {
            if p.status == Status::Active {
                w.add_document(self.doc(&p, in_stock))?;
            }
            n += 1;
            if n % 1000 == 0 {
                progress(n);
            }
        }
        self.commit_at(&mut w, position)?;
        // A bulk build leaves many small segments; every query visits each one. Merge them
        // into one so searches over a freshly built index are as fast as they can be.
        let segments = self.index.searchable_segment_ids()?;
        if segments.len() > 1 {
            w.merge(&segments).wait()?;
            let _ = w.garbage_collect_files().wait();
        }
        drop(w);
        self.published(position)?;
        progress(n);
        Ok(n)
    }

    /// Number of index segments (diagnostics and benchmarks).
    pub fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// Number of indexed (active) products.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether the index holds no products.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn stored_str(doc: &TantivyDocument, field: Field) -> String {
        doc.get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

/// Searches waiting per search thread before new ones are refused as busy.
const SEARCH_QUEUE_PER_THREAD: usize = 64;

fn pool_error(e: crate::core::PoolError) -> SearchError {
    match e {
        crate::core::PoolError::Busy => SearchError::Busy,
        crate::core::PoolError::Stopped => SearchError::Index("search pool stopped".into()),
        crate::core::PoolError::Panicked => SearchError::Index("search panicked".into()),
    }
}

/// Payload of the indexing job.
#[derive(Serialize, serde::Deserialize)]
pub struct IndexJob {
    /// The product that changed.
    pub product_id: ProductId,
}

/// Search over the catalog: the index plus the catalog it is derived from.
#[derive(Clone, Debug)]
pub struct Search {
    index: std::sync::Arc<SearchIndex>,
    catalog: crate::domain::catalog::Catalog,
    inventory: crate::domain::inventory::Inventory,
    /// Queries run here, first come first served, one per thread: under load each waits its
    /// turn instead of every query slowing down together on an unbounded blocking pool.
    pool: std::sync::Arc<crate::core::WorkPool>,
}

impl Search {
    /// Opens the index under `root` and rebuilds it from the catalog when it is new, of an older
    /// schema, or unreadable. Queries run on `threads` threads (0: one per CPU core).
    pub fn open(
        root: &Path,
        catalog: crate::domain::catalog::Catalog,
        inventory: crate::domain::inventory::Inventory,
        threads: usize,
    ) -> Result<Search, SearchError> {
        let (index, rebuild) = SearchIndex::open(root)?;
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        let pool = crate::core::WorkPool::new(
            "shopd-search",
            threads,
            SEARCH_QUEUE_PER_THREAD * threads,
            crate::core::Priority::Normal,
        )
        .map_err(SearchError::Index)?;
        let s = Search {
            index: std::sync::Arc::new(index),
            catalog,
            inventory,
            pool: std::sync::Arc::new(pool),
        };
        if rebuild {
            let n = s.reindex(&mut |_| {})?;
            tracing::info!(products = n, "search index built from the catalog");
        }
        tracing::info!(
            products = s.index.len(),
            segments = s.index.segments(),
            facet_tables_kib = s.index.facets.heap_bytes() / 1024,
            threads,
            "search ready"
        );
        Ok(s)
    }

    /// Rebuilds the index from every product in the store. The feed position is read first, so
    /// a change made while the products are read is applied again afterwards.
    pub fn reindex(&self, progress: &mut dyn FnMut(u64)) -> Result<u64, SearchError> {
        let position = self
            .catalog
            .feed_head()
            .map_err(|e| SearchError::Index(e.to_string()))?;
        let mut err = None;
        let products = self
            .catalog
            .all_products(1000)
            .map(|r| {
                let mut p = r?;
                p.category_ids = self.catalog.categories_with_ancestors(&p)?;
                let in_stock = self.inventory.in_stock(&p)?;
                Ok::<_, crate::domain::catalog::CatalogError>((p, in_stock))
            })
            .map_while(|r| match r {
                Ok(p) => Some(p),
                Err(e) => {
                    err = Some(e);
                    None
                }
            });
        let n = self.index.rebuild(products, position, progress)?;
        match err {
            Some(e) => Err(SearchError::Index(e.to_string())),
            None => Ok(n),
        }
    }

    /// Runs a query on the search pool.
    pub async fn search(&self, q: SearchQuery) -> Result<SearchResult, SearchError> {
        let index = self.index.clone();
        self.pool
            .run(move || index.search(&q))
            .await
            .map_err(pool_error)?
    }

    /// Autocomplete titles, on the search pool.
    pub async fn suggest(&self, q: String, limit: usize) -> Result<Vec<String>, SearchError> {
        let index = self.index.clone();
        self.pool
            .run(move || index.suggest(&q, limit))
            .await
            .map_err(pool_error)?
    }

    /// Up to `n` in-stock products most like product `id` by content (categories, tags,
    /// option values, words), best first; empty when the product is gone. On the search pool.
    pub async fn similar(
        &self,
        id: ProductId,
        n: usize,
    ) -> Result<Vec<(ProductId, f32)>, SearchError> {
        let product = match self.catalog.get_product(&id.to_string(), false) {
            Ok(p) => p,
            Err(crate::domain::catalog::CatalogError::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(SearchError::Index(e.to_string())),
        };
        let index = self.index.clone();
        self.pool
            .run(move || index.similar(&product, n))
            .await
            .map_err(pool_error)?
    }

    /// Number of products in the index.
    pub fn indexed(&self) -> u64 {
        self.index.len()
    }

    /// The search module's background work: the once-per-cluster follow-up of product changes
    /// (after this node's index has them), the hourly feed pruning, and category moves queued
    /// by older versions. The index itself follows the change feed ([`Search::follow`]).
    pub fn work(&self) -> crate::jobs::Work {
        let (s, m, p) = (self.clone(), self.clone(), self.clone());
        crate::jobs::Work::new()
            .handler(
                crate::domain::catalog::PRODUCT_CHANGED_JOB,
                4,
                crate::jobs::handler_fn(move |ctx| s.clone().on_product_changed(ctx)),
            )
            .handler(
                crate::domain::catalog::CATEGORY_MOVED_JOB,
                1,
                crate::jobs::handler_fn(move |ctx| m.clone().on_category_moved(ctx)),
            )
            .handler(
                crate::domain::catalog::FEED_PRUNE_JOB,
                1,
                crate::jobs::handler_fn(move |_| p.clone().on_feed_prune()),
            )
            .every(crate::domain::catalog::FEED_PRUNE_JOB, FEED_PRUNE_EVERY)
    }

    /// Job handler of the feed pruning.
    async fn on_feed_prune(self) -> Result<crate::jobs::JobOutcome, crate::jobs::JobError> {
        self.catalog
            .prune_feed()
            .await
            .map_err(|e| crate::jobs::JobError::retry(e.to_string()))?;
        Ok(crate::jobs::JobOutcome::DoneWith(Box::new(|tx| {
            let next = tx.now().plus(FEED_PRUNE_EVERY);
            crate::jobs::schedule_recurring(
                tx,
                crate::domain::catalog::FEED_PRUNE_JOB,
                FEED_PRUNE_EVERY,
                next,
            )
        })))
    }

    /// The product as the index files it (categories with their ancestors, in stock or not),
    /// or `None` once it is gone.
    fn indexable(&self, id: ProductId) -> Result<Option<(Product, bool)>, crate::jobs::JobError> {
        let retry = |e: String| crate::jobs::JobError::retry(e);
        match self.catalog.get_product(&id.to_string(), false) {
            Ok(mut p) => {
                p.category_ids = self
                    .catalog
                    .categories_with_ancestors(&p)
                    .map_err(|e| retry(e.to_string()))?;
                let in_stock = self
                    .inventory
                    .in_stock(&p)
                    .map_err(|e| retry(e.to_string()))?;
                Ok(Some((p, in_stock)))
            }
            Err(crate::domain::catalog::CatalogError::NotFound) => Ok(None),
            Err(e) => Err(retry(e.to_string())),
        }
    }

    /// Job handler of `catalog.category_moved`, queued by older versions: indexes again, 500 at
    /// a time, every product filed under the moved category. Idempotent.
    pub async fn on_category_moved(
        self,
        ctx: crate::jobs::JobContext,
    ) -> Result<crate::jobs::JobOutcome, crate::jobs::JobError> {
        let m: crate::domain::catalog::CategoryMoved = ctx.payload()?;
        let ids = self
            .index
            .ids_in_category(m.category_id)
            .map_err(|e| crate::jobs::JobError::retry(e.to_string()))?;
        for chunk in ids.chunks(500) {
            let mut batch = Vec::with_capacity(chunk.len());
            for id in chunk {
                batch.push((*id, self.indexable(*id)?));
            }
            let index = self.index.clone();
            tokio::task::spawn_blocking(move || index.apply_many(&batch, index.position()))
                .await
                .map_err(|e| crate::jobs::JobError::retry(e.to_string()))?
                .map_err(|e| crate::jobs::JobError::retry(e.to_string()))?;
        }
        Ok(crate::jobs::JobOutcome::Done)
    }

    /// Job handler of `catalog.product_changed`: once this node's index has the change (it
    /// follows the feed), queues what follows the index (the `similar` lists), once per cluster.
    pub async fn on_product_changed(
        self,
        ctx: crate::jobs::JobContext,
    ) -> Result<crate::jobs::JobOutcome, crate::jobs::JobError> {
        let c: crate::domain::catalog::ProductChanged = ctx.payload()?;
        if let Some(seq) = c.seq
            && !self.index.wait_applied(seq, INDEX_WAIT).await
        {
            return Err(crate::jobs::JobError::retry(format!(
                "this node's index has not reached change {seq} yet"
            )));
        }
        Ok(crate::jobs::JobOutcome::DoneWith(Box::new(move |tx| {
            let job = crate::jobs::NewJob::new(
                PRODUCT_INDEXED_JOB,
                &IndexJob {
                    product_id: c.product_id,
                },
            )?;
            crate::jobs::enqueue(tx, job).map(|_| ())
        })))
    }
}

/// How often old change-feed entries are pruned.
const FEED_PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Longest a product-change job waits for this node's index to reach the change.
const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Job kind queued when a product's change reached the index (payload [`IndexJob`]).
pub const PRODUCT_INDEXED_JOB: &str = "search.product_indexed";
