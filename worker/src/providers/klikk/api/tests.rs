//! Every seed example and GAPS shape through its parser, the request bodies against
//! the seeds' request examples, then the client against a small in-process fake.

mod http;

use super::*;
use crate::providers::lenient_json;
use serde_json::json;
use std::collections::BTreeSet;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../fixtures/", $name))
    };
}

const SEED000_CREATED: &str = fixture!("seed000_order_created.json");
const SEED001_CREATED: &str = fixture!("seed001_order_created.json");
const SEED000_STATUS: &str = fixture!("seed000_order_status.json");
const SEED001_STATUS: &str = fixture!("seed001_order_status.json");
const SEED000_SERVERS: &str = fixture!("seed000_server_list.json");
const SEED000_ORDER_REQUEST: &str = fixture!("seed000_order_request.json");
const SEED001_ORDER_REQUEST: &str = fixture!("seed001_order_request.json");
const SEED000_STATUS_REQUEST: &str = fixture!("seed000_order_status_request.json");
const SEED000_LIST_REQUEST: &str = fixture!("seed000_order_list_request.json");
const SEED001_CANCEL_REQUEST: &str = fixture!("seed001_order_cancel_request.json");
const SEED001_CANCEL_ITEM_REQUEST: &str = fixture!("seed001_order_cancel_item_request.json");
const SEED000_SERVERS_REQUEST: &str = fixture!("seed000_server_list_request.json");
const ORDER_LIST: &str = fixture!("gaps_order_list.json");
const PAYMENT_REQUIRED: &str = fixture!("gaps_order_payment_required.json");
const COMPLETED: &str = fixture!("gaps_order_completed.json");
const CANCELLED: &str = fixture!("gaps_order_cancelled.json");
const NOT_FOUND: &str = fixture!("gaps_error_not_found.json");
const UNAUTHORIZED: &str = fixture!("gaps_error_unauthorized.json");

fn bad_body(e: CallError) -> String {
    match e {
        CallError::BadResponse { body, .. } => body,
        other => panic!("expected BadResponse, got {other:?}"),
    }
}

#[test]
fn both_seeds_order_responses_name_the_order() {
    for text in [SEED000_CREATED, SEED001_CREATED] {
        let order = parse_order(text).unwrap();
        assert_eq!(order.order_id, "73");
        assert_eq!(order.status, Some(Status(200)));
        assert_eq!(order.status().unwrap().stage(), Stage::Pending);
        assert_eq!(order.message, "Order is being processed");
        assert!(order.items.is_empty());
    }
}

#[test]
fn both_seeds_order_status_examples_read_alike() {
    // seed 001's text is indented with no-break spaces: not JSON until repaired
    assert!(serde_json::from_str::<Value>(SEED001_STATUS).is_err());
    let a = parse_order_status(SEED000_STATUS).unwrap();
    let b = parse_order_status(SEED001_STATUS).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.order_id, "73");
    assert_eq!(a.status, Some(Status(200)));
    let item = &a.items[0];
    assert_eq!(item.id, "1293");
    assert_eq!(item.status, Some(Status(200)));
    assert_eq!(
        item.name.as_deref(),
        Some("VPS"),
        "the item's name is the product"
    );
    assert_eq!(item.reference.as_deref(), Some("My testserver 1"));
    assert_eq!(a.item_named("My testserver 1").unwrap().id, "1293");
    assert_eq!(
        a.item_named("someone else").unwrap().id,
        "1293",
        "else the first"
    );
}

#[test]
fn seed_server_list_gives_the_addresses_and_keeps_placeholders_visible() {
    assert!(serde_json::from_str::<Value>(SEED000_SERVERS).is_err());
    let servers = parse_servers(SEED000_SERVERS).unwrap();
    assert_eq!(servers.len(), 1);
    let s = &servers[0];
    assert_eq!(s.id, "NNNN");
    assert_eq!(s.order_item_id.as_deref(), Some("NNNN"));
    assert_eq!(s.name.as_deref(), Some("my.server.com"));
    assert_eq!(s.is_running, Some(true));
    assert_eq!(s.ipv4, Some("127.0.0.2".parse().unwrap()));
    assert_eq!(s.ipv6, Some("fec0::fec0".parse().unwrap()));
}

#[test]
fn status_codes_fall_in_the_documented_ranges() {
    let stage = |n| Status(n).stage();
    assert_eq!(stage(0), Stage::Completed);
    assert_eq!(stage(100), Stage::AwaitingPayment);
    assert_eq!(stage(199), Stage::AwaitingPayment);
    assert_eq!(stage(200), Stage::Pending);
    assert_eq!(stage(250), Stage::Pending);
    assert_eq!(stage(900), Stage::Cancelled);
    assert_eq!(stage(999), Stage::Cancelled);
    assert_eq!(stage(300), Stage::Undocumented);
    assert_eq!(stage(-1), Stage::Undocumented);

    let paying = parse_order(PAYMENT_REQUIRED).unwrap();
    assert_eq!(paying.status().unwrap().stage(), Stage::AwaitingPayment);
    assert!(paying.message.starts_with("Payment required"));
    let done = parse_order_status(COMPLETED).unwrap();
    assert_eq!(done.status().unwrap().stage(), Stage::Completed);
    let gone = parse_order_status(CANCELLED).unwrap();
    assert_eq!(gone.status().unwrap().stage(), Stage::Cancelled);
    assert_eq!(gone.message, "Order is cancelled");
}

#[test]
fn gaps_order_list_is_newest_first_with_references() {
    let orders = parse_orders(ORDER_LIST).unwrap();
    let ids: Vec<&str> = orders.iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(ids, ["75", "74", "73"]);
    assert_eq!(
        orders[0].reference.as_deref(),
        Some("01JD8X5M2Q7ZP3W9K4T6V1B0CE")
    );
    assert_eq!(orders[2].reference, None);
    assert!(orders[1].has_item("1294"));
    assert!(!orders[1].has_item("1293"));
}

#[test]
fn lists_take_other_plausible_shapes() {
    assert!(parse_orders("").unwrap().is_empty());
    assert!(parse_orders(r#"{"orders": []}"#).unwrap().is_empty());
    assert!(parse_orders(r#"{"orders": null}"#).unwrap().is_empty());
    assert!(parse_orders("{}").unwrap().is_empty());
    let bare = parse_orders(r#"[{"order_id": "9", "status": "0", "extra": true}]"#).unwrap();
    assert_eq!(
        (bare[0].order_id.as_str(), bare[0].status),
        ("9", Some(Status(0)))
    );
    bad_body(parse_orders(r#"{"orders": [{"status": 0}]}"#).unwrap_err());
    bad_body(parse_orders(r#"{"something": []}"#).unwrap_err());

    let servers = parse_servers(
        r#"{"servers": [{"id": 5, "order_item_id": "7", "networks": [{"ipv6": "2001:db8::5/64"}], "ipv4": "198.51.100.5"}]}"#,
    )
    .unwrap();
    assert_eq!(servers[0].id, "5");
    assert_eq!(servers[0].ipv4, Some("198.51.100.5".parse().unwrap()));
    assert_eq!(servers[0].ipv6, Some("2001:db8::5".parse().unwrap()));
    let no_v4 = parse_servers(
        r#"{"servers": [{"id": 6, "networks": [{"ipv4": null, "ipv6": "fec0::1"}]}]}"#,
    )
    .unwrap();
    assert_eq!(no_v4[0].ipv4, None);
    assert!(parse_servers(r#"{"servers": []}"#).unwrap().is_empty());
}

#[test]
fn a_status_answer_without_any_status_is_a_new_shape() {
    let body = r#"{"order_id": 73, "message": "hm"}"#;
    assert!(parse_order(body).is_ok(), "order_create may omit it");
    assert!(bad_body(parse_order_status(body).unwrap_err()).contains("hm"));
    assert!(bad_body(parse_order("<html>busy</html>").unwrap_err()).contains("busy"));
}

#[test]
fn gaps_errors_quote_klikk_in_any_status() {
    let http = |status, body| parse::http_error(status, None, body);
    assert_eq!(
        http(404, NOT_FOUND),
        CallError::Rejected {
            provider: "klikk",
            message: "Order not found".into(),
            status: Some(404),
        }
    );
    assert_eq!(
        http(401, UNAUTHORIZED),
        CallError::Unauthorized {
            provider: "klikk",
            message: "Authentication failed".into(),
        }
    );
    assert!(matches!(
        http(500, r#"{"status": 500, "message": "database gone"}"#),
        CallError::Unknown { message, .. } if message == "HTTP 500: database gone"
    ));
    assert!(matches!(
        http(400, "ip_allow is required"),
        CallError::Rejected { message, status: Some(400), .. } if message == "ip_allow is required"
    ));
    assert!(matches!(
        parse::http_error(429, Some(Duration::from_secs(3)), r#"{"status": 429, "message": "slow"}"#),
        CallError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3)
    ));
    // the same shape inside a 2xx answer is still a refusal
    assert_eq!(
        parse_order(NOT_FOUND).unwrap_err(),
        http(404, NOT_FOUND),
        "a 2xx with an error body"
    );
    assert!(matches!(
        parse_cancelled(NOT_FOUND),
        Err(CallError::Rejected {
            status: Some(404),
            ..
        })
    ));
}

#[test]
fn cancel_answers_are_empty_or_anything_but_an_error() {
    assert_eq!(parse_cancelled(""), Ok(()));
    assert_eq!(parse_cancelled("  \n"), Ok(()));
    assert_eq!(parse_cancelled("OK"), Ok(()));
    assert_eq!(parse_cancelled(r#"{"status": 900}"#), Ok(()));
    bad_body(parse_cancelled("<html><body>Bad Gateway</body></html>").unwrap_err());
}

/// Every path to a leaf (`items.product.options.features.sshd.ip_allow`); list
/// elements share their list's path.
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, val) in o {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                key_paths(val, &path, out);
            }
        }
        Value::Array(l) => l.iter().for_each(|e| key_paths(e, prefix, out)),
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

fn paths(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    key_paths(v, "", &mut out);
    out
}

fn seed(text: &str) -> Value {
    lenient_json::parse(text).expect("the seed's request example reads")
}

fn full_order(os: Os<'_>) -> Value {
    let keys = [
        "ssh-ed25519 AAAA one".to_owned(),
        "ssh-rsa BBBB two".to_owned(),
    ];
    bodies::order_create(&NewOrder {
        reference: "01JD8X5M2Q7ZP3W9K4T6V1B0CE",
        name: "web-1.example.com",
        product: "VPS",
        ram_gb: 0.5,
        cpu: 9,
        storage_gb: 25,
        os,
        authorized_keys: &keys,
        ip_allow: "192.168.0.0/24",
        public_ports_allow: Some("80,443"),
        ipv4: Some(true),
        antiaffinity: Some("3"),
        firewall_id: Some("fw-a"),
        firewall_addme: Some(true),
        cloud_init_url: Some("https://example.com/ci"),
    })
}

#[test]
fn the_order_body_has_the_layout_of_seed_000() {
    let body = full_order(Os::Name {
        name: "Debian",
        version: Some("10.4"),
    });
    assert_eq!(paths(&body), paths(&seed(SEED000_ORDER_REQUEST)));
    let options = &body["items"][0]["product"]["options"];
    assert_eq!(options["os"], "Debian");
    assert_eq!(options["os_version"], "10.4");
    assert_eq!(options["quantity_ram_gb"], 0.5);
    assert_eq!(
        options["antiaffinity"], 3,
        "a whole number goes as a number"
    );
    assert_eq!(options["firewall_id"], "fw-a");
    assert_eq!(
        options["firewall_addme"], "1",
        "a string flag, as in the seed"
    );
    assert_eq!(options["features"]["ipv4"], 1);
    assert_eq!(
        options["features"]["sshd"]["authorized_keys"],
        "ssh-ed25519 AAAA one\nssh-rsa BBBB two"
    );
    assert_eq!(body["reference"], "01JD8X5M2Q7ZP3W9K4T6V1B0CE");
    assert_eq!(body["items"][0]["name"], "web-1.example.com");
}

#[test]
fn the_order_body_takes_an_os_id_as_in_seed_001() {
    let body = full_order(Os::Id(2));
    let options = &body["items"][0]["product"]["options"];
    assert_eq!(options["os"], 2);
    assert!(options.get("os_version").is_none());
    // seed 001 shows no antiaffinity, firewall or cloud-init: those are seed 000's
    let extra: BTreeSet<String> = [
        "antiaffinity",
        "firewall_addme",
        "firewall_id",
        "features.cloud_init_url",
    ]
    .iter()
    .map(|k| format!("items.product.options.{k}"))
    .collect();
    let ours: BTreeSet<String> = paths(&body).difference(&extra).cloned().collect();
    assert_eq!(ours, paths(&seed(SEED001_ORDER_REQUEST)));
}

#[test]
fn a_minimal_order_leaves_out_what_the_request_does_not_say() {
    let body = bodies::order_create(&NewOrder {
        reference: "J1",
        name: "h",
        product: "VPS",
        ram_gb: 2.0,
        cpu: 1,
        storage_gb: 20,
        os: Os::Name {
            name: "Ubuntu",
            version: None,
        },
        authorized_keys: &[],
        ip_allow: "0.0.0.0/0",
        public_ports_allow: None,
        ipv4: None,
        antiaffinity: None,
        firewall_id: None,
        firewall_addme: None,
        cloud_init_url: None,
    });
    assert_eq!(
        body["items"][0]["product"]["options"]["features"],
        json!({"sshd": {"ip_allow": "0.0.0.0/0"}})
    );
}

#[test]
fn the_other_bodies_have_the_seeds_keys() {
    assert_eq!(
        paths(&bodies::order_status("73")),
        paths(&seed(SEED000_STATUS_REQUEST))
    );
    assert_eq!(bodies::order_status("73")["order_id"], 73);
    assert_eq!(
        paths(&bodies::order_list()),
        paths(&seed(SEED000_LIST_REQUEST))
    );
    assert_eq!(
        paths(&bodies::order_cancel("73", None)),
        paths(&seed(SEED001_CANCEL_REQUEST))
    );
    assert_eq!(
        paths(&bodies::order_cancel("73", Some("1293"))),
        paths(&seed(SEED001_CANCEL_ITEM_REQUEST))
    );
    assert_eq!(
        bodies::server_list(None),
        seed(SEED000_SERVERS_REQUEST),
        "0 for all servers, as the seed shows"
    );
    assert_eq!(bodies::server_list(Some("1293"))["order_item_id"], 1293);
}
