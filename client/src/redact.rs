//! Debug for the messages that carry secrets (build.rs skips their derived Debug): every
//! field is shown except the secret, so logging a request or response cannot leak it.
use std::fmt;

use crate::proto::*;

/// Shows whether a secret is present, never its value.
struct Secret<'a>(&'a str);

impl fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "[REDACTED]" })
    }
}

impl fmt::Debug for CreateApiKeyResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateApiKeyResponse").field("api_key", &Secret(&self.api_key)).field("key", &self.key).finish()
    }
}

impl fmt::Debug for CreateCredentialRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateCredentialRequest")
            .field("name", &self.name)
            .field("jira_url", &self.jira_url)
            .field("email", &self.email)
            .field("api_token", &Secret(&self.api_token))
            .finish()
    }
}

impl fmt::Debug for UpdateCredentialRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateCredentialRequest")
            .field("credential_id", &self.credential_id)
            .field("name", &self.name)
            .field("jira_url", &self.jira_url)
            .field("email", &self.email)
            .field("api_token", &Secret(&self.api_token))
            .field("update_mask", &self.update_mask)
            .finish()
    }
}

impl fmt::Debug for TestConnectionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestConnectionRequest")
            .field("credential_id", &self.credential_id)
            .field("jira_url", &self.jira_url)
            .field("email", &self.email)
            .field("api_token", &Secret(&self.api_token))
            .finish()
    }
}

/// The three responses that show a webhook secret once share one shape.
macro_rules! webhook_secret_debug {
    ($($message:ident),*) => {$(
        impl fmt::Debug for $message {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($message))
                    .field("configuration", &self.configuration)
                    .field("webhook_url", &self.webhook_url)
                    .field("webhook_secret", &Secret(&self.webhook_secret))
                    .finish()
            }
        }
    )*};
}
webhook_secret_debug!(CreateConfigurationResponse, UpdateConfigurationResponse, RotateWebhookSecretResponse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_secret() {
        let printed = [
            format!("{:?}", CreateApiKeyResponse { api_key: "s3cret-key".into(), key: None }),
            format!("{:?}", CreateCredentialRequest { api_token: "s3cret-tok".into(), ..Default::default() }),
            format!("{:?}", UpdateCredentialRequest { api_token: "s3cret-tok".into(), ..Default::default() }),
            format!("{:?}", TestConnectionRequest { api_token: "s3cret-tok".into(), ..Default::default() }),
            format!("{:?}", RotateWebhookSecretResponse { webhook_secret: "s3cret-hook".into(), ..Default::default() }),
        ];
        for text in printed {
            assert!(!text.contains("s3cret"), "{text}");
            assert!(text.contains("[REDACTED]"), "{text}");
        }
    }
}
