//! Per-client-IP rate limiting of login attempts (governor GCRA, `auth.login_rate_per_minute` with the
//! same burst). Over the limit: 429 with `Retry-After`.

use crate::http::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct KeyedLimiter<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl<K: std::hash::Hash + Eq + Clone> KeyedLimiter<K> {
    /// `per_minute` requests a minute per key, with a burst of the same size.
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        KeyedLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Admits one request for `key`, or says how long to wait.
    pub fn check(&self, key: &K) -> Result<(), ApiError> {
        // Forget idle keys now and then so the map does not grow without bound.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited { retry_after_secs: wait.as_secs().max(1) }
        })
    }
}

pub type LoginLimiter = KeyedLimiter<IpAddr>;
