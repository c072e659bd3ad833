//! Accounts: register, sign in and out, verify an email, reset a password (the links in those
//! mails point here), and the account page with the order history. Sign-in goes through the
//! same function as the API's login (rate limit, password check, cart merge).

use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

use super::session::Posted;
use super::{PageError, PageState, Pages, Visitor, see_other};
use crate::http::identity::limit_ip;
use crate::http::{ApiError, HttpState};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(account))
        .service(
            web::resource("/account/sign-in")
                .route(web::get().to(sign_in_page))
                .route(web::post().to(sign_in)),
        )
        .route("/account/sign-out", web::post().to(sign_out))
        .service(
            web::resource("/account/register")
                .route(web::get().to(register_page))
                .route(web::post().to(register)),
        )
        .service(
            web::resource("/verify-email")
                .route(web::get().to(verify_page))
                .route(web::post().to(verify)),
        )
        .service(
            web::resource("/reset-password")
                .route(web::get().to(reset_page))
                .route(web::post().to(reset)),
        )
        .route("/reset-password/request", web::post().to(reset_request));
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

/// A page with a form, shown again with `errors` (field → message) and a `notice`.
fn form_page(
    pages: &Pages,
    v: &Visitor,
    template: &str,
    title: &str,
    values: Value,
    errors: Vec<(String, String)>,
    notice: Option<String>,
) -> PageResult {
    let failed = !errors.is_empty();
    let ctx = context! {
        title, noindex => true, values, notice,
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    let html = pages.render(template, v, ctx)?;
    let mut r = if failed {
        HttpResponse::UnprocessableEntity()
    } else {
        HttpResponse::Ok()
    };
    v.set_cookies(&mut r);
    Ok(super::html_response(r, html))
}

/// Where to go after signing in: a path on this site only.
fn next_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/account".to_owned(),
    }
}

/// An API failure as a message at `field` (or at the top of the form).
fn at_field(e: ApiError, field: &str) -> Vec<(String, String)> {
    if e.errors.is_empty() {
        return vec![(field.to_owned(), e.detail)];
    }
    e.errors.into_iter().map(|f| (f.field, f.message)).collect()
}

#[derive(Deserialize, Default)]
struct Next {
    next: Option<String>,
    notice: Option<String>,
}

async fn sign_in_page(pages: PageState, v: Visitor, q: web::Query<Next>) -> PageResult {
    if v.principal.is_some() {
        return Ok(see_other(&v, &next_path(q.next.as_deref())));
    }
    let notice = match q.notice.as_deref() {
        Some("reset") => Some("Your password was changed. Sign in with the new one.".to_owned()),
        _ => None,
    };
    let values = context! { next => next_path(q.next.as_deref()) };
    form_page(
        &pages,
        &v,
        "sign_in.html",
        "Sign in",
        values,
        Vec::new(),
        notice,
    )
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn sign_in(
    req: HttpRequest,
    state: State,
    pages: PageState,
    mut v: Visitor,
    form: Posted<SignInForm>,
) -> PageResult {
    let f = form.0;
    let cart = v.cart_owner().token;
    match crate::http::auth::sign_in(&req, &state, f.email.trim(), &f.password, cart).await {
        Ok(pair) => {
            v.start_session(pair.refresh_token, state.refresh_cookie_secs);
            Ok(see_other(&v, &next_path(f.next.as_deref())))
        }
        Err(e) if e.status().as_u16() == 401 => {
            let values = context! { email => f.email, next => next_path(f.next.as_deref()) };
            form_page(
                &pages,
                &v,
                "sign_in.html",
                "Sign in",
                values,
                vec![(
                    "password".into(),
                    "That email and password do not match an account.".into(),
                )],
                None,
            )
        }
        Err(e) => Err(PageError(e)),
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn sign_out(state: State, mut v: Visitor, _f: Posted<Empty>) -> PageResult {
    if let Some(token) = v.end_session() {
        state.auth.logout(&token).await?;
    }
    Ok(see_other(&v, "/"))
}

async fn register_page(pages: PageState, v: Visitor) -> PageResult {
    form_page(
        &pages,
        &v,
        "register.html",
        "Create an account",
        context! {},
        Vec::new(),
        None,
    )
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn register(
    req: HttpRequest,
    state: State,
    pages: PageState,
    mut v: Visitor,
    form: Posted<RegisterForm>,
) -> PageResult {
    let f = form.0;
    limit_ip(&req, &state)?;
    let values = context! { name => f.name, email => f.email };
    if let Err(e) = state
        .auth
        .register(f.email.trim(), &f.password, f.name.trim())
        .await
    {
        let e = ApiError::from(e);
        if !matches!(e.status().as_u16(), 409 | 422) {
            return Err(PageError(e));
        }
        let field = if e.status().as_u16() == 409 {
            "email"
        } else {
            "password"
        };
        return form_page(
            &pages,
            &v,
            "register.html",
            "Create an account",
            values,
            at_field(e, field),
            None,
        );
    }
    let cart = v.cart_owner().token;
    let pair = crate::http::auth::sign_in(&req, &state, f.email.trim(), &f.password, cart).await?;
    v.start_session(pair.refresh_token, state.refresh_cookie_secs);
    Ok(see_other(&v, "/account?welcome=1"))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn verify_page(pages: PageState, v: Visitor, q: web::Query<TokenQuery>) -> PageResult {
    // The link only shows a button: mail scanners that fetch links must not use the token.
    let values = context! { token => q.token };
    form_page(
        &pages,
        &v,
        "verify_email.html",
        "Confirm your email",
        values,
        Vec::new(),
        None,
    )
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

async fn verify(state: State, pages: PageState, v: Visitor, form: Posted<TokenForm>) -> PageResult {
    match state.auth.verify_email(form.0.token.trim()).await {
        Ok(_) => form_page(
            &pages,
            &v,
            "verify_email.html",
            "Email confirmed",
            context! { done => true },
            Vec::new(),
            None,
        ),
        Err(e) => {
            let e = ApiError::from(e);
            form_page(
                &pages,
                &v,
                "verify_email.html",
                "Confirm your email",
                context! {},
                vec![("token".into(), e.detail)],
                None,
            )
        }
    }
}

async fn reset_page(pages: PageState, v: Visitor, q: web::Query<TokenQuery>) -> PageResult {
    let values = context! { token => q.token };
    form_page(
        &pages,
        &v,
        "reset_password.html",
        "Reset your password",
        values,
        Vec::new(),
        None,
    )
}

#[derive(Deserialize)]
struct ResetRequestForm {
    #[serde(default)]
    email: String,
}

async fn reset_request(
    req: HttpRequest,
    state: State,
    pages: PageState,
    v: Visitor,
    form: Posted<ResetRequestForm>,
) -> PageResult {
    limit_ip(&req, &state)?;
    let email = form.0.email;
    if let Err(e) = state.auth.request_password_reset(email.trim()).await {
        let e = ApiError::from(e);
        return form_page(
            &pages,
            &v,
            "reset_password.html",
            "Reset your password",
            context! { email },
            at_field(e, "email"),
            None,
        );
    }
    let notice = Some(
        "If an account uses that address, a link to choose a new password is on its way."
            .to_owned(),
    );
    form_page(
        &pages,
        &v,
        "reset_password.html",
        "Reset your password",
        context! { sent => true },
        Vec::new(),
        notice,
    )
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn reset(
    req: HttpRequest,
    state: State,
    pages: PageState,
    v: Visitor,
    form: Posted<ResetForm>,
) -> PageResult {
    limit_ip(&req, &state)?;
    let f = form.0;
    match state.auth.reset_password(f.token.trim(), &f.password).await {
        Ok(()) => Ok(see_other(&v, "/account/sign-in?notice=reset")),
        Err(e) => {
            let e = ApiError::from(e);
            form_page(
                &pages,
                &v,
                "reset_password.html",
                "Reset your password",
                context! { token => f.token },
                at_field(e, "password"),
                None,
            )
        }
    }
}

#[derive(Deserialize)]
struct AccountQuery {
    after: Option<String>,
    welcome: Option<String>,
    notice: Option<String>,
}

async fn account(
    state: State,
    pages: PageState,
    v: Visitor,
    q: web::Query<AccountQuery>,
) -> PageResult {
    let Some(p) = &v.principal else {
        return Ok(see_other(&v, "/account/sign-in?next=/account"));
    };
    let me = state.auth.me(p)?;
    let orders = match p.customer_id() {
        Some(c) => Some(state.orders.list_for_customer(c, 20, q.after.as_deref())?),
        None => None,
    };
    let addresses = state.auth.addresses(p)?;
    let notice = match q.notice.as_deref() {
        Some("address_saved") => Some("Address saved."),
        Some("address_removed") => Some("Address removed."),
        _ => None,
    };
    let ctx = context! {
        title => "Your account", noindex => true,
        me, orders, welcome => q.welcome.is_some(), addresses, notice,
        max_addresses => crate::domain::auth::addresses::MAX_ADDRESSES,
    };
    pages.page("account.html", &v, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(next_path(Some("/cart")), "/cart");
        assert_eq!(next_path(Some("//evil.example")), "/account");
        assert_eq!(next_path(Some("https://evil.example")), "/account");
        assert_eq!(next_path(Some("/\\evil.example")), "/account");
        assert_eq!(next_path(None), "/account");
    }
}
