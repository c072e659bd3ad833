//! A per-node cache of facet counts and totals, keyed by the filter set (text and filters, not
//! sort or page) and valid for one searcher generation.
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

/// Recently counted filter sets of the current generation: an approximate LRU in two halves
/// (a hit in the older half moves the entry to the newer; when the newer fills, the older is
/// dropped), so memory stays bounded without per-entry bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct CountCache {
    inner: Mutex<Halves>,
}

#[derive(Debug, Default)]
struct Halves {
    generation: u64,
    newer: HashMap<FilterSet, Arc<Counted>>,
    older: HashMap<FilterSet, Arc<Counted>>,
}

impl Halves {
    fn for_generation(&mut self, generation: u64) -> &mut Self {
        if self.generation != generation {
            self.generation = generation;
            self.newer.clear();
            self.older.clear();
        }
        self
    }

    fn put(&mut self, key: FilterSet, value: Arc<Counted>) {
        if self.newer.len() >= HALF {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(key, value);
    }
}

impl CountCache {
    /// The counts of `key` in `generation`, if counted.
    pub(crate) fn get(&self, generation: u64, key: &FilterSet) -> Option<Arc<Counted>> {
        let mut h = crate::core::sync::lock(&self.inner);
        let h = h.for_generation(generation);
        if let Some(c) = h.newer.get(key) {
            return Some(c.clone());
        }
        let (key, c) = h.older.remove_entry(key)?;
        h.put(key, c.clone());
        Some(c)
    }

    /// Remembers the counts of `key` in `generation`.
    pub(crate) fn put(&self, generation: u64, key: FilterSet, counted: Arc<Counted>) {
        let mut h = crate::core::sync::lock(&self.inner);
        h.for_generation(generation).put(key, counted);
    }

    /// Filter sets held, for tests and diagnostics.
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
