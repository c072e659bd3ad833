//! Customers in the admin: the list, one customer with their orders, and (for admins only) the
//! role form, confirmed before it applies.

use actix_web::{HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::{Staff, confirm, page};
use crate::core::CustomerId;
use crate::domain::auth::Role;
use crate::domain::orders::OrderFilter;
use crate::http::HttpState;
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/customers", web::get().to(list))
        .route("/admin/customers/{id}", web::get().to(detail))
        .route("/admin/customers/{id}/role", web::post().to(set_role));
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

#[derive(Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

async fn list(state: State, pages: PageState, s: Staff, q: web::Query<ListQuery>) -> PageResult {
    let customers = state.auth.list_customers(25, q.cursor.as_deref())?;
    page(
        &pages,
        &s,
        "customers.html",
        "customers",
        context! { title => "Customers", customers },
    )
}

fn customer_id(id: &str) -> Result<CustomerId, PageError> {
    CustomerId::parse(id).map_err(|_| PageError::not_found("no such customer"))
}

#[derive(Deserialize, Default)]
struct DetailQuery {
    done: Option<String>,
}

async fn detail(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    q: web::Query<DetailQuery>,
) -> PageResult {
    let cid = customer_id(&id)?;
    let customer = state.auth.get_customer(s.principal(), cid)?;
    let filter = OrderFilter {
        customer: Some(cid),
        ..OrderFilter::default()
    };
    let orders = state.orders.list(&filter, 25, None)?;
    let ctx = context! {
        title => customer.name.clone(), customer, orders,
        notice => q.done.as_deref().map(|_| "The role was changed."),
        roles => ["customer", "staff", "admin"],
    };
    page(&pages, &s, "customer.html", "customers", ctx)
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
    #[serde(default)]
    confirm: String,
}

async fn set_role(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<RoleForm>,
) -> PageResult {
    s.require_admin()?;
    let cid = customer_id(&id)?;
    let f = form.0;
    let role = Role::parse(&f.role).ok_or_else(|| PageError::bad_request("unknown role"))?;
    if f.confirm != "yes" {
        let c = state.auth.get_customer(s.principal(), cid)?;
        let what = format!("Make {} ({}) {}?", c.name, c.email, role.as_str());
        return confirm(
            &pages,
            &s,
            "customers",
            &what,
            &format!("/admin/customers/{id}/role"),
            vec![("role".into(), f.role)],
        );
    }
    state.auth.set_role(s.principal(), cid, role).await?;
    Ok(see_other(&s.v, &format!("/admin/customers/{id}?done=role")))
}
