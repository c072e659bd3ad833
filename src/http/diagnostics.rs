//! Diagnostics routes (only when `diagnostics.enabled`): enqueue counted test jobs, write
//! notes, and trigger a panic to prove containment.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::identity::{Admin, scope};
use super::json::Json;
use super::{ApiError, HttpState};
use crate::core::{DEFAULT_PER_PAGE, MAX_PER_PAGE, Page};
use crate::domain::diagnostics::{DiagKey, Diagnostics, EffectSummary, JobStatus, Note};

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(enqueue_job, job_status, summary, put_note, list_notes))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/admin/diagnostics")
            .service(web::resource("/jobs").route(web::post().to(enqueue_job)))
            .service(web::resource("/jobs/summary").route(web::get().to(summary)))
            .service(web::resource("/jobs/{key}").route(web::get().to(job_status)))
            .service(
                web::resource("/notes")
                    .route(web::post().to(put_note))
                    .route(web::get().to(list_notes)),
            )
            .service(web::resource("/panic").route(web::get().to(panic_route))),
    );
}

fn service<'a>(
    state: &'a HttpState,
    _who: &Admin<scope::Diagnostics>,
) -> Result<&'a Diagnostics, ApiError> {
    state.diagnostics.as_ref().ok_or_else(|| {
        ApiError::not_found("diagnostics are disabled (diagnostics.enabled = false)")
    })
}

/// Body of [`enqueue_job`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueBody {
    /// Dedupe key: enqueueing the same key twice creates one job.
    pub key: String,
}

/// Enqueues a diagnostic job whose effect is counted per key, exactly once.
#[utoipa::path(post, path = "/api/v1/admin/diagnostics/jobs", tag = "diagnostics", security(("bearer" = [])),
    request_body = EnqueueBody,
    responses(
        (status = 202, description = "Enqueued (durably committed)", body = Enqueued),
        (status = 404, description = "Diagnostics disabled", body = super::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid key", body = super::Problem, content_type = "application/problem+json")))]
pub async fn enqueue_job(
    state: web::Data<HttpState>,
    who: Admin<scope::Diagnostics>,
    body: Json<EnqueueBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = service(&state, &who)?;
    let key = DiagKey::parse(&body.key)?;
    let (id, created) = svc.enqueue(key.clone()).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(Enqueued {
        job_id: id.to_string(),
        key: key.as_str().to_owned(),
        created,
    }))
}

/// State of the job for a key and how many times its effect was applied.
#[utoipa::path(get, path = "/api/v1/admin/diagnostics/jobs/{key}", tag = "diagnostics", security(("bearer" = [])),
    params(("key" = String, Path, description = "The key given at enqueue")),
    responses(
        (status = 200, description = "Status", body = JobStatus),
        (status = 404, description = "Unknown key or diagnostics disabled", body = super::Problem, content_type = "application/problem+json")))]
pub async fn job_status(
    state: web::Data<HttpState>,
    who: Admin<scope::Diagnostics>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = service(&state, &who)?;
    let key = DiagKey::parse(&key).map_err(|_| ApiError::not_found("no such key"))?;
    Ok(HttpResponse::Ok().json(svc.status(&key)?))
}

/// Totals over all diagnostic jobs: keys applied, duplicates (must be 0), jobs still pending.
#[utoipa::path(get, path = "/api/v1/admin/diagnostics/jobs/summary", tag = "diagnostics", security(("bearer" = [])),
    responses((status = 200, description = "Totals", body = Summary)))]
pub async fn summary(
    state: web::Data<HttpState>,
    who: Admin<scope::Diagnostics>,
) -> Result<HttpResponse, ApiError> {
    let svc = service(&state, &who)?;
    let s = svc.summary()?;
    let pending = svc.pending()?;
    Ok(HttpResponse::Ok().json(Summary {
        effects: s,
        pending,
    }))
}

/// Answer of [`enqueue_job`].
#[derive(serde::Serialize, ToSchema)]
pub struct Enqueued {
    /// `job_…`.
    pub job_id: String,
    /// The caller's key.
    pub key: String,
    /// False when a job with this key existed already (nothing new was queued).
    pub created: bool,
}

/// Answer of [`summary`].
#[derive(serde::Serialize, ToSchema)]
pub struct Summary {
    /// Effect totals.
    #[serde(flatten)]
    pub effects: EffectSummary,
    /// Jobs not yet finished.
    pub pending: u64,
}

/// Body of [`put_note`].
#[derive(Deserialize, ToSchema)]
#[schema(as = DiagNoteBody)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// Key (1–200 printable ASCII characters).
    pub key: String,
    /// Free text up to 10000 bytes.
    #[serde(default)]
    pub value: String,
}

/// Writes a note; answered only after it is durable.
#[utoipa::path(post, path = "/api/v1/admin/diagnostics/notes", tag = "diagnostics", security(("bearer" = [])),
    request_body = NoteBody,
    responses(
        (status = 201, description = "Stored", body = Note),
        (status = 422, description = "Invalid", body = super::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage failed; nothing stored", body = super::Problem, content_type = "application/problem+json")))]
pub async fn put_note(
    state: web::Data<HttpState>,
    who: Admin<scope::Diagnostics>,
    body: Json<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = service(&state, &who)?;
    let body = body.into_inner();
    let key = DiagKey::parse(&body.key)?;
    let note = svc.put_note(key, body.value).await?;
    Ok(HttpResponse::Created().json(note))
}

/// Query of [`list_notes`].
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size (1–100, default 20).
    pub per_page: Option<usize>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// Lists notes in key order.
#[utoipa::path(get, path = "/api/v1/admin/diagnostics/notes", tag = "diagnostics", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of notes", body = Page<Note>),
        (status = 400, description = "Unknown parameter", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list_notes(
    state: web::Data<HttpState>,
    who: Admin<scope::Diagnostics>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = service(&state, &who)?;
    let per_page = q.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiError::validation(
            "per_page",
            "out_of_range",
            format!("must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    Ok(HttpResponse::Ok().json(svc.list_notes(per_page, q.cursor.as_deref())?))
}

#[allow(clippy::panic)]
async fn panic_route(
    state: web::Data<HttpState>,
    who: Admin<scope::Diagnostics>,
) -> Result<HttpResponse, ApiError> {
    service(&state, &who)?;
    panic!("diagnostics panic route: deliberate panic with secret internals");
}
