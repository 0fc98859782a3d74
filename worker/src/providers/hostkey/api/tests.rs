//! Every seed example and GAPS shape through its parser, then the client's session and
//! error handling against a small in-process fake of invapi.

use super::*;
use crate::providers::fields::Decimals;
use secrecy::ExposeSecret;

/// HOSTKEY prints money as WHMCS does: at most two decimals.
fn money_to_cents(text: &str) -> Option<i64> {
    crate::providers::fields::money_to_cents(text, Decimals::AtMostTwo)
}

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../fixtures/", $name))
    };
}

const SEED_LOGIN: &str = fixture!("seed_auth_login.json");
const SEED_INFO: &str = fixture!("seed_auth_info.json");
const SEED_RELATED: &str = fixture!("seed_get_related_invoices.json");
const SEED_INVOICE: &str = fixture!("seed_get_invoice.json");
const SEED_INVOICES: &str = fixture!("seed_get_invoices.json");
const SEED_SHOW: &str = fixture!("seed_eq_show.json");
const SEED_STAGE: &str = fixture!("seed_check_stage.json");
const SEED_BAD_OS: &str = fixture!("seed_order_incompatible_os.json");
const SEED_PIN: &str = fixture!("seed_check_pin_failure.json");
const SEED_CLIENT: &str = fixture!("seed_get_client.json");
const SEED_CREDITS: &str = fixture!("seed_getcredits.json");
const UPDATE_SERVERS: &str = fixture!("gaps_update_servers.json");
const LIST: &str = fixture!("gaps_list.json");
const ORDER: &str = fixture!("gaps_order_instance.json");
const REINSTALL: &str = fixture!("gaps_reinstall.json");
const ACTION: &str = fixture!("gaps_action.json");
const APPLY_CREDIT: &str = fixture!("gaps_apply_credit.json");
const CHECK_OK: &str = fixture!("gaps_check_ok.json");
const CHECK_WAITING: &str = fixture!("gaps_check_waiting.json");
const AUTH_ERROR: &str = fixture!("gaps_auth_error.json");
const KEY_GONE: &str = fixture!("gaps_check_key_gone.json");

fn rejected_text(e: CallError) -> String {
    match e {
        CallError::Rejected { message, .. } => message,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

fn bad_body(e: CallError) -> String {
    match e {
        CallError::BadResponse { body, .. } => body,
        other => panic!("expected BadResponse, got {other:?}"),
    }
}

#[test]
fn seed_login_gives_the_token_despite_its_typos() {
    let login = parse_login(SEED_LOGIN).unwrap();
    assert_eq!(
        login.token.expose_secret(),
        "c92e48c4506320873286b84440e74sfd"
    );
    assert_eq!(login.token_expire, Some(1702895140));
    assert_eq!(login.servers, ["34533", "32645", "17405"]);
    assert!(!format!("{login:?}").contains("c92e48c4"));
}

#[test]
fn seed_auth_info_and_gaps_update_servers_list_servers() {
    let mut info = parse_server_list(SEED_INFO).unwrap();
    info.servers.sort();
    assert_eq!(
        info.servers,
        ["17405", "32645", "34533"],
        "a map's order is not kept"
    );
    assert!(
        info.deploy_keys.is_empty(),
        "PHP's empty `[]` is an empty map"
    );

    let update = parse_server_list(UPDATE_SERVERS).unwrap();
    assert_eq!(update.servers, ["34533", "42253"]);
    assert_eq!(
        update.deploy_keys["42253"],
        "5b0c2f3e9a7d4e1f8c6b2a9d0e3f4c5b"
    );

    let listed = parse_server_list(
        r#"{"result":"OK","servers":[42253],"deploy_keys":[{"id":42253,"key":"k1"}]}"#,
    )
    .unwrap();
    assert_eq!(listed.servers, ["42253"]);
    assert_eq!(listed.deploy_keys["42253"], "k1");
}

#[test]
fn list_takes_ids_as_numbers_strings_or_a_php_map() {
    assert_eq!(parse_list(LIST).unwrap(), ["34533", "42253"]);
    assert_eq!(
        parse_list(r#"{"result":"OK","servers":["34533", 42253]}"#).unwrap(),
        ["34533", "42253"]
    );
    assert_eq!(
        parse_list(r#"{"result":"OK","servers":{"0":34533,"2":"17405"}}"#).unwrap(),
        ["34533", "17405"]
    );
    assert_eq!(
        parse_list(r#"{"result":"OK","servers":{"0":34533,"1":34533}}"#).unwrap(),
        ["34533"]
    );
    assert_eq!(
        parse_list(r#"{"result":"OK","servers":[]}"#).unwrap(),
        Vec::<String>::new()
    );
    bad_body(parse_list(r#"{"result":"OK"}"#).unwrap_err());
    bad_body(parse_list(r#"{"result":"OK","servers":[{"x":1}]}"#).unwrap_err());
}

#[test]
fn seed_show_gives_status_hostname_ip_and_a_redacted_password() {
    let info = parse_show(SEED_SHOW).unwrap();
    assert_eq!(info.id, "34533");
    assert_eq!(info.status, ServerStatus::Rent);
    assert_eq!(info.hostname.as_deref(), Some("nl-vmmini"));
    assert_eq!(info.ipv4, Some("31.207.44.105".parse().unwrap()));
    assert_eq!(info.ipv6, None);
    assert_eq!(info.location.as_deref(), Some("NL"));
    assert_eq!(info.tag("os"), Some("Ubuntu 22.04"));
    assert_eq!(info.tag("user_name"), Some("root"));
    assert_eq!(
        info.password.as_ref().unwrap().expose_secret(),
        "wK5Vjwx_BC"
    );
    assert!(
        info.tags
            .iter()
            .all(|t| !t.name.eq_ignore_ascii_case("password"))
    );
    let debug = format!("{info:?}");
    assert!(!debug.contains("wK5Vjwx_BC"), "{debug}");
}

#[test]
fn gaps_show_fields_at_the_top_level_win() {
    let body = r#"{"result":"OK","id":42253,"status":"pending","hostname":"srv-1.example.com",
        "IP":[{"IP":"10.0.0.9","main_ip":0},{"IP":"31.207.44.7","main_ip":1},{"IP":"2a01:4f8::7/64","main_ip":0}],
        "tags":[{"tag":"password","value":"S3cret!pass"},{"tag":"hostname","value":"old-name"}]}"#;
    let info = parse_show(body).unwrap();
    assert_eq!(info.id, "42253");
    assert_eq!(info.status, ServerStatus::Pending);
    assert_eq!(info.hostname.as_deref(), Some("srv-1.example.com"));
    assert_eq!(info.ipv4, Some("31.207.44.7".parse().unwrap()));
    assert_eq!(info.ipv6, Some("2a01:4f8::7".parse().unwrap()));
    assert_eq!(info.password.unwrap().expose_secret(), "S3cret!pass");
}

#[test]
fn an_unknown_show_is_quoted_without_its_password() {
    let body = r#"{"result":"OK","tags":[{"tag":"password","value":"S3cret!pass"}],"token":"t0k"}"#;
    let quoted = bad_body(parse_show(body).unwrap_err());
    assert!(
        !quoted.contains("S3cret!pass") && !quoted.contains("t0k"),
        "{quoted}"
    );
    assert!(quoted.contains("[REDACTED]"), "{quoted}");

    assert_eq!(
        bad_body(parse_show("<html>502 Bad Gateway</html>").unwrap_err()),
        "<html>502 Bad Gateway</html>"
    );
}

#[test]
fn seed_related_invoices() {
    let invoices = parse_invoices(SEED_RELATED).unwrap();
    assert_eq!(invoices.len(), 2);
    let unpaid = &invoices[0];
    assert_eq!(unpaid.id, "23451");
    assert_eq!(unpaid.status, InvoiceStatus::Unpaid);
    assert_eq!(unpaid.total.as_deref(), Some("5.00"));
    assert_eq!(unpaid.amount_due().and_then(money_to_cents), Some(500));
    assert_eq!(invoices[1].id, "18580");
    assert_eq!(invoices[1].status, InvoiceStatus::Paid);
    assert_eq!(invoices[1].credit.as_deref(), Some("5.00"));
}

#[test]
fn seed_invoice_shows_balance_and_items() {
    let inv = parse_invoice(SEED_INVOICE).unwrap();
    assert_eq!(inv.id, "23455");
    assert_eq!(inv.status, InvoiceStatus::Unpaid);
    assert_eq!(inv.total.as_deref(), Some("800.00"));
    assert_eq!(inv.balance.as_deref(), Some("8.00"));
    assert_eq!(inv.amount_due(), Some("8.00"));
    assert_eq!(inv.items.len(), 2);
    assert_eq!(inv.items[1].description, "Invoice #23451");
    assert_eq!(inv.items[1].amount.as_deref(), Some("5.00"));
    assert_eq!(inv.items[1].rel_id.as_deref(), Some("23451"));
    assert!(inv.descriptions().any(|d| d.contains("#23449")));
    assert_eq!(
        inv.transactions, 0,
        "the seed's `\"transactions\": \"\"` is none"
    );
    assert_eq!(inv.credit.as_deref(), Some("0.00"));
}

#[test]
fn seed_client_shows_the_credit_balance() {
    assert_eq!(parse_client_credit(SEED_CLIENT).unwrap(), "998.39");
    let bare = r#"{"result":"success","client":{"id":1,"credit":5}}"#;
    assert_eq!(parse_client_credit(bare).unwrap(), "5");
    let none = r#"{"result":"success","client":{"id":1}}"#;
    assert!(matches!(
        parse_client_credit(none),
        Err(CallError::BadResponse { .. })
    ));
}

#[test]
fn seed_credit_log_names_the_invoices_credit_was_applied_to() {
    let log = parse_credit_log(SEED_CREDITS).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].id, Some(2526));
    assert_eq!(log[0].amount.as_deref(), Some("-5.00"));
    assert_eq!(log[1].amount.as_deref(), Some("-5"));
    assert!(log[0].names_invoice("10116"));
    assert!(!log[0].names_invoice("1011"), "an exact invoice number");
    assert!(!log[0].names_invoice("18580"));
    assert!(log[1].names_invoice("18580"));
    let empty = r#"{"result":"OK","message":{"result":"success","totalresults":0}}"#;
    assert!(parse_credit_log(empty).unwrap().is_empty());
    let refused = r#"{"result":"OK","message":{"result":"error","message":"No credit found"}}"#;
    assert_eq!(
        rejected_text(parse_credit_log(refused).unwrap_err()),
        "No credit found"
    );
}

#[test]
fn an_invoice_with_transactions_says_so() {
    let body = r#"{"result":"success","invoiceid":7,"status":"Unpaid","credit":"0.00",
        "transactions":{"transaction":[{"id":1,"amountin":"5.00"}]}}"#;
    assert_eq!(parse_invoice(body).unwrap().transactions, 1);
}

#[test]
fn seed_invoices_in_whmcs_layout() {
    let invoices = parse_invoices(SEED_INVOICES).unwrap();
    let ids: Vec<&str> = invoices.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["23455", "23451", "23449", "18580", "10116"]);
    assert_eq!(invoices[0].total.as_deref(), Some("8.00"));
    assert_eq!(invoices[0].currency.as_deref(), Some("EUR"));
    assert_eq!(invoices[2].status, InvoiceStatus::Paid);
    // The seed's "2.5.00" is kept as written and is no amount.
    assert_eq!(invoices[4].subtotal.as_deref(), Some("2.5.00"));
    assert_eq!(
        invoices[4].subtotal.as_deref().and_then(money_to_cents),
        None
    );
}

#[test]
fn invoices_in_other_layouts() {
    let empty = parse_invoices(r#"{"result":"success","totalresults":0,"invoices":""}"#).unwrap();
    assert!(empty.is_empty());
    let map = parse_invoices(
        r#"{"result":"success","invoices":{"7":{"id":7,"status":"Draft","total":5}}}"#,
    )
    .unwrap();
    assert_eq!(map[0].id, "7");
    assert_eq!(map[0].status, InvoiceStatus::Other("Draft".into()));
    assert_eq!(map[0].total.as_deref(), Some("5"));
    bad_body(parse_invoices(r#"{"result":"success"}"#).unwrap_err());
    bad_body(parse_invoices(r#"{"result":"success","invoices":[{"status":"Paid"}]}"#).unwrap_err());
}

#[test]
fn apply_credit_answers() {
    let paid = parse_payment(APPLY_CREDIT).unwrap();
    assert_eq!(
        paid,
        Payment {
            invoice_id: Some("23451".into()),
            amount: Some("5.00".into()),
            invoice_paid: Some(true),
        }
    );
    let whmcs = parse_payment(
        r#"{"result":"success","invoiceid":"23451","amount":5,"invoicepaid":"false"}"#,
    )
    .unwrap();
    assert_eq!(whmcs.amount.as_deref(), Some("5"));
    assert_eq!(whmcs.invoice_paid, Some(false));
    let refused =
        parse_payment(r#"{"result":"error","message":"Amount exceeds the invoice balance"}"#)
            .unwrap_err();
    assert_eq!(rejected_text(refused), "Amount exceeds the invoice balance");
}

#[test]
fn async_answers_carry_key_and_server() {
    let order = parse_async(ORDER).unwrap();
    assert_eq!(order.server_id.as_deref(), Some("42253"));
    assert_eq!(
        order.key.as_deref(),
        Some("5b0c2f3e9a7d4e1f8c6b2a9d0e3f4c5b")
    );
    assert_eq!(order.action.as_deref(), Some("order_instance"));
    assert_eq!(order.debug, None);

    let reinstall = parse_async(REINSTALL).unwrap();
    assert_eq!(
        reinstall.key.as_deref(),
        Some("aa719bfc59c3626c059950c1dcb4dbfa")
    );

    let action = parse_async(ACTION).unwrap();
    assert_eq!(
        action.server_id.as_deref(),
        Some("42253"),
        "a numeric id becomes a string"
    );
    assert!(
        action.scope.contains("http://pxe.hostkey.com/42253"),
        "PHP's \\/ is read"
    );
    assert_eq!(action.location.as_deref(), Some("NL"));
}

#[test]
fn seed_errors_are_rejected_in_the_providers_words() {
    assert_eq!(
        rejected_text(parse_async(SEED_BAD_OS).unwrap_err()),
        "reinstall: extra software Odoo (#49) is not compatible with Ubuntu 22.04"
    );
    assert_eq!(
        rejected_text(parse_async(SEED_PIN).unwrap_err()),
        "Invalid pin code: Blocked For Security Purposes"
    );
    assert_eq!(
        rejected_text(parse_check(KEY_GONE).unwrap_err()),
        "eq_callback: key aa719bfc59c3626c059950c1dcb4dbfa not found"
    );
}

#[test]
fn auth_errors_are_unauthorized_everywhere() {
    let parsers: [fn(&str) -> Option<CallError>; 6] = [
        |b| parse_login(b).err(),
        |b| parse_async(b).err(),
        |b| parse_show(b).err(),
        |b| parse_invoices(b).err(),
        |b| parse_check(b).err(),
        |b| parse_done(b).err(),
    ];
    for parse in parsers {
        match parse(AUTH_ERROR) {
            Some(CallError::Unauthorized { message, .. }) => {
                assert_eq!(message, "auth: token expired or invalid")
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }
    // A refused login is a refused key, whatever the words.
    assert!(matches!(
        parse_login(r#"{"result":-1,"error":"API key not found"}"#),
        Err(CallError::Unauthorized { .. })
    ));
}

#[test]
fn check_reads_stages() {
    let stage = |n: Option<u8>, text: &str| KeyStatus::Stage {
        stage: n,
        of: 5,
        text: text.into(),
    };
    assert_eq!(
        parse_check(SEED_STAGE).unwrap(),
        stage(Some(1), "OS installation started")
    );
    assert_eq!(
        parse_check(CHECK_WAITING).unwrap(),
        stage(Some(0), "waiting for PXE boot")
    );
    assert_eq!(parse_check(CHECK_OK).unwrap(), KeyStatus::Done);
    assert_eq!(
        parse_check(r#"{"result":"Stage","scope":" (3\/5) post-install tasks completed"}"#)
            .unwrap(),
        stage(Some(3), "post-install tasks completed")
    );
    assert_eq!(
        parse_check(r#"{"result":"Stage","scope":"installing"}"#).unwrap(),
        stage(None, "installing")
    );
    assert_eq!(
        parse_check(r#"{"result":"Pending","scope":"queued"}"#).unwrap(),
        KeyStatus::Pending("queued".into())
    );
    bad_body(parse_check(r#"{"scope":"no result"}"#).unwrap_err());
}

#[test]
fn done_accepts_ok_words_only() {
    parse_done(r#"{"result":"success"}"#).unwrap();
    parse_done(r#"{"result":"OK","message":"Cancellation request added"}"#).unwrap();
    bad_body(parse_done(r#"{"result":"Stage"}"#).unwrap_err());
    bad_body(parse_done("").unwrap_err());
}

#[test]
fn money_in_cents() {
    for (text, cents) in [
        ("5.00", Some(500)),
        ("5", Some(500)),
        ("800.5", Some(80050)),
        ("-5.00", Some(-500)),
        (" 0.07 ", Some(7)),
        ("2.5.00", None),
        ("5.", None),
        ("5.001", None),
        ("", None),
        ("EUR", None),
    ] {
        assert_eq!(money_to_cents(text), cents, "{text:?}");
    }
}

#[test]
fn token_lifetime_trusts_a_future_expiry_only() {
    assert_eq!(
        token_lifetime(Some(1_000 + 3_600), 1_000),
        Duration::from_secs(3_600)
    );
    assert_eq!(
        token_lifetime(Some(500), 1_000),
        TOKEN_TTL,
        "expiry in the past: clocks disagree"
    );
    assert_eq!(token_lifetime(Some(1_030), 1_000), TOKEN_TTL);
    assert_eq!(token_lifetime(None, 1_000), TOKEN_TTL);
}

mod http;
