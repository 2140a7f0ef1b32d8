//! Argon2id password hashing, run on the blocking pool so it never stalls the async workers.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, verified against when the account does not exist so a login
    /// takes the same time whether or not the email is known.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, PasswordError> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| PasswordError::Params(e.to_string()))?;
        let mut hasher = PasswordHasher { params, dummy_hash: String::new() };
        hasher.dummy_hash = hasher.hash_blocking(&crate::config::random_token(24))?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_blocking(&self, password: &str) -> Result<String, PasswordError> {
        let hash: PasswordHash =
            self.argon2().hash_password(password.as_bytes()).map_err(|e| PasswordError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    }

    /// Hashes a password (PHC string) on the blocking pool.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.hash_blocking(&password)).await?
    }

    /// Verifies a password against a stored PHC hash on the blocking pool. `None` verifies against a
    /// dummy hash and always fails, spending the same time.
    pub async fn verify(&self, stored: Option<String>, password: String) -> Result<bool, PasswordError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let known = stored.is_some();
            let stored = stored.unwrap_or_else(|| me.dummy_hash.clone());
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return false;
            };
            me.argon2().verify_password(password.as_bytes(), &parsed).is_ok() && known
        })
        .await
        .map_err(PasswordError::from)
    }
}

/// Password policy: length bounds and not all one character class of whitespace.
pub fn password_problem(password: &str) -> Option<String> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Some(format!("must be at least {MIN_PASSWORD_LEN} characters"));
    }
    if len > MAX_PASSWORD_LEN {
        return Some(format!("must be at most {MAX_PASSWORD_LEN} characters"));
    }
    if password.trim().is_empty() {
        return Some("must not be blank".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = PasswordHasher::new(1024, 1).expect("params");
        let stored = h.hash("correct horse battery".into()).await.expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify(Some(stored.clone()), "correct horse battery".into()).await.expect("verify"));
        assert!(!h.verify(Some(stored), "wrong password!".into()).await.expect("verify"));
        assert!(!h.verify(None, "anything at all".into()).await.expect("verify"));
    }
}
