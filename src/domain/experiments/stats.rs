//! The statistics of an experiment, computed from per-variant sufficient statistics (subjects,
//! sums, sums of squares and the CUPED cross-products), so a result costs O(variants) however
//! many events there were. The methods are the ones experimentation platforms publish:
//!
//! - two-proportion z-test (pooled standard error) and Welch's t-test for a difference;
//! - relative lift with the delta-method interval (GrowthBook's variance of a ratio of means);
//! - CUPED: θ = cov(Y, X) / var(X) from the pooled pre-period covariate, each variant's mean
//!   adjusted by θ·(x̄ − x̄_pooled) and its variance by var(Y) − 2θ·cov + θ²·var(X);
//! - always-valid confidence sequences (the normal-mixture form of Waudby-Smith et al., with
//!   GrowthBook's tuning parameter N), so results may be read at any time;
//! - sample-ratio mismatch by a chi-square goodness-of-fit test against the weights;
//! - Holm's step-down correction when several variants face the control.
//!
//! Statistics are not money: they are computed in `f64` from sums kept exactly elsewhere.

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

/// The p-value below which a sample-ratio mismatch makes a result untrustworthy (Statsig's and
/// GrowthBook's threshold).
pub const SRM_THRESHOLD: f64 = 0.001;

/// GrowthBook's default tuning parameter N of the confidence sequence: the number of subjects
/// around which the sequence is tightest.
pub const DEFAULT_TUNING: f64 = 5_000.0;

/// Sufficient statistics of one variant for one metric: per subject the metric `y` and, for
/// CUPED, its pre-experiment value `x`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Moments {
    /// Subjects.
    pub n: f64,
    /// Σy.
    pub sum: f64,
    /// Σy².
    pub sum_sq: f64,
    /// Σx (pre-period value).
    pub x_sum: f64,
    /// Σx².
    pub x_sum_sq: f64,
    /// Σxy.
    pub xy_sum: f64,
}

impl Moments {
    /// Moments of a proportion: `conversions` of `n` subjects (y is 0 or 1, so Σy² = Σy).
    pub fn proportion(n: u64, conversions: u64) -> Moments {
        let (n, x) = (n as f64, conversions as f64);
        Moments {
            n,
            sum: x,
            sum_sq: x,
            ..Moments::default()
        }
    }

    /// Mean of y.
    pub fn mean(&self) -> f64 {
        if self.n > 0.0 { self.sum / self.n } else { 0.0 }
    }

    /// Sample variance of y (n − 1 in the denominator).
    pub fn variance(&self) -> f64 {
        sample_var(self.n, self.sum, self.sum_sq)
    }

    fn x_mean(&self) -> f64 {
        if self.n > 0.0 {
            self.x_sum / self.n
        } else {
            0.0
        }
    }

    fn x_variance(&self) -> f64 {
        sample_var(self.n, self.x_sum, self.x_sum_sq)
    }

    fn covariance(&self) -> f64 {
        if self.n < 2.0 {
            return 0.0;
        }
        (self.xy_sum - self.sum * self.x_sum / self.n) / (self.n - 1.0)
    }

    fn plus(&self, o: &Moments) -> Moments {
        Moments {
            n: self.n + o.n,
            sum: self.sum + o.sum,
            sum_sq: self.sum_sq + o.sum_sq,
            x_sum: self.x_sum + o.x_sum,
            x_sum_sq: self.x_sum_sq + o.x_sum_sq,
            xy_sum: self.xy_sum + o.xy_sum,
        }
    }
}

fn sample_var(n: f64, sum: f64, sum_sq: f64) -> f64 {
    if n < 2.0 {
        return 0.0;
    }
    ((sum_sq - sum * sum / n) / (n - 1.0)).max(0.0)
}

/// A test statistic and its two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Test {
    /// z or t.
    pub statistic: f64,
    /// Degrees of freedom (`None` for a z-test).
    pub df: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// An estimate with its interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// Point estimate.
    pub estimate: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Standard error of the estimate.
    pub std_error: f64,
}

fn std_normal() -> Normal {
    // Mean 0, standard deviation 1 are valid parameters.
    Normal::standard()
}

/// Two-sided p-value of a standard normal statistic.
pub fn normal_p(z: f64) -> f64 {
    if !z.is_finite() {
        return if z.is_nan() { 1.0 } else { 0.0 };
    }
    2.0 * std_normal().sf(z.abs())
}

/// The standard normal quantile for a two-sided interval at level 1 − `alpha`.
pub fn z_critical(alpha: f64) -> f64 {
    std_normal().inverse_cdf(1.0 - alpha / 2.0)
}

/// Two-proportion z-test of `treatment` against `control` (pooled standard error, as
/// `statsmodels.stats.proportion.proportions_ztest`).
pub fn two_proportion_z(control: (u64, u64), treatment: (u64, u64)) -> Test {
    let (nc, xc) = (control.0 as f64, control.1 as f64);
    let (nt, xt) = (treatment.0 as f64, treatment.1 as f64);
    let pooled = (xc + xt) / (nc + nt);
    let se = (pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt)).sqrt();
    let z = if se > 0.0 {
        (xt / nt - xc / nc) / se
    } else {
        0.0
    };
    Test {
        statistic: z,
        df: None,
        p_value: normal_p(z),
    }
}

/// Welch's t-test of the difference of means, treatment minus control (as
/// `scipy.stats.ttest_ind_from_stats(..., equal_var=False)`).
pub fn welch(control: &Moments, treatment: &Moments) -> Test {
    let (vc, vt) = (
        control.variance() / control.n,
        treatment.variance() / treatment.n,
    );
    let se2 = vc + vt;
    if se2 <= 0.0 || control.n < 2.0 || treatment.n < 2.0 {
        return Test {
            statistic: 0.0,
            df: None,
            p_value: 1.0,
        };
    }
    let t = (treatment.mean() - control.mean()) / se2.sqrt();
    let df = se2 * se2 / (vc * vc / (control.n - 1.0) + vt * vt / (treatment.n - 1.0));
    let p = match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => 2.0 * dist.sf(t.abs()),
        Err(_) => 1.0,
    };
    Test {
        statistic: t,
        df: Some(df),
        p_value: p,
    }
}

/// Absolute difference of means, treatment minus control, with a normal interval.
pub fn absolute_lift(control: &Moments, treatment: &Moments, alpha: f64) -> Interval {
    let se = (control.variance() / control.n + treatment.variance() / treatment.n).sqrt();
    interval(treatment.mean() - control.mean(), se, z_critical(alpha))
}

/// Relative lift (treatment − control) / control with the delta-method standard error:
/// var = var_t / (μ_c² n_t) + var_c μ_t² / (μ_c⁴ n_c).
pub fn relative_lift(control: &Moments, treatment: &Moments, alpha: f64) -> Interval {
    let (mc, mt) = (control.mean(), treatment.mean());
    if mc == 0.0 {
        return interval(0.0, 0.0, 0.0);
    }
    let var = treatment.variance() / (mc * mc * treatment.n)
        + control.variance() * mt * mt / (mc.powi(4) * control.n);
    interval((mt - mc) / mc, var.sqrt(), z_critical(alpha))
}

fn interval(estimate: f64, std_error: f64, critical: f64) -> Interval {
    Interval {
        estimate,
        low: estimate - critical * std_error,
        high: estimate + critical * std_error,
        std_error,
    }
}

/// What CUPED did to one variant's metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Cuped {
    /// θ = cov(Y, X) / var(X), pooled over every variant.
    pub theta: f64,
    /// The variant with its mean and variance adjusted (as moments of the adjusted metric).
    pub adjusted: Moments,
    /// 1 − var(adjusted) / var(Y): the share of variance removed.
    pub variance_reduction: f64,
}

/// θ from every variant's moments pooled (one θ for all variants keeps the estimate unbiased).
pub fn cuped_theta(variants: &[Moments]) -> f64 {
    let all = variants.iter().fold(Moments::default(), |a, m| a.plus(m));
    let vx = all.x_variance();
    if vx > 0.0 { all.covariance() / vx } else { 0.0 }
}

/// Adjusts `m` by θ around the pooled pre-period mean `x_bar`: the result's mean is
/// ȳ − θ(x̄_v − x_bar) and its variance var(Y) − 2θ·cov(Y, X) + θ²·var(X).
pub fn cuped(m: &Moments, theta: f64, x_bar: f64) -> Cuped {
    let var_y = m.variance();
    let var_adj = (var_y - 2.0 * theta * m.covariance() + theta * theta * m.x_variance()).max(0.0);
    let mean_adj = m.mean() - theta * (m.x_mean() - x_bar);
    // Moments with the adjusted mean and variance, so every test above applies unchanged.
    let n = m.n;
    let sum = mean_adj * n;
    let sum_sq = var_adj * (n - 1.0).max(0.0) + sum * sum / n.max(1.0);
    Cuped {
        theta,
        adjusted: Moments {
            n,
            sum,
            sum_sq,
            ..Moments::default()
        },
        variance_reduction: if var_y > 0.0 {
            1.0 - var_adj / var_y
        } else {
            0.0
        },
    }
}

/// The pooled pre-period mean CUPED centres on.
pub fn pooled_x_mean(variants: &[Moments]) -> f64 {
    variants
        .iter()
        .fold(Moments::default(), |a, m| a.plus(m))
        .x_mean()
}

/// The mixing parameter ρ of the confidence sequence for tuning parameter `n_tuning`.
fn sequential_rho(alpha: f64, n_tuning: f64) -> f64 {
    let l = -2.0 * alpha.ln();
    ((l + (l + 1.0).ln()) / n_tuning).sqrt()
}

/// Half-width of the two-sided always-valid confidence sequence for an estimate with standard
/// error `std_error` from `n` subjects in all (Waudby-Smith et al. 2023, eq. 9, as GrowthBook
/// applies it: the per-subject variance is SE²·n).
pub fn sequential_halfwidth(std_error: f64, n: f64, n_tuning: f64, alpha: f64) -> f64 {
    if n < 1.0 || std_error <= 0.0 {
        return 0.0;
    }
    let rho = sequential_rho(alpha, n_tuning);
    let s2 = std_error * std_error * n;
    let nr2 = n * rho * rho;
    s2.sqrt() * (2.0 * (nr2 + 1.0) * ((nr2 + 1.0).sqrt() / alpha).ln() / (n * rho).powi(2)).sqrt()
}

/// An interval widened to the confidence sequence (the estimate and its standard error kept).
pub fn sequential(i: Interval, n: f64, n_tuning: f64, alpha: f64) -> Interval {
    let h = sequential_halfwidth(i.std_error, n, n_tuning, alpha);
    Interval {
        low: i.estimate - h,
        high: i.estimate + h,
        ..i
    }
}

/// The always-valid p-value of `estimate`: the smallest α at which the confidence sequence
/// excludes 0 (found by bisection; the half-width falls as α grows).
pub fn sequential_p(estimate: f64, std_error: f64, n: f64, n_tuning: f64) -> f64 {
    if std_error <= 0.0 || n < 1.0 || estimate == 0.0 {
        return 1.0;
    }
    let excludes =
        |alpha: f64| estimate.abs() > sequential_halfwidth(std_error, n, n_tuning, alpha);
    if !excludes(1.0 - 1e-12) {
        return 1.0;
    }
    // Bisection on ln α: 100 halvings of [ln 1e-300, 0) leave a relative error below 1e-27.
    let (mut lo, mut hi) = (1e-300_f64.ln(), (1.0 - 1e-12_f64).ln());
    if excludes(lo.exp()) {
        return 0.0;
    }
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if excludes(mid.exp()) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi.exp()
}

/// A sample-ratio check.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Srm {
    /// χ² statistic.
    pub chi_square: f64,
    /// Degrees of freedom (variants − 1).
    pub df: f64,
    /// p-value.
    pub p_value: f64,
    /// p < [`SRM_THRESHOLD`]: the assignment is broken and the result is not to be trusted.
    pub mismatch: bool,
}

/// Chi-square goodness of fit of the subjects per variant against the weights (as
/// `scipy.stats.chisquare` with expected counts in proportion to the weights).
pub fn srm(observed: &[u64], weights: &[f64]) -> Srm {
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    let wsum: f64 = weights.iter().sum();
    let chi: f64 = observed
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0 && total > 0.0)
        .map(|(&o, w)| {
            let e = total * w / wsum;
            (o as f64 - e).powi(2) / e
        })
        .sum();
    let df = (observed.len().max(2) - 1) as f64;
    let p = match ChiSquared::new(df) {
        Ok(d) if total > 0.0 && wsum > 0.0 => d.sf(chi),
        _ => 1.0,
    };
    Srm {
        chi_square: chi,
        df,
        p_value: p,
        mismatch: p < SRM_THRESHOLD,
    }
}

/// Holm's step-down adjusted p-values, in the order given.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * p_values[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests;
