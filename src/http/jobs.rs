//! Job administration routes (admins; API keys need the `diagnostics` scope): the queue's jobs
//! by state and kind, one job whole, retry a dead job, discard a waiting or dead one.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::identity::{Admin, scope};
use super::{ApiError, HttpState, Problem};
use crate::core::{JobId, Page};
use crate::domain::jobs_admin::JobView;
use crate::jobs::JobState;

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_jobs, get_job, retry_job, discard_job))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/admin/jobs", web::get().to(list_jobs))
        .service(
            web::resource("/api/v1/admin/jobs/{id}")
                .route(web::get().to(get_job))
                .route(web::delete().to(discard_job)),
        )
        .route("/api/v1/admin/jobs/{id}/retry", web::post().to(retry_job));
}

type Result<T> = std::result::Result<T, ApiError>;

fn job_id(s: &str) -> Result<JobId> {
    JobId::parse(s).map_err(|_| ApiError::not_found("no such job"))
}

/// Query of [`list_jobs`].
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// `ready`, `in_flight`, `done` or `dead` (default: every state, dead first).
    pub state: Option<String>,
    /// Only this handler kind, e.g. `mail.send`.
    pub kind: Option<String>,
    /// 1–100, default 20.
    pub per_page: Option<usize>,
    /// From the previous page.
    pub cursor: Option<String>,
}

/// Jobs by state and kind, a page at a time (without payloads).
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "jobs", security(("bearer" = [])), params(JobsQuery),
    responses((status = 200, description = "A page of jobs", body = Page<JobView>),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json")))]
pub async fn list_jobs(
    state: web::Data<HttpState>,
    _who: Admin<scope::Diagnostics>,
    q: web::Query<JobsQuery>,
) -> Result<HttpResponse> {
    let per_page = super::paging::per_page(q.per_page)?;
    let job_state = match q.state.as_deref() {
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            ApiError::validation("state", "invalid", "must be ready, in_flight, done or dead")
        })?),
        None => None,
    };
    if let Some(k) = &q.kind
        && (k.is_empty() || k.len() > 100 || k.contains('~'))
    {
        return Err(ApiError::validation(
            "kind",
            "invalid",
            "must be a job kind such as mail.send",
        ));
    }
    let page = state
        .jobs
        .list(job_state, q.kind.as_deref(), per_page, q.cursor.as_deref())?;
    Ok(HttpResponse::Ok().json(page))
}

/// One job with its payload, attempts and last error.
#[utoipa::path(get, path = "/api/v1/admin/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = String, Path, description = "job_…")),
    responses((status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json")))]
pub async fn get_job(
    state: web::Data<HttpState>,
    _who: Admin<scope::Diagnostics>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.jobs.get(job_id(&id)?)?))
}

/// Puts a dead job back in the queue with a fresh attempt budget.
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/retry", tag = "jobs", security(("bearer" = [])),
    params(("id" = String, Path, description = "job_…")),
    responses((status = 200, description = "The job, ready again", body = JobView),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not dead", body = Problem, content_type = "application/problem+json")))]
pub async fn retry_job(
    state: web::Data<HttpState>,
    _who: Admin<scope::Diagnostics>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.jobs.retry(job_id(&id)?).await?))
}

/// Discards a ready or dead job for good.
#[utoipa::path(delete, path = "/api/v1/admin/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = String, Path, description = "job_…")),
    responses((status = 204, description = "Discarded"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Running or done", body = Problem, content_type = "application/problem+json")))]
pub async fn discard_job(
    state: web::Data<HttpState>,
    _who: Admin<scope::Diagnostics>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    state.jobs.discard(job_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
