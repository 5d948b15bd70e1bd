//! The hot-vector cache, kept in the component instance's memory.
//!
//! It holds, within a byte budget, five kinds of entry, each keyed by
//! project so that no entry is ever served across projects:
//! - collection descriptions (dims, version, count, similarity threshold);
//! - vectors by id, for `GET …/vectors/{id}`;
//! - search results, grouped by (k, filter, include flags); a query hits an
//!   entry of its group whose query vector has cosine similarity ≥ the
//!   collection's threshold (1.0 = the same vector);
//! - hot collections: small collections loaded whole and searched exactly;
//! - embeddings of texts, by project, model and exact text (no write changes
//!   them, so they carry no token and no TTL).
//!
//! Eviction is least-recently-used over whole entries, by bytes.
//!
//! Coherence: every entry carries the collection's [`Token`] it was read
//! under, and every lookup passes the current token, which the origin
//! answers from memory. An entry older than the current token is dropped,
//! never served, so a write acknowledged anywhere is seen by the next read
//! in every instance. When the current token cannot be learned (the origin
//! is unreachable), entries are only served as stale. Search results and
//! vectors also carry the time they were fetched and are refetched past
//! the TTL; one request refreshes a result in the last quarter of its TTL
//! while the others are still answered from it. A write through this instance patches its hot copy and keeps
//! its untouched vectors when nothing else was written in between.
//!
//! The module's parts: [`Cache`] and its public API here; the LRU store
//! under it in `lru`; entry keys in `keys`; search results and their
//! semantic lookup in `results`; hot collections in `hot`; settings in
//! `config`.

mod config;
#[cfg(test)]
mod fixtures;
mod hot;
mod keys;
mod lru;
mod results;

pub use config::CacheConfig;
pub use hot::HotCollection;
pub use keys::{BodyKey, CollKey};

/// Whether an entry `age` old is due to be refreshed ahead of its `ttl`:
/// in the last quarter of it, early enough that one request renews a busy
/// entry before every request would find it expired. The host's key cache
/// keeps the same window.
pub fn refresh_ahead(age: Duration, ttl: Duration) -> bool {
    age < ttl && age >= ttl - ttl / 4
}

use crate::model::*;
use keys::{Group, Key};
use lru::{Lru, Slot};
use results::{vector_bytes, CachedQuery};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Counters of one instance's cache, shown at `/v1/health`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CacheStats {
    /// Entries held, of every kind.
    pub entries: usize,
    /// Bytes held, per-entry overhead included.
    pub bytes: usize,
    /// The most the cache holds, in bytes ([`CacheConfig::budget_bytes`]).
    pub budget_bytes: usize,
    /// Collections held whole.
    pub hot_collections: usize,
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests the cache could not answer.
    pub misses: u64,
    /// Requests answered with an entry that could not be confirmed current.
    pub stale: u64,
    /// Requests that skipped the cache.
    pub bypasses: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
    /// Searches answered by scanning a hot copy (a repeated query is
    /// answered from its cached result instead).
    pub hot_scans: u64,
    /// Texts whose embedding the cache held.
    pub embedding_hits: u64,
    /// Texts that had to be embedded by the origin.
    pub embedding_misses: u64,
}

/// What a cache entry holds, by kind of [`Key`].
enum Value {
    Info(CollectionInfo),
    Vector(VectorRecord),
    Result(CachedQuery),
    Hot(HotCollection),
    Embedding(Embedded),
}

/// The token of entries no write changes (embeddings): never older than a
/// lookup's.
const TIMELESS: Token = Token {
    incarnation: 0,
    version: 0,
};

/// A text's embedding as the cache keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedded {
    /// The model that made it (the default's name when none was asked for).
    pub model: String,
    /// The text's vector, as the model made it.
    pub vector: Vec<f32>,
}

/// A cache answer: fresh, or servable only as `stale` (past its TTL, or
/// looked up without a current token).
pub enum Lookup<T> {
    /// Current and within its TTL: servable as is.
    Fresh(T),
    /// Past its TTL, or its currency unknown: servable only as stale.
    Expired(T),
    /// Not held (or dropped as outdated by this lookup).
    Absent,
}

impl<T> Lookup<T> {
    /// The entry if it is fresh.
    pub fn fresh(self) -> Option<T> {
        match self {
            Lookup::Fresh(v) => Some(v),
            _ => None,
        }
    }

    /// Any entry, fresh or not, for stale-if-error.
    pub fn any(self) -> Option<T> {
        match self {
            Lookup::Fresh(v) | Lookup::Expired(v) => Some(v),
            Lookup::Absent => None,
        }
    }
}

/// The cache of one component instance (see the module documentation).
pub struct Cache {
    config: CacheConfig,
    entries: Lru<Key, Value>,
    /// Query hashes of the result entries of each group, oldest first (of
    /// their storing; use order is the LRU's).
    groups: HashMap<Group, Vec<u64>>,
    /// Result entries by the request body they were fetched for.
    bodies: HashMap<(CollKey, BodyKey), Key>,
    searches: HashMap<CollKey, u32>,
    /// Collections whose hot copy is being read; one load at a time each.
    loading: HashSet<CollKey>,
    /// The counters; callers count hits, misses, stale answers and bypasses.
    pub stats: CacheStats,
}

impl Cache {
    /// An empty cache with `config`'s budget and policies.
    pub fn new(config: CacheConfig) -> Self {
        let stats = CacheStats {
            budget_bytes: config.budget_bytes,
            ..CacheStats::default()
        };
        Cache {
            entries: Lru::new(config.budget_bytes),
            config,
            groups: HashMap::new(),
            bodies: HashMap::new(),
            searches: HashMap::new(),
            loading: HashSet::new(),
            stats,
        }
    }

    /// The settings the cache was made with.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The counters, with the current entries, bytes and hot collections.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.entries.len(),
            bytes: self.entries.bytes(),
            hot_collections: self.entries.keys().filter(|k| matches!(k, Key::Hot(_))).count(),
            ..self.stats.clone()
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Slot<Value>> {
        let slot = self.entries.remove(key)?;
        self.unindex(key, &slot);
        Some(slot)
    }

    /// Stores `value` under `key`, read under `token`, evicting
    /// least-recently-used entries to stay within the budget. A value larger
    /// than the budget is not admitted.
    fn insert(&mut self, key: Key, value: Value, bytes: usize, fetched: Instant, token: Token) {
        self.remove(&key);
        for (evicted, slot) in self.entries.insert(key, value, bytes, fetched, token) {
            self.unindex(&evicted, &slot);
            self.stats.evictions += 1;
        }
    }

    /// Checks `key` against the collection's current token `now` (none:
    /// unknown, so nothing is fresh) and marks it used: whether it is fresh,
    /// or none when it is absent. An entry older than `now` is dropped.
    fn check(&mut self, key: &Key, now: Option<Token>) -> Option<bool> {
        let ttl = self.config.ttl;
        if now.is_some_and(|now| self.entries.get(key).is_some_and(|slot| slot.token < now)) {
            self.remove(key);
            return None;
        }
        let slot = self.entries.touch(key)?;
        Some(now.is_some() && (Self::lasting(key) || slot.fetched.elapsed() < ttl))
    }

    /// Entries current exactly as long as their token is, with no TTL: hot
    /// copies and collection descriptions change only with a write (which
    /// moves the token), embeddings never.
    fn lasting(key: &Key) -> bool {
        matches!(key, Key::Hot(_) | Key::Info(_) | Key::Embedding(..))
    }

    /// Whether `key`'s entry is fresh at `now` and in the last quarter of
    /// its TTL, with no request sent to refresh it yet.
    fn refresh_due(&self, key: &Key, now: Token) -> bool {
        self.entries.get(key).is_some_and(|slot| {
            !Self::lasting(key)
                && !slot.refreshing
                && slot.token >= now
                && refresh_ahead(slot.fetched.elapsed(), self.config.ttl)
        })
    }

    /// True for the first caller that finds `key`'s entry due for a refresh
    /// ([`Self::refresh_due`]): that request asks the origin and replaces the
    /// entry, while every other keeps being answered from it until its TTL
    /// runs out. So a busy entry is refetched once before it expires, not
    /// by every request that would find it expired.
    fn claim_refresh(&mut self, key: &Key, now: Token) -> bool {
        if !self.refresh_due(key, now) {
            return false;
        }
        if let Some(slot) = self.entries.touch(key) {
            slot.refreshing = true;
        }
        true
    }

    fn release_refresh(&mut self, key: &Key) {
        if let Some(slot) = self.entries.touch(key) {
            slot.refreshing = false;
        }
    }

    /// Looks `key` up against the current token `now` (see [`Self::check`]).
    fn lookup<T>(&mut self, key: &Key, now: Option<Token>, get: impl FnOnce(&Value) -> Option<T>) -> Lookup<T> {
        let Some(fresh) = self.check(key, now) else {
            return Lookup::Absent;
        };
        match self.entries.get(key).and_then(|slot| get(&slot.value)) {
            Some(v) if fresh => Lookup::Fresh(v),
            Some(v) => Lookup::Expired(v),
            None => Lookup::Absent,
        }
    }

    /// The description of `coll`, checked against the current token `now`.
    pub fn info(&mut self, coll: &CollKey, now: Option<Token>) -> Lookup<CollectionInfo> {
        self.lookup(&Key::Info(coll.clone()), now, |v| match v {
            Value::Info(info) => Some(info.clone()),
            _ => None,
        })
    }

    /// Keeps the description of `coll`, read under `token`.
    pub fn put_info(&mut self, coll: &CollKey, info: CollectionInfo, token: Token) {
        let bytes = info.name.len() + 64;
        self.insert(Key::Info(coll.clone()), Value::Info(info), bytes, Instant::now(), token);
    }

    /// A vector by id, from a hot collection or the vector entries.
    pub fn vector(&mut self, coll: &CollKey, id: &str, now: Option<Token>) -> Lookup<VectorRecord> {
        if let Lookup::Fresh(Some(record)) = self.lookup(&Key::Hot(coll.clone()), now, |v| match v {
            Value::Hot(hot) => Some(hot.get(id)),
            _ => None,
        }) {
            return Lookup::Fresh(record);
        }
        self.lookup(&Key::Vector(coll.clone(), id.to_string()), now, |v| match v {
            Value::Vector(record) => Some(record.clone()),
            _ => None,
        })
    }

    /// Keeps one vector of `coll`, read under `token`.
    pub fn put_vector(&mut self, coll: &CollKey, record: VectorRecord, token: Token) {
        let bytes = 32 + record.id.len() + vector_bytes(&record.values) + record.metadata.len();
        let key = Key::Vector(coll.clone(), record.id.clone());
        self.insert(key, Value::Vector(record), bytes, Instant::now(), token);
    }

    /// Counts a search of `coll`; true once the collection is searched often
    /// enough to be worth loading whole (the hot-collection admission
    /// policy), and is neither held whole nor being loaded.
    pub fn admit_hot(&mut self, coll: &CollKey, info: &CollectionInfo) -> bool {
        if info.count == 0
            || info.count > self.config.hot_max_vectors
            || self.entries.contains(&Key::Hot(coll.clone()))
            || self.loading.contains(coll)
        {
            return false;
        }
        // Loading must leave room for the rest of the cache.
        let estimate = info.count as usize * (info.spec.dims as usize * 4 + 96);
        if estimate > self.config.budget_bytes / 2 {
            return false;
        }
        if self.searches.len() > 100_000 {
            self.searches.clear();
        }
        let seen = self.searches.entry(coll.clone()).or_default();
        *seen += 1;
        *seen >= self.config.hot_admit_after
    }

    /// Marks `coll` as being loaded whole; false when a load of it is
    /// already under way (requests run concurrently: one load is enough).
    /// [`Cache::end_hot_load`] ends it.
    pub fn begin_hot_load(&mut self, coll: &CollKey) -> bool {
        self.loading.insert(coll.clone())
    }

    /// Ends the load [`Cache::begin_hot_load`] started: keeps the copy read,
    /// if the load succeeded (see [`Cache::put_hot`]).
    pub fn end_hot_load(&mut self, coll: &CollKey, hot: Option<HotCollection>, incarnation: u64) {
        self.loading.remove(coll);
        if let Some(hot) = hot {
            self.put_hot(coll, hot, incarnation);
        }
    }

    /// The embedding of `text` by `model` that the cache holds for
    /// `project`, counted as a hit or a miss.
    pub fn embedding(&mut self, project: &str, model: &str, text: &str) -> Option<Embedded> {
        let key = Key::Embedding(project.into(), model.into(), text.into());
        let found = self
            .lookup(&key, Some(TIMELESS), |v| match v {
                Value::Embedding(e) => Some(e.clone()),
                _ => None,
            })
            .fresh();
        match found {
            Some(_) => self.stats.embedding_hits += 1,
            None => self.stats.embedding_misses += 1,
        }
        found
    }

    /// Keeps the embedding of `text` by `model`.
    pub fn put_embedding(&mut self, project: &str, model: &str, text: &str, embedded: Embedded) {
        let bytes = project.len() + model.len() + text.len() + embedded.model.len() + vector_bytes(&embedded.vector);
        let key = Key::Embedding(project.into(), model.into(), text.into());
        let value = Value::Embedding(embedded);
        self.insert(key, value, bytes, Instant::now(), TIMELESS);
    }

    /// Counts one search answered by scanning a hot copy.
    pub fn count_hot_scan(&mut self) {
        self.stats.hot_scans += 1;
    }

    /// The hot copy of `coll`, checked against the current token `now`
    /// like every entry (no TTL: the token alone says whether it is current).
    pub fn hot(&mut self, coll: &CollKey, now: Option<Token>) -> Lookup<&HotCollection> {
        let key = Key::Hot(coll.clone());
        let Some(fresh) = self.check(&key, now) else {
            return Lookup::Absent;
        };
        match self.entries.get(&key).map(|slot| &slot.value) {
            Some(Value::Hot(hot)) if fresh => Lookup::Fresh(hot),
            Some(Value::Hot(hot)) => Lookup::Expired(hot),
            _ => Lookup::Absent,
        }
    }

    /// Keeps `hot`, read at its own version of the incarnation in `token`.
    pub fn put_hot(&mut self, coll: &CollKey, hot: HotCollection, incarnation: u64) {
        let bytes = hot.bytes();
        let token = Token {
            incarnation,
            version: hot.version,
        };
        self.searches.remove(coll);
        self.insert(Key::Hot(coll.clone()), Value::Hot(hot), bytes, Instant::now(), token);
    }

    /// Whether `coll` is held whole (current or not).
    pub fn has_hot(&self, coll: &CollKey) -> bool {
        self.entries.contains(&Key::Hot(coll.clone()))
    }

    /// A write through this edge took `coll` to `version`: drop its results,
    /// description and the touched ids. When the write was the very next
    /// one after an entry's token (nothing else was written in between), the
    /// hot copy is patched and untouched vectors are kept, both at the new
    /// version; otherwise the token check drops them on their next use.
    pub fn apply_write(&mut self, coll: &CollKey, upserted: &[VectorRecord], deleted: &[&str], version: u64) {
        let touched = |id: &str| upserted.iter().any(|r| r.id == id) || deleted.contains(&id);
        let mut stale = Vec::new();
        for (key, slot) in self.entries.iter_mut().filter(|(k, _)| k.collection() == Some(coll)) {
            let next = slot.token.version + 1 == version;
            match (key, &mut slot.value) {
                (Key::Vector(_, id), _) if next && !touched(id) => slot.token.version = version,
                (Key::Hot(_), Value::Hot(hot)) if next => {
                    hot.apply(upserted, deleted, version);
                    slot.token.version = version;
                }
                _ => stale.push(key.clone()),
            }
        }
        for key in stale {
            self.remove(&key);
        }
        // A patched hot copy may have grown: account for it.
        let key = Key::Hot(coll.clone());
        if let Some(slot) = self.remove(&key) {
            if let Value::Hot(hot) = &slot.value {
                let bytes = hot.bytes();
                self.insert(key, slot.value, bytes, slot.fetched, slot.token);
            }
        }
    }

    /// An upsert through this edge stored `records` with `result`: stamps
    /// each with the write's time, as the origin stored it, and applies it
    /// (see [`Cache::apply_write`]).
    pub fn apply_upsert(&mut self, coll: &CollKey, mut records: Vec<VectorRecord>, result: &WriteResult) {
        for record in &mut records {
            record.written_at_us = result.at_us;
        }
        self.apply_write(coll, &records, &[], result.version);
    }

    /// `coll` was dropped or replaced: forget everything about it.
    pub fn forget_collection(&mut self, coll: &CollKey) {
        let stale: Vec<Key> = self
            .entries
            .keys()
            .filter(|k| k.collection() == Some(coll))
            .cloned()
            .collect();
        for key in stale {
            self.remove(&key);
        }
        self.searches.remove(coll);
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use std::time::Duration;

    #[test]
    fn writes_invalidate_and_patch_hot_collections() {
        let mut cache = Cache::new(CacheConfig::default());
        let c = coll("c");
        cache.put_search(&c, &request(vec![1.0, 0.0]), result("a"), None, T1);
        cache.put_vector(&c, record("a", vec![1.0, 0.0]), T1);
        cache.put_vector(&c, record("z", vec![0.5, 0.5]), T1);
        cache.put_hot(
            &c,
            HotCollection::new(Metric::Cosine, 2, 1, vec![record("a", vec![1.0, 0.0])]),
            T1.incarnation,
        );
        // The next write after version 1: the hot copy is patched, the
        // untouched vector kept, the touched one and the results dropped.
        cache.apply_write(&c, &[record("b", vec![0.0, 1.0])], &["a"], 2);
        assert!(cache
            .search(&c, &request(vec![1.0, 0.0]), 1.0, Some(at(2)))
            .fresh()
            .is_none());
        assert!(cache.vector(&c, "z", Some(at(2))).fresh().is_some());
        let Lookup::Fresh(hot) = cache.hot(&c, Some(at(2))) else {
            panic!("the patched hot copy is current at version 2");
        };
        assert_eq!(hot.version, 2);
        assert_eq!(hot.len(), 1);
        assert_eq!(hot.get("b").unwrap().values, vec![0.0, 1.0]);
        assert!(hot.get("a").is_none());
        // A write that skips a version (another writer got version 3): what
        // this instance holds cannot be patched and goes.
        cache.apply_write(&c, &[record("c", vec![0.0, 1.0])], &[], 4);
        assert!(matches!(cache.hot(&c, Some(at(4))), Lookup::Absent));
        assert!(!cache.has_hot(&c));
        assert!(cache.vector(&c, "z", Some(at(4))).fresh().is_none());
    }

    /// The coherence rule: an entry read under an older token than the
    /// current one is never served and is dropped; a newer or equal one is
    /// served; with no current token everything is at most stale.
    #[test]
    fn entries_older_than_the_current_token_are_never_served() {
        let mut cache = Cache::new(CacheConfig::default());
        let c = coll("c");
        let q = request(vec![1.0, 0.0]);
        cache.put_search(&c, &q, result("a"), None, at(3));
        cache.put_vector(&c, record("a", vec![1.0, 0.0]), at(3));
        cache.put_hot(
            &c,
            HotCollection::new(Metric::Cosine, 2, 3, vec![record("a", vec![1.0, 0.0])]),
            T1.incarnation,
        );
        // Equal or older current token (a host that has not heard of a later
        // write yet is never behind the entry it tagged): fresh.
        assert!(cache.search(&c, &q, 1.0, Some(at(3))).fresh().is_some());
        assert!(cache.search(&c, &q, 0.9, Some(at(2))).fresh().is_some());
        // Unknown current token: stale only.
        assert!(matches!(cache.search(&c, &q, 1.0, None), Lookup::Expired(_)));
        assert!(matches!(cache.vector(&c, "a", None), Lookup::Expired(_)));
        assert!(matches!(cache.hot(&c, None), Lookup::Expired(_)));
        // Someone else wrote version 4: nothing is served, not even as stale.
        assert!(matches!(cache.search(&c, &q, 1.0, Some(at(4))), Lookup::Absent));
        assert!(matches!(cache.search(&c, &q, 1.0, None), Lookup::Absent));
        assert!(matches!(cache.vector(&c, "a", Some(at(4))), Lookup::Absent));
        assert!(matches!(cache.hot(&c, Some(at(4))), Lookup::Absent));
        assert_eq!(cache.stats().entries, 0, "outdated entries are dropped");
        // A new incarnation (dropped and created again) outranks every
        // version of the old one, even a larger version number.
        cache.put_vector(&c, record("a", vec![1.0, 0.0]), at(9));
        let next = Token {
            incarnation: T1.incarnation + 1,
            version: 0,
        };
        assert!(matches!(cache.vector(&c, "a", Some(next)), Lookup::Absent));
        // The semantic lookup checks tokens too: of an outdated closer
        // query and a current farther one, the current one answers.
        cache.put_search(&c, &q, result("near"), None, at(3));
        cache.put_search(&c, &request(vec![1.0, 0.3]), result("far"), None, at(4));
        let found = cache.search(&c, &request(vec![1.0, 0.01]), 0.9, Some(at(4))).fresh();
        assert_eq!(found.unwrap().hits[0].id, "far");
    }

    /// Embeddings are kept per project and model, outlive writes and drops
    /// (no write changes what a model makes of a text) and the TTL, and are
    /// counted as hits and misses.
    #[test]
    fn embeddings_are_kept_per_project_and_model() {
        let mut cache = Cache::new(CacheConfig {
            ttl: Duration::from_millis(1),
            ..CacheConfig::default()
        });
        let embedded = |v: f32| Embedded {
            model: "m".into(),
            vector: vec![v, 0.0],
        };
        cache.put_embedding("p1", "m", "hello", embedded(1.0));
        cache.put_embedding("p2", "m", "hello", embedded(2.0));
        cache.apply_write(&coll("c"), &[record("a", vec![1.0, 0.0])], &[], 9);
        cache.forget_collection(&coll("c"));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.embedding("p1", "m", "hello"), Some(embedded(1.0)));
        assert_eq!(cache.embedding("p2", "m", "hello"), Some(embedded(2.0)));
        assert_eq!(cache.embedding("p1", "other", "hello"), None);
        assert_eq!(cache.embedding("p1", "m", "hello "), None);
        let stats = cache.stats();
        assert_eq!((stats.embedding_hits, stats.embedding_misses), (2, 2));
    }

    /// A result in the last quarter of its TTL is refreshed by one request
    /// (the first full lookup finds it absent and goes to the origin) while
    /// every other is still answered from it, by its body too; its TTL
    /// still ends it. A description has no TTL: its token alone says
    /// whether it is current.
    #[test]
    fn one_request_refreshes_a_result_before_its_ttl_ends() {
        let ttl = Duration::from_secs(60);
        // Every entry fetched `by` earlier than it was.
        let age = |cache: &mut Cache, by: Duration| {
            for (_, slot) in cache.entries.iter_mut() {
                slot.fetched -= by;
            }
        };
        let mut cache = Cache::new(CacheConfig {
            ttl,
            ..CacheConfig::default()
        });
        let (c, q) = (coll("c"), request(vec![1.0, 0.0]));
        let body = BodyKey::of(br#"{"vector":[1,0]}"#);
        cache.put_search(&c, &q, result("a"), Some(body), T1);
        cache.put_info(&c, large_info("c"), T1);
        // Before the last quarter, no refresh.
        assert!(cache.search(&c, &q, 1.0, Some(T1)).fresh().is_some());
        age(&mut cache, ttl * 3 / 4);
        // The body replay leaves the choice to the full lookup ...
        assert!(cache.search_by_body(&c, body, T1).is_none());
        // ... whose first caller refreshes,
        assert!(cache.claim_result_refresh(&c, &q, T1));
        assert!(!cache.claim_result_refresh(&c, &q, T1));
        // and the rest are answered from the entry, by vector or by body.
        assert!(cache.search(&c, &q, 1.0, Some(T1)).fresh().is_some());
        assert!(cache.search_by_body(&c, body, T1).is_some());
        // A refresh whose origin call failed is given back for another to try.
        cache.release_result_refresh(&c, &q);
        assert!(cache.search_by_body(&c, body, T1).is_none());
        assert!(cache.claim_result_refresh(&c, &q, T1));
        // Without an answer to the refresh, the TTL ends the entry.
        age(&mut cache, ttl / 4);
        assert!(matches!(cache.search(&c, &q, 1.0, Some(T1)), Lookup::Expired(_)));
        // The refresh's answer starts a new TTL, with no refresh handed out.
        cache.put_search(&c, &q, result("b"), Some(body), T1);
        assert_eq!(cache.search(&c, &q, 1.0, Some(T1)).fresh().unwrap().hits[0].id, "b");
        // The description outlived the TTL under its token, not past a newer one.
        assert!(matches!(cache.info(&c, Some(T1)), Lookup::Fresh(_)));
        assert!(matches!(cache.info(&c, Some(at(2))), Lookup::Absent));
    }

    #[test]
    fn ttl_expiry() {
        let mut cache = Cache::new(CacheConfig {
            ttl: Duration::from_millis(20),
            ..CacheConfig::default()
        });
        cache.put_vector(&coll("c"), record("a", vec![1.0]), T1);
        assert!(matches!(cache.vector(&coll("c"), "a", Some(T1)), Lookup::Fresh(_)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(matches!(cache.vector(&coll("c"), "a", Some(T1)), Lookup::Expired(_)));
    }
}
