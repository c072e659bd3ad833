//! Payment routes: a customer's (or guest's) payments of an order, the `test` provider's card
//! confirmation and 3-D Secure step, and staff mark-paid, capture and refunds (`orders` scope).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::identity::{Staff, scope};
use super::json::Json;
use super::orders::{created, idempotency_key, viewer};
use super::{ApiError, HttpState, Problem};
use crate::domain::orders::Viewer;
use crate::domain::payments::{CardInput, PaymentView, RefundInput};

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    order_payments,
    get_payment,
    confirm,
    authenticate,
    return_from_provider,
    stripe_webhook,
    mark_paid,
    admin_payments,
    flagged,
    capture,
    refund
))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/orders/{id}/payments",
        web::get().to(order_payments),
    )
    .route("/api/v1/payments/{id}", web::get().to(get_payment))
    .route("/api/v1/payments/{id}/confirm", web::post().to(confirm))
    .route(
        "/api/v1/payments/{id}/authenticate",
        web::post().to(authenticate),
    )
    .route(
        "/api/v1/admin/orders/{id}/mark-paid",
        web::post().to(mark_paid),
    )
    .route(
        "/api/v1/admin/orders/{id}/payments",
        web::get().to(admin_payments),
    )
    .route(
        "/api/v1/admin/payments/{id}/capture",
        web::post().to(capture),
    )
    .route("/api/v1/admin/orders/{id}/refunds", web::post().to(refund))
    .route(
        "/api/v1/payments/stripe/webhook",
        web::post().to(stripe_webhook),
    )
    .route(
        "/api/v1/payments/{id}/return",
        web::post().to(return_from_provider),
    )
    .route("/api/v1/admin/payments/flagged", web::get().to(flagged));
}

type Result<T> = std::result::Result<T, ApiError>;

/// An order's payments, oldest first: its customer's (bearer token) or a guest's
/// (`X-Order-Token`).
#[utoipa::path(get, path = "/api/v1/orders/{id}/payments", tag = "payments", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "ord_…"),
        ("X-Order-Token" = Option<String>, Header, description = "The order_token from checkout")),
    responses((status = 200, description = "The payments", body = Vec<PaymentView>),
        (status = 401, description = "Neither signed in nor an order token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order, or not yours", body = Problem, content_type = "application/problem+json")))]
pub async fn order_payments(
    req: HttpRequest,
    state: web::Data<HttpState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let who = viewer(&req)?;
    Ok(HttpResponse::Ok().json(state.payments.for_order(&id, &who)?))
}

/// One payment (through its order: the customer's, or a guest's with `X-Order-Token`).
#[utoipa::path(get, path = "/api/v1/payments/{id}", tag = "payments", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "pay_…"),
        ("X-Order-Token" = Option<String>, Header, description = "The order_token from checkout")),
    responses((status = 200, description = "The payment", body = PaymentView),
        (status = 401, description = "Neither signed in nor an order token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment, or not yours", body = Problem, content_type = "application/problem+json")))]
pub async fn get_payment(
    req: HttpRequest,
    state: web::Data<HttpState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let who = viewer(&req)?;
    Ok(HttpResponse::Ok().json(state.payments.get(&id, &who)?))
}

/// Confirms a `test` payment with a card; Stripe's test numbers decide (`4242424242424242`
/// succeeds, `4000000000000002` is declined, `4000002760003184` requires authentication, …).
/// The amount is the order's, never the client's. A refusal is 402 `card_declined` with
/// `decline_code`, and the payment may be confirmed again with another card; a payment
/// already paid answers as it is.
#[utoipa::path(post, path = "/api/v1/payments/{id}/confirm", tag = "payments", security((), ("bearer" = [])), request_body = CardInput,
    params(("id" = String, Path, description = "pay_…"),
        ("X-Order-Token" = Option<String>, Header, description = "The order_token from checkout")),
    responses((status = 200, description = "The payment: `succeeded`, `requires_capture` or `requires_action`", body = PaymentView),
        (status = 401, description = "Neither signed in nor an order token", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "`card_declined` with `decline_code`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`payment_not_payable`", body = Problem, content_type = "application/problem+json")))]
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<HttpState>,
    id: web::Path<String>,
    body: Json<CardInput>,
) -> Result<HttpResponse> {
    let who = viewer(&req)?;
    Ok(HttpResponse::Ok().json(state.payments.confirm(&id, &who, &body).await?))
}

/// The customer's answer to 3-D Secure.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthenticateBody {
    /// `approve` or `deny`.
    pub outcome: String,
}

/// Completes 3-D Secure on a `test` payment that `requires_action`: `approve` secures the
/// money, `deny` is 402 `card_declined` (`authentication_failed`) and the payment may be
/// confirmed again.
#[utoipa::path(post, path = "/api/v1/payments/{id}/authenticate", tag = "payments", security((), ("bearer" = [])), request_body = AuthenticateBody,
    params(("id" = String, Path, description = "pay_…"),
        ("X-Order-Token" = Option<String>, Header, description = "The order_token from checkout")),
    responses((status = 200, description = "The payment", body = PaymentView),
        (status = 401, description = "Neither signed in nor an order token", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "`card_declined` (`authentication_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`payment_not_payable`: not waiting for authentication", body = Problem, content_type = "application/problem+json")))]
pub async fn authenticate(
    req: HttpRequest,
    state: web::Data<HttpState>,
    id: web::Path<String>,
    body: Json<AuthenticateBody>,
) -> Result<HttpResponse> {
    let who = viewer(&req)?;
    let approve = match body.outcome.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return Err(ApiError::validation(
                "outcome",
                "invalid",
                "must be approve or deny",
            ));
        }
    };
    Ok(HttpResponse::Ok().json(state.payments.authenticate(&id, &who, approve).await?))
}

/// The customer is back from the provider (Stripe's Payment Element or Checkout): shopd asks
/// the provider for the payment's state and settles it, the same way a webhook would, so the
/// order is paid once whichever arrives first.
#[utoipa::path(post, path = "/api/v1/payments/{id}/return", tag = "payments", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "pay_…"),
        ("X-Order-Token" = Option<String>, Header, description = "The order_token from checkout")),
    responses((status = 200, description = "The payment", body = PaymentView),
        (status = 401, description = "Neither signed in nor an order token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment, or not yours", body = Problem, content_type = "application/problem+json")))]
pub async fn return_from_provider(
    req: HttpRequest,
    state: web::Data<HttpState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let who = viewer(&req)?;
    Ok(HttpResponse::Ok().json(state.payments.refresh(&id, &who).await?))
}

/// The answer to Stripe.
#[derive(serde::Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// Always true: the event is taken.
    pub received: bool,
    /// `applied`, `duplicate` (seen before, nothing done) or `ignored` (not an event or object
    /// shopd handles).
    pub result: String,
}

/// Stripe's webhook endpoint. The `Stripe-Signature` header is verified on the raw body with
/// the configured secrets (300 s tolerance) before anything is read: otherwise 400 and nothing
/// happens. Each event id is applied once, in any order.
#[utoipa::path(post, path = "/api/v1/payments/stripe/webhook", tag = "payments", security(()),
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=…")),
    request_body(content = Object, content_type = "application/json", description = "A Stripe event"),
    responses((status = 200, description = "Taken", body = WebhookAnswer),
        (status = 400, description = "`webhook_signature_invalid`", body = Problem, content_type = "application/problem+json")))]
pub async fn stripe_webhook(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let sig = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let ack = state.payments.stripe_webhook(&body, sig).await?;
    let result = match ack {
        crate::domain::payments::Ack::Applied => "applied",
        crate::domain::payments::Ack::Duplicate => "duplicate",
        crate::domain::payments::Ack::Ignored => "ignored",
    };
    Ok(HttpResponse::Ok().json(WebhookAnswer {
        received: true,
        result: result.into(),
    }))
}

/// Records a payment received outside shopd (bank transfer, cash) through the same settle
/// path as a card: the order becomes `paid` and its stock is sold (an order that had expired
/// is revived if its stock is still there).
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/mark-paid", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path, description = "ord_…")),
    responses((status = 200, description = "The order", body = crate::domain::orders::OrderView),
        (status = 409, description = "`invalid_transition`", body = Problem, content_type = "application/problem+json")))]
pub async fn mark_paid(
    state: web::Data<HttpState>,
    who: Staff<scope::Orders>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.payments.mark_paid(&id, who.principal.actor()).await?))
}

/// An order's payments with provider references, review flags, attempts and refunds.
#[utoipa::path(get, path = "/api/v1/admin/orders/{id}/payments", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path, description = "ord_…")),
    responses((status = 200, description = "The payments", body = Vec<PaymentView>)))]
pub async fn admin_payments(
    state: web::Data<HttpState>,
    _who: Staff<scope::Orders>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.payments.for_order(&id, &Viewer::Staff)?))
}

/// Payments held for staff review, oldest first (at most 100): a provider amount or currency
/// that differs from the order's (never marked paid), an authorization about to lapse.
#[utoipa::path(get, path = "/api/v1/admin/payments/flagged", tag = "payments", security(("bearer" = [])),
    responses((status = 200, description = "The payments", body = Vec<PaymentView>)))]
pub async fn flagged(
    state: web::Data<HttpState>,
    _who: Staff<scope::Orders>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.payments.flagged(100)?))
}

/// Captures an authorized payment (`payments.capture = "manual"`; the first fulfilment also
/// captures).
#[utoipa::path(post, path = "/api/v1/admin/payments/{id}/capture", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path, description = "pay_…")),
    responses((status = 200, description = "The payment", body = PaymentView),
        (status = 409, description = "`payment_not_payable`: not authorized", body = Problem, content_type = "application/problem+json")))]
pub async fn capture(
    state: web::Data<HttpState>,
    who: Staff<scope::Orders>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.payments.capture(&id, who.principal.actor()).await?))
}

/// Refunds (part of) what the order paid. Requires `Idempotency-Key` (a retry replays the
/// refund instead of refunding twice). Give an `amount`, or `lines` (units) and `shipping`:
/// each unit returns its share of what its line was charged, discount and tax included, read
/// from the order's quote. With neither, everything not yet refunded; more than that is 422
/// `validation_failed` (`over_refund`). Gift cards that paid get theirs back first, at once;
/// the provider's part is `pending` until the provider answers. The order then becomes
/// `partially_refunded` or `refunded`. `restock` puts units back on hand now.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/refunds", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path, description = "ord_…"),
        ("Idempotency-Key" = String, Header, description = "Unique per refund, up to 255 characters")), request_body = RefundInput,
    responses((status = 201, description = "The refund", body = crate::domain::payments::RefundView),
        (status = 409, description = "`payment_not_payable`: nothing captured to refund", body = Problem, content_type = "application/problem+json")))]
pub async fn refund(
    req: HttpRequest,
    state: web::Data<HttpState>,
    who: Staff<scope::Orders>,
    id: web::Path<String>,
    body: Json<RefundInput>,
) -> Result<HttpResponse> {
    let resp = state
        .payments
        .refund(
            &id,
            body.into_inner(),
            who.principal.actor(),
            idempotency_key(&req),
        )
        .await?;
    Ok(created(
        &crate::domain::payments::RefundView::of(&resp.outcome),
        resp.replayed,
    ))
}
