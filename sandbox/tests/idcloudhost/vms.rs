//! VMs: create, boot, list per location, reinstall, stop/start, delete; refusals.

use provisioner_sandbox::idcloudhost::{IdcloudhostEvent, IdcloudhostSim, VmStatus, actions};
use provisioner_sandbox::sim::FaultKnobs;
use reqwest::Method;
use serde_json::Value;

use crate::support::{Api, MINUTE, PASSWORD, at, frozen};

#[tokio::test]
async fn a_vm_starts_then_runs_with_its_addresses() {
    let sim = IdcloudhostSim::start(frozen()).await.unwrap();
    let api = Api::new(&sim);
    let vm = api.create(None, "web-1-example-com", &[]).await;
    assert_eq!(vm["status"], "starting", "{vm}");
    assert_eq!(vm["description"], "job-1");
    assert_eq!(vm["billing_account"], 6);
    let uuid = vm["uuid"].as_str().unwrap().to_owned();
    let ipv4 = vm["public_ipv4"].as_str().unwrap().to_owned();

    let got = api
        .ok(Method::GET, "user-resource/vm", &[("uuid", &uuid)])
        .await;
    assert_eq!(got["status"], "starting");
    sim.clock().advance(2 * MINUTE);
    let got = api
        .ok(Method::GET, "user-resource/vm", &[("uuid", &uuid)])
        .await;
    assert_eq!(got["status"], "running");
    assert_eq!(got["public_ipv4"], ipv4.as_str());

    // GAPS: the floating-IP list by vm_uuid shows the address too.
    let ips = api
        .ok(Method::GET, "network/ip_addresses", &[("vm_uuid", &uuid)])
        .await;
    assert_eq!(ips.as_array().unwrap().len(), 1, "{ips}");
    assert_eq!(ips[0]["address"], ipv4.as_str());
    assert_eq!(ips[0]["assigned_to"], uuid.as_str());

    let snapshot = sim.vm(&uuid).unwrap();
    assert_eq!(snapshot.status, VmStatus::Running);
    assert_eq!(snapshot.location, "cyc01", "no slug: the default location");
    assert_eq!(
        sim.ledger().events(),
        [IdcloudhostEvent::VmCreated {
            uuid,
            name: "web-1-example-com".into(),
            description: "job-1".into(),
            location: "cyc01".into(),
        }]
    );
}

#[tokio::test]
async fn vms_live_in_the_location_of_their_slug() {
    let sim = IdcloudhostSim::start(frozen()).await.unwrap();
    let api = Api::new(&sim);
    let here = api.create(Some("bus02"), "in-busburg", &[]).await;
    api.create(Some("cyc01"), "in-cycletown", &[]).await;
    let uuid = here["uuid"].as_str().unwrap();

    let busburg = api
        .ok(
            Method::GET,
            &at(Some("bus02"), "user-resource/vm/list"),
            &[],
        )
        .await;
    let names: Vec<&str> = busburg
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["in-busburg"]);
    let default = api.ok(Method::GET, "user-resource/vm/list", &[]).await;
    assert_eq!(default[0]["name"], "in-cycletown");

    let (status, body) = api
        .send(Method::GET, "user-resource/vm", &[("uuid", uuid)])
        .await;
    assert_eq!(status, 404, "not in the default location: {body}");
    assert_eq!(
        body["errors"]["Error"],
        format!("No such virtual machine exists. {uuid}")
    );
    let (status, body) = api
        .send(Method::GET, "nowhere9/user-resource/vm/list", &[])
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = api
        .send(
            Method::GET,
            "bus02/payment/invoice/list",
            &[("billing_account_id", "6")],
        )
        .await;
    assert_eq!(status, 404, "payment routes take no slug");
    let locations = api.ok(Method::GET, "config/locations", &[]).await;
    assert_eq!(locations[0]["slug"], "cyc01");
    assert_eq!(locations[0]["is_default"], true);
}

#[tokio::test]
async fn reinstall_boots_again_and_delete_removes_the_vm() {
    let sim = IdcloudhostSim::start(frozen()).await.unwrap();
    let api = Api::new(&sim);
    let vm = api.create(None, "reinstall-me", &[]).await;
    let uuid = vm["uuid"].as_str().unwrap().to_owned();
    sim.clock().advance(2 * MINUTE);

    let again = api
        .ok(
            Method::POST,
            "user-resource/vm/reinstall",
            &[
                ("uuid", &uuid),
                ("os_name", "debian"),
                ("os_version", "9.1"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again["status"], "starting");
    assert_eq!(again["os_name"], "debian");
    sim.clock().advance(2 * MINUTE);
    assert_eq!(sim.vm(&uuid).unwrap().status, VmStatus::Running);

    let stopped = api
        .ok(Method::POST, "user-resource/vm/stop", &[("uuid", &uuid)])
        .await;
    assert_eq!(stopped["status"], "stopped");
    let started = api
        .ok(Method::POST, "user-resource/vm/start", &[("uuid", &uuid)])
        .await;
    assert_eq!(started["status"], "starting");

    let deleted = api
        .ok(Method::DELETE, "user-resource/vm", &[("uuid", &uuid)])
        .await;
    assert_eq!(deleted, serde_json::json!({"success": true}));
    let (status, _) = api
        .send(Method::DELETE, "user-resource/vm", &[("uuid", &uuid)])
        .await;
    assert_eq!(status, 404, "GAPS: an unknown VM is a 404");
    assert!(sim.vm(&uuid).is_none());
    let kinds: Vec<&str> = sim
        .ledger()
        .events()
        .iter()
        .map(|e| match e {
            IdcloudhostEvent::VmCreated { .. } => "created",
            IdcloudhostEvent::Reinstall { .. } => "reinstall",
            IdcloudhostEvent::Deleted { .. } => "deleted",
            IdcloudhostEvent::Payment { .. } => "payment",
        })
        .collect();
    assert_eq!(kinds, ["created", "reinstall", "deleted"]);
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_every_field() {
    let sim = IdcloudhostSim::start(frozen()).await.unwrap();
    let api = Api::new(&sim);
    let (status, body) = api
        .send(
            Method::POST,
            "user-resource/vm",
            &[
                ("name", "web.example.com"),
                ("os_name", "ubuntu"),
                ("os_version", "99"),
                ("disks", "5"),
                ("vcpu", "2"),
                ("ram", "2048"),
                ("username", "example"),
                ("password", "weak"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    let errors = body["errors"].as_object().unwrap();
    let mut fields: Vec<&str> = errors.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        ["disks", "name", "os_version", "password"],
        "{body}"
    );
    assert!(sim.vms().is_empty(), "nothing created");

    let (status, body) = api.send(Method::GET, "user-resource/vm", &[]).await;
    assert_eq!(status, 400);
    assert!(body["errors"]["uuid"].is_string(), "{body}");
}

#[tokio::test]
async fn the_api_key_is_checked_and_faults_apply() {
    let sim = IdcloudhostSim::start(frozen()).await.unwrap();
    let mut api = Api::new(&sim);
    api.key = "wrong".into();
    let (status, body) = api.send(Method::GET, "user-resource/vm/list", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Invalid authentication credentials");

    let api = Api::new(&sim);
    sim.faults()
        .set_action(
            actions::CREATE_VM,
            FaultKnobs {
                apply_then_500: 1,
                ..FaultKnobs::default()
            },
        )
        .unwrap();
    let response = api
        .http
        .post(format!("{}/v1/user-resource/vm", api.base))
        .header("apikey", &api.key)
        .form(&[
            ("name", "lost-answer"),
            ("os_name", "ubuntu"),
            ("os_version", "16.04"),
            ("disks", "20"),
            ("vcpu", "1"),
            ("ram", "1024"),
            ("username", "root"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(sim.vms().len(), 1, "applied although the answer was a 500");
    assert_eq!(sim.requests(actions::CREATE_VM), 1);
    let listed: Value = api.ok(Method::GET, "user-resource/vm/list", &[]).await;
    assert_eq!(listed[0]["name"], "lost-answer");
}
