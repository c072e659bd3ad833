//! Recommendations over HTTP: `GET /api/v1/products/{id}/recommendations` and
//! `GET /api/v1/recommendations/for-me` answer from the lists the recommendations module keeps
//! up to date. Without `?strategy=`, a running `recommendation_strategy` experiment picks the
//! strategy per visitor or customer (and records the exposure); otherwise the default applies.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::experiments::{subject_of, visitor_cookie};
use super::identity::principal;
use super::{ApiError, HttpState, Problem};
use crate::core::ProductId;
use crate::domain::experiments::{Assignment, RECOMMENDATION_EXPERIMENT};
use crate::domain::recommend::{Context, Recommended, Strategy};

type Result<T> = std::result::Result<T, ApiError>;

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(product_recommendations, recommendations_for_me))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/products/{id}/recommendations",
        web::get().to(product_recommendations),
    )
    .route(
        "/api/v1/recommendations/for-me",
        web::get().to(recommendations_for_me),
    );
}

/// Query of the recommendation operations.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecommendationQuery {
    /// `popular`, `trending`, `similar`, `bought_together`, `buy_again` or `for_you`
    /// (default: the running `recommendation_strategy` experiment's arm for the caller, else
    /// `bought_together` for a product and `for_you` for the caller).
    pub strategy: Option<String>,
    /// How many (1–50, default 10).
    pub limit: Option<usize>,
}

/// Recommended products and how they were chosen.
#[derive(Serialize, ToSchema)]
pub struct Recommendations {
    /// The products, best first.
    pub data: Vec<Recommended>,
    /// The strategy that ranked them.
    pub strategy: String,
    /// The experiment that chose the strategy, when one did.
    pub experiment: Option<Assignment>,
}

const STRATEGIES: &str =
    "must be popular, trending, similar, bought_together, buy_again or for_you";

fn parse_limit(limit: Option<usize>) -> Result<usize> {
    let limit = limit.unwrap_or(10);
    if (1..=50).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::validation(
            "limit",
            "out_of_range",
            "must be 1 to 50",
        ))
    }
}

/// The signed-in customer, if the request carries a customer's credentials.
fn customer_of(req: &HttpRequest) -> Result<Option<String>> {
    let has_credentials = req.headers().contains_key("authorization")
        || req.cookie(super::identity::ACCESS_COOKIE).is_some();
    if !has_credentials {
        return Ok(None);
    }
    Ok(principal(req)?.customer_id().map(|c| c.to_string()))
}

/// Answers with the named strategy, or the experiment's arm, or `default`.
fn answer(
    req: &HttpRequest,
    state: &HttpState,
    named: Option<&str>,
    default: Strategy,
    ctx: &Context,
    limit: usize,
) -> Result<HttpResponse> {
    let now = state.clock.now();
    let mut r = HttpResponse::Ok();
    let (strategy, experiment) = match named {
        Some(s) => {
            let s = Strategy::parse(s)
                .ok_or_else(|| ApiError::validation("strategy", "invalid", STRATEGIES))?;
            (s, None)
        }
        None => match state.experiments.running(RECOMMENDATION_EXPERIMENT) {
            Some(_) => {
                let (subject, new) = subject_of(req, None)?;
                let a = state
                    .experiments
                    .assignment(RECOMMENDATION_EXPERIMENT, &subject, now)?;
                visitor_cookie(&mut r, state, new, &subject);
                let arm = a.variant.as_deref().and_then(Strategy::parse);
                match arm {
                    // Not exposed (the event queue is full): not in it, the default applies.
                    Some(s)
                        if state
                            .experiments
                            .expose(RECOMMENDATION_EXPERIMENT, subject, now)
                            .is_ok() =>
                    {
                        (s, Some(a))
                    }
                    _ => (default, None),
                }
            }
            None => {
                r.insert_header(("Cache-Control", "private, max-age=60"));
                (default, None)
            }
        },
    };
    let data = state.recommender.recommend(strategy, ctx, now, limit)?;
    Ok(r.json(Recommendations {
        data,
        strategy: strategy.as_str().to_owned(),
        experiment,
    }))
}

/// Products to show with this one. `bought_together` (default) ranks co-occurrence in paid
/// orders normalised by cosine, `similar` content likeness, `popular` and `trending` the
/// shop's sales; `buy_again` and `for_you` use the signed-in customer's purchases. Only
/// products on sale and in stock; never the product itself.
#[utoipa::path(get, path = "/api/v1/products/{id}/recommendations", tag = "catalog", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "prod_…"), RecommendationQuery),
    responses((status = 200, description = "The products, best first", body = Recommendations),
        (status = 401, description = "Credentials that are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown strategy or a limit out of range", body = Problem, content_type = "application/problem+json")))]
pub async fn product_recommendations(
    req: HttpRequest,
    state: web::Data<HttpState>,
    id: web::Path<String>,
    q: web::Query<RecommendationQuery>,
) -> Result<HttpResponse> {
    let id = ProductId::parse(&id).map_err(|_| ApiError::not_found("no such product"))?;
    let limit = parse_limit(q.limit)?;
    // The product must exist and be on sale (a draft's id is 404, as on its own route).
    state.catalog.get_product(&id.to_string(), true)?;
    let ctx = Context {
        products: vec![id],
        customer: customer_of(&req)?,
    };
    answer(
        &req,
        &state,
        q.strategy.as_deref(),
        Strategy::BoughtTogether,
        &ctx,
        limit,
    )
}

/// Products for the caller: `for_you` (default) blends the signed-in customer's history
/// through co-occurrence with their repeat purchases and falls back to `popular` for
/// visitors and new customers; `buy_again` lists their repeat purchases.
#[utoipa::path(get, path = "/api/v1/recommendations/for-me", tag = "catalog", security((), ("bearer" = [])),
    params(RecommendationQuery),
    responses((status = 200, description = "The products, best first", body = Recommendations),
        (status = 401, description = "Credentials that are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown strategy or a limit out of range", body = Problem, content_type = "application/problem+json")))]
pub async fn recommendations_for_me(
    req: HttpRequest,
    state: web::Data<HttpState>,
    q: web::Query<RecommendationQuery>,
) -> Result<HttpResponse> {
    let limit = parse_limit(q.limit)?;
    let ctx = Context {
        products: Vec::new(),
        customer: customer_of(&req)?,
    };
    answer(
        &req,
        &state,
        q.strategy.as_deref(),
        Strategy::ForYou,
        &ctx,
        limit,
    )
}
