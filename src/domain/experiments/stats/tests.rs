//! The statistics against published numbers and simulations. The cross-check against scipy
//! and statsmodels on many data sets is the integration test `experiments_stats`.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::*;

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

#[test]
fn the_issues_worked_examples() {
    // Treatment 1,100/10,000 against control 1,000/10,000.
    let t = two_proportion_z((10_000, 1_000), (10_000, 1_100));
    assert_eq!(round(t.statistic, 6), 2.306635);
    assert_eq!(round(t.p_value, 6), 0.021075);
    // 50,000 against 51,000 at equal weights.
    let s = srm(&[50_000, 51_000], &[1.0, 1.0]);
    assert_eq!(round(s.chi_square, 4), 9.9010);
    assert_eq!(round(s.p_value, 7), 0.0016519);
    assert!(!s.mismatch, "p = 0.0017 is above the 0.001 alert");
    assert!(srm(&[50_000, 51_500], &[1.0, 1.0]).mismatch);
    assert!(!srm(&[50_000, 50_200], &[1.0, 1.0]).mismatch);
    // Nobody exposed yet: no evidence of a mismatch, and numbers (not NaN) to show.
    let none = srm(&[0, 0], &[1.0, 1.0]);
    assert_eq!(
        (none.chi_square, none.p_value, none.mismatch),
        (0.0, 1.0, false)
    );
}

#[test]
fn holm_steps_down_and_stays_monotone() {
    assert_eq!(holm(&[0.01, 0.04, 0.03]), vec![0.03, 0.06, 0.06]);
    assert_eq!(holm(&[0.5]), vec![0.5]);
    assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
}

/// One standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[test]
fn cuped_removes_the_share_of_variance_the_covariate_explains() {
    let mut rng = StdRng::seed_from_u64(7);
    let rho: f64 = 0.7;
    let mut m = Moments::default();
    for _ in 0..20_000 {
        let x = normal(&mut rng);
        let y = 10.0 + rho * x + (1.0 - rho * rho).sqrt() * normal(&mut rng);
        m.n += 1.0;
        m.sum += y;
        m.sum_sq += y * y;
        m.x_sum += x;
        m.x_sum_sq += x * x;
        m.xy_sum += x * y;
    }
    let theta = cuped_theta(&[m]);
    assert!((theta - rho).abs() < 0.02, "theta {theta}");
    let c = cuped(&m, theta, pooled_x_mean(&[m]));
    assert!(
        (c.variance_reduction - rho * rho).abs() < 0.02,
        "reduction {} against {}",
        c.variance_reduction,
        rho * rho
    );
    assert!(
        (c.adjusted.mean() - m.mean()).abs() < 1e-9,
        "one variant keeps its mean"
    );
    assert!((c.adjusted.variance() - m.variance() * (1.0 - c.variance_reduction)).abs() < 1e-9);
}

#[test]
fn the_confidence_sequence_is_wider_than_the_fixed_interval() {
    let (c, t) = (
        Moments::proportion(5_000, 500),
        Moments::proportion(5_000, 560),
    );
    let fixed = absolute_lift(&c, &t, 0.05);
    let seq = sequential(fixed, 10_000.0, DEFAULT_TUNING, 0.05);
    assert_eq!(seq.estimate, fixed.estimate);
    assert!(seq.high - seq.low > fixed.high - fixed.low);
    assert!(seq.low < fixed.low && seq.high > fixed.high);
}

/// 1,000 A/A tests of a 10 % conversion rate, 2,000 subjects a side, each looked at 20 times:
/// how many ever show an interval without 0, with the sequential and with the fixed interval.
fn peeking_false_positives() -> (usize, usize) {
    let mut rng = StdRng::seed_from_u64(2026);
    let (mut seq_fp, mut fixed_fp) = (0, 0);
    for _ in 0..1_000 {
        let (mut c, mut t) = (Moments::default(), Moments::default());
        let (mut seq_hit, mut fixed_hit) = (false, false);
        for _look in 1..=20 {
            for _ in 0..100 {
                for m in [&mut c, &mut t] {
                    let y = f64::from(u8::from(rng.random::<f64>() < 0.1));
                    m.n += 1.0;
                    m.sum += y;
                    m.sum_sq += y;
                }
            }
            let fixed = absolute_lift(&c, &t, 0.05);
            let seq = sequential(fixed, c.n + t.n, DEFAULT_TUNING, 0.05);
            fixed_hit |= fixed.low > 0.0 || fixed.high < 0.0;
            seq_hit |= seq.low > 0.0 || seq.high < 0.0;
        }
        seq_fp += usize::from(seq_hit);
        fixed_fp += usize::from(fixed_hit);
    }
    (seq_fp, fixed_fp)
}

#[test]
fn looking_twenty_times_keeps_the_sequential_false_positive_rate_within_five_percent() {
    let (seq, fixed) = peeking_false_positives();
    println!("A/A tests flagged of 1,000 looked at 20 times: sequential {seq}, fixed {fixed}");
    assert!(seq <= 50, "sequential: {seq} of 1,000 A/A tests flagged");
    // Peeking at a fixed-horizon interval is what the sequence protects against.
    assert!(
        fixed > seq && fixed > 50,
        "fixed: {fixed}, sequential: {seq}"
    );
}

#[test]
fn the_sequential_p_value_is_the_level_at_which_the_sequence_reaches_zero() {
    let (se, n) = (0.004, 20_000.0);
    let h = sequential_halfwidth(se, n, DEFAULT_TUNING, 0.05);
    let p = sequential_p(h * 1.000_001, se, n, DEFAULT_TUNING);
    assert!((p - 0.05).abs() < 1e-4, "{p}");
    assert_eq!(sequential_p(0.0, se, n, DEFAULT_TUNING), 1.0);
    // Never below the fixed-horizon p-value of the same estimate.
    let fixed = normal_p(h / se);
    assert!(p >= fixed, "{p} < {fixed}");
}
