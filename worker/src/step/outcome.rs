//! What a step returns. The engine turns it into a schedule; nothing else may ask
//! for time (STYLE.md: outcomes, not booleans).

use super::{CallError, KnownSecrets};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The step is done: go on with the next one now.
    Next,
    /// The provider is not ready yet (order pending, install at stage 2/5): poll again
    /// after a growing interval (or `after`), until the step's deadline.
    Wait {
        after: Option<Duration>,
        note: String,
    },
    /// A transient failure: try again after a backoff (or `after`, e.g. Retry-After),
    /// until `retry.max_attempts`.
    Retry {
        after: Option<Duration>,
        error: StepError,
    },
    /// A permanent failure: the job fails (after its finalizers).
    Fail(StepError),
    /// A money step whose outcome cannot be known: an operator must look.
    Attention(String),
}

impl Outcome {
    pub fn wait(note: impl Into<String>) -> Outcome {
        Outcome::Wait {
            after: None,
            note: note.into(),
        }
    }

    pub fn fail(message: impl Into<String>) -> Outcome {
        Outcome::Fail(StepError::new(message))
    }

    pub fn retry(message: impl Into<String>) -> Outcome {
        Outcome::Retry {
            after: None,
            error: StepError::new(message),
        }
    }

    /// This outcome with every secret in `known` masked in its words.
    pub fn scrubbed(self, known: &KnownSecrets) -> Outcome {
        if known.is_empty() {
            return self;
        }
        match self {
            Outcome::Next => Outcome::Next,
            Outcome::Wait { after, note } => Outcome::Wait {
                after,
                note: known.scrub(&note).into_owned(),
            },
            Outcome::Retry { after, error } => Outcome::Retry {
                after,
                error: error.scrubbed(known),
            },
            Outcome::Fail(error) => Outcome::Fail(error.scrubbed(known)),
            Outcome::Attention(reason) => Outcome::Attention(known.scrub(&reason).into_owned()),
        }
    }
}

/// A step's error, with the provider's own words kept apart from ours.
#[derive(Debug, Clone, PartialEq)]
pub struct StepError {
    pub message: String,
    pub provider_message: Option<String>,
}

impl StepError {
    pub fn new(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            provider_message: None,
        }
    }

    fn scrubbed(self, known: &KnownSecrets) -> StepError {
        StepError {
            message: known.scrub(&self.message).into_owned(),
            provider_message: self.provider_message.map(|m| known.scrub(&m).into_owned()),
        }
    }
}

impl From<&CallError> for StepError {
    fn from(e: &CallError) -> Self {
        StepError {
            message: e.to_string(),
            provider_message: e.provider_message(),
        }
    }
}

impl From<CallError> for Outcome {
    /// Transient problems are retried (a 429 waits for its Retry-After); a refusal fails
    /// the step with the provider's words. An answer in an unknown shape is retried,
    /// because for a money call it may mean the call was applied: the retry reconciles.
    fn from(e: CallError) -> Outcome {
        let error = StepError::from(&e);
        match e {
            // Being told to slow down is no failure: it costs no attempt.
            CallError::RateLimited { retry_after, .. } => Outcome::Wait {
                after: Some(retry_after.unwrap_or(Duration::from_secs(1))),
                note: error.message,
            },
            CallError::Unknown { .. }
            | CallError::NotSent { .. }
            | CallError::BadResponse { .. } => Outcome::Retry { after: None, error },
            CallError::Rejected { .. } | CallError::Unauthorized { .. } => Outcome::Fail(error),
        }
    }
}
