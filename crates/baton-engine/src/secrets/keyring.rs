//! The key secrets are sealed with: XChaCha20-Poly1305, a random 24-byte nonce per value, and
//! the owner and name as associated data, so a sealed value cannot be moved to another secret
//! (or another user) and still open.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use baton_domain::{SealedSecret, SecretName, SecretValue, UserId};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The length of a key, in bytes.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// The secrets key. Its `Debug` never shows it.
#[derive(Clone)]
pub struct SecretsKey {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey([secret])")
    }
}

impl SecretsKey {
    /// A key from its standard base64 form (32 bytes: `openssl rand -base64 32`).
    pub fn from_base64(encoded: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| "is not base64 (make one with `openssl rand -base64 32`)".to_owned())?;
        if bytes.len() != KEY_BYTES {
            return Err(format!(
                "must be {KEY_BYTES} bytes once decoded, not {} (make one with `openssl rand \
                 -base64 32`)",
                bytes.len()
            ));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| format!("must be {KEY_BYTES} bytes once decoded"))?;
        Ok(Self { cipher })
    }

    /// A new random key and its base64 form.
    pub fn generate() -> (Self, String) {
        let bytes: [u8; KEY_BYTES] = rand::random();
        let encoded = STANDARD.encode(bytes);
        let cipher = XChaCha20Poly1305::new(&bytes.into());
        (Self { cipher }, encoded)
    }

    pub fn seal(
        &self,
        owner: UserId,
        name: &SecretName,
        value: &SecretValue,
    ) -> Result<SealedSecret, anyhow::Error> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let aad = associated(owner, name);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot seal the secret {name}"))?;
        Ok(SealedSecret {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// The value of a sealed secret; an error when it was sealed under another key (or for
    /// another secret), or was altered.
    pub fn open(
        &self,
        owner: UserId,
        name: &SecretName,
        sealed: &SealedSecret,
    ) -> Result<SecretValue, anyhow::Error> {
        if sealed.nonce.len() != NONCE_BYTES {
            anyhow::bail!("the stored secret {name} is damaged");
        }
        let aad = associated(owner, name);
        let clear = self
            .cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "the secret {name} does not open with this BATON_SECRETS_KEY (it was stored \
                     under another key, or altered)"
                )
            })?;
        let text = String::from_utf8(clear)
            .map_err(|_| anyhow::anyhow!("the stored secret {name} is not text"))?;
        SecretValue::new(text).map_err(|_| anyhow::anyhow!("the stored secret {name} is damaged"))
    }
}

fn associated(owner: UserId, name: &SecretName) -> Vec<u8> {
    let mut aad = owner.as_uuid().as_bytes().to_vec();
    aad.extend_from_slice(name.as_str().as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> SecretName {
        SecretName::new(s).unwrap()
    }

    #[test]
    fn sealed_values_open_only_for_their_owner_name_and_key() {
        let (key, encoded) = SecretsKey::generate();
        let same = SecretsKey::from_base64(&encoded).unwrap();
        let owner = UserId::generate();
        let value = SecretValue::new("sk-live-1234".into()).unwrap();
        let sealed = key.seal(owner, &name("API_KEY"), &value).unwrap();
        assert!(!sealed.ciphertext.windows(4).any(|w| w == b"live"));
        assert_eq!(same.open(owner, &name("API_KEY"), &sealed).unwrap(), value);
        assert!(key.open(owner, &name("OTHER"), &sealed).is_err());
        assert!(
            key.open(UserId::generate(), &name("API_KEY"), &sealed)
                .is_err()
        );
        let (other, _) = SecretsKey::generate();
        let err = other.open(owner, &name("API_KEY"), &sealed).unwrap_err();
        assert!(err.to_string().contains("another key"), "{err}");
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert!(key.open(owner, &name("API_KEY"), &altered).is_err());
        // A fresh nonce each time: the same value seals differently.
        assert_ne!(key.seal(owner, &name("API_KEY"), &value).unwrap(), sealed);
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SecretsKey::from_base64("not base64!").is_err());
        let short = STANDARD.encode([0u8; 16]);
        let err = SecretsKey::from_base64(&short).unwrap_err();
        assert!(err.contains("not 16"), "{err}");
        assert!(SecretsKey::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(!format!("{:?}", SecretsKey::generate().0).contains('='));
    }
}
