//! Answers dry runs: takes the requests the api queued in Redis, runs the account's
//! provider's read-only checks and writes the answer back for the api to collect.
//! The plan's steps come from `plan::plan`, each with the calls the provider says it
//! would make.

use crate::providers::Providers;
use provisioner_shared::Store;
use provisioner_shared::dry_run::{DryRunAsk, DryRunReport, PlannedStep, Problem};
use provisioner_shared::plan;
use std::sync::Arc;
use std::time::Duration;

/// How often an idle worker looks for a queued dry run.
const POLL: Duration = Duration::from_millis(100);

/// Runs until `stop` resolves.
pub async fn serve(
    store: Store,
    providers: Arc<Providers>,
    stop: impl std::future::Future<Output = ()> + Send,
) {
    tokio::pin!(stop);
    loop {
        let next = tokio::select! {
            _ = &mut stop => return,
            next = store.take_dry_run() => next,
        };
        match next {
            Ok(Some(payload)) => {
                let (store, providers) = (store.clone(), providers.clone());
                tokio::spawn(async move { answer(&store, &providers, &payload).await });
            }
            Ok(None) => {
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the dry-run queue");
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(POLL * 10) => {}
                }
            }
        }
    }
}

async fn answer(store: &Store, providers: &Providers, payload: &str) {
    let ask: DryRunAsk = match serde_json::from_str(payload) {
        Ok(ask) => ask,
        Err(e) => {
            tracing::warn!(error = %e, "dropping an unreadable dry run");
            return;
        }
    };
    let report = check(providers, &ask).await;
    let body = serde_json::to_string(&report).unwrap_or_default();
    if let Err(e) = store.answer_dry_run(&ask.id, &body).await {
        tracing::warn!(error = %e, id = %ask.id, "cannot write a dry run's answer");
    }
}

/// The provider's checks, with the calls it named set against the job's full plan.
pub async fn check(providers: &Providers, ask: &DryRunAsk) -> DryRunReport {
    let Some(provider) = providers.get(&ask.request.account) else {
        return DryRunReport {
            problems: vec![Problem::new(
                "account",
                "this worker has no such account configured",
            )],
            ..DryRunReport::default()
        };
    };
    let mut report = provider.dry_run(&ask.request).await;
    let named = std::mem::take(&mut report.plan);
    report.plan = plan::plan(&ask.request)
        .into_iter()
        .map(|step| {
            let calls = named
                .iter()
                .find(|p| p.step == step)
                .map(|p| p.calls.clone())
                .unwrap_or_default();
            PlannedStep { step, calls }
        })
        .collect();
    report
}
