//! `backlog`: N jobs due at once (seeded before any worker runs), drained by TWO
//! worker processes started together: time to drain, errors (jobs that did not
//! succeed with every step run exactly once, dead workers, WARN/ERROR log lines), and
//! memory (Redis per due job, the workers' peak RSS).

use super::Bench;
use super::deployment::Target;
use super::report::Report;
use super::steps::{Plan, measure, report_figures};

pub async fn scenario(bench: &Bench) -> anyhow::Result<Report> {
    let mut plan = Plan::from_bench(bench, 1_000, 100_000);
    plan.workers = 2;
    let target = Target::from_options(&bench.opts).await?;
    let f = measure(bench, &target, "backlog", &plan).await?;
    let mut r = Report::new("backlog");
    r.note("redis", target.describe());
    r.figure("n", "jobs due at once", plan.jobs as u64);
    r.figure("steps_per_job", "steps per job", u64::from(plan.steps));
    r.figure("workers", "worker processes", 2);
    r.figure(
        "concurrency",
        "concurrency per worker",
        plan.concurrency as u64,
    );
    r.figure(
        "drain_s",
        "time to drain, worker start → empty (s)",
        f.wall_s,
    );
    r.figure(
        "errors",
        "errors (bad jobs + WARN/ERROR log lines)",
        (f.bad_jobs + f.log_problems) as u64,
    );
    r.figure(
        "redis_bytes_per_due_job",
        "Redis used_memory per due job (B)",
        f.seeded_bytes_per_job,
    );
    r.note(
        "CPU per worker (s)",
        f.per_worker_cpu_s
            .iter()
            .map(|c| format!("{c:.2}"))
            .collect::<Vec<_>>()
            .join(" / "),
    );
    report_figures(&mut r, &f);
    Ok(r)
}
