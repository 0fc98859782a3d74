//! What the simulator refuses, and how it says so.

use provisioner_sandbox::hostkey::{
    HostkeyEvent, HostkeyOptions, HostkeySim, InvoiceStatus, ServerStatus,
};
use serde_json::Value;

use crate::support::{Invapi, MINUTE, frozen, server_id};

#[tokio::test]
async fn a_wrong_pin_is_refused_and_nothing_is_ordered() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    let refused = api.order("9999", "web-1", &[]).await;
    assert_eq!(refused["result"], -1);
    assert_eq!(refused["error"], "order_instance: Invalid pin code");
    assert!(sim.ledger().is_empty());
    assert!(sim.servers().is_empty());

    let id = api.delivered_server(&sim, "web-2").await.to_string();
    for action in ["reboot", "on", "off"] {
        let answer = api
            .authed("eq", &[("action", action), ("id", &id), ("pin", "0000")])
            .await;
        assert_eq!(answer["result"], -1, "{action}: {answer}");
    }
    let no_pin = api
        .authed(
            "eq",
            &[("action", "boot_dev"), ("id", &id), ("media", "pxe")],
        )
        .await;
    assert!(
        no_pin["error"].as_str().unwrap().contains("pin"),
        "{no_pin}"
    );
    assert_eq!(
        sim.ledger().count(|e| matches!(
            e,
            HostkeyEvent::Reboot { .. } | HostkeyEvent::BootDev { .. }
        )),
        0
    );
}

#[tokio::test]
async fn order_validation_names_what_is_wrong() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    let missing = api
        .authed(
            "eq",
            &[
                ("action", "order_instance"),
                ("pin", "1234"),
                ("preset", "vm.mini"),
            ],
        )
        .await;
    assert_eq!(
        missing["error"],
        "order_instance: missing required parameters deploy_period, deploy_notify, location_name, os_id, traffic_plan, root_pass"
    );
    // The seed's own example password has no special character.
    let weak = api
        .authed(
            "eq",
            &[
                ("action", "order_instance"),
                ("deploy_period", "monthly"),
                ("deploy_notify", "true"),
                ("pin", "1234"),
                ("preset", "vm.mini"),
                ("location_name", "NL"),
                ("os_id", "180"),
                ("traffic_plan", "25"),
                ("root_pass", "mdLus8Ng"),
            ],
        )
        .await;
    assert!(
        weak["error"].as_str().unwrap().contains("root_pass"),
        "{weak}"
    );
    let nowhere = api.order("1234", "x", &[("location_name", "XX")]).await;
    assert!(
        nowhere["error"].as_str().unwrap().contains("location_name"),
        "{nowhere}"
    );
    let unknown = api.authed("eq", &[("action", "destroy")]).await;
    assert_eq!(unknown["error"], "eq: unknown action destroy");
    assert!(sim.servers().is_empty());
}

#[tokio::test]
async fn expired_tokens_answer_auth_errors_until_a_new_login() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    let same = Invapi::login(&sim).await;
    assert_eq!(api.token, same.token, "a valid token is handed out again");
    sim.expire_tokens();
    let expired = api.authed("eq", &[("action", "list")]).await;
    assert_eq!(expired["result"], -1);
    assert!(
        expired["error"].as_str().unwrap().starts_with("auth:"),
        "{expired}"
    );
    let bogus = Invapi {
        token: "0123456789abcdef0123456789abcdef".into(),
        ..Invapi::login(&sim).await
    };
    assert!(
        bogus.authed("eq", &[("action", "list")]).await["error"]
            .as_str()
            .unwrap()
            .starts_with("auth:")
    );
    let fresh = Invapi::login(&sim).await;
    assert_ne!(fresh.token, api.token);
    assert_eq!(
        fresh.authed("eq", &[("action", "list")]).await["result"],
        "OK"
    );
    assert_eq!(sim.requests("auth/login"), 4);
    let wrong_key = fresh
        .call("auth", &[("action", "login"), ("key", "nope")])
        .await;
    assert_eq!(wrong_key["error"], "auth: invalid API key");
}

#[tokio::test]
async fn payments_need_credit_and_cancellation_is_recorded() {
    let options = HostkeyOptions {
        credit: "3.00".into(),
        ..frozen()
    };
    let sim = HostkeySim::start(options).await.unwrap();
    let api = Invapi::login(&sim).await;
    let order = api.order(&sim.pin(), "cheap-1", &[]).await;
    let id = server_id(&order);
    let list = api.authed("whmcs", &[("action", "get_invoices")]).await;
    let invoice = list["invoices"]["invoice"][0]["id"].to_string();
    let short = api
        .authed(
            "whmcs",
            &[
                ("action", "apply_credit"),
                ("invoice_id", &invoice),
                ("amount", "5.00"),
            ],
        )
        .await;
    assert!(
        short["error"].as_str().unwrap().contains("credit"),
        "{short}"
    );
    let unknown = api
        .authed(
            "whmcs",
            &[
                ("action", "apply_credit"),
                ("invoice_id", "1"),
                ("amount", "1.00"),
            ],
        )
        .await;
    assert_eq!(unknown["result"], -1);
    let partial = api
        .authed(
            "whmcs",
            &[
                ("action", "apply_credit"),
                ("invoice_id", &invoice),
                ("amount", "2"),
            ],
        )
        .await;
    assert_eq!(partial["invoicepaid"], false, "{partial}");
    assert_eq!(sim.credit(), "1.00");

    let cancel = api
        .authed(
            "whmcs",
            &[
                ("action", "request_cancellation"),
                ("id", &id),
                ("cancellation_type", "1"),
            ],
        )
        .await;
    assert_eq!(cancel["result"], "success", "{cancel}");
    sim.clock().advance(MINUTE);
    let server = sim.server(40500).unwrap();
    assert_eq!(server.status, ServerStatus::Cancelled);
    assert_eq!(server.invoice_status, Some(InvoiceStatus::Cancelled));
    assert_eq!(
        sim.ledger()
            .count(|e| matches!(e, HostkeyEvent::Cancellation { .. })),
        1
    );
}

#[tokio::test]
async fn get_is_only_for_actions_the_seed_marks_post_get() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    let http = reqwest::Client::new();
    let get = |query: String| {
        let http = http.clone();
        let url = format!("{}/eq.php?{query}", sim.base_url());
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let list = get(format!("action=list&token={}", api.token)).await;
    assert_eq!(list["error"], "eq/list: use HTTP POST");
    let pin = get(format!("action=check_pin&token={}&pin=1234", api.token)).await;
    assert_eq!(pin["scope"], "PIN code is valid");
    let wrong = get(format!("action=check_pin&token={}&pin=1", api.token)).await;
    assert_eq!(wrong["scope"], "Invalid pin code");
}
