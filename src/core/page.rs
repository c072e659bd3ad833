//! Cursor pagination shared by every list: `{"data", "next_cursor", "has_more"}`.

use serde::Serialize;

use super::id::{Id, IdKind};

/// Default and largest page sizes from the API conventions.
pub const DEFAULT_PER_PAGE: usize = 20;
/// Largest page size a client may ask for.
pub const MAX_PER_PAGE: usize = 100;

/// One page of a list.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Page<T> {
    /// Items of this page.
    pub data: Vec<T>,
    /// Opaque cursor for the next page, `null` on the last.
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// A list that is never paged (it is bounded by the module that builds it): one last page.
    pub fn whole(items: Vec<T>) -> Page<T> {
        Page {
            data: items,
            next_cursor: None,
            has_more: false,
        }
    }

    /// The same page with each item converted (a stored record into its API view).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            has_more: self.has_more,
        }
    }

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

/// A key a list resumes after, written into `next_cursor` and read back from `?cursor=`.
pub trait Cursor: Sized {
    /// The opaque cursor text.
    fn to_cursor(&self) -> String;
    /// The key a cursor names; `None` when it is not one of this list's cursors.
    fn from_cursor(s: &str) -> Option<Self>;
}

impl<K: IdKind> Cursor for Id<K> {
    fn to_cursor(&self) -> String {
        encode_cursor(&self.to_bytes())
    }
    fn from_cursor(s: &str) -> Option<Self> {
        let b = <[u8; 16]>::try_from(decode_cursor(s)?).ok()?;
        Some(Id::from_bytes(b))
    }
}

impl Cursor for i64 {
    fn to_cursor(&self) -> String {
        encode_cursor(self.to_string().as_bytes())
    }
    fn from_cursor(s: &str) -> Option<Self> {
        String::from_utf8(decode_cursor(s)?).ok()?.parse().ok()
    }
}

impl Cursor for String {
    fn to_cursor(&self) -> String {
        encode_cursor(self.as_bytes())
    }
    fn from_cursor(s: &str) -> Option<Self> {
        String::from_utf8(decode_cursor(s)?).ok()
    }
}

/// A `?cursor=` that this list did not hand out; every module answers it as a 422 on `cursor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor returned by this list")]
pub struct BadCursor;

/// The key to resume after, from an optional `?cursor=`.
pub fn after<K: Cursor>(cursor: Option<&str>) -> Result<Option<K>, BadCursor> {
    cursor
        .map(|c| K::from_cursor(c).ok_or(BadCursor))
        .transpose()
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

    #[test]
    fn typed_cursors_round_trip_and_refuse_others() {
        let id = crate::core::OrderId::new(crate::core::Timestamp::from_millis(5));
        assert_eq!(
            after::<crate::core::OrderId>(Some(&id.to_cursor())),
            Ok(Some(id))
        );
        assert_eq!(after::<i64>(Some(&42i64.to_cursor())), Ok(Some(42)));
        assert_eq!(after::<String>(None), Ok(None));
        assert_eq!(
            after::<crate::core::OrderId>(Some(&42i64.to_cursor())),
            Err(BadCursor)
        );
        assert_eq!(after::<i64>(Some("zz")), Err(BadCursor));
    }
}
