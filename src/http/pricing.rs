//! Pricing administration (staff; API keys need the `pricing` scope): tax settings,
//! categories and zones; shipping zones with methods; promotions and their codes. Every change
//! applies to new quotes only: placed orders keep the quote they were placed with.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::identity::{Staff, scope};
use super::json::Json;
use super::paging::{CursorQuery, per_page};
use super::{ApiError, HttpState, Problem};
use crate::core::Page;
use crate::domain::giftcards::{GiftCardDetail, GiftCardView, IssueInput};
use crate::domain::rules::{
    CodeView, GeneratedCodes, PromotionInput, PromotionView, ShippingZoneInput, ShippingZoneView,
    TaxCategoryInput, TaxCategoryView, TaxExemptionView, TaxSettingsView, TaxZoneInput,
    TaxZoneView,
};

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_tax_settings,
    put_tax_settings,
    list_tax_categories,
    create_tax_category,
    list_tax_zones,
    create_tax_zone,
    get_tax_zone,
    put_tax_zone,
    delete_tax_zone,
    list_shipping_zones,
    create_shipping_zone,
    get_shipping_zone,
    put_shipping_zone,
    delete_shipping_zone,
    list_promotions,
    create_promotion,
    get_promotion,
    put_promotion,
    delete_promotion,
    generate_codes,
    list_codes,
    export_codes,
    issue_gift_card,
    list_gift_cards,
    get_gift_card,
    get_tax_exemption,
    put_tax_exemption,
    delete_tax_exemption
))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/admin/tax-settings")
            .route(web::get().to(get_tax_settings))
            .route(web::put().to(put_tax_settings)),
    )
    .service(
        web::resource("/api/v1/admin/tax-categories")
            .route(web::get().to(list_tax_categories))
            .route(web::post().to(create_tax_category)),
    )
    .service(
        web::resource("/api/v1/admin/tax-zones")
            .route(web::get().to(list_tax_zones))
            .route(web::post().to(create_tax_zone)),
    )
    .service(
        web::resource("/api/v1/admin/tax-zones/{id}")
            .route(web::get().to(get_tax_zone))
            .route(web::put().to(put_tax_zone))
            .route(web::delete().to(delete_tax_zone)),
    )
    .service(
        web::resource("/api/v1/admin/shipping-zones")
            .route(web::get().to(list_shipping_zones))
            .route(web::post().to(create_shipping_zone)),
    )
    .service(
        web::resource("/api/v1/admin/shipping-zones/{id}")
            .route(web::get().to(get_shipping_zone))
            .route(web::put().to(put_shipping_zone))
            .route(web::delete().to(delete_shipping_zone)),
    )
    .service(
        web::resource("/api/v1/admin/promotions")
            .route(web::get().to(list_promotions))
            .route(web::post().to(create_promotion)),
    )
    .service(
        web::resource("/api/v1/admin/promotions/{id}")
            .route(web::get().to(get_promotion))
            .route(web::put().to(put_promotion))
            .route(web::delete().to(delete_promotion)),
    )
    .service(
        web::resource("/api/v1/admin/promotions/{id}/codes")
            .route(web::get().to(list_codes))
            .route(web::post().to(generate_codes)),
    )
    .route(
        "/api/v1/admin/promotions/{id}/codes.csv",
        web::get().to(export_codes),
    )
    .service(
        web::resource("/api/v1/admin/gift-cards")
            .route(web::get().to(list_gift_cards))
            .route(web::post().to(issue_gift_card)),
    )
    .route(
        "/api/v1/admin/gift-cards/{id}",
        web::get().to(get_gift_card),
    )
    .service(
        web::resource("/api/v1/admin/customers/{id}/tax-exemption")
            .route(web::get().to(get_tax_exemption))
            .route(web::put().to(put_tax_exemption))
            .route(web::delete().to(delete_tax_exemption)),
    );
}

type Result<T> = std::result::Result<T, ApiError>;
type Who = Staff<scope::Pricing>;

/// The shop's tax settings: prices with or without tax, rounding, and the home zone.
#[utoipa::path(get, path = "/api/v1/admin/tax-settings", tag = "pricing", security(("bearer" = [])),
    responses((status = 200, description = "The settings", body = TaxSettingsView)))]
pub async fn get_tax_settings(state: web::Data<HttpState>, _who: Who) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.tax_settings()?))
}

/// Replaces the tax settings.
#[utoipa::path(put, path = "/api/v1/admin/tax-settings", tag = "pricing", security(("bearer" = [])), request_body = TaxSettingsView,
    responses((status = 200, description = "The settings", body = TaxSettingsView),
        (status = 422, description = "`validation_failed` (unknown home zone)", body = Problem, content_type = "application/problem+json")))]
pub async fn put_tax_settings(
    state: web::Data<HttpState>,
    _who: Who,
    body: Json<TaxSettingsView>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.set_tax_settings(body.into_inner()).await?))
}

/// The built-in tax categories (`standard`, `reduced`, `zero`, `exempt`) and the shop's own.
#[utoipa::path(get, path = "/api/v1/admin/tax-categories", tag = "pricing", security(("bearer" = [])),
    responses((status = 200, description = "Every category", body = Page<TaxCategoryView>)))]
pub async fn list_tax_categories(state: web::Data<HttpState>, _who: Who) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.tax_categories()?))
}

/// Adds a tax category (at most 100).
#[utoipa::path(post, path = "/api/v1/admin/tax-categories", tag = "pricing", security(("bearer" = [])), request_body = TaxCategoryInput,
    responses((status = 201, description = "The category", body = TaxCategoryView),
        (status = 409, description = "`code_taken` or `conflict` (too many)", body = Problem, content_type = "application/problem+json")))]
pub async fn create_tax_category(
    state: web::Data<HttpState>,
    _who: Who,
    body: Json<TaxCategoryInput>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Created().json(state.rules.create_tax_category(body.into_inner()).await?))
}

/// Every tax zone with its rates (at most 200).
#[utoipa::path(get, path = "/api/v1/admin/tax-zones", tag = "pricing", security(("bearer" = [])),
    responses((status = 200, description = "Every zone", body = Page<TaxZoneView>)))]
pub async fn list_tax_zones(state: web::Data<HttpState>, _who: Who) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.tax_zones()?))
}

/// Creates a tax zone: where it applies (countries, regions, postal prefixes; none for the
/// rest of the world) and a rate per category. The most specific zone matching an address
/// wins.
#[utoipa::path(post, path = "/api/v1/admin/tax-zones", tag = "pricing", security(("bearer" = [])), request_body = TaxZoneInput,
    responses((status = 201, description = "The zone", body = TaxZoneView),
        (status = 409, description = "`conflict`: too many zones", body = Problem, content_type = "application/problem+json")))]
pub async fn create_tax_zone(
    state: web::Data<HttpState>,
    _who: Who,
    body: Json<TaxZoneInput>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Created().json(state.rules.create_tax_zone(body.into_inner()).await?))
}

/// One tax zone.
#[utoipa::path(get, path = "/api/v1/admin/tax-zones/{id}", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "txz_…")),
    responses((status = 200, description = "The zone", body = TaxZoneView),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json")))]
pub async fn get_tax_zone(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.tax_zone(&id)?))
}

/// Replaces a tax zone.
#[utoipa::path(put, path = "/api/v1/admin/tax-zones/{id}", tag = "pricing", security(("bearer" = [])), request_body = TaxZoneInput,
    params(("id" = String, Path, description = "txz_…")),
    responses((status = 200, description = "The zone", body = TaxZoneView),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json")))]
pub async fn put_tax_zone(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
    body: Json<TaxZoneInput>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.update_tax_zone(&id, body.into_inner()).await?))
}

/// Removes a tax zone (not the home zone).
#[utoipa::path(delete, path = "/api/v1/admin/tax-zones/{id}", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "txz_…")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the home zone", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_tax_zone(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    state.rules.delete_tax_zone(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every shipping zone with its methods (at most 200).
#[utoipa::path(get, path = "/api/v1/admin/shipping-zones", tag = "pricing", security(("bearer" = [])),
    responses((status = 200, description = "Every zone", body = Page<ShippingZoneView>)))]
pub async fn list_shipping_zones(state: web::Data<HttpState>, _who: Who) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.shipping_zones()?))
}

/// Creates a shipping zone with 1–20 methods: flat, weight brackets, subtotal brackets or
/// free over a threshold, with optional weight and subtotal conditions; `pickup` for local
/// pickup.
#[utoipa::path(post, path = "/api/v1/admin/shipping-zones", tag = "pricing", security(("bearer" = [])), request_body = ShippingZoneInput,
    responses((status = 201, description = "The zone", body = ShippingZoneView),
        (status = 409, description = "`conflict`: too many zones", body = Problem, content_type = "application/problem+json")))]
pub async fn create_shipping_zone(
    state: web::Data<HttpState>,
    _who: Who,
    body: Json<ShippingZoneInput>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Created().json(state.rules.create_shipping_zone(body.into_inner()).await?))
}

/// One shipping zone.
#[utoipa::path(get, path = "/api/v1/admin/shipping-zones/{id}", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "shz_…")),
    responses((status = 200, description = "The zone", body = ShippingZoneView),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json")))]
pub async fn get_shipping_zone(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.shipping_zone(&id)?))
}

/// Replaces a shipping zone (methods keep their id while their code stays).
#[utoipa::path(put, path = "/api/v1/admin/shipping-zones/{id}", tag = "pricing", security(("bearer" = [])), request_body = ShippingZoneInput,
    params(("id" = String, Path, description = "shz_…")),
    responses((status = 200, description = "The zone", body = ShippingZoneView),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json")))]
pub async fn put_shipping_zone(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
    body: Json<ShippingZoneInput>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        state
            .rules
            .update_shipping_zone(&id, body.into_inner())
            .await?,
    ))
}

/// Removes a shipping zone.
#[utoipa::path(delete, path = "/api/v1/admin/shipping-zones/{id}", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "shz_…")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_shipping_zone(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    state.rules.delete_shipping_zone(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Promotions, oldest first, with their use counts.
#[utoipa::path(get, path = "/api/v1/admin/promotions", tag = "pricing", security(("bearer" = [])),
    params(CursorQuery),
    responses((status = 200, description = "A page of promotions", body = Page<PromotionView>)))]
pub async fn list_promotions(
    state: web::Data<HttpState>,
    _who: Who,
    q: web::Query<CursorQuery>,
) -> Result<HttpResponse> {
    let n = per_page(q.per_page)?;
    Ok(HttpResponse::Ok().json(state.rules.promotions(n, q.cursor.as_deref())?))
}

/// Creates a promotion: automatic (no `code`) or applied by its code (case-insensitive).
/// Records `promotion.created`.
#[utoipa::path(post, path = "/api/v1/admin/promotions", tag = "pricing", security(("bearer" = [])), request_body = PromotionInput,
    responses((status = 201, description = "The promotion", body = PromotionView),
        (status = 409, description = "`code_taken`, or `conflict`: too many promotions", body = Problem, content_type = "application/problem+json")))]
pub async fn create_promotion(
    state: web::Data<HttpState>,
    _who: Who,
    body: Json<PromotionInput>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Created().json(state.rules.create_promotion(body.into_inner()).await?))
}

/// One promotion with its use count.
#[utoipa::path(get, path = "/api/v1/admin/promotions/{id}", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "promo_…")),
    responses((status = 200, description = "The promotion", body = PromotionView),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json")))]
pub async fn get_promotion(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.promotion(&id)?))
}

/// Replaces a promotion (new quotes only). Records `promotion.updated`.
#[utoipa::path(put, path = "/api/v1/admin/promotions/{id}", tag = "pricing", security(("bearer" = [])), request_body = PromotionInput,
    params(("id" = String, Path, description = "promo_…")),
    responses((status = 200, description = "The promotion", body = PromotionView),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`code_taken`", body = Problem, content_type = "application/problem+json")))]
pub async fn put_promotion(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
    body: Json<PromotionInput>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.update_promotion(&id, body.into_inner()).await?))
}

/// Deletes a promotion and its codes. Records `promotion.deleted`.
#[utoipa::path(delete, path = "/api/v1/admin/promotions/{id}", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "promo_…")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_promotion(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    state.rules.delete_promotion(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The body of `POST /api/v1/admin/promotions/{id}/codes`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateInput {
    /// Codes to make (1–10,000).
    pub count: u32,
    /// Text before the random part (1–20 of A–Z, 0–9, `-`, `_`).
    #[serde(default)]
    pub prefix: Option<String>,
}

/// Generates unique single-use codes for a promotion (each good for one order).
#[utoipa::path(post, path = "/api/v1/admin/promotions/{id}/codes", tag = "pricing", security(("bearer" = [])), request_body = GenerateInput,
    params(("id" = String, Path, description = "promo_…")),
    responses((status = 201, description = "The new codes", body = GeneratedCodes),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: too many codes", body = Problem, content_type = "application/problem+json")))]
pub async fn generate_codes(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
    body: Json<GenerateInput>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let made = state
        .rules
        .generate_codes(&id, b.count, b.prefix.as_deref())
        .await?;
    Ok(HttpResponse::Created().json(made))
}

/// A promotion's codes with their use counts, in code order.
#[utoipa::path(get, path = "/api/v1/admin/promotions/{id}/codes", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "promo_…"), CursorQuery),
    responses((status = 200, description = "A page of codes", body = Page<CodeView>),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json")))]
pub async fn list_codes(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
    q: web::Query<CursorQuery>,
) -> Result<HttpResponse> {
    let n = per_page(q.per_page)?;
    Ok(HttpResponse::Ok().json(state.rules.codes(&id, n, q.cursor.as_deref())?))
}

/// Every code of a promotion as CSV: `code,single_use,used`.
#[utoipa::path(get, path = "/api/v1/admin/promotions/{id}/codes.csv", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "promo_…")),
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json")))]
pub async fn export_codes(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let csv = state.rules.codes_csv(&id)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}-codes.csv\"", id.as_str()),
        ))
        .body(csv))
}

/// Issues a gift card in the shop's currency. The answer carries its `code`, shown only here;
/// with `recipient_email` the code is also mailed. Records `gift_card.issued`. With an
/// `Idempotency-Key`, a repeat of the request answers 200 with the card issued the first
/// time, without its code (the code is never stored).
#[utoipa::path(post, path = "/api/v1/admin/gift-cards", tag = "pricing", security(("bearer" = [])), request_body = IssueInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional; up to 255 characters")),
    responses((status = 201, description = "The card with its code", body = GiftCardView),
        (status = 200, description = "A repeat with the same Idempotency-Key: the card, without its code", body = GiftCardView)))]
pub async fn issue_gift_card(
    req: HttpRequest,
    state: web::Data<HttpState>,
    who: Who,
    body: Json<IssueInput>,
) -> Result<HttpResponse> {
    let actor = who.principal.actor();
    let key = super::orders::idempotency_key(&req);
    let r = state
        .gift_cards
        .issue(body.into_inner(), actor, key)
        .await?;
    let mut answer = if r.replayed {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(answer
        .insert_header(("Cache-Control", "no-store"))
        .json(r.outcome))
}

/// Gift cards, newest first (never their codes).
#[utoipa::path(get, path = "/api/v1/admin/gift-cards", tag = "pricing", security(("bearer" = [])),
    params(CursorQuery),
    responses((status = 200, description = "A page of cards", body = Page<GiftCardView>)))]
pub async fn list_gift_cards(
    state: web::Data<HttpState>,
    _who: Who,
    q: web::Query<CursorQuery>,
) -> Result<HttpResponse> {
    let n = per_page(q.per_page)?;
    Ok(HttpResponse::Ok().json(state.gift_cards.list(n, q.cursor.as_deref())?))
}

/// One gift card with its ledger: issue, redemptions, refunds, each with the balance after.
#[utoipa::path(get, path = "/api/v1/admin/gift-cards/{id}", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "gc_…")),
    responses((status = 200, description = "The card and its ledger", body = GiftCardDetail),
        (status = 404, description = "No such card", body = Problem, content_type = "application/problem+json")))]
pub async fn get_gift_card(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.gift_cards.get(&id)?))
}

/// A customer's tax exemption.
#[utoipa::path(get, path = "/api/v1/admin/customers/{id}/tax-exemption", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "cus_…")),
    responses((status = 200, description = "The exemption", body = TaxExemptionView),
        (status = 404, description = "No such customer, or not exempt", body = Problem, content_type = "application/problem+json")))]
pub async fn get_tax_exemption(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.rules.tax_exemption(&id)?))
}

/// Makes a customer tax exempt (a business buying with its tax id): their carts and orders
/// carry no tax from now on, and prices entered with tax lose the home zone's.
#[utoipa::path(put, path = "/api/v1/admin/customers/{id}/tax-exemption", tag = "pricing", security(("bearer" = [])), request_body = TaxExemptionView,
    params(("id" = String, Path, description = "cus_…")),
    responses((status = 200, description = "The exemption", body = TaxExemptionView),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json")))]
pub async fn put_tax_exemption(
    state: web::Data<HttpState>,
    who: Who,
    id: web::Path<String>,
    body: Json<TaxExemptionView>,
) -> Result<HttpResponse> {
    let exists = crate::core::CustomerId::parse(&id)
        .ok()
        .is_some_and(|c| state.auth.get_customer(&who.principal, c).is_ok());
    Ok(HttpResponse::Ok().json(
        state
            .rules
            .set_tax_exemption(&id, body.into_inner(), exists)
            .await?,
    ))
}

/// Ends a customer's tax exemption.
#[utoipa::path(delete, path = "/api/v1/admin/customers/{id}/tax-exemption", tag = "pricing", security(("bearer" = [])),
    params(("id" = String, Path, description = "cus_…")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "Not exempt", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_tax_exemption(
    state: web::Data<HttpState>,
    _who: Who,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    state.rules.remove_tax_exemption(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}
