//! The seed of a run: from `CHAOS_SEED`, else random, printed at the start so a
//! failure can be replayed. Every random choice of a scenario (the simulators' fault
//! draws, the kill schedule, the workers' `PROVISIONER_FAILPOINTS_SEED`) comes from a
//! stream derived from it by name, so adding a stream does not shift the others.
//!
//! A replay repeats the same choices in the same order; what the processes do in
//! between still depends on the scheduler, so a replay reproduces a run closely, not
//! to the millisecond.

use rand::SeedableRng;
use rand::rngs::StdRng;

#[derive(Debug, Clone, Copy)]
pub struct ChaosSeed(u64);

impl ChaosSeed {
    /// `CHAOS_SEED` when set (a number), else a fresh random one; prints it with the
    /// command that replays `scenario` (a test name filter).
    pub fn from_env(scenario: &str) -> anyhow::Result<ChaosSeed> {
        let seed = match std::env::var("CHAOS_SEED") {
            Ok(s) if !s.trim().is_empty() => s
                .trim()
                .parse::<u64>()
                .map_err(|_| anyhow::anyhow!("CHAOS_SEED must be a whole number, not `{s}`"))?,
            _ => rand::random::<u64>() >> 11,
        };
        println!(
            "chaos {scenario}: seed {seed} (replay: CHAOS_SEED={seed} cargo test -p provisioner-tests --test chaos {scenario} -- --nocapture)"
        );
        Ok(ChaosSeed(seed))
    }

    pub fn value(self) -> u64 {
        self.0
    }

    /// A number for `purpose`, fixed by the seed (FNV-1a of the name, then
    /// splitmix64 with the seed).
    pub fn derive(self, purpose: &str) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in purpose.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mut z = self.0 ^ h;
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random stream for `purpose`.
    pub fn rng(self, purpose: &str) -> StdRng {
        StdRng::seed_from_u64(self.derive(purpose))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_fixed_by_the_seed_and_differ_by_name() {
        let a = ChaosSeed(42);
        assert_eq!(a.derive("kills"), ChaosSeed(42).derive("kills"));
        assert_ne!(a.derive("kills"), a.derive("faults"));
        assert_ne!(a.derive("kills"), ChaosSeed(43).derive("kills"));
    }
}
