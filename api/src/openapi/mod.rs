//! `GET /openapi.json`: the OpenAPI 3.1 description of every route, generated from
//! the code with utoipa and built once per process. No token needed.
//!
//! - `paths`: one `#[utoipa::path]` stub per operation and the list of them (the
//!   one place to add a route).
//! - `schemas`: request bodies as sent, the error envelope and the reusable error
//!   responses. The job JSON's schemas derive from `provisioner_shared::job`.
//!
//! The tests keep it honest: every routed `(method, path)` is described and nothing
//! else; the job JSON a live api answers validates against its schema; every error
//! code the source uses is in the `Error` schema. CI also runs schemathesis against
//! a live api with this document (`.ci/schemathesis`).

mod paths;
mod schemas;
#[cfg(test)]
mod tests;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, schema::Schema};
use utoipa::{Modify, OpenApi};

/// The document as served.
static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| serde_json::to_string_pretty(&document_value()).expect("JSON"));

pub(crate) async fn document() -> Response {
    let mut res = DOCUMENT.as_str().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// The document as JSON, with the outbound job callback under `webhooks`.
pub(crate) fn document_value() -> Value {
    let mut doc = serde_json::to_value(paths::ApiDoc::openapi()).expect("the document is JSON");
    doc["info"]["version"] = Value::from(env!("CARGO_PKG_VERSION"));
    camel_case_links(&mut doc);
    if let Some(callback) = doc["paths"]
        .as_object_mut()
        .and_then(|p| p.remove(paths::JOB_CALLBACK))
    {
        doc["webhooks"] = serde_json::json!({ paths::JOB_CALLBACK: callback });
    }
    doc
}

/// The finishing touches utoipa's attributes cannot say.
pub(super) struct Finish;

/// Schemas of answers that always carry every field (serialised without skips):
/// each property is required, nullable ones included.
const EVERY_FIELD_PRESENT: [&str; 6] = [
    "Job",
    "Step",
    "Server",
    "CallbackAttempt",
    "CredentialRead",
    "JobError",
];

impl Modify for Finish {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "One of `[api] tokens`. Each guarded operation names the scope it needs \
                         (`read`: get, list, follow jobs; `write`: enqueue, cancel, retry, \
                         resolve; `credentials`: read a server's login). A plain token string \
                         has `read` and `write`; a token table lists its `scopes`. A token \
                         without the scope gets 403 `forbidden` with `field` = the missing scope.",
                    ))
                    .build(),
            ),
        );
        for name in EVERY_FIELD_PRESENT {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                object.required = object.properties.keys().cloned().collect();
            }
        }
    }
}

/// utoipa 5 writes a response link's fields in snake case (`operation_id`); the
/// specification spells them `operationId`, `operationRef`, `requestBody`.
fn camel_case_links(doc: &mut Value) {
    let responses = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) else {
            continue;
        };
        for link in links.values_mut().filter_map(Value::as_object_mut) {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(from) {
                    link.insert(to.to_owned(), v);
                }
            }
        }
    }
}
