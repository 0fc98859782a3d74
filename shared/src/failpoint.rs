//! Failpoints: crash or stall a process at a named point, armed at run time.
//!
//! The chaos target proves crash-safety on real processes: it starts the normal
//! release or test build with `PROVISIONER_FAILPOINTS` set, e.g.
//! `engine.after_call=abort@0.05;engine.before_commit=sleep(200)`, and the worker
//! aborts (like `kill -9`: no destructor, no flush, no commit) right after a provider
//! call and before its result is saved. Unset, a failpoint costs one atomic load.
//!
//! Grammar: `name=action[@probability][;name=action…]`, where action is `abort`
//! (the process dies at once) or `sleep(ms)`; probability is in `0..=1` (default 1).
//! `PROVISIONER_FAILPOINTS_SEED` makes the draws replayable. A process whose variable
//! does not parse refuses to start (see [`check_env`]), so a typo never passes as a
//! run without faults.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The environment variable that arms failpoints.
pub const ENV: &str = "PROVISIONER_FAILPOINTS";
/// The environment variable that seeds their random draws.
pub const SEED_ENV: &str = "PROVISIONER_FAILPOINTS_SEED";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Abort,
    Sleep(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    action: Action,
    probability: f64,
}

struct Armed {
    points: HashMap<String, Point>,
    rng: Mutex<StdRng>,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

fn armed() -> Option<&'static Armed> {
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(ENV).ok().filter(|s| !s.trim().is_empty())?;
            let points = match parse(&spec) {
                Ok(p) => p,
                Err(e) => {
                    // check_env refuses to start first; this is only for code paths
                    // that never called it (tests of other crates).
                    eprintln!("{ENV}: {e}; failpoints stay off");
                    return None;
                }
            };
            let seed = std::env::var(SEED_ENV)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or_else(rand::random);
            eprintln!("failpoints armed: {spec} (seed {seed})");
            Some(Armed {
                points,
                rng: Mutex::new(StdRng::seed_from_u64(seed)),
            })
        })
        .as_ref()
}

/// Refuses a `PROVISIONER_FAILPOINTS` that does not parse (binaries call it at start).
pub fn check_env() -> Result<(), String> {
    match std::env::var(ENV) {
        Ok(spec) if !spec.trim().is_empty() => parse(&spec).map(|_| ()),
        _ => Ok(()),
    }
    .map_err(|e| format!("{ENV}: {e}"))
}

fn parse(spec: &str) -> Result<HashMap<String, Point>, String> {
    let mut points = HashMap::new();
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, rest) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not name=action"))?;
        let (action, probability) = match rest.split_once('@') {
            Some((a, p)) => {
                let p: f64 = p
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{p}` is not a probability"))?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!("probability {p} is not between 0 and 1"));
                }
                (a.trim(), p)
            }
            None => (rest.trim(), 1.0),
        };
        let action = if action == "abort" {
            Action::Abort
        } else if let Some(ms) = action
            .strip_prefix("sleep(")
            .and_then(|s| s.strip_suffix(')'))
        {
            let ms: u64 = ms
                .trim()
                .parse()
                .map_err(|_| format!("`{ms}` is not a number of milliseconds"))?;
            Action::Sleep(Duration::from_millis(ms))
        } else {
            return Err(format!("unknown action `{action}` (abort, sleep(ms))"));
        };
        points.insert(
            name.trim().to_owned(),
            Point {
                action,
                probability,
            },
        );
    }
    Ok(points)
}

/// What the failpoint `name` asks for now, if it is armed and its draw fires.
fn fire(name: &str) -> Option<Action> {
    let armed = armed()?;
    let point = armed.points.get(name)?;
    let fires = point.probability >= 1.0
        || armed
            .rng
            .lock()
            .map(|mut r| r.random_bool(point.probability))
            .unwrap_or(false);
    fires.then_some(point.action)
}

fn abort(name: &str) -> ! {
    eprintln!("failpoint {name}: aborting the process");
    std::process::abort()
}

/// An async failpoint: aborts the process, or sleeps, when `name` is armed.
pub async fn hit(name: &str) {
    match fire(name) {
        None => {}
        Some(Action::Abort) => abort(name),
        Some(Action::Sleep(d)) => tokio::time::sleep(d).await,
    }
}

/// A failpoint in synchronous code (a sleep blocks the thread).
pub fn hit_blocking(name: &str) {
    match fire(name) {
        None => {}
        Some(Action::Abort) => abort(name),
        Some(Action::Sleep(d)) => std::thread::sleep(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_actions_and_probabilities() {
        let p = parse("a=abort; b=sleep(250)@0.5 ;").unwrap();
        assert_eq!(p["a"].action, Action::Abort);
        assert_eq!(p["a"].probability, 1.0);
        assert_eq!(p["b"].action, Action::Sleep(Duration::from_millis(250)));
        assert_eq!(p["b"].probability, 0.5);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in ["a", "a=explode", "a=abort@2", "a=sleep(x)", "a=abort@x"] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
