//! Web assets compiled into the binary (`web/`), served without any external CDN.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use rust_embed::RustEmbed;

use super::ApiError;
use crate::core::secret::hex;

#[derive(RustEmbed)]
#[folder = "web/"]
#[include = "index.html"]
#[include = "assets/*"]
struct Assets;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(index)))
        .service(web::resource("/assets/{path:.*}").route(web::get().to(asset)));
}

async fn index() -> Result<HttpResponse, ApiError> {
    serve("index.html")
}

async fn asset(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    serve(&format!("assets/{}", path.into_inner()))
}

fn serve(path: &str) -> Result<HttpResponse, ApiError> {
    let file = Assets::get(path).ok_or_else(|| ApiError::not_found("no such asset"))?;
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..8]));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime.as_ref()))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(file.data.into_owned()))
}
