//! The search path: hot collection, then cached results, then the origin;
//! stale entries only when the origin cannot answer.

use crate::cache::{BodyKey, Cache, CollKey, HotCollection, Lookup};
use crate::model::*;
use crate::origin::Origin;
use crate::validate;
use crate::{CacheStatus, Served};

/// Vectors per page when loading a hot collection.
const HOT_PAGE: u32 = 1000;

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

/// Answers a search; the second value is where it was answered (`edge` or `origin`).
pub(crate) fn run(
    cache: &mut Cache,
    session: &impl Origin,
    coll: &CollKey,
    request: &SearchRequest,
    strong: bool,
    body: BodyKey,
    served: &mut Served,
) -> Result<(SearchResult, &'static str), ApiError> {
    let name = coll.name.as_str();
    if strong {
        served.cache = CacheStatus::Bypass;
        return Ok((served.origin(|| session.search(name, request))?, "origin"));
    }
    if request.filter.is_none() {
        if let Some(result) = from_hot(cache, session, coll, request, served)? {
            return Ok((result, "edge"));
        }
    }

    let info = match cache.info(coll) {
        Lookup::Fresh(info) => info,
        stale => match served.origin(|| session.describe_collection(name)) {
            Ok(info) => {
                cache.put_info(coll, info.clone());
                info
            }
            Err(e) => {
                let fallback = stale.any().and_then(|_| cache.search(coll, request, 1.0).any());
                return stale_or(fallback, e, served).map(|r| (r, "edge"));
            }
        },
    };
    validate::vector(&request.vector, Some(info.spec.dims))?;
    let answer = match cache.search(coll, request, info.spec.cache_similarity) {
        Lookup::Fresh(result) => {
            served.cache = CacheStatus::Hit;
            (result, "edge")
        }
        cached => match served.origin(|| session.search(name, request)) {
            Ok(result) => {
                served.cache = CacheStatus::Miss;
                cache.put_search(coll, request, result.clone(), Some(body));
                (result, "origin")
            }
            Err(e) => return stale_or(cached.any(), e, served).map(|r| (r, "edge")),
        },
    };
    if request.filter.is_none() && cache.admit_hot(coll, &info) {
        load_hot(cache, session, coll, &info, served);
    }
    Ok(answer)
}

/// Searches the hot copy of the collection, if there is one. An expired copy
/// is kept when the origin says its version has not moved.
fn from_hot(
    cache: &mut Cache,
    session: &impl Origin,
    coll: &CollKey,
    request: &SearchRequest,
    served: &mut Served,
) -> Result<Option<SearchResult>, ApiError> {
    let Some((dims, version, fresh)) = cache.hot(coll).map(|(hot, fresh)| (hot.dims, hot.version, fresh)) else {
        return Ok(None);
    };
    validate::vector(&request.vector, Some(dims as u32))?;
    served.cache = CacheStatus::Hit;
    if !fresh {
        match served.origin(|| session.describe_collection(&coll.name)) {
            Ok(info) if info.version == version => cache.renew_hot(coll),
            Ok(info) => {
                cache.drop_hot(coll);
                cache.put_info(coll, info);
                return Ok(None);
            }
            Err(e) if e.kind == ErrorKind::Unavailable => served.cache = CacheStatus::Stale,
            Err(e) => return Err(e),
        }
    }
    Ok(cache.hot(coll).map(|(hot, _)| hot.search(request)))
}

/// Loads a whole collection page by page; gives up (the collection just
/// stays cold) if it changes meanwhile or the origin fails.
fn load_hot(cache: &mut Cache, session: &impl Origin, coll: &CollKey, info: &CollectionInfo, served: &mut Served) {
    let mut records = Vec::with_capacity(info.count as usize);
    let mut after: Option<String> = None;
    let mut version = None;
    loop {
        let page = match served.origin(|| session.list_vectors(&coll.name, after.as_deref(), HOT_PAGE)) {
            Ok(page) => page,
            Err(_) => return,
        };
        if *version.get_or_insert(page.version) != page.version
            || records.len() + page.records.len() > cache.config().hot_max_vectors as usize
        {
            return;
        }
        records.extend(page.records);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let hot = HotCollection::new(info.spec.metric, info.spec.dims as usize, version.unwrap_or(0), records);
    cache.put_hot(coll, hot);
}
