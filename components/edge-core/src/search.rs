//! The read path: what a read may take from the cache given the collection's
//! current token, and the search itself (hot collection, then cached
//! results, then the origin; stale entries only when the origin cannot
//! answer).

use crate::cache::{BodyKey, Cache, CollKey, HotCollection, Lookup};
use crate::error::{code, ApiError, ErrorKind};
use crate::filter::Filter;
use crate::model::*;
use crate::origin::Origin;
use crate::validate;
use crate::{CacheStatus, Edge, Served};
use std::cell::RefCell;

/// Vectors per page when loading a hot collection.
const HOT_PAGE: u32 = 1000;

/// What a read may take from the cache.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Freshness {
    /// The collection's current token: entries read under it are fresh,
    /// and what the origin answers is cached under it.
    Current(Token),
    /// The current token cannot be learned (the origin is unreachable):
    /// cached entries may only be served as stale, and nothing is cached.
    Unknown,
    /// The cache is skipped: a `strong` read, a `min_version` the edge has
    /// not seen yet, or a collection that does not exist (the origin says so).
    Bypass,
}

impl Freshness {
    /// Learns the collection's current token from the origin (a cheap call
    /// answered from memory). `min_version` is the version a client asks
    /// to read at least.
    pub async fn of(
        session: &impl Origin,
        cache: &RefCell<Cache>,
        coll: &CollKey,
        min_version: Option<u64>,
        served: &mut Served,
    ) -> Result<Freshness, ApiError> {
        match served.origin(session.collection_token(&coll.name)).await {
            Ok(Some(token)) => Ok(Freshness::Current(token).at_least(min_version)),
            Ok(None) => {
                cache.borrow_mut().forget_collection(coll);
                Ok(Freshness::Bypass)
            }
            Err(e) if e.kind == ErrorKind::Unavailable => Ok(Freshness::Unknown),
            Err(e) => Err(e),
        }
    }

    /// This freshness for a read of at least `min_version`: the cache is
    /// skipped when the current token is behind it.
    pub fn at_least(self, min_version: Option<u64>) -> Freshness {
        match self {
            Freshness::Current(token) if min_version.is_some_and(|min| token.version < min) => Freshness::Bypass,
            other => other,
        }
    }

    /// The token lookups check entries against; none when unknown.
    pub fn now(self) -> Option<Token> {
        match self {
            Freshness::Current(token) => Some(token),
            _ => None,
        }
    }
}

/// The metric of `coll` as the cache knows it at `now` (from its hot copy
/// or its description, which a search at `now` leaves there); none when it
/// holds neither.
pub(crate) fn cached_metric(cache: &RefCell<Cache>, coll: &CollKey, now: Option<Token>) -> Option<Metric> {
    let mut cache = cache.borrow_mut();
    if let Some(hot) = cache.hot(coll, now).fresh() {
        return Some(hot.metric);
    }
    cache.info(coll, now).fresh().map(|info| info.spec.metric)
}

/// The description of `coll`: the cache's when it is current at `now`,
/// else the origin's (then kept under `now`).
pub(crate) async fn describe(
    cache: &RefCell<Cache>,
    session: &impl Origin,
    coll: &CollKey,
    now: Option<Token>,
    served: &mut Served,
) -> Result<CollectionInfo, ApiError> {
    let known = cache.borrow_mut().info(coll, now);
    if let Lookup::Fresh(info) = known {
        return Ok(info);
    }
    let info = served.origin(session.describe_collection(&coll.name)).await?;
    if let Some(token) = now {
        cache.borrow_mut().put_info(coll, info.clone(), token);
    }
    Ok(info)
}

/// Serves `fallback` as stale when `err` says the origin is unavailable;
/// otherwise passes `err` on.
pub(crate) fn stale_or<T>(fallback: Option<T>, err: ApiError, served: &mut Served) -> Result<T, ApiError> {
    match fallback {
        Some(value) if err.kind == ErrorKind::Unavailable => {
            served.cache = CacheStatus::Stale;
            Ok(value)
        }
        _ => Err(err),
    }
}

/// Refuses an answer older than the version the client asked for. A hit is
/// never older (it is served only under a token at least that version);
/// an origin answer is older only when the client names a version the
/// collection never reached (or one of an earlier incarnation), and a stale
/// one when the origin is unreachable.
pub(crate) fn at_least(result: SearchResult, min_version: Option<u64>) -> Result<SearchResult, ApiError> {
    match min_version {
        Some(min) if result.version < min => Err(ApiError::retry_after(
            code::VERSION_NOT_REACHED,
            format!(
                "the collection is at version {}, before the min_version {min} asked for",
                result.version
            ),
            1,
        )),
        _ => Ok(result),
    }
}

/// Answers a search; the second value is where it was answered (`edge` or `origin`).
pub(crate) async fn run(
    edge: &Edge,
    session: &impl Origin,
    coll: &CollKey,
    request: &SearchRequest,
    freshness: Freshness,
    body: Option<BodyKey>,
    served: &mut Served,
) -> Result<(SearchResult, &'static str), ApiError> {
    let (cache, name) = (&edge.cache, coll.name.as_str());
    let now = match freshness {
        Freshness::Bypass => {
            served.cache = CacheStatus::Bypass;
            return Ok((served.origin(session.search(name, request)).await?, "origin"));
        }
        Freshness::Current(token) => Some(token),
        Freshness::Unknown => None,
    };
    // Every borrow of the cache ends before the next await (see `Edge`).
    if let Some(answer) = from_hot_copy(&mut cache.borrow_mut(), coll, request, now, body)? {
        served.cache = CacheStatus::Hit;
        return Ok((answer, "edge"));
    }
    let info = match describe(cache, session, coll, now, served).await {
        Ok(info) => info,
        Err(e) => return stale_or(stale(&mut cache.borrow_mut(), coll, request, now), e, served).map(|r| (r, "edge")),
    };
    validate::vector(&request.vector, Some(info.spec.dims))?;
    validate::vector_for_metric(&request.vector, info.spec.metric)?;
    let similarity = info.spec.cache_similarity;
    // One request refreshes a busy entry before its TTL ends; the rest hit.
    let refresh = now.is_some_and(|now| cache.borrow_mut().claim_result_refresh(coll, request, now));
    let cached = if refresh {
        Lookup::Absent
    } else {
        cache.borrow_mut().search(coll, request, similarity, now)
    };
    let answer = match cached {
        Lookup::Fresh(result) => {
            served.cache = CacheStatus::Hit;
            (result, "edge")
        }
        _ => match served.origin(session.search(name, request)).await {
            Ok(result) => {
                served.cache = CacheStatus::Miss;
                if let Some(token) = now {
                    cache
                        .borrow_mut()
                        .put_search(coll, request, result.clone(), body, token);
                }
                (result, "origin")
            }
            Err(e) => {
                let mut cache = cache.borrow_mut();
                if refresh {
                    // The entry being refreshed is still current: it answers.
                    cache.release_result_refresh(coll, request);
                    if let Lookup::Fresh(result) = cache.search(coll, request, 1.0, now) {
                        served.cache = CacheStatus::Hit;
                        return Ok((result, "edge"));
                    }
                }
                let stale = stale(&mut cache, coll, request, now);
                return stale_or(stale, e, served).map(|r| (r, "edge"));
            }
        },
    };
    if let Some(token) = now {
        let admitted = {
            let mut cache = cache.borrow_mut();
            cache.admit_hot(coll, &info) && cache.begin_hot_load(coll)
        };
        if admitted {
            let hot = load_hot(cache, session, coll, &info, token, served).await;
            cache.borrow_mut().end_hot_load(coll, hot, token.incarnation);
        }
    }
    Ok(answer)
}

/// The answer of a fresh hot copy of `coll`, if there is one: a query
/// answered before is answered again without a scan, a new one by scanning
/// the copy (its result is then cached like the origin's).
fn from_hot_copy(
    cache: &mut Cache,
    coll: &CollKey,
    request: &SearchRequest,
    now: Option<Token>,
    body: Option<BodyKey>,
) -> Result<Option<SearchResult>, ApiError> {
    let Some((dims, metric)) = cache.hot(coll, now).fresh().map(|hot| (hot.dims, hot.metric)) else {
        return Ok(None);
    };
    validate::vector(&request.vector, Some(dims as u32))?;
    validate::vector_for_metric(&request.vector, metric)?;
    if let Lookup::Fresh(result) = cache.search(coll, request, 1.0, now) {
        return Ok(Some(result));
    }
    let Some(result) = cache.hot(coll, now).fresh().and_then(|hot| search_hot(hot, request)) else {
        return Ok(None);
    };
    cache.count_hot_scan();
    if let Some(token) = now {
        cache.put_search(coll, request, result.clone(), body, token);
    }
    Ok(Some(result))
}

/// What the cache can still say about `request` when the origin cannot
/// answer: the same query's result, or a search of the hot copy. Entries
/// known to be outdated were dropped by the lookups and are never served.
fn stale(cache: &mut Cache, coll: &CollKey, request: &SearchRequest, now: Option<Token>) -> Option<SearchResult> {
    if let Some(result) = cache.search(coll, request, 1.0, now).any() {
        return Some(result);
    }
    let hot = cache.hot(coll, now).any()?;
    let valid = hot.dims == request.vector.len() && validate::vector_for_metric(&request.vector, hot.metric).is_ok();
    valid.then(|| search_hot(hot, request)).flatten()
}

/// The hot copy's answer to `request`; none when its filter is one the edge
/// cannot evaluate (none the API accepts), which leaves it to the origin.
fn search_hot(hot: &HotCollection, request: &SearchRequest) -> Option<SearchResult> {
    let filter = match request.filter.as_deref() {
        Some(text) => Some(Filter::parse(text)?),
        None => None,
    };
    Some(hot.search(request, filter.as_ref()))
}

/// Reads a whole collection page by page; none (the collection just stays
/// cold) if it changes meanwhile or the origin fails. The copy is current at
/// the version its pages were read at, in the incarnation of `token` (the
/// token learned before the first page).
async fn load_hot(
    cache: &RefCell<Cache>,
    session: &impl Origin,
    coll: &CollKey,
    info: &CollectionInfo,
    token: Token,
    served: &mut Served,
) -> Option<HotCollection> {
    let max_vectors = cache.borrow().config().hot_max_vectors as usize;
    let mut records = Vec::with_capacity(info.count as usize);
    let mut after: Option<String> = None;
    let mut version = None;
    loop {
        let page = served
            .origin(session.list_vectors(&coll.name, after.as_deref(), HOT_PAGE))
            .await
            .ok()?;
        if *version.get_or_insert(page.version) != page.version
            || page.version < token.version
            || records.len() + page.records.len() > max_vectors
        {
            return None;
        }
        records.extend(page.records);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Some(HotCollection::new(
        info.spec.metric,
        info.spec.dims as usize,
        version.unwrap_or(0),
        records,
    ))
}
