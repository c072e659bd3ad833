//! The dashboard's 30-day chart, drawn on the server as SVG: bars of daily sales with the order
//! count in each bar's title, plus a text summary for screen readers. No script, no style.

use std::fmt::Write;

use crate::core::Money;
use crate::domain::orders::Sales;
use crate::pages::filters::{escape_html, format_money};

const W: u32 = 720;
const H: u32 = 200;
const PAD: u32 = 24;

/// The SVG markup of `sales` (its text is escaped here; the caller marks it safe).
pub fn bars(sales: &Sales) -> String {
    let n = u32::try_from(sales.days.len()).unwrap_or(1).max(1);
    let max = sales
        .days
        .iter()
        .map(|d| d.revenue)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (W - 2 * PAD) / n;
    let bar = slot.saturating_sub(4).max(2);
    let label = format!(
        "Sales over the last {} days, highest {}",
        n,
        format_money(Money::new(max, sales.currency))
    );
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape_html(&label)
    );
    let _ = write!(
        svg,
        "<line x1=\"{PAD}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#8a8d94\"/>",
        y = H - PAD,
        x2 = W - PAD
    );
    for (i, d) in (0u32..).zip(&sales.days) {
        let h = u32::try_from(i128::from(d.revenue) * i128::from(H - 2 * PAD) / i128::from(max))
            .unwrap_or(0);
        let x = PAD + i * slot + 2;
        let title = format!(
            "{}: {} orders, {}",
            d.day,
            d.orders,
            format_money(Money::new(d.revenue, sales.currency))
        );
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{}\" fill=\"#0b4fd6\"><title>{}</title></rect>",
            H - PAD - h,
            h.max(1),
            escape_html(&title)
        );
    }
    if let (Some(first), Some(last)) = (sales.days.first(), sales.days.last()) {
        let _ = write!(
            svg,
            "<text x=\"{PAD}\" y=\"{H}\" font-size=\"12\" fill=\"#55585f\">{}</text><text x=\"{}\" y=\"{H}\" font-size=\"12\" fill=\"#55585f\" text-anchor=\"end\">{}</text>",
            escape_html(&first.day),
            W - PAD,
            escape_html(&last.day)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Currency;
    use crate::domain::orders::DaySales;

    #[test]
    fn the_tallest_bar_is_the_best_day_and_every_day_has_a_title() {
        let usd = Currency::parse("USD").expect("usd");
        let days = (1..=3)
            .map(|i| DaySales {
                day: format!("2026-12-0{i}"),
                orders: i,
                revenue: i as i64 * 1000,
            })
            .collect();
        let svg = bars(&Sales {
            days,
            currency: usd,
            complete: true,
        });
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains(&format!("height=\"{}\"", H - 2 * PAD)),
            "{svg}"
        );
        assert!(svg.contains("<title>2026-12-03: 3 orders, $30.00</title>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
