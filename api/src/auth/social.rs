//! Social sign-in: verifying a Google or Apple ID token.
//!
//! The token is a JWT signed with one of the provider's keys, published as a JWKS.
//! We check the signature with the key named by the token's `kid`, and that `iss`
//! is the provider, `aud` is one of our client ids and `exp` has not passed.

use crate::error::ApiError;
use crate::state::SocialProvider;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// Keys are refetched after this long even if every `kid` is known (rotation).
pub const JWKS_CACHE_TTL_SECS: u64 = 3600;
/// An unknown `kid` triggers a refetch, but not more often than this: forged
/// tokens with random `kid`s must not make us hammer the provider.
pub const JWKS_MIN_REFETCH_SECS: u64 = 60;
pub const JWKS_FETCH_TIMEOUT_SECS: u64 = 5;

/// What we use from a verified ID token.
#[derive(Debug, Clone)]
pub struct SocialIdentity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    email: Option<String>,
    /// Google sends a boolean, Apple the string "true".
    email_verified: Option<serde_json::Value>,
    given_name: Option<String>,
    family_name: Option<String>,
}

struct CachedSet {
    keys: JwkSet,
    fetched_at: Instant,
}

pub struct JwksCache {
    http: reqwest::Client,
    sets: RwLock<HashMap<String, CachedSet>>,
}

impl Default for JwksCache {
    fn default() -> Self {
        Self::new()
    }
}

impl JwksCache {
    pub fn new() -> JwksCache {
        JwksCache {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(JWKS_FETCH_TIMEOUT_SECS))
                .build()
                .expect("a plain reqwest client builds"),
            sets: RwLock::new(HashMap::new()),
        }
    }

    /// Verifies `id_token` for `provider`. Invalid tokens are 401; an unreachable
    /// key server is a 503-style internal failure, not the user's fault.
    pub async fn verify(&self, provider: &SocialProvider, id_token: &str) -> Result<SocialIdentity, ApiError> {
        let invalid = || ApiError::unauthorized("invalid_id_token", "The ID token could not be verified.");
        let header = decode_header(id_token).map_err(|_| invalid())?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(invalid());
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let key = self.key_for(&provider.jwks_url, &kid).await?.ok_or_else(invalid)?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&provider.audiences);
        validation.set_issuer(&provider.issuers);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<IdClaims>(id_token, &key, &validation)
            .map_err(|_| invalid())?
            .claims;
        let email_verified = match claims.email_verified {
            Some(serde_json::Value::Bool(b)) => b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        };
        Ok(SocialIdentity {
            subject: claims.sub,
            email: claims.email,
            email_verified,
            given_name: claims.given_name,
            family_name: claims.family_name,
        })
    }

    async fn key_for(&self, url: &str, kid: &str) -> Result<Option<DecodingKey>, ApiError> {
        let (known, stale, may_refetch) = {
            let sets = self.sets.read().await;
            match sets.get(url) {
                Some(set) => {
                    let age = set.fetched_at.elapsed();
                    (
                        set.keys.find(kid).and_then(|jwk| DecodingKey::from_jwk(jwk).ok()),
                        age > Duration::from_secs(JWKS_CACHE_TTL_SECS),
                        age > Duration::from_secs(JWKS_MIN_REFETCH_SECS),
                    )
                }
                None => (None, true, true),
            }
        };
        if known.is_some() && !stale {
            return Ok(known);
        }
        if !may_refetch {
            return Ok(known);
        }
        let fetched = self.fetch(url).await;
        let mut sets = self.sets.write().await;
        match fetched {
            Ok(keys) => {
                let key = keys.find(kid).and_then(|jwk| DecodingKey::from_jwk(jwk).ok());
                sets.insert(
                    url.to_string(),
                    CachedSet {
                        keys,
                        fetched_at: Instant::now(),
                    },
                );
                Ok(key)
            }
            // Keep serving a stale set if we have one: the provider being down
            // should not sign everybody out of social login at once.
            Err(e) if known.is_some() => {
                tracing::warn!(error = %e, url, "JWKS refresh failed; using cached keys");
                Ok(known)
            }
            Err(e) => Err(ApiError::internal(format!("JWKS fetch from {url}: {e}"))),
        }
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, reqwest::Error> {
        self.http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json::<JwkSet>()
            .await
    }
}
