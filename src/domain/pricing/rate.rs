//! Rates and percentages as exact integers (parts per million), and the one rounding rule every
//! amount in a quote goes through, so no float ever touches money.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Parts per million in 100 %.
const WHOLE: i128 = 1_000_000;

/// A tax rate or a percentage off, exact to 1/10,000 of a percent (8.875 % is 88,750 ppm).
/// On the wire it is a decimal percent string (`"8.875"`); an integer is accepted too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(u32);

/// Why a percentage was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a percent from 0 to 100 with at most 4 decimals, such as \"19\" or \"8.875\"")]
pub struct RateError;

impl Rate {
    /// 0 %.
    pub const ZERO: Rate = Rate(0);
    /// 100 %.
    pub const FULL: Rate = Rate(1_000_000);

    /// From parts per million (at most 100 %).
    pub fn from_ppm(ppm: u32) -> Result<Rate, RateError> {
        if i128::from(ppm) <= WHOLE {
            Ok(Rate(ppm))
        } else {
            Err(RateError)
        }
    }

    /// A whole percent (`Rate::percent(19)`), for code and tests.
    pub fn percent(p: u32) -> Rate {
        Rate(p.min(100) * 10_000)
    }

    /// Parts per million.
    pub fn ppm(self) -> u32 {
        self.0
    }

    /// Whether this is 0 %.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses a decimal percent: `"19"`, `"7.5"`, `"8.875"` (at most 4 decimals, 0–100).
    pub fn parse(s: &str) -> Result<Rate, RateError> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || int.len() > 3 || frac.len() > 4 || !digits(int) || !digits(frac) {
            return Err(RateError);
        }
        if s.contains('.') && frac.is_empty() {
            return Err(RateError);
        }
        let int: u32 = int.parse().map_err(|_| RateError)?;
        let mut f: u32 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| RateError)?
        };
        for _ in frac.len()..4 {
            f *= 10;
        }
        Rate::from_ppm(int * 10_000 + f)
    }

    /// This share of `amount`, rounded half away from zero.
    pub fn of(self, amount: i128) -> i128 {
        round_div(amount * i128::from(self.0), WHOLE)
    }

    /// The tax contained in a tax-inclusive `gross` at this rate: gross × r / (1 + r), rounded.
    pub fn contained_in(self, gross: i128) -> i128 {
        round_div(gross * i128::from(self.0), WHOLE + i128::from(self.0))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (int, frac) = (self.0 / 10_000, self.0 % 10_000);
        if frac == 0 {
            return write!(f, "{int}");
        }
        let digits = format!("{frac:04}");
        write!(f, "{int}.{}", digits.trim_end_matches('0'))
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Int(u32),
            Text(String),
        }
        if !d.is_human_readable() {
            return u32::deserialize(d).map(Rate);
        }
        match Wire::deserialize(d)? {
            Wire::Int(p) if p <= 100 => Ok(Rate(p * 10_000)),
            Wire::Int(_) => Err(serde::de::Error::custom(RateError)),
            Wire::Text(t) => Rate::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// `n / d` rounded half away from zero (`d` > 0): the commercial rounding of every amount.
pub fn round_div(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0);
    if n >= 0 {
        (2 * n + d) / (2 * d)
    } else {
        -((-2 * n + d) / (2 * d))
    }
}

/// Splits `total` (≥ 0) over `weights` (≥ 0) in proportion, by largest remainder: the parts
/// sum exactly to `total`, each is the floor of its exact share or one more, and no part
/// exceeds its weight while `total` ≤ the sum of weights. Ties go to the smaller `key`, so the
/// split does not depend on the order the weights come in. With all weights zero the total is
/// split evenly.
pub fn allocate<K: Ord>(total: i128, weights: &[(K, i128)]) -> Vec<i128> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: i128 = weights.iter().map(|(_, w)| *w).sum();
    let (weights_even, sum) = if sum > 0 {
        (false, sum)
    } else {
        (true, weights.len() as i128)
    };
    let share = |w: i128| if weights_even { 1 } else { w };
    let mut parts: Vec<i128> = weights
        .iter()
        .map(|(_, w)| total * share(*w) / sum)
        .collect();
    let mut left = total - parts.iter().sum::<i128>();
    if left > 0 {
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by(|&a, &b| {
            let ra = total * share(weights[a].1) % sum;
            let rb = total * share(weights[b].1) % sum;
            rb.cmp(&ra).then_with(|| weights[a].0.cmp(&weights[b].0))
        });
        for i in order {
            if left == 0 {
                break;
            }
            parts[i] += 1;
            left -= 1;
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_exact_percentages() {
        for (s, ppm, back) in [
            ("19", 190_000, "19"),
            ("7", 70_000, "7"),
            ("8.875", 88_750, "8.875"),
            ("0.0001", 1, "0.0001"),
            ("100", 1_000_000, "100"),
            ("12.50", 125_000, "12.5"),
        ] {
            let r = Rate::parse(s).expect(s);
            assert_eq!((r.ppm(), r.to_string().as_str()), (ppm, back), "{s}");
        }
        for bad in [
            "", "-1", "100.01", "1.23456", "1e2", "1.", ".5", "abc", "1000",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        let r: Rate = serde_json::from_str("19").expect("int");
        assert_eq!(r, Rate::percent(19));
        let r: Rate = serde_json::from_str("\"8.875\"").expect("text");
        assert_eq!(serde_json::to_string(&r).expect("json"), "\"8.875\"");
        assert!(serde_json::from_str::<Rate>("101").is_err());
        assert!(
            serde_json::from_str::<Rate>("19.5").is_err(),
            "no floats on the wire"
        );
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_div(5, 10), 1);
        assert_eq!(round_div(4, 10), 0);
        assert_eq!(round_div(-5, 10), -1);
        assert_eq!(round_div(15, 10), 2);
        // 19 % of 10.50 EUR = 1.995 → 2.00; 119.00 gross holds 19.00 of 19 % tax.
        assert_eq!(Rate::percent(19).of(1050), 200);
        assert_eq!(Rate::percent(19).contained_in(11900), 1900);
        assert_eq!(Rate::parse("8.875").expect("rate").of(10000), 888);
    }

    #[test]
    fn allocation_breaks_ties_by_key_not_position() {
        assert_eq!(allocate(1, &[("b", 1), ("a", 1)]), vec![0, 1]);
        assert_eq!(allocate(1, &[("a", 1), ("b", 1)]), vec![1, 0]);
        assert_eq!(
            allocate(100, &[("a", 1), ("b", 1), ("c", 1)]),
            vec![34, 33, 33]
        );
        assert_eq!(allocate(5, &[("a", 0), ("b", 0)]), vec![3, 2]);
        assert!(allocate::<u8>(5, &[]).is_empty());
    }

    proptest! {
        #[test]
        fn allocations_sum_exactly_and_respect_weights(
            total in 0i128..10_000_000,
            weights in proptest::collection::vec(0i128..1_000_000, 1..30),
        ) {
            let keyed: Vec<(usize, i128)> = weights.iter().copied().enumerate().collect();
            let parts = allocate(total, &keyed);
            prop_assert_eq!(parts.iter().sum::<i128>(), total);
            let sum: i128 = weights.iter().sum();
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0);
                if sum > 0 {
                    let exact_floor = total * w / sum;
                    prop_assert!(*p == exact_floor || *p == exact_floor + 1);
                    if total <= sum {
                        prop_assert!(p <= w);
                    }
                }
            }
        }
    }
}
