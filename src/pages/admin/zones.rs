//! What the tax and shipping zone forms share: areas written one per line
//! (`US`, `US | NY, CA`, `GB | | SW, EC`: a country, then regions, then postal-code
//! prefixes) and amounts typed as decimals. The zone itself is judged by the rules module, as
//! for the API.

use serde_json::{Value, json};

use crate::core::money::parse_amount;
use crate::core::{Currency, Money};
use crate::domain::rules::wire::AreaWire;

/// At most this many area lines are read (the rules module bounds a zone's areas again).
const MAX_AREA_LINES: usize = 500;

/// The areas as the form writes them, one per line.
pub fn areas_text(areas: &[AreaWire]) -> String {
    areas
        .iter()
        .map(
            |a| match (a.regions.is_empty(), a.postal_prefixes.is_empty()) {
                (true, true) => a.country.clone(),
                (false, true) => format!("{} | {}", a.country, a.regions.join(", ")),
                (_, false) => format!(
                    "{} | {} | {}",
                    a.country,
                    a.regions.join(", "),
                    a.postal_prefixes.join(", ")
                ),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

fn list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The areas of the form's text, as the API's JSON (empty lines skipped; nothing else is
/// judged here).
pub fn parse_areas(text: &str) -> Value {
    let areas: Vec<Value> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(MAX_AREA_LINES)
        .map(|l| {
            let mut parts = l.split('|');
            let country = parts.next().unwrap_or_default().trim().to_uppercase();
            json!({"country": country, "regions": list(parts.next()), "postal_prefixes": list(parts.next())})
        })
        .collect();
    Value::Array(areas)
}

/// An amount typed as a decimal (`5`, `4.95`), as the API's money JSON; `None` when it cannot
/// be read or is negative.
pub fn money(s: &str, currency: Currency) -> Option<Value> {
    let a = parse_amount(s.trim(), currency).filter(|a| *a >= 0)?;
    serde_json::to_value(Money::new(a, currency)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_read_back_as_written() {
        let text = "US | NY, CA\nDE\nGB |  | SW, EC";
        let v = parse_areas(text);
        let areas: Vec<AreaWire> = serde_json::from_value(v).expect("areas");
        assert_eq!(areas[0].regions, ["NY", "CA"]);
        assert!(areas[1].regions.is_empty() && areas[1].postal_prefixes.is_empty());
        assert_eq!(areas[2].postal_prefixes, ["SW", "EC"]);
        assert_eq!(areas_text(&areas), "US | NY, CA\nDE\nGB |  | SW, EC");
        assert_eq!(parse_areas("  \n us \n")[0]["country"], "US");
    }
}
