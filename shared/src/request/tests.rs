//! The parser's rules, field by field.

use super::*;
use secrecy::ExposeSecret;
use serde_json::json;

fn config() -> Config {
    let text = r#"
[redis]
url = "redis://127.0.0.1:6379"
[secrets]
key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
[[accounts]]
name = "hk-nl"
provider = "hostkey"
base_url = "https://invapi.hostkey.com"
api_key = "k"
pin = "1234"
[[accounts]]
name = "klikk"
provider = "klikk"
base_url = "https://klikk.example/api"
token = "t"
"#;
    Config::from_toml(text).unwrap()
}

fn good() -> Value {
    json!({
        "kind": "provision",
        "account": "hk-nl",
        "reference": "whmcs-service-1234",
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": "web-1.example.com",
        "root_password": "S3cure!pass",
        "ssh_keys": ["ssh-ed25519 AAAAC3Nza ops@example.com"],
        "reinstall": {"os_id": 183},
        "callback_url": "https://billing.example.com/hooks/provisioner"
    })
}

fn parse(v: &Value) -> Result<JobRequest, FieldError> {
    let c = config();
    let sealer = c.sealer();
    JobRequest::parse(
        v,
        &ParseContext {
            config: &c,
            sealer: &sealer,
            job_id: "job-1",
        },
    )
}

#[test]
fn the_contract_example_parses_and_seals_the_password() {
    let r = parse(&good()).unwrap();
    assert_eq!(r.provider(), ProviderKind::Hostkey);
    let Work::Hostkey(HostkeyWork::Provision { order: o, .. }) = &r.work else {
        panic!()
    };
    assert_eq!(o.traffic_plan, "25");
    let stored = serde_json::to_string(&r).unwrap();
    assert!(!stored.contains("S3cure"));
    let c = config();
    let pw = c
        .sealer()
        .open(r.root_password.as_ref().unwrap(), "job-1")
        .unwrap();
    assert_eq!(pw.expose_secret(), "S3cure!pass");
}

#[test]
fn every_required_field_is_named_when_missing() {
    for (path, field) in [
        ("kind", "kind"),
        ("account", "account"),
        ("order", "order"),
        ("hostname", "hostname"),
        ("order.preset", "order.preset"),
        ("order.location", "order.location"),
        ("order.os_id", "order.os_id"),
        ("order.traffic_plan", "order.traffic_plan"),
        ("order.deploy_period", "order.deploy_period"),
    ] {
        let mut v = good();
        match path.split_once('.') {
            Some((a, b)) => {
                v[a].as_object_mut().unwrap().remove(b);
            }
            None => {
                v.as_object_mut().unwrap().remove(path);
            }
        }
        let e = parse(&v).unwrap_err();
        assert_eq!(e.field, field, "removing {path}: {e}");
    }
}

#[test]
fn wrong_types_and_values_are_named() {
    let mut v = good();
    v["order"]["os_id"] = json!("180");
    assert_eq!(parse(&v).unwrap_err().field, "order.os_id");
    let mut v = good();
    v["hostname"] = json!("bad_host!");
    assert_eq!(parse(&v).unwrap_err().field, "hostname");
    let mut v = good();
    v["account"] = json!("nope");
    assert_eq!(parse(&v).unwrap_err().field, "account");
    let mut v = good();
    v["root_password"] = json!("short");
    assert_eq!(parse(&v).unwrap_err().field, "root_password");
    let mut v = good();
    v["ssh_keys"] = json!(["not a key"]);
    assert_eq!(parse(&v).unwrap_err().field, "ssh_keys[0]");
    let mut v = good();
    v["callback_url"] = json!("https://127.0.0.1/x");
    assert_eq!(parse(&v).unwrap_err().field, "callback_url");
    let mut v = good();
    v["order"]["colour"] = json!("red");
    assert_eq!(parse(&v).unwrap_err().field, "order.colour");
}

#[test]
fn a_root_password_is_optional_and_taken_at_every_provider() {
    let mut v = good();
    v.as_object_mut().unwrap().remove("root_password");
    assert!(parse(&v).unwrap().root_password.is_none());
    let klikk = json!({
        "kind": "provision", "account": "klikk", "hostname": "k1.example.com",
        "root_password": "S3cure!pass",
        "order": {"ram_gb": 0.5, "cpu": 1, "storage_gb": 25, "os": "Debian", "ip_allow": "192.168.0.0/24"}
    });
    assert!(parse(&klikk).unwrap().root_password.is_some());
    let reinstall = json!({
        "kind": "reinstall", "account": "hk-nl", "server_id": "40514",
        "hostname": "web-1.example.com", "reinstall": {"os_id": 183}
    });
    assert!(parse(&reinstall).unwrap().root_password.is_none());
    let mut weak = klikk.clone();
    weak["root_password"] = json!("password");
    assert_eq!(parse(&weak).unwrap_err().field, "root_password");
}

#[test]
fn a_member_with_an_empty_name_is_named_by_its_object() {
    let mut v = good();
    v[""] = json!(1);
    let e = parse(&v).unwrap_err();
    assert_eq!((e.field.as_str(), e.status), ("body", 422), "{e}");
    assert!(e.message.contains("empty name"), "{e}");
    let mut v = good();
    v["order"][""] = json!(1);
    let e = parse(&v).unwrap_err();
    assert_eq!(e.field, "order", "{e}");
    assert!(e.message.contains("empty name"), "{e}");
}

#[test]
fn klikk_takes_os_by_name_or_id_and_refuses_reinstall() {
    let mut v = json!({
        "kind": "provision", "account": "klikk", "hostname": "k1.example.com",
        "order": {"ram_gb": 0.5, "cpu": 1, "storage_gb": 25, "os": "Debian", "os_version": "10.4", "ip_allow": "192.168.0.0/24"}
    });
    assert!(matches!(
        parse(&v).unwrap().work,
        Work::Klikk(KlikkWork::Provision {
            order: KlikkOrder {
                os: KlikkOs::Name(_),
                ..
            },
            ..
        })
    ));
    v["order"]["os"] = json!(2);
    assert!(matches!(
        parse(&v).unwrap().work,
        Work::Klikk(KlikkWork::Provision {
            order: KlikkOrder {
                os: KlikkOs::Id(2),
                ..
            },
            ..
        })
    ));
    let r = json!({"kind": "reinstall", "account": "klikk", "server_id": "7"});
    let e = parse(&r).unwrap_err();
    assert_eq!(e.field, "kind");
    assert!(e.message.contains("no reinstall"));
}

#[test]
fn outbound_urls_must_point_at_public_hosts() {
    let mut v = json!({
        "kind": "provision", "account": "klikk", "hostname": "k1.example.com",
        "order": {"ram_gb": 1, "cpu": 1, "storage_gb": 25, "os": "Debian", "ip_allow": "192.168.0.0/24",
                  "cloud_init_url": "https://[64:ff9b::a9fe:a9fe]/latest/user-data"}
    });
    let e = parse(&v).unwrap_err();
    assert_eq!(e.field, "order.cloud_init_url");
    assert!(e.message.contains("NAT64"), "{}", e.message);
    v["order"]["cloud_init_url"] = json!("https://example.com/cloud-init?id=3987438");
    assert!(parse(&v).is_ok());
    for (url, says) in [
        ("https://0x7f.1/x", "127.0.0.1 is loopback"),
        ("https://[::127.0.0.1]/x", "IPv4-compatible"),
        ("https://localhost./x", "single-label"),
        ("https://example.com@127.0.0.1/x", "credentials"),
        ("file:///etc/passwd", "https://"),
    ] {
        let e = check_outbound_url(url, false, "callback_url").unwrap_err();
        assert_eq!(e.field, "callback_url");
        assert!(e.message.contains(says), "{url}: {}", e.message);
    }
    // allowed where the config says so (tests, the sandbox)
    assert!(check_outbound_url("http://127.0.0.1:9/x", true, "callback_url").is_ok());
}

#[test]
fn the_newtypes_name_the_field_of_a_bad_value() {
    let h = Hostname::parse("Web-1.Example.COM.", "hostname").unwrap();
    assert_eq!(h.as_str(), "web-1.example.com");
    for bad in ["", "-web", "web_1", "a..b", &"a".repeat(64)] {
        let e = Hostname::parse(bad, "hostname").unwrap_err();
        assert_eq!(e.field, "hostname", "{bad:?}: {e}");
    }
    assert_eq!(
        ServerId::parse(" 40514 ", "server_id").unwrap().as_str(),
        "40514"
    );
    for bad in ["", "a b", "tab\tid", &"9".repeat(65)] {
        let e = ServerId::parse(bad, "server_id").unwrap_err();
        assert_eq!(e.field, "server_id", "{bad:?}: {e}");
        assert!(e.message.contains("1 to 64 characters"), "{e}");
    }
    assert!(ServerId::parse("123", "server_id").unwrap().is_numeric());
    assert!(!ServerId::parse("12a", "server_id").unwrap().is_numeric());
    let u = CallbackUrl::parse("https://billing.example.com/x", false, "callback_url").unwrap();
    assert_eq!(u.as_str(), "https://billing.example.com/x");
    for bad in [
        "https://10.0.0.1/x",
        "http://billing.example.com/x",
        "not a url",
    ] {
        let e = CallbackUrl::parse(bad, false, "callback_url").unwrap_err();
        assert_eq!(e.field, "callback_url", "{bad}: {e}");
    }
}

#[test]
fn each_kind_parses_to_its_own_work_with_what_it_needs() {
    let r = parse(&good()).unwrap();
    assert_eq!(
        (r.kind(), r.provider()),
        (JobKind::Provision, ProviderKind::Hostkey)
    );
    assert_eq!(
        r.hostname().map(Hostname::as_str),
        Some("web-1.example.com")
    );
    assert_eq!(r.server_id(), None);
    assert!(matches!(
        r.work,
        Work::Hostkey(HostkeyWork::Provision {
            reinstall_os: Some(183),
            ..
        })
    ));

    let reinstall = json!({
        "kind": "reinstall", "account": "hk-nl", "server_id": 40514,
        "hostname": "web-1.example.com", "reinstall": {"os_id": 183}
    });
    let r = parse(&reinstall).unwrap();
    assert_eq!(r.kind(), JobKind::Reinstall);
    assert_eq!(r.server_id().map(ServerId::as_str), Some("40514"));
    let Work::Hostkey(HostkeyWork::Reinstall {
        hostname, os_id, ..
    }) = &r.work
    else {
        panic!("{:?}", r.work)
    };
    assert_eq!((hostname.as_str(), *os_id), ("web-1.example.com", 183));

    let deprovision = json!({"kind": "deprovision", "account": "klikk", "server_id": "s-7"});
    let r = parse(&deprovision).unwrap();
    assert_eq!(
        (r.kind(), r.provider()),
        (JobKind::Deprovision, ProviderKind::Klikk)
    );
    let Work::Klikk(KlikkWork::Deprovision(d)) = &r.work else {
        panic!("{:?}", r.work)
    };
    assert_eq!((d.server_id.as_str(), d.hostname.as_ref()), ("s-7", None));
}

#[test]
fn a_field_a_kind_needs_or_refuses_is_named() {
    let cases = [
        (
            json!({"kind": "reinstall", "account": "hk-nl", "server_id": "1", "reinstall": {"os_id": 1}}),
            "hostname",
            "is required for a reinstall at hostkey",
        ),
        (
            json!({"kind": "reinstall", "account": "hk-nl", "hostname": "a.example", "reinstall": {"os_id": 1}}),
            "server_id",
            "is required for a reinstall",
        ),
        (
            json!({"kind": "reinstall", "account": "hk-nl", "server_id": "1", "hostname": "a.example"}),
            "reinstall",
            "is required for a reinstall",
        ),
        (
            json!({"kind": "deprovision", "account": "hk-nl"}),
            "server_id",
            "is required for a deprovision",
        ),
        (
            json!({"kind": "deprovision", "account": "hk-nl", "server_id": "1", "root_password": "S3cure!pass"}),
            "root_password",
            "is not allowed for a deprovision",
        ),
        (
            json!({"kind": "provision", "account": "klikk", "hostname": "k.example", "server_id": "1",
                   "order": {"ram_gb": 1, "cpu": 1, "storage_gb": 25, "os": "Debian", "ip_allow": "x"}}),
            "server_id",
            "is not allowed for a provision",
        ),
        (
            json!({"kind": "provision", "account": "klikk",
                   "order": {"ram_gb": 1, "cpu": 1, "storage_gb": 25, "os": "Debian", "ip_allow": "x"}}),
            "hostname",
            "is required for a provision",
        ),
    ];
    for (body, field, says) in cases {
        let e = parse(&body).unwrap_err();
        assert_eq!(e.field, field, "{body}: {e}");
        assert!(e.message.contains(says), "{body}: {e}");
        assert_eq!(e.status, 422);
    }
}

/// Requests as the store holds them today (the `req` of a job), one per kind and
/// shape: each decodes into the typed form and encodes back to the same bytes.
#[test]
fn stored_requests_of_today_decode_and_encode_back_identically() {
    let stored = [
        r#"{"kind":"provision","account":"hk-nl","provider":"hostkey","reference":"whmcs-service-1234","hostname":"web-1.example.com","order":{"provider":"hostkey","preset":"vm.pico","location":"NL","os_id":180,"traffic_plan":"25","deploy_period":"monthly"},"reinstall":{"provider":"hostkey","os_id":183},"root_password":"xc1:AAAA","ssh_keys":["ssh-ed25519 AAAAC3Nza ops@example.com"],"callback_url":"https://billing.example.com/hooks/provisioner"}"#,
        r#"{"kind":"reinstall","account":"hk-nl","provider":"hostkey","hostname":"web-1.example.com","server_id":"40514","reinstall":{"provider":"hostkey","os_id":183}}"#,
        r#"{"kind":"deprovision","account":"hk-nl","provider":"hostkey","server_id":"40514"}"#,
        r#"{"kind":"provision","account":"klikk","provider":"klikk","hostname":"k1.example.com","order":{"provider":"klikk","product":"VPS","ram_gb":0.5,"cpu":1,"storage_gb":25,"os":"Debian","ip_allow":"192.168.0.0/24","os_version":"10.4"}}"#,
        r#"{"kind":"deprovision","account":"klikk","provider":"klikk","hostname":"k1.example.com","server_id":"s-7","ssh_keys":["ssh-ed25519 AAAA k"],"post_install_script":"xc1:BBBB"}"#,
        r#"{"kind":"provision","account":"inf","provider":"inferno","hostname":"i.example.com","order":{"provider":"inferno","product_id":12,"os_template":"debian-12"}}"#,
        r#"{"kind":"reinstall","account":"inf","provider":"inferno","server_id":"7300","reinstall":{"provider":"inferno","os_template":"debian-12"},"root_password":"xc1:CCCC"}"#,
        r#"{"kind":"provision","account":"idc","provider":"idcloudhost","hostname":"v.example.com","order":{"provider":"idcloudhost","os_name":"ubuntu","os_version":"22.04","vcpu":1,"ram_mb":1024,"disk_gb":20,"cloud_init":{"packages":["nginx"]}}}"#,
        r#"{"kind":"reinstall","account":"idc","provider":"idcloudhost","hostname":"v.example.com","server_id":"jkt02/6f1c","reinstall":{"provider":"idcloudhost","os_name":"ubuntu","os_version":"24.04"}}"#,
        r#"{"kind":"provision","account":"noop","provider":"noop","order":{"provider":"noop","steps":3,"wait_ms":50}}"#,
        r#"{"kind":"reinstall","account":"noop","provider":"noop","server_id":"n1"}"#,
    ];
    for text in stored {
        let typed: JobRequest =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(serde_json::to_string(&typed).unwrap(), text);
        let wire: StoredRequest = serde_json::from_str(text).unwrap();
        assert_eq!(JobRequest::try_from(wire).unwrap(), typed);
    }
    // What the parser makes is stored in that same form.
    let r = parse(&good()).unwrap();
    let text = serde_json::to_string(&r).unwrap();
    assert!(text.starts_with(r#"{"kind":"provision","account":"hk-nl","provider":"hostkey","reference":"whmcs-service-1234","hostname":"web-1.example.com","order":{"provider":"hostkey","#), "{text}");
    assert_eq!(serde_json::from_str::<JobRequest>(&text).unwrap(), r);
}

#[test]
fn a_stored_request_that_breaks_a_kinds_rule_does_not_decode() {
    for (text, field) in [
        (
            r#"{"kind":"provision","account":"a","provider":"hostkey","hostname":"h"}"#,
            "order",
        ),
        (
            r#"{"kind":"deprovision","account":"a","provider":"klikk"}"#,
            "server_id",
        ),
        (
            r#"{"kind":"provision","account":"a","provider":"klikk","hostname":"h","order":{"provider":"inferno","product_id":1,"os_template":"t"}}"#,
            "order",
        ),
        (
            r#"{"kind":"reinstall","account":"a","provider":"inferno","server_id":"1","reinstall":{"provider":"hostkey","os_id":1}}"#,
            "reinstall",
        ),
    ] {
        let wire: StoredRequest = serde_json::from_str(text).unwrap();
        assert_eq!(
            JobRequest::try_from(wire).unwrap_err().field,
            field,
            "{text}"
        );
        let e = serde_json::from_str::<JobRequest>(text).unwrap_err();
        assert!(e.to_string().starts_with(field), "{text}: {e}");
    }
}
