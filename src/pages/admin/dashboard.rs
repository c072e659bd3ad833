//! The dashboard: today's orders and sales, 30 days of sales as a chart, variants running low,
//! the job queue's health and dead jobs, payments waiting for review.

use actix_web::{HttpResponse, web};
use minijinja::{Value, context};

use super::{Staff, chart, page};
use crate::http::HttpState;
use crate::jobs::JobState;
use crate::pages::{PageError, PageState};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(dashboard));
}

async fn dashboard(
    state: web::Data<HttpState>,
    pages: PageState,
    s: Staff,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let sales = state
        .orders
        .daily_sales(now, 30, state.carts.settings().currency)?;
    let today = sales.days.last().cloned();
    let month_orders: u64 = sales.days.iter().map(|d| d.orders).sum();
    let month_revenue: i64 = sales.days.iter().map(|d| d.revenue).sum();
    let dead = state.jobs.list(Some(JobState::Dead), None, 10, None)?;
    let oldest_ms = state.jobs.oldest_ready_age_ms()?;
    let ctx = context! {
        title => "Dashboard",
        currency => sales.currency.as_str(),
        today, month_orders, month_revenue,
        complete => sales.complete,
        chart => Value::from_safe_string(chart::bars(&sales)),
        low_stock => state.inventory.low_stock(200)?,
        dead_jobs => dead.data, more_dead => dead.has_more,
        oldest_ready_secs => oldest_ms / 1000,
        flagged => state.payments.flagged(20)?,
    };
    page(&pages, &s, "dashboard.html", "dashboard", ctx)
}
