//! `X-Hub-Signature-256`: `sha256=` and 64 hex characters, the HMAC-SHA256 of the raw body under the
//! app secret, compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not `sha256=<64 hex characters>`")]
    Malformed,
    #[error("the signature does not match")]
    Mismatch,
    #[error("no app secret is configured to check this delivery")]
    NoSecret,
}

/// The 32 signature bytes of a header value.
pub fn parse_header(value: Option<&str>) -> Result<[u8; 32], SignatureError> {
    let value = value.ok_or(SignatureError::Missing)?;
    let hex_part = value.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    if hex_part.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| SignatureError::Malformed)?;
    Ok(out)
}

/// Whether `signature` is the HMAC of `body` under `secret` (constant-time).
pub fn verify(secret: &[u8], body: &[u8], signature: &[u8; 32]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(signature).is_ok()
}

/// The header value for `body` under `secret` (tests and the load generator sign with this).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        assert_eq!(parse_header(None), Err(SignatureError::Missing));
        assert_eq!(parse_header(Some("sha1=abc")), Err(SignatureError::Malformed));
        assert_eq!(parse_header(Some("sha256=abc")), Err(SignatureError::Malformed));
        assert_eq!(parse_header(Some(&format!("sha256={}", "zz".repeat(32)))), Err(SignatureError::Malformed));
        let good = sign(b"secret", b"body");
        let sig = parse_header(Some(&good)).expect("parses");
        assert!(verify(b"secret", b"body", &sig));
        assert!(!verify(b"secret", b"bodx", &sig));
        assert!(!verify(b"other", b"body", &sig));
    }
}
