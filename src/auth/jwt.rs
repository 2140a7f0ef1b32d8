//! JWTs: HS256 only, claims `sub, org, role, exp, iat, jti` plus `typ` (access or refresh). Tokens of
//! another algorithm, with a bad signature, expired, or of the other type are rejected.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use pytake_actors::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// Who a token is about.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub user_id: Uuid,
    pub org: Uuid,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub org: Uuid,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    pub typ: TokenType,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not a {0:?} token")]
    WrongType(TokenType),
    #[error("the token is invalid")]
    Invalid,
    #[error("cannot sign tokens: {0}")]
    Signing(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Expired => "token_expired",
            TokenError::WrongType(_) | TokenError::Invalid => "invalid_token",
            TokenError::Signing(_) => "internal_error",
        }
    }
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Result<Self, TokenError> {
        let encoding = EncodingKey::from_secret(secret).map_err(|e| TokenError::Signing(e.to_string()))?;
        let decoding = DecodingKey::from_secret(secret).map_err(|e| TokenError::Signing(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Ok(JwtKeys { encoding, decoding, validation })
    }

    /// Signs a token of type `typ` valid for `ttl_secs` from `now`.
    pub fn issue(
        &self,
        subject: Subject,
        typ: TokenType,
        jti: Uuid,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> Result<(String, Claims), TokenError> {
        let claims = Claims {
            sub: subject.user_id,
            org: subject.org,
            role: subject.role,
            iat: now.timestamp(),
            exp: now.timestamp() + ttl_secs,
            jti,
            typ,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok((token, claims))
    }

    /// Verifies signature, algorithm, expiry and type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        if data.claims.typ != expected {
            return Err(TokenError::WrongType(expected));
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"0123456789abcdef0123456789abcdef").expect("keys")
    }

    #[test]
    fn round_trip_and_type_check() {
        let k = keys();
        let (token, _) = k
            .issue(
                Subject { user_id: Uuid::now_v7(), org: Uuid::now_v7(), role: Role::Agent },
                TokenType::Access,
                Uuid::now_v7(),
                Utc::now(),
                60,
            )
            .expect("issue");
        assert!(k.verify(&token, TokenType::Access).is_ok());
        assert!(matches!(k.verify(&token, TokenType::Refresh), Err(TokenError::WrongType(_))));
    }

    #[test]
    fn expired_and_foreign_tokens_fail() {
        let k = keys();
        let past = Utc::now() - chrono::Duration::hours(1);
        let (token, _) = k
            .issue(
                Subject { user_id: Uuid::now_v7(), org: Uuid::now_v7(), role: Role::Agent },
                TokenType::Access,
                Uuid::now_v7(),
                past,
                60,
            )
            .expect("issue");
        assert!(matches!(k.verify(&token, TokenType::Access), Err(TokenError::Expired)));
        let other = JwtKeys::new(b"another-secret-another-secret-xx").expect("keys");
        let (token, _) = other
            .issue(
                Subject { user_id: Uuid::now_v7(), org: Uuid::now_v7(), role: Role::Agent },
                TokenType::Access,
                Uuid::now_v7(),
                Utc::now(),
                60,
            )
            .expect("issue");
        assert!(matches!(k.verify(&token, TokenType::Access), Err(TokenError::Invalid)));
    }

    #[test]
    fn alg_none_is_rejected() {
        let k = keys();
        let (token, _) = k
            .issue(
                Subject { user_id: Uuid::now_v7(), org: Uuid::now_v7(), role: Role::SuperAdmin },
                TokenType::Access,
                Uuid::now_v7(),
                Utc::now(),
                60,
            )
            .expect("issue");
        let payload = token.split('.').nth(1).expect("payload");
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let forged = format!("{header}.{payload}.");
        assert!(k.verify(&forged, TokenType::Access).is_err());
    }
}
