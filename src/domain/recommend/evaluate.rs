//! Offline evaluation: replays the shop's counted order history and measures, for every
//! strategy, how well its top k would have predicted what customers bought next. Two splits:
//! leave-last-out (each customer's last order held out, everything else trains) and a time
//! split (orders before the 80th percentile of time train; each customer's first order after
//! it is the test). The models are built from the training orders with the same scoring
//! rules ([`super::rank`]) the live lists use.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::history::{Basket, HISTORY, normalise};
use super::rank::{self, Bought};
use super::{CACHED, RecommendError, Recommender, SIMILAR, Strategy};
use crate::core::ProductId;
use crate::storage::{Order, Reader};

/// Baskets read per page of history.
const PAGE: usize = 10_000;

/// One strategy's figures on one split.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The strategy.
    pub strategy: &'static str,
    /// Share of test orders with at least one recommended product in them.
    pub hit_rate: f64,
    /// Mean share of a test order's products that were recommended.
    pub recall: f64,
    /// Mean normalised discounted cumulative gain (binary relevance).
    pub ndcg: f64,
    /// Distinct products recommended across all test orders, over the catalog's size.
    pub coverage: f64,
}

/// The figures of one split.
#[derive(Clone, Debug, Serialize)]
pub struct Split {
    /// `leave-last-out` or `time`.
    pub name: &'static str,
    /// Test orders.
    pub cases: usize,
    /// Orders the models learnt from.
    pub training_orders: usize,
    /// One row per strategy.
    pub rows: Vec<Row>,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Recommendations per case.
    pub k: usize,
    /// Orders replayed.
    pub orders: usize,
    /// Products in the catalog (coverage's denominator).
    pub catalog: usize,
    /// Leave-last-out, then the time split.
    pub splits: Vec<Split>,
}

/// Counts learnt from training orders, as the live tables hold them.
#[derive(Default)]
struct Model {
    orders_with: HashMap<ProductId, u64>,
    pairs: HashMap<ProductId, HashMap<ProductId, u64>>,
    daily: Vec<(u32, ProductId, u64)>,
    bought: HashMap<String, HashMap<ProductId, Bought>>,
    together: std::cell::RefCell<HashMap<ProductId, Vec<(ProductId, f64)>>>,
}

impl Model {
    fn learn(train: &[&Basket]) -> Model {
        let mut m = Model::default();
        let mut daily: HashMap<(u32, ProductId), u64> = HashMap::new();
        for b in train {
            let lines = normalise(&b.lines);
            let at = b.at.as_millis();
            for (p, q) in &lines {
                *m.orders_with.entry(*p).or_default() += 1;
                *daily.entry((rank::day_of(at), *p)).or_default() += u64::from(*q);
                if let Some(c) = &b.customer {
                    let e = m
                        .bought
                        .entry(c.clone())
                        .or_default()
                        .entry(*p)
                        .or_default();
                    e.orders += 1;
                    e.qty += u64::from(*q);
                    e.last_ms = e.last_ms.max(at);
                }
                for (o, _) in lines.iter().filter(|(o, _)| o != p) {
                    *m.pairs.entry(*p).or_default().entry(*o).or_default() += 1;
                }
            }
        }
        m.daily = daily.into_iter().map(|((d, p), q)| (d, p, q)).collect();
        m
    }

    /// `p`'s bought-together list, as `refresh::rank_partners` ranks it.
    fn together(&self, p: ProductId) -> Vec<(ProductId, f64)> {
        if let Some(l) = self.together.borrow().get(&p) {
            return l.clone();
        }
        let own = self.orders_with.get(&p).copied().unwrap_or(0);
        let scores = self
            .pairs
            .get(&p)
            .map(|qs| {
                qs.iter()
                    .map(|(q, both)| {
                        let theirs = self.orders_with.get(q).copied().unwrap_or(0);
                        (*q, rank::cosine(*both, own, theirs))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let list = rank::top(scores, CACHED);
        self.together.borrow_mut().insert(p, list.clone());
        list
    }
}

/// A ranked list of products with scores.
type Scored = Vec<(ProductId, f64)>;

/// What each strategy would show for one test order.
struct Case<'a> {
    customer: &'a str,
    last_order: &'a [ProductId],
    at_ms: i64,
    relevant: HashSet<ProductId>,
}

fn recommend(
    s: Strategy,
    case: &Case<'_>,
    m: &Model,
    lists: &(Scored, Scored),
    similar: &dyn Fn(ProductId) -> Vec<(ProductId, f64)>,
    k: usize,
) -> Vec<ProductId> {
    let bought: Vec<(ProductId, Bought)> = m
        .bought
        .get(case.customer)
        .map(|b| b.iter().map(|(p, x)| (*p, *x)).collect())
        .unwrap_or_default();
    let ranked = match s {
        Strategy::Popular => lists.0.clone(),
        Strategy::Trending => lists.1.clone(),
        Strategy::Similar => rank::together_of_many(case.last_order, similar, k),
        Strategy::BoughtTogether => rank::together_of_many(case.last_order, |p| m.together(p), k),
        Strategy::BuyAgain => rank::buy_again(&bought, case.at_ms, k),
        Strategy::ForYou => {
            let mut v = rank::for_you(&bought, |p| m.together(p), case.at_ms, k);
            v.extend(lists.0.iter().copied());
            v
        }
    };
    let mut seen = HashSet::new();
    ranked
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| seen.insert(*p))
        .take(k)
        .collect()
}

/// Scores one split: `cases` are (training history of the customer, test basket).
fn score(
    name: &'static str,
    train: &[&Basket],
    cases: &[(Vec<ProductId>, &Basket)],
    similar: &dyn Fn(ProductId) -> Vec<(ProductId, f64)>,
    catalog: usize,
    k: usize,
    progress: &mut dyn FnMut(u64),
) -> Split {
    let m = Model::learn(train);
    let now = train.iter().map(|b| b.at.as_millis()).max().unwrap_or(0);
    let today = rank::day_of(now);
    let lists = (
        rank::popular(&m.daily, today, CACHED),
        rank::trending(&m.daily, today, CACHED),
    );
    let mut sums: HashMap<Strategy, (f64, f64, f64, HashSet<ProductId>)> = HashMap::new();
    for (i, (last_order, test)) in cases.iter().enumerate() {
        let case = Case {
            customer: test.customer.as_deref().unwrap_or(""),
            last_order,
            at_ms: test.at.as_millis(),
            relevant: test.lines.iter().map(|(p, _)| *p).collect(),
        };
        for s in Strategy::ALL {
            let recs = recommend(s, &case, &m, &lists, similar, k);
            let e = sums.entry(s).or_default();
            let hits: Vec<usize> = (0..recs.len())
                .filter(|&j| case.relevant.contains(&recs[j]))
                .collect();
            e.0 += f64::from(u8::from(!hits.is_empty()));
            e.1 += hits.len() as f64 / case.relevant.len().max(1) as f64;
            let dcg: f64 = hits.iter().map(|&j| 1.0 / ((j + 2) as f64).log2()).sum();
            let idcg: f64 = (0..case.relevant.len().min(k))
                .map(|j| 1.0 / ((j + 2) as f64).log2())
                .sum();
            e.2 += if idcg > 0.0 { dcg / idcg } else { 0.0 };
            e.3.extend(recs);
        }
        progress(i as u64 + 1);
    }
    let n = cases.len().max(1) as f64;
    let rows = Strategy::ALL
        .iter()
        .map(|s| {
            let e = sums.remove(s).unwrap_or_default();
            Row {
                strategy: s.as_str(),
                hit_rate: e.0 / n,
                recall: e.1 / n,
                ndcg: e.2 / n,
                coverage: e.3.len() as f64 / catalog.max(1) as f64,
            }
        })
        .collect();
    Split {
        name,
        cases: cases.len(),
        training_orders: train.len(),
        rows,
    }
}

/// The products of each customer's latest basket in `train` before the test.
fn last_orders<'a>(train: &[&'a Basket]) -> HashMap<&'a str, Vec<ProductId>> {
    let mut last: HashMap<&str, &Basket> = HashMap::new();
    for b in train {
        if let Some(c) = b.customer.as_deref() {
            last.insert(c, b);
        }
    }
    last.into_iter()
        .map(|(c, b)| (c, b.lines.iter().map(|(p, _)| *p).collect()))
        .collect()
}

/// Evaluates every strategy on `baskets` (in time order) at `k`. `progress(done, total)`.
pub fn evaluate(
    baskets: &[Basket],
    similar: &dyn Fn(ProductId) -> Vec<(ProductId, f64)>,
    catalog: usize,
    k: usize,
    progress: &mut dyn FnMut(u64, u64),
) -> Report {
    // Leave-last-out: each repeat customer's last basket.
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut orders_of: HashMap<&str, usize> = HashMap::new();
    for (i, b) in baskets.iter().enumerate() {
        if let Some(c) = b.customer.as_deref() {
            last.insert(c, i);
            *orders_of.entry(c).or_default() += 1;
        }
    }
    let held: HashSet<usize> = last
        .iter()
        .filter(|(c, _)| orders_of.get(*c).copied().unwrap_or(0) >= 2)
        .map(|(_, i)| *i)
        .collect();
    let train: Vec<&Basket> = baskets
        .iter()
        .enumerate()
        .filter(|(i, _)| !held.contains(i))
        .map(|(_, b)| b)
        .collect();
    let prior = last_orders(&train);
    let mut held_sorted: Vec<usize> = held.into_iter().collect();
    held_sorted.sort_unstable();
    let loo: Vec<(Vec<ProductId>, &Basket)> = held_sorted
        .iter()
        .map(|&i| {
            let b = &baskets[i];
            let c = b.customer.as_deref().unwrap_or("");
            (prior.get(c).cloned().unwrap_or_default(), b)
        })
        .collect();
    // Time split at the 80th percentile: each customer's first later basket, when the customer
    // bought before it.
    let cut = baskets.len() * 4 / 5;
    let (before, after) = baskets.split_at(cut);
    let train_t: Vec<&Basket> = before.iter().collect();
    let prior_t = last_orders(&train_t);
    let mut tested = HashSet::new();
    let timed: Vec<(Vec<ProductId>, &Basket)> = after
        .iter()
        .filter_map(|b| {
            let c = b.customer.as_deref()?;
            let seeds = prior_t.get(c)?;
            tested.insert(c).then(|| (seeds.clone(), b))
        })
        .collect();
    let total = (loo.len() + timed.len()) as u64;
    let mut done_loo = 0;
    let a = score(
        "leave-last-out",
        &train,
        &loo,
        similar,
        catalog,
        k,
        &mut |d| {
            done_loo = d;
            progress(d, total)
        },
    );
    let b = score("time", &train_t, &timed, similar, catalog, k, &mut |d| {
        progress(done_loo + d, total)
    });
    Report {
        k,
        orders: baskets.len(),
        catalog,
        splits: vec![a, b],
    }
}

impl Recommender {
    /// Every counted basket, in time order (offline: the evaluation reads the whole history),
    /// `progress` following the baskets read.
    pub fn history(&self, progress: &mut dyn FnMut(u64)) -> Result<Vec<Basket>, RecommendError> {
        let r = self.store.read()?;
        let mut out: Vec<Basket> = Vec::new();
        let mut after: Option<(i64, String)> = None;
        loop {
            let lo = match &after {
                Some(a) => std::ops::Bound::Excluded(a),
                None => std::ops::Bound::Unbounded,
            };
            let page = r.range(&HISTORY, lo, std::ops::Bound::Unbounded, Order::Asc, PAGE)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = Some(last.clone());
            out.extend(page.into_iter().map(|(_, b)| b));
            progress(out.len() as u64);
        }
        Ok(out)
    }

    /// The cached `similar` list of `p` (content, so no order history leaks into it).
    pub fn similar_list(&self, p: ProductId) -> Vec<(ProductId, f64)> {
        self.store
            .read()
            .ok()
            .and_then(|r| r.get(&SIMILAR, &p).ok().flatten())
            .unwrap_or_default()
            .scores()
    }
}
