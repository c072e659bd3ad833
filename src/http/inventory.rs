//! Stock routes (staff, `inventory` scope for API keys): read, set and adjust a variant's stock,
//! its movement history, and the event outbox.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::identity::{Staff, scope};
use super::json::Json;
use super::paging::{CursorQuery, per_page};
use super::{ApiError, HttpState, Problem};
use crate::core::Page;
use crate::core::VariantId;
use crate::domain::events;
use crate::domain::inventory::{Backorder, Policy};

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_stock, set_stock, adjust_stock, list_movements, list_events))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/admin/variants/{id}/stock")
            .route(web::get().to(get_stock))
            .route(web::put().to(set_stock)),
    )
    .route(
        "/api/v1/admin/variants/{id}/stock/adjustments",
        web::post().to(adjust_stock),
    )
    .route(
        "/api/v1/admin/variants/{id}/stock/movements",
        web::get().to(list_movements),
    )
    .route("/api/v1/admin/events", web::get().to(list_events));
}

type Result<T> = std::result::Result<T, ApiError>;

fn variant_id(s: &str) -> Result<VariantId> {
    VariantId::parse(s).map_err(|_| ApiError::not_found("no such variant"))
}

/// A variant's stock: on hand, reserved, available, sold, policy.
#[utoipa::path(get, path = "/api/v1/admin/variants/{id}/stock", tag = "inventory", security(("bearer" = [])),
    params(("id" = String, Path, description = "var_…")),
    responses((status = 200, description = "The stock level", body = crate::domain::inventory::StockView),
        (status = 404, description = "No such variant", body = Problem, content_type = "application/problem+json")))]
pub async fn get_stock(
    state: web::Data<HttpState>,
    _who: Staff<scope::Inventory>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let v = variant_id(&id)?;
    Ok(HttpResponse::Ok().json(state.inventory.get(v)?))
}

/// Body of `PUT …/stock`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStock {
    /// Units on hand (a stocktake); 0 to 1,000,000,000.
    pub on_hand: i64,
    /// `deny` (default) or `allow` selling beyond stock.
    pub backorder: Option<Backorder>,
    /// Emit `inventory.low_stock` when available falls to or below this; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    pub low_stock_threshold: Option<Option<i64>>,
    /// Why (default "stocktake").
    pub reason: Option<String>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// Sets a variant's units on hand (and optionally its backorder policy and low-stock
/// threshold); the change is recorded as a movement.
#[utoipa::path(put, path = "/api/v1/admin/variants/{id}/stock", tag = "inventory", security(("bearer" = [])),
    params(("id" = String, Path, description = "var_…")), request_body = SetStock,
    responses((status = 200, description = "The stock level", body = crate::domain::inventory::StockView),
        (status = 404, description = "No such variant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid quantity", body = Problem, content_type = "application/problem+json")))]
pub async fn set_stock(
    state: web::Data<HttpState>,
    who: Staff<scope::Inventory>,
    id: web::Path<String>,
    body: Json<SetStock>,
) -> Result<HttpResponse> {
    let v = variant_id(&id)?;
    let b = body.into_inner();
    let view = state
        .inventory
        .set(
            v,
            b.on_hand,
            Policy {
                backorder: b.backorder,
                low_stock_threshold: b.low_stock_threshold,
            },
            b.reason.unwrap_or_else(|| "stocktake".into()),
            who.principal.actor(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Body of `POST …/stock/adjustments`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    /// Units to add (negative to remove).
    pub delta: i64,
    /// Why: "delivery", "damaged", … (1–200 characters).
    pub reason: String,
}

/// Adds units to (or removes them from) a variant's stock. Removing more than is available is
/// refused unless backorders are allowed.
#[utoipa::path(post, path = "/api/v1/admin/variants/{id}/stock/adjustments", tag = "inventory", security(("bearer" = [])),
    params(("id" = String, Path, description = "var_…")), request_body = Adjustment,
    responses((status = 201, description = "Adjusted; the new stock level", body = crate::domain::inventory::StockView),
        (status = 404, description = "No such variant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Would take available below zero (`out_of_stock`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid delta or reason", body = Problem, content_type = "application/problem+json")))]
pub async fn adjust_stock(
    state: web::Data<HttpState>,
    who: Staff<scope::Inventory>,
    id: web::Path<String>,
    body: Json<Adjustment>,
) -> Result<HttpResponse> {
    let v = variant_id(&id)?;
    let b = body.into_inner();
    let view = state
        .inventory
        .adjust(v, b.delta, b.reason, who.principal.actor())
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// A variant's stock movements, newest first.
#[utoipa::path(get, path = "/api/v1/admin/variants/{id}/stock/movements", tag = "inventory", security(("bearer" = [])),
    params(("id" = String, Path, description = "var_…"), CursorQuery),
    responses((status = 200, description = "A page of movements, newest first", body = Page<crate::domain::inventory::MovementView>),
        (status = 404, description = "No such variant", body = Problem, content_type = "application/problem+json")))]
pub async fn list_movements(
    state: web::Data<HttpState>,
    _who: Staff<scope::Inventory>,
    id: web::Path<String>,
    q: web::Query<CursorQuery>,
) -> Result<HttpResponse> {
    let v = variant_id(&id)?;
    let page = state
        .inventory
        .movements(v, per_page(q.per_page)?, q.cursor.as_deref())?;
    Ok(HttpResponse::Ok().json(page))
}

/// Query of the event list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only this type, e.g. `order.created`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// 1–100, default 20.
    pub per_page: Option<usize>,
    /// From the previous page.
    pub cursor: Option<String>,
}

/// Events recorded by the shop (the outbox webhooks are delivered from), newest first.
#[utoipa::path(get, path = "/api/v1/admin/events", tag = "inventory", security(("bearer" = [])),
    params(EventQuery),
    responses((status = 200, description = "A page of events", body = Page<crate::domain::events::Event>)))]
pub async fn list_events(
    state: web::Data<HttpState>,
    _who: Staff<scope::Orders>,
    q: web::Query<EventQuery>,
) -> Result<HttpResponse> {
    let after = match &q.cursor {
        None => None,
        Some(c) => Some(events::parse_cursor(c).ok_or_else(|| {
            ApiError::validation("cursor", "invalid", "is not a cursor returned by this list")
        })?),
    };
    let page = events::list(
        &state.store,
        q.type_.as_deref(),
        per_page(q.per_page)?,
        after,
    )?;
    Ok(HttpResponse::Ok().json(page))
}
