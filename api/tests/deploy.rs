//! The deploy files (`deploy/`) start as shipped: read as YAML, TOML and unit files,
//! they keep the promises that a first `docker compose up` or `kubectl apply` needs —
//! every service gets each variable its config names, health checks use the
//! binaries (no shell, no curl), a stop waits longer than a worker's shutdown grace
//! and step timeout, images carry a pinned tag — and their configs pass the real
//! `provisioner-api check-config` given the environment those files give.

use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file)
}

fn read(file: &str) -> String {
    std::fs::read_to_string(deploy(file)).unwrap_or_else(|e| panic!("deploy/{file}: {e}"))
}

fn yaml_docs(file: &str) -> Vec<Yaml> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(&read(file))
        .map(|d| {
            let mut doc = Yaml::deserialize(d).unwrap_or_else(|e| panic!("deploy/{file}: {e}"));
            // Compose's `<<: *anchor`, as compose reads it.
            doc.apply_merge()
                .unwrap_or_else(|e| panic!("deploy/{file}: {e}"));
            doc
        })
        .filter(|d| !d.is_null())
        .collect()
}

fn duration(text: &str) -> Duration {
    humantime::parse_duration(text.trim()).unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

/// What a config says about stopping a worker (the defaults where it is silent).
struct Stop {
    shutdown_grace: Duration,
    step_timeout: Duration,
}

impl Stop {
    fn of(config: &toml::Table) -> Stop {
        let defaults = provisioner_shared::config::WorkerConfig::default();
        let worker = config.get("worker").and_then(|w| w.as_table());
        let get = |key: &str, default: Duration| {
            worker
                .and_then(|w| w.get(key))
                .and_then(|v| v.as_str())
                .map(duration)
                .unwrap_or(default)
        };
        Stop {
            shutdown_grace: get("shutdown_grace", defaults.shutdown_grace),
            step_timeout: get("step_timeout", defaults.step_timeout),
        }
    }

    /// A stop that waits this long lets an in-flight step finish.
    fn allows(&self, wait: Duration) -> bool {
        wait > self.shutdown_grace && wait > self.step_timeout
    }
}

/// Every `{ env = "NAME" }` in a config: what its process needs in its environment.
fn env_names(config: &toml::Table) -> BTreeSet<String> {
    fn walk(v: &toml::Value, out: &mut BTreeSet<String>) {
        match v {
            toml::Value::Table(t) => {
                if let (Some(toml::Value::String(name)), 1) = (t.get("env"), t.len()) {
                    out.insert(name.clone());
                }
                t.values().for_each(|v| walk(v, out));
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    config.values().for_each(|v| walk(v, &mut out));
    out
}

fn parse_toml(text: &str, what: &str) -> toml::Table {
    text.parse()
        .unwrap_or_else(|e| panic!("{what} is not TOML: {e}"))
}

/// `provisioner-api check-config` on `text`, with `env` (and a sealing key in place
/// of the secret file only the deployment has).
fn check_config(name: &str, text: &str, env: &BTreeSet<String>) {
    let path = std::env::temp_dir().join(format!(
        "provisioner-deploy-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provisioner-api"));
    cmd.arg("check-config").arg(&path);
    for (key, _) in std::env::vars() {
        if key == "REDIS_URL" || key.starts_with("PROVISIONER") {
            cmd.env_remove(key);
        }
    }
    for name in env {
        cmd.env(name, "deploy-test-value");
    }
    cmd.env(
        "PROVISIONER__SECRETS__KEY",
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    );
    let out = cmd.output().expect("the api binary runs");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{name} fails check-config with the deploy's environment:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn strings(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::Sequence(s) => s
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        Yaml::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A pinned image: a tag, and not `latest`.
fn assert_pinned(image: &str, what: &str) {
    let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
    assert!(
        !tag.is_empty() && !tag.contains('/') && tag != "latest",
        "{what}: image `{image}` has no pinned tag"
    );
}

#[test]
fn compose_gives_every_service_what_its_config_needs() {
    let docs = yaml_docs("compose.yaml");
    let compose = &docs[0];
    let config = parse_toml(&read("config.example.toml"), "config.example.toml");
    let needed = env_names(&config);
    assert!(needed.contains("PROVISIONER_API_TOKEN"), "{needed:?}");
    let stop = Stop::of(&config);
    let services = &compose["services"];
    for name in ["api", "worker"] {
        let s = &services[name];
        assert!(s.is_mapping(), "compose has no service {name}");
        let env: BTreeSet<String> = s["environment"]
            .as_mapping()
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for var in &needed {
            assert!(
                env.contains(var),
                "compose: {name} does not get {var}: {env:?}"
            );
        }
        let volumes = strings(&s["volumes"]);
        assert!(
            volumes
                .iter()
                .any(|v| v.starts_with("./config.example.toml:/etc/provisioner/config.toml")),
            "compose: {name} does not mount the shared config: {volumes:?}"
        );
        assert_pinned(s["image"].as_str().unwrap_or(""), name);
        let test = strings(&s["healthcheck"]["test"]).join(" ");
        assert!(
            test.starts_with(&format!("CMD provisioner-{name} healthcheck")),
            "compose: {name}'s health check is not its binary's: `{test}`"
        );
    }
    let grace = duration(
        services["worker"]["stop_grace_period"]
            .as_str()
            .unwrap_or("10s"),
    );
    assert!(
        stop.allows(grace),
        "compose: the worker's stop_grace_period {grace:?} is not above shutdown_grace {:?} and step_timeout {:?}",
        stop.shutdown_grace,
        stop.step_timeout
    );
    let redis = strings(&services["redis"]["command"]).join(" ");
    assert!(
        redis.contains("redis.conf"),
        "redis runs without redis.conf: {redis}"
    );
    assert!(
        read("redis.conf")
            .lines()
            .any(|l| l.trim() == "appendonly yes")
    );
    check_config("compose", &read("config.example.toml"), &needed);
}

#[test]
fn kubernetes_has_secrets_probes_budgets_limits_and_a_long_enough_grace() {
    let docs = yaml_docs("k8s/provisioner.yaml");
    let of_kind =
        |kind: &str| -> Vec<&Yaml> { docs.iter().filter(|d| d["kind"] == kind).collect() };
    let text = of_kind("ConfigMap")[0]["data"]["config.toml"]
        .as_str()
        .expect("the ConfigMap holds config.toml")
        .to_owned();
    let config = parse_toml(&text, "the ConfigMap's config.toml");
    let needed = env_names(&config);
    let stop = Stop::of(&config);
    let secrets: Vec<&Yaml> = of_kind("Secret");
    let secret_keys = |name: &str| -> BTreeSet<String> {
        secrets
            .iter()
            .find(|s| s["metadata"]["name"] == name)
            .and_then(|s| s["stringData"].as_mapping().or(s["data"].as_mapping()))
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_else(|| panic!("k8s: no Secret {name}"))
    };
    let deployments = of_kind("Deployment");
    assert_eq!(deployments.len(), 2);
    let budgets = of_kind("PodDisruptionBudget");
    for d in &deployments {
        let name = d["metadata"]["name"].as_str().unwrap();
        let labels = &d["spec"]["selector"]["matchLabels"];
        assert!(
            budgets
                .iter()
                .any(|b| &b["spec"]["selector"]["matchLabels"] == labels),
            "k8s: no PodDisruptionBudget selects {name}"
        );
        let pod = &d["spec"]["template"]["spec"];
        for c in pod["containers"].as_sequence().unwrap() {
            let what = format!("{name}/{}", c["name"].as_str().unwrap_or(""));
            assert_pinned(c["image"].as_str().unwrap_or(""), &what);
            for probe in ["readinessProbe", "livenessProbe"] {
                assert!(c[probe].is_mapping(), "k8s: {what} has no {probe}");
            }
            for bound in ["requests", "limits"] {
                assert!(
                    c["resources"][bound]["memory"].is_string(),
                    "k8s: {what} has no memory {bound}"
                );
            }
            let mut env = BTreeSet::new();
            for from in c["envFrom"].as_sequence().map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(secret) = from["secretRef"]["name"].as_str() {
                    env.extend(secret_keys(secret));
                }
            }
            for var in &needed {
                assert!(env.contains(var), "k8s: {what} does not get {var}: {env:?}");
            }
        }
        for v in pod["volumes"].as_sequence().unwrap() {
            if let Some(secret) = v["secret"]["secretName"].as_str() {
                secret_keys(secret);
            }
        }
    }
    let worker = deployments
        .iter()
        .find(|d| d["metadata"]["name"] == "provisioner-worker")
        .expect("a worker Deployment");
    let grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(30));
    assert!(
        stop.allows(grace),
        "k8s: the worker's terminationGracePeriodSeconds {grace:?} is not above shutdown_grace {:?} and step_timeout {:?}",
        stop.shutdown_grace,
        stop.step_timeout
    );
    check_config("k8s", &text, &needed);
}

/// `Key=value` lines of a unit's `[Service]` section.
fn unit(file: &str) -> Vec<(String, String)> {
    let text = read(file);
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if section == "[Service]"
            && !line.starts_with('#')
            && let Some((k, v)) = line.split_once('=')
        {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

#[test]
fn systemd_units_restart_on_failure_and_outwait_a_step() {
    let config = parse_toml(&read("config.example.toml"), "config.example.toml");
    let stop = Stop::of(&config);
    for name in ["api", "worker"] {
        let file = format!("systemd/provisioner-{name}.service");
        let keys = unit(&file);
        let get = |k: &str| {
            keys.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("Restart"), Some("on-failure"), "{file}");
        assert!(
            get("EnvironmentFile").is_some(),
            "{file}: no EnvironmentFile for the token"
        );
        assert!(
            get("User").is_some_and(|u| u != "root"),
            "{file}: runs as root"
        );
        assert_eq!(get("NoNewPrivileges"), Some("yes"), "{file}");
        assert!(
            get("ExecStart").is_some_and(|s| s.ends_with(&format!("provisioner-{name}"))),
            "{file}"
        );
        if name == "worker" {
            let wait = duration(get("TimeoutStopSec").expect("TimeoutStopSec"));
            assert!(
                stop.allows(wait),
                "{file}: TimeoutStopSec {wait:?} is not above shutdown_grace {:?} and step_timeout {:?}",
                stop.shutdown_grace,
                stop.step_timeout
            );
        }
    }
}

#[test]
fn the_image_runs_as_a_user_and_checks_itself_with_the_binary() {
    let text = read("Dockerfile");
    let final_stage = text.rsplit("\nFROM ").next().unwrap();
    // Dependencies build in a layer of their own, before the sources are copied in
    // (issue 11 point 7: a Dockerfile that caches dependencies).
    let cook = text
        .find("cargo chef cook")
        .expect("dependencies are cooked (cargo-chef)");
    let sources = text[..text
        .find("cargo build --release")
        .expect("the release build")]
        .rfind("COPY . .")
        .expect("the sources are copied before the build");
    assert!(
        cook < sources,
        "the dependency layer comes before the sources"
    );
    // Every base image is pinned; a FROM naming an earlier stage is not an image.
    let mut stages = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("FROM ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !stages.contains(&words[1]) {
            assert_pinned(words[1], "Dockerfile");
        }
        if let [.., as_, name] = words.as_slice()
            && as_.eq_ignore_ascii_case("as")
        {
            stages.push(*name);
        }
    }
    let user = final_stage
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the image sets USER");
    assert!(
        !user.starts_with("root") && !user.starts_with("0"),
        "USER {user}"
    );
    let check: String = final_stage
        .split("HEALTHCHECK")
        .nth(1)
        .expect("the image has a HEALTHCHECK")
        .lines()
        .take(2)
        .collect();
    assert!(
        check.contains(r#"CMD ["provisioner-api", "healthcheck"]"#),
        "{check}"
    );
    assert!(!text.contains("/dev/tcp") && !read("compose.yaml").contains("/dev/tcp"));
}
