//! Deterministic, sticky assignment: a subject's arm is a function of (subject, experiment key,
//! salt) alone — SHA-256 of the three into one of 10,000 buckets, the buckets split by the arms'
//! weights — so it is the same on every call, after every restart and on every node, with
//! nothing stored. Arms cannot change while an experiment runs, so nobody moves between arms.

use sha2::{Digest, Sha256};

use super::model::{Arm, Audience, Experiment, Status};
use crate::core::{CustomerId, Timestamp};

/// Buckets a subject hashes into.
pub const BUCKETS: u64 = 10_000;

/// Who is assigned: an anonymous visitor (by the visitor-id cookie) or a signed-in customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A visitor id (the `shopd_vid` cookie, or a caller's own id for server-side callers).
    Visitor(String),
    /// A signed-in customer.
    Customer(CustomerId),
}

impl Subject {
    /// The subject as hashed and stored: `v:<id>` or `c:<customer id>`.
    pub fn key(&self) -> String {
        match self {
            Subject::Visitor(v) => format!("v:{v}"),
            Subject::Customer(c) => format!("c:{c}"),
        }
    }
}

/// The subject's bucket in `0..BUCKETS` for an experiment.
pub fn bucket(subject: &str, experiment: &str, salt: &str) -> u64 {
    let mut h = Sha256::new();
    for part in [subject, experiment, salt] {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") hash differently.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// The arm owning `bucket` when the buckets are split by `arms`' weights, in order.
pub fn arm_of(arms: &[Arm], bucket: u64) -> Option<&Arm> {
    let total: u64 = arms.iter().map(|a| u64::from(a.weight)).sum();
    if total == 0 {
        return None;
    }
    // The bucket's place on the weights' scale: [0, total).
    let point = bucket * total / BUCKETS;
    let mut upto = 0u64;
    arms.iter().find(|a| {
        upto += u64::from(a.weight);
        point < upto
    })
}

/// Whether `e` takes `subject` at `now`: running, within its dates, in its audience.
pub fn eligible(e: &Experiment, subject: &Subject, now: Timestamp) -> bool {
    let in_audience = matches!(
        (e.audience, subject),
        (Audience::Everyone, _)
            | (Audience::Anonymous, Subject::Visitor(_))
            | (Audience::SignedIn, Subject::Customer(_))
    );
    in_audience && live(e, now)
}

/// Whether `e` runs at `now` (running, within its dates).
pub fn live(e: &Experiment, now: Timestamp) -> bool {
    e.status == Status::Running
        && e.starts_at.is_none_or(|s| now >= s)
        && e.ends_at.is_none_or(|end| now < end)
}

/// The arm `subject` sees in `e` at `now`, if it takes part.
pub fn assign<'a>(e: &'a Experiment, subject: &Subject, now: Timestamp) -> Option<&'a Arm> {
    if !eligible(e, subject, now) {
        return None;
    }
    arm_of(&e.arms, bucket(&subject.key(), &e.key, &e.salt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{ChiSquared, ContinuousCDF};

    fn arms(weights: &[u32]) -> Vec<Arm> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| Arm {
                key: format!("a{i}"),
                weight: *w,
            })
            .collect()
    }

    #[test]
    fn buckets_are_stable_and_independent_between_experiments() {
        assert_eq!(
            bucket("v:abc", "button", "s1"),
            bucket("v:abc", "button", "s1")
        );
        let same = (0..1_000)
            .filter(|i| {
                let s = format!("v:{i}");
                bucket(&s, "one", "x") * 2 / BUCKETS == bucket(&s, "two", "y") * 2 / BUCKETS
            })
            .count();
        // Independent halves agree about half the time.
        assert!((430..=570).contains(&same), "{same}");
    }

    /// 100,000 subjects follow the weights: a chi-square goodness of fit that does not reject
    /// at 0.001, for several splits (subjects fixed, so the result is too).
    #[test]
    fn a_hundred_thousand_subjects_follow_the_weights() {
        for weights in [&[1, 1][..], &[90, 10], &[50, 25, 25], &[1, 2, 3, 4]] {
            let a = arms(weights);
            let mut counts = vec![0u64; a.len()];
            for i in 0..100_000 {
                let arm =
                    arm_of(&a, bucket(&format!("v:visitor-{i}"), "split", "salt")).expect("an arm");
                let k = a.iter().position(|x| x.key == arm.key).expect("known");
                counts[k] += 1;
            }
            let total: u32 = weights.iter().sum();
            let chi: f64 = counts
                .iter()
                .zip(weights.iter())
                .map(|(&o, &w)| {
                    let e = 100_000.0 * f64::from(w) / f64::from(total);
                    (o as f64 - e).powi(2) / e
                })
                .sum();
            let p = ChiSquared::new((weights.len() - 1) as f64)
                .expect("df")
                .sf(chi);
            assert!(p > 0.001, "{weights:?}: {counts:?}, chi² {chi}, p {p}");
        }
    }

    #[test]
    fn every_bucket_has_an_arm_in_order() {
        let a = arms(&[1, 3]);
        assert_eq!(arm_of(&a, 0).map(|x| x.key.as_str()), Some("a0"));
        assert_eq!(arm_of(&a, 2_499).map(|x| x.key.as_str()), Some("a0"));
        assert_eq!(arm_of(&a, 2_500).map(|x| x.key.as_str()), Some("a1"));
        assert_eq!(arm_of(&a, BUCKETS - 1).map(|x| x.key.as_str()), Some("a1"));
        assert!(arm_of(&[], 5).is_none());
    }
}
