//! The job queue in the admin: jobs by state (dead first), one job with its payload and last
//! error, retry of a dead job and discard of a waiting or dead one (confirmed first).

use actix_web::{HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::{ConfirmForm, Staff, confirm, page};
use crate::core::JobId;
use crate::http::HttpState;
use crate::jobs::JobState;
use crate::pages::session::Posted;
use crate::pages::{PageError, PageState, see_other};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/jobs", web::get().to(list))
        .route("/admin/jobs/{id}", web::get().to(detail))
        .route("/admin/jobs/{id}/retry", web::post().to(retry))
        .route("/admin/jobs/{id}/discard", web::post().to(discard));
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

fn parse_state(s: &str) -> Result<JobState, PageError> {
    JobState::parse(s).ok_or_else(|| PageError::bad_request("unknown job state"))
}

async fn list(state: State, pages: PageState, s: Staff, q: web::Query<ListQuery>) -> PageResult {
    let js = match q.state.as_deref().filter(|x| !x.is_empty()) {
        Some(x) => Some(parse_state(x)?),
        None => None,
    };
    let jobs = state.jobs.list(js, None, 50, q.cursor.as_deref())?;
    let ctx = context! {
        title => "Jobs", jobs,
        state => q.state.clone().unwrap_or_default(),
        states => ["dead", "ready", "in_flight", "done"],
        oldest_ready_secs => state.jobs.oldest_ready_age_ms()? / 1000,
        notice => q.done.as_deref().map(|d| if d == "retried" { "The job will run again." } else { "The job was discarded." }),
    };
    page(&pages, &s, "jobs.html", "jobs", ctx)
}

fn job_id(id: &str) -> Result<JobId, PageError> {
    JobId::parse(id).map_err(|_| PageError::not_found("no such job"))
}

async fn detail(state: State, pages: PageState, s: Staff, id: web::Path<String>) -> PageResult {
    let job = state.jobs.get(job_id(&id)?)?;
    page(
        &pages,
        &s,
        "job.html",
        "jobs",
        context! { title => format!("Job {id}"), job },
    )
}

async fn retry(
    state: State,
    s: Staff,
    id: web::Path<String>,
    _f: Posted<ConfirmForm>,
) -> PageResult {
    state.jobs.retry(job_id(&id)?).await?;
    Ok(see_other(&s.v, "/admin/jobs?state=dead&done=retried"))
}

async fn discard(
    state: State,
    pages: PageState,
    s: Staff,
    id: web::Path<String>,
    f: Posted<ConfirmForm>,
) -> PageResult {
    let jid = job_id(&id)?;
    if !f.0.confirmed() {
        let what = format!("Discard job {id}? Its work will not be done.");
        return confirm(
            &pages,
            &s,
            "jobs",
            &what,
            &format!("/admin/jobs/{id}/discard"),
            Vec::new(),
        );
    }
    state.jobs.discard(jid).await?;
    Ok(see_other(&s.v, "/admin/jobs?done=discarded"))
}
