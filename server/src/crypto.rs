//! Secrets at rest: AES-256-GCM (RustCrypto's `aes-gcm`) under the master key, a random 96-bit
//! nonce per encryption, and associated data that binds each ciphertext to the row it belongs
//! to, so a ciphertext copied onto another row does not decrypt.
use aes_gcm::{
    Aes256Gcm, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

use crate::config::MasterKey;

/// A sealed secret as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Ciphertext with the GCM tag.
    pub ciphertext: Vec<u8>,
    /// The 12-byte nonce.
    pub nonce: Vec<u8>,
    /// Which master key sealed it.
    pub key_id: String,
}

/// A secret could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Sealed under another master key (rotation incomplete, or the wrong key configured).
    #[error("sealed under master key {0}, which this server does not have")]
    UnknownKey(String),
    /// Tampered with, moved to another row, or corrupt.
    #[error("the stored secret failed authentication")]
    Corrupt,
}

/// Seals and opens secrets under one master key.
pub struct SecretCipher {
    key_id: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCipher").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl SecretCipher {
    /// A cipher under `key`. Its id is a hash of the key: it names the key, reveals nothing.
    pub fn new(key: &MasterKey) -> Self {
        let digest = Sha256::new().chain_update(b"northstar-jira master key id\0").chain_update(key.bytes()).finalize();
        Self { key_id: hex::encode(&digest[..8]), cipher: Aes256Gcm::new_from_slice(key.bytes()).expect("32-byte key") }
    }

    /// The id of this cipher's master key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `secret`, bound to `context` (e.g. `credential:<id>`).
    pub fn seal(&self, secret: &str, context: &str) -> Sealed {
        let nonce: [u8; 12] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret.as_bytes(), aad: context.as_bytes() })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        Sealed { ciphertext, nonce: nonce.to_vec(), key_id: self.key_id.clone() }
    }

    /// Opens a sealed secret bound to `context`.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<SecretString, CryptoError> {
        if sealed.key_id != self.key_id {
            return Err(CryptoError::UnknownKey(sealed.key_id.clone()));
        }
        if sealed.nonce.len() != 12 {
            return Err(CryptoError::Corrupt);
        }
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: context.as_bytes() })
            .map_err(|_| CryptoError::Corrupt)?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| CryptoError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn seals_and_opens_bound_to_context() {
        let cipher = SecretCipher::new(&MasterKey::generate());
        let sealed = cipher.seal("atlassian-token", "credential:1");
        assert!(!sealed.ciphertext.windows(5).any(|w| w == b"atlas"));
        assert_eq!(cipher.open(&sealed, "credential:1").unwrap().expose_secret(), "atlassian-token");
        assert!(matches!(cipher.open(&sealed, "credential:2"), Err(CryptoError::Corrupt)));
        let again = cipher.seal("atlassian-token", "credential:1");
        assert_ne!(again.nonce, sealed.nonce, "nonces are random");
        let other = SecretCipher::new(&MasterKey::generate());
        assert!(matches!(other.open(&sealed, "credential:1"), Err(CryptoError::UnknownKey(_))));
        assert!(!format!("{cipher:?}").contains("cipher:"));
    }
}
