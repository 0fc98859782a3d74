//! `GET /v1/jobs/{id}/credentials`: the login of a job's server, `{username,
//! password, source, ssh_keys}` (`provisioner_shared::credentials`), for a token
//! with the `credentials` scope only (`auth`).
//!
//! The one answer of the API that carries a secret: it is never cached
//! (`Cache-Control: no-store`), never logged (the request log has no bodies), and
//! each read is recorded on the job first (when, which token's name: the job JSON's
//! `credential_reads`), so a read that cannot be recorded hands nothing out.

use super::load_job;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use provisioner_shared::credentials::{self, Unavailable};
use provisioner_shared::job::{CredentialRead, CredentialsVia};

pub(crate) async fn credentials(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let job = load_job(&state, &id).await?;
    let login = credentials::credentials(&job, &state.sealer).map_err(|e| match e {
        Unavailable::NotYet(_) => ApiError::conflict("not_ready", e.to_string()),
        Unavailable::NoLogin(_) => ApiError::conflict("invalid_state", e.to_string()),
        Unavailable::Sealed(_) => ApiError::Internal(format!("job {id}: {e}")),
    })?;
    let read = CredentialRead {
        at: state.store.clock(),
        via: CredentialsVia::Api,
        token: Some(caller.token.clone()),
    };
    if !state.store.log_credential_read(&id, &read).await? {
        return Err(ApiError::job_not_found(&id));
    }
    tracing::info!(job_id = %id, token = %caller.token, "credentials read");
    let mut res = (StatusCode::OK, axum::Json(login)).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(res)
}
