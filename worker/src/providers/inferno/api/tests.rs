//! Every seed example and GAPS shape through its parser; the `print_r` reader's
//! properties in `print_r`; the client over HTTP in `http`.

use super::*;
use secrecy::ExposeSecret;

mod http;
mod print_r;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../fixtures/", $name))
    };
}

pub(super) const SEED_CREATE: &str = fixture!("seed_create.json");
pub(super) const SEED_ORDERS: &str = fixture!("seed_orders.json");
pub(super) const SEED_CANCEL_OK: &str = fixture!("seed_cancel_success.json");
pub(super) const SEED_CANCEL_FAIL: &str = fixture!("seed_cancel_fail.json");
pub(super) const SEED_INSTALL_OK: &str = fixture!("seed_install_success.txt");
pub(super) const SEED_INSTALL_904: &str = fixture!("seed_install_904.txt");
pub(super) const SEED_GETINFO: &str = fixture!("seed_getinfo.json");
pub(super) const FAIL: &str = fixture!("gaps_fail.json");
pub(super) const GETINFO_BEFORE: &str = fixture!("gaps_getinfo_before_install.json");
pub(super) const INSTALL_VALID: &str = fixture!("gaps_install_valid.txt");
pub(super) const SSHKEY_ADD: &str = fixture!("gaps_sshkey_add.json");
pub(super) const SSHKEY_LIST: &str = fixture!("gaps_sshkey_list.json");
pub(super) const PHP_INSTALL_OK: &str = fixture!("php_install_success.txt");
pub(super) const PHP_INSTALL_904: &str = fixture!("php_install_904_crlf.txt");
pub(super) const PHP_INSTALL_ERROR: &str = fixture!("php_install_other_error.txt");

/// Every fixture, for the properties that must hold on all of them.
pub(super) const ALL: [&str; 15] = [
    SEED_CREATE,
    SEED_ORDERS,
    SEED_CANCEL_OK,
    SEED_CANCEL_FAIL,
    SEED_INSTALL_OK,
    SEED_INSTALL_904,
    SEED_GETINFO,
    FAIL,
    GETINFO_BEFORE,
    INSTALL_VALID,
    SSHKEY_ADD,
    SSHKEY_LIST,
    PHP_INSTALL_OK,
    PHP_INSTALL_904,
    PHP_INSTALL_ERROR,
];

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
fn seed_create_gives_the_order_and_invoice_despite_its_comment() {
    let created = parse_create(SEED_CREATE).unwrap();
    assert_eq!(created.order_id, "47000");
    assert_eq!(created.invoice_id.as_deref(), Some("366000"));
    assert_eq!(created.product_ids.as_deref(), Some("49700"));
}

#[test]
fn seed_orders_without_braces_lists_the_pending_order() {
    let orders = parse_orders(SEED_ORDERS).unwrap();
    assert_eq!(
        orders,
        [OrderSummary {
            id: "47200".into(),
            number: Some("8634530000".into()),
            amount: Some("5.00".into()),
            invoice_id: Some("366000".into()),
            status: OrderStatus::Pending,
        }]
    );
}

#[test]
fn orders_take_php_empty_lists_maps_lists_and_numbers() {
    assert!(
        parse_orders(r#"{"result":"success","orders":[]}"#)
            .unwrap()
            .is_empty()
    );
    let listed = parse_orders(
        r#"{"result":"success","orders":[{"id":47001,"status":"Active","invoiceid":1},{"orderid":"47002","status":"Cancelled"}]}"#,
    )
    .unwrap();
    assert_eq!(listed[0].id, "47001");
    assert_eq!(listed[0].status, OrderStatus::Active);
    assert_eq!(listed[0].invoice_id.as_deref(), Some("1"));
    assert_eq!(listed[1].id, "47002");
    assert!(listed[1].status.is_dead());
    // an entry without its own id is named by its key
    let keyed = parse_orders(r#"{"orders":{"47003":{"status":"Fraud"}}}"#).unwrap();
    assert_eq!(keyed[0].id, "47003");
    assert_eq!(keyed[0].status, OrderStatus::Other("Fraud".into()));
    assert!(keyed[0].status.is_dead());
    bad_body(parse_orders(r#"{"result":"success"}"#).unwrap_err());
    bad_body(parse_orders(r#"{"orders":{"1":{"id":"1"}}}"#).unwrap_err());
}

#[test]
fn seed_cancel_answers_success_or_inferno_s_own_refusal() {
    parse_done(SEED_CANCEL_OK).unwrap();
    assert_eq!(
        rejected_text(parse_done(SEED_CANCEL_FAIL).unwrap_err()),
        "Order ID not found or Status not Pending"
    );
    assert_eq!(
        rejected_text(parse_done(FAIL).unwrap_err()),
        "Order not found"
    );
    // a failure without words quotes the body
    assert!(rejected_text(parse_done(r#"{"result":"fail"}"#).unwrap_err()).contains("fail"));
    bad_body(parse_done(r#"{"result":"maybe"}"#).unwrap_err());
    bad_body(parse_done("<html>Bad Gateway</html>").unwrap_err());
}

#[test]
fn seed_getinfo_shows_an_active_vps_with_its_ip_and_a_hidden_password() {
    let info = parse_getinfo(SEED_GETINFO).unwrap();
    assert_eq!(info.order_id.as_deref(), Some("47012"));
    assert_eq!(info.order_status, OrderStatus::Active);
    assert_eq!(info.dedicated_ip, None, "the seed's dedicatedip is empty");
    let vps = info.ready_vps().expect("the seed's VPS is up");
    assert_eq!(vps.ip.as_deref(), Some("37.1.0.111"));
    assert_eq!(vps.main_id.as_deref(), Some("21968"));
    assert_eq!(vps.name.as_deref(), Some("37-1-0-111"));
    assert_eq!(vps.state.as_deref(), Some(" Included"));
    assert_eq!(
        vps.password.as_ref().map(|p| p.expose_secret().to_owned()),
        Some("XXXXXXXXXXX".into())
    );
    assert!(!format!("{info:?}").contains("XXXXXXXXXXX"));
}

#[test]
fn getinfo_before_the_install_has_no_vps() {
    let info = parse_getinfo(GETINFO_BEFORE).unwrap();
    assert_eq!(info.order_status, OrderStatus::Pending);
    assert!(matches!(&info.vps, Vps::Absent { message } if message == "VPS not found"));
    assert!(info.ready_vps().is_none());
}

#[test]
fn getinfo_while_installing_is_not_ready() {
    let body = r#"{"result":"success","orderid":1,"orderStatus":"Active","productStatus":"Active","vps_info":{"result":"success","main_id":"5","vps_name":"37-1-0-9","ip":"37.1.0.9","real_state":"Installing"}}"#;
    let info = parse_getinfo(body).unwrap();
    assert!(info.ready_vps().is_none());
    let no_ip = r#"{"result":"success","orderStatus":"Active","vps_info":{"result":"success","ip":"","real_state":" Included"}}"#;
    assert!(parse_getinfo(no_ip).unwrap().ready_vps().is_none());
    assert_eq!(
        rejected_text(parse_getinfo(FAIL).unwrap_err()),
        "Order not found"
    );
}

#[test]
fn a_bad_getinfo_body_is_quoted_without_the_password() {
    let body = r#"{"result":"success","vps_info":{"vps_password":"hunter2-secret"}}"#;
    let quoted = bad_body(parse_getinfo(body).unwrap_err());
    assert!(!quoted.contains("hunter2"), "{quoted}");
    assert!(quoted.contains("[REDACTED]"), "{quoted}");
}

#[test]
fn gaps_sshkeys_list_and_add() {
    let keys = parse_sshkey_list(SSHKEY_LIST).unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1].id, "12");
    assert!(same_ssh_key(
        &keys[1].key,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 another-label"
    ));
    assert!(!same_ssh_key(
        &keys[1].key,
        "ssh-ed25519 AAAAOTHER ci@example.com"
    ));
    assert!(!same_ssh_key("", ""));
    assert_eq!(parse_sshkey_add(SSHKEY_ADD).unwrap(), "12");
    assert_eq!(
        parse_sshkey_add(r#"{"result":"success","id":"13"}"#).unwrap(),
        "13"
    );
    assert!(
        parse_sshkey_list(r#"{"result":"success","keys":[]}"#)
            .unwrap()
            .is_empty()
    );
    bad_body(parse_sshkey_add(r#"{"result":"success"}"#).unwrap_err());
}

#[test]
fn seed_install_success_is_accepted_with_the_queue_message() {
    assert_eq!(
        parse_install(SEED_INSTALL_OK).unwrap(),
        InstallAnswer::Accepted {
            message: "VSCD: VPS added to queue".into()
        }
    );
    assert_eq!(
        parse_install(PHP_INSTALL_OK).unwrap(),
        InstallAnswer::Accepted {
            message: "VSCD: VPS added to queue".into()
        }
    );
}

#[test]
fn seed_install_904_means_an_install_is_already_under_way() {
    let expected = InstallAnswer::AlreadyInstalling {
        message: "Vps exists with current main_id (21968) , W:47012".into(),
    };
    assert_eq!(parse_install(SEED_INSTALL_904).unwrap(), expected);
    assert_eq!(parse_install(PHP_INSTALL_904).unwrap(), expected);
    // the same inside `retx`, or as JSON
    let nested = "[result] => success\n[retx] => Array\n(\n[result] => fail\n[msg] => Vps exists\n[error_code] => 904\n)\n";
    assert!(matches!(
        parse_install(nested).unwrap(),
        InstallAnswer::AlreadyInstalling { .. }
    ));
    let json = r#"{"result":"fail","msg":"Vps exists","error_code":904}"#;
    assert!(matches!(
        parse_install(json).unwrap(),
        InstallAnswer::AlreadyInstalling { .. }
    ));
}

#[test]
fn gaps_install_run_0_says_the_parameters_are_valid() {
    assert_eq!(
        parse_install(INSTALL_VALID).unwrap(),
        InstallAnswer::Accepted {
            message: "parameters are valid".into()
        }
    );
}

#[test]
fn other_install_errors_are_refusals_quoting_msg_and_code() {
    assert_eq!(
        rejected_text(parse_install(PHP_INSTALL_ERROR).unwrap_err()),
        "Template not found: debian-13 (check ostpls => list) (error_code 903)"
    );
    let retx_failed = "[result] => success\n[msg] => ok\n[retx] => Array\n(\n[result] => fail\n[msg] => VSCD: no free IP\n[error_code] => 17\n)\n";
    assert_eq!(
        rejected_text(parse_install(retx_failed).unwrap_err()),
        "VSCD: no free IP (error_code 17)"
    );
    assert_eq!(
        rejected_text(parse_install(FAIL).unwrap_err()),
        "Order not found"
    );
}

#[test]
fn install_answers_in_a_new_shape_are_bad_responses_quoting_the_body() {
    assert!(bad_body(parse_install("Internal Server Error").unwrap_err()).contains("Internal"));
    bad_body(parse_install("[method] => createVPS\n").unwrap_err());
    bad_body(parse_install("[result] => queued\n").unwrap_err());
    // a cut-off PHP answer is not mistaken for a whole one
    let cut = &PHP_INSTALL_OK[..PHP_INSTALL_OK.find("[retx]").unwrap()];
    bad_body(parse_install(cut).unwrap_err());
}

#[test]
fn every_fixture_parses_without_panicking_as_any_answer() {
    for body in ALL {
        let _ = parse_create(body);
        let _ = parse_orders(body);
        let _ = parse_done(body);
        let _ = parse_getinfo(body);
        let _ = parse_sshkey_add(body);
        let _ = parse_sshkey_list(body);
        let _ = parse_install(body);
    }
}

#[test]
fn products_are_read_as_a_map_or_a_list_with_their_prices() {
    let map = r#"{"result":"success","ostpls":["centos7-64-default"],
        "products":{"303":{"pid":"303","name":"VPS-1","price":"5.00"},"304":{"name":"VPS-2","price":"9.00"}}}"#;
    let products = parse_products(map).unwrap();
    assert_eq!(products.len(), 2);
    assert_eq!(products[0].id, "303");
    assert_eq!(products[0].price.as_deref(), Some("5.00"));
    assert_eq!(
        products[1].id, "304",
        "the key names the product when pid is absent"
    );
    let list = r#"{"products":[{"id":303,"amount":5}]}"#;
    let products = parse_products(list).unwrap();
    assert_eq!(products[0].id, "303");
    assert_eq!(products[0].price.as_deref(), Some("5"));
    assert!(
        parse_products(r#"{"result":"success"}"#)
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        parse_products(r#"{"result":"fail","message":"Authorization error"}"#),
        Err(CallError::Rejected { .. })
    ));
}
