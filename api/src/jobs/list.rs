//! `GET /v1/jobs?state=&account=&reference=&limit=&cursor=`, newest first.
//!
//! Pages one index (by reference, else by account, else all jobs), loads the records
//! and filters them. The reference index is keyed by a hash of the reference, so
//! account and reference are checked on the record too. Ids whose record expired are
//! dropped from the index on the way. One request reads at most [`SCAN_BUDGET`] ids;
//! `next_cursor` (the last id looked at) is set whenever more may follow.

use super::is_job_id;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use axum::Json;
use axum::extract::State;
use provisioner_shared::job::{JobState, JobView};
use serde::{Deserialize, Serialize};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;
/// Index entries one request may read, so that a rare filter cannot turn one request
/// into a scan of every job.
const SCAN_BUDGET: usize = 2_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    state: Option<String>,
    account: Option<String>,
    reference: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct JobList {
    jobs: Vec<JobView>,
    next_cursor: Option<String>,
}

struct Filter {
    state: Option<JobState>,
    account: Option<String>,
    reference: Option<String>,
    limit: usize,
    cursor: Option<String>,
}

impl Filter {
    fn parse(q: ListQuery) -> Result<Filter, ApiError> {
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let state = nonempty(q.state)
            .map(|s| {
                JobState::parse(&s).ok_or_else(|| {
                    ApiError::invalid(
                        "state",
                        format!(
                            "state: `{s}` is not one of queued, running, waiting, succeeded, failed, cancelled, needs_attention"
                        ),
                    )
                })
            })
            .transpose()?;
        let limit = match nonempty(q.limit) {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "limit",
                        format!("limit: must be a whole number from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };
        let cursor = nonempty(q.cursor)
            .map(|c| {
                if is_job_id(&c) {
                    Ok(c)
                } else {
                    Err(ApiError::invalid(
                        "cursor",
                        "cursor: must be a next_cursor from an earlier page",
                    ))
                }
            })
            .transpose()?;
        Ok(Filter {
            state,
            account: nonempty(q.account),
            reference: nonempty(q.reference),
            limit,
            cursor,
        })
    }

    fn matches(&self, view: &JobView) -> bool {
        self.state.is_none_or(|s| view.state == s)
            && self.account.as_ref().is_none_or(|a| &view.account == a)
            && self
                .reference
                .as_ref()
                .is_none_or(|r| view.reference.as_ref() == Some(r))
    }
}

pub(crate) async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<JobList>, ApiError> {
    let filter = Filter::parse(query)?;
    let store = &state.store;
    let keys = store.keys();
    let index = match (&filter.reference, &filter.account) {
        (Some(r), _) => keys.index_reference(r),
        (None, Some(a)) => keys.index_account(a),
        (None, None) => keys.index_all(),
    };
    let mut jobs = Vec::with_capacity(filter.limit);
    let mut cursor = filter.cursor.clone();
    let mut scanned = 0;
    let next_cursor = loop {
        // Read a little more than is still missing: most filters keep most ids.
        let want = (filter.limit - jobs.len()) * 2;
        let batch = want.clamp(20, 500).min(SCAN_BUDGET - scanned);
        let ids = store.index_page(&index, cursor.as_deref(), batch).await?;
        scanned += ids.len();
        let records = store.load_many(&ids).await?;
        let mut expired = Vec::new();
        let mut last_seen = None;
        for (id, record) in ids.iter().zip(records) {
            last_seen = Some(id);
            let Some(raw) = record else {
                expired.push(id.clone());
                continue;
            };
            let job = match raw.decode() {
                Ok(job) => job,
                Err(e) => {
                    tracing::error!(job_id = %id, error = %e, "skipping a job record that does not decode");
                    continue;
                }
            };
            let view = JobView::of(&job);
            if filter.matches(&view) {
                jobs.push(view);
                if jobs.len() == filter.limit {
                    break;
                }
            }
        }
        if !expired.is_empty() {
            store.forget_in_index(&index, &expired).await?;
        }
        let last_seen = last_seen.cloned();
        if jobs.len() == filter.limit {
            break last_seen;
        }
        if ids.len() < batch {
            break None;
        }
        if scanned >= SCAN_BUDGET {
            break last_seen;
        }
        cursor = last_seen;
    };
    Ok(Json(JobList { jobs, next_cursor }))
}
