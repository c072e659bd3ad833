//! Query building: every word must match (exactly after English stemming, with typos allowed by
//! word length, or as a prefix for the last word), titles weigh most; filters, facet counts over
//! the filtered results, sort orders, pages, and highlighted snippets.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::Serialize;
use std::sync::Arc;

use tantivy::collector::{Collector, Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Facet, Field, IndexRecordOption};
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

use super::counts::{Counted, FilterSet, PageKey};
use super::facets::{FacetCounter, FacetKey, PRICE_EDGES};
use super::snippets;
use super::{SearchError, SearchIndex, facet_part, option_facet};
use crate::core::CategoryId;

/// Result order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sort {
    /// Best match first.
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Most expensive first.
    PriceDesc,
    /// Newest first.
    Newest,
}

impl Sort {
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "relevance" => Some(Sort::Relevance),
            "price_asc" => Some(Sort::PriceAsc),
            "price_desc" => Some(Sort::PriceDesc),
            "newest" => Some(Sort::Newest),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::PriceAsc => "price_asc",
            Sort::PriceDesc => "price_desc",
            Sort::Newest => "newest",
        }
    }
}

/// A search request.
#[derive(Clone, Debug)]
pub struct SearchQuery {
    /// Free text.
    pub q: String,
    /// Only this category.
    pub category: Option<CategoryId>,
    /// Lowest price in minor units (inclusive).
    pub min_price: Option<u64>,
    /// Highest price in minor units (inclusive).
    pub max_price: Option<u64>,
    /// Only available products.
    pub in_stock: Option<bool>,
    /// Option filters, e.g. (`Color`, `Red`).
    pub options: Vec<(String, String)>,
    /// Tag filters.
    pub tags: Vec<String>,
    /// Order.
    pub sort: Sort,
    /// 1-based page.
    pub page: usize,
    /// Hits per page.
    pub per_page: usize,
}

/// One hit.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Hit {
    /// Product id.
    pub id: String,
    /// Slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Lowest variant price.
    pub price: crate::core::Money,
    /// Title with matches wrapped in `<b>`.
    pub title_highlight: String,
    /// Description excerpt with matches wrapped in `<b>`.
    pub snippet: String,
}

/// A facet value and how many filtered results carry it.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FacetCount {
    /// Value (category id, tag, option value).
    pub value: String,
    /// Results with it.
    pub count: u64,
}

/// A price bucket.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PriceRange {
    /// Lower bound in minor units (inclusive).
    pub min: u64,
    /// Upper bound in minor units (exclusive), `null` for the last.
    pub max: Option<u64>,
    /// Results in it.
    pub count: u64,
}

/// Facet counts over the filtered result set.
#[derive(Clone, Debug, Serialize, PartialEq, Default, utoipa::ToSchema)]
pub struct Facets {
    /// By category id.
    pub categories: Vec<FacetCount>,
    /// By tag.
    pub tags: Vec<FacetCount>,
    /// By option name, then value.
    pub options: BTreeMap<String, Vec<FacetCount>>,
    /// By price bucket.
    pub price_ranges: Vec<PriceRange>,
}

/// A page of results.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SearchResult {
    /// Hits on this page.
    pub data: Vec<Hit>,
    /// Matching products in total.
    pub total: u64,
    /// Page number.
    pub page: usize,
    /// Page size.
    pub per_page: usize,
    /// Facet counts.
    pub facets: Facets,
}

/// Longest highlighted title (tantivy's default fragment length).
const TITLE_CHARS: usize = 150;

/// Longest description snippet.
const SNIPPET_CHARS: usize = 160;

/// Completions of the last word searched for (the most frequent title words it starts).
const MAX_COMPLETIONS: usize = 30;

/// Typos allowed for a word of `len` characters (Meilisearch-like: none for short words).
fn typos(len: usize) -> u8 {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

type Extras = (usize, BTreeMap<FacetKey, u64>);

impl SearchIndex {
    fn extras(&self) -> impl tantivy::collector::Collector<Fruit = Extras> + use<> {
        (Count, FacetCounter(self.facets.clone()))
    }

    fn analyze(&self, field: Field, text: &str) -> Vec<String> {
        let Ok(mut analyzer) = self.index.tokenizer_for_field(field) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut stream = analyzer.token_stream(text);
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        out
    }

    /// Whether any of `terms` occurs in the index.
    fn occurs(searcher: &Searcher, terms: &[Term]) -> bool {
        terms
            .iter()
            .any(|t| searcher.doc_freq(t).is_ok_and(|n| n > 0))
    }

    /// Words of `field` that start with `prefix` (the prefix itself excluded), the most
    /// frequent first, at most `limit`: the last word's completions as plain term queries,
    /// instead of an automaton query that would also re-read the exact word's postings.
    fn completions(searcher: &Searcher, field: Field, prefix: &str, limit: usize) -> Vec<String> {
        let mut found: BTreeMap<String, u64> = BTreeMap::new();
        let mut upper = prefix.as_bytes().to_vec();
        // Smallest byte string greater than every string starting with `prefix`.
        while let Some(last) = upper.pop() {
            if last < u8::MAX {
                upper.push(last + 1);
                break;
            }
        }
        for seg in searcher.segment_readers() {
            let Ok(inverted) = seg.inverted_index(field) else {
                continue;
            };
            let mut range = inverted.terms().range().ge(prefix.as_bytes());
            if !upper.is_empty() {
                range = range.lt(&upper);
            }
            let Ok(mut stream) = range.into_stream() else {
                continue;
            };
            // Bounded walk: a one-letter prefix could name thousands of words.
            let mut seen = 0;
            while stream.advance() && seen < 1000 {
                seen += 1;
                if stream.key() == prefix.as_bytes() {
                    continue;
                }
                if let Ok(word) = std::str::from_utf8(stream.key()) {
                    *found.entry(word.to_owned()).or_insert(0) +=
                        u64::from(stream.value().doc_freq);
                }
            }
        }
        let mut words: Vec<(String, u64)> = found.into_iter().collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        words.truncate(limit);
        words.into_iter().map(|(w, _)| w).collect()
    }

    fn text_query(&self, searcher: &Searcher, words: &[String]) -> Option<Box<dyn Query>> {
        let f = self.f;
        if words.is_empty() {
            return None;
        }
        let last = words.len() - 1;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (i, w) in words.iter().enumerate() {
            let stem = self
                .analyze(f.title, w)
                .into_iter()
                .next()
                .unwrap_or_else(|| w.clone());
            let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            let term = |field: Field, t: &str| Term::from_field_text(field, t);
            let boosted = |q: Box<dyn Query>, b: f32| -> (Occur, Box<dyn Query>) {
                (Occur::Should, Box::new(BoostQuery::new(q, b)))
            };
            should.push(boosted(
                Box::new(TermQuery::new(
                    term(f.title, &stem),
                    IndexRecordOption::WithFreqs,
                )),
                4.0,
            ));
            should.push(boosted(
                Box::new(TermQuery::new(
                    term(f.title_joined, w),
                    IndexRecordOption::WithFreqs,
                )),
                3.0,
            ));
            should.push(boosted(
                Box::new(TermQuery::new(
                    term(f.body, &stem),
                    IndexRecordOption::WithFreqs,
                )),
                1.0,
            ));
            // Typos are looked for only when the word itself is nowhere in the catalog (as
            // Typesense does by default): a correctly spelled word does not pay for scanning
            // its near neighbours. They are looked for in titles, where the shopper's word
            // most likely is; `title_joined` holds them unstemmed, compounds joined ("tshirt").
            let d = typos(w.chars().count());
            let exact = [
                term(f.title, &stem),
                term(f.title_joined, w),
                term(f.body, &stem),
            ];
            if d > 0 && !Self::occurs(searcher, &exact) {
                should.push(boosted(
                    Box::new(FuzzyTermQuery::new(term(f.title_joined, w), d, true)),
                    1.5,
                ));
            }
            if i == last && w.chars().count() >= 2 {
                for completion in Self::completions(searcher, f.title_joined, w, MAX_COMPLETIONS) {
                    should.push(boosted(
                        Box::new(TermQuery::new(
                            term(f.title_joined, &completion),
                            IndexRecordOption::WithFreqs,
                        )),
                        1.0,
                    ));
                }
            }
            must.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        }
        Some(Box::new(BooleanQuery::new(must)))
    }

    fn filters(&self, q: &SearchQuery, skip_price: bool) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.f;
        let mut out: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let facet = |field: Field, path: Facet| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_facet(field, &path),
                IndexRecordOption::Basic,
            ))
        };
        if let Some(c) = q.category {
            out.push((
                Occur::Must,
                facet(f.category, Facet::from_path([c.to_string()])),
            ));
        }
        for t in &q.tags {
            out.push((
                Occur::Must,
                facet(f.tag, Facet::from_path([facet_part(&t.to_lowercase())])),
            ));
        }
        for (name, value) in &q.options {
            out.push((
                Occur::Must,
                facet(f.option, Facet::from_path([option_facet(name, value)])),
            ));
        }
        if !skip_price && (q.min_price.is_some() || q.max_price.is_some()) {
            let lo = q.min_price.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_u64(f.price, v))
            });
            let hi = q.max_price.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_u64(f.price, v))
            });
            out.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
        }
        if let Some(wanted) = q.in_stock {
            out.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.in_stock, u64::from(wanted)),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        out
    }

    fn combined(
        &self,
        q: &SearchQuery,
        text: &Option<Box<dyn Query>>,
        skip_price: bool,
    ) -> Box<dyn Query> {
        let mut parts = self.filters(q, skip_price);
        match text {
            Some(t) => parts.push((Occur::Must, t.box_clone())),
            None => parts.push((Occur::Must, Box::new(AllQuery))),
        }
        Box::new(BooleanQuery::new(parts))
    }

    /// Runs a search. Facet counts and the total come from the count cache when this filter set
    /// was counted on the same index state, and the page's hits from the page cache when this
    /// page was asked for on it; otherwise they are found in one pass and remembered.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResult, SearchError> {
        let searcher = self.reader.searcher();
        let words = words(&q.q);
        let text = self.text_query(&searcher, &words);
        let query = self.combined(q, &text, false);
        let generation = searcher.generation().generation_id();
        let key = FilterSet::of(q, &words);
        let page_key = PageKey {
            filters: key.clone(),
            sort: q.sort,
            page: q.page.max(1),
            per_page: q.per_page,
        };
        let (addrs, counted) = match (
            self.counts.get(generation, &key),
            self.pages.get(generation, &page_key),
        ) {
            (Some(counted), Some(addrs)) => (addrs.as_ref().clone(), counted),
            (Some(counted), None) => {
                let (addrs, _) =
                    self.collect(&searcher, &*query, q, text.is_some(), None::<Count>)?;
                self.pages
                    .put(generation, page_key, Arc::new(addrs.clone()));
                (addrs, counted)
            }
            (None, _) => {
                let extras = Some(self.extras());
                let (addrs, fruit) = self.collect(&searcher, &*query, q, text.is_some(), extras)?;
                let (total, counts) = fruit.unwrap_or_default();
                let counted = Arc::new(Counted {
                    total: total as u64,
                    facets: facets_of(counts),
                });
                self.counts.put(generation, key, counted.clone());
                self.pages
                    .put(generation, page_key, Arc::new(addrs.clone()));
                (addrs, counted)
            }
        };
        Ok(SearchResult {
            data: self.hits(&searcher, &text, addrs)?,
            total: counted.total,
            page: q.page.max(1),
            per_page: q.per_page,
            facets: counted.facets.clone(),
        })
    }

    /// The page of `q` in its sort order, and what `extras` collects in the same pass.
    fn collect<C: Collector>(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        q: &SearchQuery,
        scored: bool,
        extras: C,
    ) -> tantivy::Result<(Vec<DocAddress>, C::Fruit)> {
        let offset = (q.page.max(1) - 1) * q.per_page;
        let top = || TopDocs::with_limit(q.per_page.max(1)).and_offset(offset);
        let by = |field: &'static str, order: Order| top().order_by_fast_field::<u64>(field, order);
        Ok(match q.sort {
            Sort::Relevance if scored => {
                let (hits, ex) = searcher.search(query, &(top().order_by_score(), extras))?;
                (addresses(hits), ex)
            }
            Sort::PriceAsc => {
                let (hits, ex) = searcher.search(query, &(by("price", Order::Asc), extras))?;
                (addresses(hits), ex)
            }
            Sort::PriceDesc => {
                let (hits, ex) = searcher.search(query, &(by("price", Order::Desc), extras))?;
                (addresses(hits), ex)
            }
            // Newest, and relevance without words (every score is equal).
            _ => {
                let (hits, ex) = searcher.search(query, &(by("created", Order::Desc), extras))?;
                (addresses(hits), ex)
            }
        })
    }

    /// The hits at `addrs`, titles highlighted and descriptions cut to a snippet around the
    /// words searched for.
    fn hits(
        &self,
        searcher: &Searcher,
        text: &Option<Box<dyn Query>>,
        addrs: Vec<DocAddress>,
    ) -> Result<Vec<Hit>, SearchError> {
        let f = self.f;
        let generators = match text {
            Some(t) => Some((
                snippets::generator(searcher, &**t, f.title, TITLE_CHARS)?,
                snippets::generator(searcher, &**t, f.body, SNIPPET_CHARS)?,
            )),
            None => None,
        };
        let mut data = Vec::with_capacity(addrs.len());
        for a in addrs {
            let doc: TantivyDocument = searcher.doc(a)?;
            let title = SearchIndex::stored_str(&doc, f.title);
            let description = SearchIndex::stored_str(&doc, f.description);
            let amount = doc
                .get_first(f.price)
                .and_then(|v| tantivy::schema::Value::as_u64(&v))
                .unwrap_or(0);
            let currency = crate::core::Currency::parse(&SearchIndex::stored_str(&doc, f.currency))
                .unwrap_or(crate::core::Currency::USD);
            let (title_highlight, snippet) = match &generators {
                Some((t, d)) => {
                    let h = t.snippet(&title).to_html();
                    let h = if h.is_empty() { escape(&title) } else { h };
                    (h, d.snippet(&description).to_html())
                }
                None => (
                    escape(&title),
                    escape(&description.chars().take(SNIPPET_CHARS).collect::<String>()),
                ),
            };
            data.push(Hit {
                id: SearchIndex::stored_str(&doc, f.id),
                slug: SearchIndex::stored_str(&doc, f.slug),
                title,
                price: crate::core::Money::new(i64::try_from(amount).unwrap_or(i64::MAX), currency),
                title_highlight,
                snippet,
            });
        }
        Ok(data)
    }

    /// Titles completing what a shopper has typed (prefix and typo tolerant).
    pub fn suggest(&self, q: &str, limit: usize) -> Result<Vec<String>, SearchError> {
        let searcher = self.reader.searcher();
        let Some(query) = self.text_query(&searcher, &words(q)) else {
            return Ok(Vec::new());
        };
        let top = searcher.search(
            &query,
            &TopDocs::with_limit(limit.clamp(1, 20)).order_by_score(),
        )?;
        let mut out = Vec::new();
        for (_, a) in top {
            let doc: TantivyDocument = searcher.doc(a)?;
            let t = SearchIndex::stored_str(&doc, self.f.title);
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }
}

/// Hit addresses in order, without their sort keys.
fn addresses<S>(hits: Vec<(S, DocAddress)>) -> Vec<DocAddress> {
    hits.into_iter().map(|(_, a)| a).collect()
}

/// The words of a shopper's text, as the query is built from them: at most ten, lower-cased.
fn words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(10)
        .map(str::to_lowercase)
        .collect()
}

/// Facet counts by kind, each most frequent first.
pub(crate) fn facets_of(counts: BTreeMap<FacetKey, u64>) -> Facets {
    let mut categories = Vec::new();
    let mut tags = Vec::new();
    let mut options: BTreeMap<String, Vec<FacetCount>> = BTreeMap::new();
    let mut buckets = [0u64; PRICE_EDGES.len()];
    for (key, count) in counts {
        match key {
            FacetKey::Category(value) => categories.push(FacetCount { value, count }),
            FacetKey::Tag(value) => tags.push(FacetCount { value, count }),
            FacetKey::Option(flat) => {
                if let Some((name, value)) = flat.split_once('\u{1f}') {
                    options
                        .entry(name.to_owned())
                        .or_default()
                        .push(FacetCount {
                            value: value.to_owned(),
                            count,
                        });
                }
            }
            FacetKey::Price(i) => {
                if let Some(b) = buckets.get_mut(i) {
                    *b += count;
                }
            }
        }
    }
    let by_count =
        |a: &FacetCount, b: &FacetCount| b.count.cmp(&a.count).then(a.value.cmp(&b.value));
    categories.sort_by(by_count);
    tags.sort_by(by_count);
    for values in options.values_mut() {
        values.sort_by(by_count);
    }
    let price_ranges = PRICE_EDGES
        .iter()
        .zip(buckets)
        .enumerate()
        .map(|(i, (lo, count))| PriceRange {
            min: *lo,
            max: PRICE_EDGES.get(i + 1).copied(),
            count,
        })
        .collect();
    Facets {
        categories,
        tags,
        options,
        price_ranges,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
