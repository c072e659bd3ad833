//! Search engines: `robots.txt` and the sitemaps. `/sitemap.xml` is an index of one file for
//! the home, category and collection pages and one file per 10,000 active products (the
//! protocol allows 50,000 URLs a file; smaller files keep each answer quick).

use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::{PageError, PageState, Visitor};
use crate::core::ProductId;
use crate::http::HttpState;

/// Product URLs per sitemap file.
pub const PER_FILE: usize = 10_000;
/// Most product sitemap files listed (a sitemap index holds at most 50,000).
const MAX_FILES: usize = 50_000;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/robots.txt", web::get().to(robots))
        .route("/sitemap.xml", web::get().to(index))
        .route("/sitemap-pages.xml", web::get().to(site_pages))
        .route("/sitemap-products.xml", web::get().to(products));
}

type State = web::Data<HttpState>;

fn xml(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(body)
}

async fn robots(req: HttpRequest, pages: PageState) -> Result<HttpResponse, PageError> {
    let ctx = context! { sitemap => pages.absolute(&req, "/sitemap.xml") };
    let body = pages.render("robots.txt", &Visitor::anonymous(), ctx)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(body))
}

async fn index(
    req: HttpRequest,
    state: State,
    pages: PageState,
) -> Result<HttpResponse, PageError> {
    let runs = state.catalog.active_runs(PER_FILE, MAX_FILES)?;
    let mut files = vec![pages.absolute(&req, "/sitemap-pages.xml")];
    files.extend(runs.iter().map(|after| match after {
        None => pages.absolute(&req, "/sitemap-products.xml"),
        Some(id) => pages.absolute(&req, &format!("/sitemap-products.xml?after={id}")),
    }));
    let body = pages.render(
        "sitemap_index.xml",
        &Visitor::anonymous(),
        context! { files },
    )?;
    Ok(xml(body))
}

async fn site_pages(
    req: HttpRequest,
    state: State,
    pages: PageState,
) -> Result<HttpResponse, PageError> {
    let mut urls = vec![context! { loc => pages.absolute(&req, "/") }];
    for c in state.catalog.categories()? {
        urls.push(context! { loc => pages.absolute(&req, &format!("/categories/{}", c.slug)) });
    }
    for c in state.catalog.collections()? {
        urls.push(context! { loc => pages.absolute(&req, &format!("/collections/{}", c.slug)) });
    }
    let body = pages.render("sitemap.xml", &Visitor::anonymous(), context! { urls })?;
    Ok(xml(body))
}

#[derive(Deserialize)]
struct After {
    after: Option<String>,
}

async fn products(
    req: HttpRequest,
    state: State,
    pages: PageState,
    q: web::Query<After>,
) -> Result<HttpResponse, PageError> {
    let after = match q.after.as_deref() {
        Some(a) => Some(ProductId::parse(a).map_err(|_| PageError::not_found("no such sitemap"))?),
        None => None,
    };
    let urls: Vec<_> = state
        .catalog
        .active_after(after, PER_FILE)?
        .into_iter()
        .map(|p| {
            context! {
                loc => pages.absolute(&req, &format!("/products/{}", p.slug)),
                lastmod => p.updated_at.to_rfc3339().get(..10).map(str::to_owned),
            }
        })
        .collect();
    let body = pages.render("sitemap.xml", &Visitor::anonymous(), context! { urls })?;
    Ok(xml(body))
}
