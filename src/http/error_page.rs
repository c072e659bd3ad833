//! The HTML error page for answers outside `/api/`: the same stable code and message as the
//! API's problem+json, for browsers. The storefront's themed page will replace the markup.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::problem::ApiError;

/// An HTML page for a bare error status produced outside handlers (router 404/405, extractors).
pub fn for_status(status: StatusCode) -> HttpResponse {
    let e = ApiError::from_status(status);
    let title = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} {title}</title></head>\n<body><h1>{title}</h1><p>{detail}</p><p><code data-code=\"{name}\">{name}</code></p></body></html>\n",
        code = status.as_u16(),
        title = escape(title),
        detail = escape(&e.detail),
        name = escape(e.code.name),
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
