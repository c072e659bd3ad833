//! Content similarity for the `similar` recommendations: products sharing the product's
//! categories, tags and option values, and words of its title and description (tantivy's
//! more-like-this), from the same index the search uses.

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, MoreLikeThisQuery, Occur, Query, TermQuery};
use tantivy::schema::{Facet, IndexRecordOption, OwnedValue};
use tantivy::{TantivyDocument, Term};

use super::facets::FacetKey;
use super::{SearchError, SearchIndex, facet_keys, strip_html};
use crate::core::ProductId;
use crate::domain::catalog::Product;

/// How much a shared category weighs against a shared word.
const CATEGORY_BOOST: f32 = 3.0;
/// How much a shared tag weighs.
const TAG_BOOST: f32 = 2.0;
/// How much a shared option value weighs.
const OPTION_BOOST: f32 = 0.5;
/// Words of the product's text the query keeps (the rarest first).
const MAX_QUERY_TERMS: usize = 16;

impl SearchIndex {
    /// Up to `n` in-stock products most like `p`, best first, never `p` itself.
    pub fn similar(&self, p: &Product, n: usize) -> Result<Vec<(ProductId, f32)>, SearchError> {
        let f = self.f;
        let facet_term = |field, part: &str| Term::from_facet(field, &Facet::from_path([part]));
        let boosted = |t: Term, boost: f32| -> (Occur, Box<dyn Query>) {
            let q = TermQuery::new(t, IndexRecordOption::Basic);
            (Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost)))
        };
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for c in &p.category_ids {
            should.push(boosted(
                facet_term(f.category, &c.to_string()),
                CATEGORY_BOOST,
            ));
        }
        for k in facet_keys(p) {
            match k {
                FacetKey::Tag(t) => should.push(boosted(facet_term(f.tag, &t), TAG_BOOST)),
                FacetKey::Option(o) => should.push(boosted(facet_term(f.option, &o), OPTION_BOOST)),
                FacetKey::Category(_) | FacetKey::Price(_) => {}
            }
        }
        let searcher = self.reader.searcher();
        let mut body = strip_html(&p.description);
        for t in &p.tags {
            body.push(' ');
            body.push_str(t);
        }
        let mlt = MoreLikeThisQuery::builder()
            .with_min_doc_frequency(1)
            .with_min_term_frequency(1)
            .with_max_query_terms(MAX_QUERY_TERMS)
            .with_min_word_length(3)
            // tantivy counts a word's documents including deleted ones (until a merge) but
            // the index's documents without them, and asserts the first is not larger: an
            // edited product can make it so. Such a word is in nearly every product anyway.
            .with_max_doc_frequency(searcher.num_docs())
            .with_document_fields(vec![
                (f.title, vec![OwnedValue::Str(p.title.clone())]),
                (f.body, vec![OwnedValue::Str(body)]),
            ]);
        should.push((Occur::Should, Box::new(mlt)));
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(BooleanQuery::new(should)) as Box<dyn Query>,
            ),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.in_stock, 1),
                    IndexRecordOption::Basic,
                )),
            ),
            (
                Occur::MustNot,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.id, &p.id.to_string()),
                    IndexRecordOption::Basic,
                )),
            ),
        ]);
        let top = searcher.search(&query, &TopDocs::with_limit(n).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            if let Ok(id) = ProductId::parse(&SearchIndex::stored_str(&doc, f.id)) {
                out.push((id, score));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::catalog::demo::test_catalog;
    use crate::domain::search::SearchIndex;

    /// Edited products leave deleted documents behind until a merge, so a word can count
    /// more documents than the index holds; asking for similar products must still work.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn similar_products_survive_edits_not_yet_merged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, _, products) = test_catalog(&dir.path().join("data"), 12).await;
        let (index, _) = SearchIndex::open(&dir.path().join("search")).expect("index");
        let all: Vec<_> = products
            .iter()
            .map(|p| (p.id, Some((p.clone(), true))))
            .collect();
        index.apply_many(&all, 1).expect("index");
        // Half of them edited (a segment whose documents are all deleted goes at once, a
        // half-deleted one stays): a word in every product now counts 1.5 documents each.
        index.apply_many(&all[..all.len() / 2], 2).expect("edit");
        assert_eq!(index.len(), products.len() as u64);
        for p in &products {
            let similar = index.similar(p, 5).expect("similar");
            assert!(!similar.is_empty(), "nothing like {}", p.title);
            assert!(similar.iter().all(|(id, _)| *id != p.id), "itself offered");
        }
    }
}
