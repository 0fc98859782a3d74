//! Admission of provider calls per account: a token bucket in Redis shared by every
//! worker (`rate_limit = "10/s"`), and a pause for the whole account when a provider
//! answers 429 with a Retry-After. Every client sends through its `Gate`.

use crate::step::CallError;
use provisioner_shared::config::RateLimit;
use provisioner_shared::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Calls per second when an account sets no `rate_limit`: gentle on providers that
/// publish no limit, far above what a provisioning workload needs.
pub const DEFAULT_RATE: RateLimit = RateLimit {
    per_second: 10.0,
    burst: 10,
};

/// The longest a step waits in line inside one attempt; beyond that the step is
/// rescheduled, so a slow account does not hold worker slots. It is also capped at a
/// quarter of the step timeout: a money call must never be cut by the step timeout
/// while it waits here (its intent is written; it would need reconciling for nothing).
const MAX_QUEUE: Duration = Duration::from_secs(3);

/// A pause after a 429 without Retry-After.
const DEFAULT_PAUSE: Duration = Duration::from_secs(5);

#[derive(Clone, Default)]
pub struct Gate {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    store: Store,
    account: String,
    provider: &'static str,
    rate: RateLimit,
    max_queue: Duration,
}

impl Gate {
    /// No limits (unit tests of a client).
    pub fn unlimited() -> Gate {
        Gate { inner: None }
    }

    pub fn new(
        store: Store,
        account: &str,
        provider: &'static str,
        rate: Option<RateLimit>,
    ) -> Gate {
        Gate {
            inner: Some(Arc::new(Inner {
                store,
                account: account.to_owned(),
                provider,
                rate: rate.unwrap_or(DEFAULT_RATE),
                max_queue: MAX_QUEUE,
            })),
        }
    }

    /// Waits in line at most `max` (and never more than 3 s) inside one attempt.
    pub fn with_max_queue(self, max: Duration) -> Gate {
        Gate {
            inner: self.inner.map(|g| {
                Arc::new(Inner {
                    store: g.store.clone(),
                    account: g.account.clone(),
                    provider: g.provider,
                    rate: g.rate,
                    max_queue: max.min(MAX_QUEUE),
                })
            }),
        }
    }

    /// Waits for this account's turn. Past a short wait, answers `RateLimited`, which
    /// reschedules the step (nothing was sent, so even a money step may call later).
    pub async fn admit(&self) -> Result<(), CallError> {
        let Some(g) = &self.inner else {
            return Ok(());
        };
        let mut waited = Duration::ZERO;
        loop {
            let wait = match g
                .store
                .rate_take(&g.account, g.rate.per_second, g.rate.burst)
                .await
            {
                Ok(w) => w,
                Err(e) => {
                    // Fail open: the provider's own limiter still protects it.
                    tracing::debug!(account = %g.account, error = %e, "rate limiter unavailable");
                    return Ok(());
                }
            };
            if wait.is_zero() {
                return Ok(());
            }
            if waited + wait > g.max_queue {
                return Err(CallError::RateLimited {
                    provider: g.provider,
                    retry_after: Some(wait),
                });
            }
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// A provider said 429: every worker holds this account's calls for a while.
    pub async fn slow_down(&self, retry_after: Option<Duration>) {
        let Some(g) = &self.inner else {
            return;
        };
        let pause = retry_after
            .unwrap_or(DEFAULT_PAUSE)
            .min(Duration::from_secs(3600));
        tracing::warn!(account = %g.account, pause_ms = pause.as_millis() as u64, "provider rate limit: pausing the account");
        if let Err(e) = g.store.rate_pause(&g.account, pause).await {
            tracing::debug!(account = %g.account, error = %e, "cannot record the pause");
        }
    }
}
