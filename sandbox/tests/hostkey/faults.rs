//! Fault knobs over `/_sandbox/faults`, and what they do to requests.

use std::time::Duration;

use provisioner_sandbox::hostkey::{HostkeyEvent, HostkeySim};
use provisioner_sandbox::sim::{FaultKnobs, Hang, RateLimit};
use serde_json::{Value, json};

use crate::support::{Invapi, ROOT_PASS, frozen};

#[tokio::test]
async fn faults_are_set_over_http_and_apply_then_500_still_orders() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    let http = reqwest::Client::new();
    let faults = format!("{}/_sandbox/faults", sim.base_url());
    let set = http
        .post(&faults)
        .json(&json!({"actions": {"eq/order_instance": {"apply_then_500": 1}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let (status, _) = api
        .raw(
            "eq",
            &[
                ("action", "order_instance"),
                ("token", &api.token),
                ("deploy_period", "monthly"),
                ("deploy_notify", "false"),
                ("pin", "1234"),
                ("preset", "vm.mini"),
                ("location_name", "NL"),
                ("os_id", "187"),
                ("traffic_plan", "25"),
                ("root_pass", ROOT_PASS),
                ("hostname", "lost-answer"),
            ],
        )
        .await;
    assert_eq!(status, 500);
    assert_eq!(
        sim.servers().len(),
        1,
        "applied although the answer was a 500"
    );
    let ledger: Value = http
        .get(format!("{}/_sandbox/ledger", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger["entries"][0]["event"]["type"], "order");
    assert_eq!(ledger["entries"][0]["event"]["hostname"], "lost-answer");

    let knobs: Value = http
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(knobs["actions"]["eq/order_instance"]["apply_then_500"], 0);

    http.post(&faults)
        .json(&json!({"global": {"rate_limit": {"next": 1, "retry_after_secs": 3}}}))
        .send()
        .await
        .unwrap();
    let limited = http
        .post(format!("{}/eq.php", sim.base_url()))
        .form(&[("action", "list"), ("token", &api.token)])
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "3");

    http.post(&faults)
        .json(&json!({"global": {"error_rate": 1.0}}))
        .send()
        .await
        .unwrap();
    let (status, _) = api
        .raw("eq", &[("action", "list"), ("token", &api.token)])
        .await;
    assert_eq!(status, 500);
    http.post(&faults).json(&json!({})).send().await.unwrap();
    assert_eq!(
        api.authed("eq", &[("action", "list")]).await["result"],
        "OK"
    );
    assert_eq!(sim.requests("eq/list"), 3);
    let bad = http
        .post(&faults)
        .json(&json!({"global": {"error_rate": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_hanging_answer_is_applied_and_released_at_shutdown() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    let id = api.delivered_server(&sim, "hang-1").await.to_string();
    sim.faults()
        .set_action(
            "eq/reboot",
            FaultKnobs {
                hang: Some(Hang {
                    ms: 600_000,
                    calls: Some(1),
                    rate: None,
                }),
                ..FaultKnobs::default()
            },
        )
        .unwrap();
    let pin = sim.pin();
    let timed_out = api
        .http
        .post(format!("{}/eq.php", sim.base_url()))
        .form(&[
            ("action", "reboot"),
            ("token", api.token.as_str()),
            ("id", id.as_str()),
            ("pin", pin.as_str()),
        ])
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(timed_out.is_err(), "the answer is held");
    assert_eq!(
        sim.ledger()
            .count(|e| matches!(e, HostkeyEvent::Reboot { .. })),
        1,
        "the reboot was applied"
    );
    // A second reboot answers normally: the hang was for one call.
    let again = api
        .authed("eq", &[("action", "reboot"), ("id", &id), ("pin", &pin)])
        .await;
    assert_eq!(again["result"], "OK");
    tokio::time::timeout(Duration::from_secs(10), sim.shutdown())
        .await
        .expect("shutdown is not held up by the hanging request");
}

#[tokio::test]
async fn slow_answers_wait_first() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    sim.faults()
        .set_global(FaultKnobs {
            slow_ms: 150,
            ..FaultKnobs::default()
        })
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        api.authed("eq", &[("action", "list")]).await["result"],
        "OK"
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_reset_closes_the_connection_without_an_answer_before_or_after_applying() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    let id = api.delivered_server(&sim, "reset-1").await.to_string();
    let pin = sim.pin();
    let reboot = || {
        api.http
            .post(format!("{}/eq.php", sim.base_url()))
            .form(&[
                ("action", "reboot"),
                ("token", api.token.as_str()),
                ("id", id.as_str()),
                ("pin", pin.as_str()),
            ])
            .send()
    };
    let reboots = || {
        sim.ledger()
            .count(|e| matches!(e, HostkeyEvent::Reboot { .. }))
    };
    let subject = format!("id={id}");

    sim.faults()
        .set_action(
            "eq/reboot",
            FaultKnobs {
                reset_rate: 1.0,
                ..FaultKnobs::default()
            },
        )
        .unwrap();
    let refused = reboot().await;
    assert!(refused.is_err(), "no answer at all: {refused:?}");
    assert_eq!(reboots(), 0, "closed before applying");
    assert_eq!(sim.calls("eq/reboot", &subject), 0);

    sim.faults()
        .set_action(
            "eq/reboot",
            FaultKnobs {
                apply_then_reset_rate: 1.0,
                ..FaultKnobs::default()
            },
        )
        .unwrap();
    let lost = reboot().await;
    assert!(lost.is_err(), "no answer at all: {lost:?}");
    assert_eq!(reboots(), 1, "applied, then closed");
    assert_eq!(sim.calls("eq/reboot", &subject), 1);

    // the simulator serves on, over a fresh connection
    sim.faults().clear();
    assert_eq!(reboot().await.unwrap().status(), 200);
    assert_eq!(sim.calls("eq/reboot", &subject), 2);
    assert_eq!(sim.requests("eq/reboot"), 3);
}

#[tokio::test]
async fn a_malformed_answer_is_applied_and_cut_short_with_http_200() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    sim.faults()
        .set_action(
            "eq/order_instance",
            FaultKnobs {
                malformed_rate: 1.0,
                ..FaultKnobs::default()
            },
        )
        .unwrap();
    let pin = sim.pin();
    let (status, body) = api
        .raw(
            "eq",
            &[
                ("action", "order_instance"),
                ("token", &api.token),
                ("deploy_period", "monthly"),
                ("deploy_notify", "false"),
                ("pin", pin.as_str()),
                ("preset", "vm.mini"),
                ("location_name", "NL"),
                ("os_id", "187"),
                ("traffic_plan", "25"),
                ("root_pass", ROOT_PASS),
                ("hostname", "garbled"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "not JSON: {body}"
    );
    assert_eq!(sim.servers().len(), 1, "applied although garbled");
    assert_eq!(sim.calls("eq/order_instance", "hostname=garbled"), 1);
    let calls: Value = api
        .http
        .get(format!("{}/_sandbox/calls", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        calls["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["action"] == "eq/order_instance"
                && c["subject"] == "hostname=garbled"
                && c["calls"] == 1),
        "{calls}"
    );
}

#[tokio::test]
async fn calls_inside_a_retry_after_are_counted() {
    let sim = HostkeySim::start(frozen()).await.unwrap();
    let api = Invapi::login(&sim).await;
    sim.faults()
        .set_global(FaultKnobs {
            rate_limit: Some(RateLimit {
                next: 1,
                retry_after_secs: 30,
                ..RateLimit::default()
            }),
            ..FaultKnobs::default()
        })
        .unwrap();
    let (status, _) = api
        .raw("eq", &[("action", "list"), ("token", &api.token)])
        .await;
    assert_eq!(status, 429);
    assert!(sim.faults().early_calls().is_empty());
    let (status, _) = api
        .raw("eq", &[("action", "list"), ("token", &api.token)])
        .await;
    assert_eq!(status, 200, "the knob refused only one");
    let early = sim.faults().early_calls();
    assert_eq!(early.len(), 1, "{early:?}");
    assert_eq!(early[0].action, "eq/list");
    assert_eq!(early[0].retry_after_ms, 30_000);
    let answer: Value = api
        .http
        .get(format!("{}/_sandbox/early_calls", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["too_many_sent"], 1);
    assert_eq!(answer["early_calls"][0]["action"], "eq/list");
}
