//! Verified API keys kept in memory (a [`Memo`]), so an authenticated call costs no database
//! round trip. A key's access changes only by revocation (or its tenant's removal); the table's
//! trigger announces those on [`CHANNEL`].
use std::time::Duration;

use crate::{db::tenants::ApiKey, memo::Memo};

/// The channel the `api_keys` trigger notifies.
pub const CHANNEL: &str = "api_keys_changed";

/// Keys by lookup prefix.
pub type KeyCache = Memo<String, ApiKey>;

/// A key cache listening on the database at `url`.
pub fn listening(url: &str) -> KeyCache {
    Memo::listening(url, CHANNEL, Duration::from_secs(30), 10_000)
}
