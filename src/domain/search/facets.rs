//! Facet counting over a flat, per-segment table of each document's facet values (categories,
//! tags, option values and price bucket), kept in memory beside the index.
//!
//! tantivy's own facet collector decodes three multi-valued columns per matching document; on a
//! 100,000-product catalog that was most of a broad query's time. Here a segment's values are
//! decoded once, when a reader first sees the segment (segments are immutable, so the table
//! never goes stale), and a query's count is one tight loop of increments per matching
//! document. Tables of segments no live searcher uses are dropped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::index::SegmentId;
use tantivy::schema::Facet;
use tantivy::{DocId, Score, Searcher, SearcherGeneration, SegmentReader, Warmer};

/// Price bucket lower edges in minor units; each bucket ends where the next begins.
pub(crate) const PRICE_EDGES: [u64; 5] = [0, 1_000, 2_500, 5_000, 10_000];

pub(crate) fn bucket_of(price: u64) -> usize {
    PRICE_EDGES.iter().rposition(|e| price >= *e).unwrap_or(0)
}

/// One countable facet value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum FacetKey {
    /// Category id.
    Category(String),
    /// Lower-cased tag.
    Tag(String),
    /// Option name and value, joined by U+001F as indexed.
    Option(String),
    /// Index into `PRICE_EDGES`.
    Price(usize),
}

/// Builds the key of a facet field's value.
type MakeKey = fn(String) -> FacetKey;

/// The facet values of every document of one segment.
#[derive(Debug, Default)]
pub(crate) struct SegmentFacets {
    /// `values[offsets[d]..offsets[d + 1]]` are document `d`'s value ids.
    offsets: Vec<u32>,
    values: Values,
    /// Value id → what it counts.
    keys: Vec<FacetKey>,
}

/// Value ids, two bytes each while a segment has at most 65,536 distinct values (half the
/// memory traffic per counted document), four bytes otherwise.
#[derive(Debug)]
enum Values {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl Default for Values {
    fn default() -> Self {
        Values::Narrow(Vec::new())
    }
}

impl SegmentFacets {
    fn build(reader: &SegmentReader) -> tantivy::Result<SegmentFacets> {
        let mut out = SegmentFacets {
            offsets: Vec::with_capacity(reader.max_doc() as usize + 1),
            values: Values::default(),
            keys: Vec::new(),
        };
        let mut values: Vec<u32> = Vec::new();
        // Per field: facet ordinal → value id, resolved lazily.
        let fields: [(&str, MakeKey); 3] = [
            ("category", FacetKey::Category),
            ("tag", FacetKey::Tag),
            ("option", FacetKey::Option),
        ];
        let mut readers = Vec::new();
        for (name, make) in fields {
            let r = reader.facet_reader(name)?;
            let ids = vec![u32::MAX; r.num_facets()];
            readers.push((r, make, ids));
        }
        let price = reader.fast_fields().u64("price")?;
        let price_ids: Vec<u32> = (0..PRICE_EDGES.len())
            .map(|i| {
                out.keys.push(FacetKey::Price(i));
                (out.keys.len() - 1) as u32
            })
            .collect();
        let mut facet = Facet::root();
        out.offsets.push(0);
        for doc in 0..reader.max_doc() {
            for (r, make, ids) in readers.iter_mut() {
                for ord in r.facet_ords(doc) {
                    let Some(slot) = ids.get_mut(ord as usize) else {
                        continue;
                    };
                    if *slot == u32::MAX {
                        r.facet_from_ord(ord, &mut facet)?;
                        let label = facet.to_path().last().map(|s| s.to_string());
                        out.keys.push(make(label.unwrap_or_default()));
                        *slot = (out.keys.len() - 1) as u32;
                    }
                    values.push(*slot);
                }
            }
            if let Some(p) = price.values_for_doc(doc).next() {
                values.push(price_ids[bucket_of(p)]);
            }
            out.offsets.push(values.len() as u32);
        }
        out.values = if out.keys.len() <= usize::from(u16::MAX) + 1 {
            Values::Narrow(values.into_iter().map(|v| v as u16).collect())
        } else {
            values.shrink_to_fit();
            Values::Wide(values)
        };
        Ok(out)
    }

    /// Approximate heap bytes, for the diagnostics log line.
    fn heap_bytes(&self) -> usize {
        self.offsets.len() * 4
            + match &self.values {
                Values::Narrow(v) => v.len() * 2,
                Values::Wide(v) => v.len() * 4,
            }
            + self.keys.iter().map(|k| 32 + key_len(k)).sum::<usize>()
    }
}

fn key_len(k: &FacetKey) -> usize {
    match k {
        FacetKey::Category(s) | FacetKey::Tag(s) | FacetKey::Option(s) => s.len(),
        FacetKey::Price(_) => 0,
    }
}

/// Tables of the segments live searchers use; also the reader's warmer, so a table is built
/// when a segment appears rather than by the first query that meets it.
#[derive(Debug, Default)]
pub(crate) struct FacetCache {
    segments: RwLock<HashMap<SegmentId, Arc<SegmentFacets>>>,
}

impl FacetCache {
    fn get_or_build(&self, reader: &SegmentReader) -> tantivy::Result<Arc<SegmentFacets>> {
        let id = reader.segment_id();
        if let Some(t) = crate::core::sync::read(&self.segments).get(&id) {
            return Ok(t.clone());
        }
        let table = Arc::new(SegmentFacets::build(reader)?);
        let mut w = crate::core::sync::write(&self.segments);
        Ok(w.entry(id).or_insert(table).clone())
    }

    /// Heap held by all tables.
    pub(crate) fn heap_bytes(&self) -> usize {
        crate::core::sync::read(&self.segments)
            .values()
            .map(|t| t.heap_bytes())
            .sum()
    }
}

impl Warmer for FacetCache {
    fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        for r in searcher.segment_readers() {
            self.get_or_build(r)?;
        }
        Ok(())
    }

    fn garbage_collect(&self, live_generations: &[&SearcherGeneration]) {
        let live: HashSet<SegmentId> = live_generations
            .iter()
            .flat_map(|g| g.segments().keys().copied())
            .collect();
        let mut w = crate::core::sync::write(&self.segments);
        w.retain(|id, _| live.contains(id));
    }
}

/// Counts every facet value over the matching documents, in the same pass as the hits.
pub(crate) struct FacetCounter(pub(crate) Arc<FacetCache>);

/// Counts of one segment, with the table naming them.
pub(crate) struct SegmentCounter {
    table: Arc<SegmentFacets>,
    counts: Vec<u32>,
}

impl Collector for FacetCounter {
    type Fruit = BTreeMap<FacetKey, u64>;
    type Child = SegmentCounter;

    fn for_segment(
        &self,
        _segment_local_id: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentCounter> {
        let table = self.0.get_or_build(reader)?;
        Ok(SegmentCounter {
            counts: vec![0; table.keys.len()],
            table,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, parts: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut total = BTreeMap::new();
        for part in parts {
            for (k, n) in part {
                *total.entry(k).or_insert(0) += n;
            }
        }
        Ok(total)
    }
}

impl SegmentCounter {
    #[inline]
    fn count(&mut self, doc: DocId) {
        let t = &*self.table;
        let Some(bounds) = t.offsets.get(doc as usize..doc as usize + 2) else {
            return;
        };
        let range = bounds[0] as usize..bounds[1] as usize;
        match &t.values {
            Values::Narrow(v) => add(&mut self.counts, v.get(range)),
            Values::Wide(v) => add(&mut self.counts, v.get(range)),
        }
    }
}

#[inline]
fn add<V: Copy + Into<u32>>(counts: &mut [u32], values: Option<&[V]>) {
    for &v in values.unwrap_or_default() {
        if let Some(c) = counts.get_mut(v.into() as usize) {
            *c += 1;
        }
    }
}

impl SegmentCollector for SegmentCounter {
    type Fruit = BTreeMap<FacetKey, u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.count(doc);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        for &doc in docs {
            self.count(doc);
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.table
            .keys
            .iter()
            .zip(self.counts)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.clone(), u64::from(n)))
            .collect()
    }
}
