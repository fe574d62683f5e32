//! API key format: `nsj_<prefix>_<secret>`, where the prefix (12 hex characters) is a non-secret
//! lookup handle and the secret is 256 random bits in base64url. Only SHA-256 of the whole key is
//! stored: the secret has full entropy, so a slow password hash would add cost and no safety.
use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

const SCHEME: &str = "nsj";
const PREFIX_LEN: usize = 12;
const SECRET_LEN: usize = 43; // 32 bytes in unpadded base64url

/// A key freshly made: the full text is shown to its owner once.
pub struct NewKey {
    /// The lookup prefix, stored and shown in listings.
    pub prefix: String,
    /// What the caller presents; never stored.
    pub full: SecretString,
    /// SHA-256 of `full`, stored.
    pub hash: [u8; 32],
}

/// Makes a new random key.
pub fn generate() -> NewKey {
    let prefix = hex::encode(rand::random::<[u8; PREFIX_LEN / 2]>());
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let full = format!("{SCHEME}_{prefix}_{secret}");
    let hash = hash(&full);
    NewKey { prefix, full: SecretString::from(full), hash }
}

/// SHA-256 of a presented secret.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The prefix of a presented key, when it has the key's shape (not a check of its secret).
pub fn parse_prefix(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(SCHEME)?.strip_prefix('_')?;
    let (prefix, secret) = rest.split_once('_')?;
    let well_formed = prefix.len() == PREFIX_LEN
        && prefix.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.len() == SECRET_LEN
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some(prefix)
}

/// Constant-time comparison of a presented secret against a stored hash.
pub fn matches(presented: &str, stored_hash: &[u8]) -> bool {
    hash(presented).ct_eq(stored_hash).into()
}

/// Constant-time comparison of a presented token against the configured bootstrap token; both
/// are hashed first so neither length nor content leaks through timing.
pub fn matches_token(presented: &str, configured: &SecretString) -> bool {
    hash(presented).ct_eq(&hash(configured.expose_secret())).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_their_hash() {
        let key = generate();
        let full = key.full.expose_secret();
        assert_eq!(parse_prefix(full), Some(key.prefix.as_str()));
        assert!(matches(full, &key.hash));
        assert!(!matches(&format!("{full}x"), &key.hash));
        assert_ne!(generate().prefix, key.prefix);
    }

    #[test]
    fn garbled_keys_have_no_prefix() {
        for bad in ["", "nsj_", "nsj_abc_def", "xyz_0123456789ab_", "nsj_0123456789ab_short"] {
            assert_eq!(parse_prefix(bad), None, "{bad}");
        }
    }
}
