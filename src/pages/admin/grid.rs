//! Bulk price and stock editing: a grid of a page of products' variants; changed cells are
//! previewed (old → new) before anything is written, and applying writes each product through
//! the catalog's own update (with the version seen at preview, so a product changed meanwhile
//! is refused) and each stock count through inventory's own set.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{Staff, page, page_with_status};
use crate::core::money::parse_amount;
use crate::core::{Money, ProductId, VariantId};
use crate::domain::catalog::{ListFilter, PriceEdit};
use crate::domain::inventory::MovementKind;
use crate::http::{ApiError, HttpState};
use crate::pages::filters::format_money;
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/products/grid")
            .route(web::get().to(grid))
            .route(web::post().to(submit)),
    );
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

/// Products per grid page.
const PER_PAGE: usize = 25;

#[derive(Deserialize, Default)]
struct GridQuery {
    cursor: Option<String>,
    done: Option<String>,
}

async fn grid(state: State, pages: PageState, s: Staff, q: web::Query<GridQuery>) -> PageResult {
    let page_of = state.catalog.list_products(
        false,
        &ListFilter::default(),
        PER_PAGE,
        q.cursor.as_deref(),
    )?;
    let mut rows = Vec::new();
    for p in &page_of.data {
        for (v, stock) in p.variants.iter().zip(state.inventory.stock_of(p)?) {
            rows.push(context! {
                product_id => p.id.to_string(), title => p.title, version => p.version,
                id => v.id.to_string(), label => v.option_values.join(" / "), sku => v.sku,
                price => crate::pages::filters::decimal(v.price), on_hand => stock.on_hand, tracked => v.track_inventory,
            });
        }
    }
    let ctx = context! {
        title => "Prices and stock", rows,
        next => page_of.next_cursor.filter(|_| page_of.has_more),
        notice => q.done.as_deref().map(|n| format!("{n} change(s) applied.")),
    };
    page(&pages, &s, "grid.html", "products", ctx)
}

/// One changed cell.
#[derive(Clone, Debug)]
struct Change {
    product: ProductId,
    version: u64,
    variant: VariantId,
    what: Cell,
}

#[derive(Clone, Copy, Debug)]
enum Cell {
    Price { from: Money, to: Money },
    Stock { from: i64, to: i64 },
}

/// The cells whose value differs from the value shown (`was_…`), read and checked.
fn changes(
    f: &[(String, String)],
    currency: crate::core::Currency,
) -> Result<Vec<Change>, Vec<(String, String)>> {
    let get = |k: &str| super::field(f, k).map(str::trim);
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (k, _) in f.iter().filter(|(k, _)| k.starts_with("row:")) {
        let Some((pid, vid)) = k.trim_start_matches("row:").split_once('/') else {
            continue;
        };
        let (Ok(product), Ok(variant)) = (ProductId::parse(pid), VariantId::parse(vid)) else {
            continue;
        };
        let version = get(&format!("version:{pid}"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let cell = |name: &str| {
            (
                get(&format!("{name}:{vid}")),
                get(&format!("was_{name}:{vid}")),
            )
        };
        if let (Some(now), Some(was)) = cell("price")
            && now != was
        {
            match (parse_amount(now, currency), parse_amount(was, currency)) {
                (Some(to), Some(from)) if to >= 0 => out.push(Change {
                    product,
                    version,
                    variant,
                    what: Cell::Price {
                        from: Money::new(from, currency),
                        to: Money::new(to, currency),
                    },
                }),
                _ => errors.push((format!("price:{vid}"), format!("{now} is not a price"))),
            }
        }
        if let (Some(now), Some(was)) = cell("on_hand")
            && now != was
        {
            match (now.parse::<i64>(), was.parse::<i64>()) {
                (Ok(to), Ok(from)) if (0..=1_000_000_000).contains(&to) => out.push(Change {
                    product,
                    version,
                    variant,
                    what: Cell::Stock { from, to },
                }),
                _ => errors.push((
                    format!("on_hand:{vid}"),
                    format!("{now} is not a number of units"),
                )),
            }
        }
    }
    if out.len() > 2_500 {
        errors.push(("form".into(), "at most 2,500 changes at once".into()));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

async fn submit(
    state: State,
    pages: PageState,
    s: Staff,
    form: Posted<Vec<(String, String)>>,
) -> PageResult {
    let f = form.0;
    let currency = state.carts.settings().currency;
    let list = match changes(&f, currency) {
        Ok(c) => c,
        Err(errors) => {
            let ctx = context! { title => "Prices and stock", rows => Vec::<Value>::new(), errors => errors.into_iter().collect::<BTreeMap<_, _>>() };
            return page_with_status(&pages, &s, "grid.html", "products", ctx, 422);
        }
    };
    let apply = f.iter().any(|(k, v)| k == "confirm" && v == "yes");
    if !apply {
        return preview(&state, &pages, &s, &f, &list);
    }
    let n = list.len();
    write(&state, &s, list).await?;
    Ok(see_other(&s.v, &format!("/admin/products/grid?done={n}")))
}

/// The changes as a table, and the same form again with `confirm=yes`.
fn preview(
    state: &HttpState,
    pages: &crate::pages::Pages,
    s: &Staff,
    f: &[(String, String)],
    list: &[Change],
) -> PageResult {
    let mut rows = Vec::new();
    let mut titles: BTreeMap<ProductId, String> = BTreeMap::new();
    for c in list {
        // One read per product, however many of its cells changed.
        let title = titles
            .entry(c.product)
            .or_insert_with(|| {
                state
                    .catalog
                    .get_product(&c.product.to_string(), false)
                    .map(|p| p.title)
                    .unwrap_or_default()
            })
            .clone();
        let (what, from, to) = match c.what {
            Cell::Price { from, to } => ("price", format_money(from), format_money(to)),
            Cell::Stock { from, to } => ("on hand", from.to_string(), to.to_string()),
        };
        rows.push(context! { title, variant => c.variant.to_string(), what, from, to });
    }
    let fields: Vec<Value> = f
        .iter()
        .filter(|(k, _)| k != "_csrf" && k != "confirm")
        .map(|(k, v)| context! { name => k, value => v })
        .collect();
    page(
        pages,
        s,
        "grid_preview.html",
        "products",
        context! { title => "Check the changes", rows, fields },
    )
}

/// Applies the price changes in one transaction (every product at the version seen at preview,
/// or none changes), then the stock counts.
async fn write(state: &HttpState, s: &Staff, list: Vec<Change>) -> Result<(), PageError> {
    let mut by_product: BTreeMap<ProductId, PriceEdit> = BTreeMap::new();
    let mut stock = Vec::new();
    for c in list {
        match c.what {
            Cell::Price { to, .. } => by_product
                .entry(c.product)
                .or_insert(PriceEdit {
                    product: c.product,
                    version: c.version,
                    prices: Vec::new(),
                })
                .prices
                .push((c.variant, to)),
            Cell::Stock { to, .. } => stock.push((c.variant, to)),
        }
    }
    if !by_product.is_empty() {
        state.catalog.set_prices(by_product.into_values().collect()).await.map_err(|e| {
            let e = ApiError::from(e);
            PageError(if e.status().as_u16() == 412 {
                ApiError::new(e.code, "a product changed since the preview, so nothing was applied; open the grid again")
            } else {
                e
            })
        })?;
    }
    if !stock.is_empty() {
        state
            .inventory
            .set_many(stock, MovementKind::Set, "bulk edit", &s.actor(), true)
            .await?;
    }
    Ok(())
}
