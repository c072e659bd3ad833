//! The caller's address book: list, add, replace, remove (`/api/v1/me/addresses`). Customers
//! only; an API key has no address book.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::identity::Signed;
use super::json::Json;
use super::{ApiError, HttpState, Problem};
use crate::core::{AddressId, Page};
use crate::domain::auth::addresses::AddressView;
use crate::domain::orders::AddressInput;

type Result<T> = std::result::Result<T, ApiError>;

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_addresses, add_address, replace_address, remove_address))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/me/addresses")
            .route(web::get().to(list_addresses))
            .route(web::post().to(add_address)),
    )
    .service(
        web::resource("/api/v1/me/addresses/{id}")
            .route(web::put().to(replace_address))
            .route(web::delete().to(remove_address)),
    );
}

/// An address to save: the checkout's address fields and whether it is the default.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    /// Recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Apartment, suite, …
    #[serde(default)]
    pub line2: String,
    /// City.
    pub city: String,
    /// State, province or region.
    #[serde(default)]
    pub region: String,
    /// Postal code.
    #[serde(default)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Make it the address the checkout starts from (the first address always is).
    #[serde(default)]
    pub is_default: bool,
}

impl AddressBody {
    fn input(&self) -> AddressInput {
        AddressInput {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
        }
    }
}

fn parse_id(s: &str) -> Result<AddressId> {
    AddressId::parse(s).map_err(|_| ApiError::not_found("no such address"))
}

/// Your saved addresses (at most 20), the default first.
#[utoipa::path(get, path = "/api/v1/me/addresses", tag = "account", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every address", body = Page<AddressView>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An API key (no address book)", body = Problem, content_type = "application/problem+json")))]
pub async fn list_addresses(state: web::Data<HttpState>, who: Signed) -> Result<HttpResponse> {
    let all = state.auth.addresses(&who.principal)?;
    Ok(HttpResponse::Ok().json(Page::whole(all)))
}

/// Saves an address, checked as the checkout checks one.
#[utoipa::path(post, path = "/api/v1/me/addresses", tag = "account", security(("bearer" = [])), request_body = AddressBody,
    responses(
        (status = 201, description = "Saved", body = AddressView),
        (status = 409, description = "`address_book_full`: 20 addresses already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")))]
pub async fn add_address(
    state: web::Data<HttpState>,
    who: Signed,
    body: Json<AddressBody>,
) -> Result<HttpResponse> {
    let a = state
        .auth
        .add_address(&who.principal, &body.input(), body.is_default)
        .await?;
    Ok(HttpResponse::Created().json(a))
}

/// Replaces one of your addresses. Others' ids are 404.
#[utoipa::path(put, path = "/api/v1/me/addresses/{id}", tag = "account", security(("bearer" = [])), request_body = AddressBody,
    params(("id" = String, Path, description = "adr_…")),
    responses(
        (status = 200, description = "Saved", body = AddressView),
        (status = 404, description = "No such address, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")))]
pub async fn replace_address(
    state: web::Data<HttpState>,
    who: Signed,
    id: web::Path<String>,
    body: Json<AddressBody>,
) -> Result<HttpResponse> {
    let id = parse_id(&id)?;
    let a = state
        .auth
        .update_address(&who.principal, id, &body.input(), body.is_default)
        .await?;
    Ok(HttpResponse::Ok().json(a))
}

/// Removes one of your addresses; when it was the default, the oldest left becomes it.
#[utoipa::path(delete, path = "/api/v1/me/addresses/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = String, Path, description = "adr_…")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such address, or not yours", body = Problem, content_type = "application/problem+json")))]
pub async fn remove_address(
    state: web::Data<HttpState>,
    who: Signed,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    state
        .auth
        .remove_address(&who.principal, parse_id(&id)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
