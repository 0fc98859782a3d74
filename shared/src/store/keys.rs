//! Every Redis key name, built here and nowhere else.
//!
//! Keys of one shard share a hash tag (`{ns:N~S}`), so that every script touches one
//! slot and the same code runs on one node and on Redis Cluster. Keys outside the
//! engine's scripts (indexes, reservations: idempotency, locks, webhook ids) are
//! single-key and untagged.
//!
//! The salt `S` of shard `N` is the first one that puts the tag's slot near the middle
//! of the `N`-th of `shards` equal parts of the 16 384 slots. Plain `{ns:N}` tags land
//! where CRC16 throws them: 16 shards of namespace `staging` put 8 on one master of a
//! 3-master cluster and 4 on each other, so that node saturated first. Spread tags
//! give each master of an evenly sliced cluster (what `redis-cli --cluster create`
//! builds) the shards whose middles fall in its slots: 5, 6 and 5 of 16 on 3 masters.
//! The salt depends only on the namespace and the shard count, which is fixed per
//! namespace, so every process derives the same keys.
//!
//! A job's outbound callback is a record of its own in the job's shard (the outbox):
//! member `cb:<job id>:<n>` in the job's due-set, hash `{ns:S}:job:cb:<job id>:<n>`,
//! where `n` is the job's version at the commit that created it. Its shard is the
//! job's, so it is created in the same script as the job's terminal commit.

use super::Subject;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// FNV-1a: stable across builds and platforms (std's hasher is randomised).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Redis Cluster's slot count.
const SLOTS: u32 = 16_384;

/// CRC16/XMODEM, the hash Redis Cluster maps keys to slots with, table-driven.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// The cluster slot of a hash tag's content (what sits between `{` and `}`).
pub fn slot_of_tag(tag: &str) -> u16 {
    let crc = tag.bytes().fold(0u16, |crc, b| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    });
    crc % SLOTS as u16
}

/// Shard `shard`'s tag content: `ns:shard~salt`, its slot within an eighth of the
/// part's width of the part's middle, so that a master boundary inside the part does
/// not make the owner a coin toss. About 4 × `shards` tries per shard (at most 1 024
/// shards: ≈ 4 M CRCs of a few bytes).
fn spread_tag(ns: &str, shard: u16, shards: u16) -> String {
    let width = SLOTS / u32::from(shards);
    let middle = u32::from(shard) * SLOTS / u32::from(shards) + width / 2;
    let lo = middle - width / 8;
    let hi = middle + width / 8 + 1;
    let mut tag = String::with_capacity(ns.len() + 16);
    for salt in 0u32.. {
        tag.clear();
        use std::fmt::Write;
        let _ = write!(tag, "{ns}:{shard}~{salt}");
        if (lo..hi).contains(&u32::from(slot_of_tag(&tag))) {
            break;
        }
    }
    tag
}

#[derive(Debug, Clone)]
pub struct Keys {
    ns: String,
    shards: u16,
    /// `{ns:N~S}` of every shard, computed once.
    tags: Arc<[String]>,
}

impl Keys {
    pub fn new(ns: &str, shards: u16) -> Self {
        let shards = shards.max(1);
        Keys {
            ns: ns.to_owned(),
            shards,
            tags: (0..shards)
                .map(|shard| format!("{{{}}}", spread_tag(ns, shard, shards)))
                .collect(),
        }
    }

    /// The hash tag every key of `shard` carries, braces included.
    pub fn shard_tag(&self, shard: u16) -> &str {
        &self.tags[usize::from(shard)]
    }

    pub fn namespace(&self) -> &str {
        &self.ns
    }

    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// The shard a job lives in, from its id. A callback record lives in its job's.
    pub fn shard_of(&self, id: &str) -> u16 {
        let owner = callback_owner(id).unwrap_or(id);
        (fnv1a(owner.as_bytes()) % u64::from(self.shards)) as u16
    }

    /// The due-set member (and record id) of the callback a job's commit at
    /// `version` creates.
    pub fn callback_member(&self, job_id: &str, version: u64) -> String {
        format!("{CALLBACK_PREFIX}{job_id}:{version}")
    }

    pub fn due(&self, shard: u16) -> String {
        format!("{}:due", self.shard_tag(shard))
    }

    /// The shard's job counts by state and provider (`state|provider` → jobs), kept
    /// by the scripts that write a job's state, for `/metrics`.
    pub fn job_counts(&self, shard: u16) -> String {
        format!("{}:jobs", self.shard_tag(shard))
    }

    pub fn job_prefix(&self, shard: u16) -> String {
        format!("{}:job:", self.shard_tag(shard))
    }

    pub fn job(&self, id: &str) -> String {
        format!("{}{id}", self.job_prefix(self.shard_of(id)))
    }

    /// A job's audit trail of provider calls (a list, in the job's shard, expiring
    /// with the job).
    pub fn calls(&self, id: &str) -> String {
        format!("{}:calls:{id}", self.shard_tag(self.shard_of(id)))
    }

    pub fn wake_channel(&self) -> String {
        format!("{}:wake", self.ns)
    }

    /// Where `commit.lua` and `hold.lua` announce a job's id after writing it, so
    /// the api's event streams wake on a change instead of polling.
    pub fn changed_channel(&self) -> String {
        format!("{}:changed", self.ns)
    }

    /// Dry runs waiting for a worker (a list of `DryRunAsk` JSON).
    pub fn dry_run_queue(&self) -> String {
        format!("{}:dryrun", self.ns)
    }

    /// A worker's answer to dry run `id`, short-lived.
    pub fn dry_run_answer(&self, id: &str) -> String {
        format!("{}:dryrun:answer:{id}", self.ns)
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

    /// The key of a reservation (`reservation.rs`): an `Idempotency-Key`, a lock,
    /// a billing webhook's id.
    pub fn reservation(&self, subject: &Subject<'_>) -> String {
        match subject {
            Subject::Idempotency { key_digest } => format!("{}:idem:{key_digest}", self.ns),
            Subject::Server { account, server_id } => self.server_lock(account, server_id),
            Subject::Service { service_id } => format!("{}:lock:service:{service_id}", self.ns),
            // Hashed: the id is the sender's, of any length and alphabet.
            Subject::Webhook { id } => format!("{}:webhook:{}", self.ns, sha256_hex(id.as_bytes())),
        }
    }

    /// The last drift sweep's report (one JSON document, `GET /v1/drift`).
    pub fn drift(&self) -> String {
        format!("{}:drift", self.ns)
    }

    /// The lease that lets one worker sweep per interval (expires on its own).
    pub fn drift_lease(&self) -> String {
        format!("{}:drift:lease", self.ns)
    }

    /// Who holds a server (one operation per server).
    pub fn server_lock(&self, account: &str, server_id: &str) -> String {
        format!("{}:lock:server:{account}:{server_id}", self.ns)
    }

    /// An account's open provisions (the spend guardrail, `guard.lua`): one set, so
    /// one key per script call on a cluster too.
    pub fn guard_open_orders(&self, account: &str) -> String {
        format!("{{{}:guard:{account}}}:open", self.ns)
    }

    /// An account's amounts ordered on UTC day `day` (days since 1970), job id →
    /// cents (`guard_spend.lua`).
    pub fn guard_spent(&self, account: &str, day: u64) -> String {
        format!("{{{}:guard:{account}}}:day:{day}", self.ns)
    }

    /// The store's own single keys (rate limits, order claims, worker stats).
    pub(super) fn named(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.ns)
    }
}

/// Ids of callback records start with this; job ids (ULIDs) never do.
pub const CALLBACK_PREFIX: &str = "cb:";

/// The job a callback record belongs to: `cb:<job id>:<n>` → `<job id>`.
pub fn callback_owner(id: &str) -> Option<&str> {
    let rest = id.strip_prefix(CALLBACK_PREFIX)?;
    rest.rsplit_once(':').map(|(job, _)| job)
}

fn hex(n: u64) -> String {
    format!("{n:016x}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jobs_keys_share_its_shards_hash_tag() {
        let k = Keys::new("prov", 16);
        let id = "01JD0000000000000000000000";
        let shard = k.shard_of(id);
        let tag = format!("{{prov:{shard}~");
        assert!(k.job(id).starts_with(&tag));
        assert!(k.due(shard).starts_with(&tag));
        assert!(k.job(id).starts_with(k.shard_tag(shard)));
        assert!(k.due(shard).starts_with(k.shard_tag(shard)));
        assert!(k.calls(id).starts_with(k.shard_tag(shard)));
        assert_ne!(k.calls(id), k.job(id));
    }

    #[test]
    fn slots_match_redis_cluster() {
        // CLUSTER KEYSLOT of these keys on Redis 7.0
        assert_eq!(slot_of_tag("foo"), 12182);
        assert_eq!(slot_of_tag("user1000"), 3443);
        assert_eq!(slot_of_tag(""), 0);
    }

    #[test]
    fn shard_tags_spread_evenly_over_three_masters() {
        // `redis-cli --cluster create` with 3 masters: 0–5460, 5461–10922, 10923–16383
        let master = |slot: u16| match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        };
        for ns in [
            "provisioner",
            "staging",
            "prov",
            "t-01jd0000000000000000000000",
            "bench-cluster-01kaw5y4cz2cq0m6hgwdz1v2xs",
        ] {
            let k = Keys::new(ns, 16);
            let mut per_master = [0u32; 3];
            for shard in 0..16 {
                let tag = k.shard_tag(shard);
                let slot = slot_of_tag(&tag[1..tag.len() - 1]);
                assert_eq!(u32::from(slot) * 16 / SLOTS, u32::from(shard), "{tag}");
                per_master[master(slot)] += 1;
            }
            assert_eq!(per_master, [5, 6, 5], "{ns}");
        }
    }

    #[test]
    fn the_largest_shard_count_still_finds_a_tag_for_every_shard() {
        let k = Keys::new("provisioner", 1024);
        let tags: std::collections::BTreeSet<&str> = (0..1024).map(|s| k.shard_tag(s)).collect();
        assert_eq!(tags.len(), 1024);
    }

    #[test]
    fn a_callback_record_lives_in_its_jobs_shard() {
        let k = Keys::new("prov", 16);
        for i in 0..64 {
            let id = format!("01JD{i:022}");
            let member = k.callback_member(&id, 7 + i);
            assert_eq!(callback_owner(&member), Some(id.as_str()));
            assert_eq!(k.shard_of(&member), k.shard_of(&id));
            let prefix = k.job_prefix(k.shard_of(&id));
            assert_eq!(k.job(&member), format!("{prefix}cb:{id}:{}", 7 + i));
        }
        assert_eq!(callback_owner("01JD0000000000000000000000"), None);
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
