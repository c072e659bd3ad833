//! Browsing: the home page, category and collection pages, search results and the product
//! page. Category and search pages are one search (the API's parameters and rules) shown with
//! facets, sorting and pagination as plain links and a GET form.

use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::{Value, context};
use serde::Serialize;
use serde_json::json;

use super::filters::{decimal, format_money};
use super::{PageError, PageState, Visitor};
use crate::core::{CategoryId, ProductId};
use crate::domain::catalog::{Category, Product, ProductView};
use crate::domain::search::{Facets, SearchResult};
use crate::http::HttpState;
use crate::http::search::parse_query;

/// Products on one listing page.
pub const PER_PAGE: usize = 24;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/search", web::get().to(search))
        .route("/categories/{slug}", web::get().to(category))
        .route("/collections/{slug}", web::get().to(collection))
        .route("/products/{slug}", web::get().to(product));
}

type State = web::Data<HttpState>;

/// A product as a listing shows it.
#[derive(Serialize)]
pub struct Card {
    title: String,
    url: String,
    price: String,
    compare_at: Option<String>,
    image: Option<crate::domain::catalog::Image>,
    several_prices: bool,
}

/// The card of `p`: its lowest price ("from" when variants differ) and first image.
pub fn card(p: &Product) -> Card {
    let prices = || p.variants.iter().map(|v| v.price);
    let min = prices().min_by_key(|m| m.amount);
    let several = prices().any(|m| Some(m) != min);
    let compare_at = p
        .variants
        .iter()
        .find(|v| Some(v.price) == min)
        .and_then(|v| v.compare_at_price)
        .filter(|c| min.is_some_and(|m| c.amount > m.amount));
    Card {
        title: p.title.clone(),
        url: format!("/products/{}", p.slug),
        price: min.map(format_money).unwrap_or_default(),
        compare_at: compare_at.map(format_money),
        image: p.images.first().cloned(),
        several_prices: several,
    }
}

fn cards_of(state: &HttpState, res: &SearchResult) -> Result<Vec<Card>, PageError> {
    let ids: Vec<ProductId> = res
        .data
        .iter()
        .filter_map(|h| ProductId::parse(&h.id).ok())
        .collect();
    Ok(state
        .catalog
        .sellable_products(&ids)?
        .iter()
        .map(card)
        .collect())
}

async fn home(req: HttpRequest, state: State, pages: PageState, v: Visitor) -> PageResult {
    let categories: Vec<Category> = state
        .catalog
        .categories()?
        .into_iter()
        .filter(|c| c.parent_id.is_none())
        .collect();
    let collections = state.catalog.collections()?;
    let featured = match collections
        .iter()
        .find(|c| c.slug == "featured")
        .or(collections.first())
    {
        Some(c) => {
            let (c, products) = state.catalog.get_collection(&c.id.to_string(), true)?;
            let cards: Vec<Card> = products.iter().take(8).map(card).collect();
            Some(context! { title => c.title, url => format!("/collections/{}", c.slug), cards })
        }
        None => None,
    };
    // Newest first is the catalog's own order of active products: no search needed.
    let newest: Vec<Card> = state
        .catalog
        .list_products(
            true,
            &crate::domain::catalog::ListFilter::default(),
            8,
            None,
        )?
        .data
        .iter()
        .map(card)
        .collect();
    // A signed-in customer sees what their history suggests.
    let customer = v
        .principal
        .as_ref()
        .and_then(|p| p.customer_id())
        .map(|c| c.to_string());
    let for_you = match customer {
        Some(c) => recommended_cards(
            &state,
            crate::domain::recommend::Strategy::ForYou,
            &crate::domain::recommend::Context {
                products: Vec::new(),
                customer: Some(c),
            },
            8,
        ),
        None => Vec::new(),
    };
    let ctx = context! {
        title => &pages.shop_name,
        canonical => pages.absolute(&req, "/"),
        categories, featured,
        collections => collections.iter().map(|c| context!{ title => c.title, url => format!("/collections/{}", c.slug)}).collect::<Vec<_>>(),
        newest, for_you,
    };
    pages.page("home.html", &v, ctx)
}

type PageResult = Result<HttpResponse, PageError>;

/// Cards of up to `n` recommended products. Recommendations are an extra on a page: when
/// they fail the page shows without them (and the failure is logged).
pub fn recommended_cards(
    state: &HttpState,
    strategy: crate::domain::recommend::Strategy,
    ctx: &crate::domain::recommend::Context,
    n: usize,
) -> Vec<Card> {
    match state
        .recommender
        .recommend_products(strategy, ctx, state.clock.now(), n)
    {
        Ok(ps) => ps.iter().map(|(p, _)| card(p)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, strategy = strategy.as_str(), "recommendations left out of a page");
            Vec::new()
        }
    }
}

/// The query pairs of a listing URL.
fn pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, PageError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|_| PageError::bad_request("the address's query could not be read"))
}

/// `path?pairs` with `key=value` toggled (facets) or replaced (`page`, `sort`), back to page 1.
fn link(
    path: &str,
    pairs: &[(String, String)],
    key: &str,
    value: Option<&str>,
    toggle: bool,
) -> String {
    let had = pairs
        .iter()
        .any(|(k, v)| k == key && Some(v.as_str()) == value);
    let mut out: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, v)| k != "page" && !(k == key && (!toggle || Some(v.as_str()) == value)))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(val) = value
        && !(toggle && had)
    {
        out.push((key, val));
    }
    let qs = serde_urlencoded::to_string(&out).unwrap_or_default();
    if qs.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{qs}")
    }
}

fn page_link(path: &str, pairs: &[(String, String)], page: usize) -> String {
    let mut out: Vec<(&str, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    if page > 1 {
        out.push(("page", page.to_string()));
    }
    let qs = serde_urlencoded::to_string(&out).unwrap_or_default();
    if qs.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{qs}")
    }
}

/// Facet groups as links that add or remove one filter each.
fn facets(
    path: &str,
    pairs: &[(String, String)],
    f: &Facets,
    categories: &[Category],
    show_categories: bool,
) -> Vec<Value> {
    let active = |k: &str, v: &str| pairs.iter().any(|(a, b)| a == k && b == v);
    let mut groups = Vec::new();
    if show_categories && !f.categories.is_empty() {
        let items: Vec<Value> = f
            .categories
            .iter()
            .filter_map(|c| {
                let name = categories.iter().find(|x| x.id.to_string() == c.value)?;
                Some(context! { label => name.name, count => c.count,
                href => link(path, pairs, "category", Some(&c.value), true),
                selected => active("category", &c.value) })
            })
            .collect();
        groups.push(context! { name => "Category", items });
    }
    for (opt, values) in &f.options {
        let key = format!("option.{opt}");
        let items: Vec<Value> = values
            .iter()
            .map(|x| {
                context! { label => x.value, count => x.count,
                href => link(path, pairs, &key, Some(&x.value), true),
                selected => active(&key, &x.value) }
            })
            .collect();
        groups.push(context! { name => opt, items });
    }
    if !f.tags.is_empty() {
        let items: Vec<Value> = f
            .tags
            .iter()
            .map(|x| {
                context! { label => x.value, count => x.count,
                href => link(path, pairs, "tag", Some(&x.value), true),
                selected => active("tag", &x.value) }
            })
            .collect();
        groups.push(context! { name => "Tag", items });
    }
    groups
}

/// Option filters (name, value) and tag filters.
type Filters = (Vec<(String, String)>, Vec<String>);

/// The option (`option.<name>`) and tag filters of a listing's address; at most 20 of them.
fn listing_filters(pairs: &[(String, String)]) -> Result<Filters, PageError> {
    let mut options = Vec::new();
    let mut tags = Vec::new();
    for (k, v) in pairs {
        if let Some(name) = k.strip_prefix("option.") {
            options.push((name.to_owned(), v.clone()));
        } else if k == "tag" {
            tags.push(v.clone());
        }
    }
    if options.len() + tags.len() > 20 {
        return Err(PageError::bad_request("at most 20 filters"));
    }
    Ok((options, tags))
}

/// One page of a search, with what a listing template shows.
async fn listing(
    state: &HttpState,
    req: &HttpRequest,
    path: &str,
    category: Option<CategoryId>,
    categories: &[Category],
) -> Result<(Value, SearchResult), PageError> {
    let pairs = pairs(req)?;
    if category.is_some() && pairs.iter().any(|(k, _)| k == "category") {
        return Err(PageError::bad_request(
            "a category page takes no `category` filter",
        ));
    }
    let mut q = parse_query(req.query_string())?;
    q.category = q.category.or(category);
    if !pairs.iter().any(|(k, _)| k == "per_page") {
        q.per_page = PER_PAGE;
    }
    let sort = q.sort;
    let res = state.search.search(q).await?;
    let pages_total = res.total.div_ceil(res.per_page as u64).max(1) as usize;
    let ctx = context! {
        cards => cards_of(state, &res)?,
        total => res.total,
        page => res.page,
        pages_total,
        prev => (res.page > 1).then(|| page_link(path, &pairs, res.page - 1)),
        next => (res.page < pages_total.min(1000)).then(|| page_link(path, &pairs, res.page + 1)),
        facets => facets(path, &pairs, &res.facets, categories, category.is_none()),
        sort => sort.as_str(),
        hidden => pairs.iter().filter(|(k, _)| k != "sort" && k != "page").map(|(k, v)| context!{name => k, value => v}).collect::<Vec<_>>(),
        clear => pairs.iter().any(|(k, _)| k.starts_with("option.") || k == "tag" || k == "category").then(|| path.to_owned()),
    };
    Ok((ctx, res))
}

async fn search(req: HttpRequest, state: State, pages: PageState, v: Visitor) -> PageResult {
    let all = state.catalog.categories()?;
    let (list, _) = listing(&state, &req, "/search", None, &all).await?;
    let q = pairs(&req)?
        .into_iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let title = if q.is_empty() {
        "Search".to_owned()
    } else {
        format!("Search: {q}")
    };
    let ctx = context! {
        title, q, list, noindex => true,
        canonical => pages.absolute(&req, "/search"),
        path => "/search",
    };
    pages.page("search.html", &v, ctx)
}

/// The trail from the top of the tree down to `leaf`.
fn trail(all: &[Category], leaf: CategoryId) -> Vec<Value> {
    let mut out = Vec::new();
    let mut at = Some(leaf);
    while let Some(id) = at {
        let Some(c) = all.iter().find(|c| c.id == id) else {
            break;
        };
        out.push(context! { name => c.name, url => format!("/categories/{}", c.slug) });
        at = c.parent_id;
        if out.len() > 32 {
            break;
        }
    }
    out.reverse();
    out
}

async fn category(
    req: HttpRequest,
    state: State,
    pages: PageState,
    v: Visitor,
    slug: web::Path<String>,
) -> PageResult {
    // One read of the (bounded) category list serves the lookup, the trail and the children.
    let all = state.catalog.categories()?;
    let c = all
        .iter()
        .find(|x| x.slug == *slug || x.id.to_string() == *slug)
        .cloned()
        .ok_or_else(|| PageError::not_found("no such category"))?;
    let path = format!("/categories/{}", c.slug);
    let (list, res) = listing(&state, &req, &path, Some(c.id), &all).await?;
    let children: Vec<Value> = all
        .iter()
        .filter(|x| x.parent_id == Some(c.id))
        .map(|x| context! { name => x.name, url => format!("/categories/{}", x.slug) })
        .collect();
    let canonical = pages.absolute(&req, &page_link(&path, &[], res.page));
    let crumbs = trail(&all, c.id);
    let ctx = context! {
        title => &c.name,
        description => format!("{} at {} — {} products.", c.name, pages.shop_name, res.total),
        canonical, list, children, path,
        crumbs => &crumbs,
        json_ld => breadcrumbs_ld(&pages, &req, &crumbs),
    };
    pages.page("category.html", &v, ctx)
}

async fn collection(
    req: HttpRequest,
    state: State,
    pages: PageState,
    v: Visitor,
    slug: web::Path<String>,
) -> PageResult {
    let (c, mut products) = state.catalog.get_collection(&slug, true)?;
    let pairs = pairs(&req)?;
    let get = |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, b)| b.as_str());
    let sort = match get("sort") {
        None | Some("manual") => "manual",
        Some("price_asc") => "price_asc",
        Some("price_desc") => "price_desc",
        Some(_) => {
            return Err(PageError::bad_request(
                "sort must be manual, price_asc or price_desc",
            ));
        }
    };
    let min_price = |p: &Product| p.variants.iter().map(|v| v.price.amount).min().unwrap_or(0);
    match sort {
        "price_asc" => products.sort_by_key(min_price),
        "price_desc" => products.sort_by_key(|p| std::cmp::Reverse(min_price(p))),
        _ => {}
    }
    let page: usize = match get("page") {
        None => 1,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| PageError::bad_request("page must be a positive number"))?,
    };
    let (options, tags) = listing_filters(&pairs)?;
    let (kept, found) = crate::domain::search::filter_listed(&products, &options, &tags);
    let path = format!("/collections/{}", c.slug);
    let pages_total = kept.len().div_ceil(PER_PAGE).max(1);
    let cards: Vec<Card> = kept
        .iter()
        .skip((page - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|p| card(p))
        .collect();
    let filtered = !options.is_empty() || !tags.is_empty();
    let ctx = context! {
        title => &c.title,
        description => if c.description.is_empty() { format!("{} at {}", c.title, pages.shop_name) } else { crate::domain::search::strip_html(&c.description) },
        canonical => pages.absolute(&req, &page_link(&path, &[], page)),
        intro => &c.description, path => &path,
        list => context! {
            cards, total => kept.len(), page, pages_total,
            prev => (page > 1).then(|| page_link(&path, &pairs, page - 1)),
            next => (page < pages_total).then(|| page_link(&path, &pairs, page + 1)),
            sort, sorts => ["manual", "price_asc", "price_desc"],
            facets => facets(&path, &pairs, &found, &[], false),
            clear => filtered.then(|| path.clone()),
            hidden => pairs.iter().filter(|(k, _)| k != "sort" && k != "page").map(|(k, v)| context!{name => k, value => v}).collect::<Vec<_>>(),
        },
    };
    pages.page("collection.html", &v, ctx)
}

fn breadcrumbs_ld(pages: &super::Pages, req: &HttpRequest, crumbs: &[Value]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = crumbs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let url = c.get_attr("url").ok().and_then(|u| u.as_str().map(str::to_owned)).unwrap_or_default();
            let name = c.get_attr("name").ok().and_then(|u| u.as_str().map(str::to_owned)).unwrap_or_default();
            json!({"@type": "ListItem", "position": i + 1, "name": name, "item": pages.absolute(req, &url)})
        })
        .collect();
    json!({"@context": "https://schema.org", "@type": "BreadcrumbList", "itemListElement": items})
}

/// The schema.org `Product` of a page, one `Offer` per variant.
fn product_ld(
    pages: &super::Pages,
    req: &HttpRequest,
    p: &Product,
    available: &[bool],
    url: &str,
) -> serde_json::Value {
    let offers: Vec<serde_json::Value> = p
        .variants
        .iter()
        .zip(available)
        .map(|(v, ok)| {
            json!({"@type": "Offer", "sku": v.sku, "price": decimal(v.price),
                "priceCurrency": v.price.currency.as_str(),
                "availability": if *ok { "https://schema.org/InStock" } else { "https://schema.org/OutOfStock" },
                "url": format!("{url}?variant={}", v.id)})
        })
        .collect();
    let images: Vec<String> = p
        .images
        .iter()
        .map(|i| {
            if i.url.starts_with('/') {
                pages.absolute(req, &i.url)
            } else {
                i.url.clone()
            }
        })
        .collect();
    json!({"@context": "https://schema.org", "@type": "Product", "name": p.title,
        "description": crate::domain::search::strip_html(&p.description),
        "image": images, "brand": p.vendor.as_ref().map(|b| json!({"@type": "Brand", "name": b})),
        "sku": p.variants.first().and_then(|v| v.sku.clone()), "offers": offers})
}

#[derive(serde::Deserialize)]
struct ProductQuery {
    variant: Option<String>,
}

async fn product(
    req: HttpRequest,
    state: State,
    pages: PageState,
    v: Visitor,
    slug: web::Path<String>,
    q: web::Query<ProductQuery>,
) -> PageResult {
    let p = state.catalog.get_product(&slug, true)?;
    if *slug != p.slug {
        return Ok(HttpResponse::PermanentRedirect()
            .insert_header(("Location", format!("/products/{}", p.slug)))
            .finish());
    }
    let available = state.inventory.variants_available(&p)?;
    let selected = q
        .variant
        .as_deref()
        .and_then(|id| p.variants.iter().position(|x| x.id.to_string() == id))
        .or_else(|| available.iter().position(|a| *a))
        .unwrap_or(0);
    let path = format!("/products/{}", p.slug);
    let url = pages.absolute(&req, &path);
    let all = state.catalog.categories()?;
    let crumbs = p
        .category_ids
        .first()
        .map(|c| trail(&all, *c))
        .unwrap_or_default();
    let variants: Vec<Value> = p
        .variants
        .iter()
        .zip(&available)
        .map(|(x, ok)| context! {
            id => x.id.to_string(),
            label => if x.option_values.is_empty() { "Default".to_owned() } else { x.option_values.join(" / ") },
            price => format_money(x.price),
            compare_at => x.compare_at_price.filter(|c| c.amount > x.price.amount).map(format_money),
            available => ok,
            image => x.image_url.clone().or_else(|| p.images.first().map(|i| i.url.clone())),
        })
        .collect();
    let ld = json!([
        product_ld(&pages, &req, &p, &available, &url),
        breadcrumbs_ld(&pages, &req, &crumbs)
    ]);
    let image = p
        .variants
        .get(selected)
        .and_then(|x| x.image_url.clone())
        .map(|u| crate::domain::catalog::Image {
            url: u,
            alt: p.title.clone(),
        })
        .or_else(|| p.images.first().cloned());
    let og_image = image.as_ref().map(|i| {
        if i.url.starts_with('/') {
            pages.absolute(&req, &i.url)
        } else {
            i.url.clone()
        }
    });
    let view = ProductView::from(p.clone());
    let here = crate::domain::recommend::Context {
        products: vec![p.id],
        customer: None,
    };
    let together = recommended_cards(
        &state,
        crate::domain::recommend::Strategy::BoughtTogether,
        &here,
        4,
    );
    let similar = recommended_cards(
        &state,
        crate::domain::recommend::Strategy::Similar,
        &here,
        4,
    );
    let ctx = context! {
        title => p.seo.title.clone().unwrap_or_else(|| p.title.clone()),
        description => p.seo.description.clone().unwrap_or_else(|| truncate(&crate::domain::search::strip_html(&p.description), 160)),
        canonical => url, og_type => "product", og_image,
        product => view, variants, selected, image,
        selected_variant => variants_get(&p, selected),
        crumbs, json_ld => ld, together, similar,
    };
    pages.page("product.html", &v, ctx)
}

fn variants_get(p: &Product, i: usize) -> Option<String> {
    p.variants.get(i).map(|x| x.id.to_string())
}

/// At most `n` characters, cut at a word with an ellipsis.
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let cut: String = s.chars().take(n - 1).collect();
    let cut = cut
        .rsplit_once(' ')
        .map_or(cut.as_str(), |(a, _)| a)
        .trim_end();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn facet_links_toggle_one_filter_and_go_back_to_page_one() {
        let now = p(&[("q", "mug"), ("option.Color", "Red"), ("page", "3")]);
        assert_eq!(
            link("/search", &now, "option.Color", Some("Red"), true),
            "/search?q=mug"
        );
        assert_eq!(
            link("/search", &now, "option.Color", Some("Blue"), true),
            "/search?q=mug&option.Color=Red&option.Color=Blue"
        );
        assert_eq!(
            link("/search", &now, "sort", Some("newest"), false),
            "/search?q=mug&option.Color=Red&sort=newest"
        );
        assert_eq!(
            page_link("/search", &now, 2),
            "/search?q=mug&option.Color=Red&page=2"
        );
        assert_eq!(page_link("/c", &[], 1), "/c");
    }

    #[test]
    fn truncation_cuts_at_a_word() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("one two three four", 10), "one two…");
    }
}
