//! The bench's command line, parsed by hand (one binary, a handful of flags).

use anyhow::{Context, bail};
use provisioner_shared::config::RuntimeFlavor;

pub const USAGE: &str = "\
usage: provisioner-bench SCENARIO [--n N] [--concurrency C] [--redis-url URL] [--quick]
                         [--runtime multi-thread|current-thread] [--steps K] [--workers W]

scenarios: steps, enqueue, idle, backlog, apalis-redis, cluster, all
  --n N            jobs (steps, idle, backlog, cluster), tasks (apalis-redis)
  --concurrency C  worker concurrency (default 50); client concurrency for enqueue
  --redis-url URL  use this Redis (several URLs, comma-separated: a cluster seed list)
                   instead of a private redis-server per scenario
  --quick          small N and short phases: proves every scenario runs (CI)
  --runtime R      the worker's tokio runtime (default: multi-thread, the config default)
  --steps K        steps per job (default 4)
  --workers W      worker processes for steps and cluster (default 1)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    All,
    Steps,
    Enqueue,
    Idle,
    Backlog,
    ApalisRedis,
    Cluster,
}

impl Scenario {
    /// What `all` runs, in order.
    pub const EACH: [Scenario; 6] = [
        Scenario::Steps,
        Scenario::Enqueue,
        Scenario::Idle,
        Scenario::Backlog,
        Scenario::ApalisRedis,
        Scenario::Cluster,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::All => "all",
            Scenario::Steps => "steps",
            Scenario::Enqueue => "enqueue",
            Scenario::Idle => "idle",
            Scenario::Backlog => "backlog",
            Scenario::ApalisRedis => "apalis-redis",
            Scenario::Cluster => "cluster",
        }
    }

    fn parse(s: &str) -> Option<Scenario> {
        std::iter::once(Scenario::All)
            .chain(Scenario::EACH)
            .find(|sc| sc.name() == s)
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub scenario: Scenario,
    /// `None`: each scenario's own default (see each module).
    pub n: Option<usize>,
    pub concurrency: usize,
    pub redis_url: Option<String>,
    pub quick: bool,
    pub runtime: RuntimeFlavor,
    pub steps: u32,
    pub workers: usize,
}

impl Options {
    /// `Ok(None)` for `--help`.
    pub fn parse(args: &[String]) -> anyhow::Result<Option<Options>> {
        let mut scenario = None;
        let mut opts = Options {
            scenario: Scenario::All,
            n: None,
            concurrency: 50,
            redis_url: None,
            quick: false,
            runtime: RuntimeFlavor::MultiThread,
            steps: 4,
            workers: 1,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .with_context(|| format!("{name} needs a value"))
            };
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--quick" => opts.quick = true,
                "--n" => opts.n = Some(number(&value("--n")?, "--n")?),
                "--concurrency" => opts.concurrency = number(&value(arg)?, arg)?,
                "--steps" => opts.steps = number(&value(arg)?, arg)? as u32,
                "--workers" => opts.workers = number(&value(arg)?, arg)?,
                "--redis-url" => opts.redis_url = Some(value(arg)?),
                "--runtime" => {
                    opts.runtime = match value(arg)?.as_str() {
                        "multi-thread" => RuntimeFlavor::MultiThread,
                        "current-thread" => RuntimeFlavor::CurrentThread,
                        other => {
                            bail!("--runtime takes multi-thread or current-thread, not `{other}`")
                        }
                    }
                }
                other if other.starts_with('-') => bail!("unknown option `{other}`"),
                other => {
                    if scenario.is_some() {
                        bail!("one scenario at a time (or `all`), not also `{other}`");
                    }
                    scenario = Some(
                        Scenario::parse(other)
                            .with_context(|| format!("unknown scenario `{other}`"))?,
                    );
                }
            }
        }
        opts.scenario = scenario.context("name a scenario (or `all`)")?;
        if opts.steps == 0 || opts.steps > 1000 {
            bail!("--steps must be 1 to 1000 (the noop provider's range)");
        }
        Ok(Some(opts))
    }

    /// The scenario's N: `--n`, else its quick or full default.
    pub fn n_or(&self, quick: usize, full: usize) -> usize {
        self.n.unwrap_or(if self.quick { quick } else { full })
    }

    pub fn runtime_name(&self) -> &'static str {
        runtime_name(self.runtime)
    }
}

pub fn runtime_name(flavor: RuntimeFlavor) -> &'static str {
    match flavor {
        RuntimeFlavor::MultiThread => "multi-thread",
        RuntimeFlavor::CurrentThread => "current-thread",
    }
}

fn number(s: &str, name: &str) -> anyhow::Result<usize> {
    let n: usize = s
        .replace('_', "")
        .parse()
        .with_context(|| format!("{name} takes a positive number, not `{s}`"))?;
    if n == 0 {
        bail!("{name} must be at least 1");
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags_and_scenario_in_any_order() {
        let o = Options::parse(&args("--n 100_000 steps --runtime current-thread --quick"))
            .unwrap()
            .unwrap();
        assert_eq!(o.scenario, Scenario::Steps);
        assert_eq!(o.n, Some(100_000));
        assert!(o.quick);
        assert_eq!(o.runtime, RuntimeFlavor::CurrentThread);
        assert_eq!(o.concurrency, 50);
    }

    #[test]
    fn mistakes_are_named() {
        let e = Options::parse(&args("stepz")).unwrap_err().to_string();
        assert!(e.contains("stepz"), "{e}");
        let e = Options::parse(&args("steps --n")).unwrap_err().to_string();
        assert!(e.contains("--n needs a value"), "{e}");
        let e = format!(
            "{:#}",
            Options::parse(&args("all --workers 0")).unwrap_err()
        );
        assert!(e.contains("--workers"), "{e}");
        assert!(Options::parse(&args("--help")).unwrap().is_none());
    }
}
