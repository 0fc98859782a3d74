//! `provctl status [--watch] [IDS | --state S]`: where jobs are, once as a table or
//! followed live until each one settles (a terminal state or `needs_attention`).
//!
//! On a terminal the live view is one indicatif bar per job on stderr (step n of m,
//! the provider's stage text from the job's `note`, time since it was created);
//! elsewhere (a pipe, a CI log) it is one line per change on stdout, and with
//! `--json` one job JSON per line per change. The exit code says how the jobs
//! ended: [`Exit::for_states`].

use super::Exit;
use super::client::{CliError, Client};
use super::table::{Table, cell};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use provisioner_shared::Millis;
use serde_json::Value;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

/// Polls in a row that may fail with a transient error (the API restarting) before
/// a watch gives up with exit 1.
const TRANSIENT_TRIES: u32 = 10;

/// What `status` looks at and how.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Job ids (none: the newest `--limit` jobs, or those `--state`/`--account`
    /// select).
    pub ids: Vec<String>,
    /// The jobs in this state (queued, running, waiting, succeeded, failed,
    /// cancelled, needs_attention), newest first.
    #[arg(long, conflicts_with = "ids")]
    pub state: Option<String>,
    /// The jobs of this account, newest first.
    #[arg(long, conflicts_with = "ids")]
    pub account: Option<String>,
    /// At most this many jobs, when no ids are given.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Follow the jobs until each has settled (terminal or `needs_attention`); the
    /// exit code says how they ended.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// How often a watch asks the API.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
}

/// A job as the watch shows it, read from its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub id: String,
    pub state: String,
    /// The current step's name (none once the job ended).
    pub step: Option<String>,
    /// The step's position in the plan, 1-based (a finished job: the plan's length).
    pub n: usize,
    pub m: usize,
    /// Steps done or skipped: how full the bar is.
    pub done: usize,
    /// The provider's stage text (the job's `note`), else its error's message.
    pub note: String,
    pub elapsed: Duration,
}

impl Progress {
    /// `now` counts the elapsed time of a live job; a settled one stops at its last
    /// update.
    pub fn of(job: &Value, now: Millis) -> Progress {
        let state = job["state"].as_str().unwrap_or("unknown").to_owned();
        let steps = job["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let step = job["step"].as_str().map(str::to_owned);
        let done = steps
            .iter()
            .filter(|s| matches!(s["state"].as_str(), Some("done" | "skipped")))
            .count();
        let position = step
            .as_deref()
            .and_then(|name| steps.iter().position(|s| s["name"] == name));
        let n = match position {
            Some(i) => i + 1,
            None if state == "succeeded" => steps.len(),
            None => done.min(steps.len()),
        };
        let note = job["note"]
            .as_str()
            .or_else(|| job["error"]["message"].as_str())
            .unwrap_or("")
            .to_owned();
        let settled = is_settled(&state);
        let at = |k: &str| job[k].as_str().and_then(Millis::parse_rfc3339);
        let end = if settled { at("updated_at") } else { Some(now) };
        let elapsed = match (at("created_at"), end) {
            (Some(start), Some(end)) => end.since(start),
            _ => Duration::ZERO,
        };
        Progress {
            id: job["id"].as_str().unwrap_or("").to_owned(),
            state,
            step,
            n,
            m: steps.len(),
            done,
            note,
            elapsed,
        }
    }

    pub fn settled(&self) -> bool {
        is_settled(&self.state)
    }

    /// `step 2 of 5 (create_pxe)`, or `5 of 5 steps` once it ended.
    pub fn step_text(&self) -> String {
        match &self.step {
            Some(name) => format!("step {} of {} ({name})", self.n, self.m),
            None => format!("{} of {} steps", self.n, self.m),
        }
    }

    /// What changes between two polls that a reader cares about (elapsed does not).
    fn key(&self) -> (String, Option<String>, usize, String) {
        (
            self.state.clone(),
            self.step.clone(),
            self.n,
            self.note.clone(),
        )
    }
}

/// Terminal, or waiting for a person: nothing more happens by itself.
pub fn is_settled(state: &str) -> bool {
    matches!(
        state,
        "succeeded" | "failed" | "cancelled" | "needs_attention"
    )
}

/// `1h 02m 03s`, `4m 05s`, `7s`.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, s) => format!("{h}h {m:02}m {s:02}s"),
    }
}

/// The jobs `args` select, as JSON.
async fn select(c: &Client, args: &StatusArgs) -> Result<Vec<Value>, CliError> {
    if !args.ids.is_empty() {
        let mut jobs = Vec::new();
        for id in &args.ids {
            jobs.push(c.send(c.get(&format!("/v1/jobs/{id}"))).await?);
        }
        return Ok(jobs);
    }
    let mut query = vec![("limit", args.limit.to_string())];
    if let Some(s) = &args.state {
        query.push(("state", s.clone()));
    }
    if let Some(a) = &args.account {
        query.push(("account", a.clone()));
    }
    let page = c.send(c.get("/v1/jobs").query(&query)).await?;
    Ok(page["jobs"].as_array().cloned().unwrap_or_default())
}

/// The table `status` prints.
pub fn render(jobs: &[Progress]) -> String {
    let mut t = Table::new(&["ID", "STATE", "STEP", "ELAPSED", "NOTE"]);
    for p in jobs {
        t.row(vec![
            p.id.clone(),
            p.state.clone(),
            p.step_text(),
            short_duration(p.elapsed),
            cell(&Value::String(p.note.clone())),
        ]);
    }
    t.render()
}

pub async fn run(c: &Client, args: &StatusArgs, json: bool) -> Result<Exit, CliError> {
    let jobs = select(c, args).await?;
    if !args.watch {
        if json {
            super::print_json(&Value::Array(jobs));
        } else {
            let now = Millis::now_local();
            let rows: Vec<Progress> = jobs.iter().map(|j| Progress::of(j, now)).collect();
            print!("{}", render(&rows));
        }
        return Ok(Exit::Ok);
    }
    if jobs.is_empty() {
        eprintln!("provctl: no job matches: nothing to watch");
        return Ok(Exit::Ok);
    }
    watch(c, jobs, args.interval, json).await
}

/// How a watch shows its jobs.
enum View {
    Bars {
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
    },
    Lines,
    Json,
}

impl View {
    fn new(json: bool) -> View {
        if json {
            return View::Json;
        }
        if !std::io::stderr().is_terminal() {
            return View::Lines;
        }
        View::Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: HashMap::new(),
        }
    }

    /// Shows `p` (`job` is its JSON); `changed` says whether it moved since the last
    /// poll (lines and JSON are written only then; bars always tick the time).
    fn show(&mut self, p: &Progress, job: &Value, changed: bool) {
        match self {
            View::Json if changed => {
                println!("{}", serde_json::to_string(job).unwrap_or_default());
            }
            View::Lines if changed => println!(
                "{}  {}  {}  {}  {}",
                p.id,
                p.state,
                p.step_text(),
                short_duration(p.elapsed),
                p.note
            ),
            View::Json | View::Lines => {}
            View::Bars { multi, bars } => {
                let bar = bars.entry(p.id.clone()).or_insert_with(|| {
                    let style = ProgressStyle::with_template(
                        "{prefix} [{bar:24.cyan/blue}] {pos}/{len} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                    let bar = multi.add(ProgressBar::new(p.m as u64).with_style(style));
                    bar.set_prefix(p.id.clone());
                    bar
                });
                bar.set_length(p.m as u64);
                bar.set_position(p.done as u64);
                bar.set_message(format!(
                    "{:<15} {}  {}  {}",
                    p.state,
                    p.step_text(),
                    short_duration(p.elapsed),
                    p.note
                ));
                if p.settled() {
                    bar.finish();
                }
            }
        }
    }

    /// After the last poll: on a terminal the bars stay, and the summary goes to
    /// stdout.
    fn end(self, last: &[Progress]) {
        if let View::Bars { multi, .. } = self {
            let _ = multi.clear();
            print!("{}", render(last));
        }
    }
}

/// Polls every unsettled job each `interval` until all have settled.
async fn watch(
    c: &Client,
    jobs: Vec<Value>,
    interval: Duration,
    json: bool,
) -> Result<Exit, CliError> {
    let mut view = View::new(json);
    let now = Millis::now_local();
    let mut last: Vec<Progress> = jobs.iter().map(|j| Progress::of(j, now)).collect();
    for (p, job) in last.iter().zip(&jobs) {
        view.show(p, job, true);
    }
    let mut failures = 0;
    while last.iter().any(|p| !p.settled()) {
        tokio::time::sleep(interval).await;
        for p in last.iter_mut().filter(|p| !p.settled()) {
            let job = match c.send(c.get(&format!("/v1/jobs/{}", p.id))).await {
                Ok(job) => {
                    failures = 0;
                    job
                }
                Err(e) if e.is_transient() && failures < TRANSIENT_TRIES => {
                    failures += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let next = Progress::of(&job, Millis::now_local());
            let changed = next.key() != p.key();
            view.show(&next, &job, changed);
            *p = next;
        }
    }
    view.end(&last);
    Ok(Exit::for_states(last.iter().map(|p| p.state.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(state: &str, step: Option<&str>, note: Option<&str>) -> Value {
        json!({
            "id": "01J", "state": state, "step": step, "note": note,
            "steps": [
                {"name": "order", "state": "done"},
                {"name": "await_delivery", "state": if step.is_some() { "waiting" } else { "done" }},
                {"name": "reboot", "state": "pending"},
            ],
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:01:05.000Z",
        })
    }

    #[test]
    fn a_waiting_job_shows_its_step_and_the_providers_stage() {
        let now = Millis::parse_rfc3339("2026-01-01T00:02:00.000Z").unwrap();
        let p = Progress::of(
            &job("waiting", Some("await_delivery"), Some("stage: installing")),
            now,
        );
        assert_eq!((p.n, p.m, p.done), (2, 3, 1));
        assert_eq!(p.step_text(), "step 2 of 3 (await_delivery)");
        assert_eq!(p.note, "stage: installing");
        assert_eq!(
            p.elapsed,
            Duration::from_secs(120),
            "a live job counts to now"
        );
        assert!(!p.settled());
    }

    #[test]
    fn a_settled_job_stops_its_clock_and_falls_back_to_its_error() {
        let now = Millis::parse_rfc3339("2026-01-01T05:00:00.000Z").unwrap();
        let mut j = job("failed", None, None);
        j["error"] = json!({"message": "gave up after 8 attempts"});
        let p = Progress::of(&j, now);
        assert_eq!(p.elapsed, Duration::from_secs(65));
        assert_eq!(p.note, "gave up after 8 attempts");
        assert!(p.settled());
        assert_eq!(short_duration(p.elapsed), "1m 05s");
        assert_eq!(short_duration(Duration::from_secs(3723)), "1h 02m 03s");
    }
}
