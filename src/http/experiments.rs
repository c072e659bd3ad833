//! Experiments over HTTP: staff define and run them (`/api/v1/admin/experiments`), and clients
//! ask which arm the current visitor or customer sees (`/api/v1/experiments/{key}/assignment`).
//! Anonymous visitors are known by the `shopd_vid` cookie, set on their first assignment.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::identity::{Staff, principal, scope};
use super::json::Json;
use super::{ApiError, HttpState, Problem};
use crate::core::Page;
use crate::domain::auth::Role;
use crate::domain::experiments::{
    Assignment, ExperimentInput, ExperimentPatch, ExperimentView, Subject,
};

type Result<T> = std::result::Result<T, ApiError>;
type Who = Staff<scope::Experiments>;

/// The anonymous visitor's id, kept a year.
pub const VISITOR_COOKIE: &str = "shopd_vid";

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(create_experiment, list_experiments, get_experiment, update_experiment, assignment))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/admin/experiments")
            .route(web::post().to(create_experiment))
            .route(web::get().to(list_experiments)),
    )
    .service(
        web::resource("/api/v1/admin/experiments/{key}")
            .route(web::get().to(get_experiment))
            .route(web::patch().to(update_experiment)),
    )
    .route(
        "/api/v1/experiments/{key}/assignment",
        web::get().to(assignment),
    );
}

fn with_etag(status: actix_web::http::StatusCode, e: ExperimentView) -> HttpResponse {
    let etag = format!("\"{}.{}\"", e.id, e.version);
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag))
        .json(e)
}

/// Defines an experiment: arms with weights (the first is the control), audience, dates and
/// metrics. It starts as a draft unless `status` is `running`.
#[utoipa::path(post, path = "/api/v1/admin/experiments", tag = "experiments", security(("bearer" = [])), request_body = ExperimentInput,
    responses((status = 201, description = "The experiment", body = ExperimentView),
        (status = 409, description = "`conflict`: the key is taken, or 200 experiments exist", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")))]
pub async fn create_experiment(
    state: web::Data<HttpState>,
    _who: Who,
    body: Json<ExperimentInput>,
) -> Result<HttpResponse> {
    let e = state.experiments.create(body.into_inner()).await?;
    Ok(with_etag(actix_web::http::StatusCode::CREATED, e))
}

/// Every experiment, by key (at most 200, so one page).
#[utoipa::path(get, path = "/api/v1/admin/experiments", tag = "experiments", security(("bearer" = [])),
    responses((status = 200, description = "The experiments", body = Page<ExperimentView>)))]
pub async fn list_experiments(state: web::Data<HttpState>, _who: Who) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(Page::whole(state.experiments.list()?)))
}

/// One experiment, with its `ETag`.
#[utoipa::path(get, path = "/api/v1/admin/experiments/{key}", tag = "experiments", security(("bearer" = [])),
    params(("key" = String, Path, description = "The experiment's key")),
    responses((status = 200, description = "The experiment", body = ExperimentView),
        (status = 404, description = "No such experiment", body = Problem, content_type = "application/problem+json")))]
pub async fn get_experiment(
    state: web::Data<HttpState>,
    _who: Who,
    key: web::Path<String>,
) -> Result<HttpResponse> {
    let e = state.experiments.get(&key)?;
    Ok(with_etag(actix_web::http::StatusCode::OK, e))
}

/// Starts (`running`), pauses, resumes or stops an experiment, or changes its description,
/// dates and metrics; arms and audience change only in draft. `If-Match` guards against a
/// concurrent change.
#[utoipa::path(patch, path = "/api/v1/admin/experiments/{key}", tag = "experiments", security(("bearer" = [])), request_body = ExperimentPatch,
    params(("key" = String, Path, description = "The experiment's key"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    responses((status = 200, description = "The experiment", body = ExperimentView),
        (status = 404, description = "No such experiment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the change does not fit the status", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: changed since the ETag", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")))]
pub async fn update_experiment(
    req: HttpRequest,
    state: web::Data<HttpState>,
    _who: Who,
    key: web::Path<String>,
    body: Json<ExperimentPatch>,
) -> Result<HttpResponse> {
    let version = super::catalog::if_match(&req)?;
    let e = state
        .experiments
        .update(&key, body.into_inner(), version)
        .await?;
    Ok(with_etag(actix_web::http::StatusCode::OK, e))
}

/// Query of [`assignment`].
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AssignmentQuery {
    /// For server-side callers (staff or an API key): the subject to assign, e.g. their own
    /// visitor id; ignored for everyone else.
    pub subject: Option<String>,
}

/// The subject of the request: `?subject=` from staff and API keys, the signed-in customer,
/// else the visitor cookie (a new visitor id when there is none; `true` when it is new).
fn subject_of(req: &HttpRequest, q: &AssignmentQuery) -> Result<(Subject, bool)> {
    let has_credentials = req.headers().contains_key("authorization")
        || req.cookie(super::identity::ACCESS_COOKIE).is_some();
    if has_credentials {
        let p = principal(req)?;
        if let Some(s) = q
            .subject
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if p.role < Role::Staff {
                return Err(ApiError::new(
                    crate::core::errors::FORBIDDEN,
                    "only staff and API keys name a subject",
                ));
            }
            if s.len() > 128 || s.chars().any(char::is_control) {
                return Err(ApiError::validation(
                    "subject",
                    "invalid",
                    "at most 128 characters",
                ));
            }
            return Ok((Subject::Visitor(s.to_owned()), false));
        }
        if let Some(c) = p.customer_id() {
            return Ok((Subject::Customer(c), false));
        }
    }
    let cookie = req
        .cookie(VISITOR_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| (16..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric()));
    Ok(match cookie {
        Some(v) => (Subject::Visitor(v), false),
        None => (
            Subject::Visitor(crate::core::secret::new_token("").replace(['-', '_'], "")),
            true,
        ),
    })
}

/// The arm the caller sees: a signed-in customer by account, an anonymous visitor by the
/// `shopd_vid` cookie (set on the first call), or `?subject=` for staff and API keys. The same
/// subject gets the same arm on every call, after restarts and on every node. `variant` is
/// `null` when the subject is not in the experiment (not running, outside its dates or its
/// audience).
#[utoipa::path(get, path = "/api/v1/experiments/{key}/assignment", tag = "experiments", security((), ("bearer" = [])),
    params(("key" = String, Path, description = "The experiment's key"), AssignmentQuery),
    responses((status = 200, description = "The assignment", body = Assignment),
        (status = 403, description = "`forbidden`: `subject` named by a customer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such experiment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`subject` longer than 128 characters", body = Problem, content_type = "application/problem+json")))]
pub async fn assignment(
    req: HttpRequest,
    state: web::Data<HttpState>,
    key: web::Path<String>,
    q: web::Query<AssignmentQuery>,
) -> Result<HttpResponse> {
    let (subject, new) = subject_of(&req, &q)?;
    let a = state
        .experiments
        .assignment(&key, &subject, state.clock.now())?;
    let mut r = HttpResponse::Ok();
    r.insert_header((header::CACHE_CONTROL, "no-store"));
    if let (true, Subject::Visitor(v)) = (new, &subject) {
        r.cookie(
            Cookie::build(VISITOR_COOKIE, v.clone())
                .path("/")
                .http_only(true)
                .secure(state.cookie_secure)
                .same_site(SameSite::Lax)
                .max_age(actix_web::cookie::time::Duration::days(365))
                .finish(),
        );
    }
    Ok(r.json(a))
}
