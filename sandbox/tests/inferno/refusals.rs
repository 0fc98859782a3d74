//! What the simulator refuses, in the words GAPS.md and the seed give it; and a fault.

use provisioner_sandbox::inferno::{InfernoEvent, InfernoSim};
use provisioner_sandbox::sim::FaultKnobs;

use crate::support::{Client, frozen};

const NOT_PENDING: &str = "Order ID not found or Status not Pending";

#[tokio::test]
async fn only_pending_orders_can_be_cancelled() {
    let sim = InfernoSim::start(frozen()).await.unwrap();
    let api = Client::new(&sim);
    let pending = api.create().await;
    let paid = api.create().await;
    assert!(sim.mark_paid(paid.parse().unwrap()));

    assert_eq!(
        api.call("cancel", &[("orderid", &pending)]).await,
        serde_json::json!({"result": "success"})
    );
    assert_eq!(
        api.status_of(&pending).await,
        None,
        "a cancelled order is no longer listed"
    );
    for order in [pending.as_str(), paid.as_str(), "1"] {
        assert_eq!(
            api.call("cancel", &[("orderid", order)]).await,
            serde_json::json!({"result": "fail", "message": NOT_PENDING})
        );
    }
    assert_eq!(
        sim.ledger()
            .count(|e| matches!(e, InfernoEvent::Cancel { .. })),
        1
    );
}

#[tokio::test]
async fn ssh_keys_come_in_a_post_body_once_each() {
    let sim = InfernoSim::start(frozen()).await.unwrap();
    let api = Client::new(&sim);
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5+/= ops@example.com";
    let in_query = api
        .get(&format!(
            "action=sshkey.add&cid={}&key={}&sshkey=ssh-ed25519%20AAAA",
            api.cid, api.key
        ))
        .await;
    assert_eq!(in_query["result"], "fail", "{in_query}");
    let added = api.call("sshkey.add", &[("sshkey", key)]).await;
    assert_eq!(added, serde_json::json!({"result": "success", "id": 7}));
    let again = api
        .call(
            "sshkey.add",
            &[("sshkey", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5+/= other")],
        )
        .await;
    assert_eq!(again["message"], "SSH key already exists");
    let listed = api.call("sshkey.list", &[]).await;
    assert_eq!(
        listed,
        serde_json::json!({"result": "success", "keys": [{"id": "7", "sshkey": key}]})
    );
    let bad = api.call("sshkey.add", &[("sshkey", "not a key")]).await;
    assert_eq!(bad["result"], "fail");

    let order = api.create().await;
    sim.mark_paid(order.parse().unwrap());
    let unknown_key = api
        .text(
            "install",
            &[
                ("orderid", &order),
                ("ostpl", "centos7-64-default"),
                ("sshkey_ids", "7,99"),
                ("run", "0"),
            ],
        )
        .await;
    assert!(unknown_key.contains("[error_code] => 905"), "{unknown_key}");
    let known = api
        .text(
            "install",
            &[
                ("orderid", &order),
                ("ostpl", "centos7-64-default"),
                ("sshkey_ids", "7"),
                ("run", "1"),
            ],
        )
        .await;
    assert!(known.contains("[result] => success"), "{known}");
    assert_eq!(
        sim.order(order.parse().unwrap())
            .unwrap()
            .vps
            .unwrap()
            .ssh_key_ids,
        [7]
    );
}

#[tokio::test]
async fn install_refusals_carry_their_codes() {
    let sim = InfernoSim::start(frozen()).await.unwrap();
    let api = Client::new(&sim);
    let order = api.create().await;
    sim.mark_paid(order.parse().unwrap());
    for (template, run, code) in [
        ("windows-95", "0", "903"),
        ("centos7-64-default", "2", "906"),
    ] {
        let answer = api.install(&order, template, run).await;
        assert!(
            answer.starts_with("Array\n(\n") && answer.contains(&format!("[error_code] => {code}")),
            "{answer}"
        );
    }
    let missing = api.install("123", "centos7-64-default", "0").await;
    assert!(missing.contains("[error_code] => 901"), "{missing}");
    let getinfo = api.call("getinfo", &[("orderid", "123")]).await;
    assert_eq!(getinfo["result"], "fail");
}

#[tokio::test]
async fn wrong_credentials_and_unknown_actions_fail_in_the_gaps_shape() {
    let sim = InfernoSim::start(frozen()).await.unwrap();
    let mut api = Client::new(&sim);
    let unknown = api.call("destroy_everything", &[]).await;
    assert_eq!(unknown["result"], "fail");
    api.key = "wrong".into();
    let refused = api.call("orders", &[]).await;
    assert_eq!(
        refused,
        serde_json::json!({"result": "fail", "message": "Authorization error: wrong cid or key"})
    );
    assert!(sim.ledger().is_empty());
}

#[tokio::test]
async fn an_order_answered_with_a_500_was_placed_all_the_same() {
    let sim = InfernoSim::start(frozen()).await.unwrap();
    sim.faults()
        .set_action(
            "create",
            FaultKnobs {
                apply_then_500: 1,
                ..Default::default()
            },
        )
        .unwrap();
    let api = Client::new(&sim);
    let response = api
        .http
        .post(&api.url)
        .form(&[
            ("action", "create"),
            ("cid", &api.cid),
            ("key", &api.key),
            ("pid", "303"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(sim.orders().len(), 1);
    assert_eq!(sim.requests("create"), 1);
}
