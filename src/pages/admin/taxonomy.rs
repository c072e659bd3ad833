//! Categories and collections in the admin: the category tree with create, rename, move and
//! delete; manual collections with their products in order (by handle, one per line).

use actix_web::{HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{ConfirmForm, Staff, confirm, page, page_with_status, problems};
use crate::core::{CategoryId, CollectionId, ProductId};
use crate::domain::catalog::Category;
use crate::http::{ApiError, HttpState};
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, Pages, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/categories")
            .route(web::get().to(categories))
            .route(web::post().to(create_category)),
    )
    .route("/admin/categories/{id}", web::post().to(save_category))
    .route(
        "/admin/categories/{id}/delete",
        web::post().to(delete_category),
    )
    .service(
        web::resource("/admin/collections")
            .route(web::get().to(collections))
            .route(web::post().to(create_collection)),
    )
    .service(
        web::resource("/admin/collections/{id}")
            .route(web::get().to(collection))
            .route(web::post().to(save_collection)),
    )
    .route(
        "/admin/collections/{id}/delete",
        web::post().to(delete_collection),
    );
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

/// Categories in tree order with their depth, for the list and the parent menus.
fn tree(all: &[Category]) -> Vec<Value> {
    fn walk(all: &[Category], parent: Option<CategoryId>, depth: usize, out: &mut Vec<Value>) {
        if depth > 32 {
            return;
        }
        for c in all.iter().filter(|c| c.parent_id == parent) {
            out.push(context! {
                id => c.id.to_string(), name => c.name, slug => c.slug, position => c.position,
                parent => c.parent_id.map(|p| p.to_string()), depth,
                indent => "— ".repeat(depth), version => c.version,
            });
            walk(all, Some(c.id), depth + 1, out);
        }
    }
    let mut out = Vec::with_capacity(all.len());
    walk(all, None, 0, &mut out);
    out
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

fn categories_page(
    state: &HttpState,
    pages: &Pages,
    s: &Staff,
    errors: Vec<(String, String)>,
    notice: Option<&str>,
) -> PageResult {
    categories_page_status(state, pages, s, errors, notice, None)
}

/// The category page, with the status of the failure it shows (`status` when given).
fn categories_page_status(
    state: &HttpState,
    pages: &Pages,
    s: &Staff,
    errors: Vec<(String, String)>,
    notice: Option<&str>,
    status: Option<u16>,
) -> PageResult {
    let all = state.catalog.categories()?;
    let status = status.unwrap_or(if errors.is_empty() { 200 } else { 422 });
    let ctx = context! {
        title => "Categories", tree => tree(&all), notice,
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    page_with_status(pages, s, "categories.html", "categories", ctx, status)
}

async fn categories(state: State, pages: PageState, s: Staff, q: web::Query<Done>) -> PageResult {
    let notice = q.done.as_deref().map(|d| match d {
        "deleted" => "The category was deleted.",
        _ => "Saved.",
    });
    categories_page(&state, &pages, &s, Vec::new(), notice)
}

#[derive(Deserialize)]
struct CategoryForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    parent: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    version: String,
}

/// The parent, position and slug of a category form.
fn placement(f: &CategoryForm) -> Result<(Option<CategoryId>, u32, Option<String>), ApiError> {
    let parent = match f.parent.trim() {
        "" => None,
        p => Some(
            CategoryId::parse(p)
                .map_err(|_| ApiError::validation("parent", "invalid", "choose a category"))?,
        ),
    };
    let position = match f.position.trim() {
        "" => 0,
        p => p
            .parse()
            .map_err(|_| ApiError::validation("position", "invalid", "enter a whole number"))?,
    };
    Ok((
        parent,
        position,
        Some(f.slug.trim().to_owned()).filter(|s| !s.is_empty()),
    ))
}

async fn create_category(
    state: State,
    pages: PageState,
    s: Staff,
    form: Posted<CategoryForm>,
) -> PageResult {
    let f = form.0;
    let r = match placement(&f) {
        Ok((parent, position, slug)) => state
            .catalog
            .create_category(f.name.trim(), slug.as_deref(), parent, position)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => Ok(see_other(&s.v, "/admin/categories?done=saved")),
        Err(e) => categories_page(&state, &pages, &s, problems(e), None),
    }
}

fn category_id(id: &str) -> Result<CategoryId, PageError> {
    CategoryId::parse(id).map_err(|_| PageError::not_found("no such category"))
}

async fn save_category(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<CategoryForm>,
) -> PageResult {
    let id = category_id(&id)?;
    let f = form.0;
    let version = f.version.trim().parse::<u64>().ok();
    let r = match placement(&f) {
        Ok((parent, position, slug)) => state
            .catalog
            .update_category(
                id,
                f.name.trim(),
                slug.as_deref(),
                parent,
                position,
                version,
            )
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => Ok(see_other(&s.v, "/admin/categories?done=saved")),
        Err(e) => {
            let status = e.status().as_u16();
            categories_page_status(&state, &pages, &s, problems(e), None, Some(status))
        }
    }
}

async fn delete_category(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<ConfirmForm>,
) -> PageResult {
    let cid = category_id(&id)?;
    if !form.0.confirmed() {
        let c = state.catalog.get_category(&id)?;
        let what = format!(
            "Delete the category {}? Its products stay, without it.",
            c.name
        );
        return confirm(
            &pages,
            &s,
            "categories",
            &what,
            &format!("/admin/categories/{id}/delete"),
            Vec::new(),
        );
    }
    match state.catalog.delete_category(cid).await {
        Ok(()) => Ok(see_other(&s.v, "/admin/categories?done=deleted")),
        Err(e) => categories_page(&state, &pages, &s, problems(e.into()), None),
    }
}

async fn collections(state: State, pages: PageState, s: Staff, q: web::Query<Done>) -> PageResult {
    let list: Vec<Value> = state
        .catalog
        .collections()?
        .into_iter()
        .map(|c| context! { id => c.id.to_string(), title => c.title, slug => c.slug, products => c.product_ids.len() })
        .collect();
    let notice = q.done.as_deref().map(|_| "The collection was deleted.");
    page(
        &pages,
        &s,
        "collections.html",
        "collections",
        context! { title => "Collections", list, notice },
    )
}

#[derive(Deserialize)]
struct CollectionForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    products: String,
    #[serde(default)]
    version: String,
}

/// Product ids from a list of handles or ids, one per line, in order.
fn product_ids(state: &HttpState, text: &str) -> Result<Vec<ProductId>, ApiError> {
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i >= 1000 {
            return Err(ApiError::validation(
                "products",
                "too_many",
                "at most 1000 products",
            ));
        }
        let p = state.catalog.get_product(line, false).map_err(|_| {
            ApiError::validation(
                "products",
                "unknown",
                format!("line {}: no product {line}", i + 1),
            )
        })?;
        out.push(p.id);
    }
    Ok(out)
}

async fn create_collection(
    state: State,
    pages: PageState,
    s: Staff,
    form: Posted<CollectionForm>,
) -> PageResult {
    let f = form.0;
    let slug = Some(f.slug.trim()).filter(|x| !x.is_empty());
    match state
        .catalog
        .save_collection(None, f.title.trim(), slug, "", Vec::new(), None)
        .await
    {
        Ok(c) => Ok(see_other(&s.v, &format!("/admin/collections/{}", c.id))),
        Err(e) => {
            let list: Vec<Value> = Vec::new();
            let errors: std::collections::BTreeMap<_, _> = problems(e.into()).into_iter().collect();
            page_with_status(
                &pages,
                &s,
                "collections.html",
                "collections",
                context! { title => "Collections", list, errors },
                422,
            )
        }
    }
}

fn collection_page(
    state: &HttpState,
    pages: &Pages,
    s: &Staff,
    id: &str,
    values: Option<Value>,
    errors: Vec<(String, String)>,
    notice: Option<&str>,
) -> PageResult {
    let (c, products) = state.catalog.get_collection(id, false)?;
    let handles = products
        .iter()
        .map(|p| p.slug.clone())
        .collect::<Vec<_>>()
        .join("\n");
    let values = values.unwrap_or_else(|| {
        context! {
            title => c.title, slug => c.slug, description => c.description, products => handles,
        }
    });
    let status = if errors.is_empty() { 200 } else { 422 };
    let ctx = context! {
        title => format!("Collection {}", c.title), id => c.id.to_string(), version => c.version,
        values, notice, count => products.len(),
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    page_with_status(pages, s, "collection.html", "collections", ctx, status)
}

async fn collection(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    q: web::Query<Done>,
) -> PageResult {
    collection_page(
        &state,
        &pages,
        &s,
        &id,
        None,
        Vec::new(),
        q.done.as_deref().map(|_| "Saved."),
    )
}

async fn save_collection(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<CollectionForm>,
) -> PageResult {
    let cid = CollectionId::parse(&id).map_err(|_| PageError::not_found("no such collection"))?;
    let f = form.0;
    let r = match product_ids(&state, &f.products) {
        Ok(ids) => state
            .catalog
            .save_collection(
                Some(cid),
                f.title.trim(),
                Some(f.slug.trim()).filter(|x| !x.is_empty()),
                &f.description,
                ids,
                f.version.trim().parse().ok(),
            )
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => Ok(see_other(
            &s.v,
            &format!("/admin/collections/{id}?done=saved"),
        )),
        Err(e) => {
            let values = context! { title => f.title, slug => f.slug, description => f.description, products => f.products };
            collection_page(&state, &pages, &s, &id, Some(values), problems(e), None)
        }
    }
}

async fn delete_collection(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<ConfirmForm>,
) -> PageResult {
    let cid = CollectionId::parse(&id).map_err(|_| PageError::not_found("no such collection"))?;
    if !form.0.confirmed() {
        let (c, _) = state.catalog.get_collection(&id, false)?;
        let what = format!("Delete the collection {}? Its products stay.", c.title);
        return confirm(
            &pages,
            &s,
            "collections",
            &what,
            &format!("/admin/collections/{id}/delete"),
            Vec::new(),
        );
    }
    state.catalog.delete_collection(cid).await?;
    Ok(see_other(&s.v, "/admin/collections?done=deleted"))
}
