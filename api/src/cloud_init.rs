//! `GET /v1/cloud-init/{id}/{token}`: the cloud-init document of a Klikk job, which
//! sets the server's root password and SSH keys (Klikk's API takes no password:
//! `provisioner_shared::credentials`). The worker puts this URL in the order's
//! `cloud_init_url`; the new server fetches it when it first boots.
//!
//! The token is derived from `[secrets] key` and the job id with a label of its own
//! (`CallbackTokens::cloud_init_url`), so nothing is stored, a provider callback
//! token does not open it, and a wrong token, an unknown job and a job without such
//! a document all answer the same 404. It is served while the job runs and for an
//! hour after it ended (the server may boot just after the order completes), then
//! no more. It is never cached (`Cache-Control: no-store`) and never logged; each
//! fetch is recorded on the job as a credentials read (`via: cloud-init`).

use crate::AppState;
use crate::error::ApiError;
use crate::jobs::{is_job_id, try_load};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use provisioner_shared::credentials::{self, PasswordRoute};
use provisioner_shared::job::{CredentialRead, CredentialsVia, Job};
use provisioner_shared::time::Millis;
use secrecy::ExposeSecret;
use std::time::Duration;

/// How long after its job ended a document is still served.
const SERVED_AFTER_END: Duration = Duration::from_secs(3600);

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/cloud-init/{id}/{token}", get(cloud_init))
}

async fn cloud_init(
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let none = || ApiError::not_found(format!("no cloud-init document for job `{id}`"));
    if !is_job_id(&id) || !state.callback_tokens.verify_cloud_init(&id, &token) {
        return Err(none());
    }
    let job = try_load(&state, &id).await?.ok_or_else(none)?;
    if credentials::route(&job.spec.request) != PasswordRoute::CloudInit
        || !served_now(&job, state.store.clock())
    {
        return Err(none());
    }
    let sealed =
        credentials::password_to_set(&job.spec.request, &job.run.outputs, &state.sealer, &id)
            .map_err(|e| ApiError::Internal(format!("job {id}: {e}")))?;
    let Some((password, _)) = sealed else {
        return Err(none());
    };
    // The document holds the password: its fetch is a credentials read like any.
    let read = CredentialRead {
        at: state.store.clock(),
        via: CredentialsVia::CloudInit,
        token: None,
    };
    if !state.store.log_credential_read(&id, &read).await? {
        return Err(none());
    }
    tracing::info!(job_id = %id, "cloud-init document fetched");
    let body = document(&id, password.expose_secret(), &job.spec.request.ssh_keys);
    let mut res = (StatusCode::OK, body).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/cloud-config; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// While the job runs, and for [`SERVED_AFTER_END`] after it ended.
fn served_now(job: &Job, now: Millis) -> bool {
    !job.run.state.is_terminal() || now < job.run.updated_at.plus(SERVED_AFTER_END)
}

/// A `#cloud-config` document: root's password (not expiring, usable over SSH where
/// the image lets root log in) and the request's SSH keys for root. Every value is a
/// double-quoted string in JSON's escapes, which YAML reads the same.
fn document(job_id: &str, password: &str, ssh_keys: &[String]) -> String {
    let quoted = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let mut out = format!(
        "#cloud-config\n\
         # Provisioner job {job_id}: the root login of this server.\n\
         disable_root: false\n\
         ssh_pwauth: true\n\
         chpasswd:\n  expire: false\n  users:\n    - name: root\n      password: {}\n      type: text\n",
        quoted(password)
    );
    if !ssh_keys.is_empty() {
        out.push_str("ssh_authorized_keys:\n");
        for key in ssh_keys {
            out.push_str(&format!("  - {}\n", quoted(key)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::document;

    #[test]
    fn the_document_quotes_what_it_carries() {
        let doc = document(
            "01JD0000000000000000000000",
            "a\"b\\c#d: e",
            &["ssh-ed25519 AAAA ops@example.com".to_owned()],
        );
        assert!(doc.starts_with("#cloud-config\n"));
        assert!(
            doc.contains("      password: \"a\\\"b\\\\c#d: e\"\n"),
            "{doc}"
        );
        assert!(doc.contains("ssh_authorized_keys:\n  - \"ssh-ed25519 AAAA ops@example.com\"\n"));
        let without_keys = document("01JD0000000000000000000000", "pw", &[]);
        assert!(!without_keys.contains("ssh_authorized_keys"));
    }
}
