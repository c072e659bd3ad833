//! Per-node caches valid for one searcher generation: facet counts and totals keyed by the
//! filter set (text and filters, not sort or page), and each page's hits (their addresses in the
//! index) keyed by the filter set, sort and page.
//!
//! A storefront asks for the same filter set again and again: every page of a category, every
//! sort order of a search, every shopper on the same landing page. Counting facets is the part
//! of such a query that grows with the match set, so it is done once per filter set and index
//! state. Entries are derived from the index alone and are dropped as soon as the reader moves
//! to a new generation, so a count never outlives the catalog change that would alter it; a
//! node that loses the cache only counts again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::query::{Facets, SearchQuery};

/// Filter sets remembered per generation (two halves of this size at most).
const HALF: usize = 256;

/// What a search over a filter set counts, whatever its sort and page.
#[derive(Debug)]
pub(crate) struct Counted {
    /// Matching products.
    pub(crate) total: u64,
    /// Facet counts over them.
    pub(crate) facets: Facets,
}

/// The part of a query that decides its matches: words (as the query builder reads them) and
/// filters, the unordered ones sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FilterSet {
    words: Vec<String>,
    category: Option<String>,
    min_price: Option<u64>,
    max_price: Option<u64>,
    in_stock: Option<bool>,
    options: Vec<(String, String)>,
    tags: Vec<String>,
}

impl FilterSet {
    /// The filter set of `q`, whose words are `words`.
    pub(crate) fn of(q: &SearchQuery, words: &[String]) -> FilterSet {
        let mut options = q.options.clone();
        options.sort();
        options.dedup();
        let mut tags: Vec<String> = q.tags.iter().map(|t| t.to_lowercase()).collect();
        tags.sort();
        tags.dedup();
        FilterSet {
            words: words.to_vec(),
            category: q.category.map(|c| c.to_string()),
            min_price: q.min_price,
            max_price: q.max_price,
            in_stock: q.in_stock,
            options,
            tags,
        }
    }
}

/// A page of one query: which hits, in order. Category pages and repeated searches ask for the
/// same pages over and over; finding the top hits again costs a pass over every match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    /// The matches.
    pub(crate) filters: FilterSet,
    /// Their order.
    pub(crate) sort: super::query::Sort,
    /// 1-based page.
    pub(crate) page: usize,
    /// Hits per page.
    pub(crate) per_page: usize,
}

/// Facet counts and totals by filter set.
pub(crate) type CountCache = GenerationCache<FilterSet, Counted>;
/// Hit addresses by page (valid only for the generation they were found in).
pub(crate) type PageCache = GenerationCache<PageKey, Vec<tantivy::DocAddress>>;

/// Recent entries of the current generation: an approximate LRU in two halves (a hit in the
/// older half moves the entry to the newer; when the newer fills, the older is dropped), so
/// memory stays bounded without per-entry bookkeeping.
#[derive(Debug)]
pub(crate) struct GenerationCache<K, V> {
    inner: Mutex<Halves<K, V>>,
}

impl<K, V> Default for GenerationCache<K, V> {
    fn default() -> Self {
        GenerationCache {
            inner: Mutex::new(Halves {
                generation: 0,
                newer: HashMap::new(),
                older: HashMap::new(),
            }),
        }
    }
}

#[derive(Debug)]
struct Halves<K, V> {
    generation: u64,
    newer: HashMap<K, Arc<V>>,
    older: HashMap<K, Arc<V>>,
}

impl<K: std::hash::Hash + Eq, V> Halves<K, V> {
    fn for_generation(&mut self, generation: u64) -> &mut Self {
        if self.generation != generation {
            self.generation = generation;
            self.newer.clear();
            self.older.clear();
        }
        self
    }

    fn put(&mut self, key: K, value: Arc<V>) {
        if self.newer.len() >= HALF {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(key, value);
    }
}

impl<K: std::hash::Hash + Eq, V> GenerationCache<K, V> {
    /// The value of `key` in `generation`, if remembered.
    pub(crate) fn get(&self, generation: u64, key: &K) -> Option<Arc<V>> {
        let mut h = crate::core::sync::lock(&self.inner);
        let h = h.for_generation(generation);
        if let Some(c) = h.newer.get(key) {
            return Some(c.clone());
        }
        let (key, c) = h.older.remove_entry(key)?;
        h.put(key, c.clone());
        Some(c)
    }

    /// Remembers `value` for `key` in `generation`.
    pub(crate) fn put(&self, generation: u64, key: K, counted: Arc<V>) {
        let mut h = crate::core::sync::lock(&self.inner);
        h.for_generation(generation).put(key, counted);
    }

    /// Entries held, for tests and diagnostics.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let h = crate::core::sync::lock(&self.inner);
        h.newer.len() + h.older.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::search::Sort;

    fn query(tags: &[&str]) -> SearchQuery {
        SearchQuery {
            q: String::new(),
            category: None,
            min_price: None,
            max_price: Some(5000),
            in_stock: None,
            options: vec![("Size".into(), "M".into()), ("Color".into(), "Red".into())],
            tags: tags.iter().map(|t| t.to_string()).collect(),
            sort: Sort::Relevance,
            page: 1,
            per_page: 20,
        }
    }

    /// A distinct filter set per `i`.
    fn key(i: u64) -> FilterSet {
        let mut q = query(&[]);
        q.min_price = Some(i);
        FilterSet::of(&q, &[])
    }

    fn counted(total: u64) -> Arc<Counted> {
        Arc::new(Counted {
            total,
            facets: Facets::default(),
        })
    }

    #[test]
    fn pages_are_remembered_per_sort_and_page_within_a_generation() {
        let cache = PageCache::default();
        let page = |sort, page| PageKey {
            filters: key(1),
            sort,
            page,
            per_page: 24,
        };
        let hits = Arc::new(vec![tantivy::DocAddress::new(0, 7)]);
        cache.put(3, page(Sort::Newest, 1), hits.clone());
        assert_eq!(cache.get(3, &page(Sort::Newest, 1)), Some(hits));
        assert_eq!(cache.get(3, &page(Sort::Newest, 2)), None);
        assert_eq!(cache.get(3, &page(Sort::PriceAsc, 1)), None);
        assert_eq!(
            cache.get(4, &page(Sort::Newest, 1)),
            None,
            "a new generation forgets"
        );
    }

    #[test]
    fn order_sort_and_page_do_not_split_a_filter_set() {
        let a = query(&["Soy", "wax"]);
        let mut b = query(&["wax", "soy"]);
        b.options.reverse();
        b.sort = Sort::PriceDesc;
        b.page = 3;
        assert_eq!(FilterSet::of(&a, &[]), FilterSet::of(&b, &[]));
        assert_ne!(
            FilterSet::of(&a, &[]),
            FilterSet::of(&a, &["mug".to_string()])
        );
        let mut c = query(&["soy"]);
        c.max_price = None;
        assert_ne!(FilterSet::of(&c, &[]), FilterSet::of(&query(&["soy"]), &[]));
    }

    #[test]
    fn a_new_generation_forgets_and_size_stays_bounded() {
        let cache = CountCache::default();
        cache.put(1, key(0), counted(7));
        assert_eq!(cache.get(1, &key(0)).map(|c| c.total), Some(7));
        assert!(
            cache.get(2, &key(0)).is_none(),
            "counts of generation 1 served in 2"
        );
        for i in 0..10 * HALF as u64 {
            cache.put(2, key(i), counted(i));
        }
        assert!(cache.len() <= 2 * HALF, "{} entries", cache.len());
        let last = 10 * HALF as u64 - 1;
        assert_eq!(cache.get(2, &key(last)).map(|c| c.total), Some(last));
        assert!(cache.get(2, &key(0)).is_none());
    }

    #[test]
    fn a_hit_in_the_older_half_survives_the_next_turnover() {
        let cache = CountCache::default();
        cache.put(1, key(0), counted(0));
        for i in 1..=HALF as u64 {
            cache.put(1, key(i), counted(i));
        }
        // key(0) is in the older half now; reading it moves it to the newer.
        assert!(cache.get(1, &key(0)).is_some());
        for i in HALF as u64 + 1..2 * HALF as u64 {
            cache.put(1, key(i), counted(i));
        }
        assert!(
            cache.get(1, &key(0)).is_some(),
            "recently read entry dropped"
        );
    }
}
