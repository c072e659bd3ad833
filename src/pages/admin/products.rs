//! Products in the admin: the list (newest first, or a search by title or SKU), bulk status and
//! a new product; the edit form is [`super::product_edit`].

use actix_web::{HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{Staff, confirm, page, page_with_status, problems};
use crate::core::money::parse_amount;
use crate::core::{Money, ProductId};
use crate::domain::catalog::{ListFilter, ProductInput, ProductView, Status};
use crate::domain::inventory::Policy;
use crate::http::{ApiError, HttpState};
use crate::pages::filters::format_money;
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/products", web::get().to(list))
        .route("/admin/products/bulk-status", web::post().to(bulk_status))
        .service(
            web::resource("/admin/products/new")
                .route(web::get().to(new_form))
                .route(web::post().to(create)),
        );
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

/// A row of the list.
fn row(p: &ProductView) -> Value {
    let prices: Vec<i64> = p.variants.iter().map(|v| v.price.amount).collect();
    let price = p
        .variants
        .iter()
        .min_by_key(|v| v.price.amount)
        .map(|v| format_money(v.price));
    context! {
        id => p.id.to_string(), title => p.title, slug => p.slug, status => p.status.as_str(),
        variants => p.variants.len(), price,
        several => prices.iter().any(|x| Some(x) != prices.first()),
        sku => p.variants.first().and_then(|v| v.sku.clone()),
    }
}

async fn list(state: State, pages: PageState, s: Staff, q: web::Query<ListQuery>) -> PageResult {
    let text = q.q.as_deref().map(str::trim).unwrap_or_default();
    let (rows, next) = if text.is_empty() {
        let page =
            state
                .catalog
                .list_products(false, &ListFilter::default(), 25, q.cursor.as_deref())?;
        let rows: Vec<Value> = page
            .data
            .into_iter()
            .map(|p| row(&ProductView::staff(p)))
            .collect();
        (rows, page.next_cursor.filter(|_| page.has_more))
    } else {
        // A SKU finds its product whatever its status; words search the catalog's titles.
        let by_sku = state.catalog.variants_by_sku(text, 10, None)?;
        let mut ids: Vec<ProductId> = Vec::new();
        for v in &by_sku.data {
            if let Ok(p) = state.catalog.product_of_variant(v.variant_id) {
                ids.push(p.id);
            }
        }
        let mut sq = crate::http::search::parse_query("")?;
        sq.q = text.chars().take(200).collect();
        sq.per_page = 25;
        for h in state.search.search(sq).await?.data {
            if let Ok(id) = ProductId::parse(&h.id)
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        let mut rows = Vec::new();
        for id in ids {
            if let Ok(p) = state.catalog.get_product(&id.to_string(), false) {
                rows.push(row(&ProductView::staff(p)));
            }
        }
        (rows, None)
    };
    let notice = q
        .done
        .as_deref()
        .map(|d| format!("{d} product(s) changed."));
    let ctx = context! {
        title => "Products", rows, next, notice,
        q => text, statuses => ["active", "draft", "unlisted", "archived"],
    };
    page(&pages, &s, "products.html", "products", ctx)
}

async fn bulk_status(
    state: State,
    pages: PageState,
    s: Staff,
    form: Posted<Vec<(String, String)>>,
) -> PageResult {
    let f = form.0;
    let ids: Vec<ProductId> = f
        .iter()
        .filter(|(k, _)| k == "id")
        .filter_map(|(_, v)| ProductId::parse(v).ok())
        .collect();
    let status = f
        .iter()
        .rev()
        .find(|(k, _)| k == "status")
        .map_or("", |(_, v)| v.as_str());
    let parsed = Status::parse(status).ok_or_else(|| PageError::bad_request("choose a status"))?;
    if ids.is_empty() {
        return Err(PageError(ApiError::validation(
            "id",
            "required",
            "tick at least one product",
        )));
    }
    if parsed == Status::Archived && !f.iter().any(|(k, v)| k == "confirm" && v == "yes") {
        let keep = f.into_iter().filter(|(k, _)| k != "_csrf").collect();
        let what = format!(
            "Archive {} product(s)? They leave the shop; orders keep them.",
            ids.len()
        );
        return confirm(
            &pages,
            &s,
            "products",
            &what,
            "/admin/products/bulk-status",
            keep,
        );
    }
    let n = state.catalog.bulk_status(ids, parsed).await?;
    Ok(see_other(&s.v, &format!("/admin/products?done={n}")))
}

async fn new_form(pages: PageState, s: Staff) -> PageResult {
    let ctx = context! { title => "New product", values => context! { status => "draft" } };
    page(&pages, &s, "product_new.html", "products", ctx)
}

#[derive(Deserialize)]
struct NewForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    stock: String,
}

async fn create(state: State, pages: PageState, s: Staff, form: Posted<NewForm>) -> PageResult {
    let f = form.0;
    let currency = state.carts.settings().currency;
    let price = parse_amount(&f.price, currency);
    let stock = f
        .stock
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (0..=1_000_000_000).contains(n));
    let mut errors = Vec::new();
    if price.is_none_or(|p| p < 0) {
        errors.push(("price".to_owned(), "enter a price such as 19.99".to_owned()));
    }
    if stock.is_none() && !f.stock.trim().is_empty() {
        errors.push((
            "stock".to_owned(),
            "enter a whole number of units".to_owned(),
        ));
    }
    let result = match price.filter(|_| errors.is_empty()) {
        Some(price) => {
            let input: Result<ProductInput, _> = serde_json::from_value(serde_json::json!({
                "title": f.title.trim(), "status": f.status,
                "variants": [{"sku": Some(f.sku.trim()).filter(|x| !x.is_empty()), "price": Money::new(price, currency)}]}));
            let input = input.map_err(|e| PageError::bad_request(e.to_string()))?;
            state
                .catalog
                .create_product(input)
                .await
                .map_err(ApiError::from)
        }
        None => Err(ApiError::bad_request("invalid")),
    };
    match result {
        Ok(p) => {
            if let (Some(n), Some(v)) = (stock, p.variants.first()) {
                state
                    .inventory
                    .set(v.id, n, Policy::default(), "new product".into(), s.actor())
                    .await?;
            }
            Ok(see_other(
                &s.v,
                &format!("/admin/products/{}?done=created", p.id),
            ))
        }
        Err(e) => {
            if errors.is_empty() {
                errors = problems(e);
            }
            let values = context! { title => f.title, price => f.price, sku => f.sku, status => f.status, stock => f.stock };
            let ctx = context! { title => "New product", values, errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>() };
            page_with_status(&pages, &s, "product_new.html", "products", ctx, 422)
        }
    }
}
