//! Checkout and order routes: `POST /api/v1/checkout` (idempotent), customers' and guests'
//! order views, and staff order management (`orders` scope for API keys).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::cart::Shopper;
use super::identity::{Signed, Staff, scope};
use super::json::Json;
use super::paging::{CursorQuery, per_page};
use super::{ApiError, HttpState, Problem};
use crate::core::Page;
use crate::core::{CustomerId, Timestamp};
use crate::domain::checkout::{CheckoutInput, PlaceOptions};
use crate::domain::experiments::{RESERVATION_EXPERIMENT, Subject};
use crate::domain::orders::OrderView;
use crate::domain::orders::{FulfilInput, OrderFilter, Status, Viewer};

/// Header a guest shows an order with.
pub const ORDER_TOKEN_HEADER: &str = "x-order-token";

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_invoice,
    admin_invoice,
    checkout,
    my_orders,
    get_order,
    cancel_own,
    admin_list,
    admin_get,
    fulfil,
    admin_cancel,
    add_note,
    complete
))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/checkout", web::post().to(checkout))
        .route("/api/v1/orders", web::get().to(my_orders))
        .route("/api/v1/orders/{id}", web::get().to(get_order))
        .route("/api/v1/orders/{id}/invoice", web::get().to(get_invoice))
        .route(
            "/api/v1/admin/orders/{id}/invoice",
            web::get().to(admin_invoice),
        )
        .route("/api/v1/orders/{id}/cancel", web::post().to(cancel_own))
        .route("/api/v1/admin/orders", web::get().to(admin_list))
        .route("/api/v1/admin/orders/{id}", web::get().to(admin_get))
        .route(
            "/api/v1/admin/orders/{id}/fulfilments",
            web::post().to(fulfil),
        )
        .route(
            "/api/v1/admin/orders/{id}/cancel",
            web::post().to(admin_cancel),
        )
        .route("/api/v1/admin/orders/{id}/notes", web::post().to(add_note))
        .route(
            "/api/v1/admin/orders/{id}/complete",
            web::post().to(complete),
        );
}

type Result<T> = std::result::Result<T, ApiError>;

/// Places an order from the caller's cart. Requires `Idempotency-Key`: a repeat with the same
/// body returns the same order as first created (`Idempotent-Replayed: true`; a repeat that
/// arrives while the first still runs waits for it and replays it), a repeat with another body
/// is 422 `idempotency_key_reused`. The order is `pending_payment` and its stock is reserved until
/// `expires_at`; the response's `order_token` shows it to a guest (`X-Order-Token`), and its
/// `payment` is what the customer confirms (`POST /api/v1/payments/{id}/confirm` with the
/// `test` provider). The confirmation mail is sent once the payment succeeds.
#[utoipa::path(post, path = "/api/v1/checkout", tag = "checkout", security((), ("bearer" = [])), request_body = CheckoutInput,
    params(("Idempotency-Key" = String, Header, description = "Unique per order attempt, up to 255 characters"),
        ("X-Cart-Token" = Option<String>, Header, description = "Anonymous cart token")),
    responses((status = 201, description = "The order with `order_token` and `payment`", body = CheckoutView),
        (status = 400, description = "Missing Idempotency-Key or cart", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, expired or someone else's cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`out_of_stock`, `price_changed` or `product_unavailable`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` or `idempotency_key_reused`", body = Problem, content_type = "application/problem+json")))]
pub async fn checkout(
    req: HttpRequest,
    state: web::Data<HttpState>,
    who: Shopper,
    body: Json<CheckoutInput>,
) -> Result<HttpResponse> {
    let arm = reservation_arm(&req, &state)?;
    let resp = state
        .checkout
        .checkout(
            who.0,
            idempotency_key(&req),
            body.into_inner(),
            PlaceOptions {
                strategy: arm.as_ref().map(|a| a.0),
                visitor: super::experiments::visitor_id(&req),
            },
        )
        .await?;
    if let Some((_, subject, _)) = &arm
        && !resp.replayed
    {
        order_placed(&state, subject.clone());
    }
    let placed = resp.outcome;
    let view = CheckoutView {
        order: OrderView {
            order_token: Some(placed.order_token),
            ..OrderView::of(&placed.order)
        },
        payment: placed.payment,
    };
    let mut b = HttpResponse::Created();
    if resp.replayed {
        b.insert_header(("Idempotent-Replayed", "true"));
    }
    if let Some((_, subject, new)) = &arm {
        super::experiments::visitor_cookie(&mut b, &state, *new, subject);
    }
    Ok(b.json(view))
}

/// The metric a checkout under the `reservation_strategy` experiment converts on.
pub const ORDER_PLACED_METRIC: &str = "custom:order_placed";

/// The reservation strategy the running `reservation_strategy` experiment gives the caller
/// (its exposure recorded), with the subject and whether it is a new visitor.
fn reservation_arm(
    req: &HttpRequest,
    state: &HttpState,
) -> Result<Option<(crate::domain::inventory::Strategy, Subject, bool)>> {
    if state.experiments.running(RESERVATION_EXPERIMENT).is_none() {
        return Ok(None);
    }
    let (subject, new) = super::experiments::subject_of(req, None)?;
    Ok(reservation_arm_of(state, subject)?.map(|(s, subject)| (s, subject, new)))
}

/// The arm of `subject` in the running `reservation_strategy` experiment, its exposure
/// recorded (the API's checkout and the checkout page share it).
pub(crate) fn reservation_arm_of(
    state: &HttpState,
    subject: Subject,
) -> Result<Option<(crate::domain::inventory::Strategy, Subject)>> {
    if state.experiments.running(RESERVATION_EXPERIMENT).is_none() {
        return Ok(None);
    }
    let now = state.clock.now();
    let a = state
        .experiments
        .assignment(RESERVATION_EXPERIMENT, &subject, now)?;
    let Some(strategy) = a
        .variant
        .as_deref()
        .and_then(crate::domain::inventory::Strategy::parse)
    else {
        return Ok(None);
    };
    // Not exposed (the event queue is full): not in the experiment, the default applies.
    if state
        .experiments
        .expose(RESERVATION_EXPERIMENT, subject.clone(), now)
        .is_err()
    {
        return Ok(None);
    }
    Ok(Some((strategy, subject)))
}

/// Records the arm's outcome, an order placed. The order stands either way: a full event
/// queue costs the experiment one conversion.
pub(crate) fn order_placed(state: &HttpState, subject: Subject) {
    let now = state.clock.now();
    if let Err(e) = state
        .experiments
        .convert(subject, ORDER_PLACED_METRIC, 1, now)
    {
        tracing::warn!(error = %e, "reservation experiment: conversion not recorded");
    }
}

/// The checkout response: the order, and the payment to confirm.
#[derive(serde::Serialize, ToSchema)]
pub struct CheckoutView {
    /// The order (with `order_token`).
    #[serde(flatten)]
    pub order: OrderView,
    /// The payment to confirm (`null` only for orders placed before payments existed).
    pub payment: Option<crate::domain::payments::PaymentRef>,
}

/// The `Idempotency-Key` header (a non-ASCII value is passed on as invalid).
pub(super) fn idempotency_key(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or("\u{0}"))
}

/// 201 with the view of a keyed write's outcome, marked `Idempotent-Replayed` when an earlier
/// request with the key produced it (the same outcome renders the same bytes).
pub(super) fn created(view: &impl serde::Serialize, replayed: bool) -> HttpResponse {
    let mut b = HttpResponse::Created();
    if replayed {
        b.insert_header(("Idempotent-Replayed", "true"));
    }
    b.json(view)
}

/// The signed-in customer's orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "checkout", security(("bearer" = [])), params(CursorQuery),
    responses((status = 200, description = "A page of orders, newest first", body = Page<crate::domain::orders::OrderView>)))]
pub async fn my_orders(
    state: web::Data<HttpState>,
    who: Signed,
    q: web::Query<CursorQuery>,
) -> Result<HttpResponse> {
    let customer = who
        .principal
        .customer_id()
        .ok_or_else(|| ApiError::not_found("API keys have no orders of their own"))?;
    let page =
        state
            .orders
            .list_for_customer(customer, per_page(q.per_page)?, q.cursor.as_deref())?;
    Ok(HttpResponse::Ok().json(page))
}

/// Who asks about an order: a guest with `X-Order-Token`, else the signed-in customer.
pub(super) fn viewer(req: &HttpRequest) -> Result<Viewer> {
    if let Some(t) = req.headers().get(ORDER_TOKEN_HEADER) {
        return Ok(Viewer::Token(t.to_str().unwrap_or_default().to_owned()));
    }
    let p = super::identity::principal(req)?;
    match p.customer_id() {
        Some(c) => Ok(Viewer::Customer(c)),
        None => Err(ApiError::not_found("no such order")),
    }
}

/// One order: its customer's (bearer token) or a guest's (`X-Order-Token`). Other people's
/// orders are 404.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "checkout", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "ord_…"),
        ("X-Order-Token" = Option<String>, Header, description = "The order_token from checkout")),
    responses((status = 200, description = "The order", body = crate::domain::orders::OrderView),
        (status = 401, description = "Neither signed in nor an order token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order, or not yours", body = Problem, content_type = "application/problem+json")))]
pub async fn get_order(
    req: HttpRequest,
    state: web::Data<HttpState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let who = viewer(&req)?;
    Ok(HttpResponse::Ok().json(state.orders.get(&id, &who)?))
}

/// The printable invoice (HTML) of a paid order, for its customer or guest; 404 until paid.
#[utoipa::path(get, path = "/api/v1/orders/{id}/invoice", tag = "checkout", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "ord_…"),
        ("X-Order-Token" = Option<String>, Header, description = "The order_token from checkout")),
    responses((status = 200, description = "The invoice", content_type = "text/html", body = String),
        (status = 401, description = "Neither signed in nor an order token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such paid order, or not yours", body = Problem, content_type = "application/problem+json")))]
pub async fn get_invoice(
    req: HttpRequest,
    state: web::Data<HttpState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let who = viewer(&req)?;
    invoice(&state, &id, &who)
}

/// The printable invoice (HTML) of a paid order.
#[utoipa::path(get, path = "/api/v1/admin/orders/{id}/invoice", tag = "orders-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "ord_…")),
    responses((status = 200, description = "The invoice", content_type = "text/html", body = String),
        (status = 404, description = "No such paid order", body = Problem, content_type = "application/problem+json")))]
pub async fn admin_invoice(
    state: web::Data<HttpState>,
    _who: Staff<scope::Orders>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    invoice(&state, &id, &Viewer::Staff)
}

/// The invoice page of order `id` as `who` sees it (the API's route and the storefront's).
pub fn invoice(state: &HttpState, id: &str, who: &Viewer) -> Result<HttpResponse> {
    let inv = state.orders.invoice(id, who)?;
    let tax_id = match inv.order.customer_id {
        Some(c) => state.rules.tax_id(c)?,
        None => None,
    };
    super::invoice::render(&inv, &state.orders.settings().shop_name, tax_id)
}

/// Body of cancellations.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why (kept in the order's history).
    pub reason: Option<String>,
}

/// Cancels one's own unpaid order (customer or guest with `X-Order-Token`); its stock is
/// released and a cancellation mail sent.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "checkout", security((), ("bearer" = [])), request_body = Option<CancelBody>,
    params(("id" = String, Path, description = "ord_…")),
    responses((status = 200, description = "The order", body = crate::domain::orders::OrderView),
        (status = 409, description = "`invalid_transition` (e.g. already paid)", body = Problem, content_type = "application/problem+json")))]
pub async fn cancel_own(
    req: HttpRequest,
    state: web::Data<HttpState>,
    id: web::Path<String>,
    body: Option<Json<CancelBody>>,
) -> Result<HttpResponse> {
    let who = viewer(&req)?;
    let actor = match &who {
        Viewer::Customer(c) => c.to_string(),
        _ => "guest".to_owned(),
    };
    let reason = body.and_then(|b| b.into_inner().reason).map(clip);
    Ok(HttpResponse::Ok().json(state.orders.cancel(&id, &who, actor, reason).await?))
}

fn clip(s: String) -> String {
    s.chars().take(500).collect()
}

/// Filters of the staff order list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminListQuery {
    /// `pending_payment`, `paid`, `partially_fulfilled`, `fulfilled`, `completed`,
    /// `cancelled`, `expired`, `partially_refunded` or `refunded`.
    pub status: Option<String>,
    /// `cus_…`.
    pub customer: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<String>,
    /// Created before (RFC 3339).
    pub created_to: Option<String>,
    /// Total at least, in minor units.
    pub min_total: Option<i64>,
    /// Total at most, in minor units.
    pub max_total: Option<i64>,
    /// 1–100, default 20.
    pub per_page: Option<usize>,
    /// From the previous page.
    pub cursor: Option<String>,
}

fn time(field: &str, v: &Option<String>) -> Result<Option<Timestamp>> {
    match v {
        None => Ok(None),
        Some(s) => Timestamp::parse_rfc3339(s)
            .map(Some)
            .ok_or_else(|| ApiError::validation(field, "invalid", "is not an RFC 3339 time")),
    }
}

/// Orders, newest first, filtered by status, customer, creation date and total.
#[utoipa::path(get, path = "/api/v1/admin/orders", tag = "orders-admin", security(("bearer" = [])), params(AdminListQuery),
    responses((status = 200, description = "A page of orders, newest first", body = Page<crate::domain::orders::OrderView>)))]
pub async fn admin_list(
    state: web::Data<HttpState>,
    _who: Staff<scope::Orders>,
    q: web::Query<AdminListQuery>,
) -> Result<HttpResponse> {
    let status =
        match &q.status {
            None => None,
            Some(s) => Some(Status::parse(s).ok_or_else(|| {
                ApiError::validation("status", "invalid", "is not an order status")
            })?),
        };
    let customer = match &q.customer {
        None => None,
        Some(c) => Some(
            CustomerId::parse(c)
                .map_err(|_| ApiError::validation("customer", "invalid", "is not a customer id"))?,
        ),
    };
    let f = OrderFilter {
        status,
        customer,
        created_from: time("created_from", &q.created_from)?,
        created_to: time("created_to", &q.created_to)?,
        min_total: q.min_total,
        max_total: q.max_total,
    };
    let page = state
        .orders
        .list(&f, per_page(q.per_page)?, q.cursor.as_deref())?;
    Ok(HttpResponse::Ok().json(page))
}

/// One order with staff notes.
#[utoipa::path(get, path = "/api/v1/admin/orders/{id}", tag = "orders-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "ord_…")),
    responses((status = 200, description = "The order", body = crate::domain::orders::OrderView)))]
pub async fn admin_get(
    state: web::Data<HttpState>,
    _who: Staff<scope::Orders>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.orders.get(&id, &Viewer::Staff)?))
}

/// One shipped line.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilLine {
    /// `line_…` of the order.
    pub line_id: String,
    /// Units shipped.
    pub quantity: i64,
}

/// Body of a fulfilment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilBody {
    /// Lines shipped (default: everything not yet shipped).
    #[serde(default)]
    pub lines: Vec<FulfilLine>,
    /// Carrier.
    pub carrier: String,
    /// Tracking number.
    pub tracking_number: String,
}

/// Ships units of a paid order with carrier and tracking number; the customer gets the
/// shipping mail. Requires `Idempotency-Key` (same semantics as checkout), so a retried
/// request never ships twice.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/fulfilments", tag = "orders-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "ord_…"),
        ("Idempotency-Key" = String, Header, description = "Unique per fulfilment attempt, up to 255 characters")), request_body = FulfilBody,
    responses((status = 201, description = "The order with the new entry", body = crate::domain::orders::OrderView),
        (status = 409, description = "`invalid_transition`: not paid, or more units than ordered", body = Problem, content_type = "application/problem+json")))]
pub async fn fulfil(
    req: HttpRequest,
    state: web::Data<HttpState>,
    who: Staff<scope::Orders>,
    id: web::Path<String>,
    body: Json<FulfilBody>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let input = FulfilInput {
        lines: b
            .lines
            .into_iter()
            .map(|l| (l.line_id, l.quantity))
            .collect(),
        carrier: b.carrier,
        tracking_number: b.tracking_number,
    };
    let resp = state
        .orders
        .fulfil(&id, input, who.principal.actor(), idempotency_key(&req))
        .await?;
    Ok(created(
        &OrderView::staff(&resp.outcome.order),
        resp.replayed,
    ))
}

/// Cancels an unpaid order and releases its stock.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/cancel", tag = "orders-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "ord_…")), request_body = Option<CancelBody>,
    responses((status = 200, description = "The order", body = crate::domain::orders::OrderView),
        (status = 409, description = "`invalid_transition`", body = Problem, content_type = "application/problem+json")))]
pub async fn admin_cancel(
    state: web::Data<HttpState>,
    who: Staff<scope::Orders>,
    id: web::Path<String>,
    body: Option<Json<CancelBody>>,
) -> Result<HttpResponse> {
    let reason = body.and_then(|b| b.into_inner().reason).map(clip);
    let view = state
        .orders
        .cancel(&id, &Viewer::Staff, who.principal.actor(), reason)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Body of a note.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// Text (1–5000 characters).
    pub text: String,
}

/// Adds an internal note.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/notes", tag = "orders-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "ord_…")), request_body = NoteBody,
    responses((status = 201, description = "The order with the new entry", body = crate::domain::orders::OrderView)))]
pub async fn add_note(
    state: web::Data<HttpState>,
    who: Staff<scope::Orders>,
    id: web::Path<String>,
    body: Json<NoteBody>,
) -> Result<HttpResponse> {
    let view = state
        .orders
        .add_note(&id, who.principal.actor(), body.into_inner().text)
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Closes a fulfilled order.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/complete", tag = "orders-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "ord_…")),
    responses((status = 200, description = "The order", body = crate::domain::orders::OrderView),
        (status = 409, description = "`invalid_transition`", body = Problem, content_type = "application/problem+json")))]
pub async fn complete(
    state: web::Data<HttpState>,
    who: Staff<scope::Orders>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.orders.complete(&id, who.principal.actor()).await?))
}
