//! Template filters and functions: money in the shop's format, hashed asset URLs, and merchant
//! HTML (product descriptions) sanitised before it is shown.

use std::sync::Arc;

use minijinja::{AutoEscape, Environment, Error, ErrorKind, Value};

use super::theme::AssetMap;
use crate::core::{Currency, Money};

/// Adds `money`, `asset()` and `sanitize` to `env`.
pub fn register(env: &mut Environment<'static>, assets: Arc<AssetMap>) {
    env.add_filter("money", money);
    env.add_filter("sanitize", |html: &str| {
        Value::from_safe_string(sanitize(html))
    });
    env.add_function("asset", move |name: &str| assets.url(name));
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            out.write_str(&escape_html(s)).map_err(Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
}

/// HTML escaping of the five characters that matter in text and quoted attributes (`/` stays
/// as it is: every attribute here is quoted, and URLs stay readable and short).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Merchant HTML with everything that could run, load or restyle the page removed: no script,
/// no event attributes, no `style`, links get `rel="noopener noreferrer"`.
pub fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .rm_tags(["img"])
        .clean(html)
        .to_string()
}

/// The symbol of currencies shoppers know by one; others print their code.
fn symbol(code: &str) -> Option<&'static str> {
    Some(match code {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "CAD" => "CA$",
        "AUD" => "A$",
        "INR" => "₹",
        _ => return None,
    })
}

/// `{"amount": 1999, "currency": "USD"}` → `$19.99`; a negative amount gets a minus sign.
pub fn format_money(m: Money) -> String {
    let exp = m.currency.exponent();
    let abs = m.amount.unsigned_abs();
    let number = if exp == 0 {
        group(abs)
    } else {
        let div = 10u64.pow(exp);
        format!("{}.{:0w$}", group(abs / div), abs % div, w = exp as usize)
    };
    let sign = if m.amount < 0 { "−" } else { "" };
    match symbol(m.currency.as_str()) {
        Some(s) => format!("{sign}{s}{number}"),
        None => format!("{sign}{number} {}", m.currency.as_str()),
    }
}

/// `1999 USD` → `19.99`: a plain decimal for form fields and schema.org prices.
pub fn decimal(m: Money) -> String {
    let exp = m.currency.exponent();
    if exp == 0 {
        return m.amount.to_string();
    }
    let d = 10i64.pow(exp);
    let sign = if m.amount < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0w$}",
        (m.amount / d).abs(),
        (m.amount % d).abs(),
        w = exp as usize
    )
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn money(v: Value) -> Result<String, Error> {
    let bad = || {
        Error::new(
            ErrorKind::InvalidOperation,
            "money needs {amount, currency}",
        )
    };
    let amount = v
        .get_attr("amount")
        .ok()
        .and_then(|a| i64::try_from(a).ok())
        .ok_or_else(bad)?;
    let currency = v
        .get_attr("currency")
        .ok()
        .and_then(|c| c.as_str().and_then(|s| Currency::parse(s).ok()))
        .ok_or_else(bad)?;
    Ok(format_money(Money::new(amount, currency)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_a_price_tag() {
        let usd = Currency::parse("USD").expect("usd");
        let jpy = Currency::parse("JPY").expect("jpy");
        let chf = Currency::parse("CHF").expect("chf");
        assert_eq!(format_money(Money::new(1999, usd)), "$19.99");
        assert_eq!(format_money(Money::new(123_456_705, usd)), "$1,234,567.05");
        assert_eq!(format_money(Money::new(-500, usd)), "−$5.00");
        assert_eq!(format_money(Money::new(1500, jpy)), "¥1,500");
        assert_eq!(format_money(Money::new(1000, chf)), "10.00 CHF");
        assert_eq!(decimal(Money::new(-50, usd)), "-0.50");
        assert_eq!(decimal(Money::new(1500, jpy)), "1500");
    }

    #[test]
    fn sanitising_removes_what_could_run() {
        let out = sanitize(
            "<p onclick=\"x()\">Soft <b>wool</b><script>alert(1)</script><a href=\"javascript:alert(1)\">x</a><img src=x onerror=alert(1)></p>",
        );
        assert!(out.contains("<b>wool</b>"));
        for bad in ["onclick", "<script", "javascript:", "onerror", "<img"] {
            assert!(!out.contains(bad), "{bad} survived: {out}");
        }
    }
}
