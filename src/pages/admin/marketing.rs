//! Promotions, their codes and gift cards in the admin. A promotion form fills the API's own
//! promotion input (the same validation and refusal reasons); generated codes are shown once
//! and downloadable as CSV; a gift card's code is shown once, when it is issued.

use actix_web::{HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::json;

use super::{ConfirmForm, Staff, confirm, page_with_status, problems};
use crate::core::Money;
use crate::core::money::parse_amount;
use crate::domain::giftcards::IssueInput;
use crate::domain::rules::PromotionInput;
use crate::http::{ApiError, HttpState};
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, Pages, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/promotions")
            .route(web::get().to(promotions))
            .route(web::post().to(create_promotion)),
    )
    .route("/admin/promotions/{id}", web::get().to(promotion))
    .route(
        "/admin/promotions/{id}/codes",
        web::post().to(generate_codes),
    )
    .route("/admin/promotions/{id}/codes.csv", web::get().to(codes_csv))
    .route(
        "/admin/promotions/{id}/delete",
        web::post().to(delete_promotion),
    )
    .service(
        web::resource("/admin/gift-cards")
            .route(web::get().to(gift_cards))
            .route(web::post().to(issue_gift_card)),
    );
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

#[derive(Deserialize, Default)]
struct ListQuery {
    cursor: Option<String>,
    done: Option<String>,
}

fn promotions_page(
    state: &HttpState,
    pages: &Pages,
    s: &Staff,
    cursor: Option<&str>,
    values: Value,
    errors: Vec<(String, String)>,
    notice: Option<&str>,
) -> PageResult {
    let list = state.rules.promotions(50, cursor)?;
    let status = if errors.is_empty() { 200 } else { 422 };
    let ctx = context! {
        title => "Promotions", list, values, notice,
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    page_with_status(pages, s, "promotions.html", "promotions", ctx, status)
}

async fn promotions(
    state: State,
    pages: PageState,
    s: Staff,
    q: web::Query<ListQuery>,
) -> PageResult {
    let notice = q.done.as_deref().map(|_| "The promotion was deleted.");
    promotions_page(
        &state,
        &pages,
        &s,
        q.cursor.as_deref(),
        context! { kind => "percentage" },
        Vec::new(),
        notice,
    )
}

#[derive(Deserialize, Default, serde::Serialize)]
struct PromotionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    min_subtotal: String,
    #[serde(default)]
    usage_limit: String,
    #[serde(default)]
    per_customer_limit: String,
    #[serde(default)]
    starts: String,
    #[serde(default)]
    ends: String,
}

/// `YYYY-MM-DD` as the start of that UTC day, in RFC 3339.
fn day(s: &str, field: &str) -> Result<Option<String>, ApiError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let ok = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    if !ok {
        return Err(ApiError::validation(
            field,
            "invalid",
            "enter a date as YYYY-MM-DD",
        ));
    }
    Ok(Some(format!("{s}T00:00:00Z")))
}

/// The API's promotion input from the form's fields.
fn input_of(
    f: &PromotionForm,
    currency: crate::core::Currency,
) -> Result<PromotionInput, ApiError> {
    let money = |v: &str, field: &str| -> Result<Money, ApiError> {
        parse_amount(v, currency)
            .filter(|a| *a >= 0)
            .map(|a| Money::new(a, currency))
            .ok_or_else(|| ApiError::validation(field, "invalid", "enter an amount such as 10.00"))
    };
    let effect = match f.kind.as_str() {
        "percentage" => json!({"type": "percentage", "percent": f.value.trim()}),
        "fixed" => json!({"type": "fixed", "amount": money(&f.value, "value")?}),
        "free_shipping" => json!({"type": "free_shipping"}),
        _ => {
            return Err(ApiError::validation(
                "kind",
                "invalid",
                "choose what the promotion does",
            ));
        }
    };
    let min = match f.min_subtotal.trim() {
        "" => None,
        v => Some(money(v, "min_subtotal")?),
    };
    let count = |v: &str, field: &str| -> Result<Option<u32>, ApiError> {
        match v.trim() {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::validation(field, "invalid", "enter a whole number")),
        }
    };
    let body = json!({
        "name": f.name.trim(),
        "code": Some(f.code.trim()).filter(|c| !c.is_empty()),
        "effect": effect,
        "conditions": {"min_subtotal": min},
        "usage_limit": count(&f.usage_limit, "usage_limit")?,
        "per_customer_limit": count(&f.per_customer_limit, "per_customer_limit")?,
        "starts_at": day(&f.starts, "starts")?,
        "ends_at": day(&f.ends, "ends")?,
    });
    serde_json::from_value(body)
        .map_err(|e| ApiError::validation("value", "invalid", e.to_string()))
}

async fn create_promotion(
    state: State,
    pages: PageState,
    s: Staff,
    form: Posted<PromotionForm>,
) -> PageResult {
    let f = form.0;
    let r = match input_of(&f, state.carts.settings().currency) {
        Ok(input) => state
            .rules
            .create_promotion(input)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(p) => Ok(see_other(&s.v, &format!("/admin/promotions/{}", p.id))),
        Err(e) => {
            let values = minijinja::Value::from_serialize(&f);
            promotions_page(&state, &pages, &s, None, values, problems(e), None)
        }
    }
}

async fn promotion_page(
    state: &HttpState,
    pages: &Pages,
    s: &Staff,
    id: &str,
    generated: Option<Vec<String>>,
    errors: Vec<(String, String)>,
) -> PageResult {
    let promo = state
        .rules
        .promotions(1000, None)?
        .data
        .into_iter()
        .find(|p| p.id.to_string() == id)
        .ok_or_else(|| PageError::not_found("no such promotion"))?;
    let codes = state.rules.codes(id, 50, None)?;
    let status = if errors.is_empty() { 200 } else { 422 };
    let ctx = context! {
        title => promo.name.clone(), promo, codes, generated,
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    page_with_status(pages, s, "promotion.html", "promotions", ctx, status)
}

async fn promotion(state: State, pages: PageState, s: Staff, id: web::Path<String>) -> PageResult {
    promotion_page(&state, &pages, &s, &id, None, Vec::new()).await
}

#[derive(Deserialize)]
struct CodesForm {
    #[serde(default)]
    count: String,
    #[serde(default)]
    prefix: String,
}

async fn generate_codes(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<CodesForm>,
) -> PageResult {
    let f = form.0;
    let Ok(count) = f.count.trim().parse::<u32>() else {
        return promotion_page(
            &state,
            &pages,
            &s,
            &id,
            None,
            vec![("count".into(), "enter how many codes, 1 to 10,000".into())],
        )
        .await;
    };
    let prefix = Some(f.prefix.trim()).filter(|p| !p.is_empty());
    match state.rules.generate_codes(&id, count, prefix).await {
        Ok(g) => promotion_page(&state, &pages, &s, &id, Some(g.codes), Vec::new()).await,
        Err(e) => promotion_page(&state, &pages, &s, &id, None, problems(e.into())).await,
    }
}

async fn codes_csv(state: State, _s: Staff, id: web::Path<String>) -> PageResult {
    let csv = state.rules.codes_csv(&id)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"codes-{id}.csv\""),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(csv))
}

async fn delete_promotion(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<ConfirmForm>,
) -> PageResult {
    if !form.0.confirmed() {
        let what = format!("Delete promotion {id}? Its codes stop working at once.");
        return confirm(
            &pages,
            &s,
            "promotions",
            &what,
            &format!("/admin/promotions/{id}/delete"),
            Vec::new(),
        );
    }
    state.rules.delete_promotion(&id).await?;
    Ok(see_other(&s.v, "/admin/promotions?done=deleted"))
}

fn gift_cards_page(
    state: &HttpState,
    pages: &Pages,
    s: &Staff,
    cursor: Option<&str>,
    issued: Option<Value>,
    errors: Vec<(String, String)>,
) -> PageResult {
    let cards = state.gift_cards.list(50, cursor)?;
    let status = if errors.is_empty() { 200 } else { 422 };
    let ctx = context! {
        title => "Gift cards", cards, issued,
        key => crate::core::secret::new_token(""),
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    page_with_status(pages, s, "gift_cards.html", "gift-cards", ctx, status)
}

async fn gift_cards(
    state: State,
    pages: PageState,
    s: Staff,
    q: web::Query<ListQuery>,
) -> PageResult {
    gift_cards_page(&state, &pages, &s, q.cursor.as_deref(), None, Vec::new())
}

#[derive(Deserialize)]
struct IssueForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    recipient_email: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    key: String,
}

async fn issue_gift_card(
    state: State,
    pages: PageState,
    s: Staff,
    form: Posted<IssueForm>,
) -> PageResult {
    let f = form.0;
    let currency = state.carts.settings().currency;
    let Some(amount) = parse_amount(&f.amount, currency).filter(|a| *a > 0) else {
        return gift_cards_page(
            &state,
            &pages,
            &s,
            None,
            None,
            vec![("amount".into(), "enter an amount such as 50.00".into())],
        );
    };
    let input = IssueInput {
        amount: Money::new(amount, currency),
        recipient_email: Some(f.recipient_email.trim().to_owned()).filter(|e| !e.is_empty()),
        note: Some(f.note.trim().to_owned()).filter(|n| !n.is_empty()),
        expires_at: None,
    };
    // The form's key makes a second post of the same form (a refresh, a double click) answer
    // the card issued by the first, without issuing another.
    let key = Some(f.key.as_str()).filter(|k| !k.is_empty());
    match state.gift_cards.issue(input, s.actor(), key).await {
        // The code is shown in this answer only; no redirect could show it again.
        Ok(card) => {
            let issued = context! { card => card.outcome, replayed => card.replayed };
            gift_cards_page(&state, &pages, &s, None, Some(issued), Vec::new())
        }
        Err(e) => gift_cards_page(&state, &pages, &s, None, None, problems(e.into())),
    }
}
