//! Search routes: full-text product search with filters, facets and highlights, and
//! autocomplete suggestions.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};

use super::{ApiError, HttpState, Problem};
use crate::core::{CategoryId, MAX_PER_PAGE};
use crate::domain::search::{SearchQuery, Sort};

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(search, suggest))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/search", web::get().to(search))
        .route("/api/v1/search/suggest", web::get().to(suggest));
}

fn parse_u64(field: &'static str, v: &str) -> Result<u64, ApiError> {
    v.parse()
        .map_err(|_| ApiError::validation(field, "invalid", "must be a non-negative integer"))
}

/// Parses the query string by hand: `option.<Name>=<Value>` keys are open-ended.
/// A search query from a query string: the API's parameters, shared with the storefront's
/// search and category pages so both accept and refuse the same input.
pub fn parse_query(query_string: &str) -> Result<SearchQuery, ApiError> {
    let pairs: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(query_string)
            .map(|q| q.into_inner())
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let mut q = SearchQuery {
        q: String::new(),
        category: None,
        min_price: None,
        max_price: None,
        in_stock: None,
        options: Vec::new(),
        tags: Vec::new(),
        sort: Sort::Relevance,
        page: 1,
        per_page: 20,
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (k, v) in pairs {
        *seen.entry(k.clone()).or_default() += 1;
        match k.as_str() {
            "q" => {
                if v.chars().count() > 200 {
                    return Err(ApiError::validation(
                        "q",
                        "too_long",
                        "at most 200 characters",
                    ));
                }
                q.q = v;
            }
            "category" => {
                q.category = Some(CategoryId::parse(&v).map_err(|_| {
                    ApiError::validation("category", "invalid", "is not a category id")
                })?)
            }
            "min_price" => q.min_price = Some(parse_u64("min_price", &v)?),
            "max_price" => q.max_price = Some(parse_u64("max_price", &v)?),
            "in_stock" => {
                q.in_stock = Some(match v.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(ApiError::validation(
                            "in_stock",
                            "invalid",
                            "must be true or false",
                        ));
                    }
                })
            }
            "tag" => q.tags.push(v),
            "sort" => {
                q.sort = Sort::parse(&v).ok_or_else(|| {
                    ApiError::validation(
                        "sort",
                        "invalid",
                        "must be relevance, price_asc, price_desc or newest",
                    )
                })?
            }
            "page" => {
                q.page = parse_u64("page", &v)? as usize;
                if q.page == 0 || q.page > 1000 {
                    return Err(ApiError::validation(
                        "page",
                        "out_of_range",
                        "must be between 1 and 1000",
                    ));
                }
            }
            "per_page" => {
                q.per_page = parse_u64("per_page", &v)? as usize;
                if q.per_page == 0 || q.per_page > MAX_PER_PAGE {
                    return Err(ApiError::validation(
                        "per_page",
                        "out_of_range",
                        format!("must be between 1 and {MAX_PER_PAGE}"),
                    ));
                }
            }
            other => match other.strip_prefix("option.") {
                Some(name) if !name.is_empty() => q.options.push((name.to_owned(), v)),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "unknown query parameter `{other}`"
                    )));
                }
            },
        }
    }
    if let Some((k, _)) = seen
        .iter()
        .find(|(k, n)| **n > 1 && !k.starts_with("option.") && k.as_str() != "tag")
    {
        return Err(ApiError::bad_request(format!(
            "query parameter `{k}` given twice"
        )));
    }
    if q.tags.len() + q.options.len() > 20 {
        return Err(ApiError::bad_request("at most 20 tag and option filters"));
    }
    Ok(q)
}

/// Searches active products: every word must match (typos allowed by word length, the last word
/// as a prefix, English stemming), with filters, facet counts over the filtered results and
/// highlighted snippets.
#[utoipa::path(get, path = "/api/v1/search", tag = "catalog",
    params(
        ("q" = Option<String>, Query, description = "Words to find"),
        ("category" = Option<String>, Query, description = "cat_…"),
        ("min_price" = Option<u64>, Query, description = "Minor units, inclusive"),
        ("max_price" = Option<u64>, Query, description = "Minor units, inclusive"),
        ("in_stock" = Option<bool>, Query, description = "true: only products that can be ordered now; false: only sold-out ones"),
        ("tag" = Option<String>, Query, description = "Tag filter (repeatable)"),
        ("option.<Name>" = Option<String>, Query, description = "Option value filter, e.g. option.Color=Red"),
        ("sort" = Option<String>, Query, description = "relevance (default), price_asc, price_desc, newest"),
        ("page" = Option<u64>, Query, description = "1-based page"),
        ("per_page" = Option<u64>, Query, description = "1–100, default 20")),
    responses(
        (status = 200, description = "Hits with `total` and `facets`", body = crate::domain::search::SearchResult),
        (status = 400, description = "Unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = "application/problem+json")))]
pub async fn search(
    req: HttpRequest,
    state: web::Data<HttpState>,
) -> Result<HttpResponse, ApiError> {
    let q = parse_query(req.query_string())?;
    let res = state.search.search(q).await?;
    Ok(HttpResponse::Ok().json(res))
}

/// Answer of [`suggest`].
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Suggestions {
    /// Product titles completing the typed text, best first.
    pub data: Vec<String>,
}

/// Autocomplete: up to 8 product titles matching what was typed.
#[utoipa::path(get, path = "/api/v1/search/suggest", tag = "catalog",
    params(("q" = String, Query, description = "Typed text")),
    responses((status = 200, description = "Up to 8 product titles", body = Suggestions), (status = 400, description = "Unknown parameter", body = Problem, content_type = "application/problem+json")))]
pub async fn suggest(
    req: HttpRequest,
    state: web::Data<HttpState>,
) -> Result<HttpResponse, ApiError> {
    let pairs: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let mut text = String::new();
    for (k, v) in pairs {
        match k.as_str() {
            "q" if v.chars().count() <= 100 => text = v,
            "q" => {
                return Err(ApiError::validation(
                    "q",
                    "too_long",
                    "at most 100 characters",
                ));
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{other}`"
                )));
            }
        }
    }
    let data = state.search.suggest(text, 8).await?;
    Ok(HttpResponse::Ok().json(Suggestions { data }))
}
