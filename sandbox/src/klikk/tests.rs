//! The simulator over real HTTP, on a frozen clock moved by hand: auth, validation,
//! the order lifecycle (payment, provisioning, the server), listing and cancelling.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

async fn sim(auto_pay: bool) -> KlikkSim {
    KlikkSim::start(KlikkOptions {
        time_factor: 0.0,
        auto_pay,
        ..KlikkOptions::default()
    })
    .await
    .unwrap()
}

/// Sends `body` with the account token; returns the status and the body (`Null` when
/// empty).
async fn call(sim: &KlikkSim, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(sim.endpoint())
        .header("X-Account-Token", sim.token())
        .json(&body)
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

/// Seed 000's order request, with its documentation artifacts taken out.
fn seed_000_order(reference: &str) -> Value {
    json!({
        "action": "order_create",
        "items": [{
            "name": "My testserver 1",
            "product": {
                "name": "VPS",
                "options": {
                    "quantity_ram_gb": 0.5,
                    "quantity_cpu": 9,
                    "quantity_storage_gb": 25,
                    "os": "Debian",
                    "os_version": "10.4",
                    "antiaffinity": "7",
                    "firewall_id": "12",
                    "firewall_addme": "1",
                    "features": {
                        "ipv4": 1,
                        "sshd": {
                            "authorized_keys": "ssh-rsa AAAA",
                            "ip_allow": "fec0:aaa:1:2::ff,192.168.0.0/24",
                            "public_ports_allow": "80,443,12000:12010"
                        },
                        "cloud_init_url": "https://example.com/cloud-init?id=3987438"
                    }
                }
            }
        }],
        "reference": reference
    })
}

fn order_id(answer: &Value) -> u64 {
    answer["order_id"].as_u64().expect("an order id")
}

#[tokio::test]
async fn a_paid_order_is_processed_then_completed_with_a_server() {
    let sim = sim(true).await;
    let (status, created) = call(&sim, seed_000_order("job-1")).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], 200);
    assert_eq!(created["message"], "Order is being processed");
    let id = order_id(&created);

    let (_, order) = call(&sim, json!({"action": "order_status", "order_id": id})).await;
    assert_eq!(order["status"], 200);
    let item = &order["order_items"][0];
    assert_eq!(item["name"], "VPS");
    assert_eq!(item["reference"], "My testserver 1");
    let item_id = item["id"].as_u64().unwrap();

    sim.clock().advance(Duration::from_secs(5 * 60));
    let (_, order) = call(&sim, json!({"action": "order_status", "order_id": id})).await;
    assert_eq!(
        (order["status"].as_i64(), order["message"].as_str()),
        (Some(0), Some("Order is fully completed"))
    );
    let (_, listed) = call(
        &sim,
        json!({"action": "server_list", "order_item_id": item_id}),
    )
    .await;
    let server = &listed["servers"][0];
    assert_eq!(server["order_item_id"], item_id);
    assert_eq!(server["name"], "My testserver 1");
    assert_eq!(server["memory"], 512);
    let ipv4 = server["networks"][0]["ipv4"].as_str().unwrap();
    assert_eq!(sim.servers()[0].ipv4.as_deref(), Some(ipv4));
    let events = sim.ledger().events();
    assert!(matches!(events[0], KlikkEvent::Order { order_id, .. } if order_id == id));
    assert!(matches!(events[1], KlikkEvent::Paid { .. }));
    assert!(matches!(events[2], KlikkEvent::ServerCreated { .. }));

    let (_, all) = call(&sim, json!({"action": "server_list", "order_item_id": 0})).await;
    assert_eq!(all["servers"].as_array().unwrap().len(), 1);
    let (_, none) = call(&sim, json!({"action": "server_list", "order_item_id": 1})).await;
    assert_eq!(none["servers"], json!([]));
}

#[tokio::test]
async fn without_credit_an_order_waits_for_payment() {
    let sim = sim(false).await;
    let (_, created) = call(&sim, seed_000_order("job-2")).await;
    assert_eq!(created["status"], 100);
    assert!(
        created["message"]
            .as_str()
            .unwrap()
            .starts_with("Payment required")
    );
    let id = order_id(&created);
    sim.clock().advance(Duration::from_secs(3600));
    assert_eq!(sim.order(id).unwrap().status, 100, "nothing moves unpaid");

    let paid = reqwest::Client::new()
        .post(format!("{}/_sandbox/klikk/pay", sim.base_url()))
        .json(&json!({"order_id": id}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(paid).await;
    assert_eq!((status, body["status"].as_i64()), (200, Some(200)));
    assert!(sim.mark_paid(id), "paying twice changes nothing");
    sim.clock().advance(Duration::from_secs(5 * 60));
    assert_eq!(sim.order(id).unwrap().status, 0);
    assert!(!sim.mark_paid(999), "an unknown order");
}

#[tokio::test]
async fn both_auth_styles_and_refusals() {
    let sim = sim(true).await;
    let client = reqwest::Client::new();
    let list = json!({"action": "order_list"});
    let send = |req: reqwest::RequestBuilder| async move { read(req.send().await.unwrap()).await };
    let (status, body) = send(client.post(sim.endpoint()).json(&list)).await;
    assert_eq!((status, body["status"].as_u64()), (401, Some(401)));
    let (status, body) = send(
        client
            .post(sim.endpoint())
            .header("X-Account-Token", "wrong")
            .json(&list),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Invalid account token"))
    );
    let (status, _) = send(
        client
            .post(sim.endpoint())
            .basic_auth(sim.username(), Some(sim.password()))
            .json(&list),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        client
            .post(sim.endpoint())
            .basic_auth(sim.username(), Some("nope"))
            .json(&list),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(sim.requests("order_list"), 4);
}

#[tokio::test]
async fn orders_are_validated_as_the_seeds_say() {
    let sim = sim(true).await;
    let mut order = seed_000_order("job-3");
    let sshd = &mut order["items"][0]["product"]["options"]["features"]["sshd"];
    sshd.as_object_mut().unwrap().remove("ip_allow");
    let (status, body) = call(&sim, order).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "items[0].product.options.features.sshd.ip_allow is required"
    );

    let mut order = seed_000_order("job-3");
    order["items"][0]["product"]["options"]["os"] = json!("Plan9");
    let (status, body) = call(&sim, order).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Unknown operating system: Plan9"))
    );

    let mut order = seed_000_order("job-3");
    order["items"][0]["product"]
        .as_object_mut()
        .unwrap()
        .remove("options");
    assert_eq!(call(&sim, order).await.0, 400);

    let (status, body) = call(&sim, json!({"action": "reboot"})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Unknown action: reboot"))
    );
    assert!(sim.ledger().is_empty(), "nothing was ordered");
}

#[tokio::test]
async fn an_os_id_as_in_seed_001_and_a_server_without_ipv4() {
    let sim = sim(true).await;
    let mut order = seed_000_order("job-4");
    let options = &mut order["items"][0]["product"]["options"];
    options["os"] = json!(2);
    options.as_object_mut().unwrap().remove("os_version");
    options["features"]["ipv4"] = json!(0);
    let (status, created) = call(&sim, order).await;
    assert_eq!(status, 200, "{created}");
    let snapshot = sim.order(order_id(&created)).unwrap();
    assert_eq!(snapshot.items[0].os, OsChoice::Id(2));
    sim.clock().advance(Duration::from_secs(5 * 60));
    let (_, listed) = call(&sim, json!({"action": "server_list"})).await;
    let network = &listed["servers"][0]["networks"][0];
    assert!(network.get("ipv4").is_none(), "{network}");
    assert!(network["ipv6"].is_string());
}

#[tokio::test]
async fn order_list_is_newest_first_with_references() {
    let sim = sim(true).await;
    let first = order_id(&call(&sim, seed_000_order("job-a")).await.1);
    let second = order_id(&call(&sim, seed_000_order("job-b")).await.1);
    let (_, list) = call(&sim, json!({"action": "order_list"})).await;
    let orders = list["orders"].as_array().unwrap();
    assert_eq!(orders[0]["order_id"], second);
    assert_eq!(orders[0]["reference"], "job-b");
    assert_eq!(orders[1]["order_id"], first);
    assert!(orders[1]["order_items"][0]["id"].is_u64());
}

#[tokio::test]
async fn cancelling_pending_completed_and_unknown_orders() {
    let sim = sim(false).await;
    let pending = order_id(&call(&sim, seed_000_order("job-5")).await.1);
    let (status, body) = call(&sim, json!({"action": "order_cancel", "order_id": pending})).await;
    assert_eq!((status, body), (200, Value::Null), "an empty 200");
    assert_eq!(sim.order(pending).unwrap().status, 900);
    assert!(!sim.mark_paid(pending), "a cancelled order cannot be paid");

    let done = order_id(&call(&sim, seed_000_order("job-6")).await.1);
    assert!(sim.mark_paid(done));
    sim.clock().advance(Duration::from_secs(5 * 60));
    let item = sim.order(done).unwrap().items[0].id;
    let (status, _) = call(
        &sim,
        json!({"action": "order_cancel", "order_id": done, "order_item_id": item}),
    )
    .await;
    assert_eq!(status, 200);
    let after = sim.order(done).unwrap();
    assert_eq!(after.status, 0, "a completed order changes nothing");
    assert!(after.items[0].cancel_requested, "but it is not renewed");
    let cancels: Vec<bool> = sim
        .ledger()
        .events()
        .into_iter()
        .filter_map(|e| match e {
            KlikkEvent::Cancel { changed, .. } => Some(changed),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, [true, false]);

    let (status, body) = call(&sim, json!({"action": "order_cancel", "order_id": 1})).await;
    assert_eq!((status, body["status"].as_u64()), (404, Some(404)));
    let (status, _) = call(
        &sim,
        json!({"action": "order_cancel", "order_id": done, "order_item_id": 5}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = call(&sim, json!({"action": "order_status", "order_id": 1})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Order 1 not found"))
    );
}
