//! Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with `security.encryption_key`, and the
//! constant-time comparisons and hashes used for tokens.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("security.encryption_key is not a Fernet key")]
    BadKey,
    #[error("a stored secret cannot be decrypted with the configured key")]
    Undecryptable,
}

#[derive(Clone)]
pub struct SecretBox {
    fernet: std::sync::Arc<fernet::Fernet>,
}

impl SecretBox {
    pub fn new(key: &str) -> Result<Self, CryptoError> {
        let fernet = fernet::Fernet::new(key).ok_or(CryptoError::BadKey)?;
        Ok(SecretBox { fernet: std::sync::Arc::new(fernet) })
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        self.fernet.encrypt(plaintext.as_bytes())
    }

    pub fn decrypt(&self, token: &str) -> Result<String, CryptoError> {
        let bytes = self.fernet.decrypt(token).map_err(|_| CryptoError::Undecryptable)?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Undecryptable)
    }
}

/// Compares two byte strings in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Hex SHA-256, for indexing a token without storing it.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let a = SecretBox::new(&fernet::Fernet::generate_key()).expect("key");
        let b = SecretBox::new(&fernet::Fernet::generate_key()).expect("key");
        let sealed = a.encrypt("EAAG-token");
        assert_ne!(sealed, "EAAG-token");
        assert_eq!(a.decrypt(&sealed).expect("decrypts"), "EAAG-token");
        assert!(b.decrypt(&sealed).is_err());
        assert!(SecretBox::new("short").is_err());
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
