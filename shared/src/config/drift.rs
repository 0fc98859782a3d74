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

/// The shortest interval between sweeps: each lists every account at its provider.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

impl DriftConfig {
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        match self.every() {
            Some(every) if every < MIN_INTERVAL => vec![(
                "drift.interval",
                format!("must be 0s (off) or at least {MIN_INTERVAL:?}"),
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_of_zero_turns_the_sweep_off_and_a_tiny_one_is_refused() {
        let off = DriftConfig {
            interval: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(off.every(), None);
        assert!(off.problems().is_empty());
        let tiny = DriftConfig {
            interval: Duration::from_millis(5),
            ..Default::default()
        };
        assert_eq!(tiny.problems()[0].0, "drift.interval");
        assert_eq!(
            DriftConfig::default().every(),
            Some(Duration::from_secs(900))
        );
    }
}
