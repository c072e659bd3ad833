//! One middleware around every request: request id, access log, metrics, panic containment,
//! and giving every bare error (router 404/405, extractor errors) the body of its audience:
//! problem+json under `/api/`, the HTML error page elsewhere — both from the same code table.

use std::future::{Ready, ready};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, ResponseError};
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;

use super::client::{TrustedProxies, resolve};
use super::problem::{ApiError, PROBLEM_JSON};
use crate::observability::metrics::Metrics;

/// Header carrying the request id in both directions.
pub const REQUEST_ID: &str = "x-request-id";

/// The request id, available to handlers through request extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// An error response produced without a routed request (handler panic, inner middleware error).
#[derive(Debug)]
struct EarlyError {
    rid: String,
    status: actix_web::http::StatusCode,
    api: bool,
}

impl std::fmt::Display for EarlyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request {} failed with {}", self.rid, self.status)
    }
}

impl ResponseError for EarlyError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.status
    }
    fn error_response(&self) -> actix_web::HttpResponse {
        let mut r = if !self.api {
            super::error_page::for_status(self.status)
        } else if self.status.is_server_error() {
            ApiError::internal().error_response()
        } else {
            ApiError::from_status(self.status).error_response()
        };
        if let Ok(v) = HeaderValue::from_str(&self.rid) {
            r.headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID), v);
        }
        r
    }
}

/// One answer as sent, for a [`Tap`].
#[derive(Clone, Debug)]
pub struct TapRecord {
    /// Request method, upper case.
    pub method: String,
    /// The matched route pattern (`/api/v1/products/{id_or_slug}`), `None` when unrouted.
    pub route: Option<String>,
    /// Status code.
    pub status: u16,
    /// `Content-Type` of the answer.
    pub content_type: Option<String>,
    /// The whole body.
    pub body: actix_web::web::Bytes,
}

/// Test hook that sees every answer, so a suite can check each one against the OpenAPI
/// document. Production runs without one and never buffers a body for it.
pub type Tap = Arc<dyn Fn(TapRecord) + Send + Sync>;

/// Factory for [`ObserveMiddleware`].
pub struct Observe {
    metrics: Arc<Metrics>,
    tap: Option<Tap>,
    trusted: Arc<TrustedProxies>,
}

impl Observe {
    /// Middleware recording into `metrics`, showing every answer to `tap` when set, and
    /// deciding each request's client (see [`super::client`]) with `trusted` proxies.
    pub fn new(metrics: Arc<Metrics>, tap: Option<Tap>, trusted: TrustedProxies) -> Self {
        Observe {
            metrics,
            tap,
            trusted: Arc::new(trusted),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Observe
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Transform = ObserveMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ObserveMiddleware {
            service: Rc::new(service),
            metrics: self.metrics.clone(),
            tap: self.tap.clone(),
            trusted: self.trusted.clone(),
        }))
    }
}

/// See [`Observe`].
pub struct ObserveMiddleware<S> {
    service: Rc<S>,
    metrics: Arc<Metrics>,
    tap: Option<Tap>,
    trusted: Arc<TrustedProxies>,
}

impl<S, B> Service<ServiceRequest> for ObserveMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let rid = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| valid_request_id(v))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
        req.extensions_mut().insert(RequestId(rid.clone()));
        let who = resolve(
            req.peer_addr().map(|a| a.ip()),
            req.headers(),
            &self.trusted,
        );
        let client = who
            .addr
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        // What the client asked for, as a trusted proxy reported it (empty when direct).
        let origin = match (&who.scheme, &who.host) {
            (Some(s), Some(h)) => format!("{s}://{h}"),
            (Some(s), None) => format!("{s}://"),
            (None, Some(h)) => h.clone(),
            (None, None) => String::new(),
        };
        req.extensions_mut().insert(who);
        let method = req.method().to_string();
        let path = req.path().to_owned();
        let api = path.starts_with("/api/");
        let srv = self.service.clone();
        let metrics = self.metrics.clone();
        let tap = self.tap.clone();
        Box::pin(async move {
            let outcome = AssertUnwindSafe(async move { srv.call(req).await })
                .catch_unwind()
                .await;
            // The request cannot be cloned before routing (routing needs it unshared), so
            // failures without a response are returned as errors that actix renders through
            // `EarlyError`, which still carries the problem body and the request id.
            let mut res: ServiceResponse<BoxBody> = match outcome {
                Ok(Ok(r)) => r.map_into_boxed_body(),
                Ok(Err(e)) => {
                    let status = e.as_response_error().status_code();
                    metrics.http_request(&method, "unmatched", status.as_u16(), started.elapsed());
                    return Err(EarlyError { rid, status, api }.into());
                }
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic".into());
                    tracing::error!(request_id = %rid, %method, %path, panic = %msg, "handler panicked");
                    let status = actix_web::http::StatusCode::INTERNAL_SERVER_ERROR;
                    metrics.http_request(&method, "panicked", status.as_u16(), started.elapsed());
                    return Err(EarlyError { rid, status, api }.into());
                }
            };
            let http_req = res.request().clone();
            let status = res.status();
            let is_problem = content_type_starts(&res, PROBLEM_JSON);
            let is_html = content_type_starts(&res, "text/html");
            let failed = status.is_client_error() || status.is_server_error();
            // Handlers' own problem bodies stay (`/readyz` answers problem+json to machines).
            if failed && !is_problem && (api || !is_html) {
                let mut replacement = if api {
                    ApiError::from_status(status).error_response()
                } else {
                    super::error_page::for_status(status)
                };
                for name in [header::ALLOW, header::RETRY_AFTER] {
                    if let Some(v) = res.headers().get(&name) {
                        replacement.headers_mut().insert(name.clone(), v.clone());
                    }
                }
                res = ServiceResponse::new(http_req.clone(), replacement);
            }
            if let Ok(v) = HeaderValue::from_str(&rid) {
                res.headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID), v);
            }
            // Links carry one-time tokens in query strings: never leak them via Referer.
            let h = res.headers_mut();
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            let route = http_req
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned());
            let elapsed = started.elapsed();
            metrics.http_request(&method, &route, status.as_u16(), elapsed);
            let latency_ms = elapsed.as_secs_f64() * 1000.0;
            // The server's own time (W3C Server-Timing): browsers' developer tools show it, and
            // the benchmarks tell it apart from time spent queueing on a busy machine.
            if let Ok(v) = HeaderValue::from_str(&format!("app;dur={latency_ms:.3}")) {
                res.headers_mut()
                    .insert(HeaderName::from_static("server-timing"), v);
            }
            if matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics") {
                tracing::debug!(target: "access", request_id = %rid, %client, %origin, %method, %path, status = status.as_u16(), latency_ms, "request");
            } else if status.is_server_error() {
                tracing::warn!(target: "access", request_id = %rid, %client, %origin, %method, %path, %route, status = status.as_u16(), latency_ms, "request");
            } else {
                tracing::info!(target: "access", request_id = %rid, %client, %origin, %method, %path, %route, status = status.as_u16(), latency_ms, "request");
            }
            match tap {
                Some(tap) => Ok(tapped(res, &tap, method).await),
                None => Ok(res),
            }
        })
    }
}

fn content_type_starts(res: &ServiceResponse<BoxBody>, prefix: &str) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(prefix))
}

/// Buffers the body of `res`, shows it to `tap` and sends it on unchanged.
async fn tapped(
    res: ServiceResponse<BoxBody>,
    tap: &Tap,
    method: String,
) -> ServiceResponse<BoxBody> {
    let (req, resp) = res.into_parts();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (resp, body) = resp.into_parts();
    let body = actix_web::body::to_bytes(body).await.unwrap_or_default();
    tap(TapRecord {
        method,
        route: req.match_pattern(),
        status,
        content_type,
        body: body.clone(),
    });
    ServiceResponse::new(req, resp.set_body(BoxBody::new(body)))
}
