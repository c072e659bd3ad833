//! The single error shape of the API: RFC 9457 problem details with a stable `code`.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::storage::StorageError;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a 422.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// Path of the field, e.g. `variants[0].price.amount`.
    pub field: String,
    /// Stable code, e.g. `must_be_positive`.
    pub code: String,
    /// Human explanation.
    pub message: String,
}

/// RFC 9457 problem details as sent on the wire.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI naming the problem type (`urn:shopd:problem:<code>`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the status.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Stable machine-readable code clients switch on.
    pub code: String,
    /// Per-field validation errors (422 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Every error a handler can return; rendered as [`Problem`].
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Explanation.
    pub detail: String,
    /// Field errors.
    pub errors: Vec<FieldError>,
    /// Seconds for `Retry-After` (429/503).
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ApiError {
    /// A problem with a status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", detail)
    }

    /// 404: missing, or not visible to the caller.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 422 with one field error.
    pub fn validation(field: &str, code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("{field}: {message}"),
        );
        e.errors.push(FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message,
        });
        e
    }

    /// 500 without internals.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an unexpected error occurred; the request id identifies it in the server log",
        )
    }

    /// The generic problem for a bare status produced outside handlers (router, extractors).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, detail) = match status.as_u16() {
            400 => ("malformed_request", "the request is malformed"),
            401 => ("unauthenticated", "missing or invalid credentials"),
            403 => ("forbidden", "not allowed"),
            404 => ("not_found", "no such resource"),
            405 => (
                "method_not_allowed",
                "this method is not allowed on this resource",
            ),
            406 => (
                "not_acceptable",
                "cannot produce an acceptable representation",
            ),
            408 => ("request_timeout", "the request took too long to arrive"),
            409 => ("conflict", "the request conflicts with the current state"),
            411 => ("length_required", "a Content-Length header is required"),
            412 => ("precondition_failed", "a precondition failed"),
            413 => ("payload_too_large", "the request body is too large"),
            414 => ("uri_too_long", "the request URI is too long"),
            415 => ("unsupported_media_type", "unsupported content type"),
            422 => (
                "validation_failed",
                "the request is well-formed but invalid",
            ),
            429 => ("rate_limited", "too many requests"),
            431 => ("headers_too_large", "request headers are too large"),
            503 => (
                "service_unavailable",
                "the service is temporarily unavailable",
            ),
            s if s >= 500 => ("internal_error", "an unexpected error occurred"),
            _ => ("error", "the request failed"),
        };
        Self::new(status, code, detail)
    }

    /// The wire body.
    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("urn:shopd:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            errors: self.errors.clone(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut b = HttpResponse::build(self.status);
        b.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(s) = self.retry_after {
            b.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            b.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"shopd\""));
        }
        b.body(body)
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io(_) | StorageError::Unavailable | StorageError::WriterStopped => {
                tracing::error!(error = %e, "storage unavailable");
                let mut a = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the store cannot accept writes right now; nothing was saved",
                );
                a.retry_after = Some(5);
                a
            }
            StorageError::Codec { .. } | StorageError::Panicked => {
                tracing::error!(error = %e, "storage error");
                ApiError::internal()
            }
        }
    }
}
