//! Rate limiting with `governor` (GCRA): `BATON_RATE_LIMIT_PER_MINUTE` requests per principal,
//! or per client IP for requests without valid credentials (login included). Bursts up to the
//! whole minute's quota are allowed; the quota then refills evenly.
//!
//! Every limited response carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! (seconds until the quota is full again); a refusal is a 429 `RATE_LIMITED` with `Retry-After`.
//! The health probes are exempt. The client IP is the peer address: behind a reverse proxy, all
//! anonymous callers share the proxy's budget (forwarded headers are not trusted).

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use baton_domain::UserId;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Governor};

use super::authn::Identity;
use crate::api::AppState;
use crate::error::ApiError;

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Whose budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    User(UserId),
    Ip(IpAddr),
}

/// The outcome for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { remaining: u32, reset: u64 },
    Limited { retry_after: u64, reset: u64 },
}

type Keyed =
    Governor<RateKey, DefaultKeyedStateStore<RateKey>, DefaultClock, StateInformationMiddleware>;

pub struct RateLimiter {
    governor: Keyed,
    limit: u32,
    checks: AtomicU64,
}

/// Forget idle keys every this many checks, so the key table does not grow without bound.
const CLEANUP_EVERY: u64 = 4_096;

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        let limit = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            governor: Governor::keyed(Quota::per_minute(limit))
                .with_middleware::<StateInformationMiddleware>(),
            limit: limit.get(),
            checks: AtomicU64::new(0),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The time one request's worth of quota takes to come back.
    fn interval(&self) -> Duration {
        Duration::from_secs(60) / self.limit
    }

    pub fn check(&self, key: &RateKey) -> Decision {
        if self.checks.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY == CLEANUP_EVERY - 1 {
            self.governor.retain_recent();
            self.governor.shrink_to_fit();
        }
        match self.governor.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = self.limit.saturating_sub(remaining);
                Decision::Allowed {
                    remaining,
                    reset: ceil_secs(self.interval() * used),
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.governor.clock().now());
                Decision::Limited {
                    retry_after: ceil_secs(wait).max(1),
                    reset: ceil_secs(wait + self.interval() * (self.limit - 1)),
                }
            }
        }
    }
}

fn set_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset: u64) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(reset));
}

/// Spends one unit of the caller's budget, or answers 429.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let exempt = matches!(req.path(), "/healthz" | "/readyz");
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let Some(state) = state.filter(|_| !exempt) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let principal = req
        .extensions()
        .get::<Identity>()
        .and_then(Identity::principal);
    let key = match principal {
        Some(principal) => RateKey::User(principal.user),
        None => RateKey::Ip(
            req.peer_addr()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip()),
        ),
    };
    let limiter = &state.limiter;
    match limiter.check(&key) {
        Decision::Allowed { remaining, reset } => {
            let mut response = next.call(req).await?.map_into_boxed_body();
            set_headers(response.headers_mut(), limiter.limit(), remaining, reset);
            Ok(response)
        }
        Decision::Limited { retry_after, reset } => {
            let error = ApiError::RateLimited {
                message: format!(
                    "too many requests: at most {} per minute; retry in {retry_after} s",
                    limiter.limit()
                ),
                retry_after,
            };
            let mut response = req.into_response(error.error_response());
            set_headers(response.headers_mut(), limiter.limit(), 0, reset);
            Ok(response)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_is_per_key_and_reports_what_is_left() {
        let limiter = RateLimiter::new(3);
        let a = RateKey::User(UserId::generate());
        let b = RateKey::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let remaining: Vec<Decision> = (0..3).map(|_| limiter.check(&a)).collect();
        assert!(
            matches!(
                remaining[..],
                [
                    Decision::Allowed { remaining: 2, .. },
                    Decision::Allowed { remaining: 1, .. },
                    Decision::Allowed {
                        remaining: 0,
                        reset: 60
                    }
                ]
            ),
            "{remaining:?}"
        );
        match limiter.check(&a) {
            Decision::Limited { retry_after, reset } => {
                assert!((1..=20).contains(&retry_after), "{retry_after}");
                assert!(reset >= retry_after && reset <= 60, "{reset}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(matches!(
            limiter.check(&b),
            Decision::Allowed { remaining: 2, .. }
        ));
    }
}
