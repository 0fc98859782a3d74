//! Virtual time: a simulator's processes (delivery, install stages) run on a clock
//! that goes `factor` times faster than the wall clock, so an hour-long install
//! takes seconds in a test. Nothing ticks: state is computed from timestamps when
//! someone looks (a request, or the settler at the next due time).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::watch;

/// A point in virtual time, counted from the clock's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct VirtualTime(Duration);

impl VirtualTime {
    /// The clock's start.
    pub const ZERO: VirtualTime = VirtualTime(Duration::ZERO);

    /// A point `elapsed` after the clock's start.
    pub fn from_start(elapsed: Duration) -> Self {
        VirtualTime(elapsed)
    }

    /// Virtual time elapsed since the clock's start.
    pub fn since_start(self) -> Duration {
        self.0
    }

    /// Virtual time from `earlier` to `self` (zero when `earlier` is later).
    pub fn saturating_since(self, earlier: VirtualTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::ops::Add<Duration> for VirtualTime {
    type Output = VirtualTime;
    fn add(self, rhs: Duration) -> VirtualTime {
        VirtualTime(self.0.saturating_add(rhs))
    }
}

/// The clock's state; `now_at` is pure so the arithmetic is testable without sleeping.
#[derive(Debug, Clone)]
struct Anchor {
    real: Instant,
    virtual_elapsed: Duration,
    factor: f64,
}

impl Anchor {
    fn now_at(&self, real: Instant) -> VirtualTime {
        let real_elapsed = real.saturating_duration_since(self.real);
        VirtualTime(self.virtual_elapsed + real_elapsed.mul_f64(self.factor))
    }

    fn real_until(&self, target: VirtualTime, real_now: Instant) -> Option<Duration> {
        let ahead = target.0.saturating_sub(self.now_at(real_now).0);
        if ahead.is_zero() {
            return Some(Duration::ZERO);
        }
        (self.factor > 0.0).then(|| ahead.div_f64(self.factor))
    }
}

/// Shared, cheaply cloned virtual clock. `factor` 60 means one real second is one
/// virtual minute; factor 0 freezes time so that only [`SimClock::advance`] moves it.
#[derive(Clone)]
pub struct SimClock {
    anchor: Arc<Mutex<Anchor>>,
    start_wall: SystemTime,
    changed: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimClock")
            .field("now", &self.now())
            .field("factor", &self.factor())
            .finish()
    }
}

impl SimClock {
    /// A clock starting now, running `factor` times faster than real time.
    /// Negative or non-finite factors are treated as 0 (frozen).
    pub fn new(factor: f64) -> Self {
        let (changed, _) = watch::channel(0);
        SimClock {
            anchor: Arc::new(Mutex::new(Anchor {
                real: Instant::now(),
                virtual_elapsed: Duration::ZERO,
                factor: sanitize_factor(factor),
            })),
            start_wall: SystemTime::now(),
            changed: Arc::new(changed),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> VirtualTime {
        self.lock().now_at(Instant::now())
    }

    /// How much faster than real time the clock runs.
    pub fn factor(&self) -> f64 {
        self.lock().factor
    }

    /// Changes the speed from now on; virtual time already passed stays.
    pub fn set_factor(&self, factor: f64) {
        {
            let mut anchor = self.lock();
            let real = Instant::now();
            anchor.virtual_elapsed = anchor.now_at(real).0;
            anchor.real = real;
            anchor.factor = sanitize_factor(factor);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Jumps virtual time forward (tests use this instead of waiting).
    pub fn advance(&self, by: Duration) {
        {
            let mut anchor = self.lock();
            anchor.virtual_elapsed += by;
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Real time until the clock reaches `target`; `None` when it never will on its
    /// own (frozen clock).
    pub fn real_until(&self, target: VirtualTime) -> Option<Duration> {
        self.lock().real_until(target, Instant::now())
    }

    /// The virtual wall-clock time of `t`: the real start time plus virtual elapsed
    /// time, so that dates in answers move forward as fast as the simulation.
    pub fn wall(&self, t: VirtualTime) -> SystemTime {
        self.start_wall + t.0
    }

    /// Unix seconds of the virtual wall clock at `t`.
    pub fn unix_secs(&self, t: VirtualTime) -> u64 {
        unix_secs(self.wall(t))
    }

    /// A receiver that changes whenever the clock is advanced or re-speeded, so that
    /// a task sleeping until a virtual deadline can wake up and recompute.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Anchor> {
        self.anchor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn sanitize_factor(factor: f64) -> f64 {
    if factor.is_finite() && factor > 0.0 {
        factor
    } else {
        0.0
    }
}

/// Unix seconds of a wall-clock time (0 before the epoch).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Unix milliseconds of a wall-clock time (0 before the epoch).
pub fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, the layout of the WHMCS dates in the seeds.
pub fn sql_datetime(t: SystemTime) -> String {
    let rfc = humantime::format_rfc3339_seconds(t).to_string();
    rfc.trim_end_matches('Z').replacen('T', " ", 1)
}

/// `YYYY-MM-DD` in UTC.
pub fn sql_date(t: SystemTime) -> String {
    sql_datetime(t).chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_runs_factor_times_faster() {
        let start = Instant::now();
        let anchor = Anchor {
            real: start,
            virtual_elapsed: Duration::ZERO,
            factor: 60.0,
        };
        let later = start + Duration::from_secs(2);
        assert_eq!(anchor.now_at(later).since_start(), Duration::from_secs(120));
    }

    #[test]
    fn real_until_divides_by_the_factor() {
        let start = Instant::now();
        let anchor = Anchor {
            real: start,
            virtual_elapsed: Duration::from_secs(60),
            factor: 60.0,
        };
        let target = VirtualTime::from_start(Duration::from_secs(660));
        assert_eq!(
            anchor.real_until(target, start),
            Some(Duration::from_secs(10))
        );
        let past = VirtualTime::from_start(Duration::from_secs(1));
        assert_eq!(anchor.real_until(past, start), Some(Duration::ZERO));
    }

    #[test]
    fn frozen_clock_moves_only_by_advance() {
        let clock = SimClock::new(0.0);
        let t0 = clock.now();
        assert_eq!(clock.real_until(t0 + Duration::from_secs(1)), None);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now().saturating_since(t0), Duration::from_secs(90));
    }

    #[test]
    fn set_factor_keeps_elapsed_time() {
        let clock = SimClock::new(0.0);
        clock.advance(Duration::from_secs(30));
        clock.set_factor(1000.0);
        assert!(clock.now().since_start() >= Duration::from_secs(30));
        assert!((clock.factor() - 1000.0).abs() < f64::EPSILON);
    }

    #[test]
    fn sql_dates_have_the_whmcs_layout() {
        let t = UNIX_EPOCH + Duration::from_secs(1_703_503_231);
        assert_eq!(sql_datetime(t), "2023-12-25 11:20:31");
        assert_eq!(sql_date(t), "2023-12-25");
    }
}
