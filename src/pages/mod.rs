//! The storefront and admin pages: server-rendered HTML from minijinja templates (the theme),
//! built on the same domain services and view types as the JSON API. Handlers are thin: parse
//! the form or query, check the visitor, call one domain function, render. Pages work without
//! JavaScript; `shopd.js` only enhances (variant picker, autocomplete). Every answer carries a
//! strict Content-Security-Policy: no inline script or style, nothing from other origins but
//! images.

pub mod account;
pub mod addresses;
pub mod admin;
pub mod cart;
pub mod checkout;
pub mod error;
pub mod filters;
pub mod seo;
pub mod session;
pub mod shop;
pub mod theme;

use std::path::Path;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::{Environment, Value, context};

pub use error::PageError;
pub use session::Visitor;

/// The policy of every page: same-origin script, style, fonts and requests; images also from
/// https (catalog images on a CDN); forms post only here; no framing, plugins or `<base>`.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The payment page's policy when Stripe's Payment Element is on it: Stripe's script, its
/// frames and its API, nothing else beyond [`CSP`].
pub const CSP_STRIPE: &str = "default-src 'self'; script-src 'self' https://js.stripe.com; style-src 'self'; img-src 'self' https: data:; font-src 'self'; connect-src 'self' https://api.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// What the page layer needs besides the domain services of [`crate::http::HttpState`].
pub struct Pages {
    env: Environment<'static>,
    /// Assets by logical and hashed name.
    pub assets: Arc<theme::AssetMap>,
    /// Shown in titles and the header.
    pub shop_name: String,
    /// Absolute base of canonical URLs and sitemaps (no trailing `/`).
    pub public_url: String,
    /// What the admin's settings page shows: (setting, value, where it is set), secrets only as
    /// set or unset.
    pub settings: Vec<(String, String, String)>,
    /// Theme files that replace built-in ones.
    pub overrides: Vec<String>,
    /// Product imports started from the admin on this node, with their progress.
    pub imports: Arc<admin::imports::Imports>,
    /// Stripe's publishable key, when the Payment Element is to be shown.
    pub stripe_key: Option<String>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("shop_name", &self.shop_name)
            .finish()
    }
}

/// The handle page handlers extract.
pub type PageState = web::Data<Pages>;

impl Pages {
    /// Loads the built-in theme and the overrides under `theme_dir` (when it exists); fails on
    /// a template syntax error so a broken theme is reported at start-up.
    pub fn load(
        theme_dir: Option<&Path>,
        shop_name: &str,
        public_url: &str,
    ) -> Result<Pages, String> {
        let theme_dir = theme_dir.filter(|d| d.is_dir());
        let assets = Arc::new(theme::load_assets(theme_dir));
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        filters::register(&mut env, assets.clone());
        let sources = theme::template_sources(theme_dir)?;
        let overrides = theme::overridden(theme_dir);
        theme::add_templates(&mut env, sources)?;
        Ok(Pages {
            env,
            assets,
            shop_name: shop_name.to_owned(),
            public_url: public_url.trim_end_matches('/').to_owned(),
            settings: Vec::new(),
            overrides,
            imports: Arc::default(),
            stripe_key: None,
        })
    }

    /// Renders template `name` with the page's own `ctx` and what every page shows (shop name,
    /// the visitor, the CSRF token for forms, the canonical URL).
    pub fn render(&self, name: &str, v: &Visitor, ctx: Value) -> Result<String, PageError> {
        let global = context! {
            shop_name => &self.shop_name,
            visitor => v.view(),
            csrf => v.csrf_token(),
            public_url => &self.public_url,
        };
        let t = self.env.get_template(name).map_err(|e| {
            tracing::error!(template = name, error = %e, "missing page template");
            PageError::internal()
        })?;
        t.render(context! { ..ctx, ..global }).map_err(|e| {
            tracing::error!(template = name, error = %e, "rendering a page");
            PageError::internal()
        })
    }

    /// A rendered page as a 200 answer with the visitor's cookies.
    pub fn page(&self, name: &str, v: &Visitor, ctx: Value) -> Result<HttpResponse, PageError> {
        let html = self.render(name, v, ctx)?;
        let mut r = HttpResponse::Ok();
        v.set_cookies(&mut r);
        Ok(html_response(r, html))
    }

    /// The absolute URL of `path` (for canonical links, Open Graph and sitemaps).
    pub fn absolute(&self, req: &HttpRequest, path: &str) -> String {
        if !self.public_url.is_empty() {
            return format!("{}{path}", self.public_url);
        }
        let (scheme, host) = origin(req);
        format!("{scheme}://{host}{path}")
    }
}

/// The scheme and host the browser used: what a trusted proxy forwarded (see
/// [`crate::http::client`]), else this connection's own and its `Host` header. Forwarding
/// headers from anyone else are ignored, so nobody can make a page or a cached sitemap name
/// another site.
pub fn origin(req: &HttpRequest) -> (String, String) {
    use actix_web::HttpMessage;
    let ext = req.extensions();
    let client = ext.get::<crate::http::client::ClientInfo>();
    let scheme = client
        .and_then(|c| c.scheme.clone())
        .unwrap_or_else(|| "http".to_owned());
    let host = client.and_then(|c| c.host.clone()).unwrap_or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or_else(|| "localhost".to_owned(), str::to_owned)
    });
    (scheme, host)
}

/// A `303 See Other` to `to` (after a form post), with the visitor's cookies.
pub fn see_other(v: &Visitor, to: &str) -> HttpResponse {
    let mut r = HttpResponse::SeeOther();
    v.set_cookies(&mut r);
    r.insert_header((header::LOCATION, to.to_owned()));
    r.insert_header((header::CACHE_CONTROL, "no-store"));
    r.finish()
}

/// Sets the headers every page has, and the body.
pub fn html_response(mut r: actix_web::HttpResponseBuilder, html: String) -> HttpResponse {
    r.content_type("text/html; charset=utf-8");
    security_headers(&mut r);
    r.insert_header((header::CACHE_CONTROL, "private, no-cache"));
    r.body(html)
}

/// CSP and no framing (the observe middleware adds `nosniff` and `Referrer-Policy:
/// no-referrer` to every answer).
pub fn security_headers(r: &mut actix_web::HttpResponseBuilder) {
    r.insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Frame-Options", "DENY"));
}

/// Registers every page route. Mounted after the API's routes; the paths do not overlap.
pub fn configure(cfg: &mut web::ServiceConfig, pages: Arc<Pages>) {
    cfg.app_data(web::Data::from(pages))
        .app_data(web::FormConfig::default().limit(64 * 1024));
    shop::routes(cfg);
    cart::routes(cfg);
    checkout::routes(cfg);
    account::routes(cfg);
    addresses::routes(cfg);
    seo::routes(cfg);
    admin::routes(cfg);
    cfg.route("/assets/{path:.*}", web::get().to(asset));
}

/// One asset: hashed names are immutable for a year, logical names (catalog images) for 5 min.
async fn asset(
    req: HttpRequest,
    pages: PageState,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let name = path.into_inner();
    let a = pages
        .assets
        .get(&name)
        .ok_or_else(|| PageError::not_found("no such file"))?;
    let cache = if pages.assets.is_hashed(&name) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == a.etag.as_bytes())
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, a.etag.clone()))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, a.mime.clone()))
        .insert_header((header::ETAG, a.etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'",
        ))
        .body(a.body.clone()))
}
