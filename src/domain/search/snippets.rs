//! Highlighted snippets that stem only the words that could match.
//!
//! tantivy's `SnippetGenerator` runs the field's full analyzer over each hit's text, stemming
//! every word; for a page of 20 descriptions that was a fifth of a query's CPU. The English
//! stemmer only rewrites endings, so a word's stem starts with the word's first letter: a word
//! whose first letter begins none of the query's stems cannot match and is left unstemmed.
//! Every other word goes through the same chain as `en_stem` (simple tokenizer, long words
//! dropped, lower-cased, stemmed), so the snippets are the ones tantivy would cut.

use std::collections::{BTreeMap, BTreeSet};

use tantivy::query::Query;
use tantivy::schema::Field;
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token, TokenFilter, TokenStream,
    Tokenizer,
};
use tantivy::{Score, Searcher, Term};

/// Longest word `en_stem` keeps (tantivy's default analyzers drop longer ones).
const LONGEST_WORD: usize = 40;

/// A snippet generator for `field` of `query`, with at most `max_chars` characters.
pub(crate) fn generator(
    searcher: &Searcher,
    query: &dyn Query,
    field: Field,
    max_chars: usize,
) -> tantivy::Result<SnippetGenerator> {
    let mut terms: BTreeSet<&Term> = BTreeSet::new();
    query.query_terms(&mut |term, _| {
        if term.field() == field {
            terms.insert(term);
        }
    });
    // Scored as `SnippetGenerator::create` scores them: rarer words weigh more.
    let mut weights: BTreeMap<String, Score> = BTreeMap::new();
    for term in terms {
        let value = term.value();
        let Some(text) = value.as_str() else {
            continue;
        };
        let freq = searcher.doc_freq(term)?;
        if freq > 0 {
            weights.insert(text.to_owned(), 1.0 / (1.0 + freq as Score));
        }
    }
    let initials: Vec<char> = weights.keys().filter_map(|t| t.chars().next()).collect();
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(LONGEST_WORD))
        .filter(LowerCaser)
        .filter(StemInitials(initials))
        .build();
    Ok(SnippetGenerator::new(weights, analyzer, field, max_chars))
}

/// Stems (English) the words starting with one of these letters; leaves the others as they are.
#[derive(Clone)]
struct StemInitials(Vec<char>);

impl TokenFilter for StemInitials {
    type Tokenizer<T: Tokenizer> = StemInitialsFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> StemInitialsFilter<T> {
        StemInitialsFilter {
            initials: self.0,
            inner,
        }
    }
}

#[derive(Clone)]
struct StemInitialsFilter<T> {
    initials: Vec<char>,
    inner: T,
}

impl<T: Tokenizer> Tokenizer for StemInitialsFilter<T> {
    type TokenStream<'a> = StemInitialsStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        StemInitialsStream {
            initials: &self.initials,
            stemmer: frostem::Stemmer::new(frostem::Algorithm::English),
            tail: self.inner.token_stream(text),
        }
    }
}

struct StemInitialsStream<'a, T> {
    initials: &'a [char],
    stemmer: frostem::Stemmer,
    tail: T,
}

impl<T: TokenStream> TokenStream for StemInitialsStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        let candidate = token
            .text
            .chars()
            .next()
            .is_some_and(|c| self.initials.contains(&c));
        if candidate {
            let stem = self.stemmer.stem(&token.text).into_owned();
            token.text = stem;
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words whose stems the rule relies on, the stemmer's own exceptions among them.
    const WORDS: &[&str] = &[
        "running",
        "dying",
        "lying",
        "tying",
        "skies",
        "ties",
        "cries",
        "early",
        "only",
        "generously",
        "organic",
        "organisation",
        "cotton",
        "candles",
        "yellow",
        "eyes",
        "hoodies",
        "bottles",
        "notebooks",
        "ceramics",
        "wool",
        "linen",
        "travelling",
        "a",
        "is",
        "happy",
        "yearly",
        "news",
        "atlas",
        "idly",
        "ugly",
        "singly",
    ];

    #[test]
    fn a_stem_starts_with_its_words_first_letter() {
        let stemmer = frostem::Stemmer::new(frostem::Algorithm::English);
        for w in WORDS {
            let stem = stemmer.stem(w);
            assert_eq!(stem.chars().next(), w.chars().next(), "{w} → {stem}");
        }
    }

    #[test]
    fn snippets_match_tantivys_own() {
        use tantivy::schema::{STORED, Schema, TextFieldIndexing, TextOptions};
        use tantivy::{Index, doc};
        let mut b = Schema::builder();
        let opts = TextOptions::default()
            .set_indexing_options(TextFieldIndexing::default().set_tokenizer("en_stem"))
            | STORED;
        let body = b.add_text_field("body", opts);
        let index = Index::create_in_ram(b.build());
        let texts = [
            "Soft organic cotton, generously cut. Our candles are hand-poured; dying embers.",
            "Travelling light? These bottles keep drinks cold. Skies, ties and cries.",
            "A notebook with ceramic covers — for notebooks lovers, organically grown.",
        ];
        let mut w = index.writer(15_000_000).expect("writer");
        for t in texts {
            w.add_document(doc!(body => t)).expect("add");
        }
        w.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        for q in [
            "organic cotton",
            "candle die",
            "bottle sky tie",
            "notebooks ceramic",
        ] {
            let parser = tantivy::query::QueryParser::for_index(&index, vec![body]);
            let query = parser.parse_query(q).expect("query");
            let ours = generator(&searcher, &*query, body, 60).expect("ours");
            let mut theirs = SnippetGenerator::create(&searcher, &*query, body).expect("theirs");
            theirs.set_max_num_chars(60);
            for t in texts {
                let (a, b) = (ours.snippet(t), theirs.snippet(t));
                assert_eq!(a.to_html(), b.to_html(), "query {q:?} on {t:?}");
            }
            let highlighted = texts
                .iter()
                .any(|t| ours.snippet(t).to_html().contains("<b>"));
            assert!(highlighted, "{q}: no text highlighted");
        }
    }
}
