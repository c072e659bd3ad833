//! Experiments over HTTP: staff define and run them (`/api/v1/admin/experiments`), and clients
//! ask which arm the current visitor or customer sees (`/api/v1/experiments/{key}/assignment`).
//! Anonymous visitors are known by the `shopd_vid` cookie, set on their first assignment.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::identity::{Staff, principal, scope};
use super::json::Json;
use super::{ApiError, HttpState, Problem};
use crate::core::Page;
use crate::domain::auth::Role;
use crate::domain::experiments::results::{Method, Results};
use crate::domain::experiments::{
    Assignment, ExperimentInput, ExperimentPatch, ExperimentView, Subject,
};

type Result<T> = std::result::Result<T, ApiError>;
type Who = Staff<scope::Experiments>;

/// The anonymous visitor's id, kept a year.
pub const VISITOR_COOKIE: &str = "shopd_vid";

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_experiment,
    list_experiments,
    get_experiment,
    update_experiment,
    results,
    assignment,
    record_event
))]
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
        "/api/v1/admin/experiments/{key}/results",
        web::get().to(results),
    )
    .route(
        "/api/v1/experiments/{key}/assignment",
        web::get().to(assignment),
    )
    .route("/api/v1/experiments/events", web::post().to(record_event));
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
pub(super) fn subject_of(req: &HttpRequest, named: Option<&str>) -> Result<(Subject, bool)> {
    let has_credentials = req.headers().contains_key("authorization")
        || req.cookie(super::identity::ACCESS_COOKIE).is_some();
    if has_credentials {
        let p = principal(req)?;
        if let Some(s) = named.map(str::trim).filter(|s| !s.is_empty()) {
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
    Ok(match visitor_id(req) {
        Some(v) => (Subject::Visitor(v), false),
        None => (
            Subject::Visitor(crate::core::secret::new_token("").replace(['-', '_'], "")),
            true,
        ),
    })
}

/// The visitor id of the `shopd_vid` cookie, when the request carries a well-formed one.
pub fn visitor_id(req: &HttpRequest) -> Option<String> {
    req.cookie(VISITOR_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| (16..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric()))
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
    let (subject, new) = subject_of(&req, q.subject.as_deref())?;
    let a = state
        .experiments
        .assignment(&key, &subject, state.clock.now())?;
    let mut r = HttpResponse::Ok();
    visitor_cookie(&mut r, &state, new, &subject);
    Ok(r.json(a))
}

/// Sets the visitor cookie when the subject is a new visitor; answers are never cached.
pub(super) fn visitor_cookie(
    r: &mut actix_web::HttpResponseBuilder,
    state: &HttpState,
    new: bool,
    subject: &Subject,
) {
    r.insert_header((header::CACHE_CONTROL, "no-store"));
    if let (true, Subject::Visitor(v)) = (new, subject) {
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
}

/// Query of [`results`].
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResultsQuery {
    /// `sequential` (default: read at any time) or `fixed` (read once, at the planned size).
    pub method: Option<String>,
    /// `false` to leave out CUPED (default `true`: metrics with pre-period values are
    /// adjusted by them).
    pub cuped: Option<bool>,
}

/// The experiment's results: per variant the subjects, the primary and guardrail metrics'
/// rate or mean with a 95 % interval, the lift against the control (absolute and relative,
/// delta-method) with its interval and p-value, Holm-adjusted over the variants, and the
/// sample-ratio check (results are untrustworthy when `srm.mismatch`).
#[utoipa::path(get, path = "/api/v1/admin/experiments/{key}/results", tag = "experiments", security(("bearer" = [])),
    params(("key" = String, Path, description = "The experiment's key"), ResultsQuery),
    responses((status = 200, description = "The results", body = Results),
        (status = 404, description = "No such experiment", body = Problem, content_type = "application/problem+json")))]
pub async fn results(
    state: web::Data<HttpState>,
    _who: Who,
    key: web::Path<String>,
    q: web::Query<ResultsQuery>,
) -> Result<HttpResponse> {
    let method = match q.method.as_deref() {
        None | Some("sequential") => Method::Sequential,
        Some("fixed") => Method::Fixed,
        Some(_) => {
            return Err(ApiError::validation(
                "method",
                "invalid",
                "must be sequential or fixed",
            ));
        }
    };
    let cuped = q.cuped.unwrap_or(true);
    Ok(HttpResponse::Ok().json(state.experiments.results(&key, method, cuped)?))
}

/// The body of [`record_event`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// `exposure` (the subject was shown its variant of `experiment`), `add_to_cart`,
    /// `checkout_started` or `custom:<name>`. Paid orders and revenue are recorded by the shop
    /// itself.
    #[serde(rename = "type")]
    pub kind: String,
    /// The experiment, for an exposure.
    pub experiment: Option<String>,
    /// For staff and API keys: the subject (as with the assignment's `?subject=`).
    pub subject: Option<String>,
    /// A custom event's value (0 to 10¹², e.g. units or minor units): the metric
    /// `value:<name>` sums it per subject, while `custom:<name>` counts who sent the event.
    pub value: Option<i64>,
}

/// Records an exposure or a conversion of the caller (or of `subject`). Events are written in
/// batches within 500 ms; a crash loses at most that window. Only a subject's first exposure
/// counts, only while the experiment runs and the subject takes part; a conversion counts in
/// every experiment the subject was exposed to before it.
#[utoipa::path(post, path = "/api/v1/experiments/events", tag = "experiments", security((), ("bearer" = [])), request_body = EventBody,
    responses((status = 202, description = "Queued", body = EventQueued),
        (status = 403, description = "`forbidden`: `subject` named by a customer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such experiment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown type, an exposure without `experiment`, or a value on a non-custom event or out of range", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`busy`: too many events waiting; retry", body = Problem, content_type = "application/problem+json")))]
pub async fn record_event(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: Json<EventBody>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let (subject, new) = subject_of(&req, b.subject.as_deref())?;
    let now = state.clock.now();
    match b.value {
        Some(_) if !b.kind.starts_with("custom:") => {
            return Err(ApiError::validation(
                "value",
                "not_allowed",
                "only custom events carry a value",
            ));
        }
        Some(v) if !(0..=1_000_000_000_000).contains(&v) => {
            return Err(ApiError::validation(
                "value",
                "out_of_range",
                "must be 0 to 10^12",
            ));
        }
        _ => {}
    }
    match b.kind.as_str() {
        "exposure" => {
            let key = b.experiment.as_deref().ok_or_else(|| {
                ApiError::validation("experiment", "required", "an exposure names its experiment")
            })?;
            state.experiments.expose(key, subject.clone(), now)?;
        }
        "add_to_cart" | "checkout_started" => {
            state
                .experiments
                .convert(subject.clone(), &b.kind, 1, now)?;
        }
        k if k
            .strip_prefix("custom:")
            .is_some_and(crate::domain::experiments::custom_name) =>
        {
            state.experiments.convert(subject.clone(), k, 1, now)?;
            if let Some(v) = b.value {
                let name = format!("value:{}", &k["custom:".len()..]);
                state.experiments.convert(subject.clone(), &name, v, now)?;
            }
        }
        _ => {
            return Err(ApiError::validation(
                "type",
                "invalid",
                "must be exposure, add_to_cart, checkout_started or custom:<name>",
            ));
        }
    }
    let mut r = HttpResponse::Accepted();
    visitor_cookie(&mut r, &state, new, &subject);
    let within = crate::domain::experiments::exposures::FLUSH_EVERY.as_millis();
    Ok(r.json(EventQueued {
        written_within_ms: u64::try_from(within).unwrap_or(u64::MAX),
    }))
}

/// The answer of [`record_event`]: queued, written within this many milliseconds.
#[derive(serde::Serialize, ToSchema)]
pub struct EventQueued {
    /// The flush interval: the event is durable after at most this long.
    pub written_within_ms: u64,
}
