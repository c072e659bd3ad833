//! An experiment's results: per arm the subjects and each metric's rate or mean with its
//! interval; per treatment arm the lift against the control (absolute and relative), its
//! interval and p-value by the method asked for (sequential by default), Holm-adjusted over
//! the treatment arms; and the sample-ratio check. Read from O(arms × metrics) rows.

use serde::Serialize;
use utoipa::ToSchema;

use super::exposures::{ArmSums, arm_covariates, arm_sums};
use super::model::Experiment;
use super::stats::{self, Moments};
use crate::storage::{Reader, StorageError};

/// How intervals and p-values are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Always-valid confidence sequences: results may be read at any time (default).
    Sequential,
    /// Fixed-horizon intervals: valid only when read once, at the planned sample size.
    Fixed,
}

/// Significance level of every interval.
pub const ALPHA: f64 = 0.05;

/// Whether a metric is a conversion (each subject 0 or 1) rather than a value per subject.
pub fn is_binary(metric: &str) -> bool {
    !matches!(metric, "revenue" | "orders") && !metric.starts_with("value:")
}

/// An interval as shown.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct Range {
    /// Estimate.
    pub estimate: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl From<stats::Interval> for Range {
    fn from(i: stats::Interval) -> Self {
        Range {
            estimate: i.estimate,
            low: i.low,
            high: i.high,
        }
    }
}

/// One arm's figures for one metric.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ArmResult {
    /// The arm's key.
    pub variant: String,
    /// Subjects exposed.
    pub subjects: u64,
    /// Σ of the metric over them (conversions, or minor units for revenue).
    pub total: f64,
    /// Conversion rate or mean per subject, with its interval.
    pub value: Range,
    /// Against the control (absent for the control): difference of the rates or means.
    pub absolute_lift: Option<Range>,
    /// Against the control: (treatment − control) / control, delta-method interval.
    pub relative_lift: Option<Range>,
    /// Against the control: two-sided p-value by the method.
    pub p_value: Option<f64>,
    /// The p-value after Holm's correction over the treatment arms.
    pub p_value_adjusted: Option<f64>,
}

/// What CUPED did to a metric.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct CupedResult {
    /// θ = cov(Y, X) / var(X), pooled over the arms.
    pub theta: f64,
    /// Share of the metric's variance removed by the pre-period covariate.
    pub variance_reduction: f64,
}

/// One metric's results.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MetricResult {
    /// CUPED's adjustment, when the metric has pre-period values (customers' paid orders
    /// before the start) and it was asked for; lifts and p-values are then of the adjusted
    /// metric.
    pub cuped: Option<CupedResult>,
    /// The metric.
    pub metric: String,
    /// `primary` or `guardrail`.
    pub role: String,
    /// The test behind the p-values: `confidence_sequence` (sequential), or with the fixed
    /// method `two_proportion_z` (conversions) or `welch_t` (values).
    pub test: String,
    /// Per arm, the control first.
    pub variants: Vec<ArmResult>,
}

/// The sample-ratio check as shown.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct SrmResult {
    /// χ².
    pub chi_square: f64,
    /// p-value.
    pub p_value: f64,
    /// p < 0.001: the split is broken and the results are not to be trusted.
    pub mismatch: bool,
}

/// Everything the results page and endpoint show.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Results {
    /// The experiment's key.
    pub experiment: String,
    /// The method of the intervals and p-values.
    pub method: Method,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// The sample-ratio check over the arms' subjects.
    pub srm: SrmResult,
    /// The primary metric, then the guardrails.
    pub metrics: Vec<MetricResult>,
}

fn moments(n: u64, s: ArmSums) -> Moments {
    Moments {
        n: n as f64,
        sum: s.sum as f64,
        sum_sq: s.sum_sq as f64,
        ..Moments::default()
    }
}

/// The results of `x` from the stored sums, with CUPED where the metric has pre-period values
/// and `cuped` is asked for.
pub fn results(
    r: &impl Reader,
    x: &Experiment,
    method: Method,
    cuped: bool,
) -> Result<Results, StorageError> {
    let mut names = vec![(x.metrics.primary.clone(), "primary")];
    names.extend(
        x.metrics
            .guardrails
            .iter()
            .map(|g| (g.clone(), "guardrail")),
    );
    let mut metrics = Vec::with_capacity(names.len());
    let mut subjects = Vec::new();
    for (metric, role) in names {
        let sums = arm_sums(r, x, &metric)?;
        subjects = sums.iter().map(|(n, _)| *n).collect();
        let covariates = if cuped {
            arm_covariates(r, x, &metric)?
        } else {
            Vec::new()
        };
        metrics.push(metric_result(x, &metric, role, &sums, &covariates, method));
    }
    let weights: Vec<f64> = x.arms.iter().map(|a| f64::from(a.weight)).collect();
    let s = stats::srm(&subjects, &weights);
    Ok(Results {
        experiment: x.key.clone(),
        method,
        confidence: 1.0 - ALPHA,
        srm: SrmResult {
            chi_square: s.chi_square,
            p_value: s.p_value,
            mismatch: s.mismatch,
        },
        metrics,
    })
}

/// The arms' moments adjusted by CUPED, and what it did; `None` without pre-period values.
fn adjusted(
    raw: &[Moments],
    covariates: &[(i128, i128, i128)],
) -> Option<(Vec<Moments>, CupedResult)> {
    if covariates.len() != raw.len() || covariates.iter().all(|c| c.1 == 0) {
        return None;
    }
    let with_x: Vec<Moments> = raw
        .iter()
        .zip(covariates)
        .map(|(m, c)| Moments {
            x_sum: c.0 as f64,
            x_sum_sq: c.1 as f64,
            xy_sum: c.2 as f64,
            ..*m
        })
        .collect();
    let theta = stats::cuped_theta(&with_x);
    let x_bar = stats::pooled_x_mean(&with_x);
    let pooled = with_x.iter().fold(Moments::default(), |a, m| Moments {
        n: a.n + m.n,
        sum: a.sum + m.sum,
        sum_sq: a.sum_sq + m.sum_sq,
        x_sum: a.x_sum + m.x_sum,
        x_sum_sq: a.x_sum_sq + m.x_sum_sq,
        xy_sum: a.xy_sum + m.xy_sum,
    });
    let reduction = stats::cuped(&pooled, theta, x_bar).variance_reduction;
    let arms = with_x
        .iter()
        .map(|m| stats::cuped(m, theta, x_bar).adjusted)
        .collect();
    Some((
        arms,
        CupedResult {
            theta,
            variance_reduction: reduction,
        },
    ))
}

fn metric_result(
    x: &Experiment,
    metric: &str,
    role: &str,
    sums: &[(u64, ArmSums)],
    covariates: &[(i128, i128, i128)],
    method: Method,
) -> MetricResult {
    let raw: Vec<Moments> = sums.iter().map(|(n, s)| moments(*n, *s)).collect();
    let cuped = adjusted(&raw, covariates);
    // With CUPED the adjusted metric is no longer 0/1: it is tested as a mean.
    let binary = is_binary(metric) && cuped.is_none();
    let all: Vec<Moments> = cuped
        .as_ref()
        .map_or_else(|| raw.clone(), |(a, _)| a.clone());
    let control = all.first().copied().unwrap_or_default();
    let z = stats::z_critical(ALPHA);
    let mut rows: Vec<ArmResult> = Vec::with_capacity(all.len());
    for (i, m) in all.iter().enumerate() {
        // The value shown is the metric as measured; lifts use the adjusted one.
        let shown = raw[i];
        let se = if shown.n > 0.0 {
            (shown.variance() / shown.n).sqrt()
        } else {
            0.0
        };
        let value = stats::Interval {
            estimate: shown.mean(),
            low: shown.mean() - z * se,
            high: shown.mean() + z * se,
            std_error: se,
        };
        let mut row = ArmResult {
            variant: x.arms.get(i).map(|a| a.key.clone()).unwrap_or_default(),
            subjects: sums[i].0,
            total: shown.sum,
            value: value.into(),
            absolute_lift: None,
            relative_lift: None,
            p_value: None,
            p_value_adjusted: None,
        };
        if i > 0 && control.n >= 2.0 && m.n >= 2.0 {
            let n = control.n + m.n;
            let abs = stats::absolute_lift(&control, m, ALPHA);
            let rel = stats::relative_lift(&control, m, ALPHA);
            let (abs, rel, p) = match method {
                Method::Sequential => (
                    stats::sequential(abs, n, stats::DEFAULT_TUNING, ALPHA),
                    stats::sequential(rel, n, stats::DEFAULT_TUNING, ALPHA),
                    stats::sequential_p(abs.estimate, abs.std_error, n, stats::DEFAULT_TUNING),
                ),
                Method::Fixed => {
                    let p = if binary {
                        stats::two_proportion_z(
                            (sums[0].0, sums[0].1.sum.max(0) as u64),
                            (sums[i].0, sums[i].1.sum.max(0) as u64),
                        )
                        .p_value
                    } else {
                        stats::welch(&control, m).p_value
                    };
                    (abs, rel, p)
                }
            };
            row.absolute_lift = Some(abs.into());
            row.relative_lift = (control.mean() != 0.0).then(|| rel.into());
            row.p_value = Some(p);
        }
        rows.push(row);
    }
    let ps: Vec<f64> = rows.iter().skip(1).filter_map(|r| r.p_value).collect();
    let adjusted = stats::holm(&ps);
    for (row, adj) in rows
        .iter_mut()
        .skip(1)
        .filter(|r| r.p_value.is_some())
        .zip(adjusted)
    {
        row.p_value_adjusted = Some(adj);
    }
    MetricResult {
        cuped: cuped.map(|(_, c)| c),
        metric: metric.to_owned(),
        role: role.to_owned(),
        test: match (method, binary) {
            (Method::Sequential, _) => "confidence_sequence",
            (Method::Fixed, true) => "two_proportion_z",
            (Method::Fixed, false) => "welch_t",
        }
        .to_owned(),
        variants: rows,
    }
}
