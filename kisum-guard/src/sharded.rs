//! A bounded map split into locked shards: the guard's caches on the request path.
//!
//! A lookup is a hash, the lock of one shard (held for the probe and a clone) and a compare:
//! no clock read and no bookkeeping. A general-purpose cache (`moka`) read the clock, recorded
//! the access and now and then ran its housekeeping on every hit; with two lookups per warm
//! guarded request that was about a third of the guard's own time. What such a cache bought —
//! an LRU-like choice of victim, a timer per entry — matters little here: every entry of these
//! caches can be rebuilt (a signature check, a resolution) and carries its own lifetime, which
//! the callers check on every hit anyway.
//!
//! A full shard first drops the entries its owner calls dead (expired), then, if still full,
//! one entry in the map's (randomly seeded) order. Every shard is also swept for dead entries
//! when written to, at most once per [`SWEEP_EVERY`], so that memory held by expired entries is
//! given back without waiting for the shard to fill.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many shards a map has (a power of two): enough that request threads rarely wait for
/// one another.
pub(crate) const SHARDS: usize = 16;

/// How often a written shard is swept for dead entries.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(60);

struct Shard<K, V, S> {
    map: HashMap<K, V, S>,
    swept: Instant,
}

/// A map of at most `capacity` entries (rounded up to a multiple of [`SHARDS`]).
pub(crate) struct ShardedMap<K, V, S> {
    shards: Box<[Mutex<Shard<K, V, S>>]>,
    hasher: S,
    shard_capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone, S: BuildHasher + Clone> ShardedMap<K, V, S> {
    /// An empty map of at most `capacity` entries (0: it keeps nothing).
    pub(crate) fn new(capacity: u64, hasher: S) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        let now = Instant::now();
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::with_hasher(hasher.clone()),
                        swept: now,
                    })
                })
                .collect(),
            hasher,
            shard_capacity: capacity.div_ceil(SHARDS),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> Option<MutexGuard<'_, Shard<K, V, S>>> {
        // The shard's own map hashes again with the same seed and reads the lowest bits (its
        // bucket) and the top seven (its tag): the shard is picked with bits 32-35, which a map
        // of fewer than 2^32 buckets reads neither way.
        let bits = (self.hasher.hash_one(key) >> 32) % SHARDS as u64;
        let index = usize::try_from(bits).unwrap_or(0);
        // A poisoned shard (a panic while it was held) answers nothing and keeps nothing.
        self.shards.get(index)?.lock().ok()
    }

    /// A clone of the value under `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key)?.map.get(key).cloned()
    }

    /// Stores `value` under `key`, making room as the module says; `dead` tells the entries
    /// that may go first.
    pub(crate) fn insert(&self, key: K, value: V, mut dead: impl FnMut(&V) -> bool) {
        if self.shard_capacity == 0 {
            return;
        }
        let Some(mut shard) = self.shard(&key) else {
            return;
        };
        let full = shard.map.len() >= self.shard_capacity && !shard.map.contains_key(&key);
        if full || shard.swept.elapsed() >= SWEEP_EVERY {
            shard.map.retain(|_, v| !dead(v));
            shard.swept = Instant::now();
        }
        if shard.map.len() >= self.shard_capacity
            && !shard.map.contains_key(&key)
            && let Some(victim) = shard.map.keys().next().cloned()
        {
            shard.map.remove(&victim);
        }
        shard.map.insert(key, value);
    }

    /// Removes the entry under `key`.
    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(mut shard) = self.shard(key) {
            shard.map.remove(key);
        }
    }

    /// Removes every entry.
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            if let Ok(mut shard) = shard.lock() {
                shard.map.clear();
            }
        }
    }

    /// How many entries the map holds.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.map.len()))
            .sum()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]
mod tests {
    use super::*;

    type Map = ShardedMap<String, (u32, bool), foldhash::quality::RandomState>;

    fn map(capacity: u64) -> Map {
        ShardedMap::new(capacity, foldhash::quality::RandomState::default())
    }

    #[test]
    fn a_map_answers_what_it_was_given_and_forgets_on_request() {
        let m = map(100);
        m.insert("a".into(), (1, false), |_| false);
        m.insert("b".into(), (2, false), |_| false);
        m.insert("a".into(), (3, false), |_| false);
        assert_eq!(m.get("a"), Some((3, false)));
        assert_eq!(m.get("b"), Some((2, false)));
        assert_eq!(m.get("c"), None);
        assert_eq!(m.len(), 2);
        m.remove("a");
        assert_eq!(m.get("a"), None);
        m.clear();
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn a_full_map_drops_dead_entries_first_and_never_grows_past_its_capacity() {
        let capacity = 4 * SHARDS as u64;
        let m = map(capacity);
        for i in 0..10 * capacity {
            m.insert(format!("live-{i}"), (0, false), |(_, dead)| *dead);
            assert!(m.len() <= usize::try_from(capacity).unwrap());
        }
        // Every shard filled up: the map holds its capacity.
        assert_eq!(m.len(), usize::try_from(capacity).unwrap());

        // Full of dead entries: new ones take their places, and none of the new ones goes
        // (16 of them land at most a few to a shard of 64).
        let capacity = 64 * SHARDS as u64;
        let m = map(capacity);
        for i in 0..2 * capacity {
            m.insert(format!("dead-{i}"), (0, true), |(_, dead)| *dead);
        }
        for i in 0..16 {
            m.insert(format!("live-{i}"), (0, false), |(_, dead)| *dead);
        }
        for i in 0..16 {
            assert!(
                m.get(&format!("live-{i}")).is_some(),
                "live-{i} was evicted"
            );
        }

        let none = map(0);
        none.insert("a".into(), (1, false), |_| false);
        assert_eq!(none.get("a"), None);
    }
}
