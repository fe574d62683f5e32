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

/// Seals under the current master key; opens under it or under a previous one, so secrets stay
/// readable while a rotation re-seals them (`crate::rotation`).
pub struct SecretCipher {
    current: KeyedCipher,
    previous: Vec<KeyedCipher>,
}

struct KeyedCipher {
    key_id: String,
    cipher: Aes256Gcm,
}

impl KeyedCipher {
    fn new(key: &MasterKey) -> Self {
        // The id is a hash of the key: it names the key, reveals nothing.
        let digest = Sha256::new().chain_update(b"northstar-jira master key id\0").chain_update(key.bytes()).finalize();
        Self { key_id: hex::encode(&digest[..8]), cipher: Aes256Gcm::new_from_slice(key.bytes()).expect("32-byte key") }
    }
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let previous: Vec<&str> = self.previous.iter().map(|k| k.key_id.as_str()).collect();
        f.debug_struct("SecretCipher")
            .field("key_id", &self.current.key_id)
            .field("previous", &previous)
            .finish_non_exhaustive()
    }
}

impl SecretCipher {
    /// A cipher under `key` alone.
    pub fn new(key: &MasterKey) -> Self {
        Self::with_previous(key, &[])
    }

    /// A cipher that seals under `key` and still opens what `previous` keys sealed.
    pub fn with_previous(key: &MasterKey, previous: &[MasterKey]) -> Self {
        let current = KeyedCipher::new(key);
        let previous = previous.iter().map(KeyedCipher::new).filter(|k| k.key_id != current.key_id).collect();
        Self { current, previous }
    }

    /// The id of the current master key.
    pub fn key_id(&self) -> &str {
        &self.current.key_id
    }

    /// The ids of the keys this cipher opens but no longer seals under.
    pub fn previous_key_ids(&self) -> Vec<String> {
        self.previous.iter().map(|k| k.key_id.clone()).collect()
    }

    /// Seals `secret`, bound to `context` (e.g. `credential:<id>`), under the current key.
    pub fn seal(&self, secret: &str, context: &str) -> Sealed {
        let nonce: [u8; 12] = rand::random();
        let ciphertext = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret.as_bytes(), aad: context.as_bytes() })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        Sealed { ciphertext, nonce: nonce.to_vec(), key_id: self.current.key_id.clone() }
    }

    /// Opens a sealed secret bound to `context`, under whichever known key sealed it.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<SecretString, CryptoError> {
        let keyed = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.key_id == sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 12 {
            return Err(CryptoError::Corrupt);
        }
        let plain = keyed
            .cipher
            .decrypt(Nonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: context.as_bytes() })
            .map_err(|_| CryptoError::Corrupt)?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| CryptoError::Corrupt)
    }

    /// The same secret sealed under the current key.
    pub fn reseal(&self, sealed: &Sealed, context: &str) -> Result<Sealed, CryptoError> {
        use secrecy::ExposeSecret as _;
        Ok(self.seal(self.open(sealed, context)?.expose_secret(), context))
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

    #[test]
    fn a_rotated_cipher_opens_old_secrets_and_reseals_them_under_the_new_key() {
        let (old_key, new_key) = (MasterKey::generate(), MasterKey::generate());
        let old = SecretCipher::new(&old_key);
        let sealed = old.seal("atlassian-token", "credential:1");
        let rotated = SecretCipher::with_previous(&new_key, &[old_key]);
        assert_eq!(rotated.open(&sealed, "credential:1").unwrap().expose_secret(), "atlassian-token");
        let resealed = rotated.reseal(&sealed, "credential:1").unwrap();
        assert_eq!(resealed.key_id, rotated.key_id());
        assert_ne!(resealed.key_id, sealed.key_id);
        assert!(matches!(old.open(&resealed, "credential:1"), Err(CryptoError::UnknownKey(_))));
        assert!(matches!(rotated.reseal(&sealed, "credential:2"), Err(CryptoError::Corrupt)));
        let debug = format!("{rotated:?}");
        assert!(debug.contains(&sealed.key_id) && !debug.contains("atlassian"), "{debug}");
    }
}
