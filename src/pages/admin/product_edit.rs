//! The admin's product edit form: text, status, SEO, images, options, and the variants (add,
//! remove, option values, SKU, price, compare-at price, stock). An edit starts from the stored
//! product ([`ProductInput::of`]) and sends it back with the product's version, so a
//! concurrent change is refused rather than overwritten; the catalog's own validation judges
//! options and variants, as it does for the API.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::{Staff, field, page_with_status, problems, product_variants};
use crate::core::money::parse_amount;
use crate::core::{Money, VariantId};
use crate::domain::catalog::{ProductInput, ProductView, VariantInput};
use crate::domain::inventory::Policy;
use crate::http::{ApiError, HttpState};
use crate::pages::filters::decimal;
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/products/{id}")
            .route(web::get().to(edit_form))
            .route(web::post().to(save)),
    );
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

#[derive(Deserialize, Default)]
struct EditQuery {
    done: Option<String>,
}

/// The form's values: the stored product's, then what was posted over them (so a refused
/// save shows what was typed, next to its errors).
fn form_values(
    p: &crate::domain::catalog::Product,
    stock: &[crate::domain::inventory::StockView],
    posted: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: String, v: String| {
        m.insert(k, v);
    };
    put("title".into(), p.title.clone());
    put("slug".into(), p.slug.clone());
    put("description".into(), p.description.clone());
    put("vendor".into(), p.vendor.clone().unwrap_or_default());
    put("tags".into(), p.tags.join(", "));
    put("status".into(), p.status.as_str().to_owned());
    put("seo_title".into(), p.seo.title.clone().unwrap_or_default());
    put(
        "seo_description".into(),
        p.seo.description.clone().unwrap_or_default(),
    );
    let images = p.images.iter().map(|i| {
        if i.alt.is_empty() {
            i.url.clone()
        } else {
            format!("{} | {}", i.url, i.alt)
        }
    });
    put("images".into(), images.collect::<Vec<_>>().join("\n"));
    for (j, o) in p.options.iter().enumerate() {
        put(format!("option_name:{j}"), o.name.clone());
        put(format!("option_values:{j}"), o.values.join(", "));
    }
    for (v, level) in p.variants.iter().zip(stock) {
        let id = v.id;
        put(format!("sku:{id}"), v.sku.clone().unwrap_or_default());
        put(format!("price:{id}"), decimal(v.price));
        put(
            format!("compare_at:{id}"),
            v.compare_at_price.map(decimal).unwrap_or_default(),
        );
        put(format!("on_hand:{id}"), level.on_hand.to_string());
        for (j, val) in v.option_values.iter().enumerate() {
            put(format!("opt{j}:{id}"), val.clone());
        }
    }
    super::overlay(m, posted)
}

/// How the form is shown: over what was posted, with its problems and a notice, at a status.
struct Shown<'a> {
    posted: &'a [(String, String)],
    errors: FormErrors,
    notice: Option<&'a str>,
    status: u16,
}

impl<'a> Shown<'a> {
    fn fresh(notice: Option<&'a str>, status: u16) -> Self {
        Shown {
            posted: &[],
            errors: Vec::new(),
            notice,
            status,
        }
    }
}

async fn edit_page(
    state: &HttpState,
    pages: &crate::pages::Pages,
    s: &Staff,
    id: &str,
    shown: Shown<'_>,
) -> PageResult {
    let Shown {
        posted,
        errors,
        notice,
        status,
    } = shown;
    let p = state.catalog.get_product(id, false)?;
    let stock = state.inventory.stock_of(&p)?;
    let variants: Vec<_> = p.variants.iter().zip(&stock).map(|(v, level)| context! {
        id => v.id.to_string(), label => if v.option_values.is_empty() { "Default".to_owned() } else { v.option_values.join(" / ") },
        available => level.available, tracked => v.track_inventory,
    }).collect();
    let options: Vec<_> = p
        .options
        .iter()
        .map(|o| (o.name.clone(), o.values.clone()))
        .collect();
    let ctx = context! {
        title => format!("Edit {}", p.title),
        product => ProductView::staff(p.clone()), variants, notice,
        values => form_values(&p, &stock, posted),
        option_rows => product_variants::option_rows(&options),
        option_names => options.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        errors => errors.into_iter().collect::<BTreeMap<_, _>>(),
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
    edit_page(&state, &pages, &s, &id, Shown::fresh(notice, 200)).await
}

/// Problems of a form as (field, message).
type FormErrors = Vec<(String, String)>;
/// A product input with the form's changes, and the stock counts the form set.
struct Edited {
    input: ProductInput,
    /// Units on hand set for existing variants.
    stock: Vec<(VariantId, i64)>,
    /// Whether a variant is added, and its units on hand if given.
    added: Option<Option<i64>>,
}

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
    product_variants::apply_options(&mut input, f);
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
    let added = product_variants::new_variant(f, input.options.len(), currency, &mut errors).map(
        |(v, n)| {
            input.variants.push(v);
            n
        },
    );
    if errors.is_empty() {
        Ok(Edited {
            input,
            stock,
            added,
        })
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
        match parse_amount(p, currency) {
            Some(a) if a >= 0 => v.price = Money::new(a, currency),
            _ => errors.push((format!("price:{id}"), "enter a price such as 19.99".into())),
        }
    }
    if let Some(p) = get("compare_at") {
        if p.is_empty() {
            v.compare_at_price = None;
        } else {
            match parse_amount(p, currency) {
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
    let Edited {
        input,
        stock,
        added,
    } = match apply(ProductInput::of(&p), &f, state.carts.settings().currency) {
        Ok(x) => x,
        Err(errors) => {
            let shown = Shown {
                posted: &f,
                errors,
                notice: None,
                status: 422,
            };
            return edit_page(&state, &pages, &s, &id, shown).await;
        }
    };
    let saved = match state.catalog.update_product(p.id, input, version).await {
        Ok(saved) => saved,
        Err(e) => {
            let e = ApiError::from(e);
            let status = e.status().as_u16();
            if status == 412 {
                let notice = "Someone saved this product after you opened it: this is the current version. Make your change again.";
                let shown = Shown::fresh(Some(notice), status);
                return edit_page(&state, &pages, &s, &id, shown).await;
            }
            let shown = Shown {
                posted: &f,
                errors: problems(e),
                notice: None,
                status,
            };
            return edit_page(&state, &pages, &s, &id, shown).await;
        }
    };
    if let Some(n) = added.flatten()
        && let Some(v) = saved
            .variants
            .iter()
            .find(|v| !p.variants.iter().any(|o| o.id == v.id))
    {
        state
            .inventory
            .set(v.id, n, Policy::default(), "new variant".into(), s.actor())
            .await?;
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
