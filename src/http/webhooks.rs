//! Outgoing webhook routes (admins; API keys need the `orders` scope): endpoints with their
//! secret shown once and rotation, the delivery log, and replays.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::identity::{Admin, scope};
use super::json::Json;
use super::paging::{CursorQuery, per_page};
use super::{ApiError, HttpState, Problem};
use crate::core::{Page, Timestamp};
use crate::domain::webhooks::{Delivery, EndpointInput, EndpointView};

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create,
    list,
    get,
    update,
    delete,
    rotate,
    deliveries,
    replay_event,
    replay_failed
))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/admin/webhook-endpoints")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/api/v1/admin/webhook-endpoints/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .route(
        "/api/v1/admin/webhook-endpoints/{id}/rotate-secret",
        web::post().to(rotate),
    )
    .route(
        "/api/v1/admin/webhook-endpoints/{id}/deliveries",
        web::get().to(deliveries),
    )
    .route(
        "/api/v1/admin/webhook-endpoints/{id}/replay",
        web::post().to(replay_failed),
    )
    .route(
        "/api/v1/admin/events/{id}/replay",
        web::post().to(replay_event),
    );
}

type Result<T> = std::result::Result<T, ApiError>;

/// Registers an endpoint for event types (`*`: all). The URL must be `https` and resolve only
/// to public addresses (422 `url_not_allowed` otherwise; `webhooks.allow_private_targets` lifts
/// this). The answer carries the signing secret (`whsec_…`), shown only here: deliveries are
/// signed per the Standard Webhooks specification, so any Standard Webhooks library verifies
/// them. With an `Idempotency-Key`, a repeat of the request answers 200 with the endpoint
/// created the first time, without its secret.
#[utoipa::path(post, path = "/api/v1/admin/webhook-endpoints", tag = "webhooks", security(("bearer" = [])), request_body = EndpointInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional; up to 255 characters")),
    responses((status = 201, description = "The endpoint with `secret`", body = EndpointView),
        (status = 200, description = "A repeat with the same Idempotency-Key: the endpoint, without its secret", body = EndpointView),
        (status = 409, description = "`conflict`: too many endpoints", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`url_not_allowed` or `validation_failed`", body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    req: HttpRequest,
    state: web::Data<HttpState>,
    who: Admin<scope::Orders>,
    body: Json<EndpointInput>,
) -> Result<HttpResponse> {
    let key = super::orders::idempotency_key(&req);
    let actor = who.principal.actor();
    let r = state
        .webhooks
        .create(body.into_inner(), &actor, key)
        .await?;
    let mut answer = if r.replayed {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(answer
        .insert_header(("Cache-Control", "no-store"))
        .json(r.outcome))
}

/// Every endpoint (without secrets), oldest first.
#[utoipa::path(get, path = "/api/v1/admin/webhook-endpoints", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "The endpoints", body = Vec<EndpointView>)))]
pub async fn list(state: web::Data<HttpState>, _who: Admin<scope::Orders>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.webhooks.list()?))
}

/// One endpoint (without its secret).
#[utoipa::path(get, path = "/api/v1/admin/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "whe_…")),
    responses((status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    state: web::Data<HttpState>,
    _who: Admin<scope::Orders>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.webhooks.get(&id)?))
}

/// Changes URL, event types, label or `enabled` (enabling again clears shopd's reason for
/// disabling it).
#[utoipa::path(patch, path = "/api/v1/admin/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])), request_body = EndpointInput,
    params(("id" = String, Path, description = "whe_…")),
    responses((status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`url_not_allowed` or `validation_failed`", body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    state: web::Data<HttpState>,
    _who: Admin<scope::Orders>,
    id: web::Path<String>,
    body: Json<EndpointInput>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.webhooks.update(&id, body.into_inner()).await?))
}

/// Removes an endpoint; its pending deliveries are abandoned.
#[utoipa::path(delete, path = "/api/v1/admin/webhook-endpoints/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "whe_…")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    state: web::Data<HttpState>,
    _who: Admin<scope::Orders>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    state.webhooks.delete(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Body of a rotation.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Hours the previous secret keeps signing (0–168, default 24).
    pub overlap_hours: Option<u64>,
}

/// Replaces the signing secret (shown once in the answer). Until the overlap ends, deliveries
/// carry a signature by each secret, so receivers switch without losing one.
#[utoipa::path(post, path = "/api/v1/admin/webhook-endpoints/{id}/rotate-secret", tag = "webhooks", security(("bearer" = [])), request_body = Option<RotateBody>,
    params(("id" = String, Path, description = "whe_…")),
    responses((status = 200, description = "The endpoint with its new `secret`", body = EndpointView),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json")))]
pub async fn rotate(
    state: web::Data<HttpState>,
    _who: Admin<scope::Orders>,
    id: web::Path<String>,
    body: Option<Json<RotateBody>>,
) -> Result<HttpResponse> {
    let hours = body
        .and_then(|b| b.into_inner().overlap_hours)
        .unwrap_or(24);
    if hours > 168 {
        return Err(ApiError::validation(
            "overlap_hours",
            "invalid",
            "must be 0 to 168",
        ));
    }
    let overlap = std::time::Duration::from_secs(hours * 3600);
    Ok(HttpResponse::Ok().json(state.webhooks.rotate(&id, overlap).await?))
}

/// An endpoint's delivery log, newest first: each attempt's time, status code, duration and
/// the first 1 KiB of the answer.
#[utoipa::path(get, path = "/api/v1/admin/webhook-endpoints/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "whe_…"), CursorQuery),
    responses((status = 200, description = "A page of deliveries", body = Page<Delivery>),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json")))]
pub async fn deliveries(
    state: web::Data<HttpState>,
    _who: Admin<scope::Orders>,
    id: web::Path<String>,
    q: web::Query<CursorQuery>,
) -> Result<HttpResponse> {
    let page = state
        .webhooks
        .deliveries(&id, per_page(q.per_page)?, q.cursor.as_deref())?;
    Ok(HttpResponse::Ok().json(page))
}

/// Deliveries a replay created.
#[derive(Serialize, ToSchema)]
pub struct Replayed {
    /// One per endpoint that wants the event.
    pub data: Vec<Delivery>,
}

/// Delivers one event again to every enabled endpoint that wants it, with the same
/// `webhook-id` (receivers deduplicate on it).
#[utoipa::path(post, path = "/api/v1/admin/events/{id}/replay", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "evt_…")),
    responses((status = 200, description = "The new deliveries", body = Replayed),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json")))]
pub async fn replay_event(
    state: web::Data<HttpState>,
    _who: Admin<scope::Orders>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(Replayed {
        data: state.webhooks.replay_event(&id).await?,
    }))
}

/// Body of a replay of failed deliveries.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// Deliveries created at or after this time (RFC 3339).
    pub since: String,
}

/// A queued job.
#[derive(Serialize, ToSchema)]
pub struct Queued {
    /// `job_…` (see `GET /api/v1/admin/jobs/{id}`).
    pub job_id: String,
}

/// Replays every delivery to this endpoint that died since a time, in the background.
#[utoipa::path(post, path = "/api/v1/admin/webhook-endpoints/{id}/replay", tag = "webhooks", security(("bearer" = [])), request_body = ReplayBody,
    params(("id" = String, Path, description = "whe_…")),
    responses((status = 202, description = "The replay job", body = Queued),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json")))]
pub async fn replay_failed(
    state: web::Data<HttpState>,
    _who: Admin<scope::Orders>,
    id: web::Path<String>,
    body: Json<ReplayBody>,
) -> Result<HttpResponse> {
    let since = Timestamp::parse_rfc3339(&body.since)
        .ok_or_else(|| ApiError::validation("since", "invalid", "is not an RFC 3339 time"))?;
    let job = state.webhooks.replay_failed(&id, since).await?;
    Ok(HttpResponse::Accepted().json(Queued {
        job_id: job.to_string(),
    }))
}
