//! The visitor of a page: who is signed in (the page session cookie), the CSRF token every form
//! carries, the anonymous cart's token and a guest's last order; and [`Posted`], the form
//! extractor that refuses any post whose CSRF token or origin is wrong.
//!
//! The session cookie holds the sign-in's refresh token (HttpOnly, SameSite=Lax, Secure when
//! configured), checked against the store on every page: signing out, a password change and
//! the session's end take effect at once. CSRF uses a double-submit token: a random cookie
//! (SameSite=Strict) that every form repeats in `_csrf`, plus an `Origin` check when the
//! browser sends one.

use std::future::{Ready, ready};

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponseBuilder, web};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::PageError;
use crate::core::errors as codes;
use crate::domain::auth::{Principal, Role};
use crate::domain::cart::CartOwner;
use crate::domain::orders::Viewer;
use crate::http::HttpState;
use crate::http::cart::CART_COOKIE;
use crate::http::identity::CSRF_COOKIE;

/// Cookie holding a page session (the sign-in's refresh token).
pub const SESSION_COOKIE: &str = "shopd_session";
/// Cookie holding a guest's last order as `<order id>.<order token>`.
pub const ORDER_COOKIE: &str = "shopd_order";
/// Longest cookie value read (tokens are far shorter).
const MAX_COOKIE: usize = 400;

/// Cookie changes a handler asks for, written on its answer.
#[derive(Debug, Default)]
struct Pending {
    csrf: Option<String>,
    session: Option<Option<(String, i64)>>,
    cart: Option<(String, i64)>,
    order: Option<String>,
}

/// The visitor of one page request.
#[derive(Debug)]
pub struct Visitor {
    /// The signed-in person, if any.
    pub principal: Option<Principal>,
    session: Option<String>,
    csrf: String,
    cart: Option<String>,
    order: Option<(String, String)>,
    secure: bool,
    pending: Pending,
}

/// Whether cookies get `Secure`: when configured, except for a browser on this machine talking
/// plain HTTP (`shopd serve --temp --demo` on 127.0.0.1), which would drop them and lose its
/// cart. Behind a proxy the client is the remote one, so the cookies stay `Secure`.
fn secure_cookies(req: &HttpRequest, configured: bool) -> bool {
    let ext = req.extensions();
    let client = ext.get::<crate::http::client::ClientInfo>();
    let https = client.and_then(|c| c.scheme.as_deref()) == Some("https");
    let local = client
        .and_then(|c| c.addr)
        .or_else(|| req.peer_addr().map(|a| a.ip()))
        .is_some_and(|ip| ip.is_loopback());
    configured && (https || !local)
}

fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= MAX_COOKIE)
}

impl Visitor {
    fn of(req: &HttpRequest) -> Visitor {
        let state = req.app_data::<web::Data<HttpState>>();
        let mut pending = Pending::default();
        let session = cookie(req, SESSION_COOKIE);
        let principal = match (&session, state) {
            (Some(t), Some(s)) => match s.auth.session_principal(t) {
                Ok(p) => Some(p),
                Err(_) => {
                    pending.session = Some(None);
                    None
                }
            },
            _ => None,
        };
        let csrf = cookie(req, CSRF_COOKIE).unwrap_or_else(|| {
            let t = crate::domain::auth::secret::new_token("");
            pending.csrf = Some(t.clone());
            t
        });
        let order = cookie(req, ORDER_COOKIE).and_then(|v| {
            v.split_once('.')
                .map(|(id, tok)| (id.to_owned(), tok.to_owned()))
        });
        Visitor {
            principal: principal.clone(),
            session: session.filter(|_| principal.is_some()),
            csrf,
            cart: cookie(req, CART_COOKIE),
            order,
            secure: secure_cookies(req, state.is_none_or(|s| s.cookie_secure)),
            pending,
        }
    }

    /// A visitor known to be nobody in particular (error pages rendered after the fact).
    pub fn anonymous() -> Visitor {
        Visitor {
            principal: None,
            session: None,
            csrf: String::new(),
            cart: None,
            order: None,
            secure: true,
            pending: Pending::default(),
        }
    }

    /// The token forms repeat in `_csrf`.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// What templates know of the visitor.
    pub fn view(&self) -> minijinja::Value {
        let role = self.principal.as_ref().map(|p| p.role);
        minijinja::context! {
            signed_in => self.principal.is_some(),
            staff => role.is_some_and(|r| r >= Role::Staff),
            admin => role == Some(Role::Admin),
        }
    }

    /// The cart the visitor shops with: the account's (merging an anonymous one) and/or the
    /// anonymous cart's token.
    pub fn cart_owner(&self) -> CartOwner {
        CartOwner {
            customer: self.principal.as_ref().and_then(Principal::customer_id),
            token: self.cart.clone(),
        }
    }

    /// Whether the visitor has a cart to show (a token, or an account).
    pub fn has_cart(&self) -> bool {
        self.cart.is_some() || self.principal.is_some()
    }

    /// Remembers a new anonymous cart for `max_age` seconds.
    pub fn set_cart(&mut self, token: String, max_age: i64) {
        self.cart = Some(token.clone());
        self.pending.cart = Some((token, max_age));
    }

    /// Starts a page session with a sign-in's refresh token, valid `max_age` seconds.
    pub fn start_session(&mut self, refresh_token: String, max_age: i64) {
        self.pending.session = Some(Some((refresh_token, max_age)));
    }

    /// Ends the page session (the caller revokes it); returns its token.
    pub fn end_session(&mut self) -> Option<String> {
        self.pending.session = Some(None);
        self.principal = None;
        self.session.take()
    }

    /// Remembers a guest's order so its page can be shown again.
    pub fn remember_order(&mut self, order_id: &str, token: &str) {
        self.order = Some((order_id.to_owned(), token.to_owned()));
        self.pending.order = Some(format!("{order_id}.{token}"));
    }

    /// Who may see order `id`: the signed-in customer, or the guest holding its token.
    pub fn order_viewer(&self, id: &str) -> Option<Viewer> {
        if let Some((oid, tok)) = &self.order
            && oid == id
        {
            return Some(Viewer::Token(tok.clone()));
        }
        let p = self.principal.as_ref()?;
        if p.role >= Role::Staff {
            return Some(Viewer::Staff);
        }
        p.customer_id().map(Viewer::Customer)
    }

    /// Writes the cookies this request changed.
    pub fn set_cookies(&self, r: &mut HttpResponseBuilder) {
        let secure = self.secure;
        if let Some(t) = &self.pending.csrf {
            r.cookie(
                Cookie::build(CSRF_COOKIE, t.clone())
                    .path("/")
                    .secure(secure)
                    .same_site(SameSite::Strict)
                    .finish(),
            );
        }
        match &self.pending.session {
            Some(Some((t, age))) => {
                r.cookie(http_only(SESSION_COOKIE, t, "/", secure, *age));
            }
            Some(None) => {
                r.cookie(http_only(SESSION_COOKIE, "", "/", secure, 0));
            }
            None => {}
        }
        if let Some((t, age)) = &self.pending.cart {
            r.cookie(http_only(CART_COOKIE, t, "/", secure, *age));
        }
        if let Some(v) = &self.pending.order {
            r.cookie(http_only(ORDER_COOKIE, v, "/", secure, 30 * 24 * 3600));
        }
    }
}

fn http_only(name: &str, value: &str, path: &str, secure: bool, age: i64) -> Cookie<'static> {
    Cookie::build(name.to_owned(), value.to_owned())
        .path(path.to_owned())
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(age))
        .finish()
}

impl FromRequest for Visitor {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Visitor::of(req)))
    }
}

/// A posted form of type `T`, accepted only with the visitor's CSRF token in `_csrf` and, when
/// the browser names one, a same-site `Origin`. A form struct never needs its own CSRF field.
#[derive(Debug)]
pub struct Posted<T>(pub T);

#[derive(Deserialize)]
struct CsrfField {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// Whether the browser says the form came from this site: `Sec-Fetch-Site` (Fetch Metadata)
/// must not be `cross-site`, and an `Origin` naming a host must name ours. Our pages are sent
/// with `Referrer-Policy: no-referrer`, under which browsers post `Origin: null`, so null alone
/// proves nothing either way; the token still has to match.
fn same_origin(req: &HttpRequest) -> bool {
    let h = req.headers();
    if h.get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return false;
    }
    let Some(origin) = h.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if origin == "null" {
        return true;
    }
    let host = origin.split_once("://").map_or("", |(_, h)| h);
    host.eq_ignore_ascii_case(&super::origin(req).1)
}

/// Refuses a form the browser says came from another site.
pub fn check_origin(req: &HttpRequest) -> Result<(), PageError> {
    if same_origin(req) {
        Ok(())
    } else {
        Err(PageError::new(
            codes::CSRF_FAILED,
            "this form came from another site; reload the page and try again",
        ))
    }
}

/// Refuses a form whose CSRF token is not the visitor's or that came from another site (forms
/// that [`Posted`] cannot read, such as file uploads, call it with the token they carry).
pub fn check_token(req: &HttpRequest, sent: &str) -> Result<(), PageError> {
    let cookie = cookie(req, CSRF_COOKIE).unwrap_or_default();
    let matches = !cookie.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            cookie.as_bytes(),
            sent.as_bytes(),
        ));
    if !matches || !same_origin(req) {
        return Err(PageError::new(
            codes::CSRF_FAILED,
            "this form has expired or came from another site; reload the page and try again",
        ));
    }
    Ok(())
}

fn check_form<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, PageError> {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(PageError::new(
            codes::UNSUPPORTED_MEDIA_TYPE,
            "forms are posted as application/x-www-form-urlencoded",
        ));
    }
    let sent: CsrfField = serde_urlencoded::from_bytes(body)
        .map_err(|_| PageError::bad_request("the form could not be read"))?;
    check_token(req, &sent.csrf)?;
    serde_urlencoded::from_bytes(body)
        .map_err(|e| PageError::bad_request(format!("the form could not be read: {e}")))
}

impl<T: DeserializeOwned + 'static> FromRequest for Posted<T> {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|_| PageError::new(codes::PAYLOAD_TOO_LARGE, "the form is too large"))?;
            check_form(&req, &body).map(Posted)
        })
    }
}
