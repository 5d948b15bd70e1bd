//! Cached search results: entries by (collection, shape, query hash),
//! their groups for the semantic lookup, and the index of request bodies
//! they were fetched for.

use super::keys::{result_key, BodyKey, CollKey, Group, Key};
use super::lru::Slot;
use super::{Cache, Lookup, Value};
use crate::kernels;
use crate::model::*;
use std::time::Instant;

/// Most cached queries compared with a new one under a semantic threshold.
const MAX_QUERIES_PER_GROUP: usize = 256;

/// One cached search: its query vector (and norm, for the semantic lookup)
/// and the answer.
pub(super) struct CachedQuery {
    vector: Vec<f32>,
    norm: f32,
    result: SearchResult,
    /// The request body this answer was fetched for (see [`BodyKey`]).
    body: Option<BodyKey>,
}

/// Bytes of a vector's floats.
pub(super) fn vector_bytes(v: &[f32]) -> usize {
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
    /// Forgets the group and body index entries of a result entry that left
    /// the cache (removed or evicted); other entries have none.
    pub(super) fn unindex(&mut self, key: &Key, slot: &Slot<Value>) {
        if let Key::Result(coll, shape, hash) = key {
            if let Value::Result(CachedQuery { body: Some(body), .. }) = &slot.value {
                self.bodies.remove(&(coll.clone(), *body));
            }
            let group: Group = (coll.clone(), shape.clone());
            if let Some(hashes) = self.groups.get_mut(&group) {
                hashes.retain(|h| h != hash);
                if hashes.is_empty() {
                    self.groups.remove(&group);
                }
            }
        }
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
        let exact = Key::result(&group, hash);
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
                let slot = self.entries.get(&Key::result(&group, h))?;
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

    /// True when this request is the one to refresh the entry of exactly
    /// `request` before its TTL runs out (see [`Cache::claim_refresh`]): it
    /// asks the origin, while [`Self::search`] goes on answering the others.
    pub fn claim_result_refresh(&mut self, coll: &CollKey, request: &SearchRequest, now: Token) -> bool {
        let (group, hash) = result_key(coll, request);
        self.claim_refresh(&Key::Result(group.0, group.1, hash), now)
    }

    /// Gives back a refresh claimed with [`Self::claim_result_refresh`] whose
    /// origin call failed, so that another request may try.
    pub fn release_result_refresh(&mut self, coll: &CollKey, request: &SearchRequest) {
        let (group, hash) = result_key(coll, request);
        self.release_refresh(&Key::Result(group.0, group.1, hash));
    }

    /// A fresh answer fetched for exactly this request body, unless the
    /// collection is due to be loaded whole (then the full path runs).
    pub fn search_by_body(&mut self, coll: &CollKey, body: BodyKey, now: Token) -> Option<SearchResult> {
        let key = self.bodies.get(&(coll.clone(), body))?.clone();
        // Due for a refresh: the full path elects the request that does it.
        if self.refresh_due(&key, now) {
            return None;
        }
        // A collection held whole is loaded already; any other must be
        // described, to know whether it is due to be.
        if self.hot(coll, Some(now)).fresh().is_none() {
            let info = self.info(coll, Some(now)).fresh()?;
            if self.admit_hot(coll, &info) {
                return None;
            }
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
        let key = Key::result(&group, hash);
        self.insert(key.clone(), Value::Result(query), bytes, Instant::now(), token);
        if !self.entries.contains(&key) {
            return;
        }
        if let Some(body) = body {
            self.bodies.insert((coll.clone(), body), key.clone());
        }
        let hashes = self.groups.entry(group.clone()).or_default();
        hashes.retain(|h| *h != hash);
        hashes.push(hash);
        // Keep semantic lookups bounded: the group's least recently used
        // entry goes, not its oldest, so a query asked all along stays
        // however many new ones pass through.
        if hashes.len() > MAX_QUERIES_PER_GROUP {
            let entries = &self.entries;
            let unused = hashes
                .iter()
                .copied()
                .min_by_key(|h| entries.last_used(&Key::result(&group, *h)).unwrap_or(0));
            if let Some(unused) = unused {
                self.remove(&Key::result(&group, unused));
                self.stats.evictions += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::*;
    use super::MAX_QUERIES_PER_GROUP;
    use crate::model::*;

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
        let info = large_info("c");
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
        let info = large_info("c");
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

    /// A group holds at most [`MAX_QUERIES_PER_GROUP`] queries; past it,
    /// the least recently used goes. A query asked all along stays however
    /// many new ones pass through (they went in its place when the oldest
    /// stored went first).
    #[test]
    fn a_full_group_drops_its_least_recently_used_query() {
        let mut cache = Cache::new(CacheConfig::default());
        let c = coll("c");
        let asked = request(vec![1.0, 0.0]);
        cache.put_search(&c, &asked, result("asked"), None, T1);
        let fresh = |cache: &mut Cache, q: &SearchRequest| cache.search(&c, q, 1.0, Some(T1)).fresh().is_some();
        let passing = |i: usize| request(vec![i as f32, 1.0]);
        for i in 0..3 * MAX_QUERIES_PER_GROUP {
            cache.put_search(&c, &passing(i), result("passing"), None, T1);
            assert!(
                fresh(&mut cache, &asked),
                "the query asked all along went after {i} others"
            );
        }
        assert!(!fresh(&mut cache, &passing(0)), "the least recently used stayed");
        assert!(fresh(&mut cache, &passing(3 * MAX_QUERIES_PER_GROUP - 1)));
        let group = cache.groups.values().next().unwrap().len();
        assert_eq!(group, MAX_QUERIES_PER_GROUP);
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
}
