//! Checkout, payment and the order page. Checkout is one form (contact, address, shipping
//! method) posted with an idempotency key minted when the form was shown, so a double submit
//! places one order. Payment with the `test` provider is a card form posted to the same
//! confirmation the API uses; a declined card is shown at the form and may be retried. The
//! order page is the confirmation, and later shows fulfilment and tracking.

use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

use super::session::Posted;
use super::{PageError, PageState, Pages, Visitor, see_other};
use crate::domain::checkout::{AddressInput, CheckoutError, CheckoutInput};
use crate::domain::experiments::Subject;
use crate::domain::orders::{OrderView, Viewer};
use crate::domain::payments::{CardInput, PaymentError, PaymentView};
use crate::domain::pricing::Destination;
use crate::gateway::PaymentStatus;
use crate::http::{ApiError, HttpState};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/checkout")
            .route(web::get().to(show))
            .route(web::post().to(place)),
    )
    .service(
        web::resource("/orders/{id}/pay")
            .route(web::get().to(pay_page))
            .route(web::post().to(pay)),
    )
    .route("/orders/{id}/authenticate", web::post().to(authenticate))
    .route("/orders/{id}", web::get().to(order_page))
    .route("/orders/{id}/invoice", web::get().to(invoice));
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

/// The checkout form as typed (every field a string, so a bad one is shown, not refused).
#[derive(Deserialize, Default, serde::Serialize)]
struct CheckoutForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    shipping_method: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    save_address: Option<String>,
}

async fn render(
    state: &HttpState,
    pages: &Pages,
    v: &Visitor,
    mut form: CheckoutForm,
    errors: Vec<(String, String)>,
    notice: Option<String>,
) -> PageResult {
    let cart = match state.carts.get(v.cart_owner()).await {
        Ok(c) if !c.lines.is_empty() => c,
        Ok(_) | Err(_) => return Ok(see_other(v, "/cart")),
    };
    if form.email.is_empty()
        && let Some(p) = &v.principal
        && let Ok(me) = state.auth.me(p)
    {
        form.email = me.email;
        if form.name.is_empty() {
            form.name = me.name;
        }
    }
    if form.key.is_empty() {
        form.key = crate::domain::auth::secret::new_token("");
    }
    let methods: Vec<Value> = if form.country.trim().is_empty() {
        Vec::new()
    } else {
        let dest = Destination::new(
            form.country.trim(),
            form.region.trim(),
            form.postal_code.trim(),
        );
        let offers = state.carts.shipping_methods(v.cart_owner(), dest)?;
        let chosen = offers
            .iter()
            .find(|o| o.code == form.shipping_method)
            .or_else(|| offers.iter().find(|o| o.code == "standard"))
            .or(offers.first())
            .map(|o| o.code.clone());
        offers
            .into_iter()
            .map(|o| context! { checked => Some(&o.code) == chosen.as_ref(), code => o.code, name => o.name, price => o.price, pickup => o.pickup })
            .collect()
    };
    let status = if errors.is_empty() && notice.is_none() {
        200
    } else {
        422
    };
    let ctx = context! {
        title => "Checkout", noindex => true, signed_in => v.principal.is_some(),
        cart, form, methods, notice,
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    let html = pages.render("checkout.html", v, ctx)?;
    let mut r =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    v.set_cookies(&mut r);
    Ok(super::html_response(r, html))
}

async fn show(state: State, pages: PageState, v: Visitor) -> PageResult {
    if !v.has_cart() {
        return Ok(see_other(&v, "/cart"));
    }
    let mut form = CheckoutForm::default();
    if let Some(p) = &v.principal
        && let Some(a) = state.auth.default_address(p)?
    {
        form.name = a.name;
        form.line1 = a.line1;
        form.line2 = a.line2;
        form.city = a.city;
        form.region = a.region;
        form.postal_code = a.postal_code;
        form.country = a.country;
    }
    render(&state, &pages, &v, form, Vec::new(), None).await
}

fn input_of(f: &CheckoutForm) -> CheckoutInput {
    CheckoutInput {
        email: f.email.trim().to_owned(),
        shipping_address: Some(AddressInput {
            name: f.name.trim().to_owned(),
            line1: f.line1.trim().to_owned(),
            line2: f.line2.trim().to_owned(),
            city: f.city.trim().to_owned(),
            region: f.region.trim().to_owned(),
            postal_code: f.postal_code.trim().to_owned(),
            country: f.country.trim().to_uppercase(),
        }),
        billing_address: None,
        shipping_method: Some(f.shipping_method.trim().to_owned()).filter(|m| !m.is_empty()),
    }
}

/// Field problems named as the form names its fields.
fn field_errors(e: &ApiError) -> Vec<(String, String)> {
    e.errors
        .iter()
        .map(|f| {
            let name = f.field.rsplit('.').next().unwrap_or(&f.field).to_owned();
            (name, f.message.clone())
        })
        .collect()
}

async fn place(
    req: HttpRequest,
    state: State,
    pages: PageState,
    mut v: Visitor,
    form: Posted<CheckoutForm>,
) -> PageResult {
    let f = form.0;
    if f.action == "update" {
        return render(&state, &pages, &v, f, Vec::new(), None).await;
    }
    let key = f.key.clone();
    let visitor = crate::http::experiments::visitor_id(&req);
    // The reservation experiment's arm for a customer, or a visitor known by its cookie.
    let subject = match (v.principal.as_ref().and_then(|p| p.customer_id()), &visitor) {
        (Some(c), _) => Some(Subject::Customer(c)),
        (None, Some(id)) => Some(Subject::Visitor(id.clone())),
        (None, None) => None,
    };
    let arm = match subject {
        Some(s) => crate::http::orders::reservation_arm_of(&state, s)?,
        None => None,
    };
    let r = state
        .checkout
        .checkout(
            v.cart_owner(),
            Some(&key),
            input_of(&f),
            crate::domain::checkout::PlaceOptions {
                strategy: arm.as_ref().map(|a| a.0),
                visitor,
            },
        )
        .await;
    if let (Some((_, subject)), Ok(resp)) = (&arm, &r)
        && !resp.replayed
    {
        crate::http::orders::order_placed(&state, subject.clone());
    }
    let placed = match r {
        Ok(resp) => resp.outcome,
        Err(
            e @ (CheckoutError::Cart(_)
            | CheckoutError::OutOfStock { .. }
            | CheckoutError::PriceChanged(_)
            | CheckoutError::PromotionUnavailable(_)
            | CheckoutError::GiftCardBalanceChanged(_)),
        ) => {
            let msg = ApiError::from(e).detail;
            let mut f = f;
            f.key = String::new();
            return render(
                &state,
                &pages,
                &v,
                f,
                Vec::new(),
                Some(format!(
                    "Your cart changed: {msg}. Please check it and place the order again."
                )),
            )
            .await;
        }
        Err(e) => {
            let api = ApiError::from(e);
            if api.errors.is_empty() {
                return Err(PageError(api));
            }
            return render(&state, &pages, &v, f, field_errors(&api), None).await;
        }
    };
    if f.save_address.is_some()
        && let (Some(p), Some(a)) = (&v.principal, input_of(&f).shipping_address)
        && let Err(e) = state.auth.add_address(p, &a, false).await
    {
        // The order is placed either way; a full book only means the address is not kept.
        tracing::info!(error = %e, "the checkout's address was not saved to the account");
    }
    let id = placed.order.id.to_string();
    v.remember_order(&id, &placed.order_token);
    let to = match &placed.payment {
        Some(p) if needs_paying(p.status) => format!("/orders/{id}/pay"),
        _ => format!("/orders/{id}"),
    };
    Ok(see_other(&v, &to))
}

fn needs_paying(s: PaymentStatus) -> bool {
    matches!(
        s,
        PaymentStatus::RequiresPaymentMethod | PaymentStatus::RequiresAction
    )
}

/// The order and its open payment, for whoever may see them.
fn order_and_payment(
    state: &HttpState,
    v: &Visitor,
    id: &str,
) -> Result<(Viewer, OrderView, Option<PaymentView>), PageError> {
    let who = viewer(state, v, id)?;
    let order = state.orders.get(id, &who)?;
    let payment = state.payments.for_order(id, &who)?.into_iter().last();
    Ok((who, order, payment))
}

async fn render_pay(
    pages: &Pages,
    v: &Visitor,
    order: OrderView,
    payment: PaymentView,
    error: Option<String>,
    status: u16,
) -> PageResult {
    // Stripe's Payment Element: Stripe's script, on this page only, with the policy widened
    // for it and nothing else.
    let element = payment.provider == "stripe"
        && payment.redirect_url.is_none()
        && payment.client_secret.is_some()
        && pages.stripe_key.is_some();
    let ctx = context! {
        title => "Payment", noindex => true,
        action_required => payment.status == PaymentStatus::RequiresAction,
        stripe_key => element.then_some(pages.stripe_key.as_deref()).flatten(),
        return_url => format!("{}/orders/{}", pages.public_url, order.id),
        order, payment, error,
    };
    let html = pages.render("pay.html", v, ctx)?;
    let mut r =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    v.set_cookies(&mut r);
    let mut resp = super::html_response(r, html);
    if element {
        resp.headers_mut().insert(
            actix_web::http::header::CONTENT_SECURITY_POLICY,
            actix_web::http::header::HeaderValue::from_static(super::CSP_STRIPE),
        );
    }
    Ok(resp)
}

async fn pay_page(state: State, pages: PageState, v: Visitor, id: web::Path<String>) -> PageResult {
    let (_, order, payment) = order_and_payment(&state, &v, &id)?;
    match payment {
        Some(p) if needs_paying(p.status) => render_pay(&pages, &v, order, p, None, 200).await,
        _ => Ok(see_other(&v, &format!("/orders/{id}"))),
    }
}

#[derive(Deserialize)]
struct CardForm {
    #[serde(default)]
    card_number: String,
    #[serde(default)]
    expiry: String,
    #[serde(default)]
    cvc: String,
}

/// `MM/YY` or `MM/YYYY`.
fn expiry(s: &str) -> Option<(u32, u32)> {
    let (m, y) = s.trim().split_once('/')?;
    Some((m.trim().parse().ok()?, y.trim().parse().ok()?))
}

async fn pay(
    state: State,
    pages: PageState,
    v: Visitor,
    id: web::Path<String>,
    form: Posted<CardForm>,
) -> PageResult {
    let (who, order, payment) = order_and_payment(&state, &v, &id)?;
    let Some(payment) = payment.filter(|p| needs_paying(p.status)) else {
        return Ok(see_other(&v, &format!("/orders/{id}")));
    };
    let f = form.0;
    let Some((exp_month, exp_year)) = expiry(&f.expiry) else {
        return render_pay(
            &pages,
            &v,
            order,
            payment,
            Some("Enter the expiry date as MM/YY.".into()),
            422,
        )
        .await;
    };
    let card = CardInput {
        card_number: f.card_number,
        exp_month,
        exp_year,
        cvc: f.cvc,
    };
    match state
        .payments
        .confirm(&payment.id.to_string(), &who, &card)
        .await
    {
        Ok(p) if p.status == PaymentStatus::RequiresAction => {
            render_pay(&pages, &v, order, p, None, 200).await
        }
        Ok(_) => Ok(see_other(&v, &format!("/orders/{id}"))),
        Err(e) => declined(&state, &pages, &v, &who, &id, e).await,
    }
}

/// A refused card (or bad card details) shown on the payment page, which may be tried again.
async fn declined(
    state: &HttpState,
    pages: &Pages,
    v: &Visitor,
    who: &Viewer,
    id: &str,
    e: PaymentError,
) -> PageResult {
    let api = ApiError::from(e);
    if !matches!(api.status().as_u16(), 402 | 422) {
        return Err(PageError(api));
    }
    let order = state.orders.get(id, who)?;
    let payment = state
        .payments
        .for_order(id, who)?
        .into_iter()
        .last()
        .ok_or_else(PageError::internal)?;
    let status = api.status().as_u16();
    let msg = match api.decline_code.as_deref() {
        Some(code) => format!(
            "Your card was declined ({}). Try another card.",
            code.replace('_', " ")
        ),
        None => api.detail,
    };
    render_pay(pages, v, order, payment, Some(msg), status).await
}

#[derive(Deserialize)]
struct AuthForm {
    outcome: String,
}

async fn authenticate(
    state: State,
    pages: PageState,
    v: Visitor,
    id: web::Path<String>,
    form: Posted<AuthForm>,
) -> PageResult {
    let (who, _, payment) = order_and_payment(&state, &v, &id)?;
    let payment = payment.ok_or_else(|| PageError::not_found("no payment to authenticate"))?;
    let approve = form.0.outcome == "approve";
    match state
        .payments
        .authenticate(&payment.id.to_string(), &who, approve)
        .await
    {
        Ok(_) => Ok(see_other(&v, &format!("/orders/{id}"))),
        Err(e) => declined(&state, &pages, &v, &who, &id, e).await,
    }
}

/// Who the visitor is for order `id`: its customer, staff, or the holder of its order token
/// or of its mail's link (kept in the order cookie).
fn viewer(state: &HttpState, v: &Visitor, id: &str) -> Result<Viewer, PageError> {
    match v.order_viewer(id) {
        Some(Viewer::Token(t)) if t.starts_with(crate::domain::orders::LINK_PREFIX) => state
            .orders
            .link_viewer(id, &t)
            .ok_or_else(|| PageError::not_found("no such order")),
        Some(who) => Ok(who),
        None => Err(PageError::not_found("no such order")),
    }
}

async fn invoice(state: State, v: Visitor, id: web::Path<String>) -> PageResult {
    let who = viewer(&state, &v, &id)?;
    Ok(crate::http::orders::invoice(&state, &id, &who)?)
}

#[derive(Deserialize)]
struct OrderQuery {
    key: Option<String>,
    paid: Option<String>,
    redirect_status: Option<String>,
    #[serde(rename = "payment_intent")]
    _payment_intent: Option<String>,
    #[serde(rename = "payment_intent_client_secret")]
    _client_secret: Option<String>,
}

async fn order_page(
    req: HttpRequest,
    state: State,
    pages: PageState,
    mut v: Visitor,
    id: web::Path<String>,
    q: web::Query<OrderQuery>,
) -> PageResult {
    // A link from a mail carries the order's token once; it moves into a cookie and out of
    // the address bar (and out of any Referer).
    if let Some(key) = q.key.as_deref().filter(|k| k.len() < 200) {
        let who = if key.starts_with(crate::domain::orders::LINK_PREFIX) {
            state.orders.link_viewer(&id, key)
        } else {
            Some(Viewer::Token(key.to_owned()))
        };
        if who.is_none_or(|w| state.orders.get(&id, &w).is_err()) {
            return Err(PageError::not_found("no such order"));
        }
        v.remember_order(&id, key);
        return Ok(see_other(&v, &format!("/orders/{id}")));
    }
    // Back from the provider's page (Stripe Checkout's `paid=1`, the Payment Element's
    // `redirect_status`): ask the provider now rather than wait for its webhook, then show the
    // order at its own address.
    if q.paid.is_some() || q.redirect_status.is_some() {
        let (who, _, payment) = order_and_payment(&state, &v, &id)?;
        if let Some(p) = payment.filter(|p| p.provider == "stripe")
            && let Err(e) = state.payments.refresh(&p.id.to_string(), &who).await
        {
            tracing::warn!(order = %id, error = %e, "refreshing a payment on the customer's return");
        }
        return Ok(see_other(&v, &format!("/orders/{id}")));
    }
    let (_, order, payment) = order_and_payment(&state, &v, &id)?;
    let ctx = context! {
        title => format!("Order {}", order.id), noindex => true,
        canonical => pages.absolute(&req, &format!("/orders/{}", order.id)),
        pay_now => payment.as_ref().is_some_and(|p| needs_paying(p.status)),
        order, payment,
    };
    pages.page("order.html", &v, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_reads_month_and_year() {
        assert_eq!(expiry("12/34"), Some((12, 34)));
        assert_eq!(expiry(" 1 / 2030 "), Some((1, 2030)));
        assert_eq!(expiry("1234"), None);
    }
}
