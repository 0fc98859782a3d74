//! `GET /openapi.json`: the OpenAPI 3.1 description of every route, hand-written in
//! `api/openapi.json` and built into the binary. No token needed.
//!
//! The tests below keep it honest: every `.route(...)` the api's source registers
//! (path and methods) must be described, and every described operation must exist;
//! the e2e suite also sends each described operation to a live api and checks the
//! router answers it (not its fallback).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const DOCUMENT: &str = include_str!("../openapi.json");

pub(crate) async fn document() -> Response {
    let mut res = DOCUMENT.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::DOCUMENT;
    use serde_json::Value;
    use std::collections::BTreeSet;
    use std::path::Path;

    const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

    /// (method, path) of every operation the document describes.
    fn documented() -> BTreeSet<(String, String)> {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        let paths = doc["paths"].as_object().expect("paths is an object");
        let mut ops = BTreeSet::new();
        for (path, item) in paths {
            let item = item.as_object().expect("a path item is an object");
            for method in item.keys().filter(|k| METHODS.contains(&k.as_str())) {
                ops.insert((method.clone(), path.clone()));
            }
        }
        ops
    }

    /// (method, path) of every route registered in the api's source: each
    /// `.route(PATH, get(..).post(..))` call, methods read from the call's text.
    /// This file is skipped: it registers nothing, and its tests name the call.
    fn registered() -> BTreeSet<(String, String)> {
        let mut files = Vec::new();
        collect_rs(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        files.retain(|f| !f.ends_with("openapi.rs"));
        let mut routes = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let name = file.display();
            assert!(
                !text.contains(".nest("),
                "{name}: a nested router: teach this test its prefix"
            );
            let mut rest = text.as_str();
            while let Some(at) = rest.find(".route(") {
                let call = rest[at + ".route(".len()..].trim_start();
                let literal = call.strip_prefix('"').unwrap_or_else(|| {
                    panic!("{name}: a route whose path is not a literal: teach this test")
                });
                let path_end = literal.find('"').expect("the path literal ends");
                let path = &literal[..path_end];
                let after = &literal[path_end + 1..];
                let args = &after[..call_end(after)];
                let mut found = false;
                for method in METHODS {
                    if calls(args, method) {
                        routes.insert((method.to_owned(), path.to_owned()));
                        found = true;
                    }
                }
                assert!(found, "{name}: no method router on {path}");
                rest = after;
            }
        }
        routes
    }

    /// Where the `.route(` call closes, `call` being its text after the path.
    fn call_end(call: &str) -> usize {
        let mut depth = 1;
        let mut in_string = false;
        for (i, c) in call.char_indices() {
            match c {
                '"' => in_string = !in_string,
                '(' if !in_string => depth += 1,
                ')' if !in_string => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            }
        }
        call.len()
    }

    /// Whether `args` calls `method(` as a whole word (`get(`, not `get_job(`).
    fn calls(args: &str, method: &str) -> bool {
        let pattern = format!("{method}(");
        args.match_indices(&pattern).any(|(i, _)| {
            !args[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    }

    fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect_rs(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn the_document_is_openapi_3_with_its_top_level_fields() {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        assert!(doc["info"]["title"].is_string());
        assert!(doc["info"]["version"].is_string());
        assert!(doc["paths"].is_object());
        assert!(doc["components"]["schemas"]["Job"].is_object());
        assert!(doc["components"]["schemas"]["JobRequest"].is_object());
    }

    #[test]
    fn every_registered_route_is_documented_and_nothing_else() {
        let registered = registered();
        // The scan finds the routes it should (a broken scan must not pass).
        for known in [
            ("post", "/v1/jobs"),
            ("get", "/v1/jobs/{id}/events"),
            ("get", "/ui"),
        ] {
            assert!(
                registered.contains(&(known.0.to_owned(), known.1.to_owned())),
                "the source scan missed {known:?}: {registered:?}"
            );
        }
        let documented = documented();
        let missing: Vec<_> = registered.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&registered).collect();
        assert!(
            missing.is_empty(),
            "routes missing from openapi.json: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "openapi.json describes routes the api lacks: {extra:?}"
        );
    }

    #[test]
    fn every_reference_resolves() {
        let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} resolves to nothing");
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
