//! `page_size` / `page_token` for every List RPC. Lists are ordered by id (UUIDv7, so by
//! creation); the token is the last id of the page, opaque to callers.
use base64::Engine as _;
use uuid::Uuid;

use crate::error::ApiError;

/// Page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest page a caller can ask for; larger requests are capped, not refused.
pub const MAX_PAGE_SIZE: i64 = 1000;

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Rows to return.
    pub size: i64,
    /// Return rows with ids after this one.
    pub after: Option<Uuid>,
}

impl Page {
    /// Parses the two request fields.
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self, ApiError> {
        let size = match page_size {
            n if n < 0 => return Err(ApiError::invalid("page_size", "must not be negative")),
            0 => DEFAULT_PAGE_SIZE,
            n => i64::from(n).min(MAX_PAGE_SIZE),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(page_token)
                .map_err(|_| ApiError::invalid("page_token", "is not a token this server issued"))?;
            Some(
                Uuid::from_slice(&bytes)
                    .map_err(|_| ApiError::invalid("page_token", "is not a token this server issued"))?,
            )
        };
        Ok(Self { size, after })
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.size + 1
    }

    /// Trims the extra row and returns the token of the next page ("" on the last one).
    pub fn finish<T>(&self, rows: &mut Vec<T>, id: impl Fn(&T) -> Uuid) -> String {
        if rows.len() as i64 <= self.size {
            return String::new();
        }
        rows.truncate(self.size as usize);
        rows.last()
            .map(|last| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id(last).as_bytes()))
            .unwrap_or_default()
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
        let token = page.finish(&mut rows, |u| *u);
        assert_eq!(rows, ids[..2]);
        let next = Page::parse(2, &token).unwrap();
        assert_eq!(next.after, Some(ids[1]));
        let mut last = vec![ids[2]];
        assert_eq!(next.finish(&mut last, |u| *u), "");
    }

    #[test]
    fn bad_requests_name_the_field() {
        assert!(Page::parse(-1, "").unwrap_err().to_string().starts_with("page_size"));
        assert!(Page::parse(1, "%%").unwrap_err().to_string().starts_with("page_token"));
        assert_eq!(Page::parse(1_000_000, "").unwrap().size, MAX_PAGE_SIZE);
    }
}
