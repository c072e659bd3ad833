//! Products in the admin: the list (newest first, or a search by title or SKU), bulk status,
//! a new product, and the edit form for a product's text, status, SEO and each variant's price
//! and stock. An edit starts from the stored product ([`ProductInput::of`]) and sends it back
//! with the product's version, so a concurrent change is refused rather than overwritten.

use actix_web::{HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{Staff, confirm, field, page, page_with_status, problems};
use crate::core::{Money, ProductId, VariantId};
use crate::domain::catalog::shopify_csv::parse_price;
use crate::domain::catalog::{ListFilter, ProductInput, ProductView, Status, VariantInput};
use crate::domain::inventory::Policy;
use crate::http::{ApiError, HttpState};
use crate::pages::filters::{decimal, format_money};
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/products", web::get().to(list))
        .route("/admin/products/bulk-status", web::post().to(bulk_status))
        .service(
            web::resource("/admin/products/new")
                .route(web::get().to(new_form))
                .route(web::post().to(create)),
        )
        .service(
            web::resource("/admin/products/{id}")
                .route(web::get().to(edit_form))
                .route(web::post().to(save)),
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
    let price = parse_price(&f.price, currency);
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

#[derive(Deserialize, Default)]
struct EditQuery {
    done: Option<String>,
}

async fn edit_page(
    state: &HttpState,
    pages: &crate::pages::Pages,
    s: &Staff,
    id: &str,
    errors: Vec<(String, String)>,
    notice: Option<&str>,
    status: u16,
) -> PageResult {
    let p = state.catalog.get_product(id, false)?;
    let mut variants = Vec::new();
    for (v, stock) in p.variants.iter().zip(state.inventory.stock_of(&p)?) {
        variants.push(context! {
            id => v.id.to_string(), label => if v.option_values.is_empty() { "Default".to_owned() } else { v.option_values.join(" / ") },
            sku => v.sku, price => decimal(v.price), compare_at => v.compare_at_price.map(decimal),
            on_hand => stock.on_hand, available => stock.available, tracked => v.track_inventory,
        });
    }
    let ctx = context! {
        title => format!("Edit {}", p.title),
        product => ProductView::staff(p.clone()), variants, notice,
        tags => p.tags.join(", "),
        images => p.images.iter().map(|i| if i.alt.is_empty() { i.url.clone() } else { format!("{} | {}", i.url, i.alt) }).collect::<Vec<_>>().join("\n"),
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        statuses => ["active", "draft", "unlisted", "archived"],
    };
    page_with_status(pages, s, "product.html", "products", ctx, status)
}

async fn edit_form(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    q: web::Query<EditQuery>,
) -> PageResult {
    let notice = match q.done.as_deref() {
        Some("created") => Some("The product was created."),
        Some("saved") => Some("Saved."),
        _ => None,
    };
    edit_page(&state, &pages, &s, &id, Vec::new(), notice, 200).await
}

/// Problems of a form as (field, message).
type FormErrors = Vec<(String, String)>;
/// A product input with the form's changes, and the stock counts the form set.
type Edited = (ProductInput, Vec<(VariantId, i64)>);

/// The stored product with the form's changes; stock changes come back separately.
fn apply(
    mut input: ProductInput,
    f: &[(String, String)],
    currency: crate::core::Currency,
) -> Result<Edited, FormErrors> {
    let text = |name: &str| field(f, name).map(|v| v.trim().to_owned());
    let mut errors = Vec::new();
    if let Some(t) = text("title") {
        input.title = t;
    }
    if let Some(t) = text("slug") {
        input.slug = Some(t).filter(|x| !x.is_empty());
    }
    if let Some(t) = field(f, "description") {
        input.description = t.to_owned();
    }
    if let Some(t) = text("status") {
        input.status = Some(t);
    }
    if let Some(t) = text("vendor") {
        input.vendor = Some(t).filter(|x| !x.is_empty());
    }
    if let Some(t) = text("seo_title") {
        input.seo.title = Some(t).filter(|x| !x.is_empty());
    }
    if let Some(t) = text("seo_description") {
        input.seo.description = Some(t).filter(|x| !x.is_empty());
    }
    if let Some(t) = text("tags") {
        input.tags = t
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if let Some(t) = field(f, "images") {
        input.images = images(t);
    }
    let mut stock = Vec::new();
    for v in &mut input.variants {
        let Some(id) = v.id.clone() else { continue };
        let key = |what: &str| format!("{what}:{id}");
        set_variant(v, &id, f, currency, &mut errors);
        if let Some(n) = text(&key("on_hand")).filter(|x| !x.is_empty()) {
            match (n.parse::<i64>(), VariantId::parse(&id)) {
                (Ok(n), Ok(vid)) if (0..=1_000_000_000).contains(&n) => stock.push((vid, n)),
                _ => errors.push((key("on_hand"), "enter a whole number of units".into())),
            }
        }
    }
    if errors.is_empty() {
        Ok((input, stock))
    } else {
        Err(errors)
    }
}

/// Images from the form's text: one per line, `URL` or `URL | alt text`, in order.
fn images(text: &str) -> Vec<crate::domain::catalog::input::ImageInput> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(250)
        .map(|l| {
            let (url, alt) = l.split_once('|').unwrap_or((l, ""));
            crate::domain::catalog::input::ImageInput {
                url: url.trim().to_owned(),
                alt: alt.trim().to_owned(),
            }
        })
        .collect()
}

fn set_variant(
    v: &mut VariantInput,
    id: &str,
    f: &[(String, String)],
    currency: crate::core::Currency,
    errors: &mut Vec<(String, String)>,
) {
    let get = |what: &str| field(f, &format!("{what}:{id}")).map(str::trim);
    if let Some(p) = get("price") {
        match parse_price(p, currency) {
            Some(a) if a >= 0 => v.price = Money::new(a, currency),
            _ => errors.push((format!("price:{id}"), "enter a price such as 19.99".into())),
        }
    }
    if let Some(p) = get("compare_at") {
        if p.is_empty() {
            v.compare_at_price = None;
        } else {
            match parse_price(p, currency) {
                Some(a) if a >= 0 => v.compare_at_price = Some(Money::new(a, currency)),
                _ => errors.push((
                    format!("compare_at:{id}"),
                    "enter a price such as 24.99, or leave it empty".into(),
                )),
            }
        }
    }
    if let Some(x) = get("sku") {
        v.sku = Some(x.to_owned()).filter(|x| !x.is_empty());
    }
}

async fn save(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<Vec<(String, String)>>,
) -> PageResult {
    let f = form.0;
    let p = state.catalog.get_product(&id, false)?;
    let version = field(&f, "version").and_then(|v| v.parse::<u64>().ok());
    let (input, stock) = match apply(ProductInput::of(&p), &f, state.carts.settings().currency) {
        Ok(x) => x,
        Err(errors) => return edit_page(&state, &pages, &s, &id, errors, None, 422).await,
    };
    if let Err(e) = state.catalog.update_product(p.id, input, version).await {
        let e = ApiError::from(e);
        let status = e.status().as_u16();
        let notice = (status == 412).then_some("Someone saved this product after you opened it: this is the current version. Make your change again.");
        return edit_page(
            &state,
            &pages,
            &s,
            &id,
            if notice.is_some() {
                Vec::new()
            } else {
                problems(e)
            },
            notice,
            status,
        )
        .await;
    }
    for (v, n) in stock {
        if state.inventory.get(v)?.on_hand != n {
            state
                .inventory
                .set(v, n, Policy::default(), "admin edit".into(), s.actor())
                .await?;
        }
    }
    Ok(see_other(
        &s.v,
        &format!("/admin/products/{}?done=saved", p.id),
    ))
}
