//! Cursor pagination shared by every list: `{"data", "next_cursor", "has_more"}`.

use serde::Serialize;

/// Default and largest page sizes from the API conventions.
pub const DEFAULT_PER_PAGE: usize = 20;
/// Largest page size a client may ask for.
pub const MAX_PER_PAGE: usize = 100;

/// One page of a list.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Page<T> {
    /// Items of this page.
    pub data: Vec<T>,
    /// Opaque cursor for the next page, `null` on the last.
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from up to `per_page + 1` items read in list order: the extra item only
    /// says that more follow; the cursor names the last item kept.
    pub fn from_overfetch(
        mut items: Vec<T>,
        per_page: usize,
        cursor_of: impl Fn(&T) -> String,
    ) -> Page<T> {
        let has_more = items.len() > per_page;
        items.truncate(per_page);
        let next_cursor = if has_more {
            items.last().map(cursor_of)
        } else {
            None
        };
        Page {
            data: items,
            next_cursor,
            has_more,
        }
    }
}

/// Encodes a cursor (an opaque lowercase hex string of the last key).
pub fn encode_cursor(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes [`encode_cursor`]; `None` for anything malformed.
pub fn decode_cursor(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 2048 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let b = b"key\x00\xff".to_vec();
        assert_eq!(decode_cursor(&encode_cursor(&b)), Some(b));
        assert_eq!(decode_cursor("zz"), None);
        assert_eq!(decode_cursor("abc"), None);
    }
}
