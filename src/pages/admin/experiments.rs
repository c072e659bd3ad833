//! Experiments in the admin: the list with a form for a new one, and each experiment's page
//! with its status actions (stopping asks first: it cannot be undone) and its results — per
//! variant the subjects, rate or mean with interval, lift and p-value, the sample-ratio check,
//! and the lift intervals drawn as SVG. The same domain functions as the API.

use actix_web::{HttpResponse, web};
use minijinja::{Value, context};
use serde::Deserialize;

use super::intervals::{Bar, intervals};
use super::{ConfirmForm, Staff, confirm, page, page_with_status, problems};
use crate::domain::experiments::results::Method;
use crate::domain::experiments::{
    Arm, Audience, ExperimentInput, ExperimentPatch, Metrics, Status,
};
use crate::http::{ApiError, HttpState};
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, Pages, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/experiments")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/admin/experiments/{key}", web::get().to(detail))
    .route(
        "/admin/experiments/{key}/status",
        web::post().to(set_status),
    );
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

fn list_page(
    state: &HttpState,
    pages: &Pages,
    s: &Staff,
    values: Value,
    errors: Vec<(String, String)>,
) -> PageResult {
    let status = if errors.is_empty() { 200 } else { 422 };
    let ctx = context! {
        title => "Experiments", list => state.experiments.list()?, values,
        metrics => crate::domain::experiments::METRICS,
        errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    };
    page_with_status(pages, s, "experiments.html", "experiments", ctx, status)
}

async fn list(state: State, pages: PageState, s: Staff) -> PageResult {
    let values = context! { variants => "control:1, treatment:1", primary => "order_paid" };
    list_page(&state, &pages, &s, values, Vec::new())
}

#[derive(Deserialize, serde::Serialize, Default)]
struct NewForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    variants: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    primary: String,
    #[serde(default)]
    guardrails: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
}

/// A `YYYY-MM-DD` date field as midnight UTC; empty is none.
fn date(field: &str, text: &str) -> Result<Option<crate::core::Timestamp>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(text, &format)
        .map_err(|_| ApiError::validation(field, "invalid", "a date as YYYY-MM-DD"))?;
    Ok(Some(crate::core::Timestamp::from_millis(
        d.midnight().assume_utc().unix_timestamp() * 1000,
    )))
}

/// `control:1, treatment:1` as arms; a part without `:weight` weighs 1.
fn arms(text: &str) -> Result<Vec<Arm>, ApiError> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .take(20)
        .map(|p| {
            let (key, weight) = p.split_once(':').unwrap_or((p, "1"));
            let weight = weight.trim().parse::<u32>().map_err(|_| {
                ApiError::validation(
                    "variants",
                    "invalid",
                    "write variants as key:weight, such as control:1, treatment:1",
                )
            })?;
            Ok(Arm {
                key: key.trim().to_owned(),
                weight,
            })
        })
        .collect()
}

fn input_of(f: &NewForm) -> Result<ExperimentInput, ApiError> {
    let audience = match f.audience.as_str() {
        "anonymous" => Audience::Anonymous,
        "signed_in" => Audience::SignedIn,
        _ => Audience::Everyone,
    };
    let guardrails = f
        .guardrails
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(ExperimentInput {
        key: f.key.trim().to_owned(),
        description: f.description.trim().to_owned(),
        variants: Some(arms(&f.variants)?),
        audience,
        status: None,
        starts_at: date("starts_at", &f.starts_at)?,
        ends_at: date("ends_at", &f.ends_at)?,
        metrics: Some(Metrics {
            primary: f.primary.trim().to_owned(),
            guardrails,
        }),
    })
}

async fn create(state: State, pages: PageState, s: Staff, form: Posted<NewForm>) -> PageResult {
    let f = form.0;
    let made = match input_of(&f) {
        Ok(input) => state
            .experiments
            .create(input)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match made {
        Ok(e) => Ok(see_other(&s.v, &format!("/admin/experiments/{}", e.key))),
        Err(e) => list_page(&state, &pages, &s, Value::from_serialize(&f), problems(e)),
    }
}

#[derive(Deserialize, Default)]
struct DetailQuery {
    method: Option<String>,
}

async fn detail(
    state: State,
    pages: PageState,
    s: Staff,
    key: web::Path<String>,
    q: web::Query<DetailQuery>,
) -> PageResult {
    let e = state.experiments.get(&key)?;
    let method = match q.method.as_deref() {
        Some("fixed") => Method::Fixed,
        _ => Method::Sequential,
    };
    let results = state.experiments.results(&key, method, true)?;
    let charts: Vec<Value> = results
        .metrics
        .iter()
        .map(|m| {
            let bars: Vec<Bar<'_>> = m
                .variants
                .iter()
                .filter_map(|v| {
                    let l = v.relative_lift?;
                    Some(Bar {
                        label: &v.variant,
                        estimate: l.estimate,
                        low: l.low,
                        high: l.high,
                    })
                })
                .collect();
            Value::from_safe_string(intervals(&m.metric, &bars))
        })
        .collect();
    let next: Vec<&str> = match e.status {
        Status::Draft => vec!["running", "stopped"],
        Status::Running => vec!["paused", "stopped"],
        Status::Paused => vec!["running", "stopped"],
        Status::Stopped => vec![],
    };
    let ctx = context! {
        title => format!("Experiment {}", e.key), experiment => e, results, charts, next,
        fixed => method == Method::Fixed,
    };
    page(&pages, &s, "experiment.html", "experiments", ctx)
}

#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    confirm: String,
}

async fn set_status(
    state: State,
    pages: PageState,
    s: Staff,
    key: web::Path<String>,
    form: Posted<StatusForm>,
) -> PageResult {
    let f = form.0;
    let to = match f.status.as_str() {
        "running" => Status::Running,
        "paused" => Status::Paused,
        "stopped" => Status::Stopped,
        _ => {
            return Err(PageError::bad_request(
                "status must be running, paused or stopped",
            ));
        }
    };
    let stop_confirmed = ConfirmForm { confirm: f.confirm }.confirmed();
    if to == Status::Stopped && !stop_confirmed {
        let what =
            format!("Stop experiment {key} for good? Its results stay; it cannot run again.");
        let action = format!("/admin/experiments/{key}/status");
        return confirm(
            &pages,
            &s,
            "experiments",
            &what,
            &action,
            vec![("status".into(), "stopped".into())],
        );
    }
    let patch = ExperimentPatch {
        status: Some(to),
        ..ExperimentPatch::default()
    };
    state.experiments.update(&key, patch, None).await?;
    Ok(see_other(&s.v, &format!("/admin/experiments/{key}")))
}
