//! The cart page and its forms: add, change quantity, remove, discount codes, gift cards, and a
//! shipping estimate for an address. Each form posts, the cart changes through the same domain
//! call as the API's, and the visitor is sent back to the cart (303); a refused code or card is
//! shown next to its field.

use actix_web::{HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

use super::session::Posted;
use super::{PageError, PageState, Visitor, see_other};
use crate::domain::cart::{CartError, CartView};
use crate::domain::pricing::Destination;
use crate::http::HttpState;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/cart", web::get().to(show))
        .route("/cart/items", web::post().to(add))
        .route("/cart/lines/{id}", web::post().to(update))
        .route("/cart/lines/{id}/remove", web::post().to(remove))
        .route("/cart/discounts", web::post().to(add_code))
        .route("/cart/discounts/remove", web::post().to(remove_code))
        .route("/cart/gift-cards", web::post().to(add_gift_card))
        .route(
            "/cart/gift-cards/{id}/remove",
            web::post().to(remove_gift_card),
        );
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

#[derive(Deserialize, Default)]
struct Estimate {
    #[serde(default)]
    country: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    postal_code: String,
}

/// The cart page, with `error` (field, message) shown next to its form.
async fn render(
    state: &HttpState,
    pages: &super::Pages,
    v: &Visitor,
    est: &Estimate,
    error: Option<(&str, String)>,
) -> PageResult {
    let cart = if v.has_cart() {
        match state.carts.get(v.cart_owner()).await {
            Ok(c) => Some(c),
            Err(CartError::NotFound(_) | CartError::NoCart) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let shipping: Option<Vec<Value>> = match (&cart, est.country.trim()) {
        (Some(c), country) if !country.is_empty() && !c.lines.is_empty() => {
            let dest = Destination::new(country, est.region.trim(), est.postal_code.trim());
            let offers = state.carts.shipping_methods(v.cart_owner(), dest)?;
            Some(
                offers
                    .into_iter()
                    .map(|o| context! { name => o.name, price => o.price, pickup => o.pickup })
                    .collect(),
            )
        }
        _ => None,
    };
    let failed = error.is_some();
    let together = match &cart {
        Some(c) if !c.lines.is_empty() => super::shop::recommended_cards(
            state,
            crate::domain::recommend::Strategy::BoughtTogether,
            &crate::domain::recommend::Context {
                products: c.lines.iter().map(|l| l.product_id).collect(),
                customer: None,
            },
            4,
        ),
        _ => Vec::new(),
    };
    let ctx = context! {
        title => "Your cart", noindex => true,
        cart, shipping, together,
        estimate => context! { country => est.country, region => est.region, postal_code => est.postal_code },
        error => error.map(|(field, message)| context! { field, message }),
    };
    let html = pages.render("cart.html", v, ctx)?;
    let mut r = if failed {
        HttpResponse::UnprocessableEntity()
    } else {
        HttpResponse::Ok()
    };
    v.set_cookies(&mut r);
    Ok(super::html_response(r, html))
}

async fn show(state: State, pages: PageState, v: Visitor, est: web::Query<Estimate>) -> PageResult {
    render(&state, &pages, &v, &est, None).await
}

#[derive(Deserialize)]
struct AddForm {
    variant_id: String,
    #[serde(default = "one")]
    quantity: String,
}

fn one() -> String {
    "1".into()
}

fn quantity(s: &str) -> Result<i64, PageError> {
    s.trim()
        .parse::<i64>()
        .ok()
        .filter(|q| (0..=10_000).contains(q))
        .ok_or_else(|| {
            PageError(crate::http::ApiError::validation(
                "quantity",
                "invalid",
                "enter a whole number of items",
            ))
        })
}

/// Makes sure the visitor has a cart to add to: a new anonymous one when they have none.
async fn ensure_cart(state: &HttpState, v: &mut Visitor) -> Result<(), PageError> {
    if v.has_cart() {
        return Ok(());
    }
    let (_, token) = state.carts.create().await?;
    let age = i64::try_from(state.carts.settings().idle.as_secs()).unwrap_or(i64::MAX);
    v.set_cart(token, age);
    Ok(())
}

async fn add(state: State, mut v: Visitor, form: Posted<AddForm>) -> PageResult {
    let f = form.0;
    let qty = quantity(&f.quantity)?.max(1);
    ensure_cart(&state, &mut v).await?;
    let r = state.carts.add(v.cart_owner(), &f.variant_id, qty).await;
    let r = match r {
        // A cart cookie that outlived its cart: start a new one and add again.
        Err(CartError::NotFound(_)) if v.principal.is_none() => {
            let (_, token) = state.carts.create().await?;
            let age = i64::try_from(state.carts.settings().idle.as_secs()).unwrap_or(i64::MAX);
            v.set_cart(token, age);
            state.carts.add(v.cart_owner(), &f.variant_id, qty).await
        }
        r => r,
    };
    match r {
        Ok(_) => Ok(see_other(&v, "/cart")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct QuantityForm {
    quantity: String,
}

async fn update(
    state: State,
    pages: PageState,
    v: Visitor,
    line: web::Path<String>,
    form: Posted<QuantityForm>,
) -> PageResult {
    let qty = match quantity(&form.0.quantity) {
        Ok(q) => q,
        Err(e) => {
            return render(
                &state,
                &pages,
                &v,
                &Estimate::default(),
                Some(("quantity", e.0.detail)),
            )
            .await;
        }
    };
    let r = if qty == 0 {
        state.carts.remove(v.cart_owner(), &line).await
    } else {
        state.carts.update(v.cart_owner(), &line, qty).await
    };
    match r {
        Ok(_) => Ok(see_other(&v, "/cart")),
        Err(e @ CartError::OutOfStock { .. }) => {
            let msg = e.to_string();
            render(
                &state,
                &pages,
                &v,
                &Estimate::default(),
                Some(("quantity", msg)),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn remove(
    state: State,
    v: Visitor,
    line: web::Path<String>,
    _form: Posted<Empty>,
) -> PageResult {
    state.carts.remove(v.cart_owner(), &line).await?;
    Ok(see_other(&v, "/cart"))
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

/// Refusals a shopper can act on are shown at the form; anything else is an error page.
fn shown_at_form(e: &CartError) -> bool {
    matches!(
        e,
        CartError::CodeRefused { .. } | CartError::GiftCard(_) | CartError::Invalid(_)
    )
}

/// The cart after a code or card was tried: back to the cart, or the cart with the refusal at
/// the form's `field`.
async fn after_tender(
    state: &HttpState,
    pages: &super::Pages,
    v: &Visitor,
    field: &str,
    r: Result<CartView, CartError>,
) -> PageResult {
    match r {
        Ok(_) => Ok(see_other(v, "/cart")),
        Err(e) if shown_at_form(&e) => {
            let msg = crate::http::ApiError::from(e).detail;
            render(state, pages, v, &Estimate::default(), Some((field, msg))).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn add_code(
    state: State,
    pages: PageState,
    v: Visitor,
    form: Posted<CodeForm>,
) -> PageResult {
    if !v.has_cart() {
        return Ok(see_other(&v, "/cart"));
    }
    let r = state
        .carts
        .add_code(v.cart_owner(), form.0.code.trim())
        .await;
    after_tender(&state, &pages, &v, "code", r).await
}

async fn remove_code(state: State, v: Visitor, form: Posted<CodeForm>) -> PageResult {
    state
        .carts
        .remove_code(v.cart_owner(), form.0.code.trim())
        .await?;
    Ok(see_other(&v, "/cart"))
}

async fn add_gift_card(
    state: State,
    pages: PageState,
    v: Visitor,
    form: Posted<CodeForm>,
) -> PageResult {
    if !v.has_cart() {
        return Ok(see_other(&v, "/cart"));
    }
    let r = state
        .carts
        .add_gift_card(v.cart_owner(), form.0.code.trim())
        .await;
    after_tender(&state, &pages, &v, "gift_card", r).await
}

async fn remove_gift_card(
    state: State,
    v: Visitor,
    id: web::Path<String>,
    _form: Posted<Empty>,
) -> PageResult {
    state.carts.remove_gift_card(v.cart_owner(), &id).await?;
    Ok(see_other(&v, "/cart"))
}
