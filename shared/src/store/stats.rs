//! Figures for the api's `/metrics`: what the schedule holds, read at scrape time,
//! and the counters workers keep.
//!
//! - [`Store::due_figures`]: one script per shard (`due_figures.lua`: members of the
//!   due-set, how many are due now, the earliest score), all shards at once, so a
//!   scrape costs one round trip whatever the shard count and never scans a set.
//! - Workers have no HTTP server: they count step outcomes and callback deliveries in
//!   memory and add the deltas every few seconds to one hash, `{ns}:stats:workers`
//!   ([`Store::add_worker_stats`], one script call per flush, never one per step);
//!   the api reads it whole ([`Store::worker_stats`]). The hash's field names are
//!   built and parsed here ([`WorkerStat`]) so that writer and reader agree.
//! - [`Store::job_counts`]: jobs by state and provider. The scripts that write a
//!   job's state keep them in a hash per shard (`{ns:S}:jobs`, field
//!   `state|provider`): `enqueue.lua` counts a new job, `commit.lua` and `hold.lua`
//!   move it from its old state to its new one. Nobody sees a finished job expire,
//!   so the terminal states are totals: every job that ended so, minus those an
//!   operator retried out of it.

use super::{Store, StoreError, int, text, unexpected};
use crate::time::Millis;
use redis::{AsyncCommands, Script, Value};
use std::sync::LazyLock;
use std::time::Duration;

// Kept beside their only caller rather than in `Scripts`: scrapes and flushes are
// rare, and the engine's script set stays as it is.
static DUE_FIGURES: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/due_figures.lua")));
static STATS_ADD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/stats_add.lua")));

/// Separates the parts of a stats field; no provider, step, outcome or result
/// name contains it.
const SEP: char = '|';

/// One shard's due-set at one instant (Redis time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardFigures {
    pub shard: u16,
    /// Every member: waiting and due jobs, leased jobs (scored at their lease's
    /// end) and callback records.
    pub members: u64,
    /// Members whose score has passed: the backlog no worker has claimed yet.
    pub due: u64,
    /// The lowest score, if the set is not empty.
    pub earliest: Option<Millis>,
    pub now: Millis,
}

impl ShardFigures {
    /// How late the most overdue member is; zero when nothing is due.
    pub fn oldest_due(&self) -> Duration {
        match self.earliest {
            Some(e) if e <= self.now => self.now.since(e),
            _ => Duration::ZERO,
        }
    }
}

/// How many jobs of `provider` are in `state` (all shards).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct JobCount {
    pub state: String,
    pub provider: String,
    pub jobs: u64,
}

/// One counter of the workers' stats hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkerStat {
    /// Steps that ended in `outcome` (next, wait, retry, fail, attention).
    Step {
        provider: String,
        step: String,
        outcome: String,
    },
    /// Callback delivery attempts that ended in `result` (delivered, retry, abandoned).
    Callback { result: String },
}

impl WorkerStat {
    /// The hash field of a step counter.
    pub fn step_field(provider: &str, step: &str, outcome: &str) -> String {
        format!("step{SEP}{provider}{SEP}{step}{SEP}{outcome}")
    }

    /// The hash field of a callback counter.
    pub fn callback_field(result: &str) -> String {
        format!("callback{SEP}{result}")
    }

    /// A hash field back into a counter; `None` for a field this version does not
    /// know (a newer worker's), which readers skip.
    pub fn parse(field: &str) -> Option<WorkerStat> {
        let parts: Vec<&str> = field.split(SEP).collect();
        match parts.as_slice() {
            ["step", provider, step, outcome] => Some(WorkerStat::Step {
                provider: (*provider).to_owned(),
                step: (*step).to_owned(),
                outcome: (*outcome).to_owned(),
            }),
            ["callback", result] => Some(WorkerStat::Callback {
                result: (*result).to_owned(),
            }),
            _ => None,
        }
    }
}

impl Store {
    /// Every shard's [`ShardFigures`], read concurrently.
    pub async fn due_figures(&self) -> Result<Vec<ShardFigures>, StoreError> {
        let reads = (0..self.keys.shards()).map(|shard| {
            let mut c = self.conn.clone();
            let key = self.keys.due(shard);
            async move {
                let reply: Vec<Value> = DUE_FIGURES.key(key).invoke_async(&mut c).await?;
                let number = |i: usize| {
                    reply
                        .get(i)
                        .and_then(int)
                        .map(|n| n.max(0) as u64)
                        .ok_or_else(|| unexpected("due figures"))
                };
                Ok::<_, StoreError>(ShardFigures {
                    shard,
                    now: Millis(number(0)?),
                    members: number(1)?,
                    due: number(2)?,
                    earliest: reply
                        .get(3)
                        .and_then(text)
                        .and_then(|s| s.parse::<f64>().ok())
                        .map(|f| Millis(f.max(0.0) as u64)),
                })
            }
        });
        futures::future::try_join_all(reads).await
    }

    /// Jobs by state and provider, summed over the shards (read concurrently), in
    /// (state, provider) order.
    pub async fn job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
        let reads = (0..self.keys.shards()).map(|shard| {
            let mut c = self.conn.clone();
            let key = self.keys.job_counts(shard);
            async move { c.hgetall::<_, Vec<(String, i64)>>(key).await }
        });
        let mut sums: std::collections::BTreeMap<(String, String), i64> = Default::default();
        for shard in futures::future::try_join_all(reads).await? {
            for (field, n) in shard {
                if let Some((state, provider)) = field.split_once(SEP) {
                    *sums
                        .entry((state.to_owned(), provider.to_owned()))
                        .or_insert(0) += n;
                }
            }
        }
        Ok(sums
            .into_iter()
            .map(|((state, provider), n)| JobCount {
                state,
                provider,
                jobs: n.max(0) as u64,
            })
            .collect())
    }

    /// Adds counter deltas (hash field, delta) to the workers' stats, in one call.
    pub async fn add_worker_stats(&self, deltas: &[(String, u64)]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut invocation = STATS_ADD.prepare_invoke();
        invocation.key(self.keys.named("stats", "workers"));
        for (field, delta) in deltas {
            invocation.arg(field).arg(*delta);
        }
        let mut c = self.conn.clone();
        let _: i64 = invocation.invoke_async(&mut c).await?;
        Ok(())
    }

    /// Every counter workers have added so far (all workers, since the namespace
    /// began), in field order; fields this version does not know are skipped.
    pub async fn worker_stats(&self) -> Result<Vec<(WorkerStat, u64)>, StoreError> {
        let mut c = self.conn.clone();
        let all: Vec<(String, i64)> = c.hgetall(self.keys.named("stats", "workers")).await?;
        let mut stats: Vec<(WorkerStat, u64)> = all
            .into_iter()
            .filter_map(|(field, n)| Some((WorkerStat::parse(&field)?, n.max(0) as u64)))
            .collect();
        stats.sort();
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_unknown_ones_are_skipped() {
        let step = WorkerStat::step_field("hostkey", "await_install", "wait");
        assert_eq!(step, "step|hostkey|await_install|wait");
        assert_eq!(
            WorkerStat::parse(&step),
            Some(WorkerStat::Step {
                provider: "hostkey".into(),
                step: "await_install".into(),
                outcome: "wait".into(),
            })
        );
        assert_eq!(
            WorkerStat::parse(&WorkerStat::callback_field("delivered")),
            Some(WorkerStat::Callback {
                result: "delivered".into()
            })
        );
        for odd in ["", "step|a|b", "callback", "gauge|x", "step|a|b|c|d"] {
            assert_eq!(WorkerStat::parse(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn only_a_passed_score_is_overdue() {
        let at = |earliest: Option<u64>| ShardFigures {
            shard: 0,
            members: 1,
            due: 0,
            earliest: earliest.map(Millis),
            now: Millis(10_000),
        };
        assert_eq!(at(Some(7_500)).oldest_due(), Duration::from_millis(2_500));
        assert_eq!(at(Some(10_000)).oldest_due(), Duration::ZERO);
        assert_eq!(at(Some(12_000)).oldest_due(), Duration::ZERO);
        assert_eq!(at(None).oldest_due(), Duration::ZERO);
    }
}
