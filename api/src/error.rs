//! The API's one error type. Every failure, ours or the client's, leaves as
//! `{"error": {"code", "message", "field"}}`; internal errors are logged with their
//! cause chain and answered as an opaque 500, so nothing internal reaches a client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use provisioner_shared::request::FieldError;
use provisioner_shared::store::StoreError;
use serde::Serialize;
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The client's fault (4xx), or a deliberate refusal (409, 503): shown as is.
    #[error("{status} {code}: {message}")]
    Client {
        status: StatusCode,
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("store")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server")]
    Serve(#[source] std::io::Error),
    /// A broken promise inside the service (e.g. a record it cannot decode).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Client {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Names the field (body path, query parameter or header) at fault.
    pub fn with_field(mut self, name: impl Into<String>) -> Self {
        if let ApiError::Client { field, .. } = &mut self {
            *field = Some(name.into());
        }
        self
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::client(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn job_not_found(id: &str) -> Self {
        ApiError::not_found(format!("no job with id `{id}`"))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::client(StatusCode::CONFLICT, code, message)
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
            .with_field(field)
    }

    /// The status a client sees.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Client { status, .. } => *status,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error and its causes on one line, for logs.
    pub fn chain(&self) -> String {
        provisioner_shared::error_chain(self)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        let code = match status {
            StatusCode::BAD_REQUEST => "invalid_body",
            _ => "invalid_field",
        };
        ApiError::client(status, code, format!("{}: {}", e.field, e.message)).with_field(e.field)
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    field: Option<&'a str>,
}

/// Renders the error envelope; used by the extractors and fallbacks too.
pub(crate) fn render(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> Response {
    let body = serde_json::to_vec(&Envelope {
        error: Body {
            code,
            message,
            field,
        },
    })
    .expect("error envelope serialises");
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Client {
                status,
                code,
                message,
                field,
            } => render(*status, code, message, field.as_deref()),
            _ => {
                tracing::error!(error = %self.chain(), "request failed");
                render(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the details are in the service's log",
                    None,
                )
            }
        }
    }
}
