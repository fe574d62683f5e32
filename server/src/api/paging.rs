//! `page_size` / `page_token` for every List RPC. Lists are ordered by a unique key (a UUIDv7,
//! so creation order, or an application id); the token is the last key of the page, opaque to
//! callers.
use base64::Engine as _;
use uuid::Uuid;

use crate::error::ApiError;

/// Page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest page a caller can ask for; larger requests are capped, not refused.
pub const MAX_PAGE_SIZE: i64 = 1000;

/// The last key of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// A UUID key.
    Id(Uuid),
    /// A text key.
    Text(String),
}

/// A validated page request.
#[derive(Debug, Clone)]
pub struct Page {
    /// Rows to return.
    pub size: i64,
    cursor: Option<Cursor>,
}

fn bad_token() -> ApiError {
    ApiError::invalid("page_token", "is not a token this server issued")
}

impl Page {
    /// Parses the two request fields.
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self, ApiError> {
        let size = match page_size {
            n if n < 0 => return Err(ApiError::invalid("page_size", "must not be negative")),
            0 => DEFAULT_PAGE_SIZE,
            n => i64::from(n).min(MAX_PAGE_SIZE),
        };
        let cursor = if page_token.is_empty() {
            None
        } else {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(page_token).map_err(|_| bad_token())?;
            Some(match bytes.split_first() {
                Some((b'u', rest)) => Cursor::Id(Uuid::from_slice(rest).map_err(|_| bad_token())?),
                Some((b't', rest)) => Cursor::Text(String::from_utf8(rest.to_vec()).map_err(|_| bad_token())?),
                _ => return Err(bad_token()),
            })
        };
        Ok(Self { size, cursor })
    }

    /// The UUID after which this page starts; a text token here is not one we issued.
    pub fn after(&self) -> Result<Option<Uuid>, ApiError> {
        match &self.cursor {
            None => Ok(None),
            Some(Cursor::Id(id)) => Ok(Some(*id)),
            Some(Cursor::Text(_)) => Err(bad_token()),
        }
    }

    /// The text key after which this page starts.
    pub fn after_text(&self) -> Result<Option<String>, ApiError> {
        match &self.cursor {
            None => Ok(None),
            Some(Cursor::Text(t)) => Ok(Some(t.clone())),
            Some(Cursor::Id(_)) => Err(bad_token()),
        }
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.size + 1
    }

    /// Trims the extra row and returns the token of the next page ("" on the last one).
    pub fn finish<T>(&self, rows: &mut Vec<T>, key: impl Fn(&T) -> Cursor) -> String {
        if rows.len() as i64 <= self.size {
            return String::new();
        }
        rows.truncate(self.size as usize);
        let Some(last) = rows.last() else { return String::new() };
        let bytes = match key(last) {
            Cursor::Id(id) => [b"u".as_slice(), id.as_bytes()].concat(),
            Cursor::Text(t) => [b"t".as_slice(), t.as_bytes()].concat(),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_trip() {
        let page = Page::parse(2, "").unwrap();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let mut rows = ids.clone();
        let token = page.finish(&mut rows, |u| Cursor::Id(*u));
        assert_eq!(rows, ids[..2]);
        let next = Page::parse(2, &token).unwrap();
        assert_eq!(next.after().unwrap(), Some(ids[1]));
        assert!(next.after_text().is_err());
        let mut last = vec![ids[2]];
        assert_eq!(next.finish(&mut last, |u| Cursor::Id(*u)), "");
        let mut apps = vec!["a".to_string(), "b".to_string()];
        let token = Page::parse(1, "").unwrap().finish(&mut apps, |a| Cursor::Text(a.clone()));
        assert_eq!(Page::parse(1, &token).unwrap().after_text().unwrap().as_deref(), Some("a"));
    }

    #[test]
    fn bad_requests_name_the_field() {
        assert!(Page::parse(-1, "").unwrap_err().to_string().starts_with("page_size"));
        assert!(Page::parse(1, "%%").unwrap_err().to_string().starts_with("page_token"));
        assert!(Page::parse(1, "eA").unwrap_err().to_string().starts_with("page_token"));
        assert_eq!(Page::parse(1_000_000, "").unwrap().size, MAX_PAGE_SIZE);
    }
}
