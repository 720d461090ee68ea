//! Access tokens: JWTs signed with HS256 by the server's secret, carrying `sub` (the user id),
//! `role`, `iat` and `exp`. Only HS256 is accepted: a token naming any other algorithm (`none`,
//! HS384, RS256, …) is refused before its signature is looked at.

use std::time::Duration;

use baton_domain::{Principal, Role, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The shortest secret accepted: 256 bits, the size of HS256's output.
pub const MIN_SECRET_BYTES: usize = 32;

/// Clock skew tolerated when checking `exp`.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// A token issued at login.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: Duration,
}

/// The signing and checking keys derived from the secret.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl JwtKeys {
    /// Keys for `secret`, issuing tokens valid for `ttl`. The caller has checked the secret's
    /// length ([`MIN_SECRET_BYTES`]).
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    pub fn issue(&self, principal: Principal) -> Result<AccessToken, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: *principal.user.as_uuid(),
            role: principal.role,
            iat: now,
            exp: now.saturating_add(ttl),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(AccessToken {
            token,
            expires_in: self.ttl,
        })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(Principal {
                user: UserId::from_uuid(data.claims.sub),
                role: data.claims.role,
            }),
            Err(err) if matches!(err.kind(), ErrorKind::ExpiredSignature) => {
                Err(TokenError::Expired)
            }
            Err(_) => Err(TokenError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> JwtKeys {
        JwtKeys::new(SECRET, Duration::from_secs(3600))
    }

    fn member() -> Principal {
        Principal {
            user: UserId::generate(),
            role: Role::Member,
        }
    }

    fn sign(alg: Algorithm, claims: &serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_claims() {
        let principal = member();
        let issued = keys().issue(principal).unwrap();
        assert_eq!(keys().verify(&issued.token), Ok(principal));
        let payload = issued.token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["sub"], json!(principal.user));
        assert_eq!(claims["role"], "member");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            3600
        );
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let now = chrono::Utc::now().timestamp();
        let user = UserId::generate();
        let claims =
            |exp: i64| json!({"sub": user, "role": "admin", "iat": now - 7200, "exp": exp});

        let expired = sign(Algorithm::HS256, &claims(now - 3600), SECRET);
        assert_eq!(keys().verify(&expired), Err(TokenError::Expired));

        let other_secret = sign(
            Algorithm::HS256,
            &claims(now + 3600),
            b"another secret of thirty-two bytes!!",
        );
        assert_eq!(keys().verify(&other_secret), Err(TokenError::Invalid));

        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = sign(alg, &claims(now + 3600), SECRET);
            assert_eq!(keys().verify(&token), Err(TokenError::Invalid), "{alg:?}");
        }

        let good = keys().issue(member()).unwrap().token;
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(
            json!({"sub": user, "role": "admin", "iat": now, "exp": now + 3600}).to_string(),
        );
        assert_eq!(keys().verify(&parts.join(".")), Err(TokenError::Invalid));

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(keys().verify(&unsigned), Err(TokenError::Invalid));

        let no_exp = sign(
            Algorithm::HS256,
            &json!({"sub": user, "role": "admin", "iat": now}),
            SECRET,
        );
        assert_eq!(keys().verify(&no_exp), Err(TokenError::Invalid));
        assert_eq!(keys().verify("garbage"), Err(TokenError::Invalid));
    }
}
