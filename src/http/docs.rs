//! The OpenAPI document generated from the handlers, and the embedded Swagger UI.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::{diagnostics, health, problem};

/// The API description; every route module adds its paths and schemas here.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "shopd",
        description = "A complete online shop in one binary. Errors are RFC 9457 problem details (application/problem+json) with a stable `code`.",
        license(name = "MIT")
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        diagnostics::enqueue_job,
        diagnostics::job_status,
        diagnostics::summary,
        diagnostics::put_note,
        diagnostics::list_notes,
    ),
    components(schemas(problem::Problem, problem::FieldError)),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "diagnostics", description = "Operator and test diagnostics (disabled unless diagnostics.enabled)")
    )
)]
pub struct ApiDoc;

/// The document with the running version filled in.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/docs").route(web::get().to(|| async {
        HttpResponse::PermanentRedirect()
            .insert_header(("Location", "/api/docs/"))
            .finish()
    })))
    .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", openapi()));
}
