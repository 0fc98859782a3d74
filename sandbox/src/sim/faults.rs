//! Fault injection: knobs that make a simulator misbehave the way real providers do
//! (500s, 429s, slowness, answers lost after the action was applied, hangs, garbled
//! bodies, connections closed without an answer, a PHP warning printed before the
//! answer), so tests can prove the engine's retry, reconcile and at-most-once rules,
//! and that quoted answers keep their secrets.
//!
//! Knobs exist globally and per action name (e.g. `eq/order_instance`); both apply.
//! Counted knobs (`rate_limit.next`, `fail_next`, `apply_then_500`, `hang.calls`)
//! count down as they fire. Randomness comes from a seeded RNG that is drawn from only
//! when a rate knob is set, so a test with the same seed and requests sees the same
//! faults.
//!
//! Every 429 opens a `Retry-After` window for the simulator's account; a request that
//! arrives inside it is recorded ([`Faults::early_calls`]), so a test can prove that
//! clients wait as they are told.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Answer 429 with `Retry-After` for the next `next` requests and/or whenever the
/// request rate exceeds `max_per_sec`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    /// Refuse this many of the next requests (counts down).
    pub next: u32,
    /// Refuse requests above this rate (token bucket of one second's worth).
    pub max_per_sec: Option<f64>,
    /// The `Retry-After` header value, in seconds (default 1).
    pub retry_after_secs: u64,
    /// Fraction (0..=1) of requests refused at random.
    pub rate: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            next: 0,
            max_per_sec: None,
            retry_after_secs: 1,
            rate: 0.0,
        }
    }
}

/// Apply the action, then hold the answer for `ms` milliseconds (the client times
/// out first), for the next `calls` requests or for all when `calls` is absent;
/// with `rate`, only that fraction of them, drawn at random.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hang {
    /// How long to hold the answer.
    pub ms: u64,
    /// How many of the next requests hang (counts down); `None` = every request.
    pub calls: Option<u32>,
    /// Fraction (0..=1) of requests that hang; `None` = every one `calls` allows.
    pub rate: Option<f64>,
}

/// Text printed before the answer, as a PHP warning or notice is printed ahead of a
/// script's output: the body stops being JSON, and quoted errors show the answer's
/// secrets unless the client masks them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Preface {
    /// What is printed first (e.g. `<br />\n<b>Warning</b>: …<br />\n`).
    pub text: String,
    /// The status the answer goes out with instead of its own (e.g. 500).
    pub status: Option<u16>,
}

/// One set of fault knobs (global or for one action).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultKnobs {
    /// Fraction (0..=1) of requests answered HTTP 500 without applying them.
    pub error_rate: f64,
    /// Answer the next N requests HTTP 500 without applying them (counts down): one
    /// chosen hiccup, where `error_rate` is a random one.
    pub fail_next: u32,
    /// 429 answers.
    pub rate_limit: Option<RateLimit>,
    /// Delay before handling each request, in milliseconds.
    pub slow_ms: u64,
    /// Apply the next N requests, then answer 500 (the outcome is unknown to the client).
    pub apply_then_500: u32,
    /// Apply, then hold the answer.
    pub hang: Option<Hang>,
    /// Apply, then answer with this text in front of the body.
    pub preface: Option<Preface>,
    /// Fraction (0..=1) of requests applied, then answered HTTP 200 with a truncated
    /// body (a proxy cut it short): the client cannot read what happened.
    pub malformed_rate: f64,
    /// Fraction (0..=1) of requests whose connection is closed without an answer,
    /// before they are applied.
    pub reset_rate: f64,
    /// Fraction (0..=1) of requests applied, then their connection closed without an
    /// answer.
    pub apply_then_reset_rate: f64,
}

impl FaultKnobs {
    fn validate(&self, scope: &str) -> Result<(), FaultsError> {
        let rates = [
            ("error_rate", Some(self.error_rate)),
            ("malformed_rate", Some(self.malformed_rate)),
            ("reset_rate", Some(self.reset_rate)),
            ("apply_then_reset_rate", Some(self.apply_then_reset_rate)),
            ("rate_limit.rate", self.rate_limit.as_ref().map(|r| r.rate)),
            ("hang.rate", self.hang.as_ref().and_then(|h| h.rate)),
        ];
        for (name, rate) in rates {
            if let Some(rate) = rate
                && !(0.0..=1.0).contains(&rate)
            {
                return Err(FaultsError::Invalid(format!(
                    "{scope}.{name} must be between 0 and 1"
                )));
            }
        }
        if let Some(rate) = self.rate_limit.as_ref().and_then(|r| r.max_per_sec)
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(FaultsError::Invalid(format!(
                "{scope}.rate_limit.max_per_sec must be a positive number"
            )));
        }
        if let Some(status) = self.preface.as_ref().and_then(|p| p.status)
            && !(100..=599).contains(&status)
        {
            return Err(FaultsError::Invalid(format!(
                "{scope}.preface.status must be an HTTP status (100–599)"
            )));
        }
        Ok(())
    }
}

/// Every knob of a simulator, as `GET`/`POST /_sandbox/faults` show and take it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsConfig {
    /// Reseeds the RNG when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Knobs for every request.
    pub global: FaultKnobs,
    /// Knobs per action name.
    pub actions: BTreeMap<String, FaultKnobs>,
}

/// A fault configuration that cannot work.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultsError {
    #[error("invalid fault knob: {0}")]
    Invalid(String),
}

/// What happens before the action is applied.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// HTTP 500, nothing applied.
    ServerError,
    /// HTTP 429 with `Retry-After`, nothing applied.
    TooManyRequests { retry_after_secs: u64 },
    /// The connection is closed without an answer, nothing applied.
    Reset,
}

/// What happens after the action was applied.
#[derive(Clone, Debug, PartialEq)]
pub enum Aftermath {
    /// The normal answer.
    Answer,
    /// HTTP 500 although the action was applied.
    ServerError,
    /// The answer is held this long.
    Hang(Duration),
    /// HTTP 200 with the answer's body cut short.
    Malformed,
    /// The connection is closed without an answer although the action was applied.
    Reset,
}

/// A request that arrived while a `Retry-After` this simulator had sent was running.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EarlyCall {
    /// The action requested.
    pub action: String,
    /// How long after the 429 it arrived, in milliseconds.
    pub after_429_ms: u64,
    /// The `Retry-After` of that 429, in milliseconds.
    pub retry_after_ms: u64,
}

/// The last 429 sent: when, and until when its `Retry-After` runs.
#[derive(Debug, Clone, Copy)]
struct RetryAfterWindow {
    sent: Instant,
    until: Instant,
}

/// The faults decided for one request.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// Wait this long first.
    pub delay: Duration,
    /// Refuse without applying.
    pub refusal: Option<Refusal>,
    /// What to do with the answer once applied.
    pub aftermath: Aftermath,
    /// Printed before the answer's body (the action's knob, else the global one).
    pub preface: Option<Preface>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Token bucket holding at most one second's worth of requests (at least one).
    fn take(&mut self, rate: f64, now: Instant) -> bool {
        let capacity = rate.max(1.0);
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * rate;
        self.tokens = (self.tokens + refill).min(capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Inner {
    config: FaultsConfig,
    rng: StdRng,
    buckets: HashMap<String, Bucket>,
    /// 429s sent so far.
    too_many_sent: u64,
    window: Option<RetryAfterWindow>,
    early: Vec<EarlyCall>,
}

/// Draws `true` with probability `rate`, touching the RNG only for a rate above 0.
fn draw(rng: &mut StdRng, rate: f64) -> bool {
    rate > 0.0 && rng.random::<f64>() >= 1.0 - rate
}

/// Runtime-mutable fault knobs, shared by a simulator's routes and its Rust handle.
#[derive(Clone, Debug)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
}

const GLOBAL: &str = "";

impl Faults {
    /// No faults; `seed` drives the RNG behind `error_rate`.
    pub fn new(seed: u64) -> Self {
        Faults {
            inner: Arc::new(Mutex::new(Inner {
                config: FaultsConfig::default(),
                rng: StdRng::seed_from_u64(seed),
                buckets: HashMap::new(),
                too_many_sent: 0,
                window: None,
                early: Vec::new(),
            })),
        }
    }

    /// Replaces every knob (an empty config turns all faults off).
    pub fn set(&self, config: FaultsConfig) -> Result<(), FaultsError> {
        config.global.validate("global")?;
        for (action, knobs) in &config.actions {
            knobs.validate(action)?;
        }
        let mut inner = self.lock();
        if let Some(seed) = config.seed {
            inner.rng = StdRng::seed_from_u64(seed);
        }
        inner.buckets.clear();
        inner.config = FaultsConfig {
            seed: None,
            ..config
        };
        Ok(())
    }

    /// The knobs now, with counted knobs at their remaining counts.
    pub fn config(&self) -> FaultsConfig {
        self.lock().config.clone()
    }

    /// Turns every fault off.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.config = FaultsConfig::default();
        inner.buckets.clear();
    }

    /// Replaces the global knobs.
    pub fn set_global(&self, knobs: FaultKnobs) -> Result<(), FaultsError> {
        knobs.validate("global")?;
        self.lock().config.global = knobs;
        Ok(())
    }

    /// Replaces the knobs of one action (`resource/action`).
    pub fn set_action(&self, action: &str, knobs: FaultKnobs) -> Result<(), FaultsError> {
        knobs.validate(action)?;
        let mut inner = self.lock();
        if knobs == FaultKnobs::default() {
            inner.config.actions.remove(action);
        } else {
            inner.config.actions.insert(action.to_owned(), knobs);
        }
        Ok(())
    }

    /// Decides the faults of one request to `action`, counting down counted knobs.
    pub fn decide(&self, action: &str) -> FaultPlan {
        self.lock().decide(action, Instant::now())
    }

    /// How many 429 answers the knobs have sent.
    pub fn too_many_sent(&self) -> u64 {
        self.lock().too_many_sent
    }

    /// Every request that arrived while the `Retry-After` of a 429 sent before it
    /// was still running, oldest first. A request the client had already sent when
    /// the 429 went out shows up here too, a few milliseconds after it.
    pub fn early_calls(&self) -> Vec<EarlyCall> {
        self.lock().early.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn decide(&mut self, action: &str, now: Instant) -> FaultPlan {
        if let Some(window) = self.window
            && now < window.until
        {
            self.early.push(EarlyCall {
                action: action.to_owned(),
                after_429_ms: millis(now.saturating_duration_since(window.sent)),
                retry_after_ms: millis(window.until.saturating_duration_since(window.sent)),
            });
        }
        let Inner {
            config,
            rng,
            buckets,
            ..
        } = self;
        let mut global = std::mem::take(&mut config.global);
        let mut scoped = config.actions.remove(action);

        let delay = Duration::from_millis(
            global
                .slow_ms
                .max(scoped.as_ref().map_or(0, |knobs| knobs.slow_ms)),
        );
        let mut refusal = None;
        for (scope, knobs) in [(GLOBAL, Some(&mut global)), (action, scoped.as_mut())] {
            let Some(limit) = knobs.and_then(|k| k.rate_limit.as_mut()) else {
                continue;
            };
            let limited = if limit.next > 0 {
                limit.next -= 1;
                true
            } else if let Some(rate) = limit.max_per_sec {
                let bucket = buckets.entry(scope.to_owned()).or_insert(Bucket {
                    tokens: rate.max(1.0),
                    at: now,
                });
                !bucket.take(rate, now)
            } else {
                false
            } || draw(rng, limit.rate);
            if limited && refusal.is_none() {
                refusal = Some(Refusal::TooManyRequests {
                    retry_after_secs: limit.retry_after_secs,
                });
            }
        }
        if refusal.is_none() {
            for knobs in [scoped.as_mut(), Some(&mut global)].into_iter().flatten() {
                if knobs.fail_next > 0 {
                    knobs.fail_next -= 1;
                    refusal = Some(Refusal::ServerError);
                    break;
                }
            }
        }
        // A request escapes a rate only when both scopes let it pass.
        let either = |rate: fn(&FaultKnobs) -> f64| {
            1.0 - (1.0 - rate(&global)) * (1.0 - scoped.as_ref().map_or(0.0, rate))
        };
        let reset_rate = either(|k| k.reset_rate);
        let error_rate = either(|k| k.error_rate);
        let apply_then_reset_rate = either(|k| k.apply_then_reset_rate);
        let malformed_rate = either(|k| k.malformed_rate);
        if refusal.is_none() && draw(rng, reset_rate) {
            refusal = Some(Refusal::Reset);
        }
        if refusal.is_none() && draw(rng, error_rate) {
            refusal = Some(Refusal::ServerError);
        }

        let mut aftermath = Aftermath::Answer;
        if refusal.is_none() {
            for knobs in [scoped.as_mut(), Some(&mut global)].into_iter().flatten() {
                if knobs.apply_then_500 > 0 {
                    knobs.apply_then_500 -= 1;
                    aftermath = Aftermath::ServerError;
                    break;
                }
            }
        }
        if aftermath == Aftermath::Answer && refusal.is_none() && draw(rng, apply_then_reset_rate) {
            aftermath = Aftermath::Reset;
        }
        if aftermath == Aftermath::Answer && refusal.is_none() && draw(rng, malformed_rate) {
            aftermath = Aftermath::Malformed;
        }
        if aftermath == Aftermath::Answer && refusal.is_none() {
            for knobs in [scoped.as_mut(), Some(&mut global)].into_iter().flatten() {
                let Some(hang) = knobs.hang.as_mut() else {
                    continue;
                };
                if hang.calls == Some(0) || !hang.rate.is_none_or(|rate| draw(rng, rate)) {
                    continue;
                }
                let fires = match hang.calls.as_mut() {
                    None => true,
                    Some(0) => false,
                    Some(calls) => {
                        *calls -= 1;
                        true
                    }
                };
                if fires {
                    aftermath = Aftermath::Hang(Duration::from_millis(hang.ms));
                    break;
                }
            }
        }

        let preface = scoped
            .as_ref()
            .and_then(|k| k.preface.clone())
            .or_else(|| global.preface.clone());
        config.global = global;
        if let Some(knobs) = scoped {
            config.actions.insert(action.to_owned(), knobs);
        }
        if let Some(Refusal::TooManyRequests { retry_after_secs }) = refusal {
            self.too_many_sent += 1;
            let until = now + Duration::from_secs(retry_after_secs);
            // A later window never shortens a running one.
            if self.window.is_none_or(|w| w.until <= until) {
                self.window = Some(RetryAfterWindow { sent: now, until });
            }
        }
        FaultPlan {
            delay,
            refusal,
            aftermath,
            preface,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(faults: &Faults, action: &str) -> FaultPlan {
        faults.decide(action)
    }

    #[test]
    fn no_knobs_means_no_faults() {
        let faults = Faults::new(1);
        let p = plan(&faults, "eq/show");
        assert_eq!(p.delay, Duration::ZERO);
        assert_eq!(p.refusal, None);
        assert_eq!(p.aftermath, Aftermath::Answer);
    }

    #[test]
    fn apply_then_500_counts_down_per_action() {
        let faults = Faults::new(1);
        let knobs = FaultKnobs {
            apply_then_500: 2,
            ..FaultKnobs::default()
        };
        faults.set_action("eq/order_instance", knobs).unwrap();
        assert_eq!(plan(&faults, "eq/show").aftermath, Aftermath::Answer);
        assert_eq!(
            plan(&faults, "eq/order_instance").aftermath,
            Aftermath::ServerError
        );
        assert_eq!(
            faults.config().actions["eq/order_instance"].apply_then_500,
            1
        );
        assert_eq!(
            plan(&faults, "eq/order_instance").aftermath,
            Aftermath::ServerError
        );
        assert_eq!(
            plan(&faults, "eq/order_instance").aftermath,
            Aftermath::Answer
        );
    }

    #[test]
    fn fail_next_refuses_without_applying_then_lets_through() {
        let faults = Faults::new(1);
        let knobs = FaultKnobs {
            fail_next: 1,
            apply_then_500: 1,
            ..FaultKnobs::default()
        };
        faults.set_action("whmcs/apply_credit", knobs).unwrap();
        let first = plan(&faults, "whmcs/apply_credit");
        assert_eq!(first.refusal, Some(Refusal::ServerError));
        assert_eq!(
            first.aftermath,
            Aftermath::Answer,
            "a refusal applies nothing"
        );
        assert_eq!(plan(&faults, "eq/show").refusal, None);
        let second = plan(&faults, "whmcs/apply_credit");
        assert_eq!(second.refusal, None);
        assert_eq!(second.aftermath, Aftermath::ServerError);
        assert_eq!(
            plan(&faults, "whmcs/apply_credit"),
            plan(&faults, "eq/show")
        );
    }

    #[test]
    fn rate_limit_next_refuses_k_requests_with_retry_after() {
        let faults = Faults::new(1);
        faults
            .set_global(FaultKnobs {
                rate_limit: Some(RateLimit {
                    next: 2,
                    max_per_sec: None,
                    retry_after_secs: 7,
                    rate: 0.0,
                }),
                ..FaultKnobs::default()
            })
            .unwrap();
        let refused = Some(Refusal::TooManyRequests {
            retry_after_secs: 7,
        });
        assert_eq!(plan(&faults, "a").refusal, refused);
        assert_eq!(plan(&faults, "b").refusal, refused);
        assert_eq!(plan(&faults, "a").refusal, None);
    }

    #[test]
    fn rate_limit_per_second_refuses_bursts() {
        let mut inner = Inner {
            config: FaultsConfig::default(),
            rng: StdRng::seed_from_u64(1),
            buckets: HashMap::new(),
            too_many_sent: 0,
            window: None,
            early: Vec::new(),
        };
        inner.config.global.rate_limit = Some(RateLimit {
            next: 0,
            max_per_sec: Some(2.0),
            retry_after_secs: 1,
            rate: 0.0,
        });
        let t0 = Instant::now();
        let refusals: Vec<bool> = (0..4)
            .map(|_| inner.decide("x", t0).refusal.is_some())
            .collect();
        assert_eq!(refusals, [false, false, true, true]);
        let later = t0 + Duration::from_millis(600);
        assert!(inner.decide("x", later).refusal.is_none());
    }

    #[test]
    fn error_rate_is_reproducible_with_a_seed() {
        let run = || {
            let faults = Faults::new(42);
            faults
                .set_global(FaultKnobs {
                    error_rate: 0.5,
                    ..FaultKnobs::default()
                })
                .unwrap();
            (0..64)
                .map(|_| plan(&faults, "eq/show").refusal.is_some())
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let failures = first.iter().filter(|failed| **failed).count();
        assert!((16..=48).contains(&failures), "{failures} of 64");
    }

    #[test]
    fn error_rate_one_refuses_everything_and_skips_apply_then_500() {
        let faults = Faults::new(1);
        faults
            .set_action(
                "x",
                FaultKnobs {
                    error_rate: 1.0,
                    apply_then_500: 1,
                    ..FaultKnobs::default()
                },
            )
            .unwrap();
        let p = plan(&faults, "x");
        assert_eq!(p.refusal, Some(Refusal::ServerError));
        assert_eq!(p.aftermath, Aftermath::Answer);
        assert_eq!(faults.config().actions["x"].apply_then_500, 1);
    }

    #[test]
    fn hang_and_slow() {
        let faults = Faults::new(1);
        faults
            .set_action(
                "eq/reboot",
                FaultKnobs {
                    slow_ms: 30,
                    hang: Some(Hang {
                        ms: 5000,
                        calls: Some(1),
                        rate: None,
                    }),
                    ..FaultKnobs::default()
                },
            )
            .unwrap();
        let p = plan(&faults, "eq/reboot");
        assert_eq!(p.delay, Duration::from_millis(30));
        assert_eq!(p.aftermath, Aftermath::Hang(Duration::from_millis(5000)));
        assert_eq!(plan(&faults, "eq/reboot").aftermath, Aftermath::Answer);
    }

    #[test]
    fn invalid_knobs_are_refused() {
        let faults = Faults::new(1);
        let bad = FaultsConfig {
            global: FaultKnobs {
                error_rate: 1.5,
                ..FaultKnobs::default()
            },
            ..FaultsConfig::default()
        };
        assert!(faults.set(bad).is_err());
        let json = r#"{"actions":{"eq/show":{"slow_ms":5}},"seed":3}"#;
        let config: FaultsConfig = serde_json::from_str(json).unwrap();
        faults.set(config).unwrap();
        assert_eq!(faults.config().actions["eq/show"].slow_ms, 5);
        assert!(serde_json::from_str::<FaultsConfig>(r#"{"globl":{}}"#).is_err());
    }

    #[test]
    fn a_preface_applies_to_its_action_and_the_actions_own_wins() {
        let faults = Faults::new(1);
        let warning = |text: &str| Preface {
            text: text.to_owned(),
            status: None,
        };
        faults
            .set_global(FaultKnobs {
                preface: Some(warning("global")),
                ..FaultKnobs::default()
            })
            .unwrap();
        faults
            .set_action(
                "eq/show",
                FaultKnobs {
                    preface: Some(warning("show")),
                    ..FaultKnobs::default()
                },
            )
            .unwrap();
        assert_eq!(plan(&faults, "eq/show").preface, Some(warning("show")));
        assert_eq!(plan(&faults, "eq/list").preface, Some(warning("global")));
        let bad = FaultKnobs {
            preface: Some(Preface {
                text: String::new(),
                status: Some(1000),
            }),
            ..FaultKnobs::default()
        };
        assert!(faults.set_action("eq/show", bad).is_err());
    }

    #[test]
    fn malformed_and_resets_draw_from_their_rates() {
        let faults = Faults::new(7);
        faults
            .set_action(
                "a",
                FaultKnobs {
                    malformed_rate: 1.0,
                    ..FaultKnobs::default()
                },
            )
            .unwrap();
        faults
            .set_action(
                "b",
                FaultKnobs {
                    reset_rate: 1.0,
                    ..FaultKnobs::default()
                },
            )
            .unwrap();
        faults
            .set_action(
                "c",
                FaultKnobs {
                    apply_then_reset_rate: 1.0,
                    ..FaultKnobs::default()
                },
            )
            .unwrap();
        assert_eq!(plan(&faults, "a").aftermath, Aftermath::Malformed);
        assert_eq!(plan(&faults, "b").refusal, Some(Refusal::Reset));
        let c = plan(&faults, "c");
        assert_eq!((c.refusal, c.aftermath), (None, Aftermath::Reset));
        assert_eq!(plan(&faults, "d"), plan(&Faults::new(7), "d"));
    }

    #[test]
    fn probabilistic_hangs_and_429s_fire_at_about_their_rate() {
        let faults = Faults::new(3);
        faults
            .set_global(FaultKnobs {
                hang: Some(Hang {
                    ms: 100,
                    calls: None,
                    rate: Some(0.25),
                }),
                rate_limit: Some(RateLimit {
                    rate: 0.25,
                    ..RateLimit::default()
                }),
                ..FaultKnobs::default()
            })
            .unwrap();
        let plans: Vec<FaultPlan> = (0..400).map(|_| plan(&faults, "x")).collect();
        let hangs = plans
            .iter()
            .filter(|p| matches!(p.aftermath, Aftermath::Hang(_)))
            .count();
        let limited = plans.iter().filter(|p| p.refusal.is_some()).count();
        assert!((50..=150).contains(&limited), "{limited} 429s of 400");
        // hangs are drawn among the requests that were not refused
        assert!((40..=120).contains(&hangs), "{hangs} hangs of 400");
        assert_eq!(faults.too_many_sent(), limited as u64);
    }

    #[test]
    fn requests_inside_a_retry_after_are_recorded() {
        let mut inner = Inner {
            config: FaultsConfig::default(),
            rng: StdRng::seed_from_u64(1),
            buckets: HashMap::new(),
            too_many_sent: 0,
            window: None,
            early: Vec::new(),
        };
        inner.config.global.rate_limit = Some(RateLimit {
            next: 1,
            retry_after_secs: 2,
            ..RateLimit::default()
        });
        let t0 = Instant::now();
        assert!(inner.decide("first", t0).refusal.is_some());
        assert!(inner.early.is_empty(), "the 429 itself is not early");
        inner.decide("eager", t0 + Duration::from_millis(500));
        inner.decide("patient", t0 + Duration::from_millis(2000));
        assert_eq!(
            inner.early,
            vec![EarlyCall {
                action: "eager".into(),
                after_429_ms: 500,
                retry_after_ms: 2000,
            }]
        );
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        let faults = Faults::new(1);
        for bad in [
            FaultKnobs {
                malformed_rate: -0.1,
                ..FaultKnobs::default()
            },
            FaultKnobs {
                hang: Some(Hang {
                    rate: Some(2.0),
                    ..Hang::default()
                }),
                ..FaultKnobs::default()
            },
            FaultKnobs {
                rate_limit: Some(RateLimit {
                    rate: 1.5,
                    ..RateLimit::default()
                }),
                ..FaultKnobs::default()
            },
        ] {
            assert!(faults.set_global(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
