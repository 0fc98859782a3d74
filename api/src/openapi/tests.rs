use super::document_value;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

/// (method, path) of every operation the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
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

/// The api's source files, this module's own left out: it registers nothing, and
/// its tests name the calls they look for.
fn source_files() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    collect_rs(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files
        .into_iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "openapi"))
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect()
}

/// (method, path) of every route registered in the api's source: each
/// `.route(PATH, get(..).post(..))` call, methods read from the call's text.
fn registered() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (file, text) in source_files() {
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

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Resolves a local `$ref` (or returns the value itself).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.strip_prefix('#').expect("a local reference"))
            .unwrap_or_else(|| panic!("{r} resolves to nothing")),
        None => v,
    }
}

#[test]
fn the_document_is_openapi_3_1_with_its_top_level_fields() {
    let doc = document_value();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Provisioner API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc["info"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Authorization: Bearer"))
    );
    for schema in ["Job", "JobRequest", "JobList", "Error", "Credentials"] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "no {schema} schema"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    // The outbound callback is a webhook, not a path of this api.
    assert!(doc["webhooks"]["jobCallback"]["post"].is_object());
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| p.starts_with('/'))
    );
}

#[test]
fn every_registered_route_is_documented_and_nothing_else() {
    let registered = registered();
    // The scan finds the routes it should (a broken scan must not pass).
    for known in [
        ("post", "/v1/jobs"),
        ("get", "/v1/jobs/{id}/events"),
        ("get", "/ui"),
        ("get", "/openapi.json"),
    ] {
        assert!(
            registered.contains(&(known.0.to_owned(), known.1.to_owned())),
            "the source scan missed {known:?}: {registered:?}"
        );
    }
    let documented = documented(&document_value());
    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document (add a stub in openapi/paths.rs): {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "the document describes routes the api lacks: {extra:?}"
    );
}

#[test]
fn every_reference_resolves() {
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
    let doc = document_value();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20, "{refs:?}");
    for r in refs {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "{r} resolves to nothing");
    }
}

/// Every 4xx and 5xx answer of every operation is described with the error
/// envelope as its JSON body.
#[test]
fn every_error_answer_has_the_error_body() {
    let doc = document_value();
    let mut errors = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                errors += 1;
                let response = resolve(&doc, response);
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{method} {path} {status}: {response}"
                );
            }
        }
    }
    assert!(errors > 40, "{errors} error answers");
}

/// Every error code the api's source answers with is one the `Error` schema
/// lists, and the schema lists no code the source never uses.
#[test]
fn the_error_schema_lists_exactly_the_codes_the_source_uses() {
    let mut used = BTreeSet::new();
    for (_, text) in source_files() {
        // `client(StatusCode::X, "code"`, `(StatusCode::X, "code", field)`,
        // `render(StatusCode::X, "code"` and `conflict("code"`.
        for (marker, skip_ident) in [("StatusCode::", true), ("conflict(", false)] {
            for (at, _) in text.match_indices(marker) {
                let mut rest = &text[at + marker.len()..];
                if skip_ident {
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    rest = rest[end..].trim_start();
                    let Some(r) = rest.strip_prefix(',') else {
                        continue;
                    };
                    rest = r;
                }
                let Some(literal) = rest.trim_start().strip_prefix('"') else {
                    continue;
                };
                let code = &literal[..literal.find('"').unwrap()];
                if !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    used.insert(code.to_owned());
                }
            }
        }
    }
    for known in [
        "invalid_field",
        "not_ready",
        "invalid_signature",
        "server_busy",
    ] {
        assert!(used.contains(known), "the scan missed {known}: {used:?}");
    }
    // Codes made outside those calls: FieldError's 400 and 422 (`error.rs`).
    used.insert("invalid_body".into());
    let doc = document_value();
    let listed: BTreeSet<String> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<_> = used.difference(&listed).collect();
    let unused: Vec<_> = listed.difference(&used).collect();
    assert!(
        missing.is_empty(),
        "codes missing from ErrorCode: {missing:?}"
    );
    assert!(
        unused.is_empty(),
        "codes ErrorCode lists but the api never uses: {unused:?}"
    );
}

/// The answers with every field present say so (a consumer may rely on it).
#[test]
fn the_job_json_requires_every_field() {
    let doc = document_value();
    let job = &doc["components"]["schemas"]["Job"];
    let properties: BTreeSet<&String> = job["properties"].as_object().unwrap().keys().collect();
    let required: BTreeSet<&String> = job["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match r {
            Value::String(s) => s,
            _ => panic!("{r}"),
        })
        .collect();
    assert_eq!(properties, required);
    for field in [
        "id",
        "state",
        "steps",
        "server",
        "error",
        "warnings",
        "credential_reads",
    ] {
        assert!(required.iter().any(|r| *r == field), "{field}");
    }
}

/// A job's 202 links to the operations on it, by a valid `operationId` (so that
/// schemathesis's stateful phase works on real jobs).
#[test]
fn links_name_existing_operations() {
    let doc = document_value();
    let ids: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let links = doc["paths"]["/v1/jobs"]["post"]["responses"]["202"]["links"]
        .as_object()
        .expect("createJob's 202 has links");
    assert!(links.len() >= 4);
    for (name, link) in links {
        let target = link["operationId"].as_str().unwrap_or("");
        assert!(ids.contains(target), "{name}: {link}");
        assert_eq!(link["parameters"]["id"], "$response.body#/id", "{name}");
    }
}

#[test]
fn an_enqueue_answers_200_with_a_job_or_a_dry_run() {
    let doc = super::document_value();
    let mut schema = &doc["paths"]["/v1/jobs"]["post"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    if let Some(name) = schema["$ref"].as_str() {
        schema = &doc["components"]["schemas"][name.rsplit('/').next().unwrap()];
    }
    let text = schema.to_string();
    assert!(
        text.contains("#/components/schemas/Job\"")
            && text.contains("#/components/schemas/DryRun\""),
        "{text}"
    );
}
