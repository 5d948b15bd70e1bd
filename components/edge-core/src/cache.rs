//! The hot-vector cache, kept in the component instance's memory.
//!
//! It holds, within a byte budget, four kinds of entry, each keyed by
//! project and collection so that no entry is ever served across projects:
//! - collection descriptions (dims, version, count, similarity threshold);
//! - vectors by id, for `GET …/vectors/{id}`;
//! - search results, grouped by (k, filter, include flags); a query hits an
//!   entry of its group whose query vector has cosine similarity ≥ the
//!   collection's threshold (1.0 = the same vector);
//! - hot collections: small collections loaded whole and searched exactly.
//!
//! Eviction is least-recently-used over whole entries, by bytes.
//!
//! Coherence: every entry carries the collection's [`Token`] it was read
//! under, and every lookup passes the current token, which the origin
//! answers from memory. An entry older than the current token is dropped,
//! never served, so a write acknowledged anywhere is seen by the next read
//! in every instance. When the current token cannot be learned (the origin
//! is unreachable), entries are only served as stale. Entries other than
//! hot copies also carry the time they were fetched and are refetched past
//! the TTL. A write through this instance patches its hot copy and keeps
//! its untouched vectors when nothing else was written in between.

use crate::filter::Filter;
use crate::kernels;
use crate::model::*;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Cache settings; the host passes them as environment variables.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// `ZERODB_CACHE_BYTES`: the most the cache holds (default 64 MiB).
    pub budget_bytes: usize,
    /// `ZERODB_CACHE_TTL_MS`: how long an entry is fresh (default 30 s).
    pub ttl: Duration,
    /// `ZERODB_HOT_COLLECTION_MAX_VECTORS`: largest collection loaded whole (default 20 000).
    pub hot_max_vectors: u64,
    /// `ZERODB_HOT_COLLECTION_ADMIT_AFTER`: searches of a collection before
    /// it is loaded whole (default 2).
    pub hot_admit_after: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            budget_bytes: 64 << 20,
            ttl: Duration::from_secs(30),
            hot_max_vectors: 20_000,
            hot_admit_after: 2,
        }
    }
}

impl CacheConfig {
    /// Reads the `ZERODB_*` variables; a missing or unparsable one keeps its default.
    pub fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
            std::env::var(name).ok()?.parse().ok()
        }
        let d = CacheConfig::default();
        CacheConfig {
            budget_bytes: var("ZERODB_CACHE_BYTES").unwrap_or(d.budget_bytes),
            ttl: var("ZERODB_CACHE_TTL_MS").map_or(d.ttl, Duration::from_millis),
            hot_max_vectors: var("ZERODB_HOT_COLLECTION_MAX_VECTORS").unwrap_or(d.hot_max_vectors),
            hot_admit_after: var("ZERODB_HOT_COLLECTION_ADMIT_AFTER").unwrap_or(d.hot_admit_after),
        }
    }
}

/// Counters of one instance's cache, shown at `/v1/health`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
    pub budget_bytes: usize,
    pub hot_collections: usize,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub bypasses: u64,
    pub evictions: u64,
}

/// A collection of a project.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollKey {
    pub project: String,
    pub name: String,
}

/// What makes two searches answerable by the same result, besides the vector.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Shape {
    k: u32,
    filter: Option<String>,
    include_values: bool,
    include_metadata: bool,
}

/// Searches of one collection and shape: the result entries a new query
/// may be answered from.
type Group = (CollKey, Shape);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Info(CollKey),
    Vector(CollKey, String),
    /// One cached search, by a hash of its query vector's bits.
    Result(CollKey, Shape, u64),
    Hot(CollKey),
}

impl Key {
    fn collection(&self) -> &CollKey {
        match self {
            Key::Info(c) | Key::Vector(c, _) | Key::Result(c, ..) | Key::Hot(c) => c,
        }
    }
}

struct CachedQuery {
    vector: Vec<f32>,
    norm: f32,
    result: SearchResult,
    /// The request body this answer was fetched for (see [`BodyKey`]).
    body: Option<BodyKey>,
}

/// A 128-bit fingerprint of a search request's body. The same bytes sent
/// again are the same request, so it is answered without parsing the body
/// (parsing 1536 floats is most of a hit's time in the component).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BodyKey(u64, u64);

impl BodyKey {
    pub fn of(body: &[u8]) -> BodyKey {
        use std::hash::{Hash, Hasher};
        let half = |salt: u64| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            salt.hash(&mut h);
            body.hash(&mut h);
            h.finish()
        };
        BodyKey(half(0x5a17_0001), half(0x5a17_0002))
    }
}

enum Value {
    Info(CollectionInfo),
    Vector(VectorRecord),
    Result(CachedQuery),
    Hot(HotCollection),
}

struct Slot {
    value: Value,
    bytes: usize,
    fetched: Instant,
    /// The collection's token when the value was read.
    token: Token,
    tick: u64,
}

/// A cache answer: fresh, or servable only as `stale` (past its TTL, or
/// looked up without a current token).
pub enum Lookup<T> {
    Fresh(T),
    Expired(T),
    Absent,
}

impl<T> Lookup<T> {
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

/// Fixed per-entry overhead counted against the budget (map, LRU, slot).
const ENTRY_OVERHEAD: usize = 160;
/// Most cached queries compared with a new one under a semantic threshold.
const MAX_QUERIES_PER_GROUP: usize = 256;

pub struct Cache {
    config: CacheConfig,
    map: HashMap<Key, Slot>,
    lru: BTreeMap<u64, Key>,
    /// Query hashes of the result entries of each group, oldest first.
    groups: HashMap<Group, Vec<u64>>,
    /// Result entries by the request body they were fetched for.
    bodies: HashMap<(CollKey, BodyKey), Key>,
    tick: u64,
    bytes: usize,
    searches: HashMap<CollKey, u32>,
    pub stats: CacheStats,
}

fn vector_hash(v: &[f32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for x in v {
        x.to_bits().hash(&mut h);
    }
    h.finish()
}

fn vector_bytes(v: &[f32]) -> usize {
    v.len() * 4
}

fn result_bytes(r: &SearchResult) -> usize {
    r.hits
        .iter()
        .map(|h| {
            48 + h.id.len()
                + h.metadata.as_ref().map_or(0, String::len)
                + h.values.as_ref().map_or(0, |v| vector_bytes(v))
        })
        .sum()
}

fn query_bytes(q: &CachedQuery) -> usize {
    64 + vector_bytes(&q.vector) + result_bytes(&q.result)
}

impl Cache {
    pub fn new(config: CacheConfig) -> Self {
        let stats = CacheStats {
            budget_bytes: config.budget_bytes,
            ..CacheStats::default()
        };
        Cache {
            config,
            map: HashMap::new(),
            lru: BTreeMap::new(),
            groups: HashMap::new(),
            bodies: HashMap::new(),
            tick: 0,
            bytes: 0,
            searches: HashMap::new(),
            stats,
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.map.len(),
            bytes: self.bytes,
            hot_collections: self.map.keys().filter(|k| matches!(k, Key::Hot(_))).count(),
            ..self.stats.clone()
        }
    }

    /// Marks `key` as just used and returns its slot.
    fn touch(&mut self, key: &Key) -> Option<&mut Slot> {
        let slot = self.map.get_mut(key)?;
        self.lru.remove(&slot.tick);
        self.tick += 1;
        slot.tick = self.tick;
        self.lru.insert(self.tick, key.clone());
        Some(slot)
    }

    fn remove(&mut self, key: &Key) -> Option<Slot> {
        let slot = self.map.remove(key)?;
        self.lru.remove(&slot.tick);
        self.bytes -= slot.bytes;
        if let Key::Result(coll, shape, hash) = key {
            if let Value::Result(CachedQuery { body: Some(body), .. }) = &slot.value {
                self.bodies.remove(&(coll.clone(), *body));
            }
            let group = (coll.clone(), shape.clone());
            if let Some(hashes) = self.groups.get_mut(&group) {
                hashes.retain(|h| h != hash);
                if hashes.is_empty() {
                    self.groups.remove(&group);
                }
            }
        }
        Some(slot)
    }

    /// Stores `value` under `key`, read under `token`, evicting
    /// least-recently-used entries to stay within the budget. A value larger
    /// than the budget is not admitted.
    fn insert(&mut self, key: Key, value: Value, bytes: usize, fetched: Instant, token: Token) {
        let bytes = bytes + ENTRY_OVERHEAD;
        self.remove(&key);
        if bytes > self.config.budget_bytes {
            return;
        }
        while self.bytes + bytes > self.config.budget_bytes {
            let Some((_, oldest)) = self.lru.first_key_value().map(|(t, k)| (*t, k.clone())) else {
                break;
            };
            self.remove(&oldest);
            self.stats.evictions += 1;
        }
        self.tick += 1;
        self.lru.insert(self.tick, key.clone());
        self.map.insert(
            key,
            Slot {
                value,
                bytes,
                fetched,
                token,
                tick: self.tick,
            },
        );
        self.bytes += bytes;
    }

    /// Checks `key` against the collection's current token `now` (none:
    /// unknown, so nothing is fresh) and marks it used: whether it is fresh,
    /// or none when it is absent. An entry older than `now` is dropped.
    fn check(&mut self, key: &Key, now: Option<Token>) -> Option<bool> {
        let ttl = self.config.ttl;
        if now.is_some_and(|now| self.map.get(key).is_some_and(|slot| slot.token < now)) {
            self.remove(key);
            return None;
        }
        let slot = self.touch(key)?;
        Some(now.is_some() && (matches!(key, Key::Hot(_)) || slot.fetched.elapsed() < ttl))
    }

    /// Looks `key` up against the current token `now` (see [`Self::check`]).
    fn lookup<T>(&mut self, key: &Key, now: Option<Token>, get: impl FnOnce(&Value) -> Option<T>) -> Lookup<T> {
        let Some(fresh) = self.check(key, now) else {
            return Lookup::Absent;
        };
        match self.map.get(key).and_then(|slot| get(&slot.value)) {
            Some(v) if fresh => Lookup::Fresh(v),
            Some(v) => Lookup::Expired(v),
            None => Lookup::Absent,
        }
    }

    pub fn info(&mut self, coll: &CollKey, now: Option<Token>) -> Lookup<CollectionInfo> {
        self.lookup(&Key::Info(coll.clone()), now, |v| match v {
            Value::Info(info) => Some(info.clone()),
            _ => None,
        })
    }

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

    pub fn put_vector(&mut self, coll: &CollKey, record: VectorRecord, token: Token) {
        let bytes = 32 + record.id.len() + vector_bytes(&record.values) + record.metadata.len();
        let key = Key::Vector(coll.clone(), record.id.clone());
        self.insert(key, Value::Vector(record), bytes, Instant::now(), token);
    }

    /// A cached result for `request`: the entry of the same query, or (under a
    /// semantic threshold below 1) the closest cached query of the same shape
    /// whose cosine similarity to it is at least `similarity`.
    pub fn search(
        &mut self,
        coll: &CollKey,
        request: &SearchRequest,
        similarity: f32,
        now: Option<Token>,
    ) -> Lookup<SearchResult> {
        let (group, hash) = result_key(coll, request);
        let exact = Key::Result(group.0.clone(), group.1.clone(), hash);
        let found = self.lookup(&exact, now, |v| match v {
            Value::Result(q) if q.vector == request.vector => Some(q.result.clone()),
            _ => None,
        });
        if !matches!(found, Lookup::Absent) || similarity >= 1.0 {
            return found;
        }
        let norm = kernels::norm(&request.vector);
        let candidates = self.groups.get(&group).cloned().unwrap_or_default();
        let best = candidates
            .into_iter()
            .filter_map(|h| {
                let slot = self.map.get(&Key::Result(group.0.clone(), group.1.clone(), h))?;
                if now.is_some_and(|now| slot.token < now) {
                    return None;
                }
                let Value::Result(q) = &slot.value else { return None };
                if q.vector.len() != request.vector.len() {
                    return None;
                }
                let sim = kernels::cosine_from(kernels::dot(&q.vector, &request.vector), q.norm, norm);
                (sim >= similarity).then_some((sim, h))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((_, h)) => self.lookup(&Key::Result(group.0, group.1, h), now, |v| match v {
                Value::Result(q) => Some(q.result.clone()),
                _ => None,
            }),
            None => Lookup::Absent,
        }
    }

    /// A fresh answer fetched for exactly this request body, unless the
    /// collection is due to be loaded whole (then the full path runs).
    pub fn search_by_body(&mut self, coll: &CollKey, body: BodyKey, now: Token) -> Option<SearchResult> {
        let key = self.bodies.get(&(coll.clone(), body))?.clone();
        let info = self.info(coll, Some(now)).fresh()?;
        if self.admit_hot(coll, &info) {
            return None;
        }
        self.lookup(&key, Some(now), |v| match v {
            Value::Result(q) => Some(q.result.clone()),
            _ => None,
        })
        .fresh()
    }

    /// Caches the answer to `request`, read under `token`; `body` is the
    /// request body it came in, for [`Self::search_by_body`] (none for
    /// requests that must not be replayed).
    pub fn put_search(
        &mut self,
        coll: &CollKey,
        request: &SearchRequest,
        result: SearchResult,
        body: Option<BodyKey>,
        token: Token,
    ) {
        let (group, hash) = result_key(coll, request);
        let query = CachedQuery {
            norm: kernels::norm(&request.vector),
            vector: request.vector.clone(),
            result,
            body,
        };
        let bytes = query_bytes(&query) + if body.is_some() { 96 } else { 0 };
        let key = Key::Result(group.0.clone(), group.1.clone(), hash);
        self.insert(key.clone(), Value::Result(query), bytes, Instant::now(), token);
        if !self.map.contains_key(&key) {
            return;
        }
        if let Some(body) = body {
            self.bodies.insert((coll.clone(), body), key.clone());
        }
        let hashes = self.groups.entry(group.clone()).or_default();
        hashes.retain(|h| *h != hash);
        hashes.push(hash);
        // Keep semantic lookups bounded: the group's oldest entry goes.
        if hashes.len() > MAX_QUERIES_PER_GROUP {
            let oldest = hashes[0];
            self.remove(&Key::Result(group.0, group.1, oldest));
            self.stats.evictions += 1;
        }
    }

    /// Counts a search of `coll`; true once the collection is searched often
    /// enough to be worth loading whole (the hot-collection admission policy).
    pub fn admit_hot(&mut self, coll: &CollKey, info: &CollectionInfo) -> bool {
        if info.count == 0 || info.count > self.config.hot_max_vectors || self.map.contains_key(&Key::Hot(coll.clone()))
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

    /// The hot copy of `coll`, checked against the current token `now`
    /// like every entry (no TTL: the token alone says whether it is current).
    pub fn hot(&mut self, coll: &CollKey, now: Option<Token>) -> Lookup<&HotCollection> {
        let key = Key::Hot(coll.clone());
        let Some(fresh) = self.check(&key, now) else {
            return Lookup::Absent;
        };
        match self.map.get(&key).map(|slot| &slot.value) {
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

    pub fn has_hot(&self, coll: &CollKey) -> bool {
        self.map.contains_key(&Key::Hot(coll.clone()))
    }

    /// A write through this edge took `coll` to `version`: drop its results,
    /// description and the touched ids. When the write was the very next
    /// one after an entry's token (nothing else was written in between), the
    /// hot copy is patched and untouched vectors are kept, both at the new
    /// version; otherwise the token check drops them on their next use.
    pub fn apply_write(&mut self, coll: &CollKey, upserted: &[VectorRecord], deleted: &[&str], version: u64) {
        let touched = |id: &str| upserted.iter().any(|r| r.id == id) || deleted.contains(&id);
        let mut stale = Vec::new();
        for (key, slot) in self.map.iter_mut().filter(|(k, _)| k.collection() == coll) {
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

    /// `coll` was dropped or replaced: forget everything about it.
    pub fn forget_collection(&mut self, coll: &CollKey) {
        let stale: Vec<Key> = self.map.keys().filter(|k| k.collection() == coll).cloned().collect();
        for key in stale {
            self.remove(&key);
        }
        self.searches.remove(coll);
    }
}

fn result_key(coll: &CollKey, request: &SearchRequest) -> (Group, u64) {
    let shape = Shape {
        k: request.k,
        filter: request.filter.clone(),
        include_values: request.include_values,
        include_metadata: request.include_metadata,
    };
    ((coll.clone(), shape), vector_hash(&request.vector))
}

/// A whole collection in memory, searched exactly with the SIMD kernels.
pub struct HotCollection {
    pub metric: Metric,
    pub dims: usize,
    pub version: u64,
    ids: Vec<String>,
    /// Row-major, `dims` floats a row.
    values: Vec<f32>,
    norms: Vec<f32>,
    /// Parsed, so that filters are evaluated without parsing; numbers keep
    /// their JSON text.
    metadata: Vec<Map<String, Json>>,
    /// Bytes of each row's metadata text, for the cache's budget.
    metadata_bytes: Vec<usize>,
    positions: HashMap<String, usize>,
}

impl HotCollection {
    pub fn new(metric: Metric, dims: usize, version: u64, records: Vec<VectorRecord>) -> Self {
        let mut hot = HotCollection {
            metric,
            dims,
            version,
            ids: Vec::with_capacity(records.len()),
            values: Vec::with_capacity(records.len() * dims),
            norms: Vec::with_capacity(records.len()),
            metadata: Vec::with_capacity(records.len()),
            metadata_bytes: Vec::with_capacity(records.len()),
            positions: HashMap::with_capacity(records.len()),
        };
        hot.apply(&records, &[], version);
        hot
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dims..(i + 1) * self.dims]
    }

    pub fn bytes(&self) -> usize {
        self.values.len() * 4
            + self.norms.len() * 4
            + self.ids.iter().map(|id| 2 * id.len() + 80).sum::<usize>()
            // A parsed document takes a few times its text.
            + 3 * self.metadata_bytes.iter().sum::<usize>()
            + 48 * self.metadata.len()
    }

    pub fn get(&self, id: &str) -> Option<VectorRecord> {
        let &i = self.positions.get(id)?;
        Some(VectorRecord {
            id: id.to_string(),
            values: self.row(i).to_vec(),
            metadata: metadata_text(&self.metadata[i]),
        })
    }

    /// Applies writes made through the edge; the caller has validated dims.
    pub fn apply(&mut self, upserted: &[VectorRecord], deleted: &[&str], version: u64) {
        for r in upserted.iter().filter(|r| r.values.len() == self.dims) {
            let norm = kernels::norm(&r.values);
            let metadata = serde_json::from_str(&r.metadata).unwrap_or_default();
            match self.positions.get(&r.id) {
                Some(&i) => {
                    self.values[i * self.dims..(i + 1) * self.dims].copy_from_slice(&r.values);
                    self.norms[i] = norm;
                    self.metadata[i] = metadata;
                    self.metadata_bytes[i] = r.metadata.len();
                }
                None => {
                    self.positions.insert(r.id.clone(), self.ids.len());
                    self.ids.push(r.id.clone());
                    self.values.extend_from_slice(&r.values);
                    self.norms.push(norm);
                    self.metadata.push(metadata);
                    self.metadata_bytes.push(r.metadata.len());
                }
            }
        }
        for id in deleted {
            let Some(i) = self.positions.remove(*id) else { continue };
            let last = self.ids.len() - 1;
            self.ids.swap_remove(i);
            self.norms.swap_remove(i);
            self.metadata.swap_remove(i);
            self.metadata_bytes.swap_remove(i);
            if i != last {
                let (head, tail) = self.values.split_at_mut(last * self.dims);
                head[i * self.dims..(i + 1) * self.dims].copy_from_slice(&tail[..self.dims]);
                self.positions.insert(self.ids[i].clone(), i);
            }
            self.values.truncate(last * self.dims);
        }
        self.version = version;
    }

    /// Exact top-k by the collection's metric among the rows that match
    /// `filter`, best first, scored like the origin (cosine similarity, L2
    /// distance, inner product). A row the metric cannot score (stored
    /// before vectors were checked per metric) is left out, as the origin
    /// leaves it out: no score is ever NaN or infinite.
    pub fn search(&self, request: &SearchRequest, filter: Option<&Filter>) -> SearchResult {
        let query = &request.vector;
        let query_norm = kernels::norm(query);
        // Sort key: lower is better.
        let mut scored: Vec<(f32, u32)> = (0..self.len())
            .filter(|&i| filter.is_none_or(|f| f.matches(&self.metadata[i])))
            .map(|i| {
                let row = self.row(i);
                let key = match self.metric {
                    Metric::Cosine => -kernels::cosine_from(kernels::dot(query, row), query_norm, self.norms[i]),
                    Metric::L2 => kernels::l2_squared(query, row),
                    Metric::Dot => -kernels::dot(query, row),
                };
                (key, i as u32)
            })
            .filter(|(key, _)| key.is_finite())
            .collect();
        let k = (request.k as usize).min(scored.len());
        if k < scored.len() {
            scored.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0));
            scored.truncate(k);
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let hits = scored
            .into_iter()
            .map(|(key, i)| {
                let i = i as usize;
                SearchHit {
                    id: self.ids[i].clone(),
                    score: match self.metric {
                        Metric::Cosine | Metric::Dot => -key,
                        Metric::L2 => key.sqrt(),
                    },
                    values: request.include_values.then(|| self.row(i).to_vec()),
                    metadata: request.include_metadata.then(|| metadata_text(&self.metadata[i])),
                }
            })
            .collect();
        SearchResult {
            hits,
            version: self.version,
        }
    }
}

/// A metadata object back to its JSON text.
fn metadata_text(metadata: &Map<String, Json>) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token every test entry is read under, unless a test says otherwise.
    const T1: Token = Token {
        incarnation: 7,
        version: 1,
    };

    fn at(version: u64) -> Token {
        Token { version, ..T1 }
    }

    fn coll(name: &str) -> CollKey {
        CollKey {
            project: "p".into(),
            name: name.into(),
        }
    }

    fn request(vector: Vec<f32>) -> SearchRequest {
        SearchRequest {
            vector,
            k: 3,
            filter: None,
            include_values: false,
            include_metadata: true,
        }
    }

    fn result(id: &str) -> SearchResult {
        SearchResult {
            hits: vec![SearchHit {
                id: id.into(),
                score: 1.0,
                values: None,
                metadata: None,
            }],
            version: 1,
        }
    }

    fn record(id: &str, values: Vec<f32>) -> VectorRecord {
        VectorRecord {
            id: id.into(),
            values,
            metadata: "{}".into(),
        }
    }

    #[test]
    fn exact_and_semantic_result_hits() {
        let mut cache = Cache::new(CacheConfig::default());
        cache.put_search(&coll("c"), &request(vec![1.0, 0.0]), result("a"), None, T1);
        assert!(cache
            .search(&coll("c"), &request(vec![1.0, 0.0]), 1.0, Some(T1))
            .fresh()
            .is_some());
        // Close but not equal: only under a semantic threshold.
        let near = request(vec![1.0, 0.05]);
        assert!(cache.search(&coll("c"), &near, 1.0, Some(T1)).fresh().is_none());
        assert!(cache.search(&coll("c"), &near, 0.99, Some(T1)).fresh().is_some());
        // Other collection or project: never.
        assert!(cache
            .search(&coll("d"), &request(vec![1.0, 0.0]), 1.0, Some(T1))
            .fresh()
            .is_none());
        let other = CollKey {
            project: "q".into(),
            name: "c".into(),
        };
        assert!(cache
            .search(&other, &request(vec![1.0, 0.0]), 1.0, Some(T1))
            .fresh()
            .is_none());
    }

    #[test]
    fn a_repeated_body_is_answered_until_a_write() {
        let mut cache = Cache::new(CacheConfig::default());
        let c = coll("c");
        let info = CollectionInfo {
            name: "c".into(),
            spec: CollectionSpec {
                dims: 2,
                metric: Metric::Cosine,
                index: IndexKind::Hnsw,
                cache_similarity: 1.0,
            },
            count: 100_000,
            version: 1,
        };
        cache.put_info(&c, info, T1);
        let body = BodyKey::of(br#"{"vector":[1,0]}"#);
        cache.put_search(&c, &request(vec![1.0, 0.0]), result("a"), Some(body), T1);
        assert_eq!(cache.search_by_body(&c, body, T1).unwrap().hits[0].id, "a");
        assert!(cache
            .search_by_body(&c, BodyKey::of(br#"{"vector":[1, 0]}"#), T1)
            .is_none());
        assert!(cache.search_by_body(&coll("d"), body, T1).is_none());
        cache.apply_write(&c, &[record("b", vec![0.0, 1.0])], &[], 2);
        assert!(cache.search_by_body(&c, body, at(2)).is_none());
        assert!(cache.bodies.is_empty());
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

    /// Whether the cache holds vector `id` of `coll`, without touching it
    /// (a lookup would move it in the LRU order).
    fn holds_vector(cache: &Cache, coll: &CollKey, id: &str) -> bool {
        cache.map.contains_key(&Key::Vector(coll.clone(), id.into()))
    }

    /// Whether the cache holds a result entry for `request`, without touching it.
    fn holds_result(cache: &Cache, coll: &CollKey, request: &SearchRequest) -> bool {
        let ((coll, shape), hash) = result_key(coll, request);
        cache.map.contains_key(&Key::Result(coll, shape, hash))
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

    /// A body fingerprint is kept per project and collection: the same
    /// bytes sent to a collection of the same name in another project are
    /// never answered from the first project's entry.
    #[test]
    fn a_body_is_never_answered_across_projects() {
        let mut cache = Cache::new(CacheConfig::default());
        let p = coll("c");
        let q = CollKey {
            project: "q".into(),
            name: "c".into(),
        };
        let info = CollectionInfo {
            name: "c".into(),
            spec: CollectionSpec {
                dims: 2,
                metric: Metric::Cosine,
                index: IndexKind::Hnsw,
                cache_similarity: 1.0,
            },
            count: 100_000,
            version: 1,
        };
        // Both projects' descriptions are cached, so a miss is the key's doing.
        cache.put_info(&p, info.clone(), T1);
        cache.put_info(&q, info, T1);
        let body = BodyKey::of(br#"{"vector":[1,0]}"#);
        cache.put_search(&p, &request(vec![1.0, 0.0]), result("from-p"), Some(body), T1);
        assert_eq!(cache.search_by_body(&p, body, T1).unwrap().hits[0].id, "from-p");
        assert!(cache.search_by_body(&q, body, T1).is_none());
        // Each project answers the same bytes with its own entry.
        cache.put_search(&q, &request(vec![1.0, 0.0]), result("from-q"), Some(body), T1);
        assert_eq!(cache.search_by_body(&q, body, T1).unwrap().hits[0].id, "from-q");
        assert_eq!(cache.search_by_body(&p, body, T1).unwrap().hits[0].id, "from-p");
        // Dropping one project's collection leaves the other's entry.
        cache.forget_collection(&q);
        assert!(cache.search_by_body(&q, body, T1).is_none());
        assert_eq!(cache.search_by_body(&p, body, T1).unwrap().hits[0].id, "from-p");
    }

    /// A result answers only searches of its shape: the same vector with
    /// another k, filter or include flag is a miss, exact or semantic.
    #[test]
    fn results_are_keyed_by_k_filter_and_include_flags() {
        let mut cache = Cache::new(CacheConfig::default());
        let c = coll("c");
        let base = SearchRequest {
            vector: vec![1.0, 0.0],
            k: 3,
            filter: Some(r#"{"tag":"a"}"#.into()),
            include_values: false,
            include_metadata: true,
        };
        cache.put_search(&c, &base, result("a"), None, T1);
        let variants = [
            SearchRequest { k: 4, ..base.clone() },
            SearchRequest {
                filter: None,
                ..base.clone()
            },
            SearchRequest {
                filter: Some(r#"{"tag":"b"}"#.into()),
                ..base.clone()
            },
            SearchRequest {
                include_values: true,
                ..base.clone()
            },
            SearchRequest {
                include_metadata: false,
                ..base.clone()
            },
        ];
        for variant in &variants {
            for similarity in [1.0, 0.5] {
                assert!(
                    matches!(cache.search(&c, variant, similarity, Some(T1)), Lookup::Absent),
                    "{variant:?} at similarity {similarity}"
                );
            }
        }
        // The same shape hits, exactly and (a nearby vector) semantically.
        assert_eq!(cache.search(&c, &base, 1.0, Some(T1)).fresh().unwrap().hits[0].id, "a");
        let near = SearchRequest {
            vector: vec![1.0, 0.01],
            ..base.clone()
        };
        assert_eq!(cache.search(&c, &near, 0.99, Some(T1)).fresh().unwrap().hits[0].id, "a");
    }

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

    /// A hot collection's exact search against an oracle written here in
    /// f64 (cosine similarity, Euclidean distance, inner product) over 500
    /// rows × 16 dims: 50 queries, k of 1, 5 and 20, every metric, with and
    /// without equality filters, which the oracle applies to the rows'
    /// attributes directly (not through JSON or [`Filter`]).
    #[test]
    fn hot_search_is_exact() {
        let (rows, dims) = (500usize, 16usize);
        let mut state = 0x0DDB_1A5E_5BAD_5EEDu64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let tag = |i: usize| format!("t{}", i % 4);
        let n = |i: usize| ((i / 4) % 3) as i64;
        let records: Vec<VectorRecord> = (0..rows)
            .map(|i| VectorRecord {
                id: format!("r{i}"),
                values: (0..dims).map(|_| next()).collect(),
                metadata: format!(r#"{{"tag":"{}","n":{},"i":{i}}}"#, tag(i), n(i)),
            })
            .collect();
        let queries: Vec<Vec<f32>> = (0..50).map(|_| (0..dims).map(|_| next()).collect()).collect();
        // (filter text, the tag and n a row must have). `2.0` equals the
        // integer 2 under jsonb equality; "t9" matches no row.
        let filters: [(Option<&str>, Option<&str>, Option<i64>); 5] = [
            (None, None, None),
            (Some(r#"{"tag":"t1"}"#), Some("t1"), None),
            (Some(r#"{"tag":"t2","n":1}"#), Some("t2"), Some(1)),
            (Some(r#"{"n":2.0}"#), None, Some(2)),
            (Some(r#"{"tag":"t9"}"#), Some("t9"), None),
        ];
        let f64s = |v: &[f32]| v.iter().map(|x| f64::from(*x)).collect::<Vec<f64>>();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let mut checked = 0;
        for metric in [Metric::Cosine, Metric::L2, Metric::Dot] {
            let hot = HotCollection::new(metric, dims, 1, records.clone());
            for (qi, query) in queries.iter().enumerate() {
                let q = f64s(query);
                for (text, want_tag, want_n) in filters {
                    // The oracle: (score, row), best first.
                    let mut expected: Vec<(f64, usize)> = (0..rows)
                        .filter(|&i| want_tag.is_none_or(|t| tag(i) == t) && want_n.is_none_or(|v| n(i) == v))
                        .map(|i| {
                            let r = f64s(&records[i].values);
                            let score = match metric {
                                Metric::Cosine => dot(&q, &r) / (dot(&q, &q).sqrt() * dot(&r, &r).sqrt()),
                                Metric::L2 => q.iter().zip(&r).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt(),
                                Metric::Dot => dot(&q, &r),
                            };
                            (score, i)
                        })
                        .collect();
                    match metric {
                        Metric::L2 => expected.sort_by(|a, b| a.0.total_cmp(&b.0)),
                        _ => expected.sort_by(|a, b| b.0.total_cmp(&a.0)),
                    }
                    let filter = text.map(|t| Filter::parse(t).unwrap());
                    for k in [1u32, 5, 20] {
                        let request = SearchRequest {
                            vector: query.clone(),
                            k,
                            filter: text.map(Into::into),
                            include_values: qi % 2 == 0,
                            include_metadata: qi % 3 == 0,
                        };
                        let found = hot.search(&request, filter.as_ref());
                        let what = format!("{metric:?}, query {qi}, filter {text:?}, k {k}");
                        assert_eq!(found.version, 1);
                        assert_eq!(found.hits.len(), expected.len().min(k as usize), "{what}");
                        for (at, hit) in found.hits.iter().enumerate() {
                            let (score, row) = expected[at];
                            assert!(
                                (f64::from(hit.score) - score).abs() <= 1e-5,
                                "{what}: hit {at} scores {} where {score} is expected",
                                hit.score
                            );
                            // Rows scored within 1e-6 of each other may come in
                            // either order; any other row is in its exact place.
                            let tied: Vec<String> = expected
                                .iter()
                                .filter(|(s, _)| (s - score).abs() <= 1e-6)
                                .map(|(_, i)| format!("r{i}"))
                                .collect();
                            if tied.len() == 1 {
                                assert_eq!(hit.id, format!("r{row}"), "{what}: hit {at}");
                            } else {
                                assert!(
                                    tied.contains(&hit.id),
                                    "{what}: hit {at} is {}, not one of {tied:?}",
                                    hit.id
                                );
                            }
                            let i: usize = hit.id[1..].parse().unwrap();
                            assert_eq!(
                                hit.values.as_ref(),
                                request.include_values.then_some(&records[i].values)
                            );
                            let metadata = hit
                                .metadata
                                .as_deref()
                                .map(|m| serde_json::from_str::<Json>(m).unwrap());
                            let want = serde_json::from_str::<Json>(&records[i].metadata).unwrap();
                            assert_eq!(metadata, request.include_metadata.then_some(want), "{what}");
                        }
                        let mut ids: Vec<&str> = found.hits.iter().map(|h| h.id.as_str()).collect();
                        ids.sort_unstable();
                        ids.dedup();
                        assert_eq!(ids.len(), found.hits.len(), "{what}: a row is returned twice");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 50 * 5 * 3);
    }
}
