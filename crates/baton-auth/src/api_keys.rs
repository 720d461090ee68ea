//! API keys: `baton_` followed by 256 random bits in base64url. Only their SHA-256 is stored;
//! a high-entropy key needs no slow hash, and a plain digest can be looked up directly.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use baton_domain::KeyHash;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every key starts with this, so a bearer token can be told from a JWT at a glance (and secret
/// scanners can recognise leaked keys).
pub const KEY_PREFIX: &str = "baton_";

/// How many characters of a key are kept to recognise it in lists.
const SHOWN_CHARS: usize = 12;

/// A new key: `key` is shown to its owner once; `hash` and `prefix` are stored.
pub struct GeneratedKey {
    pub key: String,
    pub prefix: String,
    pub hash: KeyHash,
}

pub fn generate_api_key() -> GeneratedKey {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    GeneratedKey {
        prefix: key.chars().take(SHOWN_CHARS).collect(),
        hash: hash_api_key(&key),
        key,
    }
}

pub fn hash_api_key(key: &str) -> KeyHash {
    KeyHash(Sha256::digest(key.as_bytes()).into())
}

/// Whether a bearer token is an API key rather than a JWT.
pub fn looks_like_api_key(token: &str) -> bool {
    token.starts_with(KEY_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert_ne!(a.key, b.key);
        assert!(looks_like_api_key(&a.key));
        assert_eq!(a.key.len(), KEY_PREFIX.len() + 43);
        assert!(a.key.starts_with(&a.prefix));
        assert_eq!(a.hash, hash_api_key(&a.key));
        assert_ne!(a.hash, b.hash);
        assert!(!looks_like_api_key("eyJhbGciOiJIUzI1NiJ9.e30.x"));
    }
}
