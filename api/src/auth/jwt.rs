//! Access tokens: HS256 JWTs naming the user and the session. Short-lived, and
//! checked against the session on every request, so logout and blocking bite at once.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use kttipay_domain::ids::{SessionId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const ISSUER: &str = "kttipay";
/// Tolerated clock difference between API replicas.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    iss: String,
    iat: i64,
    exp: i64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_secs: i64,
}

impl JwtKeys {
    pub fn new(secret: &str, ttl_secs: i64) -> Result<JwtKeys, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = LEEWAY_SECS;
        let bad = |e: jsonwebtoken::errors::Error| format!("JWT secret: {e}");
        Ok(JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()).map_err(bad)?,
            decoding: DecodingKey::from_secret(secret.as_bytes()).map_err(bad)?,
            validation,
            ttl_secs,
        })
    }

    pub fn issue(&self, user: UserId, session: SessionId) -> String {
        self.issue_at(user, session, chrono::Utc::now().timestamp())
    }

    /// A token issued at `iat` (unix seconds). HS256 is deterministic, so the same
    /// arguments give the same token: a refresh's racing twin gets the same one.
    pub fn issue_at(&self, user: UserId, session: SessionId, iat: i64) -> String {
        let claims = Claims {
            sub: user.0,
            sid: session.0,
            iss: ISSUER.into(),
            iat,
            exp: iat + self.ttl_secs,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 encoding cannot fail")
    }

    /// The user and session of a valid, unexpired token.
    pub fn verify(&self, token: &str) -> Option<(UserId, SessionId)> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        Some((UserId(data.claims.sub), SessionId(data.claims.sid)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forgery() {
        let keys = JwtKeys::new("secret-one-that-is-long-enough", 60).unwrap();
        let (u, s) = (UserId::new(), SessionId::new());
        let token = keys.issue(u, s);
        assert_eq!(keys.verify(&token), Some((u, s)));
        let other = JwtKeys::new("another-secret-that-is-long", 60).unwrap();
        assert_eq!(other.verify(&token), None);
        let expired = JwtKeys::new("secret-one-that-is-long-enough", -60).unwrap();
        assert_eq!(keys.verify(&expired.issue(u, s)), None);
        assert_eq!(keys.verify("not.a.jwt"), None);
    }
}
