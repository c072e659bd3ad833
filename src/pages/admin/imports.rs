//! Product CSV import and export in the admin. An uploaded Shopify CSV is imported in the
//! background through the same import as the API's (each product whole or not at all), while
//! its page shows the progress and then the report with every refused line by number. The
//! running imports' progress is kept in memory (at most [`MAX_TASKS`]); a restart loses the
//! page, never a product already written, and importing the file again updates by handle.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::TryStreamExt;
use minijinja::{Value, context};

use super::{Staff, page};
use crate::core::Currency;
use crate::core::errors as codes;
use crate::domain::catalog::ImportReport;
use crate::http::HttpState;
use crate::pages::{PageError, PageState, see_other};

/// Imports whose progress pages are kept.
pub const MAX_TASKS: usize = 20;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/import")
            .route(web::get().to(form))
            .route(web::post().to(upload)),
    )
    .route("/admin/import/{id}", web::get().to(progress))
    .route("/admin/export.csv", web::get().to(export));
}

/// One import's state.
#[derive(Debug, Clone)]
struct Task {
    id: String,
    file: String,
    done: u64,
    total: u64,
    report: Option<Arc<ImportReport>>,
    error: Option<String>,
}

/// The imports started on this node, newest last.
#[derive(Debug, Default)]
pub struct Imports {
    tasks: Mutex<VecDeque<Task>>,
}

impl Imports {
    fn start(&self, id: &str, file: &str) {
        let mut t = crate::core::sync::lock(&self.tasks);
        if t.len() >= MAX_TASKS {
            t.pop_front();
        }
        t.push_back(Task {
            id: id.to_owned(),
            file: file.to_owned(),
            done: 0,
            total: 0,
            report: None,
            error: None,
        });
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Task)) {
        let mut t = crate::core::sync::lock(&self.tasks);
        if let Some(task) = t.iter_mut().find(|x| x.id == id) {
            f(task);
        }
    }

    fn get(&self, id: &str) -> Option<Task> {
        crate::core::sync::lock(&self.tasks)
            .iter()
            .find(|x| x.id == id)
            .cloned()
    }
}

type State = web::Data<HttpState>;
type PageResult = Result<HttpResponse, PageError>;

async fn form(state: State, pages: PageState, s: Staff) -> PageResult {
    let ctx = context! { title => "Import and export", currency => state.carts.settings().currency.as_str() };
    page(&pages, &s, "import.html", "products", ctx)
}

/// The upload's fields: the CSRF token, the currency, dry run, and the file (bounded).
struct Upload {
    csrf: String,
    currency: String,
    dry_run: bool,
    file_name: String,
    body: Vec<u8>,
}

async fn read_upload(mut mp: Multipart, limit: usize) -> Result<Upload, PageError> {
    let mut u = Upload {
        csrf: String::new(),
        currency: String::new(),
        dry_run: false,
        file_name: String::new(),
        body: Vec::new(),
    };
    let too_large = || {
        PageError::new(
            codes::PAYLOAD_TOO_LARGE,
            format!("the file is larger than {} MiB", limit / (1024 * 1024)),
        )
    };
    let bad = |_| PageError::bad_request("the upload could not be read");
    while let Some(mut field) = mp.try_next().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            u.file_name = field
                .content_disposition()
                .and_then(|c| c.get_filename())
                .unwrap_or("upload.csv")
                .chars()
                .take(200)
                .collect();
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(bad)? {
            let cap = if name == "file" { limit } else { 4096 };
            if value.len() + chunk.len() > cap {
                return Err(too_large());
            }
            value.extend_from_slice(&chunk);
        }
        let text = || String::from_utf8_lossy(&value).into_owned();
        match name.as_str() {
            "_csrf" => u.csrf = text(),
            "currency" => u.currency = text(),
            "dry_run" => u.dry_run = !value.is_empty(),
            "file" => u.body = value,
            _ => {}
        }
    }
    Ok(u)
}

async fn upload(
    req: HttpRequest,
    state: State,
    pages: PageState,
    s: Staff,
    payload: web::Payload,
) -> PageResult {
    let limit = req
        .app_data::<crate::http::json::ImportLimit>()
        .map_or(64 * 1024 * 1024, |l| l.0);
    // Where the form came from is known before the body is read.
    crate::pages::session::check_origin(&req)?;
    let u = read_upload(Multipart::new(req.headers(), payload), limit).await?;
    crate::pages::session::check_token(&req, &u.csrf)?;
    if u.body.is_empty() {
        return Err(PageError(crate::http::ApiError::validation(
            "file",
            "required",
            "choose a CSV file",
        )));
    }
    let currency = Currency::parse(u.currency.trim()).map_err(|_| {
        PageError(crate::http::ApiError::validation(
            "currency",
            "invalid",
            "is not an ISO 4217 code",
        ))
    })?;
    let id = crate::domain::auth::secret::new_token("imp_")
        .chars()
        .take(20)
        .collect::<String>();
    pages.imports.start(&id, &u.file_name);
    let (imports, tid, actor) = (pages.imports.clone(), id.clone(), s.actor());
    let st = state.clone();
    tokio::spawn(async move {
        let mut progress = |done: u64, total: u64| {
            imports.update(&tid, |t| {
                t.done = done;
                t.total = total;
            })
        };
        let r = st
            .inventory
            .import_csv(
                &st.catalog,
                std::io::Cursor::new(u.body),
                currency,
                u.dry_run,
                (&actor, true),
                &mut progress,
            )
            .await;
        imports.update(&tid, |t| match r {
            Ok(report) => t.report = Some(Arc::new(report)),
            Err(e) => t.error = Some(crate::http::ApiError::from(e).detail),
        });
    });
    Ok(see_other(&s.v, &format!("/admin/import/{id}")))
}

async fn progress(pages: PageState, s: Staff, id: web::Path<String>) -> PageResult {
    let t = pages.imports.get(&id).ok_or_else(|| {
        PageError::not_found("no such import on this server (imports are listed until restart)")
    })?;
    let running = t.report.is_none() && t.error.is_none();
    let percent = (t.done * 100).checked_div(t.total).unwrap_or(0);
    let ctx = context! {
        title => if running { "Importing…" } else { "Import finished" },
        file => t.file, done => t.done, total => t.total, percent, running,
        refresh => running, error => t.error,
        report => t.report.as_deref().map(Value::from_serialize),
    };
    page(&pages, &s, "import_progress.html", "products", ctx)
}

async fn export(state: State, _s: Staff) -> PageResult {
    let (catalog, inventory) = (state.catalog.clone(), state.inventory.clone());
    let data = web::block(move || {
        let mut buf = Vec::new();
        inventory.export_csv(&catalog, &mut buf).map(|_| buf)
    })
    .await
    .map_err(|_| PageError::internal())??;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"products_export.csv\"",
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(data))
}
