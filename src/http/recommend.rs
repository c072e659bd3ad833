//! Recommendations over HTTP: `GET /api/v1/products/{id}/recommendations` answers from the
//! lists the recommendations module keeps up to date as orders are paid.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, HttpState, Problem};
use crate::core::{Page, ProductId};
use crate::domain::recommend::{Recommended, Strategy};

type Result<T> = std::result::Result<T, ApiError>;

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(product_recommendations))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/products/{id}/recommendations",
        web::get().to(product_recommendations),
    );
}

/// Query of [`product_recommendations`].
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecommendationQuery {
    /// `bought_together` (default) or `popular`.
    pub strategy: Option<String>,
    /// How many (1–50, default 10).
    pub limit: Option<usize>,
}

/// Products to show with this one: `bought_together` (co-occurrence in paid orders,
/// normalised by cosine so best-sellers do not top every list) or `popular` (the products in
/// the most paid orders). Only products on sale and in stock; never the product itself.
#[utoipa::path(get, path = "/api/v1/products/{id}/recommendations", tag = "catalog",
    params(("id" = String, Path, description = "prod_…"), RecommendationQuery),
    responses((status = 200, description = "The products, best first", body = Page<Recommended>),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown strategy or a limit out of range", body = Problem, content_type = "application/problem+json")))]
pub async fn product_recommendations(
    state: web::Data<HttpState>,
    id: web::Path<String>,
    q: web::Query<RecommendationQuery>,
) -> Result<HttpResponse> {
    let id = ProductId::parse(&id).map_err(|_| ApiError::not_found("no such product"))?;
    let strategy = match q.strategy.as_deref() {
        None => Strategy::BoughtTogether,
        Some(s) => Strategy::parse(s).ok_or_else(|| {
            ApiError::validation(
                "strategy",
                "invalid",
                "must be bought_together or popular (the other strategies are not built yet)",
            )
        })?,
    };
    let limit = q.limit.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            "out_of_range",
            "must be 1 to 50",
        ));
    }
    // The product must exist and be on sale (a draft's id is 404, as on its own route).
    state.catalog.get_product(&id.to_string(), true)?;
    let items = state.recommender.recommend(strategy, Some(id), limit)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(Page::whole(items)))
}
