//! Opaque secrets handed to clients (refresh tokens, emailed one-time tokens).
//!
//! The client gets the token; we store only its SHA-256. The token is 256 random
//! bits, so a plain (unsalted, fast) hash is enough: there is nothing to brute-force.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;

/// The text form of a token made from `random` (URL-safe, 43 characters).
pub fn encode(random: &[u8; TOKEN_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// Seals `secret` with a one-time pad derived from `key_token`, a random token
/// only its holder knows (we keep just its hash). Sealing again unseals. Used to
/// keep a rotated refresh token's successor, so a racing twin of the same refresh
/// can be handed the same pair without the database holding a usable token.
pub fn seal(key_token: &str, secret: &[u8; TOKEN_BYTES]) -> [u8; TOKEN_BYTES] {
    let pad = Sha256::new()
        .chain_update(b"kttipay refresh successor v1\0")
        .chain_update(key_token.as_bytes())
        .finalize();
    let mut out = [0u8; TOKEN_BYTES];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = secret[i] ^ pad[i];
    }
    out
}

/// Whether a presented secret equals the expected one, in time that does not
/// depend on where they differ (both are hashed first, so lengths leak nothing).
pub fn same(presented: &str, expected: &str) -> bool {
    let (a, b) = (hash(presented), hash(expected));
    a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What we store for a presented token.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Implements `Debug` for a struct that holds secrets: the listed plain fields as
/// usual, the secret ones as `***`, so a stray `{:?}` in a log line or a panic
/// message cannot leak a password, token or key.
///
/// ```
/// struct Login { email: String, password: String }
/// kttipay_domain::debug_redacted!(Login { email } secret { password });
/// let shown = format!("{:?}", Login { email: "a@b.c".into(), password: "hunter2".into() });
/// assert_eq!(shown, r#"Login { email: "a@b.c", password: "***" }"#);
/// ```
#[macro_export]
macro_rules! debug_redacted {
    ($ty:ident { $($field:ident),* $(,)? } secret { $($secret:ident),* $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    $(.field(stringify!($secret), &"***"))*
                    .finish()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn sealing_twice_unseals_and_needs_the_presented_token() {
        let successor = [7u8; TOKEN_BYTES];
        let sealed = seal("old-token", &successor);
        assert_ne!(sealed, successor);
        assert_eq!(seal("old-token", &sealed), successor);
        assert_ne!(seal("another-token", &sealed), successor);
    }

    use super::*;

    #[test]
    fn tokens_are_url_safe_and_hash_stably() {
        let t = encode(&[0xfb; TOKEN_BYTES]);
        assert_eq!(t.len(), 43);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(hash(&t), hash(&t));
        assert_ne!(hash(&t), hash("other"));
    }
}
