//! Shipping zones in the admin: where a zone applies and its methods in the order offered
//! (flat price, free over a subtotal, by weight or by subtotal brackets; weight and subtotal
//! limits; local pickup). Forms fill the API's own input, so the rules module judges them as
//! it judges the API's (a method keeps its id while its code stays).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use minijinja::context;
use serde_json::{Value as Json, json};

use super::zones::{areas_text, money, parse_areas};
use super::{ConfirmForm, Staff, confirm, field, page_with_status, problems};
use crate::core::Currency;
use crate::domain::rules::wire::RateKindWire;
use crate::domain::rules::{ShippingZoneInput, ShippingZoneView};
use crate::http::{ApiError, HttpState};
use crate::pages::filters::decimal;
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, Pages, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/shipping", web::get().to(overview))
        .service(
            web::resource("/admin/shipping/zones/new")
                .route(web::get().to(new_zone))
                .route(web::post().to(create_zone)),
        )
        .service(
            web::resource("/admin/shipping/zones/{id}")
                .route(web::get().to(edit_zone))
                .route(web::post().to(save_zone)),
        )
        .route(
            "/admin/shipping/zones/{id}/delete",
            web::post().to(delete_zone),
        );
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;
type Form = Vec<(String, String)>;

/// A zone holds at most this many methods (the rules module's bound).
const MAX_METHODS: usize = 20;

#[derive(serde::Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

async fn overview(
    state: State,
    pages: PageState,
    s: Staff,
    q: web::Query<DoneQuery>,
) -> PageResult {
    let notice = match q.done.as_deref() {
        Some("zone") => Some("The zone was saved."),
        Some("deleted") => Some("The zone was deleted."),
        _ => None,
    };
    let zones: Vec<_> = state
        .rules
        .shipping_zones()?
        .data
        .iter()
        .map(|z| {
            let methods: Vec<_> = z.methods.iter().map(|m| m.name.as_str()).collect();
            context! { id => z.id.to_string(), name => z.name, areas => areas_text(&z.areas), methods => methods.join(", ") }
        })
        .collect();
    let ctx = context! { title => "Shipping", notice, zones };
    page_with_status(&pages, &s, "shipping.html", "shipping", ctx, 200)
}

/// A method's price rule as the form's fields: kind, price, threshold and brackets
/// (`limit: price` pairs, one per line).
fn rate_fields(rate: &RateKindWire, m: &mut BTreeMap<String, String>, i: usize) {
    let mut put = |k: &str, v: String| {
        m.insert(format!("{k}:{i}"), v);
    };
    match rate {
        RateKindWire::Flat { price } => {
            put("kind", "flat".into());
            put("price", decimal(*price));
        }
        RateKindWire::FreeOver { price, threshold } => {
            put("kind", "free_over".into());
            put("price", decimal(*price));
            put("threshold", decimal(*threshold));
        }
        RateKindWire::Weight { brackets } => {
            put("kind", "weight".into());
            let lines: Vec<String> = brackets
                .iter()
                .map(|b| format!("{}: {}", b.up_to_grams, decimal(b.price)))
                .collect();
            put("brackets", lines.join("\n"));
        }
        RateKindWire::Subtotal { brackets } => {
            put("kind", "subtotal".into());
            let lines: Vec<String> = brackets
                .iter()
                .map(|b| format!("{}: {}", decimal(b.min_subtotal), decimal(b.price)))
                .collect();
            put("brackets", lines.join("\n"));
        }
    }
}

/// The zone form's values: the zone's (or empty), then what was posted over them.
fn zone_values(
    zone: Option<&ShippingZoneView>,
    posted: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    // A posted zone form is complete (an unticked box is simply absent), so it is shown alone.
    let zone = zone.filter(|_| posted.is_empty());
    if let Some(z) = zone {
        m.insert("name".into(), z.name.clone());
        m.insert("areas".into(), areas_text(&z.areas));
        for (i, method) in z.methods.iter().enumerate() {
            m.insert(format!("code:{i}"), method.code.clone());
            m.insert(format!("name:{i}"), method.name.clone());
            rate_fields(&method.rate, &mut m, i);
            let c = &method.conditions;
            if let Some(g) = c.max_weight_grams {
                m.insert(format!("max_weight:{i}"), g.to_string());
            }
            if let Some(x) = c.min_subtotal {
                m.insert(format!("min_subtotal:{i}"), decimal(x));
            }
            if let Some(x) = c.max_subtotal {
                m.insert(format!("max_subtotal:{i}"), decimal(x));
            }
            if method.pickup {
                m.insert(format!("pickup:{i}"), "1".into());
            }
        }
    }
    super::overlay(m, posted)
}

fn zone_page(
    pages: &Pages,
    s: &Staff,
    zone: Option<&ShippingZoneView>,
    posted: &[(String, String)],
    errors: Vec<(String, String)>,
) -> PageResult {
    let status = if errors.is_empty() { 200 } else { 422 };
    let action = zone.map_or("/admin/shipping/zones/new".to_owned(), |z| {
        format!("/admin/shipping/zones/{}", z.id)
    });
    let title = zone.map_or("New shipping zone".to_owned(), |z| {
        format!("Shipping zone {}", z.name)
    });
    let stored = zone.map_or(0, |z| z.methods.len());
    let rows = (stored + 2).min(MAX_METHODS);
    let ctx = context! {
        title, action, id => zone.map(|z| z.id.to_string()),
        values => zone_values(zone, posted),
        rows => (0..rows).collect::<Vec<_>>(),
        errors => errors.into_iter().collect::<BTreeMap<_, _>>(),
    };
    page_with_status(pages, s, "shipping_zone.html", "shipping", ctx, status)
}

fn bad(field: String, message: &str) -> ApiError {
    ApiError::validation(&field, "invalid", message)
}

/// `limit: price` pairs, one per line or comma separated, as the API's brackets.
fn brackets(text: &str, i: usize, weight: bool, c: Currency) -> Result<Vec<Json>, ApiError> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(50)
        .map(|l| {
            let err = || {
                bad(
                    format!("brackets:{i}"),
                    "write each bracket as `limit: price`, such as 1000: 4.95",
                )
            };
            let (limit, price) = l.split_once(':').ok_or_else(err)?;
            let price = money(price, c).ok_or_else(err)?;
            if weight {
                let grams: u64 = limit.trim().parse().map_err(|_| err())?;
                Ok(json!({"up_to_grams": grams, "price": price}))
            } else {
                Ok(json!({"min_subtotal": money(limit, c).ok_or_else(err)?, "price": price}))
            }
        })
        .collect()
}

/// Method row `i` as the API's method input; `None` when its code is empty or it is removed.
fn method(f: &[(String, String)], i: usize, c: Currency) -> Result<Option<Json>, ApiError> {
    let get = |k: &str| {
        field(f, &format!("{k}:{i}"))
            .map(str::trim)
            .unwrap_or_default()
    };
    if get("code").is_empty() || !get("remove").is_empty() {
        return Ok(None);
    }
    let amount = |k: &str| {
        money(get(k), c).ok_or_else(|| bad(format!("{k}:{i}"), "enter an amount such as 4.95"))
    };
    let optional = |k: &str| match get(k) {
        "" => Ok(None),
        _ => amount(k).map(Some),
    };
    let rate = match get("kind") {
        "free_over" => {
            json!({"type": "free_over", "price": amount("price")?, "threshold": amount("threshold")?})
        }
        "weight" => json!({"type": "weight", "brackets": brackets(get("brackets"), i, true, c)?}),
        "subtotal" => {
            json!({"type": "subtotal", "brackets": brackets(get("brackets"), i, false, c)?})
        }
        _ => json!({"type": "flat", "price": amount("price")?}),
    };
    let max_weight = match get("max_weight") {
        "" => None,
        g => Some(
            g.parse::<u64>()
                .map_err(|_| bad(format!("max_weight:{i}"), "enter grams as a whole number"))?,
        ),
    };
    Ok(Some(json!({
        "code": get("code"), "name": get("name"), "rate": rate, "pickup": !get("pickup").is_empty(),
        "conditions": {"max_weight_grams": max_weight, "min_subtotal": optional("min_subtotal")?, "max_subtotal": optional("max_subtotal")?},
    })))
}

/// The API's zone input from the form.
fn zone_input(f: &[(String, String)], c: Currency) -> Result<ShippingZoneInput, ApiError> {
    let mut methods = Vec::new();
    for i in 0..MAX_METHODS + 2 {
        methods.extend(method(f, i, c)?);
    }
    let body = json!({
        "name": field(f, "name").unwrap_or_default().trim(),
        "areas": parse_areas(field(f, "areas").unwrap_or_default()),
        "methods": methods,
    });
    serde_json::from_value(body).map_err(|e| bad("methods".into(), &e.to_string()))
}

async fn new_zone(pages: PageState, s: Staff) -> PageResult {
    zone_page(&pages, &s, None, &[], Vec::new())
}

async fn create_zone(state: State, pages: PageState, s: Staff, form: Posted<Form>) -> PageResult {
    let f = form.0;
    let saved = match zone_input(&f, state.rules.currency()) {
        Ok(input) => state
            .rules
            .create_shipping_zone(input)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Ok(see_other(&s.v, "/admin/shipping?done=zone")),
        Err(e) => zone_page(&pages, &s, None, &f, problems(e)),
    }
}

async fn edit_zone(state: State, pages: PageState, s: Staff, id: web::Path<String>) -> PageResult {
    let zone = state.rules.shipping_zone(&id)?;
    zone_page(&pages, &s, Some(&zone), &[], Vec::new())
}

async fn save_zone(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<Form>,
) -> PageResult {
    let zone = state.rules.shipping_zone(&id)?;
    let f = form.0;
    let saved = match zone_input(&f, state.rules.currency()) {
        Ok(input) => state
            .rules
            .update_shipping_zone(&id, input)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Ok(see_other(&s.v, "/admin/shipping?done=zone")),
        Err(e) => zone_page(&pages, &s, Some(&zone), &f, problems(e)),
    }
}

async fn delete_zone(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<ConfirmForm>,
) -> PageResult {
    let zone = state.rules.shipping_zone(&id)?;
    if !form.0.confirmed() {
        let what = format!(
            "Delete the shipping zone {}? Addresses only it covered can no longer check out with a shipped item.",
            zone.name
        );
        let action = format!("/admin/shipping/zones/{id}/delete");
        return confirm(&pages, &s, "shipping", &what, &action, Vec::new());
    }
    state.rules.delete_shipping_zone(&id).await?;
    Ok(see_other(&s.v, "/admin/shipping?done=deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn method_rows_read_into_the_api_input_and_back() {
        let c = Currency::parse("USD").expect("usd");
        let f = form(&[
            ("name", "US"),
            ("areas", "US"),
            ("code:0", "standard"),
            ("name:0", "Standard"),
            ("kind:0", "free_over"),
            ("price:0", "4.95"),
            ("threshold:0", "50"),
            ("code:1", "heavy"),
            ("name:1", "Freight"),
            ("kind:1", "weight"),
            ("brackets:1", "1000: 9.95\n5000: 19.95"),
            ("max_weight:1", "5000"),
            ("code:2", "gone"),
            ("remove:2", "1"),
        ]);
        let input = zone_input(&f, c).expect("input");
        assert_eq!(input.methods.len(), 2, "the removed row is not sent");
        let mut m = BTreeMap::new();
        rate_fields(&input.methods[1].rate, &mut m, 1);
        assert_eq!(m["brackets:1"], "1000: 9.95\n5000: 19.95");
        rate_fields(&input.methods[0].rate, &mut m, 0);
        assert_eq!(
            (m["price:0"].as_str(), m["threshold:0"].as_str()),
            ("4.95", "50.00")
        );
        let bad = form(&[
            ("code:0", "x"),
            ("kind:0", "weight"),
            ("brackets:0", "heavy"),
        ]);
        assert!(zone_input(&bad, c).is_err());
    }
}
