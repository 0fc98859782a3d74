//! `TestCluster`: a private 3-master Redis Cluster for one test (the sandbox's
//! `RedisCluster`: `redis-server --cluster-enabled yes` ×3 on free ports, joined by
//! `redis-cli --cluster create`), killed when the test ends, and a config on it.
//!
//! It always starts its own servers, `REDIS_URL` or not: a cluster cannot be shared
//! the way a namespace on one server can.

use crate::config::test_config_at;
use anyhow::Context;
use provisioner_sandbox::redis_server::RedisCluster;
use provisioner_shared::Config;

pub struct TestCluster {
    cluster: RedisCluster,
    namespace: String,
}

impl TestCluster {
    /// Three masters, no replicas; returns once every node says `cluster_state:ok`.
    pub async fn start() -> anyhow::Result<TestCluster> {
        let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
            .await?
            .context("starting a 3-master Redis Cluster (needs redis-server and redis-cli)")?;
        Ok(TestCluster {
            cluster,
            namespace: format!("t-{}", ulid::Ulid::new().to_string().to_ascii_lowercase()),
        })
    }

    /// Every node's URL: the seed list.
    pub fn seed_urls(&self) -> Vec<String> {
        self.cluster.seed_urls()
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// [`crate::test_config`]'s settings with `redis.url` = the seed list.
    pub fn config(&self) -> Config {
        let seeds = self.seed_urls();
        let mut config = test_config_at(&seeds[0], &self.namespace);
        config.redis.url = seeds;
        config.redis.cluster = true;
        config
    }

    /// A plain connection to one node (the one the workers subscribe on).
    pub async fn first_node(&self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.seed_urls()[0].as_str())?;
        Ok(client.get_multiplexed_async_connection().await?)
    }
}
