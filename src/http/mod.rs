//! The HTTP layer: parse, authorize, call one domain function, render. It never opens a
//! storage transaction.

pub mod addresses;
pub mod auth;
pub mod cart;
pub mod catalog;
pub mod client;
pub mod diagnostics;
mod doc_responses;
pub mod docs;
pub mod error_page;
pub mod experiments;
pub mod health;
pub mod identity;
pub mod inventory;
pub mod invoice;
pub mod jobs;
pub mod json;
pub mod middleware;
pub mod orders;
pub mod paging;
pub mod payments;
pub mod pricing;
pub mod problem;
pub mod recommend;
pub mod search;
pub mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::error::{PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

pub use problem::{ApiError, Problem};

use crate::core::{Clock, RateLimiter};
use crate::domain::auth::Auth;
use crate::domain::catalog::Catalog;
use crate::domain::diagnostics::Diagnostics;
use crate::domain::search::Search;
use crate::observability::metrics::Metrics;
use crate::storage::Store;

/// Liveness and readiness flags shared with the composition root.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
    stopping: AtomicBool,
}

impl Health {
    /// Marks start-up (migrations, recovery) complete.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst)
    }
    /// Marks shutdown begun: readiness turns false so balancers drain traffic.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst)
    }
    /// Whether start-up finished and shutdown has not begun.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.stopping.load(Ordering::SeqCst)
    }
}

/// Everything handlers may use.
#[derive(Clone)]
pub struct HttpState {
    /// Readiness flags.
    pub health: Arc<Health>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Store handle, for health checks and domain services (never for transactions here).
    pub store: Store,
    /// Diagnostics service when enabled.
    pub diagnostics: Option<Diagnostics>,
    /// Accounts and tokens.
    pub auth: Auth,
    /// Products and categories.
    pub catalog: Catalog,
    /// Product search.
    pub search: Search,
    /// Stock levels.
    pub inventory: crate::domain::inventory::Inventory,
    /// Carts.
    pub carts: crate::domain::cart::Carts,
    /// Checkout.
    pub checkout: crate::domain::checkout::Checkout,
    /// Orders.
    pub orders: crate::domain::orders::Orders,
    /// Payments and refunds.
    pub payments: crate::domain::payments::Payments,
    /// Outgoing webhooks.
    pub webhooks: crate::domain::webhooks::Webhooks,
    /// Tax, shipping and promotion rules.
    pub rules: crate::domain::rules::PricingRules,
    /// Gift cards.
    pub gift_cards: crate::domain::giftcards::GiftCards,
    /// Experiments.
    pub experiments: crate::domain::experiments::Experiments,
    /// Recommendations.
    pub recommender: crate::domain::recommend::Recommender,
    /// Job administration.
    pub jobs: crate::domain::jobs_admin::JobsAdmin,
    /// Per-IP budget of login and token endpoints.
    pub auth_limiter: Arc<RateLimiter>,
    /// Time source for limits.
    pub clock: Arc<dyn Clock>,
    /// Whether session cookies are `Secure`.
    pub cookie_secure: bool,
    /// Lifetime of the refresh cookie in seconds (the refresh token's lifetime).
    pub refresh_cookie_secs: i64,
}

/// Body size bounds: one for every route, a larger one for file imports.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// Every body but the imports.
    pub default: usize,
    /// CSV imports (read with [`json::read_limited`]).
    pub import: usize,
}

/// Registers every route and the extractor error handlers.
pub fn configure(cfg: &mut web::ServiceConfig, state: HttpState, limits: BodyLimits) {
    cfg.app_data(web::Data::new(state))
        .app_data(json::BodyLimit(limits.default))
        .app_data(json::ImportLimit(limits.import))
        .app_data(web::PayloadConfig::new(limits.default))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error));
    for m in MODULES {
        cfg.configure(m.routes);
    }
}

/// One route module: its routes and the OpenAPI description of exactly those routes, declared
/// next to each other in the module. Adding a module is one line in [`MODULES`].
pub struct Module {
    /// Registers the module's routes.
    pub routes: fn(&mut web::ServiceConfig),
    /// The module's operations (and the schemas they use) for the API document.
    pub doc: fn() -> utoipa::openapi::OpenApi,
}

fn undocumented() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApi::default()
}

/// A route module whose operations its `Doc` describes.
macro_rules! documented {
    ($m:ident) => {
        Module {
            routes: $m::routes,
            doc: <$m::Doc as utoipa::OpenApi>::openapi,
        }
    };
}

/// Every route module, in registration order. The document itself is not an API operation;
/// pages and assets are mounted by [`crate::pages`].
pub const MODULES: &[Module] = &[
    documented!(health),
    Module {
        routes: docs::routes,
        doc: undocumented,
    },
    documented!(auth),
    documented!(addresses),
    documented!(catalog),
    documented!(search),
    documented!(inventory),
    documented!(cart),
    documented!(orders),
    documented!(payments),
    documented!(pricing),
    documented!(webhooks),
    documented!(diagnostics),
    documented!(experiments),
    documented!(recommend),
    documented!(jobs),
];

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request(format!("invalid query string: {err}")).into()
}

fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::not_found("no such resource").into()
}

/// Fallback for unknown routes.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if !req.path().starts_with("/api/") {
        return Ok(error_page::for_status(StatusCode::NOT_FOUND));
    }
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
