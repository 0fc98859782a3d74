use provisioner_shared::job::{JobSpec, RunState};
use provisioner_shared::request::{JobKind, JobRequest, NoopOrder, Order};
use provisioner_shared::{Config, ProviderKind, Store, plan};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noop_jobs_run() {
    let ns = format!("smoke{}", std::process::id());
    let text = format!(r#"
[redis]
url = "redis://127.0.0.1:6379"
namespace = "{ns}"
[worker]
concurrency = 50
lease = "10s"
step_timeout = "5s"
[secrets]
key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
[[accounts]]
name = "noop"
provider = "noop"
base_url = "http://127.0.0.1:1"
"#);
    let config = Config::from_toml_with_env(&text, &[]).unwrap();
    let store = Store::connect(&config.redis, config.worker.shards).await.unwrap();
    let n = 2000;
    let mut ids = vec![];
    for _ in 0..n {
        let id = ulid::Ulid::new().to_string();
        let req = JobRequest { kind: JobKind::Provision, account: "noop".into(), provider: ProviderKind::Noop, reference: None, hostname: None, server_id: None,
            order: Some(Order::Noop(NoopOrder { steps: 4, delay_ms: None })), reinstall: None, root_password: None, ssh_keys: vec![], post_install_script: None, callback_url: None };
        let run = RunState::new(plan::plan(&req), store.clock());
        store.enqueue(&JobSpec { id: id.clone(), created_at: store.clock(), request: req }, &run).await.unwrap();
        ids.push(id);
    }
    let t = Instant::now();
    let w = provisioner_worker::start(config.clone()).await.unwrap();
    loop {
        let mut done = 0;
        for id in ids.iter().step_by(50) {
            if store.state_of(id).await.unwrap() == Some(provisioner_shared::JobState::Succeeded) { done += 1; }
        }
        if done == n / 50 { break; }
        assert!(t.elapsed() < Duration::from_secs(60), "only {done}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for id in &ids { assert_eq!(store.state_of(id).await.unwrap(), Some(provisioner_shared::JobState::Succeeded)); }
    eprintln!("{} jobs x4 steps in {:?}", n, t.elapsed());
    w.shutdown().await.unwrap();
}
