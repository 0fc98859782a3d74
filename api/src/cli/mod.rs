//! `provctl`, the command-line client of the HTTP API, as a library: the binary
//! (`src/bin/provctl.rs`) only calls [`main`]. Tables for people by default,
//! `--json` (the API's own JSON) for scripts; the exit code says how a command, or
//! the jobs it watched, ended ([`Exit`]).
//!
//! - `client`: the HTTP calls and [`CliError`], which knows its exit code.
//! - `token`: where the bearer token comes from (never the command line).
//! - `table`: the aligned plain-text tables.
//! - `status`: `status [--watch]`, the live view with one progress bar per job.

mod client;
mod status;
mod table;
mod token;

pub use client::{CliError, Client};
pub use status::{Progress, StatusArgs};

use clap::{Parser, Subcommand};
use provisioner_shared::bootstrap;
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use table::{Table, cell, pairs};

/// What `provctl` exits with. Clap's own usage errors exit 2 as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; a watch: every job succeeded.
    Ok = 0,
    /// The API could not be reached, or refused the request (its words on stderr).
    Error = 1,
    /// A usage mistake (clap's code).
    Usage = 2,
    /// A watch: a job failed.
    Failed = 3,
    /// A watch: a job needs attention (`provctl resolve`).
    NeedsAttention = 4,
    /// A watch: a job was cancelled.
    Cancelled = 5,
    /// No such job, or the token is missing, wrong or lacks the scope (401/403/404).
    NotFound = 6,
}

/// The exit codes as `--help` shows them (and README's provctl section).
const EXIT_CODES: &str = "\
Exit codes:
  0  done; a watch: every job succeeded
  1  the API could not be reached or refused the request
  2  a usage mistake
  3  a watch: a job failed
  4  a watch: a job needs attention (provctl resolve)
  5  a watch: a job was cancelled
  6  no such job, or the token is missing, wrong or lacks the scope
A watch of several jobs exits with the first of 4, 3, 5 that applies, else 0.

The token comes from --token-file (env PROVISIONER_TOKEN_FILE) or PROVISIONER_TOKEN,
never from the command line.";

impl Exit {
    /// How a watch of jobs that ended in `states` exits: one needing a person first,
    /// then a failure, then a cancel; all succeeded is 0.
    pub fn for_states<'a>(states: impl IntoIterator<Item = &'a str>) -> Exit {
        let states: Vec<&str> = states.into_iter().collect();
        let any = |s: &str| states.contains(&s);
        if any("needs_attention") {
            Exit::NeedsAttention
        } else if any("failed") {
            Exit::Failed
        } else if any("cancelled") {
            Exit::Cancelled
        } else {
            Exit::Ok
        }
    }

    pub fn code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

/// A command-line client of the Provisioner HTTP API: tables by default, `--json`
/// for scripts.
#[derive(Parser)]
#[command(name = "provctl", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The API's base URL.
    #[arg(
        long,
        env = "PROVISIONER_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// A file holding the bearer token (else `PROVISIONER_TOKEN`).
    #[arg(
        long,
        env = "PROVISIONER_TOKEN_FILE",
        value_name = "PATH",
        global = true
    )]
    token_file: Option<PathBuf>,
    /// Deprecated: shows in `ps`. Use PROVISIONER_TOKEN or --token-file.
    #[arg(long, hide = true, global = true)]
    token: Option<String>,
    /// Print the API's JSON instead of a table (a watch: one job JSON per line per
    /// change).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List jobs, newest first.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        reference: Option<String>,
        #[arg(long)]
        limit: Option<String>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One job: its fields and its steps.
    Get { id: String },
    /// Where jobs are: step n of m, the provider's stage, elapsed; `--watch` follows
    /// them live until each settles.
    Status(StatusArgs),
    /// Follow jobs until each settles (= `status --watch IDS`).
    Watch {
        #[arg(required = true)]
        ids: Vec<String>,
        /// How often to ask the API.
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
    },
    /// Ask for a job's cancellation.
    Cancel { id: String },
    /// Resume a failed job at its failed step (a waiting one: poll now).
    Retry { id: String },
    /// The server's login (needs a token with the `credentials` scope).
    Credentials { id: String },
    /// The job's provider calls, oldest first, as a table (time, step and attempt,
    /// method, path, action, status, latency); `--json`: one JSON line per call
    /// with the redacted bodies, for export.
    Calls { id: String },
    /// Settle a job that needs attention.
    Resolve {
        id: String,
        #[command(subcommand)]
        action: Resolution,
    },
    /// Enqueue the job request in FILE (`-`: stdin).
    Submit {
        file: String,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
enum Resolution {
    /// The order or payment exists: record it as done.
    Adopt { order_id: Option<String> },
    /// Nothing was created: make the step again.
    Reorder,
    /// Give up: the job ends failed.
    Fail,
}

/// The whole of `provctl`: parse, run on a small runtime, exit with the [`Exit`].
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("provctl: cannot start the async runtime: {e}");
            return Exit::Error.code();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit.code(),
        Err(e) => {
            eprintln!("provctl: {e}");
            e.exit().code()
        }
    }
}

pub(crate) fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Runs one command; `Ok` carries the exit of a watch (else [`Exit::Ok`]).
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    if let Command::Completions { shell } = cli.command {
        bootstrap::print_completions::<Cli>(shell);
        return Ok(Exit::Ok);
    }
    let token = token::resolve(
        cli.token,
        cli.token_file.as_deref(),
        std::env::var("PROVISIONER_TOKEN").ok(),
    )?;
    let c = Client::new(&cli.url, token)?;
    let json = cli.json;
    let out = match cli.command {
        Command::Completions { .. } => return Ok(Exit::Ok),
        Command::Status(args) => return status::run(&c, &args, json).await,
        Command::Watch { ids, interval } => {
            let args = StatusArgs {
                ids,
                state: None,
                account: None,
                limit: 50,
                watch: true,
                interval,
            };
            return status::run(&c, &args, json).await;
        }
        Command::List {
            state,
            account,
            reference,
            limit,
            cursor,
        } => {
            let query: Vec<(&str, String)> = [
                ("state", state),
                ("account", account),
                ("reference", reference),
                ("limit", limit),
                ("cursor", cursor),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            let page = c.send(c.get("/v1/jobs").query(&query)).await?;
            if !json {
                print!("{}", list_table(&page));
                if let Some(next) = page["next_cursor"].as_str() {
                    eprintln!("more: provctl list --cursor {next}");
                }
                return Ok(Exit::Ok);
            }
            page
        }
        Command::Get { id } => {
            let job = c.send(c.get(&format!("/v1/jobs/{id}"))).await?;
            if !json {
                print!("{}", job_text(&job));
                return Ok(Exit::Ok);
            }
            job
        }
        Command::Credentials { id } => c.send(c.get(&format!("/v1/jobs/{id}/credentials"))).await?,
        Command::Calls { id } => {
            let calls = c.send(c.get(&format!("/v1/jobs/{id}/calls"))).await?;
            let calls = calls.as_array().map(Vec::as_slice).unwrap_or(&[]);
            if json {
                for call in calls {
                    println!("{call}");
                }
            } else {
                print!("{}", calls_table(calls));
            }
            return Ok(Exit::Ok);
        }
        Command::Cancel { id } => c.send(c.post(&format!("/v1/jobs/{id}/cancel"))).await?,
        Command::Retry { id } => c.send(c.post(&format!("/v1/jobs/{id}/retry"))).await?,
        Command::Resolve { id, action } => {
            let body = match action {
                Resolution::Adopt {
                    order_id: Some(order),
                } => json!({"action": "adopt", "order_id": order}),
                Resolution::Adopt { order_id: None } => json!({"action": "adopt"}),
                Resolution::Reorder => json!({"action": "reorder"}),
                Resolution::Fail => json!({"action": "fail"}),
            };
            c.send(c.post(&format!("/v1/jobs/{id}/resolve")).json(&body))
                .await?
        }
        Command::Submit {
            file,
            idempotency_key,
        } => {
            let mut req = c.post("/v1/jobs").json(&read_request(&file)?);
            if let Some(key) = idempotency_key {
                req = req.header("Idempotency-Key", key);
            }
            c.send(req).await?
        }
    };
    if json {
        print_json(&out);
    } else {
        print!("{}", record_text(&out));
    }
    Ok(Exit::Ok)
}

/// The job request in `file` (`-`: stdin), which must be JSON.
fn read_request(file: &str) -> Result<Value, CliError> {
    let mut text = String::new();
    let read = if file == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|t| text = t)
    };
    read.map_err(|source| CliError::Io {
        what: format!("reading {file}"),
        source,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{file}: the job request is not JSON: {e}")))
}

/// `provctl list`'s table.
fn list_table(page: &Value) -> String {
    let mut t = Table::new(&[
        "ID",
        "STATE",
        "KIND",
        "ACCOUNT",
        "REFERENCE",
        "STEP",
        "UPDATED",
    ]);
    for job in page["jobs"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        t.row(
            [
                "id",
                "state",
                "kind",
                "account",
                "reference",
                "step",
                "updated_at",
            ]
            .iter()
            .map(|k| cell(&job[*k]))
            .collect(),
        );
    }
    if t.is_empty() {
        return "no jobs\n".to_owned();
    }
    t.render()
}

/// `provctl calls`' table.
fn calls_table(calls: &[Value]) -> String {
    let mut t = Table::new(&[
        "AT", "STEP", "METHOD", "PATH", "ACTION", "STATUS", "LATENCY",
    ]);
    for call in calls {
        let status = match call["status"].as_u64() {
            Some(s) => s.to_string(),
            None => format!("- ({})", cell(&call["error"])),
        };
        t.row(vec![
            cell(&call["at"]),
            format!(
                "{}#{}",
                cell(&call["step"]),
                call["attempt"].as_u64().unwrap_or(0)
            ),
            cell(&call["method"]),
            cell(&call["path"]),
            cell(&call["action"]),
            status,
            format!("{} ms", call["latency_ms"].as_u64().unwrap_or(0)),
        ]);
    }
    if t.is_empty() {
        return "no provider calls yet\n".to_owned();
    }
    t.render()
}

/// `provctl get`'s view: the job's fields, then its steps.
fn job_text(job: &Value) -> String {
    let p = Progress::of(job, provisioner_shared::Millis::now_local());
    let mut rows: Vec<(&str, String)> = ["id", "state", "kind", "account", "provider", "reference"]
        .iter()
        .map(|k| (*k, cell(&job[*k])))
        .collect();
    rows.push(("progress", p.step_text()));
    rows.push(("note", cell(&job["note"])));
    for (label, key) in [
        ("server", "id"),
        ("order", "order_id"),
        ("invoice", "invoice_id"),
        ("ipv4", "ipv4"),
        ("ipv6", "ipv6"),
    ] {
        rows.push((label, cell(&job["server"][key])));
    }
    if !job["error"].is_null() {
        rows.push(("error", cell(&job["error"]["message"])));
    }
    rows.push(("created", cell(&job["created_at"])));
    rows.push(("updated", cell(&job["updated_at"])));
    let mut out = pairs(&rows);
    let mut steps = Table::new(&["STEP", "STATE", "ATTEMPTS", "DETAIL"]);
    for s in job["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        steps.row(
            ["name", "state", "attempts", "detail"]
                .iter()
                .map(|k| cell(&s[*k]))
                .collect(),
        );
    }
    out.push('\n');
    out.push_str(&steps.render());
    out
}

/// Any other answer: a job in one line, else its top-level fields as pairs.
fn record_text(v: &Value) -> String {
    if let (Some(id), Some(state)) = (v["id"].as_str(), v["state"].as_str()) {
        return format!("{id}  {state}\n");
    }
    match v.as_object() {
        Some(map) => pairs(
            &map.iter()
                .map(|(k, v)| (k.as_str(), cell(v)))
                .collect::<Vec<_>>(),
        ),
        None => format!("{}\n", cell(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_arguments_are_consistent_and_help_lists_the_exit_codes() {
        Cli::command().debug_assert();
        let help = Cli::command().render_help().to_string();
        assert!(help.contains("4  a watch: a job needs attention"), "{help}");
        assert!(!help.contains("--token "), "--token is hidden: {help}");
    }

    #[test]
    fn a_watch_exits_by_the_worst_ending() {
        assert_eq!(Exit::for_states(["succeeded", "succeeded"]), Exit::Ok);
        assert_eq!(
            Exit::for_states(["succeeded", "cancelled"]),
            Exit::Cancelled
        );
        assert_eq!(Exit::for_states(["cancelled", "failed"]), Exit::Failed);
        assert_eq!(
            Exit::for_states(["failed", "needs_attention"]),
            Exit::NeedsAttention
        );
    }

    #[test]
    fn status_takes_ids_or_a_filter_not_both() {
        // none: the newest jobs (the demo's `provctl status --watch`)
        assert!(Cli::try_parse_from(["provctl", "status", "--watch"]).is_ok());
        assert!(Cli::try_parse_from(["provctl", "status", "--state", "failed", "-w"]).is_ok());
        assert!(Cli::try_parse_from(["provctl", "status", "01J", "--state", "failed"]).is_err());
    }
}
