//! Facets of a short list held in memory, such as a collection's products (at most 1,000):
//! filtered and counted by the same keys the index files a product under
//! ([`super::facet_keys`]), so a collection's filters mean what a category's mean.

use std::collections::BTreeMap;

use super::facets::FacetKey;
use super::query::{Facets, facets_of};
use super::{facet_keys, facet_part, option_facet};
use crate::domain::catalog::Product;

/// The products carrying every filter (option name and value pairs, tags), in the order
/// given, and the facet counts over them.
pub fn filter_listed<'a>(
    products: &'a [Product],
    options: &[(String, String)],
    tags: &[String],
) -> (Vec<&'a Product>, Facets) {
    let wanted: Vec<FacetKey> = options
        .iter()
        .map(|(n, v)| FacetKey::Option(option_facet(n, v)))
        .chain(
            tags.iter()
                .map(|t| FacetKey::Tag(facet_part(&t.to_lowercase()))),
        )
        .collect();
    let mut counts: BTreeMap<FacetKey, u64> = BTreeMap::new();
    let mut kept = Vec::new();
    for p in products {
        let keys = facet_keys(p);
        if wanted.iter().all(|w| keys.contains(w)) {
            for k in keys {
                *counts.entry(k).or_default() += 1;
            }
            kept.push(p);
        }
    }
    (kept, facets_of(counts))
}
