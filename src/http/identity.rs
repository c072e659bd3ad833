//! Who is calling: bearer tokens, API keys and cookie sessions (with CSRF protection) turned
//! into a [`Principal`], and role checks as extractor types so a handler cannot forget them.

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::{ApiError, HttpState};
use crate::core::errors as codes;
use crate::domain::auth::{Principal, Role, Scope};

/// Cookie carrying the access token in browser sessions.
pub const ACCESS_COOKIE: &str = "shopd_access";
/// Cookie carrying the refresh token (scoped to the auth routes).
pub const REFRESH_COOKIE: &str = "shopd_refresh";
/// Readable cookie holding the CSRF token the page echoes in `X-CSRF-Token`.
pub const CSRF_COOKIE: &str = "shopd_csrf";
/// Header carrying the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A minimum role, as a type.
pub trait MinRole {
    /// The role required.
    const ROLE: Role;
}

/// Any signed-in account or key.
#[derive(Debug)]
pub struct AnyRole;
impl MinRole for AnyRole {
    const ROLE: Role = Role::Customer;
}

/// Staff or admin.
#[derive(Debug)]
pub struct StaffRole;
impl MinRole for StaffRole {
    const ROLE: Role = Role::Staff;
}

/// Admin only.
#[derive(Debug)]
pub struct AdminRole;
impl MinRole for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// The API-key scope a route needs, as a type (people signed in have every scope).
pub trait NeedScope {
    /// `None` for routes open to any scope: only those the domain limits to signed-in people
    /// (key and role management) or that act on the caller's own account.
    const SCOPE: Option<Scope>;
}

/// Route-scope markers for [`Authed`].
pub mod scope {
    use super::{NeedScope, Scope};

    macro_rules! scopes {
        ($($(#[$doc:meta])* $name:ident => $scope:expr;)*) => {$(
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name;
            impl NeedScope for $name {
                const SCOPE: Option<Scope> = $scope;
            }
        )*};
    }

    scopes! {
        /// No scope: the caller's own things, or what only signed-in people may do.
        Unscoped => None;
        /// `catalog`.
        Catalog => Some(Scope::Catalog);
        /// `orders`.
        Orders => Some(Scope::Orders);
        /// `customers`.
        Customers => Some(Scope::Customers);
        /// `inventory`.
        Inventory => Some(Scope::Inventory);
        /// `diagnostics`.
        Diagnostics => Some(Scope::Diagnostics);
        /// `pricing`.
        Pricing => Some(Scope::Pricing);
        /// `experiments`.
        Experiments => Some(Scope::Experiments);
    }
}

/// An authenticated caller with at least role `R` and scope `S`; 401 without credentials, 403
/// below `R` or without `S`.
#[derive(Debug)]
pub struct Authed<R: MinRole, S: NeedScope> {
    /// The caller.
    pub principal: Principal,
    _role: PhantomData<(R, S)>,
}

/// Any signed-in caller (with scope `S` when it is an API key).
pub type Signed<S = scope::Unscoped> = Authed<AnyRole, S>;
/// Staff or admin with scope `S`.
pub type Staff<S> = Authed<StaffRole, S>;
/// Admin with scope `S`.
pub type Admin<S> = Authed<AdminRole, S>;

/// 403.
pub fn forbidden() -> ApiError {
    ApiError::new(codes::FORBIDDEN, "your role does not allow this")
}

/// 429 with `Retry-After`.
pub fn rate_limited(retry_after: u64) -> ApiError {
    let mut e = ApiError::new(
        codes::RATE_LIMITED,
        format!("too many attempts; retry in {retry_after} s"),
    );
    e.retry_after = Some(retry_after);
    e
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks the double-submit CSRF token of a cookie-authenticated, state-changing request.
pub fn check_csrf(req: &HttpRequest) -> Result<(), ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let cookie = req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned());
    let sent = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match (cookie, sent) {
        (Some(c), Some(s))
            if !c.is_empty()
                && bool::from(subtle::ConstantTimeEq::ct_eq(c.as_bytes(), s.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(ApiError::new(
            codes::CSRF_FAILED,
            "cookie-authenticated writes need the X-CSRF-Token header matching the shopd_csrf cookie",
        )),
    }
}

/// Resolves the principal of a request, if it carries credentials.
pub fn principal(req: &HttpRequest) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<HttpState>>()
        .ok_or_else(ApiError::internal)?;
    if let Some(token) = bearer(req) {
        return Ok(state.auth.authenticate(token)?);
    }
    if let Some(c) = req.cookie(ACCESS_COOKIE) {
        check_csrf(req)?;
        return Ok(state.auth.authenticate(c.value())?);
    }
    Err(ApiError::new(
        codes::UNAUTHENTICATED,
        "send `Authorization: Bearer <access token or API key>`",
    ))
}

impl<R: MinRole, S: NeedScope> FromRequest for Authed<R, S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(principal(req).and_then(|p| {
            if p.role < R::ROLE {
                return Err(forbidden());
            }
            if let Some(scope) = S::SCOPE.filter(|s| !p.has_scope(*s)) {
                return Err(ApiError::new(
                    codes::FORBIDDEN,
                    format!("this API key lacks the `{}` scope", scope.as_str()),
                ));
            }
            Ok(Authed {
                principal: p,
                _role: PhantomData,
            })
        }))
    }
}

/// The client address used for per-IP limits: the TCP peer, or what a trusted proxy forwarded
/// (see [`super::client`]). IPv6 clients are grouped by /64, the smallest block a single
/// subscriber usually gets.
pub fn client_ip(req: &HttpRequest) -> String {
    let addr = req
        .extensions()
        .get::<super::client::ClientInfo>()
        .map_or_else(|| req.peer_addr().map(|a| a.ip()), |c| c.addr);
    match addr {
        Some(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        Some(ip) => ip.to_string(),
        None => "unknown".into(),
    }
}

/// Applies the per-IP budget of the auth endpoints.
pub fn limit_ip(req: &HttpRequest, state: &HttpState) -> Result<(), ApiError> {
    state
        .auth_limiter
        .hit(&client_ip(req), state.clock.now())
        .map_err(|r| rate_limited(r.0))
}
