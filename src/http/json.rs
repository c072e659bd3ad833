//! The JSON body extractor: 415 for another content type, 413 past `server.body_limit`, 400 when
//! the body is not JSON at all, and 422 naming the field when it is JSON of the wrong shape
//! (`{"backorder": {}}` → `backorder`), which actix's own extractor reports as a syntax error.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::core::errors as codes;

/// A request body parsed from JSON into `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The parsed body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The body size limit in force (set once by `http::configure`).
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

fn is_json(req: &HttpRequest) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Largest body of a file import (`server.import_body_limit`).
#[derive(Clone, Copy, Debug)]
pub struct ImportLimit(pub usize);

/// Reads a whole body up to the import limit: 413 beyond it, 400 when the stream breaks.
pub async fn read_limited(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<web::Bytes, ApiError> {
    let limit = req.app_data::<ImportLimit>().map_or(1024 * 1024, |l| l.0);
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "the body could not be read: {e}"
        ))),
        Err(_) => Err(too_large(limit)),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        codes::PAYLOAD_TOO_LARGE,
        format!("the request body exceeds the limit of {limit} bytes"),
    )
}

/// Parses a JSON body: 400 for malformed JSON, 422 naming the first field of the wrong shape.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body" } else { path.as_str() };
        ApiError::validation(field, "invalid", e.into_inner().to_string())
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let limit = req.app_data::<BodyLimit>().map_or(256 * 1024, |l| l.0);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::new(
                    codes::UNSUPPORTED_MEDIA_TYPE,
                    "send the body as application/json",
                ));
            }
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large(limit)
                } else {
                    ApiError::bad_request(format!("the body could not be read: {e}"))
                }
            })?;
            parse(&bytes).map(Json)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        on_hand: i64,
        #[serde(default)]
        backorder: Option<Mode>,
        #[serde(default)]
        lines: Vec<Line>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Deny,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Line {
        quantity: i64,
    }

    fn field_of(body: &str) -> (u16, String) {
        let e = parse::<Body>(body.as_bytes()).expect_err(body);
        let field = e
            .errors
            .first()
            .map(|f| f.field.clone())
            .unwrap_or_default();
        (e.status().as_u16(), field)
    }

    #[test]
    fn wrong_shapes_are_422_naming_the_field() {
        assert_eq!(
            field_of(r#"{"on_hand": 1, "backorder": {}}"#),
            (422, "backorder".into())
        );
        assert_eq!(field_of(r#"{"on_hand": "ten"}"#), (422, "on_hand".into()));
        assert_eq!(
            field_of(r#"{"on_hand": 1, "lines": [{"quantity": 1}, {"quantity": []}]}"#),
            (422, "lines[1].quantity".into())
        );
        assert_eq!(field_of(r#"{"on_hand": 1, "extra": 1}"#).0, 422);
        assert_eq!(field_of(r#""ten""#), (422, "body".into()));
        assert_eq!(field_of(r#"{"on_hand": 1,"#).0, 400);
        assert!(parse::<Body>(br#"{"on_hand": 3, "backorder": "deny"}"#).is_ok());
    }
}
