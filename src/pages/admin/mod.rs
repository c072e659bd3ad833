//! The admin at `/admin`, for staff and admins: the same domain calls as the admin API,
//! rendered as pages. Every page needs a staff session ([`Staff`]); actions only admins may
//! take are neither shown to staff nor accepted from them. Destructive actions ask again on a
//! confirmation page before they run. Admin pages are `noindex` and never framed.

mod chart;
pub mod dashboard;
pub mod experiments;
pub mod grid;
pub mod imports;
pub mod intervals;
pub mod jobs;
pub mod marketing;
pub mod orders;
pub mod people;
pub mod product_edit;
pub mod product_variants;
pub mod products;
pub mod settings;
pub mod setup;
pub mod shipping;
pub mod tax;
pub mod taxonomy;
pub mod webhooks;
pub mod zones;

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use minijinja::{Value, context};

use super::{PageError, Pages, Visitor};
use crate::core::errors as codes;
use crate::domain::auth::{Principal, Role};
use crate::http::ApiError;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    dashboard::routes(cfg);
    grid::routes(cfg);
    imports::routes(cfg);
    orders::routes(cfg);
    products::routes(cfg);
    product_edit::routes(cfg);
    people::routes(cfg);
    jobs::routes(cfg);
    setup::routes(cfg);
    taxonomy::routes(cfg);
    tax::routes(cfg);
    shipping::routes(cfg);
    experiments::routes(cfg);
    marketing::routes(cfg);
    webhooks::routes(cfg);
    settings::routes(cfg);
}

/// A visitor signed in as staff or admin; anyone else gets 401 (with a sign-in link) or 403.
pub struct Staff {
    /// The visitor.
    pub v: Visitor,
    principal: Principal,
}

impl Staff {
    /// The signed-in person.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The name written into histories and notes.
    pub fn actor(&self) -> String {
        self.principal().actor()
    }

    /// Whether the visitor is an admin (role changes, settings).
    pub fn is_admin(&self) -> bool {
        self.principal().role >= Role::Admin
    }

    /// Refuses the action unless the visitor is an admin.
    pub fn require_admin(&self) -> Result<(), PageError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(PageError::new(codes::FORBIDDEN, "only admins may do this"))
        }
    }
}

impl FromRequest for Staff {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let v = match Visitor::from_request(req, payload).into_inner() {
            Ok(v) => v,
            Err(e) => return ready(Err(e)),
        };
        ready(match v.principal.clone() {
            None => Err(PageError::new(
                codes::UNAUTHENTICATED,
                "sign in with a staff account to use the admin",
            )),
            Some(p) if p.role < Role::Staff => Err(PageError::new(
                codes::FORBIDDEN,
                "your account is not a staff account",
            )),
            Some(principal) => Ok(Staff { v, principal }),
        })
    }
}

/// A failure's problems as (field, message): the fields it names, or one for the whole form.
pub fn problems(e: ApiError) -> Vec<(String, String)> {
    if e.errors.is_empty() {
        return vec![("form".into(), e.detail)];
    }
    e.errors.into_iter().map(|f| (f.field, f.message)).collect()
}

/// The last value of field `name` in a posted form read as pairs (forms whose field names
/// carry ids, such as `price:var_…`).
pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A form's values shown again after a refused save: `stored`, with every posted field (but the
/// CSRF token and the version) over it.
pub fn overlay(
    mut stored: std::collections::BTreeMap<String, String>,
    posted: &[(String, String)],
) -> std::collections::BTreeMap<String, String> {
    for (k, v) in posted {
        if k != "_csrf" && k != "version" {
            stored.insert(k.clone(), v.clone());
        }
    }
    stored
}

/// The form of a destructive action, which runs only once `confirm=yes` comes back from the
/// confirmation page.
#[derive(Debug, serde::Deserialize)]
pub struct ConfirmForm {
    /// `yes` when confirmed.
    #[serde(default)]
    pub confirm: String,
}

impl ConfirmForm {
    /// Whether the visitor confirmed.
    pub fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

/// Renders an admin page (`admin/<name>`) with the navigation's current section.
pub fn page(
    pages: &Pages,
    s: &Staff,
    name: &str,
    section: &str,
    ctx: Value,
) -> Result<HttpResponse, PageError> {
    page_with_status(pages, s, name, section, ctx, 200)
}

/// [`page`] with another status (a form shown again with its errors).
pub fn page_with_status(
    pages: &Pages,
    s: &Staff,
    name: &str,
    section: &str,
    ctx: Value,
    status: u16,
) -> Result<HttpResponse, PageError> {
    let ctx = context! { ..ctx, ..context! {
        section, noindex => true, is_admin => s.is_admin(),
    }};
    let html = pages.render(&format!("admin/{name}"), &s.v, ctx)?;
    let mut r =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    s.v.set_cookies(&mut r);
    r.insert_header(("X-Robots-Tag", "noindex, nofollow"));
    Ok(super::html_response(r, html))
}

/// The confirmation page of a destructive action: the same form posted again with
/// `confirm=yes`.
pub fn confirm(
    pages: &Pages,
    s: &Staff,
    section: &str,
    what: &str,
    action: &str,
    fields: Vec<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let fields: Vec<Value> = fields
        .into_iter()
        .map(|(name, value)| context! { name, value })
        .collect();
    page(
        pages,
        s,
        "confirm.html",
        section,
        context! { title => "Please confirm", what, action, fields },
    )
}
