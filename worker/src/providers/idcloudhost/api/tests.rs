//! Every seed example and GAPS shape through its parser, then the client's requests
//! and HTTP error handling against a small in-process fake.

mod http;

use super::*;
use crate::providers::fields::Decimals;

/// IDCloudHost prints money as floats do.
fn money_to_cents(text: &str) -> Option<i64> {
    crate::providers::fields::money_to_cents(text, Decimals::Rounded)
}

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../fixtures/", $name))
    };
}

const SEED_GET_VM: &str = fixture!("seed_get_vm.json");
const SEED_CREATE_VM: &str = fixture!("seed_create_vm.json");
const SEED_REINSTALL_VM: &str = fixture!("seed_reinstall_vm.json");
const SEED_STOP_VM: &str = fixture!("seed_stop_vm.json");
const SEED_VM_LIST: &str = fixture!("seed_vm_list.json");
const SEED_BILLING_RESOURCES: &str = fixture!("seed_billing_resources.json");
const SEED_FLOATING_IPS: &str = fixture!("seed_floating_ips.json");
const SEED_LOCATIONS: &str = fixture!("seed_locations.json");
const SEED_INVOICE: &str = fixture!("seed_invoice.json");
const SEED_INVOICES: &str = fixture!("seed_invoice_list.json");
const SEED_UNPAID: &str = fixture!("seed_unpaid_amount.json");
const SEED_PAY_AMOUNT: &str = fixture!("seed_pay_amount.json");
const SEED_PAY_INVOICE_FORBIDDEN: &str = fixture!("seed_pay_invoice_forbidden.json");
const SEED_PAY_ALL_FORBIDDEN: &str = fixture!("seed_pay_all_forbidden.json");
const SEED_VM_NOT_FOUND: &str = fixture!("seed_vm_not_found.json");
const SEED_BILLING_INCORRECT: &str = fixture!("seed_billing_account_incorrect.json");
const SEED_SUCCESS: &str = fixture!("seed_success.json");
const GAPS_VM_STARTING: &str = fixture!("gaps_vm_starting.json");
const GAPS_DELETE: &str = fixture!("gaps_delete_vm.json");
const GAPS_PAY_INVOICE: &str = fixture!("gaps_pay_invoice.json");
const GAPS_VALIDATION: &str = fixture!("gaps_validation_error.json");

fn rejected_text(e: CallError) -> String {
    match e {
        CallError::Rejected { message, .. } => message,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[test]
fn seed_vm_answers_parse() {
    let vm = parse_vm(SEED_GET_VM).unwrap();
    assert_eq!(vm.uuid, "f80b1d62-ffe4-43ef-9210-60f05445456a");
    assert_eq!(vm.name, "Windows-2016");
    assert_eq!(vm.status, VmStatus::Running);
    assert_eq!(vm.billing_account, Some(6));
    assert_eq!(vm.public_ipv4, None, "the seed's VM shows no public IPv4");
    assert_eq!(
        vm.public_ipv6.unwrap().to_string(),
        "2a05:1cc0:10:30::80:fffe"
    );
    assert_eq!(vm.private_ipv4.unwrap().to_string(), "10.123.8.223");
    assert_eq!(
        (vm.os_name.as_deref(), vm.os_version.as_deref()),
        (Some("windows"), Some("2016"))
    );

    let created = parse_vm(SEED_CREATE_VM).unwrap();
    assert_eq!(created.uuid, "fc880f74-cf03-4a7a-93da-74c506157023");
    assert_eq!(created.name, "Ubuntu-16-04");
    assert_eq!(created.description, "");

    let reinstalled = parse_vm(SEED_REINSTALL_VM).unwrap();
    assert_eq!(reinstalled.os_version.as_deref(), Some("22.04-lts"));
    assert_eq!(reinstalled.id, None, "this example has no numeric id");

    let stopped = parse_vm(SEED_STOP_VM).unwrap();
    assert_eq!(stopped.status, VmStatus::Stopped);
}

#[test]
fn gaps_vm_is_starting_with_a_public_ipv4() {
    let vm = parse_vm(GAPS_VM_STARTING).unwrap();
    assert_eq!(vm.status, VmStatus::Starting);
    assert_eq!(vm.public_ipv4.unwrap().to_string(), "80.64.107.12");
    assert_eq!(vm.description, "01HX2Y3Z4A5B6C7D8E9F0GHJKM");
}

#[test]
fn seed_vm_lists_parse_with_their_addresses() {
    let vms = parse_vm_list(SEED_VM_LIST).unwrap();
    assert_eq!(vms.len(), 5);
    assert_eq!(vms[0].name, "Name of the Clone");
    assert!(vms.iter().all(|v| v.status == VmStatus::Running));

    let billed = parse_vm_list(SEED_BILLING_RESOURCES).unwrap();
    let ips: Vec<Option<String>> = billed
        .iter()
        .map(|v| v.public_ipv4.map(|ip| ip.to_string()))
        .collect();
    assert_eq!(ips[0].as_deref(), Some("80.64.107.54"));
    assert_eq!(ips[3], None, "`public_ipv4: null`");
    assert_eq!(billed[0].private_ipv4, None, "`private_ipv4: \"\"`");
}

#[test]
fn seed_floating_ips_and_locations_parse() {
    let ips = parse_floating_ips(SEED_FLOATING_IPS).unwrap();
    assert_eq!(ips.len(), 2);
    assert_eq!(ips[0].address.to_string(), "1.1.1.1");
    assert_eq!(
        ips[0].assigned_to.as_deref(),
        Some("88e5a11b-9c89-4986-99c7-90d43499317c")
    );
    assert_eq!(ips[0].kind.as_deref(), Some("public"));

    let locations = parse_locations(SEED_LOCATIONS).unwrap();
    assert_eq!(locations[0].slug, "cyc01");
    assert!(locations[0].is_default);
    assert_eq!(locations[1].slug, "bus02");
    assert!(!locations[1].is_default);
}

#[test]
fn seed_invoices_parse_with_status_codes_and_records() {
    let invoices = parse_invoices(SEED_INVOICES).unwrap();
    let ids: Vec<&str> = invoices.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["3782543", "3782542", "3782541", "6", "1"]);
    assert_eq!(invoices[0].status, InvoiceStatus::Unpaid);
    assert_eq!(invoices[3].status, InvoiceStatus::Unpaid);
    assert_eq!(invoices[4].status, InvoiceStatus::Paid);
    assert_eq!(invoices[0].total.as_deref(), Some("3.55"));
    assert_eq!(invoices[0].billing_account_id, Some(6));
    assert_eq!(invoices[0].records.len(), 6);
    // The seed's records name VMs only by their name, which two VMs may share: such an
    // invoice is nobody's in particular, so none of it is taken for ours.
    assert!(!invoices[0].names_vm("", "Name of the Clone"));
    assert!(!invoices[0].names_vm("d582f16a-013b-4a23-8463-c66bbbc96c43", "01JOB"));
    assert!(
        !invoices[0].names_vm("", ""),
        "an empty reference names nothing"
    );
    assert_eq!(invoices[0].transactions, 0);

    let one = parse_invoice(SEED_INVOICE).unwrap();
    assert_eq!(one.id, "1");
    assert_eq!(one.status, InvoiceStatus::Paid);
    assert_eq!(one.total.as_deref(), Some("1.21"));
    assert!(!one.names_vm("", "DEBUGXYZ-2-buntu"));
    assert_eq!(one.transactions, 1);
    assert_eq!(one.credit.as_deref(), Some("-0.1"));
}

#[test]
fn an_invoice_record_naming_the_uuid_names_the_vm() {
    let body = r#"[{"id": 9, "status": 5, "totals": {"total": "6.00"},
        "records_list": [{"name": "VM 7c2f4d0e-1a3b-4c5d-8e9f-0a1b2c3d4e5f", "descr": "TODO"}]}]"#;
    let invoices = parse_invoices(body).unwrap();
    assert!(invoices[0].names_vm("7c2f4d0e-1a3b-4c5d-8e9f-0a1b2c3d4e5f", "01JOB"));
    assert!(!invoices[0].names_vm("9d1e2f3a-1a3b-4c5d-8e9f-0a1b2c3d4e5f", "01JOB"));
    let by_reference = r#"[{"id": 9, "status": 5, "records_list":
        [{"name": "web-1, 2 CPUs", "descr": "01JOB"}]}]"#;
    assert!(parse_invoices(by_reference).unwrap()[0].names_vm("", "01JOB"));
    assert_eq!(invoices[0].total.as_deref(), Some("6.00"));
    assert_eq!(money_to_cents("6.00"), Some(600));
    assert_eq!(money_to_cents("59.96"), Some(5996));
    assert_eq!(money_to_cents("0.59999"), Some(60));
    assert_eq!(money_to_cents("-0.1"), Some(-10));
    assert_eq!(money_to_cents("1e3"), None);
}

#[test]
fn seed_unpaid_amount_and_payments_parse() {
    assert_eq!(parse_unpaid_amount(SEED_UNPAID).unwrap(), "59.96");
    assert_eq!(parse_unpaid_amount(r#"{"message": "0"}"#).unwrap(), "0");
    assert!(matches!(
        parse_unpaid_amount(r#"{"message": "soon"}"#),
        Err(CallError::BadResponse { .. })
    ));

    let paid = parse_payment(SEED_PAY_AMOUNT).unwrap();
    assert!(paid.success);
    assert_eq!(paid.paid_invoices.as_deref(), Some(&["6".to_owned()][..]));
    assert_eq!(paid.amount_used.as_deref(), Some("10.0"));
    assert!(paid.said().starts_with("All amount were used."));

    let ours = parse_payment(GAPS_PAY_INVOICE).unwrap();
    assert!(ours.success);
    assert_eq!(
        ours.paid_invoices.as_deref(),
        Some(&["3782544".to_owned()][..])
    );

    let refused = parse_payment(
        r#"{"success": false, "message": "Not enough credit", "error_log": "invoice 9"}"#,
    )
    .unwrap();
    assert!(!refused.success);
    assert_eq!(refused.said(), "Not enough credit; invoice 9");
}

#[test]
fn seed_error_bodies_quote_the_providers_words() {
    assert_eq!(
        rejected_text(parse_vm(SEED_VM_NOT_FOUND).unwrap_err()),
        "No such virtual machine exists. aaaaaaaa-0000-bbbb-1111-cccccccccccc"
    );
    assert_eq!(
        rejected_text(parse_done(SEED_BILLING_INCORRECT).unwrap_err()),
        "Provided billing account is incorrect."
    );
    for body in [SEED_PAY_INVOICE_FORBIDDEN, SEED_PAY_ALL_FORBIDDEN] {
        match parse_payment(body).unwrap_err() {
            CallError::Unauthorized { message, .. } => {
                assert_eq!(message, "Consumer not allowed to access resource.")
            }
            other => panic!("{other:?}"),
        }
    }
    let validation = rejected_text(parse_vm(GAPS_VALIDATION).unwrap_err());
    assert!(validation.contains("name: Must match"), "{validation}");
    assert!(
        validation.contains("password: Must contain"),
        "{validation}"
    );
    let listed =
        rejected_text(parse_vm(r#"{"errors": {"vcpu": ["too many", "max 16"]}}"#).unwrap_err());
    assert_eq!(listed, "vcpu: too many, max 16");
}

#[test]
fn success_answers_and_empty_bodies_are_done() {
    parse_done(SEED_SUCCESS).unwrap();
    parse_done(GAPS_DELETE).unwrap();
    parse_done("").unwrap();
    parse_done(GAPS_VM_STARTING).unwrap();
    assert_eq!(
        rejected_text(parse_done(r#"{"success": false, "message": "busy"}"#).unwrap_err()),
        "busy"
    );
    // An empty `errors` is no error (the recurring-payment example has one).
    parse_done(r#"{"success": true, "errors": []}"#).unwrap();
}

#[test]
fn new_shapes_fail_with_the_body_quoted_and_secrets_masked() {
    match parse_vm(r#"{"vm": {"name": "x"}, "token": "PS2vfOCKuU52be83"}"#).unwrap_err() {
        CallError::BadResponse { body, .. } => {
            assert!(body.contains(r#""vm""#), "{body}");
            assert!(!body.contains("PS2vfOCKuU52be83"), "{body}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_invoices("<html>oops</html>"),
        Err(CallError::BadResponse { .. })
    ));
    assert!(matches!(
        parse_vm_list(r#"{"count": 2}"#),
        Err(CallError::BadResponse { .. })
    ));
}

#[test]
fn unknown_fields_and_other_statuses_are_tolerated() {
    let vm = parse_vm(r#"{"uuid": "u-1", "status": "Migrating", "new_field": {"a": 1}}"#).unwrap();
    assert_eq!(vm.status, VmStatus::Other("Migrating".into()));
    assert!(!vm.status.is_broken());
    assert!(VmStatus::parse("error").is_broken());
    let wrapped = parse_vm_list(r#"{"data": [{"uuid": "u-1"}, {"uuid": "u-2"}]}"#).unwrap();
    assert_eq!(wrapped.len(), 2);
    let invoices = parse_invoices(r#"[{"id": "12", "status": "5"}]"#).unwrap();
    assert_eq!(invoices[0].status, InvoiceStatus::Unpaid);
    assert_eq!(InvoiceStatus::from_code(7), InvoiceStatus::Other(7));
}
