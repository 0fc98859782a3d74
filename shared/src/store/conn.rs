//! One connection type for a single Redis node and for Redis Cluster.
//!
//! Both are multiplexed: concurrent commands from many tasks share one socket per
//! node and are pipelined by the driver. Explicit pipelines are avoided on purpose
//! (they must stay inside one slot on a cluster, and big ones measured slower).

use crate::config::RedisConfig;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;

#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

/// How many replicas the master(s) behind `conn` have connected: the fewest any
/// master has, on a cluster (`INFO replication`, `connected_slaves`).
pub async fn replica_count(conn: &mut RedisConn) -> redis::RedisResult<u32> {
    let reply: Value = redis::cmd("INFO")
        .arg("replication")
        .query_async(conn)
        .await?;
    fn text(v: &Value) -> Option<String> {
        match v {
            Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
            Value::SimpleString(s) => Some(s.clone()),
            Value::VerbatimString { text, .. } => Some(text.clone()),
            _ => None,
        }
    }
    fn slaves(info: &str) -> u32 {
        info.lines()
            .find_map(|l| l.trim().strip_prefix("connected_slaves:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
    Ok(match &reply {
        Value::Map(nodes) => nodes
            .iter()
            .filter_map(|(_, info)| text(info))
            .map(|i| slaves(&i))
            .min()
            .unwrap_or(0),
        other => text(other).map_or(0, |i| slaves(&i)),
    })
}

/// Connects to the configured Redis (node or cluster). Fails fast if nothing answers,
/// then reconnects by itself when Redis goes away and comes back.
pub async fn connect(cfg: &RedisConfig) -> redis::RedisResult<(RedisConn, redis::Client)> {
    let connect_timeout = Duration::from_secs(5);
    if cfg.is_cluster() {
        let client = ClusterClient::builder(cfg.url.clone())
            .response_timeout(cfg.response_timeout)
            .connection_timeout(connect_timeout)
            .retries(3)
            .build()?;
        let conn = client.get_async_connection().await?;
        // Classic pub/sub is cluster-wide: one node's connection sees every PUBLISH.
        let pubsub = redis::Client::open(cfg.url[0].as_str())?;
        Ok((RedisConn::Cluster(conn), pubsub))
    } else {
        let client = redis::Client::open(cfg.url[0].as_str())?;
        let manager_cfg = ConnectionManagerConfig::new()
            .set_response_timeout(Some(cfg.response_timeout))
            .set_connection_timeout(Some(connect_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn = client
            .get_connection_manager_with_config(manager_cfg)
            .await?;
        Ok((RedisConn::Single(conn), client))
    }
}
