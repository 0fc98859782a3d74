//! Counts the calls the one sender ([`super::http`]) sends, into the recorder of the
//! worker whose drive sent them.
//!
//! The recorder travels as a task-local set around a drive ([`metered`]), so no
//! client, gate or step signature carries it, and several workers in one process
//! (tests) each count into their own. Outside a metered task (unit tests of a
//! client) nothing is counted.
//!
//! Labels are fixed names: the provider, the action as the client names it (its API
//! action, or method and route template: never a URL with ids), and how the call
//! ended.

use metrics::Recorder;
use std::future::Future;
use std::sync::Arc;

/// A worker's recorder, as the drive hands it down.
pub type SharedRecorder = Arc<dyn Recorder + Send + Sync>;

tokio::task_local! {
    static RECORDER: SharedRecorder;
}

/// How a call ended, as the counter's `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// A 2xx answer, read whole.
    Ok,
    /// 429: the provider asked us to slow down.
    Http429,
    /// Any other 4xx.
    Http4xx,
    /// 5xx (or another non-2xx status).
    Http5xx,
    /// No answer in time.
    Timeout,
    /// Not sent or no answer: connection refused, reset, TLS, DNS.
    Transport,
    /// The status came, the body did not.
    CutOff,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Http429 => "http_429",
            CallOutcome::Http4xx => "http_4xx",
            CallOutcome::Http5xx => "http_5xx",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Transport => "transport",
            CallOutcome::CutOff => "cut_off",
        }
    }

    /// The outcome of an answer with `status` whose body was read.
    pub fn of_status(status: u16) -> CallOutcome {
        match status {
            200..=299 => CallOutcome::Ok,
            429 => CallOutcome::Http429,
            400..=499 => CallOutcome::Http4xx,
            _ => CallOutcome::Http5xx,
        }
    }

    /// The outcome of a call reqwest could not complete.
    pub fn of_transport(e: &reqwest::Error) -> CallOutcome {
        if e.is_timeout() {
            CallOutcome::Timeout
        } else {
            CallOutcome::Transport
        }
    }
}

/// Runs `fut` with the provider calls it sends counted into `recorder`.
pub async fn metered<F: Future>(recorder: SharedRecorder, fut: F) -> F::Output {
    RECORDER.scope(recorder, fut).await
}

/// One call of `provider`'s `action` ended in `outcome`.
pub fn count(provider: &'static str, action: String, outcome: CallOutcome) {
    let _ = RECORDER.try_with(|recorder| {
        metrics::with_local_recorder(recorder.as_ref(), || {
            metrics::counter!(
                "provisioner_provider_calls_total",
                "provider" => provider,
                "action" => action,
                "outcome" => outcome.as_str()
            )
            .increment(1);
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    #[test]
    fn statuses_fall_into_classes() {
        assert_eq!(CallOutcome::of_status(204), CallOutcome::Ok);
        assert_eq!(CallOutcome::of_status(404), CallOutcome::Http4xx);
        assert_eq!(CallOutcome::of_status(429), CallOutcome::Http429);
        assert_eq!(CallOutcome::of_status(503), CallOutcome::Http5xx);
    }

    #[tokio::test]
    async fn only_a_metered_task_counts() {
        let recorder = Arc::new(PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        count("hostkey", "eq/order".into(), CallOutcome::Ok);
        metered(recorder.clone(), async {
            count("hostkey", "eq/order".into(), CallOutcome::Ok);
            tokio::task::yield_now().await;
            count("hostkey", "eq/order".into(), CallOutcome::Http5xx);
        })
        .await;
        let text = handle.render();
        assert!(
            text.contains("provisioner_provider_calls_total{provider=\"hostkey\",action=\"eq/order\",outcome=\"ok\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("outcome=\"http_5xx\"} 1\n"), "{text}");
    }
}
