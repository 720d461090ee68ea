#![doc = include_str!("../README.md")]

pub mod api_keys;
pub mod passwords;
pub mod tokens;

pub use api_keys::{GeneratedKey, generate_api_key, hash_api_key, looks_like_api_key};
pub use passwords::{PasswordError, hash_password, verify_password, verify_unknown_user};
pub use tokens::{AccessToken, Claims, JwtKeys, MIN_SECRET_BYTES, TokenError};
