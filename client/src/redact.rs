//! Debug for the messages that carry secrets (build.rs skips their derived Debug): every
//! field is shown except the secret, so logging a request or response cannot leak it.
use std::fmt;

use crate::proto::*;

const REDACTED: &str = "[REDACTED]";

impl fmt::Debug for CreateApiKeyResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateApiKeyResponse")
            .field("api_key", &REDACTED)
            .field("key", &self.key)
            .finish()
    }
}
