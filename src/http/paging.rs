//! Cursor-list query parameters shared by every list route: `per_page` (1–100, default 20)
//! and `cursor`.

use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiError;
use crate::core::{DEFAULT_PER_PAGE, MAX_PER_PAGE};

/// Query of cursor lists.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CursorQuery {
    /// 1–100, default 20.
    pub per_page: Option<usize>,
    /// From the previous page.
    pub cursor: Option<String>,
}

/// The page size asked for, or 422 when out of range.
pub fn per_page(p: Option<usize>) -> Result<usize, ApiError> {
    let n = p.unwrap_or(DEFAULT_PER_PAGE);
    if (1..=MAX_PER_PAGE).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::validation(
            "per_page",
            "out_of_range",
            format!("must be between 1 and {MAX_PER_PAGE}"),
        ))
    }
}
