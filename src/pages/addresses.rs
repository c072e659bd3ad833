//! The account's address book: add, edit and remove the addresses a checkout starts from.
//! The same domain functions as `/api/v1/me/addresses`; a bad field is shown at the field.

use actix_web::{HttpResponse, web};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::session::Posted;
use super::{PageError, PageState, Pages, Visitor, see_other};
use crate::core::AddressId;
use crate::domain::orders::{Address, AddressInput};
use crate::http::{ApiError, HttpState};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account/addresses/new")
            .route(web::get().to(new_page))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/account/addresses/{id}")
            .route(web::get().to(edit_page))
            .route(web::post().to(update)),
    )
    .route("/account/addresses/{id}/delete", web::post().to(remove));
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

/// The address form as typed.
#[derive(Deserialize, Serialize, Default)]
struct AddressForm {
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
    is_default: Option<String>,
}

impl AddressForm {
    fn of(a: Address, is_default: bool) -> Self {
        AddressForm {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
            is_default: is_default.then(|| "1".to_owned()),
        }
    }

    fn input(&self) -> AddressInput {
        AddressInput {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
        }
    }
}

/// Where a visitor who is not signed in goes: the sign-in form, then back to `back`.
fn sign_in_first(v: &Visitor, back: &str) -> PageResult {
    Ok(see_other(v, &format!("/account/sign-in?next={back}")))
}

fn parse_id(s: &str) -> Result<AddressId, PageError> {
    AddressId::parse(s).map_err(|_| PageError(ApiError::not_found("no such address")))
}

fn form_page(
    pages: &Pages,
    v: &Visitor,
    action: &str,
    values: &AddressForm,
    errors: Vec<(String, String)>,
) -> PageResult {
    let title = if action.ends_with("/new") {
        "Add an address"
    } else {
        "Edit address"
    };
    let failed = !errors.is_empty();
    let ctx = context! {
        title, noindex => true, action, values,
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    let html = pages.render("address.html", v, ctx)?;
    let mut r = if failed {
        HttpResponse::UnprocessableEntity()
    } else {
        HttpResponse::Ok()
    };
    v.set_cookies(&mut r);
    Ok(super::html_response(r, html))
}

/// A refused save shown at its fields (`address.city` → `city`), or at the top of the form.
fn refused(e: ApiError) -> Result<Vec<(String, String)>, PageError> {
    if !matches!(e.status().as_u16(), 409 | 422) {
        return Err(PageError(e));
    }
    if e.errors.is_empty() {
        return Ok(vec![("form".into(), e.detail)]);
    }
    Ok(e.errors
        .into_iter()
        .map(|f| {
            let name = f.field.rsplit('.').next().unwrap_or(&f.field).to_owned();
            (name, f.message)
        })
        .collect())
}

async fn new_page(pages: PageState, v: Visitor) -> PageResult {
    if v.principal.is_none() {
        return sign_in_first(&v, "/account/addresses/new");
    }
    let action = "/account/addresses/new";
    form_page(&pages, &v, action, &AddressForm::default(), Vec::new())
}

async fn create(
    state: State,
    pages: PageState,
    v: Visitor,
    form: Posted<AddressForm>,
) -> PageResult {
    let Some(p) = v.principal.clone() else {
        return sign_in_first(&v, "/account/addresses/new");
    };
    let f = form.0;
    let saved = state
        .auth
        .add_address(&p, &f.input(), f.is_default.is_some())
        .await;
    match saved {
        Ok(_) => Ok(see_other(&v, "/account?notice=address_saved#addresses")),
        Err(e) => {
            let errors = refused(ApiError::from(e))?;
            form_page(&pages, &v, "/account/addresses/new", &f, errors)
        }
    }
}

async fn edit_page(
    state: State,
    pages: PageState,
    v: Visitor,
    id: web::Path<String>,
) -> PageResult {
    let action = format!("/account/addresses/{id}");
    let Some(p) = v.principal.clone() else {
        return sign_in_first(&v, &action);
    };
    let id = parse_id(&id)?;
    let a = state
        .auth
        .addresses(&p)?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| PageError(ApiError::not_found("no such address")))?;
    let values = AddressForm::of(a.address, a.is_default);
    form_page(&pages, &v, &action, &values, Vec::new())
}

async fn update(
    state: State,
    pages: PageState,
    v: Visitor,
    id: web::Path<String>,
    form: Posted<AddressForm>,
) -> PageResult {
    let action = format!("/account/addresses/{id}");
    let Some(p) = v.principal.clone() else {
        return sign_in_first(&v, &action);
    };
    let id = parse_id(&id)?;
    let f = form.0;
    let saved = state
        .auth
        .update_address(&p, id, &f.input(), f.is_default.is_some())
        .await;
    match saved {
        Ok(_) => Ok(see_other(&v, "/account?notice=address_saved#addresses")),
        Err(e) => {
            let errors = refused(ApiError::from(e))?;
            form_page(&pages, &v, &action, &f, errors)
        }
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn remove(
    state: State,
    v: Visitor,
    id: web::Path<String>,
    _form: Posted<Empty>,
) -> PageResult {
    let Some(p) = v.principal.clone() else {
        return sign_in_first(&v, "/account");
    };
    state.auth.remove_address(&p, parse_id(&id)?).await?;
    Ok(see_other(&v, "/account?notice=address_removed#addresses"))
}
