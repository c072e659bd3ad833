//! Orders in the admin: the list with filters, one order with its history, payments and
//! refunds, and the actions: fulfil with carrier and tracking, mark paid, cancel, refund with
//! restock. Fulfilments and refunds carry an idempotency key minted with the form, so a double
//! submit records one.

use actix_web::{HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::{Staff, confirm, page, page_with_status};

/// A field of a posted form, empty when absent.
fn form_field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    super::field(form, name).unwrap_or("")
}
use crate::domain::orders::{FulfilInput, OrderFilter, Status, Viewer};
use crate::domain::payments::{RefundInput, RestockLine};
use crate::http::{ApiError, HttpState};
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/orders", web::get().to(list))
        .route("/admin/orders/{id}", web::get().to(detail))
        .route("/admin/orders/{id}/fulfil", web::post().to(fulfil))
        .route("/admin/orders/{id}/mark-paid", web::post().to(mark_paid))
        .route("/admin/orders/{id}/cancel", web::post().to(cancel))
        .route("/admin/orders/{id}/refund", web::post().to(refund));
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
    email: Option<String>,
    from: Option<String>,
    to: Option<String>,
    min_total: Option<String>,
    max_total: Option<String>,
}

/// A `YYYY-MM-DD` day's start (UTC); `next` gives the next day's, so "to" includes its day.
fn day_start(
    v: Option<&str>,
    field: &str,
    next: bool,
) -> Result<Option<crate::core::Timestamp>, PageError> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let t = crate::core::Timestamp::parse_rfc3339(&format!("{v}T00:00:00Z")).ok_or_else(|| {
        PageError(ApiError::validation(
            field,
            "invalid",
            "enter a date as YYYY-MM-DD",
        ))
    })?;
    Ok(Some(if next {
        t.plus(std::time::Duration::from_secs(24 * 3600))
    } else {
        t
    }))
}

/// An amount such as `19.99` in minor units of `currency`.
fn amount(
    v: Option<&str>,
    field: &str,
    currency: crate::core::Currency,
) -> Result<Option<i64>, PageError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => crate::core::money::parse_amount(v, currency)
            .map(Some)
            .ok_or_else(|| {
                PageError(ApiError::validation(
                    field,
                    "invalid",
                    "enter an amount such as 19.99",
                ))
            }),
    }
}

async fn list(state: State, pages: PageState, s: Staff, q: web::Query<ListQuery>) -> PageResult {
    let status = match q.status.as_deref().filter(|x| !x.is_empty()) {
        Some(x) => Some(Status::parse(x).ok_or_else(|| PageError::bad_request("unknown status"))?),
        None => None,
    };
    let customer = match q.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Some(
            state
                .auth
                .customer_id_by_email(e)?
                .ok_or_else(|| PageError::not_found("no account uses that email"))?,
        ),
        None => None,
    };
    let currency = state.carts.settings().currency;
    let filter = OrderFilter {
        status,
        customer,
        created_from: day_start(q.from.as_deref(), "from", false)?,
        created_to: day_start(q.to.as_deref(), "to", true)?,
        min_total: amount(q.min_total.as_deref(), "min_total", currency)?,
        max_total: amount(q.max_total.as_deref(), "max_total", currency)?,
    };
    let orders = state.orders.list(&filter, 25, q.cursor.as_deref())?;
    let keep = |v: &Option<String>| v.clone().unwrap_or_default();
    let ctx = context! {
        title => "Orders", orders,
        status => keep(&q.status), email => keep(&q.email),
        from => keep(&q.from), to => keep(&q.to),
        min_total => keep(&q.min_total), max_total => keep(&q.max_total),
        statuses => Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    };
    page(&pages, &s, "orders.html", "orders", ctx)
}

#[derive(Deserialize, Default)]
struct DetailQuery {
    done: Option<String>,
}

async fn render(
    state: &HttpState,
    pages: &crate::pages::Pages,
    s: &Staff,
    id: &str,
    notice: Option<&str>,
    error: Option<ApiError>,
) -> PageResult {
    let order = state.orders.get(id, &Viewer::Staff)?;
    let payments = state.payments.for_order(id, &Viewer::Staff)?;
    let status = error.as_ref().map_or(200, |e| e.status().as_u16());
    let ctx = context! {
        title => format!("Order {id}"),
        order, payments, notice,
        error => error.map(|e| e.detail),
        key => crate::domain::auth::secret::new_token(""),
    };
    page_with_status(pages, s, "order.html", "orders", ctx, status)
}

async fn detail(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    q: web::Query<DetailQuery>,
) -> PageResult {
    let notice = match q.done.as_deref() {
        Some("fulfilled") => Some("The shipment was recorded and the customer told."),
        Some("paid") => Some("The order is marked paid."),
        Some("cancelled") => Some("The order is cancelled and its stock released."),
        Some("refunded") => {
            Some("The refund was recorded; the payment provider is being asked to pay it.")
        }
        _ => None,
    };
    render(&state, &pages, &s, &id, notice, None).await
}

/// Form fields named `line:<line id>` as (line id, units), skipping zeros and blanks.
fn line_quantities(form: &[(String, String)]) -> Result<Vec<(String, i64)>, ApiError> {
    let mut out = Vec::new();
    for (k, v) in form {
        let Some(line) = k.strip_prefix("line:") else {
            continue;
        };
        if v.trim().is_empty() {
            continue;
        }
        let q: i64 = v
            .trim()
            .parse()
            .map_err(|_| ApiError::validation(k, "invalid", "enter a whole number of units"))?;
        if q < 0 {
            return Err(ApiError::validation(
                k,
                "invalid",
                "units cannot be negative",
            ));
        }
        if q > 0 {
            out.push((line.to_owned(), q));
        }
    }
    Ok(out)
}

async fn fulfil(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<Vec<(String, String)>>,
) -> PageResult {
    let f = form.0;
    let lines = match line_quantities(&f) {
        Ok(l) => l,
        Err(e) => return render(&state, &pages, &s, &id, None, Some(e)).await,
    };
    let input = FulfilInput {
        lines,
        carrier: form_field(&f, "carrier").trim().to_owned(),
        tracking_number: form_field(&f, "tracking_number").trim().to_owned(),
    };
    let key = form_field(&f, "key").to_owned();
    match state.orders.fulfil(&id, input, s.actor(), Some(&key)).await {
        Ok(_) => Ok(see_other(
            &s.v,
            &format!("/admin/orders/{id}?done=fulfilled"),
        )),
        Err(e) => render(&state, &pages, &s, &id, None, Some(e.into())).await,
    }
}

async fn mark_paid(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<Vec<(String, String)>>,
) -> PageResult {
    if form_field(&form.0, "confirm") != "yes" {
        let what = format!("Mark order {id} as paid outside the shop (cash, bank transfer)?");
        return confirm(
            &pages,
            &s,
            "orders",
            &what,
            &format!("/admin/orders/{id}/mark-paid"),
            Vec::new(),
        );
    }
    match state.payments.mark_paid(&id, s.actor()).await {
        Ok(_) => Ok(see_other(&s.v, &format!("/admin/orders/{id}?done=paid"))),
        Err(e) => render(&state, &pages, &s, &id, None, Some(e.into())).await,
    }
}

async fn cancel(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<Vec<(String, String)>>,
) -> PageResult {
    let reason = form_field(&form.0, "reason").trim().to_owned();
    if form_field(&form.0, "confirm") != "yes" {
        let what = format!("Cancel order {id}? Its stock is released and the customer is told.");
        return confirm(
            &pages,
            &s,
            "orders",
            &what,
            &format!("/admin/orders/{id}/cancel"),
            vec![("reason".into(), reason)],
        );
    }
    let reason = Some(reason).filter(|r| !r.is_empty());
    match state
        .orders
        .cancel(&id, &Viewer::Staff, s.actor(), reason)
        .await
    {
        Ok(_) => Ok(see_other(
            &s.v,
            &format!("/admin/orders/{id}?done=cancelled"),
        )),
        Err(e) => render(&state, &pages, &s, &id, None, Some(e.into())).await,
    }
}

async fn refund(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<Vec<(String, String)>>,
) -> PageResult {
    let f = form.0;
    let lines = match line_quantities(&f) {
        Ok(l) => l,
        Err(e) => return render(&state, &pages, &s, &id, None, Some(e)).await,
    };
    if form_field(&f, "confirm") != "yes" {
        let what = format!(
            "Refund {} item(s){} of order {id}{}? The money goes back to the customer.",
            lines.iter().map(|(_, q)| q).sum::<i64>(),
            if form_field(&f, "shipping") == "on" {
                " and shipping"
            } else {
                ""
            },
            if form_field(&f, "restock") == "on" {
                ", putting the units back in stock"
            } else {
                ""
            },
        );
        let keep = f
            .into_iter()
            .filter(|(k, _)| k != "_csrf" && k != "confirm")
            .collect();
        return confirm(
            &pages,
            &s,
            "orders",
            &what,
            &format!("/admin/orders/{id}/refund"),
            keep,
        );
    }
    let restock = if form_field(&f, "restock") == "on" {
        lines
            .iter()
            .map(|(l, q)| RestockLine {
                line_id: l.clone(),
                quantity: *q,
            })
            .collect()
    } else {
        Vec::new()
    };
    let input = RefundInput {
        amount: None,
        lines: lines
            .into_iter()
            .map(|(line_id, quantity)| RestockLine { line_id, quantity })
            .collect(),
        shipping: form_field(&f, "shipping") == "on",
        reason: form_field(&f, "reason").trim().to_owned(),
        restock,
    };
    let key = form_field(&f, "key").to_owned();
    match state
        .payments
        .refund(&id, input, s.actor(), Some(&key))
        .await
    {
        Ok(_) => Ok(see_other(
            &s.v,
            &format!("/admin/orders/{id}?done=refunded"),
        )),
        Err(e) => render(&state, &pages, &s, &id, None, Some(e.into())).await,
    }
}
