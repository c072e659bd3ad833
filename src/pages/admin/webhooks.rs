//! Webhook endpoints in the admin (admins only: an endpoint receives the shop's data): the list,
//! a new endpoint (its signing secret shown once), one endpoint with its delivery log (status,
//! time, the answer's first bytes), replay of its failed deliveries, and deletion.

use actix_web::{HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{ConfirmForm, Staff, confirm, page_with_status};
use crate::domain::events::TYPES;
use crate::domain::webhooks::EndpointInput;
use crate::http::{ApiError, HttpState};
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, Pages, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/webhooks")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/admin/webhooks/{id}", web::get().to(endpoint))
    .route("/admin/webhooks/{id}/replay", web::post().to(replay))
    .route("/admin/webhooks/{id}/delete", web::post().to(delete));
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

fn list_page(
    state: &HttpState,
    pages: &Pages,
    s: &Staff,
    created: Option<Value>,
    errors: Vec<(String, String)>,
    notice: Option<&str>,
) -> PageResult {
    let endpoints = state.webhooks.list()?;
    let status = if errors.is_empty() { 200 } else { 422 };
    let ctx = context! {
        title => "Webhooks", endpoints, created, notice,
        key => crate::core::secret::new_token(""),
        types => TYPES.iter().map(|t| context! { name => t.name, meaning => t.meaning }).collect::<Vec<_>>(),
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    page_with_status(pages, s, "webhooks.html", "webhooks", ctx, status)
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

async fn list(state: State, pages: PageState, s: Staff, q: web::Query<Done>) -> PageResult {
    s.require_admin()?;
    list_page(
        &state,
        &pages,
        &s,
        None,
        Vec::new(),
        q.done.as_deref().map(|_| "The endpoint was deleted."),
    )
}

async fn create(
    state: State,
    pages: PageState,
    s: Staff,
    form: Posted<Vec<(String, String)>>,
) -> PageResult {
    s.require_admin()?;
    let f = form.0;
    let get = |k: &str| super::field(&f, k).map(|v| v.trim().to_owned());
    let events: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "event")
        .map(|(_, v)| v.clone())
        .collect();
    let input = EndpointInput {
        url: get("url"),
        events: Some(events),
        description: get("description").filter(|d| !d.is_empty()),
        enabled: Some(true),
    };
    // The form's key makes a second post of the same form answer the endpoint the first
    // created, without creating another.
    let key = get("key").filter(|k| !k.is_empty());
    match state
        .webhooks
        .create(input, &s.actor(), key.as_deref())
        .await
    {
        // The secret is shown in this answer only.
        Ok(e) => {
            let created = context! { endpoint => e.outcome, replayed => e.replayed };
            list_page(&state, &pages, &s, Some(created), Vec::new(), None)
        }
        Err(e) => {
            let e = ApiError::from(e);
            let errors = if e.errors.is_empty() {
                vec![("url".to_owned(), e.detail)]
            } else {
                e.errors.into_iter().map(|x| (x.field, x.message)).collect()
            };
            list_page(&state, &pages, &s, None, errors, None)
        }
    }
}

#[derive(Deserialize, Default)]
struct EndpointQuery {
    cursor: Option<String>,
    done: Option<String>,
}

async fn endpoint(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    q: web::Query<EndpointQuery>,
) -> PageResult {
    s.require_admin()?;
    let e = state.webhooks.get(&id)?;
    let deliveries = state.webhooks.deliveries(&id, 50, q.cursor.as_deref())?;
    let notice = q
        .done
        .as_deref()
        .map(|d| format!("The failed deliveries of the last {d} day(s) are being sent again."));
    let ctx = context! { title => format!("Webhook {}", e.url), endpoint => e, deliveries, notice };
    page_with_status(&pages, &s, "webhook.html", "webhooks", ctx, 200)
}

#[derive(Deserialize)]
struct ReplayForm {
    #[serde(default)]
    days: String,
}

async fn replay(
    state: State,
    s: Staff,
    id: web::Path<String>,
    form: Posted<ReplayForm>,
) -> PageResult {
    s.require_admin()?;
    let days: u64 = form
        .0
        .days
        .trim()
        .parse()
        .ok()
        .filter(|d| (1..=30).contains(d))
        .ok_or_else(|| {
            PageError(ApiError::validation(
                "days",
                "invalid",
                "replay 1 to 30 days",
            ))
        })?;
    let ms = i64::try_from(days * 24 * 3600 * 1000).unwrap_or(i64::MAX);
    let since =
        crate::core::Timestamp::from_millis(state.clock.now().as_millis().saturating_sub(ms));
    state.webhooks.replay_failed(&id, since).await?;
    Ok(see_other(
        &s.v,
        &format!("/admin/webhooks/{id}?done={days}"),
    ))
}

async fn delete(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    form: Posted<ConfirmForm>,
) -> PageResult {
    s.require_admin()?;
    if !form.0.confirmed() {
        let e = state.webhooks.get(&id)?;
        let what = format!(
            "Delete the webhook endpoint {}? It stops receiving events at once.",
            e.url
        );
        return confirm(
            &pages,
            &s,
            "webhooks",
            &what,
            &format!("/admin/webhooks/{id}/delete"),
            Vec::new(),
        );
    }
    state.webhooks.delete(&id).await?;
    Ok(see_other(&s.v, "/admin/webhooks?done=deleted"))
}
