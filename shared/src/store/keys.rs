//! Every Redis key name, built here and nowhere else.
//!
//! Keys of one shard share a hash tag (`{ns:N}`), so that every script touches one
//! slot and the same code runs on one node and on Redis Cluster. Keys outside the
//! engine's scripts (indexes, idempotency, locks) are single-key and untagged.

/// FNV-1a: stable across builds and platforms (std's hasher is randomised).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[derive(Debug, Clone)]
pub struct Keys {
    ns: String,
    shards: u16,
}

impl Keys {
    pub fn new(ns: &str, shards: u16) -> Self {
        Keys {
            ns: ns.to_owned(),
            shards: shards.max(1),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.ns
    }

    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// The shard a job lives in, from its id.
    pub fn shard_of(&self, id: &str) -> u16 {
        (fnv1a(id.as_bytes()) % u64::from(self.shards)) as u16
    }

    pub fn due(&self, shard: u16) -> String {
        format!("{{{}:{shard}}}:due", self.ns)
    }

    pub fn job_prefix(&self, shard: u16) -> String {
        format!("{{{}:{shard}}}:job:", self.ns)
    }

    pub fn job(&self, id: &str) -> String {
        format!("{}{id}", self.job_prefix(self.shard_of(id)))
    }

    pub fn wake_channel(&self) -> String {
        format!("{}:wake", self.ns)
    }

    /// Deployment facts that every process must agree on (the shard count).
    pub fn meta(&self) -> String {
        format!("{}:meta", self.ns)
    }

    /// All jobs, newest first (members are ULIDs, ordered by time).
    pub fn index_all(&self) -> String {
        format!("{}:idx:all", self.ns)
    }

    pub fn index_account(&self, account: &str) -> String {
        format!("{}:idx:account:{account}", self.ns)
    }

    pub fn index_reference(&self, reference: &str) -> String {
        format!("{}:idx:ref:{}", self.ns, hex(fnv1a(reference.as_bytes())))
    }

    pub fn idempotency(&self, key_digest: &str) -> String {
        format!("{}:idem:{key_digest}", self.ns)
    }

    /// Who holds a server (one operation per server).
    pub fn server_lock(&self, account: &str, server_id: &str) -> String {
        format!("{}:lock:server:{account}:{server_id}", self.ns)
    }

    /// Free-form single keys for other modules (rate limits, webhook ids, tokens).
    pub fn named(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.ns)
    }
}

fn hex(n: u64) -> String {
    format!("{n:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jobs_keys_share_its_shards_hash_tag() {
        let k = Keys::new("prov", 16);
        let id = "01JD0000000000000000000000";
        let shard = k.shard_of(id);
        let tag = format!("{{prov:{shard}}}");
        assert!(k.job(id).starts_with(&tag));
        assert!(k.due(shard).starts_with(&tag));
    }

    #[test]
    fn shards_spread_ids() {
        let k = Keys::new("prov", 16);
        let mut counts = [0u32; 16];
        for i in 0..16_000 {
            counts[k.shard_of(&format!("01JD{i:022}")) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 700), "{counts:?}");
    }
}
