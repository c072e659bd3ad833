//! The scoring rules, as pure functions over counts: the lists the shop serves and
//! `shopd recommend evaluate` rank with the same code, so the evaluation measures what
//! customers see.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::core::ProductId;

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// `popular` counts order lines of the last this many days.
pub const POPULAR_WINDOW_DAYS: u32 = 30;
/// `trending` halves a sale's weight every this many days.
pub const TRENDING_HALF_LIFE_DAYS: f64 = 3.0;
/// `trending` reads this many days (older sales weigh under 1/100).
pub const TRENDING_WINDOW_DAYS: u32 = 21;
/// `buy_again` halves a purchase's weight every this many days.
pub const BUY_AGAIN_HALF_LIFE_DAYS: f64 = 90.0;
/// `for_you` halves a purchase's pull on its partners every this many days.
pub const FOR_YOU_HALF_LIFE_DAYS: f64 = 30.0;
/// `for_you` starts from the customer's most recent this many products.
pub const FOR_YOU_SEEDS: usize = 20;
/// Weight of the buy-again part in `for_you` (the co-occurrence part weighs 1).
pub const FOR_YOU_AGAIN_WEIGHT: f64 = 0.5;

/// The day (since the epoch) holding `ms`.
pub fn day_of(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(DAY_MS)).unwrap_or(0)
}

/// Co-occurrence normalised by cosine: count(a, b) / √(count(a)·count(b)), so best-sellers do
/// not top every list.
pub fn cosine(both: u64, a: u64, b: u64) -> f64 {
    both as f64 / ((a.max(1) as f64) * (b.max(1) as f64)).sqrt()
}

/// 0.5 to the power of `age / half_life` (ages below zero count as zero).
pub fn decay(age_ms: i64, half_life_days: f64) -> f64 {
    let days = age_ms.max(0) as f64 / DAY_MS as f64;
    0.5f64.powf(days / half_life_days)
}

/// The `n` best of `scores`, best first, ties by id (deterministic).
pub fn top(scores: HashMap<ProductId, f64>, n: usize) -> Vec<(ProductId, f64)> {
    let mut v: Vec<(ProductId, f64)> = scores.into_iter().filter(|(_, s)| *s > 0.0).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Units sold of the last [`POPULAR_WINDOW_DAYS`] days up to `today`, from daily quantities.
pub fn popular(daily: &[(u32, ProductId, u64)], today: u32, n: usize) -> Vec<(ProductId, f64)> {
    let from = today.saturating_sub(POPULAR_WINDOW_DAYS - 1);
    let mut scores: HashMap<ProductId, f64> = HashMap::new();
    for (day, p, qty) in daily.iter().filter(|(d, _, _)| (from..=today).contains(d)) {
        let _ = day;
        *scores.entry(*p).or_default() += *qty as f64;
    }
    top(scores, n)
}

/// Units sold, each weighted by its age ([`TRENDING_HALF_LIFE_DAYS`]): what sells now.
pub fn trending(daily: &[(u32, ProductId, u64)], today: u32, n: usize) -> Vec<(ProductId, f64)> {
    let from = today.saturating_sub(TRENDING_WINDOW_DAYS - 1);
    let mut scores: HashMap<ProductId, f64> = HashMap::new();
    for (day, p, qty) in daily.iter().filter(|(d, _, _)| (from..=today).contains(d)) {
        let age = i64::from(today - day) * DAY_MS;
        *scores.entry(*p).or_default() += *qty as f64 * decay(age, TRENDING_HALF_LIFE_DAYS);
    }
    top(scores, n)
}

/// One customer's purchases of one product.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bought {
    /// Paid orders holding it.
    pub orders: u32,
    /// Units bought.
    pub qty: u64,
    /// When it was last bought (ms since the epoch).
    pub last_ms: i64,
}

/// The customer's own products again, repeat purchases first: orders holding the product,
/// weighted by how long ago it was last bought ([`BUY_AGAIN_HALF_LIFE_DAYS`]).
pub fn buy_again(bought: &[(ProductId, Bought)], now_ms: i64, n: usize) -> Vec<(ProductId, f64)> {
    let scores = bought
        .iter()
        .map(|(p, b)| {
            let s = f64::from(b.orders) * decay(now_ms - b.last_ms, BUY_AGAIN_HALF_LIFE_DAYS);
            (*p, s)
        })
        .collect();
    top(scores, n)
}

/// The customer's history through co-occurrence, blended with buy-again: each of the most
/// recent [`FOR_YOU_SEEDS`] products pulls its bought-together partners by its recency and
/// repeat count; both parts are scaled to a best of 1 and the buy-again part weighs
/// [`FOR_YOU_AGAIN_WEIGHT`]. An empty answer means: fall back to `popular`.
pub fn for_you(
    bought: &[(ProductId, Bought)],
    mut together: impl FnMut(ProductId) -> Vec<(ProductId, f64)>,
    now_ms: i64,
    n: usize,
) -> Vec<(ProductId, f64)> {
    let mut seeds: Vec<&(ProductId, Bought)> = bought.iter().collect();
    seeds.sort_by(|a, b| b.1.last_ms.cmp(&a.1.last_ms).then(a.0.cmp(&b.0)));
    seeds.truncate(FOR_YOU_SEEDS);
    let mut co: HashMap<ProductId, f64> = HashMap::new();
    for (p, b) in seeds {
        let pull =
            decay(now_ms - b.last_ms, FOR_YOU_HALF_LIFE_DAYS) * (1.0 + f64::from(b.orders).ln());
        for (q, s) in together(*p) {
            *co.entry(q).or_default() += pull * s;
        }
    }
    let again = buy_again(bought, now_ms, n.max(FOR_YOU_SEEDS));
    let scale = |m: f64| if m > 0.0 { 1.0 / m } else { 0.0 };
    let co_scale = scale(co.values().copied().fold(0.0, f64::max));
    let again_scale = scale(again.first().map_or(0.0, |(_, s)| *s));
    let mut blend: HashMap<ProductId, f64> =
        co.into_iter().map(|(p, s)| (p, s * co_scale)).collect();
    for (p, s) in again {
        *blend.entry(p).or_default() += FOR_YOU_AGAIN_WEIGHT * s * again_scale;
    }
    top(blend, n)
}

/// The partners of several products at once (a cart, an order), their scores summed, the
/// products themselves left out.
pub fn together_of_many(
    seeds: &[ProductId],
    mut together: impl FnMut(ProductId) -> Vec<(ProductId, f64)>,
    n: usize,
) -> Vec<(ProductId, f64)> {
    let mut scores: HashMap<ProductId, f64> = HashMap::new();
    for p in seeds {
        for (q, s) in together(*p) {
            *scores.entry(q).or_default() += s;
        }
    }
    for p in seeds {
        scores.remove(p);
    }
    top(scores, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Timestamp;

    fn pid(n: i64) -> ProductId {
        ProductId::new(Timestamp::from_millis(1_000 + n))
    }

    #[test]
    fn popular_counts_only_the_window_and_trending_prefers_recent_sales() {
        let (a, b) = (pid(1), pid(2));
        // a sold 10 units 20 days ago, b 6 units today; c sold 100 units 40 days ago.
        let c = pid(3);
        let daily = vec![(80, a, 10), (100, b, 6), (60, c, 100)];
        let pop = popular(&daily, 100, 10);
        assert_eq!(pop.iter().map(|x| x.0).collect::<Vec<_>>(), vec![a, b]);
        let tr = trending(&daily, 100, 10);
        assert_eq!(tr.iter().map(|x| x.0).collect::<Vec<_>>(), vec![b, a]);
    }

    #[test]
    fn buy_again_puts_repeats_first_and_for_you_blends_partners() {
        let (a, b, c, d) = (pid(1), pid(2), pid(3), pid(4));
        let now = 1_000 * DAY_MS;
        let bought = vec![
            (
                a,
                Bought {
                    orders: 3,
                    qty: 3,
                    last_ms: now - DAY_MS,
                },
            ),
            (
                b,
                Bought {
                    orders: 1,
                    qty: 1,
                    last_ms: now - DAY_MS,
                },
            ),
        ];
        let again = buy_again(&bought, now, 10);
        assert_eq!(again[0].0, a);
        let lists = |p: ProductId| {
            if p == a {
                vec![(c, 0.9), (d, 0.1)]
            } else {
                vec![(d, 0.2)]
            }
        };
        let fy = for_you(&bought, lists, now, 10);
        assert_eq!(fy[0].0, c, "{fy:?}");
        assert!(
            fy.iter().any(|x| x.0 == a),
            "buy-again part present: {fy:?}"
        );
        assert!(for_you(&[], lists, now, 10).is_empty());
        let many = together_of_many(&[a, b], lists, 10);
        assert_eq!(many.iter().map(|x| x.0).collect::<Vec<_>>(), vec![c, d]);
    }
}
