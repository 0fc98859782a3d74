//! `provisioner-sandbox`: the simulators and the one-command demo.

use provisioner_sandbox::demo::{self, DemoOptions};
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: provisioner-sandbox demo [--speed FACTOR]\n\n\
         demo   start Redis, the simulators, the api and a worker, provision one server at\n\
         \u{20}      each of the four simulators at once (Klikk's through a signed billing\n\
         \u{20}      webhook) and show their steps live (REDIS_URL is used when set)"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(cmd) = args.next() else {
        return usage();
    };
    let mut opts = DemoOptions::default();
    while let Some(arg) = args.next() {
        match (
            arg.as_str(),
            args.next().and_then(|v| v.parse::<f64>().ok()),
        ) {
            ("--speed", Some(s)) if s > 0.0 => opts.speed = s,
            _ => return usage(),
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_target(false)
        .init();
    match cmd.as_str() {
        "demo" => match demo::run(opts).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo failed: {e}");
                ExitCode::FAILURE
            }
        },
        _ => usage(),
    }
}
