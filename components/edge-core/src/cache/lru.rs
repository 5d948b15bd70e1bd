//! The byte-budgeted least-recently-used store under the cache: entries of
//! any kind, each with its size, fetch time and token, evicted oldest use
//! first to stay within the budget.

use crate::model::Token;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Fixed per-entry overhead counted against the budget (map, LRU, slot).
pub(super) const ENTRY_OVERHEAD: usize = 160;

/// One stored value and what the cache knows about it.
pub(super) struct Slot<V> {
    pub(super) value: V,
    /// Bytes counted against the budget, [`ENTRY_OVERHEAD`] included.
    pub(super) bytes: usize,
    pub(super) fetched: Instant,
    /// The collection's token when the value was read.
    pub(super) token: Token,
    /// Whether one request has been sent to the origin to refresh it
    /// before its TTL runs out (see `Cache::claim_refresh`).
    pub(super) refreshing: bool,
    /// When the entry was last used; its place in the LRU order.
    tick: u64,
}

/// Values by key within `budget` bytes, with their use order.
pub(super) struct Lru<K, V> {
    budget: usize,
    map: HashMap<K, Slot<V>>,
    /// Keys by the tick of their last use, least recent first.
    order: BTreeMap<u64, K>,
    tick: u64,
    bytes: usize,
}

impl<K: Clone + Eq + Hash, V> Lru<K, V> {
    /// An empty store holding at most `budget` bytes.
    pub(super) fn new(budget: usize) -> Self {
        Lru {
            budget,
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            bytes: 0,
        }
    }

    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Bytes held, overhead included.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(super) fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// The entry of `key`, without marking it used.
    pub(super) fn get(&self, key: &K) -> Option<&Slot<V>> {
        self.map.get(key)
    }

    /// When `key` was last used, as a count that grows with every use (of
    /// any entry); none when it is absent.
    pub(super) fn last_used(&self, key: &K) -> Option<u64> {
        self.map.get(key).map(|slot| slot.tick)
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &K> {
        self.map.keys()
    }

    /// Every entry, mutably, in no particular order and without marking any used.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut Slot<V>)> {
        self.map.iter_mut()
    }

    /// Marks `key` as just used and returns its slot.
    pub(super) fn touch(&mut self, key: &K) -> Option<&mut Slot<V>> {
        let slot = self.map.get_mut(key)?;
        self.order.remove(&slot.tick);
        self.tick += 1;
        slot.tick = self.tick;
        self.order.insert(self.tick, key.clone());
        Some(slot)
    }

    pub(super) fn remove(&mut self, key: &K) -> Option<Slot<V>> {
        let slot = self.map.remove(key)?;
        self.order.remove(&slot.tick);
        self.bytes -= slot.bytes;
        Some(slot)
    }

    /// Stores `value` (`bytes` long, plus [`ENTRY_OVERHEAD`]) under `key`,
    /// replacing any entry of that key and evicting least-recently-used
    /// entries to stay within the budget; returns the evicted entries, least
    /// recent first. A value larger than the whole budget is not stored and
    /// evicts nothing (the replaced entry is gone all the same).
    pub(super) fn insert(
        &mut self,
        key: K,
        value: V,
        bytes: usize,
        fetched: Instant,
        token: Token,
    ) -> Vec<(K, Slot<V>)> {
        let bytes = bytes + ENTRY_OVERHEAD;
        self.remove(&key);
        let mut evicted = Vec::new();
        if bytes > self.budget {
            return evicted;
        }
        while self.bytes + bytes > self.budget {
            let Some(oldest) = self.order.first_key_value().map(|(_, k)| k.clone()) else {
                break;
            };
            if let Some(slot) = self.remove(&oldest) {
                evicted.push((oldest, slot));
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.map.insert(
            key,
            Slot {
                value,
                bytes,
                fetched,
                token,
                refreshing: false,
                tick: self.tick,
            },
        );
        self.bytes += bytes;
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::*;
    use super::*;
    use crate::model::*;

    /// The store alone, with unit values: eviction follows use, not
    /// insertion, and reports what it dropped; an oversized value is refused.
    #[test]
    fn the_store_evicts_by_use_and_refuses_what_cannot_fit() {
        let mut lru: Lru<u32, ()> = Lru::new(3 * (ENTRY_OVERHEAD + 10));
        for k in 0..3 {
            assert!(lru.insert(k, (), 10, Instant::now(), T1).is_empty());
        }
        assert_eq!((lru.len(), lru.bytes()), (3, 3 * (ENTRY_OVERHEAD + 10)));
        assert!(lru.touch(&0).is_some());
        let evicted: Vec<u32> = lru
            .insert(3, (), 10, Instant::now(), T1)
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(evicted, [1]);
        // Twice the room of one entry: the two least recent go.
        let evicted: Vec<u32> = lru
            .insert(4, (), 20 + ENTRY_OVERHEAD, Instant::now(), T1)
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(evicted, [2, 0]);
        assert!(lru.contains(&3) && lru.contains(&4));
        // Larger than the budget: refused, nothing evicted.
        assert!(lru
            .insert(5, (), 3 * (ENTRY_OVERHEAD + 10), Instant::now(), T1)
            .is_empty());
        assert!(!lru.contains(&5));
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.bytes(), 3 * (ENTRY_OVERHEAD + 10));
        // Replacing an entry frees its old bytes first.
        assert!(lru.insert(3, (), 10, Instant::now(), T1).is_empty());
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.remove(&3).map(|s| s.bytes), Some(ENTRY_OVERHEAD + 10));
        assert!(lru.get(&3).is_none());
    }

    #[test]
    fn budget_is_never_exceeded() {
        let config = CacheConfig {
            budget_bytes: 64 * 1024,
            ..CacheConfig::default()
        };
        let mut cache = Cache::new(config);
        for i in 0..500 {
            cache.put_vector(&coll("c"), record(&format!("v{i}"), vec![0.5; 64]), T1);
            assert!(cache.stats().bytes <= 64 * 1024);
        }
        assert!(cache.stats().evictions > 0);
        // The most recent entries survive.
        assert!(cache.vector(&coll("c"), "v499", Some(T1)).fresh().is_some());
        assert!(cache.vector(&coll("c"), "v0", Some(T1)).fresh().is_none());
    }

    /// Eviction order: a read moves an entry to the back, so of a full
    /// cache the entry read last survives the next insertion and the least
    /// recently used one goes (FIFO would evict the oldest insertion).
    #[test]
    fn eviction_drops_the_least_recently_read_vector() {
        let c = coll("c");
        // Every entry the same size: 32 + 2 (id) + 4 × 4 (values) + 2 ("{}").
        let entry = 32 + 2 + 16 + 2 + ENTRY_OVERHEAD;
        let mut cache = Cache::new(CacheConfig {
            budget_bytes: 4 * entry,
            ..CacheConfig::default()
        });
        for i in 0..4 {
            cache.put_vector(&c, record(&format!("v{i}"), vec![0.5; 4]), T1);
        }
        assert_eq!((cache.stats().entries, cache.stats().bytes), (4, 4 * entry));
        assert_eq!(cache.stats().evictions, 0);
        // v0 is the oldest insertion, but read last.
        assert!(cache.vector(&c, "v0", Some(T1)).fresh().is_some());
        cache.put_vector(&c, record("v4", vec![0.5; 4]), T1);
        assert_eq!(cache.stats().evictions, 1);
        let held: Vec<bool> = (0..5).map(|i| holds_vector(&cache, &c, &format!("v{i}"))).collect();
        assert_eq!(held, [true, false, true, true, true], "v1 (least recently used) goes");
        // Again, from the middle of the order: read v3, then v2; insert two.
        assert!(cache.vector(&c, "v3", Some(T1)).fresh().is_some());
        assert!(cache.vector(&c, "v2", Some(T1)).fresh().is_some());
        cache.put_vector(&c, record("v5", vec![0.5; 4]), T1);
        cache.put_vector(&c, record("v6", vec![0.5; 4]), T1);
        let held: Vec<bool> = (0..7).map(|i| holds_vector(&cache, &c, &format!("v{i}"))).collect();
        // Order before the inserts, least recent first: v0, v4, v3, v2.
        assert_eq!(held, [false, false, true, true, false, true, true]);
    }

    /// The same for search results: an exact hit counts as a use.
    #[test]
    fn eviction_drops_the_least_recently_read_result() {
        let c = coll("c");
        let q = |i: usize| request(vec![i as f32, 1.0]);
        // 64 + 2 × 4 (query) + 48 + 1 (one hit, id "a") + overhead.
        let entry = 64 + 8 + 48 + 1 + ENTRY_OVERHEAD;
        let mut cache = Cache::new(CacheConfig {
            budget_bytes: 4 * entry,
            ..CacheConfig::default()
        });
        for i in 0..4 {
            cache.put_search(&c, &q(i), result("a"), None, T1);
        }
        assert_eq!((cache.stats().entries, cache.stats().bytes), (4, 4 * entry));
        assert!(cache.search(&c, &q(0), 1.0, Some(T1)).fresh().is_some());
        cache.put_search(&c, &q(4), result("a"), None, T1);
        assert_eq!(cache.stats().evictions, 1);
        let held: Vec<bool> = (0..5).map(|i| holds_result(&cache, &c, &q(i))).collect();
        assert_eq!(held, [true, false, true, true, true], "q1 (least recently used) goes");
    }

    /// An entry larger than the whole budget is refused before anything is
    /// evicted for it: what the cache held stays, counters unchanged. One of
    /// exactly the budget is admitted (and takes the whole cache).
    #[test]
    fn an_entry_larger_than_the_budget_is_refused_without_evicting() {
        let c = coll("c");
        // A vector entry with a 3-byte id is 32 + 3 + 4 × values + 2 ("{}")
        // + overhead: 975 values fill the budget exactly.
        let fixed = 32 + 3 + 2 + ENTRY_OVERHEAD;
        let budget = fixed + 4 * 975;
        let mut cache = Cache::new(CacheConfig {
            budget_bytes: budget,
            ..CacheConfig::default()
        });
        for i in 0..4 {
            cache.put_vector(&c, record(&format!("v{i}"), vec![0.5; 4]), T1);
        }
        let before = cache.stats();
        assert_eq!(before.entries, 4);
        // 976 values: 4 bytes past the budget.
        cache.put_vector(&c, record("big", vec![0.5; 976]), T1);
        assert!(!holds_vector(&cache, &c, "big"));
        assert_eq!(cache.stats(), before, "nothing evicted, nothing counted");
        for i in 0..4 {
            assert!(holds_vector(&cache, &c, &format!("v{i}")), "v{i} kept");
        }
        // A result too large: not admitted, and its body is not remembered.
        let hits = (0..budget / 48)
            .map(|i| SearchHit {
                id: format!("h{i}"),
                score: 1.0,
                values: None,
                metadata: None,
                document: None,
                source: None,
                written_at_us: None,
            })
            .collect();
        let big = SearchResult { hits, version: 1 };
        let body = BodyKey::of(b"big");
        cache.put_search(&c, &request(vec![1.0, 0.0]), big, Some(body), T1);
        assert_eq!(cache.stats(), before);
        assert!(cache.bodies.is_empty() && cache.groups.is_empty());
        // Exactly the budget fits, in place of everything else.
        cache.put_vector(&c, record("all", vec![0.5; 975]), T1);
        assert!(holds_vector(&cache, &c, "all"));
        assert_eq!((cache.stats().entries, cache.stats().bytes), (1, budget));
        assert_eq!(cache.stats().evictions, 4);
    }

    /// The eviction policy, measured: on a Zipf(1) stream over 5000 vectors
    /// with room for a tenth of them, the cache against an oracle holding the
    /// most popular tenth, and against a FIFO cache of the same room (simulated
    /// here) on the same stream.
    #[test]
    fn lru_hit_rate_on_a_skewed_workload() {
        use std::collections::{HashSet, VecDeque};
        let (keys, room) = (5000usize, 500usize);
        let entry_bytes = 32 + 5 + 64 * 4 + 2 + ENTRY_OVERHEAD;
        let mut cache = Cache::new(CacheConfig {
            budget_bytes: room * entry_bytes,
            ..CacheConfig::default()
        });
        let weights: Vec<f64> = (1..=keys).map(|r| 1.0 / r as f64).collect();
        let total: f64 = weights.iter().sum();
        let cdf: Vec<f64> = weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w / total;
                Some(*acc)
            })
            .collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            cdf.partition_point(|&c| c < u).min(keys - 1)
        };
        let (warm_up, rounds) = (10_000, 60_000);
        let stream: Vec<usize> = (0..warm_up + rounds).map(|_| next()).collect();

        let mut hits = 0;
        for (round, key) in stream.iter().enumerate() {
            let id = format!("{key:05}");
            let hit = cache.vector(&coll("c"), &id, Some(T1)).fresh().is_some();
            if !hit {
                cache.put_vector(&coll("c"), record(&id, vec![0.5; 64]), T1);
            }
            if round >= warm_up && hit {
                hits += 1;
            }
        }
        let lru = hits as f64 / rounds as f64;

        let (mut fifo_hits, mut order, mut held) = (0, VecDeque::new(), HashSet::new());
        for (round, key) in stream.iter().enumerate() {
            let hit = held.contains(key);
            if !hit {
                order.push_back(*key);
                held.insert(*key);
                if order.len() > room {
                    held.remove(&order.pop_front().unwrap());
                }
            }
            if round >= warm_up && hit {
                fifo_hits += 1;
            }
        }
        let fifo = fifo_hits as f64 / rounds as f64;

        let oracle: f64 = weights[..room].iter().sum::<f64>() / total;
        println!("hit rates: LRU {lru:.4}, FIFO {fifo:.4}, oracle {oracle:.4}");
        assert!(cache.stats().bytes <= room * entry_bytes);
        assert!(lru >= 0.8 * oracle, "LRU {lru:.3} vs oracle {oracle:.3}");
        // Measured on this stream: LRU 0.652, FIFO 0.604, oracle 0.747. FIFO
        // passes the oracle bound above (0.8 × 0.747 = 0.598), so that bound
        // alone cannot tell the policies apart; LRU beats FIFO by 0.048. The
        // margin sits halfway: LRU clears it by 0.023 (the stream is fixed, and
        // 60 000 rounds put the sampling error near 0.002), and a cache that
        // evicted in insertion order would score FIFO's rate and miss it by as much.
        const MARGIN: f64 = 0.025;
        assert!(lru >= fifo + MARGIN, "LRU {lru:.4} vs FIFO {fifo:.4}");
    }
}
