//! An experiment's lift intervals drawn on the server as SVG: one horizontal bar per treatment
//! arm from the interval's low to high end, a dot at the estimate, and a line at zero, with the
//! figures in each bar's title and in the table beside it. No script, no style.

use std::fmt::Write;

use crate::pages::filters::escape_html;

const W: f64 = 640.0;
const ROW: f64 = 36.0;
const PAD: f64 = 120.0;

/// One arm's relative lift interval (fractions: 0.05 is +5 %).
pub struct Bar<'a> {
    /// The arm's key.
    pub label: &'a str,
    /// Estimate.
    pub estimate: f64,
    /// Low end.
    pub low: f64,
    /// High end.
    pub high: f64,
}

fn pct(x: f64) -> String {
    format!("{:+.1} %", x * 100.0)
}

/// The SVG markup of `bars` (text escaped here; the caller marks it safe).
pub fn intervals(metric: &str, bars: &[Bar<'_>]) -> String {
    let h = ROW * bars.len().max(1) as f64 + 30.0;
    let reach = bars
        .iter()
        .flat_map(|b| [b.low.abs(), b.high.abs()])
        .filter(|x| x.is_finite())
        .fold(0.01_f64, f64::max);
    let x = |v: f64| PAD + (v.clamp(-reach, reach) + reach) / (2.0 * reach) * (W - PAD - 20.0);
    let label = format!("Relative lift of {metric} against the control, with intervals");
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape_html(&label)
    );
    let zero = x(0.0);
    let _ = write!(
        svg,
        "<line x1=\"{zero:.1}\" y1=\"4\" x2=\"{zero:.1}\" y2=\"{:.1}\" stroke=\"#8a8d94\"/><text x=\"{zero:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#444\">0</text>",
        h - 18.0,
        h - 4.0
    );
    for (i, b) in bars.iter().enumerate() {
        let y = 12.0 + ROW * i as f64;
        let colour = if b.low > 0.0 {
            "#0a7d32"
        } else if b.high < 0.0 {
            "#b3261e"
        } else {
            "#0b4fd6"
        };
        let title = format!(
            "{}: {} ({} to {})",
            b.label,
            pct(b.estimate),
            pct(b.low),
            pct(b.high)
        );
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{:.1}\" font-size=\"13\" fill=\"#222\">{}</text><g><title>{}</title><rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"10\" fill=\"{colour}\" opacity=\"0.35\"/><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{colour}\"/></g>",
            y + 10.0,
            escape_html(b.label),
            escape_html(&title),
            x(b.low),
            (x(b.high) - x(b.low)).max(1.0),
            x(b.estimate),
            y + 5.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_escaped_and_placed_around_zero() {
        let svg = intervals(
            "custom:<b>",
            &[Bar {
                label: "<arm>",
                estimate: 0.1,
                low: -0.05,
                high: 0.25,
            }],
        );
        assert!(svg.contains("&lt;arm&gt;") && !svg.contains("<arm>"));
        assert!(svg.contains("+10.0 %"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
