//! The single error shape of the API: RFC 9457 problem details with a stable `code`.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::core::errors::{self as codes, Class, Code, ErrorCode, FieldIssue};

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
    /// Why a card was refused (`card_declined` only): `generic_decline`, `insufficient_funds`,
    /// `expired_card`, `incorrect_cvc`, `processing_error`, `authentication_failed`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
}

/// Every error a handler can return; rendered as [`Problem`]. Its status follows from the
/// code's class, so a code always answers with the same status.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The row of the code table.
    pub code: Code,
    /// Explanation.
    pub detail: String,
    /// Field errors.
    pub errors: Vec<FieldError>,
    /// Seconds for `Retry-After` (429/503).
    pub retry_after: Option<u64>,
    /// The decline code of a refused card (boxed: keeps every `Result<_, ApiError>` small).
    pub decline_code: Option<Box<str>>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status().as_u16(),
            self.code,
            self.detail
        )
    }
}

/// The HTTP status of each class: the only place the API maps failures to statuses.
pub fn status_of(class: Class) -> StatusCode {
    match class {
        Class::Malformed => StatusCode::BAD_REQUEST,
        Class::Unauthenticated => StatusCode::UNAUTHORIZED,
        Class::Forbidden => StatusCode::FORBIDDEN,
        Class::NotFound => StatusCode::NOT_FOUND,
        Class::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Class::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        Class::Timeout => StatusCode::REQUEST_TIMEOUT,
        Class::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
        Class::Conflict => StatusCode::CONFLICT,
        Class::LengthRequired => StatusCode::LENGTH_REQUIRED,
        Class::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        Class::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Class::UriTooLong => StatusCode::URI_TOO_LONG,
        Class::UnsupportedMedia => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Class::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        Class::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Class::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        Class::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl ApiError {
    /// A problem with a code from the table and a detail.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        ApiError {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            decline_code: None,
        }
    }

    /// The answer's status, from the code's class.
    pub fn status(&self) -> StatusCode {
        status_of(self.code.class)
    }

    /// 400: the request is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(codes::MALFORMED_REQUEST, detail)
    }

    /// 404: missing, or not visible to the caller.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(codes::NOT_FOUND, detail)
    }

    /// 422 with one field error.
    pub fn validation(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::fields(vec![FieldIssue::new(field, code, message)])
    }

    /// 422 listing every field issue.
    pub fn fields(issues: Vec<FieldIssue>) -> Self {
        let detail = issues
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let mut e = Self::new(codes::VALIDATION_FAILED, detail);
        e.errors = issues.into_iter().map(FieldError::from).collect();
        e
    }

    /// 500 without internals.
    pub fn internal() -> Self {
        Self::new(codes::INTERNAL_ERROR, codes::INTERNAL_MESSAGE)
    }

    /// The generic problem for a bare status produced outside handlers (router, extractors).
    pub fn from_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            400 => codes::MALFORMED_REQUEST,
            401 => codes::UNAUTHENTICATED,
            403 => codes::FORBIDDEN,
            404 => codes::NOT_FOUND,
            405 => codes::METHOD_NOT_ALLOWED,
            406 => codes::NOT_ACCEPTABLE,
            408 => codes::REQUEST_TIMEOUT,
            409 => codes::CONFLICT,
            411 => codes::LENGTH_REQUIRED,
            412 => codes::PRECONDITION_FAILED,
            413 => codes::PAYLOAD_TOO_LARGE,
            414 => codes::URI_TOO_LONG,
            415 => codes::UNSUPPORTED_MEDIA_TYPE,
            422 => codes::VALIDATION_FAILED,
            429 => codes::RATE_LIMITED,
            431 => codes::HEADERS_TOO_LARGE,
            503 => codes::SERVICE_UNAVAILABLE,
            s if s >= 500 => codes::INTERNAL_ERROR,
            _ => codes::MALFORMED_REQUEST,
        };
        Self::new(code, code.meaning)
    }

    /// The wire body.
    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("urn:shopd:problem:{}", self.code),
            title: self
                .status()
                .canonical_reason()
                .unwrap_or("Error")
                .to_owned(),
            status: self.status().as_u16(),
            detail: self.detail.clone(),
            code: self.code.name.to_owned(),
            errors: self.errors.clone(),
            decline_code: self.decline_code.as_deref().map(str::to_owned),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut b = HttpResponse::build(self.status());
        b.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(s) = self.retry_after {
            b.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        if self.status() == StatusCode::UNAUTHORIZED {
            b.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"shopd\""));
        }
        b.body(body)
    }
}

/// Any domain error, through the one trait: code, safe message, fields, retry hint. Faults are
/// logged here with their internals, which the answer never carries.
impl<E: ErrorCode> From<E> for ApiError {
    fn from(e: E) -> Self {
        let code = e.code();
        match code.class {
            Class::Internal | Class::Unavailable if code != codes::BUSY => {
                tracing::error!(error = %e, code = code.name, "request failed");
            }
            _ => {}
        }
        ApiError {
            code,
            detail: e.message(),
            errors: e.fields().into_iter().map(FieldError::from).collect(),
            retry_after: e.retry_after(),
            decline_code: e.decline_code().map(String::into_boxed_str),
        }
    }
}

impl From<FieldIssue> for FieldError {
    fn from(i: FieldIssue) -> Self {
        FieldError {
            field: i.field,
            code: i.code.to_owned(),
            message: i.message,
        }
    }
}
