//! `[drift]`: the periodic comparison of each account's servers with our jobs
//! (issue 13 point 3).

use serde::Deserialize;
use std::time::Duration;

/// `[drift]`: how often one worker (a lease in Redis picks it) lists every account's
/// servers at its provider and compares them with the jobs. Findings are only
/// reported (`GET /v1/drift`), never acted on.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftConfig {
    /// `false` (or an `interval` of `0s`) turns the sweep off.
    pub enabled: bool,
    /// Time between two sweeps, across all workers.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            enabled: true,
            interval: Duration::from_secs(15 * 60),
        }
    }
}

impl DriftConfig {
    /// The interval between sweeps, `None` when the sweep is off.
    pub fn every(&self) -> Option<Duration> {
        (self.enabled && !self.interval.is_zero()).then_some(self.interval)
    }
}
