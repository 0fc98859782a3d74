//! Orders from `create` to a running VPS, and a reinstall.

use provisioner_sandbox::inferno::{InfernoEvent, InfernoOptions, InfernoSim, PrintRLayout};

use crate::support::{Client, MINUTE, advance, frozen};

const SEED_SUCCESS: &str = "[method] => createVPS\n[result] => success\n[msg] => ok\n[retx] => Array\n(\n[result] => success\n[msg] => VSCD: VPS added to queue\n[error_code] => 0\n)\n";

#[tokio::test]
async fn an_order_is_pending_until_paid_then_installs_and_comes_up() {
    let sim = InfernoSim::start(frozen()).await.unwrap();
    let api = Client::new(&sim);
    let created = api.call("create", &[("pid", "303")]).await;
    assert_eq!(created["orderid"], 47000);
    assert_eq!(created["invoiceid"], 366000);
    assert_eq!(created["productids"], "49700");
    let order = "47000";
    assert_eq!(api.status_of(order).await.as_deref(), Some("Pending"));
    let listed = api.call("orders", &[]).await;
    assert_eq!(listed["orders"][order]["id"], "47000");
    assert_eq!(listed["orders"][order]["amount"], "5.00");
    assert_eq!(listed["orders"][order]["invoiceid"], "366000");

    // an unpaid order cannot be installed
    let unpaid = api.install(order, "centos7-64-default", "0").await;
    assert!(unpaid.contains("[error_code] => 902"), "{unpaid}");
    let info = api.call("getinfo", &[("orderid", order)]).await;
    assert_eq!(info["orderStatus"], "Pending");
    assert_eq!(
        info["vps_info"]["result"], "fail",
        "GAPS: no VPS before the install"
    );

    // paid outside the API
    let paid = reqwest::Client::new()
        .post(format!("{}/_sandbox/inferno/pay", sim.base_url()))
        .json(&serde_json::json!({"order_id": 47000}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);
    assert_eq!(api.status_of(order).await.as_deref(), Some("Active"));

    let valid = api.install(order, "centos7-64-default", "0").await;
    assert_eq!(
        valid,
        "[method] => createVPS\n[result] => success\n[msg] => parameters are valid\n"
    );
    assert_eq!(
        api.install(order, "centos7-64-default", "1").await,
        SEED_SUCCESS
    );
    let busy = api.install(order, "centos7-64-default", "1").await;
    assert_eq!(
        busy,
        "Array\n(\n[method] => createVPS\n[result] => fail\n[msg] => Vps exists with current main_id (21968) , W:47000\n[error_code] => 904\n)\n"
    );
    let info = api.call("getinfo", &[("orderid", order)]).await;
    assert_eq!(info["vps_info"]["result"], "success");
    assert_eq!(info["vps_info"]["real_state"], "Installing");
    assert_eq!(
        info["vps_info"]["ip"], "",
        "no address during the first install"
    );

    advance(&sim, 5 * MINUTE);
    let info = api.call("getinfo", &[("orderid", order)]).await;
    assert_eq!(info["orderStatus"], "Active");
    assert_eq!(info["productStatus"], "Active");
    assert_eq!(info["vps_info"]["ip"], "37.1.0.111");
    assert_eq!(info["vps_info"]["vps_name"], "37-1-0-111");
    assert_eq!(info["vps_info"]["main_id"], "21968");
    assert_eq!(info["vps_info"]["real_state"], " Included");
    let password = info["vps_info"]["vps_password"].as_str().unwrap();
    assert_eq!(password.len(), 12);

    let events = sim.ledger().events();
    assert_eq!(
        events,
        [
            InfernoEvent::Order {
                order_id: 47000,
                invoice_id: 366000,
                product_id: 303
            },
            InfernoEvent::Paid {
                order_id: 47000,
                invoice_id: 366000
            },
            InfernoEvent::Install {
                order_id: 47000,
                template: "centos7-64-default".into(),
                reinstall: false
            },
            InfernoEvent::InstallCompleted { order_id: 47000 },
        ]
    );
}

#[tokio::test]
async fn a_second_install_after_the_first_reinstalls_in_place() {
    let sim = InfernoSim::start(frozen()).await.unwrap();
    let api = Client::new(&sim);
    let order = api.create().await;
    assert!(sim.mark_paid(47000));
    api.install(&order, "centos7-64-default", "1").await;
    advance(&sim, 5 * MINUTE);
    let first = sim.order(47000).unwrap().vps.unwrap();
    assert!(!first.installing);

    sim.set_layout(PrintRLayout::Php);
    let answer = api.install(&order, "debian12-64-default", "1").await;
    assert!(
        answer.starts_with("Array\n(\n    [method] => createVPS\n    [result] => success\n"),
        "{answer}"
    );
    assert!(answer.contains("        (\n            [result] => success\n"));
    let info = api.call("getinfo", &[("orderid", &order)]).await;
    assert_eq!(
        info["vps_info"]["ip"], "37.1.0.111",
        "a reinstall keeps its address"
    );
    advance(&sim, 5 * MINUTE);
    let second = sim.order(47000).unwrap().vps.unwrap();
    assert_eq!(
        (second.main_id, second.ip.as_str()),
        (first.main_id, first.ip.as_str())
    );
    assert_eq!(second.template, "debian12-64-default");
    assert_ne!(second.password, first.password);
    assert_eq!(second.installs, 2);
    assert_eq!(
        sim.ledger().count(|e| matches!(
            e,
            InfernoEvent::Install {
                reinstall: true,
                ..
            }
        )),
        1
    );
}

#[tokio::test]
async fn auto_pay_pays_after_the_delay_and_an_install_started_in_the_panel_is_904() {
    let sim = InfernoSim::start(InfernoOptions {
        time_factor: 0.0,
        ..InfernoOptions::default()
    })
    .await
    .unwrap();
    let api = Client::new(&sim);
    let order = api.create().await;
    advance(&sim, MINUTE);
    assert_eq!(api.status_of(&order).await.as_deref(), Some("Pending"));
    advance(&sim, MINUTE);
    assert_eq!(api.status_of(&order).await.as_deref(), Some("Active"));

    sim.start_install(47000, "ubuntu22-64-default").unwrap();
    let busy = api.install(&order, "ubuntu22-64-default", "0").await;
    assert!(busy.contains("[error_code] => 904"), "{busy}");
    assert_eq!(
        sim.start_install(47999, "x"),
        Err("no order 47999".to_owned())
    );
}

#[tokio::test]
async fn the_seed_s_get_requests_work_and_list_needs_no_key() {
    let sim = InfernoSim::start(frozen()).await.unwrap();
    let api = Client::new(&sim);
    let list = api.get("action=list").await;
    assert_eq!(list["products"]["303"]["price"], "5.00");
    assert!(
        list["ostpls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "centos7-64-default")
    );
    let created = api
        .get(&format!(
            "action=create&cid={}&key={}&pid=304",
            api.cid, api.key
        ))
        .await;
    assert_eq!(created["result"], "success");
    let empty = Client::new(&InfernoSim::start(frozen()).await.unwrap())
        .text("orders", &[])
        .await;
    assert_eq!(
        empty, r#"{"result":"success","orders":[]}"#,
        "PHP's empty array"
    );
}
