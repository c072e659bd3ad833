//! The first admin: a fresh shop prints a one-time setup link at start; this page creates the
//! admin account with it and signs them in. It works once and only until an admin exists.

use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use crate::http::identity::limit_ip;
use crate::http::{ApiError, HttpState};
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, Visitor, html_response, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/setup")
            .route(web::get().to(form))
            .route(web::post().to(create)),
    );
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn render(
    pages: &crate::pages::Pages,
    v: &Visitor,
    values: minijinja::Value,
    errors: Vec<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let failed = !errors.is_empty();
    let ctx = context! {
        title => "Create the admin account", noindex => true, values,
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    let html = pages.render("admin/setup.html", v, ctx)?;
    let mut r = if failed {
        HttpResponse::UnprocessableEntity()
    } else {
        HttpResponse::Ok()
    };
    v.set_cookies(&mut r);
    Ok(html_response(r, html))
}

async fn form(
    state: web::Data<HttpState>,
    pages: PageState,
    v: Visitor,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    if state.auth.has_admin()? {
        return Ok(see_other(&v, "/account/sign-in?next=/admin"));
    }
    render(&pages, &v, context! { token => q.token }, Vec::new())
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn create(
    req: HttpRequest,
    state: web::Data<HttpState>,
    pages: PageState,
    mut v: Visitor,
    form: Posted<SetupForm>,
) -> Result<HttpResponse, PageError> {
    limit_ip(&req, &state)?;
    let f = form.0;
    let values = context! { token => f.token, name => f.name, email => f.email };
    if let Err(e) = state
        .auth
        .complete_setup(f.token.trim(), f.email.trim(), &f.password, f.name.trim())
        .await
    {
        let e = ApiError::from(e);
        if !matches!(e.status().as_u16(), 400 | 401 | 409 | 422) {
            return Err(PageError(e));
        }
        let errors = if e.errors.is_empty() {
            vec![("token".to_owned(), e.detail)]
        } else {
            e.errors.into_iter().map(|x| (x.field, x.message)).collect()
        };
        return render(&pages, &v, values, errors);
    }
    let pair = crate::http::auth::sign_in(&req, &state, f.email.trim(), &f.password, None).await?;
    v.start_session(pair.refresh_token, state.refresh_cookie_secs);
    Ok(see_other(&v, "/admin"))
}
