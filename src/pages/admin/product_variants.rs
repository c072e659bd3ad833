//! The options and variants part of the admin's product form: up to three options (a name
//! and its values), each variant's option values, removing variants, and one new variant per
//! save. What the form sends is turned into the API's own input; the catalog's validation
//! judges it (unknown values, duplicate combinations, a product without variants).

use minijinja::{Value, context};

use super::field;
use crate::core::Money;
use crate::core::money::parse_amount;
use crate::domain::catalog::{OptionInput, ProductInput, VariantInput};

/// Option rows the form offers (the catalog allows three options).
pub const OPTION_ROWS: usize = 3;

/// The option rows of the form: the product's options, then empty rows up to three.
pub fn option_rows(options: &[(String, Vec<String>)]) -> Vec<Value> {
    (0..OPTION_ROWS)
        .map(|j| match options.get(j) {
            Some((name, values)) => context! { index => j, name, values => values.join(", ") },
            None => context! { index => j, name => "", values => "" },
        })
        .collect()
}

/// The options the form sends (`option_name:{j}`, `option_values:{j}` comma separated), with
/// the form row each came from; a row with an empty name is no option. `None` when the form
/// has no option rows (it edits nothing about options).
fn posted_options(f: &[(String, String)]) -> Option<Vec<(usize, OptionInput)>> {
    field(f, "option_name:0")?;
    let rows = (0..OPTION_ROWS)
        .filter_map(|j| {
            let name = field(f, &format!("option_name:{j}"))?.trim().to_owned();
            let values = field(f, &format!("option_values:{j}"))
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
            (!name.is_empty()).then_some((j, OptionInput { name, values }))
        })
        .collect();
    Some(rows)
}

/// A variant's value for option row `j`: the one typed in its column, else the one it had;
/// a value renamed in the option's list (same place, new text) follows the rename, and a new
/// option starts at its first value.
fn value_for(
    typed: Option<&str>,
    before: Option<&str>,
    old: Option<&OptionInput>,
    new: &OptionInput,
) -> String {
    let v = typed.map(str::trim).or(before).unwrap_or_default();
    if new.values.iter().any(|x| x == v) {
        return v.to_owned();
    }
    if let Some(old) = old
        && old.values.len() == new.values.len()
        && let Some(k) = old.values.iter().position(|x| x == v)
    {
        return new.values[k].clone();
    }
    if v.is_empty() {
        return new.values.first().cloned().unwrap_or_default();
    }
    v.to_owned()
}

/// Applies the form's options, each variant's option values and removals to `input`.
pub fn apply_options(input: &mut ProductInput, f: &[(String, String)]) {
    let old = std::mem::take(&mut input.options);
    let Some(rows) = posted_options(f) else {
        input.options = old;
        return;
    };
    input.variants.retain(|v| {
        v.id.as_ref()
            .is_none_or(|id| field(f, &format!("remove:{id}")).is_none())
    });
    for v in &mut input.variants {
        let id = v.id.clone().unwrap_or_default();
        v.option_values = rows
            .iter()
            .map(|(j, o)| {
                let typed = field(f, &format!("opt{j}:{id}"));
                let before = v.option_values.get(*j).map(String::as_str);
                value_for(typed, before, old.get(*j), o)
            })
            .collect();
    }
    input.options = rows.into_iter().map(|(_, o)| o).collect();
}

/// The new variant row (`new_price` filled in), as the API's input, with its units on hand;
/// a price or count that cannot be read is a form error at its field.
pub fn new_variant(
    f: &[(String, String)],
    options: usize,
    currency: crate::core::Currency,
    errors: &mut Vec<(String, String)>,
) -> Option<(VariantInput, Option<i64>)> {
    let get = |name: &str| field(f, name).map(str::trim).unwrap_or_default();
    if get("new_price").is_empty() {
        return None;
    }
    let Some(price) = parse_amount(get("new_price"), currency).filter(|a| *a >= 0) else {
        errors.push(("new_price".into(), "enter a price such as 19.99".into()));
        return None;
    };
    let stock = match get("new_on_hand") {
        "" => None,
        n => match n.parse::<i64>() {
            Ok(n) if (0..=1_000_000_000).contains(&n) => Some(n),
            _ => {
                errors.push(("new_on_hand".into(), "enter a whole number of units".into()));
                return None;
            }
        },
    };
    let v = VariantInput {
        id: None,
        sku: Some(get("new_sku").to_owned()).filter(|s| !s.is_empty()),
        option_values: (0..options)
            .map(|j| get(&format!("new_opt{j}")).to_owned())
            .collect(),
        price: Money::new(price, currency),
        compare_at_price: None,
        weight_grams: None,
        weight: None,
        barcode: None,
        track_inventory: None,
        requires_shipping: None,
        taxable: None,
        tax_category: None,
        cost: None,
        image_url: None,
        extra: None,
    };
    Some((v, stock))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(name: &str, values: &[&str]) -> OptionInput {
        OptionInput {
            name: name.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn a_value_follows_its_rename_and_a_new_option_starts_at_its_first_value() {
        let old = opt("Size", &["S", "M"]);
        let new = opt("Size", &["Small", "M"]);
        assert_eq!(value_for(None, Some("S"), Some(&old), &new), "Small");
        assert_eq!(value_for(None, Some("M"), Some(&old), &new), "M");
        assert_eq!(value_for(Some("M"), Some("S"), Some(&old), &new), "M");
        assert_eq!(
            value_for(None, None, None, &opt("Colour", &["Red", "Blue"])),
            "Red"
        );
        // A value typed that is not in the list stays, so the catalog names it.
        assert_eq!(value_for(Some("XL"), Some("S"), Some(&old), &new), "XL");
    }
}
