//! Tax settings in the admin: inclusive or exclusive prices, rounding and the home zone; the
//! tax categories; and tax zones (where, a rate per category, how shipping is taxed). Forms
//! fill the API's own inputs, so the rules module judges them as it judges the API's.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::zones::{areas_text, parse_areas};
use super::{ConfirmForm, Staff, confirm, field, page_with_status, problems};
use crate::domain::rules::{TaxCategoryInput, TaxSettingsView, TaxZoneInput, TaxZoneView};
use crate::http::{ApiError, HttpState};
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, Pages, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/tax", web::get().to(overview))
        .route("/admin/tax/settings", web::post().to(save_settings))
        .route("/admin/tax/categories", web::post().to(add_category))
        .service(
            web::resource("/admin/tax/zones/new")
                .route(web::get().to(new_zone))
                .route(web::post().to(create_zone)),
        )
        .service(
            web::resource("/admin/tax/zones/{id}")
                .route(web::get().to(edit_zone))
                .route(web::post().to(save_zone)),
        )
        .route("/admin/tax/zones/{id}/delete", web::post().to(delete_zone));
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;
type Form = Vec<(String, String)>;

fn errors_map(errors: Vec<(String, String)>) -> BTreeMap<String, String> {
    errors.into_iter().collect()
}

fn overview_page(
    state: &HttpState,
    pages: &Pages,
    s: &Staff,
    errors: Vec<(String, String)>,
    notice: Option<&str>,
) -> PageResult {
    let status = if errors.is_empty() { 200 } else { 422 };
    let ctx = context! {
        title => "Tax", notice,
        settings => state.rules.tax_settings()?,
        categories => state.rules.tax_categories()?.data,
        zones => state.rules.tax_zones()?.data.iter().map(|z| context! {
            id => z.id.to_string(), name => z.name, areas => areas_text(&z.areas),
            rates => z.rates.iter().map(|r| format!("{} {}%", r.category, r.rate)).collect::<Vec<_>>().join(", "),
        }).collect::<Vec<_>>(),
        errors => errors_map(errors),
    };
    page_with_status(pages, s, "tax.html", "tax", ctx, status)
}

#[derive(Deserialize, Default)]
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
        Some("settings") => Some("The tax settings were saved."),
        Some("category") => Some("The category was added."),
        Some("zone") => Some("The zone was saved."),
        Some("deleted") => Some("The zone was deleted."),
        _ => None,
    };
    overview_page(&state, &pages, &s, Vec::new(), notice)
}

async fn save_settings(state: State, pages: PageState, s: Staff, form: Posted<Form>) -> PageResult {
    let f = form.0;
    let home = field(&f, "home_zone_id").filter(|z| !z.is_empty());
    let body = json!({
        "prices_include_tax": field(&f, "prices_include_tax").is_some(),
        "rounding": field(&f, "rounding").unwrap_or("per_line"),
        "home_zone_id": home,
    });
    let saved = match serde_json::from_value::<TaxSettingsView>(body) {
        Ok(input) => state
            .rules
            .set_tax_settings(input)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(ApiError::validation(
            "home_zone_id",
            "invalid",
            e.to_string(),
        )),
    };
    match saved {
        Ok(_) => Ok(see_other(&s.v, "/admin/tax?done=settings")),
        Err(e) => overview_page(&state, &pages, &s, problems(e), None),
    }
}

#[derive(Deserialize)]
struct CategoryForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name: String,
}

async fn add_category(
    state: State,
    pages: PageState,
    s: Staff,
    form: Posted<CategoryForm>,
) -> PageResult {
    let f = form.0;
    let input = TaxCategoryInput {
        key: f.key,
        name: f.name,
    };
    match state.rules.create_tax_category(input).await {
        Ok(_) => Ok(see_other(&s.v, "/admin/tax?done=category")),
        Err(e) => overview_page(&state, &pages, &s, problems(e.into()), None),
    }
}

/// The zone form's values: the zone's (or empty for a new one), then what was posted.
fn zone_values(
    zone: Option<&TaxZoneView>,
    posted: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    // A posted zone form is complete (an unticked box is simply absent), so it is shown alone.
    let zone = zone.filter(|_| posted.is_empty());
    if let Some(z) = zone {
        m.insert("name".into(), z.name.clone());
        m.insert("areas".into(), areas_text(&z.areas));
        let shipping = serde_json::to_value(z.shipping_tax).ok();
        let shipping = shipping
            .as_ref()
            .and_then(|v| v.as_str())
            .unwrap_or("standard");
        m.insert("shipping_tax".into(), shipping.to_owned());
        for r in &z.rates {
            m.insert(format!("rate:{}", r.category), r.rate.to_string());
        }
    }
    super::overlay(m, posted)
}

fn zone_page(
    state: &HttpState,
    pages: &Pages,
    s: &Staff,
    zone: Option<&TaxZoneView>,
    posted: &[(String, String)],
    errors: Vec<(String, String)>,
) -> PageResult {
    let status = if errors.is_empty() { 200 } else { 422 };
    let action = zone.map_or("/admin/tax/zones/new".to_owned(), |z| {
        format!("/admin/tax/zones/{}", z.id)
    });
    let title = zone.map_or("New tax zone".to_owned(), |z| {
        format!("Tax zone {}", z.name)
    });
    let ctx = context! {
        title, action, id => zone.map(|z| z.id.to_string()),
        values => zone_values(zone, posted),
        categories => state.rules.tax_categories()?.data,
        errors => errors_map(errors),
    };
    page_with_status(pages, s, "tax_zone.html", "tax", ctx, status)
}

/// The API's zone input from the form: areas as lines, a rate per category (blank: none).
fn zone_input(f: &[(String, String)]) -> Result<TaxZoneInput, ApiError> {
    let rates: Vec<serde_json::Value> = f
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("rate:")?, v.trim())))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| json!({"category": k, "rate": v.trim_end_matches('%').trim()}))
        .collect();
    let body = json!({
        "name": field(f, "name").unwrap_or_default().trim(),
        "areas": parse_areas(field(f, "areas").unwrap_or_default()),
        "rates": rates,
        "shipping_tax": field(f, "shipping_tax").unwrap_or("standard"),
    });
    serde_json::from_value(body).map_err(|e| {
        ApiError::validation(
            "rates",
            "invalid",
            format!("enter rates as percentages such as 19 or 8.875 ({e})"),
        )
    })
}

async fn new_zone(state: State, pages: PageState, s: Staff) -> PageResult {
    zone_page(&state, &pages, &s, None, &[], Vec::new())
}

async fn create_zone(state: State, pages: PageState, s: Staff, form: Posted<Form>) -> PageResult {
    let f = form.0;
    let saved = match zone_input(&f) {
        Ok(input) => state
            .rules
            .create_tax_zone(input)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Ok(see_other(&s.v, "/admin/tax?done=zone")),
        Err(e) => zone_page(&state, &pages, &s, None, &f, problems(e)),
    }
}

async fn edit_zone(state: State, pages: PageState, s: Staff, id: web::Path<String>) -> PageResult {
    let zone = state.rules.tax_zone(&id)?;
    zone_page(&state, &pages, &s, Some(&zone), &[], Vec::new())
}

async fn save_zone(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<Form>,
) -> PageResult {
    let zone = state.rules.tax_zone(&id)?;
    let f = form.0;
    let saved = match zone_input(&f) {
        Ok(input) => state
            .rules
            .update_tax_zone(&id, input)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Ok(see_other(&s.v, "/admin/tax?done=zone")),
        Err(e) => zone_page(&state, &pages, &s, Some(&zone), &f, problems(e)),
    }
}

async fn delete_zone(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<ConfirmForm>,
) -> PageResult {
    let zone = state.rules.tax_zone(&id)?;
    if !form.0.confirmed() {
        let what = format!(
            "Delete the tax zone {}? Addresses in it are then taxed by the next zone that matches them, or not at all.",
            zone.name
        );
        let action = format!("/admin/tax/zones/{id}/delete");
        return confirm(&pages, &s, "tax", &what, &action, Vec::new());
    }
    match state.rules.delete_tax_zone(&id).await {
        Ok(()) => Ok(see_other(&s.v, "/admin/tax?done=deleted")),
        Err(e) => zone_page(&state, &pages, &s, Some(&zone), &[], problems(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_form_reads_into_the_api_input() {
        let f: Form = vec![
            ("name".into(), "Germany".into()),
            ("areas".into(), "DE".into()),
            ("rate:standard".into(), "19".into()),
            ("rate:reduced".into(), "7 %".into()),
            ("rate:zero".into(), "".into()),
            ("shipping_tax".into(), "proportional".into()),
        ];
        let input = zone_input(&f).expect("input");
        assert_eq!(input.rates.len(), 2);
        assert_eq!(input.rates[1].rate.to_string(), "7");
        assert_eq!(input.areas[0].country, "DE");
        let bad: Form = vec![
            ("name".into(), "X".into()),
            ("rate:standard".into(), "lots".into()),
        ];
        assert!(zone_input(&bad).is_err());
    }
}
