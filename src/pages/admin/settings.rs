//! The admin's settings page (admins only): the shop's settings in force, where each one is
//! set (the configuration file or `SHOPD_…` environment variables, read at start), the theme's
//! files, and the payment and mail status. Secrets are never shown, only whether they are set.

use actix_web::{HttpResponse, web};
use minijinja::context;

use super::{Staff, page};
use crate::pages::{PageError, PageState};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/settings", web::get().to(settings));
}

async fn settings(pages: PageState, s: Staff) -> Result<HttpResponse, PageError> {
    s.require_admin()?;
    let ctx = context! {
        title => "Settings",
        rows => pages.settings.iter().map(|(a, b, c)| context! { name => a, value => b, key => c }).collect::<Vec<_>>(),
        overrides => &pages.overrides,
    };
    page(&pages, &s, "settings.html", "settings", ctx)
}
