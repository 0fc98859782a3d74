//! Invoices and payments: one unpaid invoice per new VM, paid from credit.

use provisioner_sandbox::idcloudhost::{
    IdcloudhostEvent, IdcloudhostOptions, IdcloudhostSim, InvoiceStatus,
};
use reqwest::Method;

use crate::support::{Api, frozen};

#[tokio::test]
async fn each_new_vm_gets_one_unpaid_invoice_naming_it() {
    let sim = IdcloudhostSim::start(frozen()).await.unwrap();
    let api = Api::new(&sim);
    let vm = api.create(None, "billed-vm", &[]).await;
    let uuid = vm["uuid"].as_str().unwrap();

    let owed = api
        .ok(
            Method::GET,
            "payment/billing_account/unpaid_amount",
            &[("billing_account_id", "6")],
        )
        .await;
    assert_eq!(owed, serde_json::json!({"message": 6.0}));
    let invoices = api
        .ok(
            Method::GET,
            "payment/invoice/list",
            &[("billing_account_id", "6")],
        )
        .await;
    let list = invoices.as_array().unwrap();
    assert_eq!(list.len(), 1, "{invoices}");
    assert_eq!(list[0]["status"], 5);
    assert_eq!(list[0]["totals"]["total"], 6.0);
    assert_eq!(
        list[0]["records_list"][0]["name"],
        "billed-vm, 2 CPUs, 2 GB RAM, 20 GB disk"
    );
    let id = list[0]["id"].to_string();
    let detail = api
        .ok(Method::GET, "payment/invoice", &[("invoice_id", &id)])
        .await;
    assert_eq!(detail["id"], list[0]["id"]);

    let paid = api
        .ok(Method::POST, "payment/pay_invoice", &[("invoice_id", &id)])
        .await;
    assert_eq!(paid["success"], true, "{paid}");
    assert_eq!(paid["paid_invoices"][0].to_string(), id);
    assert_eq!(sim.credit(), "94.00");
    let invoices = sim.invoices();
    assert_eq!(invoices[0].status, InvoiceStatus::Paid);
    assert_eq!(invoices[0].vm_uuid, uuid);

    let (status, body) = api
        .send(Method::POST, "payment/pay_invoice", &[("invoice_id", &id)])
        .await;
    assert_eq!(status, 400, "already paid: {body}");
    assert_eq!(
        sim.ledger()
            .count(|e| matches!(e, IdcloudhostEvent::Payment { .. })),
        1
    );
    let owed = api
        .ok(
            Method::GET,
            "payment/billing_account/unpaid_amount",
            &[("billing_account_id", "6")],
        )
        .await;
    assert_eq!(owed["message"], 0.0);
}

#[tokio::test]
async fn pay_all_pays_the_oldest_first_while_credit_lasts() {
    let sim = IdcloudhostSim::start(IdcloudhostOptions {
        credit: "13.00".into(),
        ..frozen()
    })
    .await
    .unwrap();
    let api = Api::new(&sim);
    for name in ["first-vm", "second-vm", "third-vm"] {
        api.create(None, name, &[]).await;
    }
    let answer = api
        .ok(
            Method::POST,
            "payment/pay_all",
            &[("billing_account_id", "6")],
        )
        .await;
    assert_eq!(
        answer["paid_invoices"].as_array().unwrap().len(),
        2,
        "{answer}"
    );
    assert_eq!(answer["success"], false, "one was left unpaid: {answer}");
    assert!(
        answer["error_log"]
            .as_str()
            .unwrap()
            .contains("Not enough credit")
    );
    let statuses: Vec<InvoiceStatus> = sim.invoices().iter().map(|i| i.status).collect();
    assert_eq!(
        statuses,
        [
            InvoiceStatus::Paid,
            InvoiceStatus::Paid,
            InvoiceStatus::Unpaid
        ]
    );
    let id = sim.invoices()[2].id.to_string();
    let (status, body) = api
        .send(Method::POST, "payment/pay_invoice", &[("invoice_id", &id)])
        .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"]["Error"]
            .as_str()
            .unwrap()
            .starts_with("Not enough credit")
    );
    assert_eq!(sim.credit(), "1.00");
}

#[tokio::test]
async fn wrong_billing_accounts_unknown_invoices_and_forbidden_payments() {
    let sim = IdcloudhostSim::start(IdcloudhostOptions {
        payments_forbidden: true,
        ..frozen()
    })
    .await
    .unwrap();
    let api = Api::new(&sim);
    let (status, body) = api
        .send(
            Method::GET,
            "payment/invoice/list",
            &[("billing_account_id", "7")],
        )
        .await;
    assert_eq!(
        (status, &body["errors"]["Error"]),
        (400, &"Provided billing account is incorrect.".into())
    );
    let (status, _) = api
        .send(Method::GET, "payment/invoice", &[("invoice_id", "1")])
        .await;
    assert_eq!(status, 404);
    let (status, body) = api
        .send(Method::POST, "payment/pay_invoice", &[("invoice_id", "1")])
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["errors"]["consumer::resource_forbidden"]["msg"],
        "Consumer not allowed to access resource."
    );
}
