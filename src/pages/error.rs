//! Page errors: any failure of a page handler is an [`ApiError`] from the one code table, shown
//! as an HTML page with the same code and message. [`themed_errors`] re-renders every HTML
//! error answer (handlers', the router's, extractors') with the theme's `error.html`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use minijinja::context;

use super::{PageState, Visitor};
use crate::core::Code;
use crate::http::ApiError;
use crate::http::error_page::{ErrorPageInfo, for_error};

/// A page handler's failure.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl PageError {
    /// An error with `code` and an explanation for the visitor.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        PageError(ApiError::new(code, detail))
    }
    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        PageError(ApiError::not_found(detail))
    }
    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        PageError(ApiError::bad_request(detail))
    }
    /// 500 without details.
    pub fn internal() -> Self {
        PageError(ApiError::internal())
    }
}

impl<E> From<E> for PageError
where
    ApiError: From<E>,
{
    fn from(e: E) -> Self {
        PageError(ApiError::from(e))
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.0.status()
    }
    fn error_response(&self) -> HttpResponse {
        for_error(&self.0)
    }
}

/// Middleware: every answer carrying [`ErrorPageInfo`] (HTML error pages, never the API's
/// problem+json) is rendered again with the theme, keeping its status and headers.
pub async fn themed_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let info = res.response().extensions().get::<ErrorPageInfo>().cloned();
    let Some(info) = info else {
        return Ok(res.map_into_boxed_body());
    };
    let Some(pages) = res.request().app_data::<PageState>().cloned() else {
        return Ok(res.map_into_boxed_body());
    };
    let status = res.status();
    let visitor = Visitor::anonymous();
    let ctx = context! {
        status => status.as_u16(),
        title => status.canonical_reason().unwrap_or("Error"),
        code => info.code,
        detail => info.detail,
        fields => info.fields,
        path => res.request().path(),
    };
    let Ok(html) = pages.render("error.html", &visitor, ctx) else {
        return Ok(res.map_into_boxed_body());
    };
    let (req, old) = res.into_parts();
    let mut b = HttpResponse::build(status);
    for (k, v) in old.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            b.append_header((k.clone(), v.clone()));
        }
    }
    let page = super::html_response(b, html);
    Ok(ServiceResponse::new(req, page))
}
