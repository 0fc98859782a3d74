//! Stories that end with a server: order, pay, deliver, install.

use std::time::Duration;

use provisioner_sandbox::hostkey::{
    BootDevice, HostkeyEvent, HostkeyOptions, HostkeySim, InvoiceStatus, ServerStatus,
};
use serde_json::json;

use crate::support::{Invapi, MINUTE, ROOT_PASS, Receiver, eventually, frozen, key, server_id};

#[tokio::test]
async fn order_pay_deliver_then_pxe_install_and_clear() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let hook = Receiver::start().await;
    let api = Invapi::login(&sim).await;
    let pin = sim.pin();

    let order = api
        .order(
            &pin,
            "web-1",
            &[("own_os", "1"), ("post_install_callback", &hook.url())],
        )
        .await;
    assert_eq!(order["result"], "OK", "{order}");
    assert_eq!(order["context"]["action"], "order_instance");
    assert_eq!(order["context"]["location"], "NL");
    let id = server_id(&order);
    assert_eq!(id, "40500");
    let deploy_key = key(&order);
    assert_eq!(deploy_key.len(), 32);

    // Not visible to this token until eq/update_servers (GAPS.md).
    let hidden = api.authed("eq", &[("action", "show"), ("id", &id)]).await;
    assert_eq!(hidden["result"], -1, "{hidden}");
    let list = api.authed("eq", &[("action", "list")]).await;
    assert_eq!(list, json!({"result": "OK", "servers": []}));

    // One unpaid invoice for the order, found by server id.
    let related = api
        .authed("whmcs", &[("action", "get_related_invoices"), ("id", &id)])
        .await;
    let invoices = related["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 1, "{related}");
    assert_eq!(invoices[0]["status"], "Unpaid");
    assert_eq!(invoices[0]["total"], "5.00");
    let invoice_id = invoices[0]["id"].to_string();
    let detail = api
        .authed(
            "whmcs",
            &[("action", "get_invoice"), ("invoice_id", &invoice_id)],
        )
        .await;
    assert_eq!(detail["balance"], "5.00");
    assert!(
        detail["items"]["item"][0]["description"]
            .as_str()
            .unwrap()
            .contains("#40500"),
        "{detail}"
    );

    let waiting = api.check(&deploy_key).await;
    assert_eq!(waiting["result"], "Stage", "{waiting}");

    let paid = api
        .authed(
            "whmcs",
            &[
                ("action", "apply_credit"),
                ("invoice_id", &invoice_id),
                ("amount", "5.00"),
            ],
        )
        .await;
    assert_eq!(
        paid,
        json!({"result": "success", "invoiceid": invoice_id.parse::<u64>().unwrap(), "amount": "5.00", "invoicepaid": true})
    );
    assert_eq!(sim.credit(), "995.00");
    let again = api
        .authed(
            "whmcs",
            &[
                ("action", "apply_credit"),
                ("invoice_id", &invoice_id),
                ("amount", "5.00"),
            ],
        )
        .await;
    assert_eq!(again["result"], -1);
    assert!(again["error"].as_str().unwrap().contains("already paid"));

    let refreshed = api.authed("eq", &[("action", "update_servers")]).await;
    assert_eq!(refreshed["servers"], json!({"40500": "40500"}));
    assert_eq!(refreshed["deploy_keys"], json!({"40500": deploy_key}));
    let pending = api.authed("eq", &[("action", "show"), ("id", &id)]).await;
    assert_eq!(pending["server_data"]["status"], "pending");

    // Delivery: 10 virtual minutes after payment.
    sim.clock().advance(9 * MINUTE);
    assert_eq!(api.check(&deploy_key).await["result"], "Stage");
    sim.clock().advance(MINUTE);
    assert_eq!(api.check(&deploy_key).await["result"], "OK");
    eventually("the delivery callback", || hook.hits() == 1).await;
    let shown = api.authed("eq", &[("action", "show"), ("id", &id)]).await;
    assert_eq!(shown["server_data"]["status"], "rent");
    assert_eq!(shown["IP"][0]["IP"], "37.1.0.10");
    assert_eq!(shown["IP"][0]["main_ip"], 1);
    assert_eq!(shown["location"]["dc_location"], "NL");
    let tags = shown["tags"].as_array().unwrap();
    let tag = |name: &str| {
        tags.iter()
            .find(|t| t["tag"] == name)
            .map(|t| t["value"].clone())
    };
    assert_eq!(tag("hostname"), Some(json!("web-1")));
    assert_eq!(tag("password"), Some(json!(ROOT_PASS)));
    assert_eq!(tag("OS"), None, "own_os=1 ships without an OS");

    // PXE reinstall.
    let reinstall = api
        .authed("eq", &[("action", "reinstall"), ("id", &id)])
        .await;
    let master = key(&reinstall);
    assert_eq!(
        api.check(&master).await["scope"],
        " (0/5) waiting for PXE boot"
    );
    let pxe = api
        .authed(
            "eq",
            &[
                ("action", "create_pxe"),
                ("id", &id),
                ("pin", &pin),
                ("os_id", "187"),
                ("root_pass", "NewPass-42"),
                ("hostname", "web-1.example.net"),
                ("post_install_callback", &hook.url()),
                ("reinstall_key", &master),
            ],
        )
        .await;
    let pxe_key = key(&pxe);
    assert_eq!(api.check(&pxe_key).await["result"], "Stage");
    sim.clock().advance(Duration::from_secs(5));
    assert_eq!(api.check(&pxe_key).await["result"], "OK");
    let boot = api
        .authed(
            "eq",
            &[
                ("action", "boot_dev"),
                ("id", &id),
                ("pin", &pin),
                ("media", "pxe"),
            ],
        )
        .await;
    assert_eq!(boot["result"], "OK", "{boot}");
    // Nothing installs before the reboot.
    sim.clock().advance(30 * MINUTE);
    assert_eq!(
        api.check(&master).await["scope"],
        " (0/5) waiting for PXE boot"
    );
    assert!(sim.server(40500).unwrap().install.is_none());

    let reboot = api
        .authed("eq", &[("action", "reboot"), ("id", &id), ("pin", &pin)])
        .await;
    assert_eq!(reboot["result"], "OK", "{reboot}");
    let (_, raw) = api
        .raw(
            "eq_callback",
            &[("action", "check"), ("reinstall_key", &master)],
        )
        .await;
    assert!(
        raw.contains(r#""scope":" (0\/5) waiting for PXE boot""#),
        "{raw}"
    );
    // Default stage lengths: 2, 3, 3, 2, 2, 1 virtual minutes.
    for (minutes, scope) in [
        (2, " (1/5) OS installation started"),
        (
            3,
            " (2/5) base OS installed, proceeding with post-install tasks",
        ),
        (
            3,
            " (3/5) post-install tasks completed, running final tasks",
        ),
        (2, " (4/5) install completed, restarting the server"),
        (2, " (5/5) the server is online"),
    ] {
        sim.clock().advance(minutes * MINUTE);
        let stage = api.check(&master).await;
        assert_eq!(stage["result"], "Stage", "{stage}");
        assert_eq!(stage["scope"], scope);
        assert_eq!(stage["context"]["action"], "reinstall");
        assert_eq!(stage["context"]["id"], id.as_str());
    }
    sim.clock().advance(MINUTE);
    eventually("the install callback", || hook.hits() == 2).await;
    assert_eq!(api.check(&master).await["result"], "OK");
    let gone = api.check(&master).await;
    assert_eq!(gone["result"], -1, "the key is gone after OK: {gone}");

    // Finalizers: boot from disk, clear PXE.
    api.authed(
        "eq",
        &[
            ("action", "boot_dev"),
            ("id", &id),
            ("pin", &pin),
            ("media", "disk"),
        ],
    )
    .await;
    let cleared = api
        .authed(
            "eq",
            &[
                ("action", "clear_pxe"),
                ("id", &id),
                ("hostname", "web-1.example.net"),
            ],
        )
        .await;
    assert_eq!(cleared["result"], "OK", "{cleared}");

    let server = sim.server(40500).unwrap();
    assert_eq!(server.status, ServerStatus::Rent);
    assert!(!server.pxe_config);
    assert_eq!(server.boot_device, BootDevice::Disk);
    assert_eq!(server.invoice_status, Some(InvoiceStatus::Paid));
    assert_eq!(server.tag("password"), Some("NewPass-42"));
    assert_eq!(server.tag("OS"), Some("Ubuntu 22.04"));
    assert_eq!(server.hostname, "web-1.example.net");

    let id = 40500;
    assert_eq!(
        sim.ledger().events(),
        vec![
            HostkeyEvent::Order {
                server_id: id,
                hostname: "web-1".into(),
                preset: "vm.mini".into(),
                reinstall: false
            },
            HostkeyEvent::Payment {
                invoice_id: invoice_id.parse().unwrap(),
                amount: "5.00".into()
            },
            HostkeyEvent::Delivered { server_id: id },
            HostkeyEvent::PxeCreated { server_id: id },
            HostkeyEvent::BootDev {
                server_id: id,
                media: BootDevice::Pxe
            },
            HostkeyEvent::Reboot { server_id: id },
            HostkeyEvent::InstallStarted { server_id: id },
            HostkeyEvent::InstallCompleted { server_id: id },
            HostkeyEvent::BootDev {
                server_id: id,
                media: BootDevice::Disk
            },
            HostkeyEvent::PxeCleared { server_id: id },
        ]
    );
    assert_eq!(sim.requests("auth/login"), 1);
    assert_eq!(sim.callbacks().len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn rebooting_into_an_installed_pxe_config_is_a_sudden_reinstall() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    let pin = sim.pin();
    let id = api.delivered_server(&sim, "db-1").await.to_string();
    api.authed(
        "eq",
        &[
            ("action", "create_pxe"),
            ("id", &id),
            ("pin", &pin),
            ("os_id", "180"),
            ("root_pass", "NewPass-42"),
            ("hostname", "db-1"),
        ],
    )
    .await;
    api.authed(
        "eq",
        &[
            ("action", "boot_dev"),
            ("id", &id),
            ("pin", &pin),
            ("media", "pxe"),
        ],
    )
    .await;
    api.authed("eq", &[("action", "reboot"), ("id", &id), ("pin", &pin)])
        .await;
    sim.clock().advance(60 * MINUTE);
    assert!(sim.server(40500).unwrap().install.unwrap().completed);
    assert_eq!(
        sim.ledger()
            .count(|e| matches!(e, HostkeyEvent::SuddenReinstall { .. })),
        0
    );
    // PXE never cleared, boot still from PXE: the next reboot wipes the server.
    api.authed("eq", &[("action", "reboot"), ("id", &id), ("pin", &pin)])
        .await;
    assert_eq!(
        sim.ledger()
            .count(|e| matches!(e, HostkeyEvent::SuddenReinstall { .. })),
        1
    );
}

#[tokio::test]
async fn reinstall_by_order_reports_stages_then_ok_once() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    let id = api.delivered_server(&sim, "app-1").await.to_string();
    let answer = api
        .order(&sim.pin(), "app-1", &[("id", &id), ("os_id", "205")])
        .await;
    assert_eq!(answer["context"]["action"], "reinstall", "{answer}");
    let master = key(&answer);
    let busy = api.order(&sim.pin(), "app-1", &[("id", &id)]).await;
    assert!(
        busy["error"].as_str().unwrap().contains("not complete"),
        "{busy}"
    );
    assert_eq!(
        api.check(&master).await["scope"],
        " (0/5) waiting for PXE boot"
    );
    sim.clock().advance(2 * MINUTE);
    assert_eq!(
        api.check(&master).await["scope"],
        " (1/5) OS installation started"
    );
    sim.clock().advance(20 * MINUTE);
    assert_eq!(api.check(&master).await["result"], "OK");
    assert_eq!(api.check(&master).await["result"], -1);
    assert_eq!(sim.server(40500).unwrap().tag("OS"), Some("Rocky Linux 9"));
    assert_eq!(
        sim.ledger().count(|e| matches!(
            e,
            HostkeyEvent::Order {
                reinstall: true,
                ..
            }
        )),
        1
    );
}

#[tokio::test]
async fn compressed_time_delivers_without_anyone_asking() {
    let options = HostkeyOptions {
        time_factor: 6000.0,
        ..HostkeyOptions::default()
    };
    let sim = HostkeySim::start(options).await.unwrap();
    let hook = Receiver::start().await;
    let api = Invapi::login(&sim).await;
    let order = api
        .order(
            &sim.pin(),
            "fast-1",
            &[("post_install_callback", &hook.url())],
        )
        .await;
    let related = api
        .authed(
            "whmcs",
            &[
                ("action", "get_related_invoices"),
                ("id", &server_id(&order)),
            ],
        )
        .await;
    let invoice = related["invoices"][0]["id"].to_string();
    api.authed(
        "whmcs",
        &[
            ("action", "apply_credit"),
            ("invoice_id", &invoice),
            ("amount", "5.00"),
        ],
    )
    .await;
    // 10 virtual minutes at 6000x is 0.1 s: the settler fires the callback.
    eventually("delivery callback", || hook.hits() == 1).await;
    assert_eq!(sim.server(40500).unwrap().status, ServerStatus::Rent);
}

#[tokio::test]
async fn tags_are_added_listed_removed_and_shown() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    let id = api.delivered_server(&sim, "tagged-1").await.to_string();
    let added = api
        .authed(
            "tag",
            &[
                ("action", "add"),
                ("id", &id),
                ("tag", "job"),
                ("value", "01JOB/1"),
            ],
        )
        .await;
    assert_eq!(added["result"], "OK", "{added}");
    let (_, raw) = api
        .raw(
            "tag",
            &[("action", "list"), ("id", &id), ("token", &api.token)],
        )
        .await;
    assert!(
        raw.contains(r#""value":"01JOB\/1""#),
        "PHP escapes slashes: {raw}"
    );
    let shown = api.authed("eq", &[("action", "show"), ("id", &id)]).await;
    assert!(
        shown["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["tag"] == "job" && t["value"] == "01JOB/1"),
        "{shown}"
    );
    api.authed("tag", &[("action", "clear"), ("id", &id)]).await;
    let server = sim.server(40500).unwrap();
    assert_eq!(server.tag("job"), None);
    assert_eq!(
        server.tag("password"),
        Some(ROOT_PASS),
        "provider tags stay"
    );
    api.authed(
        "tag",
        &[("action", "add"), ("id", &id), ("tag", "x"), ("value", "1")],
    )
    .await;
    api.authed("tag", &[("action", "remove"), ("id", &id), ("tag", "x")])
        .await;
    assert_eq!(sim.server(40500).unwrap().tag("x"), None);
}
