//! Catalog routes: public product reads (active only, `ETag`/`If-None-Match`), the category
//! tree, and staff product/category management (`If-Match` optimistic concurrency).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::identity::{Staff, scope};
use super::json::Json;
use super::{ApiError, HttpState, Problem};
use crate::core::Page;
use crate::core::errors as codes;
use crate::core::{CategoryId, CollectionId, ProductId, VariantId};
use crate::domain::catalog::{
    CategoryView, CollectionView, ImportReport, ListFilter, Product, ProductInput, ProductView,
    SkuHolder, Status,
};

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_products,
    get_product,
    list_categories,
    create_product,
    admin_list_products,
    admin_get_product,
    update_product,
    delete_product,
    bulk_status,
    create_category,
    update_category,
    delete_category,
    import_csv,
    list_collections,
    get_collection,
    create_collection,
    update_collection,
    delete_collection,
    export_csv,
    variants_by_sku
))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/products", web::get().to(list_products))
        .route("/api/v1/products/{id_or_slug}", web::get().to(get_product))
        .route("/api/v1/categories", web::get().to(list_categories))
        .route("/api/v1/collections", web::get().to(list_collections))
        .route(
            "/api/v1/collections/{id_or_slug}",
            web::get().to(get_collection),
        )
        .route(
            "/api/v1/admin/collections",
            web::post().to(create_collection),
        )
        .service(
            web::resource("/api/v1/admin/collections/{id}")
                .route(web::put().to(update_collection))
                .route(web::delete().to(delete_collection)),
        )
        .service(
            web::resource("/api/v1/admin/products")
                .route(web::post().to(create_product))
                .route(web::get().to(admin_list_products)),
        )
        .route(
            "/api/v1/admin/products/bulk-status",
            web::post().to(bulk_status),
        )
        .route("/api/v1/admin/variants", web::get().to(variants_by_sku))
        .route("/api/v1/admin/products/import", web::post().to(import_csv))
        .route("/api/v1/admin/products/export", web::get().to(export_csv))
        .service(
            web::resource("/api/v1/admin/products/{id}")
                .route(web::get().to(admin_get_product))
                .route(web::put().to(update_product))
                .route(web::delete().to(delete_product)),
        )
        .route("/api/v1/admin/categories", web::post().to(create_category))
        .service(
            web::resource("/api/v1/admin/categories/{id}")
                .route(web::put().to(update_category))
                .route(web::delete().to(delete_category)),
        );
}

type Result<T> = std::result::Result<T, ApiError>;

fn etag(p: &Product) -> String {
    format!("\"{}.{}\"", p.id, p.version)
}

/// The version named by `If-Match` (`"prod_….N"`), if any; `*` means "any version".
pub(super) fn if_match(req: &HttpRequest) -> Result<Option<u64>> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::bad_request("If-Match is not ASCII"))?
        .trim();
    if s == "*" {
        return Ok(None);
    }
    s.trim_matches('"')
        .rsplit_once('.')
        .and_then(|(_, n)| n.parse().ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("If-Match must be an ETag from this API"))
}

/// The product with its `ETag`; `staff` adds the staff-only fields (cost per item).
fn with_etag(status: StatusCode, p: Product, staff: bool) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    if let Ok(v) = HeaderValue::from_str(&etag(&p)) {
        r.insert_header((header::ETAG, v));
    }
    r.json(if staff {
        ProductView::staff(p)
    } else {
        ProductView::from(p)
    })
}

fn not_modified(req: &HttpRequest, p: &Product) -> Option<HttpResponse> {
    let tag = etag(p);
    let inm = req.headers().get(header::IF_NONE_MATCH)?.to_str().ok()?;
    inm.split(',')
        .any(|t| t.trim() == tag || t.trim() == "*")
        .then(|| {
            HttpResponse::NotModified()
                .insert_header((header::ETAG, tag))
                .finish()
        })
}

/// Query of product lists.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1–100, default 20.
    pub per_page: Option<usize>,
    /// From the previous page.
    pub cursor: Option<String>,
    /// Only this category (`cat_…`).
    pub category: Option<String>,
    /// `newest` (default) or `oldest`.
    pub sort: Option<String>,
}

fn list_args(q: &ListQuery) -> Result<(ListFilter, usize)> {
    let per_page = super::paging::per_page(q.per_page)?;
    let category = match &q.category {
        Some(c) => Some(
            CategoryId::parse(c)
                .map_err(|_| ApiError::validation("category", "invalid", "is not a category id"))?,
        ),
        None => None,
    };
    let oldest_first = match q.sort.as_deref() {
        None | Some("newest") => false,
        Some("oldest") => true,
        Some(_) => {
            return Err(ApiError::validation(
                "sort",
                "invalid",
                "must be newest or oldest",
            ));
        }
    };
    Ok((
        ListFilter {
            category,
            oldest_first,
        },
        per_page,
    ))
}

/// Lists active products, newest first.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalog", params(ListQuery),
    responses(
        (status = 200, description = "A page of active products", body = Page<ProductView>),
        (status = 400, description = "Unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = "application/problem+json")))]
pub async fn list_products(
    state: web::Data<HttpState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let (filter, per_page) = list_args(&q)?;
    let page = state
        .catalog
        .list_products(true, &filter, per_page, q.cursor.as_deref())?;
    Ok(HttpResponse::Ok().json(page.map(ProductView::from)))
}

/// An active product by id or slug; drafts and archived products are 404.
#[utoipa::path(get, path = "/api/v1/products/{id_or_slug}", tag = "catalog",
    params(("id_or_slug" = String, Path, description = "prod_… or slug")),
    responses(
        (status = 200, description = "The product (with ETag)", body = ProductView),
        (status = 304, description = "Unchanged since If-None-Match"),
        (status = 404, description = "No such active product", body = Problem, content_type = "application/problem+json")))]
pub async fn get_product(
    req: HttpRequest,
    state: web::Data<HttpState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let p = state.catalog.get_product(&id, true)?;
    Ok(not_modified(&req, &p).unwrap_or_else(|| with_etag(StatusCode::OK, p, false)))
}

/// Every category, ordered by parent and position.
#[utoipa::path(get, path = "/api/v1/categories", tag = "catalog",
    responses((status = 200, description = "Categories (`parent_id` links them into a tree)", body = Page<CategoryView>)))]
pub async fn list_categories(state: web::Data<HttpState>) -> Result<HttpResponse> {
    let categories = state.catalog.categories()?;
    Ok(HttpResponse::Ok().json(Page::whole(categories).map(CategoryView::from)))
}

fn product_id(s: &str) -> Result<ProductId> {
    ProductId::parse(s).map_err(|_| ApiError::not_found("no such product"))
}

/// Creates a product (staff).
#[utoipa::path(post, path = "/api/v1/admin/products", tag = "catalog-admin", security(("bearer" = [])),
    request_body(content = Object, description = "title, slug?, description, status (draft|active|archived|unlisted), vendor, product_type, tags, images [{url, alt}], seo {title, description}, attributes {k: v}, options [{name, values}], variants [{sku?, option_values, price {amount, currency} (0 allowed), compare_at_price?, weight_grams? or weight {milligrams, unit}?, barcode?, track_inventory?, requires_shipping?, taxable?, tax_category?, cost?, image_url?}] (1 to 2048), category_ids, gift_card?, product_category?, tax_category? (standard, reduced, zero, exempt or the shop's own)"),
    responses(
        (status = 201, description = "Created (with ETag)", body = ProductView),
        (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug or SKU taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (each listed in `errors`)", body = Problem, content_type = "application/problem+json")))]
pub async fn create_product(
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    body: Json<ProductInput>,
) -> Result<HttpResponse> {
    let p = state.catalog.create_product(body.into_inner()).await?;
    Ok(with_etag(StatusCode::CREATED, p, true))
}

/// Lists products in every status (staff).
#[utoipa::path(get, path = "/api/v1/admin/products", tag = "catalog-admin", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page of products", body = Page<ProductView>), (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json")))]
pub async fn admin_list_products(
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse> {
    let (filter, per_page) = list_args(&q)?;
    if filter.category.is_some() {
        return Err(ApiError::validation(
            "category",
            "unsupported",
            "filter by category on /api/v1/products",
        ));
    }
    let page = state
        .catalog
        .list_products(false, &filter, per_page, q.cursor.as_deref())?;
    Ok(HttpResponse::Ok().json(page.map(ProductView::staff)))
}

/// A product in any status (staff).
#[utoipa::path(get, path = "/api/v1/admin/products/{id}", tag = "catalog-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "prod_…")),
    responses((status = 200, description = "The product (with ETag)", body = ProductView), (status = 304, description = "Unchanged since If-None-Match"), (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json")))]
pub async fn admin_get_product(
    req: HttpRequest,
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let p = state.catalog.get_product(&id, false)?;
    Ok(not_modified(&req, &p).unwrap_or_else(|| with_etag(StatusCode::OK, p, true)))
}

/// Replaces a product (staff). Send `If-Match` with the ETag you edited to avoid overwriting
/// someone else's change; variants keep their ids when the `id` is sent back.
#[utoipa::path(put, path = "/api/v1/admin/products/{id}", tag = "catalog-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "prod_…")),
    request_body(content = Object, description = "The whole product, as for create"),
    responses(
        (status = 200, description = "Updated (new ETag)", body = ProductView),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug or SKU taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")))]
pub async fn update_product(
    req: HttpRequest,
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    id: web::Path<String>,
    body: Json<ProductInput>,
) -> Result<HttpResponse> {
    let id = product_id(&id)?;
    let p = state
        .catalog
        .update_product(id, body.into_inner(), if_match(&req)?)
        .await?;
    Ok(with_etag(StatusCode::OK, p, true))
}

/// Deletes a product (staff; `If-Match` honoured).
#[utoipa::path(delete, path = "/api/v1/admin/products/{id}", tag = "catalog-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "prod_…")),
    responses((status = 204, description = "Deleted"), (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_product(
    req: HttpRequest,
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = product_id(&id)?;
    state.catalog.delete_product(id, if_match(&req)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Body of [`bulk_status`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkStatusBody {
    /// Product ids (1–500).
    pub ids: Vec<String>,
    /// New status.
    pub status: String,
}

/// Answer of [`bulk_status`].
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BulkStatusResult {
    /// Products whose status changed.
    pub changed: usize,
}

/// Sets the status of many products at once, all or nothing (staff).
#[utoipa::path(post, path = "/api/v1/admin/products/bulk-status", tag = "catalog-admin", security(("bearer" = [])),
    request_body(content = Object, description = "{ids: [prod_…], status: draft|active|archived|unlisted}"),
    responses((status = 200, description = "How many changed", body = BulkStatusResult), (status = 404, description = "An id does not exist", body = Problem, content_type = "application/problem+json")))]
pub async fn bulk_status(
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    body: Json<BulkStatusBody>,
) -> Result<HttpResponse> {
    let status = Status::parse(&body.status).ok_or_else(|| {
        ApiError::validation("status", "invalid", "must be draft, active or archived")
    })?;
    let ids = body
        .ids
        .iter()
        .map(|s| product_id(s))
        .collect::<Result<Vec<_>>>()?;
    let changed = state.catalog.bulk_status(ids, status).await?;
    Ok(HttpResponse::Ok().json(BulkStatusResult { changed }))
}

/// Body of category writes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    /// Name.
    pub name: String,
    /// Slug (derived from the name when absent).
    pub slug: Option<String>,
    /// Parent category (`cat_…`), absent for a root.
    pub parent_id: Option<String>,
    /// Order among siblings.
    #[serde(default)]
    pub position: u32,
}

fn parent(b: &CategoryBody) -> Result<Option<CategoryId>> {
    match &b.parent_id {
        Some(p) => Ok(Some(CategoryId::parse(p).map_err(|_| {
            ApiError::validation("parent_id", "invalid", "is not a category id")
        })?)),
        None => Ok(None),
    }
}

/// Creates a category (staff).
#[utoipa::path(post, path = "/api/v1/admin/categories", tag = "catalog-admin", security(("bearer" = [])),
    request_body(content = Object, description = "{name, slug?, parent_id?, position?}"),
    responses((status = 201, description = "Created", body = CategoryView), (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"), (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json")))]
pub async fn create_category(
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    body: Json<CategoryBody>,
) -> Result<HttpResponse> {
    let c = state
        .catalog
        .create_category(
            &body.name,
            body.slug.as_deref(),
            parent(&body)?,
            body.position,
        )
        .await?;
    Ok(HttpResponse::Created().json(CategoryView::from(c)))
}

/// Renames or moves a category (staff; cycles refused; `If-Match` with the version honoured).
#[utoipa::path(put, path = "/api/v1/admin/categories/{id}", tag = "catalog-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "cat_…")),
    request_body(content = Object, description = "{name, slug?, parent_id?, position?}"),
    responses((status = 200, description = "Updated", body = CategoryView), (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"), (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"), (status = 422, description = "Invalid (e.g. a cycle)", body = Problem, content_type = "application/problem+json")))]
pub async fn update_category(
    req: HttpRequest,
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    id: web::Path<String>,
    body: Json<CategoryBody>,
) -> Result<HttpResponse> {
    let id = CategoryId::parse(&id).map_err(|_| ApiError::not_found("no such category"))?;
    let c = state
        .catalog
        .update_category(
            id,
            &body.name,
            body.slug.as_deref(),
            parent(&body)?,
            body.position,
            if_match(&req)?,
        )
        .await?;
    Ok(HttpResponse::Ok().json(CategoryView::from(c)))
}

/// Deletes an empty leaf category (staff).
#[utoipa::path(delete, path = "/api/v1/admin/categories/{id}", tag = "catalog-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "cat_…")),
    responses((status = 204, description = "Deleted"), (status = 409, description = "Has subcategories or products", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_category(
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = CategoryId::parse(&id).map_err(|_| ApiError::not_found("no such category"))?;
    state.catalog.delete_category(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Query of [`import_csv`].
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Currency of the prices in the file (default USD).
    pub currency: Option<String>,
    /// Check only: report what an import would do and write nothing.
    pub dry_run: Option<bool>,
}

/// Imports a Shopify product CSV sent as the body (`text/csv`, up to `server.import_body_limit`,
/// 64 MiB by default). Each product is created or updated whole or not
/// at all; failed lines are listed with their line numbers.
#[utoipa::path(post, path = "/api/v1/admin/products/import", tag = "catalog-admin", security(("bearer" = [])), params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "Shopify product CSV"),
    responses(
        (status = 200, description = "What was created and updated, and the lines refused", body = ImportReport),
        (status = 413, description = "Larger than the import body limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not text/csv", body = Problem, content_type = "application/problem+json")))]
pub async fn import_csv(
    req: HttpRequest,
    state: web::Data<HttpState>,
    who: Staff<scope::Catalog>,
    q: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("text/csv") {
        return Err(ApiError::new(
            codes::UNSUPPORTED_MEDIA_TYPE,
            "send the file as text/csv",
        ));
    }
    let currency = crate::core::Currency::parse(q.currency.as_deref().unwrap_or("USD"))
        .map_err(|_| ApiError::validation("currency", "invalid", "is not an ISO 4217 code"))?;
    let body = super::json::read_limited(&req, payload).await?;
    let report = state
        .inventory
        .import_csv(
            &state.catalog,
            std::io::Cursor::new(body),
            currency,
            q.dry_run.unwrap_or(false),
            (&who.principal.actor(), true),
            &mut |_, _| {},
        )
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Exports every product as a Shopify product CSV.
#[utoipa::path(get, path = "/api/v1/admin/products/export", tag = "catalog-admin", security(("bearer" = [])),
    responses((status = 200, description = "Shopify product CSV", content_type = "text/csv")))]
pub async fn export_csv(
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
) -> Result<HttpResponse> {
    let (catalog, inventory) = (state.catalog.clone(), state.inventory.clone());
    let data = web::block(move || {
        let mut buf = Vec::new();
        inventory.export_csv(&catalog, &mut buf).map(|_| buf)
    })
    .await
    .map_err(|_| ApiError::internal())??;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"products_export.csv\"",
        ))
        .body(data))
}

/// Every collection (without products).
#[utoipa::path(get, path = "/api/v1/collections", tag = "catalog",
    responses((status = 200, description = "Collections", body = Page<CollectionView>)))]
pub async fn list_collections(state: web::Data<HttpState>) -> Result<HttpResponse> {
    let collections = state.catalog.collections()?;
    Ok(HttpResponse::Ok().json(Page::whole(collections).map(CollectionView::from)))
}

/// A collection with its active products in display order.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CollectionWithProducts {
    /// The collection.
    #[serde(flatten)]
    pub collection: CollectionView,
    /// Its active products.
    pub products: Vec<ProductView>,
}

/// A collection by id or slug, with its active products in order.
#[utoipa::path(get, path = "/api/v1/collections/{id_or_slug}", tag = "catalog",
    params(("id_or_slug" = String, Path, description = "col_… or slug")),
    responses((status = 200, description = "The collection and its products", body = CollectionWithProducts), (status = 404, description = "No such collection", body = Problem, content_type = "application/problem+json")))]
pub async fn get_collection(
    state: web::Data<HttpState>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let (collection, products) = state.catalog.get_collection(&id, true)?;
    Ok(HttpResponse::Ok().json(CollectionWithProducts {
        collection: collection.into(),
        products: products.into_iter().map(ProductView::from).collect(),
    }))
}

/// Body of collection writes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionBody {
    /// Title.
    pub title: String,
    /// Slug (derived from the title when absent).
    pub slug: Option<String>,
    /// Description (HTML).
    #[serde(default)]
    pub description: String,
    /// Products in display order.
    #[serde(default)]
    pub product_ids: Vec<String>,
}

fn collection_products(b: &CollectionBody) -> Result<Vec<ProductId>> {
    b.product_ids
        .iter()
        .enumerate()
        .map(|(i, p)| {
            ProductId::parse(p).map_err(|_| {
                ApiError::validation(
                    &format!("product_ids[{i}]"),
                    "invalid",
                    "is not a product id",
                )
            })
        })
        .collect()
}

/// Creates a collection (staff).
#[utoipa::path(post, path = "/api/v1/admin/collections", tag = "catalog-admin", security(("bearer" = [])),
    request_body(content = Object, description = "{title, slug?, description?, product_ids}"),
    responses((status = 201, description = "Created", body = CollectionView), (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"), (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json")))]
pub async fn create_collection(
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    body: Json<CollectionBody>,
) -> Result<HttpResponse> {
    let ids = collection_products(&body)?;
    let c = state
        .catalog
        .save_collection(
            None,
            &body.title,
            body.slug.as_deref(),
            &body.description,
            ids,
            None,
        )
        .await?;
    Ok(HttpResponse::Created().json(CollectionView::from(c)))
}

/// Replaces a collection (staff; `If-Match` with the version honoured).
#[utoipa::path(put, path = "/api/v1/admin/collections/{id}", tag = "catalog-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "col_…")),
    request_body(content = Object, description = "{title, slug?, description?, product_ids}"),
    responses((status = 200, description = "Updated", body = CollectionView), (status = 404, description = "No such collection", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"), (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"), (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json")))]
pub async fn update_collection(
    req: HttpRequest,
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    id: web::Path<String>,
    body: Json<CollectionBody>,
) -> Result<HttpResponse> {
    let id = CollectionId::parse(&id).map_err(|_| ApiError::not_found("no such collection"))?;
    let ids = collection_products(&body)?;
    let c = state
        .catalog
        .save_collection(
            Some(id),
            &body.title,
            body.slug.as_deref(),
            &body.description,
            ids,
            if_match(&req)?,
        )
        .await?;
    Ok(HttpResponse::Ok().json(CollectionView::from(c)))
}

/// Deletes a collection; its products stay (staff).
#[utoipa::path(delete, path = "/api/v1/admin/collections/{id}", tag = "catalog-admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "col_…")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such collection", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_collection(
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = CollectionId::parse(&id).map_err(|_| ApiError::not_found("no such collection"))?;
    state.catalog.delete_collection(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Query of [`variants_by_sku`].
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SkuQuery {
    /// The SKU (compared case-insensitively, surrounding spaces ignored).
    pub sku: String,
    /// 1–100, default 20.
    pub per_page: Option<usize>,
    /// From the previous page.
    pub cursor: Option<String>,
}

/// Every variant holding a SKU. SKUs may repeat across and within products (as in Shopify), so
/// this lists all holders with their product and option values rather than picking one.
#[utoipa::path(get, path = "/api/v1/admin/variants", tag = "catalog-admin", security(("bearer" = [])), params(SkuQuery),
    responses((status = 200, description = "The variants with this SKU, with their products", body = Page<SkuHolder>)))]
pub async fn variants_by_sku(
    state: web::Data<HttpState>,
    _who: Staff<scope::Catalog>,
    q: web::Query<SkuQuery>,
) -> Result<HttpResponse> {
    let per_page = super::paging::per_page(q.per_page)?;
    if q.sku.trim().is_empty() || q.sku.chars().count() > 255 {
        return Err(ApiError::validation(
            "sku",
            "invalid",
            "must be 1 to 255 characters",
        ));
    }
    let after = match q.cursor.as_deref() {
        Some(c) => Some(VariantId::parse(c).map_err(|_| {
            ApiError::validation("cursor", "invalid", "is not a cursor of this list")
        })?),
        None => None,
    };
    let page = state.catalog.variants_by_sku(&q.sku, per_page, after)?;
    Ok(HttpResponse::Ok().json(page))
}
