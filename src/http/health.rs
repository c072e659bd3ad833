//! Liveness, readiness and the Prometheus scrape endpoint.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, HttpState};
use crate::core::errors as codes;

/// Body of the health endpoints.
#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)))
        .service(web::resource("/metrics").route(web::get().to(metrics)));
}

/// The process is alive and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = HealthStatus)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "ok" })
}

/// Ready for traffic: migrations and recovery are done, storage accepts writes, and the
/// process is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthStatus),
        (status = 503, description = "Not ready", body = super::Problem, content_type = "application/problem+json")))]
pub async fn readyz(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    // On PostgreSQL this asks the database (bounded by the statement timeout), off the
    // request threads.
    let reachable = web::block(move || store.check_reachable())
        .await
        .unwrap_or(false);
    if !reachable {
        return Err(ApiError::new(
            codes::STORAGE_UNAVAILABLE,
            match state.store.backend_name() {
                "postgres" => "the PostgreSQL database does not answer; writes fail until it does",
                _ => "storage failed and refuses writes; restart shopd once the disk is healthy",
            },
        ));
    }
    if !state.health.is_ready() {
        return Err(ApiError::new(
            codes::NOT_READY,
            "starting up or shutting down",
        ));
    }
    Ok(HttpResponse::Ok().json(HealthStatus { status: "ready" }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<HttpState>, req: actix_web::HttpRequest) -> HttpResponse {
    if let Ok(rows) = crate::jobs::queue_depth(&state.store) {
        state.metrics.set_queue_depth(&rows);
    }
    if let Ok(ms) = state.jobs.oldest_ready_age_ms() {
        state.metrics.set_oldest_ready_age(ms);
    }
    if let Ok(n) = state.payments.flagged_count() {
        state.metrics.set_payments_flagged(n);
    }
    let wants_openmetrics = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if wants_openmetrics {
        HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(state.metrics.render_openmetrics())
    } else {
        HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(state.metrics.render())
    }
}
