//! Protection of the API (DESIGN.md §5): authentication, rate limits, idempotency keys and CORS,
//! each a middleware. Order, outermost first: request context → CORS → authentication → rate
//! limit → compression → idempotency → routes. Authentication runs once and leaves an
//! [`authn::Identity`] in the request's extensions for the layers inside it.

pub mod authn;
pub mod cors;
pub mod idempotency;
pub mod rate_limit;
pub mod stream_slots;

pub use authn::{Authenticator, Identity};
pub use idempotency::{Idempotency, ReplayBody};
pub use rate_limit::RateLimiter;
pub use stream_slots::{StreamSlot, StreamSlots};
