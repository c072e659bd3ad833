//! Cart routes. The cart comes from the `X-Cart-Token` header (or the `shopd_cart` cookie set
//! when the cart is created) and/or the signed-in customer's bearer token.

use std::future::{Ready, ready};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::identity::principal;
use super::json::Json;
use super::{ApiError, HttpState, Problem};
use crate::domain::cart::CartOwner;

/// Header carrying an anonymous cart's token.
pub const CART_HEADER: &str = "x-cart-token";
/// Cookie carrying it for browsers.
pub const CART_COOKIE: &str = "shopd_cart";

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_cart,
    get_cart,
    add_item,
    update_item,
    remove_item,
    add_discount,
    remove_discount,
    add_gift_card,
    remove_gift_card,
    shipping_methods
))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/cart")
            .route(web::post().to(create_cart))
            .route(web::get().to(get_cart)),
    )
    .route("/api/v1/cart/items", web::post().to(add_item))
    .service(
        web::resource("/api/v1/cart/items/{line_id}")
            .route(web::patch().to(update_item))
            .route(web::delete().to(remove_item)),
    )
    .route("/api/v1/cart/discounts", web::post().to(add_discount))
    .route(
        "/api/v1/cart/discounts/{code}",
        web::delete().to(remove_discount),
    )
    .route("/api/v1/cart/gift-cards", web::post().to(add_gift_card))
    .route(
        "/api/v1/cart/gift-cards/{id}",
        web::delete().to(remove_gift_card),
    )
    .route(
        "/api/v1/cart/shipping-methods",
        web::get().to(shipping_methods),
    );
}

type Result<T> = std::result::Result<T, ApiError>;

/// The caller as far as carts are concerned: an optional signed-in customer and an optional
/// cart token. Invalid credentials are still a 401.
#[derive(Debug)]
pub struct Shopper(pub CartOwner);

impl FromRequest for Shopper {
    type Error = ApiError;
    type Future = Ready<std::result::Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(shopper(req))
    }
}

fn shopper(req: &HttpRequest) -> Result<Shopper> {
    let has_credentials = req.headers().contains_key("authorization")
        || req.cookie(super::identity::ACCESS_COOKIE).is_some();
    let customer = if has_credentials {
        principal(req)?.customer_id()
    } else {
        None
    };
    let token = req
        .headers()
        .get(CART_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .or_else(|| req.cookie(CART_COOKIE).map(|c| c.value().to_owned()))
        .filter(|t| !t.is_empty());
    if token.as_ref().is_some_and(|t| t.len() > 200) {
        return Err(ApiError::not_found("no such cart (it may have expired)"));
    }
    Ok(Shopper(CartOwner { customer, token }))
}

/// Creates an anonymous cart. The response's `cart_token` is shown once: send it as
/// `X-Cart-Token` (browsers also get it as the `shopd_cart` cookie).
#[utoipa::path(post, path = "/api/v1/cart", tag = "cart", security((), ("bearer" = [])),
    responses((status = 201, description = "The empty cart with `cart_token`", body = NewCart)))]
pub async fn create_cart(state: web::Data<HttpState>) -> Result<HttpResponse> {
    let (view, token) = state.carts.create().await?;
    let cookie = Cookie::build(CART_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .secure(state.cookie_secure)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(state.carts.settings().idle.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish();
    Ok(HttpResponse::Created().cookie(cookie).json(NewCart {
        cart: view,
        cart_token: token,
    }))
}

/// A new cart with the token that names it (also set as a cookie).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct NewCart {
    /// The empty cart.
    #[serde(flatten)]
    pub cart: crate::domain::cart::CartView,
    /// Send as `X-Cart-Token` on later cart and checkout calls.
    pub cart_token: String,
}

/// The caller's cart with current prices, availability and price changes since lines were
/// added. A signed-in customer sending an anonymous cart's token gets it merged into theirs.
#[utoipa::path(get, path = "/api/v1/cart", tag = "cart", security((), ("bearer" = [])),
    params(("X-Cart-Token" = Option<String>, Header, description = "Anonymous cart token")),
    responses((status = 200, description = "The cart", body = crate::domain::cart::CartView),
        (status = 400, description = "No cart token and not signed in (`cart_required`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, expired or someone else's cart", body = Problem, content_type = "application/problem+json")))]
pub async fn get_cart(state: web::Data<HttpState>, who: Shopper) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.carts.get(who.0).await?))
}

/// Body of `POST /api/v1/cart/items`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    /// `var_…`.
    pub variant_id: String,
    /// Units to add (default 1).
    pub quantity: Option<i64>,
}

/// Adds units of a variant (to its existing line, if any).
#[utoipa::path(post, path = "/api/v1/cart/items", tag = "cart", security((), ("bearer" = [])), request_body = AddItem,
    params(("X-Cart-Token" = Option<String>, Header, description = "Anonymous cart token")),
    responses((status = 201, description = "The cart with the line", body = crate::domain::cart::CartView),
        (status = 404, description = "No such cart or variant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`out_of_stock` or `product_unavailable`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Quantity out of range, line limit, or another currency", body = Problem, content_type = "application/problem+json")))]
pub async fn add_item(
    state: web::Data<HttpState>,
    who: Shopper,
    body: Json<AddItem>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let view = state
        .carts
        .add(who.0, &b.variant_id, b.quantity.unwrap_or(1))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Body of `PATCH /api/v1/cart/items/{line_id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItem {
    /// New quantity (1 to the per-line limit; delete the line to remove it).
    pub quantity: i64,
}

/// Changes a line's quantity.
#[utoipa::path(patch, path = "/api/v1/cart/items/{line_id}", tag = "cart", security((), ("bearer" = [])), request_body = UpdateItem,
    params(("line_id" = String, Path, description = "line_…"),
        ("X-Cart-Token" = Option<String>, Header, description = "Anonymous cart token")),
    responses((status = 200, description = "The cart", body = crate::domain::cart::CartView),
        (status = 404, description = "No such cart or line", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`out_of_stock`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Quantity out of range", body = Problem, content_type = "application/problem+json")))]
pub async fn update_item(
    state: web::Data<HttpState>,
    who: Shopper,
    line: web::Path<String>,
    body: Json<UpdateItem>,
) -> Result<HttpResponse> {
    let view = state.carts.update(who.0, &line, body.quantity).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Removes a line.
#[utoipa::path(delete, path = "/api/v1/cart/items/{line_id}", tag = "cart", security((), ("bearer" = [])),
    params(("line_id" = String, Path, description = "line_…"),
        ("X-Cart-Token" = Option<String>, Header, description = "Anonymous cart token")),
    responses((status = 200, description = "The cart", body = crate::domain::cart::CartView),
        (status = 404, description = "No such cart or line", body = Problem, content_type = "application/problem+json")))]
pub async fn remove_item(
    state: web::Data<HttpState>,
    who: Shopper,
    line: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.carts.remove(who.0, &line).await?))
}

/// Body of `POST /api/v1/cart/discounts`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDiscount {
    /// The code (case-insensitive).
    pub code: String,
}

/// Applies a discount code. A code that would not apply to this cart now is refused with one
/// reason as the problem's `code`: `unknown`, `expired`, `not_started`, `usage_limit_reached`,
/// `minimum_not_met`, `not_applicable` or `not_combinable` (the cart's `explanation` names the
/// same reason for a code that stops applying later).
#[utoipa::path(post, path = "/api/v1/cart/discounts", tag = "cart", security((), ("bearer" = [])), request_body = AddDiscount,
    params(("X-Cart-Token" = Option<String>, Header, description = "Anonymous cart token")),
    responses((status = 200, description = "The cart with the code applied", body = crate::domain::cart::CartView),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The code is refused (its reason is the `code`), or too many codes", body = Problem, content_type = "application/problem+json")))]
pub async fn add_discount(
    state: web::Data<HttpState>,
    who: Shopper,
    body: Json<AddDiscount>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.carts.add_code(who.0, &body.code).await?))
}

/// Removes a discount code from the cart.
#[utoipa::path(delete, path = "/api/v1/cart/discounts/{code}", tag = "cart", security((), ("bearer" = [])),
    params(("code" = String, Path, description = "The code"),
        ("X-Cart-Token" = Option<String>, Header, description = "Anonymous cart token")),
    responses((status = 200, description = "The cart", body = crate::domain::cart::CartView),
        (status = 404, description = "No such cart, or the code is not on it", body = Problem, content_type = "application/problem+json")))]
pub async fn remove_discount(
    state: web::Data<HttpState>,
    who: Shopper,
    code: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.carts.remove_code(who.0, &code).await?))
}

/// Where the cart's goods would go.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DestinationQuery {
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Region or state.
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
}

/// The shipping methods offered for the cart at an address, cheapest first, each with its
/// price before tax and discounts. Send a method's `code` as the checkout's
/// `shipping_method`.
#[utoipa::path(get, path = "/api/v1/cart/shipping-methods", tag = "cart", security((), ("bearer" = [])),
    params(DestinationQuery, ("X-Cart-Token" = Option<String>, Header, description = "Anonymous cart token")),
    responses((status = 200, description = "Methods offered", body = Vec<crate::domain::rules::MethodOffer>),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a country code", body = Problem, content_type = "application/problem+json")))]
pub async fn shipping_methods(
    state: web::Data<HttpState>,
    who: Shopper,
    q: web::Query<DestinationQuery>,
) -> Result<HttpResponse> {
    let country = q.country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::validation(
            "country",
            "invalid",
            "must be an ISO 3166-1 alpha-2 code",
        ));
    }
    let bounded = |s: &Option<String>| {
        s.as_deref()
            .unwrap_or("")
            .chars()
            .take(50)
            .collect::<String>()
    };
    let d = crate::domain::pricing::Destination::new(
        &country,
        &bounded(&q.region),
        &bounded(&q.postal_code),
    );
    Ok(HttpResponse::Ok().json(state.carts.shipping_methods(who.0, d)?))
}

/// Adds a gift card as a tender: it pays what it can of the total, before the payment
/// provider (an order it covers whole needs none). 422 `gift_card_invalid` for a mistyped,
/// unknown, disabled, expired or empty card.
#[utoipa::path(post, path = "/api/v1/cart/gift-cards", tag = "cart", security((), ("bearer" = [])), request_body = AddDiscount,
    params(("X-Cart-Token" = Option<String>, Header, description = "Anonymous cart token")),
    responses((status = 200, description = "The cart with the card tendered", body = crate::domain::cart::CartView),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`gift_card_invalid`, or too many cards", body = Problem, content_type = "application/problem+json")))]
pub async fn add_gift_card(
    state: web::Data<HttpState>,
    who: Shopper,
    body: Json<AddDiscount>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.carts.add_gift_card(who.0, &body.code).await?))
}

/// Takes a gift card off the cart.
#[utoipa::path(delete, path = "/api/v1/cart/gift-cards/{id}", tag = "cart", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "gc_…"),
        ("X-Cart-Token" = Option<String>, Header, description = "Anonymous cart token")),
    responses((status = 200, description = "The cart", body = crate::domain::cart::CartView),
        (status = 404, description = "No such cart, or the card is not on it", body = Problem, content_type = "application/problem+json")))]
pub async fn remove_gift_card(
    state: web::Data<HttpState>,
    who: Shopper,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.carts.remove_gift_card(who.0, &id).await?))
}
