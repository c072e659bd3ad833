//! The OpenAPI document generated from the handlers, and the embedded Swagger UI.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::problem;

/// Declares the bearer scheme (JWT access tokens and `shopd_sk_…` API keys).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or shopd_sk_ API key")
                    .build(),
            ),
        );
    }
}

/// What the API document says beyond the operations: info, shared schemas, security, tags.
/// Each route module's own `Doc` adds its operations ([`super::MODULES`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "shopd",
        description = "A complete online shop in one binary. Errors are RFC 9457 problem details (application/problem+json) with a stable `code`.",
        license(name = "MIT")
    ),
    components(schemas(
        problem::Problem,
        problem::FieldError,
        crate::domain::events::Event,
        crate::domain::orders::OrderEventV3,
        crate::domain::inventory::StockEventV1,
        crate::domain::payments::PaymentEventV1,
        crate::domain::payments::RefundEventV1,
        crate::domain::rules::PromotionEventV1,
        crate::domain::giftcards::GiftCardEventV1
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "diagnostics", description = "Operator and test diagnostics (admin; disabled unless diagnostics.enabled)"),
        (name = "jobs", description = "The job queue: jobs by state and kind, one job with its payload, retry and discard (admins; API keys need the `diagnostics` scope)"),
        (name = "auth", description = "Registration, sign-in, tokens, email verification and password reset"),
        (name = "account", description = "The signed-in account"),
        (name = "admin", description = "Staff and admin operations"),
        (name = "catalog", description = "Products and categories as shoppers see them"),
        (name = "catalog-admin", description = "Catalog management (staff, `catalog` scope for API keys)"),
        (name = "inventory", description = "Stock levels and movements (staff, `inventory` scope for API keys)"),
        (name = "cart", description = "Shopping carts (anonymous by X-Cart-Token, or the signed-in customer's)"),
        (name = "checkout", description = "Checkout (idempotent) and customers' orders"),
        (name = "pricing", description = "Tax settings, categories and zones; shipping zones and methods; promotions and codes (staff, `pricing` scope)"),
        (name = "webhooks", description = "Outgoing webhooks (Standard Webhooks): endpoints, secrets, delivery log, replays (admins; API keys need the `orders` scope)"),
        (name = "payments", description = "Paying an order (the `test` provider's cards, 3-D Secure), and staff mark-paid, capture and refunds"),
        (name = "orders-admin", description = "Order management (staff, `orders` scope for API keys)"),
        (name = "events", description = "Business events (`order.paid`, …): listed by `GET /api/v1/admin/events`; each type's `data` has its own versioned payload schema")
    )
)]
pub struct ApiDoc;

/// The document with the running version filled in.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for m in super::MODULES {
        doc.merge((m.doc)());
    }
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    // Both conversions are of a document this build generated; a test pins that they succeed.
    ruled(&doc).unwrap_or(doc)
}

/// `doc` with the shared answers and the webhooks added (edited as JSON, then read back).
fn ruled(doc: &utoipa::openapi::OpenApi) -> Result<utoipa::openapi::OpenApi, serde_json::Error> {
    let mut v = serde_json::to_value(doc)?;
    super::doc_responses::apply(&mut v);
    add_webhooks(&mut v);
    serde_json::from_value(v)
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/docs").route(web::get().to(|| async {
        HttpResponse::PermanentRedirect()
            .insert_header(("Location", "/api/docs/"))
            .finish()
    })))
    .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", openapi()));
}

/// Documents every event type as an OpenAPI 3.1 webhook: the `{id, type, created_at, data}`
/// envelope with `data` in the type's own payload schema.
fn add_webhooks(doc: &mut serde_json::Value) {
    use serde_json::json;
    let mut hooks = serde_json::Map::new();
    for t in crate::domain::events::TYPES {
        let schema = json!({
            "allOf": [
                {"$ref": "#/components/schemas/Event"},
                {"type": "object", "required": ["type", "data"], "properties": {
                    "type": {"type": "string", "enum": [t.name]},
                    "data": {"allOf": [
                        {"$ref": format!("#/components/schemas/{}", t.schema)},
                        {"type": "object", "required": ["payload_version"], "properties": {
                            "payload_version": {"type": "integer", "enum": [t.version]}
                        }}
                    ]}
                }}
            ]
        });
        hooks.insert(
            t.name.to_owned(),
            json!({"post": {
                "operationId": format!("event_{}", t.name.replace('.', "_")),
                "summary": t.meaning,
                "tags": ["events"],
                "requestBody": {"required": true, "content": {"application/json": {"schema": schema}}},
                "responses": {"200": {"description": "Any 2xx acknowledges the event"}}
            }}),
        );
    }
    doc["webhooks"] = serde_json::Value::Object(hooks);
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    #[test]
    fn the_ruled_document_reads_back() {
        let doc = super::ApiDoc::openapi();
        let ruled = super::ruled(&doc).expect("the edited document is a valid utoipa document");
        assert!(ruled.webhooks.is_some());
    }
}
