//! What Redis says about a run: `INFO commandstats`, `INFO memory` and `INFO cpu`,
//! summed over every master of a cluster, as before/after snapshots.
//!
//! **How commands and round trips are counted.** Redis counts a command a script
//! runs (`redis.call`) in `commandstats` like one a client sent, so the sum of all
//! calls between two snapshots is every command Redis executed: the *commands*. The
//! *round trips* are what clients sent: `EVALSHA`/`EVAL` plus every command no script
//! of that system ever calls, plus — for commands both use — the share that was not
//! the scripts'. For our engine those are `ZRANGE` (an idle worker reads each shard's
//! earliest due time with it; `claim.lua` calls it once per run, as it calls
//! `ZRANGEBYSCORE`, which nothing else uses) and `TIME` (every script calls it once;
//! a worker also asks it at start). The bench's own calls (`INFO`, the `ZCARD`s that
//! watch a drain) are taken out by name and count.

use anyhow::{Context, bail};
use redis::aio::MultiplexedConnection;
use std::collections::{BTreeMap, BTreeSet};

/// Commands the engine's scripts call, read from the scripts themselves.
const OUR_SCRIPTS: [&str; 4] = [
    include_str!("../../../shared/src/store/lua/claim.lua"),
    include_str!("../../../shared/src/store/lua/commit.lua"),
    include_str!("../../../shared/src/store/lua/enqueue.lua"),
    include_str!("../../../shared/src/store/lua/signal.lua"),
];

/// Commands apalis-redis 1.0's scripts call (its `lua/*.lua`, read by hand).
const APALIS_SCRIPT_COMMANDS: &[&str] = &[
    "del",
    "expire",
    "hdel",
    "hget",
    "hgetall",
    "hkeys",
    "hmget",
    "hmset",
    "hset",
    "hsetnx",
    "llen",
    "lpush",
    "lrange",
    "lrem",
    "ltrim",
    "publish",
    "rpush",
    "sadd",
    "scard",
    "setnx",
    "sismember",
    "smembers",
    "srem",
    "time",
    "zadd",
    "zcard",
    "zcount",
    "zrange",
    "zrangebyscore",
    "zrem",
    "zrevrange",
    "zscore",
];

/// Lower-case names of the commands `redis.call`/`redis.pcall` name in `lua`.
pub fn script_commands(lua: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for call in ["redis.call(", "redis.pcall("] {
        for (at, _) in lua.match_indices(call) {
            let rest = lua[at + call.len()..].trim_start();
            let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                found.insert(rest[1..=end].to_ascii_lowercase());
            }
        }
    }
    found
}

/// One connection per master.
pub struct Nodes {
    nodes: Vec<(String, MultiplexedConnection)>,
}

impl Nodes {
    /// The node of `urls[0]`, or every master of the cluster it belongs to.
    pub async fn connect(urls: &[String], cluster: bool) -> anyhow::Result<Nodes> {
        let seed = urls.first().context("no Redis URL")?;
        let mut seed_conn = open(seed).await?;
        let addrs = if cluster {
            let text: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut seed_conn)
                .await?;
            masters(&text)
        } else {
            vec![seed.clone()]
        };
        if addrs.is_empty() {
            bail!("the cluster at {seed} lists no master");
        }
        let mut nodes = Vec::new();
        for url in addrs {
            let conn = open(&url).await?;
            nodes.push((url, conn));
        }
        Ok(Nodes { nodes })
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|(u, _)| u.clone()).collect()
    }

    /// One snapshot per master, in [`Nodes::urls`] order.
    pub async fn per_node(&self) -> anyhow::Result<Vec<Snapshot>> {
        let mut out = Vec::new();
        for (_, conn) in &self.nodes {
            let mut c = conn.clone();
            let text: String = redis::cmd("INFO")
                .arg("commandstats")
                .arg("memory")
                .arg("cpu")
                .query_async(&mut c)
                .await?;
            out.push(Snapshot::parse(&text));
        }
        Ok(out)
    }

    /// Every master's figures, summed.
    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let mut sum = Snapshot::default();
        for s in self.per_node().await? {
            for (cmd, n) in s.calls {
                *sum.calls.entry(cmd).or_default() += n;
            }
            sum.used_memory += s.used_memory;
            sum.cpu_s += s.cpu_s;
        }
        Ok(sum)
    }

    /// A connection to the first node (pub/sub checks, slot lookups).
    pub fn first(&self) -> MultiplexedConnection {
        self.nodes[0].1.clone()
    }
}

async fn open(url: &str) -> anyhow::Result<MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// `redis://host:port` of every live master in a `CLUSTER NODES` reply.
fn masters(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let flags = f.get(2)?;
            if !flags.contains("master") || flags.contains("fail") {
                return None;
            }
            let addr = f.get(1)?.split('@').next()?;
            Some(format!("redis://{addr}"))
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Calls per command (lower case, `config|get` style for subcommands).
    pub calls: BTreeMap<String, u64>,
    pub used_memory: u64,
    /// `used_cpu_sys + used_cpu_user` of the server process.
    pub cpu_s: f64,
}

impl Snapshot {
    fn parse(text: &str) -> Snapshot {
        let mut s = Snapshot::default();
        let mut cpu = 0.0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("cmdstat_") {
                let Some((name, stats)) = rest.split_once(':') else {
                    continue;
                };
                let calls = stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("calls="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                s.calls.insert(name.to_ascii_lowercase(), calls);
            } else if let Some(v) = line.strip_prefix("used_memory:") {
                s.used_memory = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line
                .strip_prefix("used_cpu_sys:")
                .or_else(|| line.strip_prefix("used_cpu_user:"))
            {
                cpu += v.trim().parse::<f64>().unwrap_or(0.0);
            }
        }
        s.cpu_s = cpu;
        s
    }

    /// Calls made since `before`, the bench's own taken out.
    pub fn calls_since(
        &self,
        before: &Snapshot,
        own: &BTreeMap<String, u64>,
    ) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (cmd, &n) in &self.calls {
            if cmd == "info" {
                continue;
            }
            let was = before.calls.get(cmd).copied().unwrap_or(0);
            let mine = own.get(cmd).copied().unwrap_or(0);
            let d = n.saturating_sub(was).saturating_sub(mine);
            if d > 0 {
                out.insert(cmd.clone(), d);
            }
        }
        out
    }
}

/// Commands Redis executed and round trips clients made, over some window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub commands: u64,
    pub round_trips: u64,
}

fn get(calls: &BTreeMap<String, u64>, cmd: &str) -> u64 {
    calls.get(cmd).copied().unwrap_or(0)
}

fn scripts_run(calls: &BTreeMap<String, u64>) -> u64 {
    get(calls, "evalsha") + get(calls, "eval")
}

/// Our engine's counts (see the module doc).
pub fn our_counts(calls: &BTreeMap<String, u64>) -> Counts {
    let in_scripts: BTreeSet<String> = OUR_SCRIPTS
        .iter()
        .flat_map(|s| script_commands(s))
        .collect();
    let scripts = scripts_run(calls);
    let plain: u64 = calls
        .iter()
        .filter(|(c, _)| !in_scripts.contains(*c) && *c != "evalsha" && *c != "eval")
        .map(|(_, n)| n)
        .sum();
    let zrange = get(calls, "zrange").saturating_sub(get(calls, "zrangebyscore"));
    let time = get(calls, "time").saturating_sub(scripts);
    Counts {
        commands: calls.values().sum(),
        round_trips: scripts + plain + zrange + time,
    }
}

/// apalis-redis's counts: its scripts, and what no script of it calls.
pub fn apalis_counts(calls: &BTreeMap<String, u64>) -> Counts {
    let plain: u64 = calls
        .iter()
        .filter(|(c, _)| {
            !APALIS_SCRIPT_COMMANDS.contains(&c.as_str()) && *c != "evalsha" && *c != "eval"
        })
        .map(|(_, n)| n)
        .sum();
    Counts {
        commands: calls.values().sum(),
        round_trips: scripts_run(calls) + plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_commands_are_read_from_the_lua() {
        let found = script_commands(
            "local t = redis.call('TIME')\nredis.call( \"ZADD\", KEYS[1], 1, 'x')\nredis.pcall('del', k)",
        );
        let want: BTreeSet<String> = ["time", "zadd", "del"].map(String::from).into();
        assert_eq!(found, want);
        let ours: BTreeSet<String> = OUR_SCRIPTS
            .iter()
            .flat_map(|s| script_commands(s))
            .collect();
        for cmd in ["hmget", "hset", "zadd", "zrangebyscore", "time"] {
            assert!(ours.contains(cmd), "{cmd} not in {ours:?}");
        }
    }

    #[test]
    fn round_trips_are_scripts_plus_plain_commands() {
        let calls: BTreeMap<String, u64> = [
            ("evalsha", 100),
            ("hmget", 150),
            ("hset", 150),
            ("zadd", 110),
            ("time", 101),
            ("zrangebyscore", 10),
            ("zrange", 26),
            ("hsetnx", 1),
        ]
        .into_iter()
        .map(|(c, n)| (c.to_owned(), n))
        .collect();
        let c = our_counts(&calls);
        assert_eq!(c.commands, 648);
        // 100 scripts + HSETNX + 16 top-level ZRANGE + 1 top-level TIME
        assert_eq!(c.round_trips, 118);
    }

    #[test]
    fn info_is_parsed_and_the_bench_own_calls_are_taken_out() {
        let before = Snapshot::parse("cmdstat_zcard:calls=10,usec=1\r\nused_memory:1000\r\n");
        let after = Snapshot::parse(
            "# Commandstats\r\ncmdstat_zcard:calls=42,usec=5,usec_per_call=0.1\r\ncmdstat_evalsha:calls=7,usec=1\r\ncmdstat_info:calls=3\r\nused_memory:5000\r\nused_cpu_sys:1.5\r\nused_cpu_user:2.25\r\n",
        );
        assert_eq!(after.used_memory, 5000);
        assert_eq!(after.cpu_s, 3.75);
        let own: BTreeMap<String, u64> = [("zcard".to_owned(), 32)].into();
        let d = after.calls_since(&before, &own);
        assert_eq!(d, [("evalsha".to_owned(), 7)].into());
    }

    #[test]
    fn masters_come_from_cluster_nodes() {
        let text = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
                    b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922\n\
                    c3 127.0.0.1:7002@17002 slave a1 0 0 1 connected\n\
                    d4 127.0.0.1:7003@17003 master,fail - 0 0 3 disconnected\n";
        assert_eq!(
            masters(text),
            vec!["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]
        );
    }
}
