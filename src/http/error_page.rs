//! The HTML error page for answers outside `/api/`: the same stable code and message as the
//! API's problem+json, for browsers. Each such answer carries an [`ErrorPageInfo`] in its
//! extensions, so the storefront's middleware can render it again with the shop's theme; this
//! plain page is what remains when no theme is mounted.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::problem::ApiError;

/// What an HTML error page shows: the stable code and the explanation.
#[derive(Clone, Debug)]
pub struct ErrorPageInfo {
    /// The code table's name (`not_found`).
    pub code: &'static str,
    /// Explanation for the visitor.
    pub detail: String,
    /// Per-field problems, if any.
    pub fields: Vec<(String, String)>,
}

/// An HTML page for a bare error status produced outside handlers (router 404/405, extractors).
pub fn for_status(status: StatusCode) -> HttpResponse {
    for_error(&ApiError::from_status(status))
}

/// An HTML page for `e`.
pub fn for_error(e: &ApiError) -> HttpResponse {
    let status = e.status();
    let title = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} {title}</title></head>\n<body><h1>{title}</h1><p>{detail}</p><p><code data-code=\"{name}\">{name}</code></p></body></html>\n",
        code = status.as_u16(),
        title = escape(title),
        detail = escape(&e.detail),
        name = escape(e.code.name),
    );
    let mut r = HttpResponse::build(status);
    if let Some(s) = e.retry_after {
        r.insert_header((actix_web::http::header::RETRY_AFTER, s.to_string()));
    }
    let mut r = r.content_type("text/html; charset=utf-8").body(body);
    r.extensions_mut().insert(ErrorPageInfo {
        code: e.code.name,
        detail: e.detail.clone(),
        fields: e
            .errors
            .iter()
            .map(|f| (f.field.clone(), f.message.clone()))
            .collect(),
    });
    r
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
