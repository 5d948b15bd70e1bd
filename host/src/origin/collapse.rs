//! Collapsed searches: identical searches of one collection that arrive
//! while the first is still being answered share its PostgreSQL query
//! instead of each running one. A popular cached answer that expires under
//! load then costs the database one query, not one per waiting request.
//!
//! Only searches at the same coherence token share: a request that arrives
//! after a write (the token advanced) starts a query of its own, so an
//! acknowledged write is still seen by every later read.

use edge_core::error::ApiError;
use edge_core::model::{SearchRequest, SearchResult, Token};
use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

/// The search a query answers: project id, collection, token, and the
/// request's bytes (vector bits, k, flags, filter).
type Key = (i64, String, Token, Vec<u8>);

type Answer = Result<SearchResult, ApiError>;

/// The searches being answered, for others to join.
#[derive(Default)]
pub struct Searches {
    in_flight: Mutex<HashMap<Key, Shared<BoxFuture<'static, Answer>>>>,
}

impl Searches {
    /// The answer of `request` on `collection` of `project` at `token`:
    /// `query`'s, or that of an identical search already under way.
    pub fn answer(
        &self,
        project: i64,
        collection: &str,
        token: Token,
        request: &SearchRequest,
        query: impl Future<Output = Answer> + Send + 'static,
    ) -> impl Future<Output = Answer> + '_ {
        let key = (project, collection.to_string(), token, request_bytes(request));
        let shared = {
            let mut in_flight = self.in_flight.lock().expect("never poisoned");
            in_flight
                .entry(key.clone())
                .or_insert_with(|| query.boxed().shared())
                .clone()
        };
        async move {
            let answer = shared.await;
            // The first to finish takes the entry out: later arrivals query anew.
            self.in_flight.lock().expect("never poisoned").remove(&key);
            answer
        }
    }
}

fn request_bytes(request: &SearchRequest) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(request.vector.len() * 4 + 8);
    for value in &request.vector {
        bytes.extend(value.to_bits().to_le_bytes());
    }
    bytes.extend(request.k.to_le_bytes());
    bytes.push(u8::from(request.include_values) << 1 | u8::from(request.include_metadata));
    if let Some(filter) = &request.filter {
        bytes.extend(filter.as_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn request(x: f32) -> SearchRequest {
        SearchRequest {
            vector: vec![x, 0.0],
            k: 1,
            filter: None,
            include_values: false,
            include_metadata: true,
        }
    }

    const T1: Token = Token {
        incarnation: 1,
        version: 1,
    };

    /// Identical searches at one token run one query; another vector or a
    /// later token runs its own.
    #[tokio::test]
    async fn identical_searches_at_one_token_share_one_query() {
        let searches = Searches::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let ask = |x: f32, token: Token| {
            let (queries, mut released) = (queries.clone(), released.clone());
            let query = async move {
                queries.fetch_add(1, Ordering::SeqCst);
                released.wait_for(|r| *r).await.unwrap();
                Ok(SearchResult {
                    hits: vec![],
                    version: token.version,
                })
            };
            searches.answer(1, "c", token, &request(x), query)
        };
        let later = Token { version: 2, ..T1 };
        let all = futures::future::join_all([ask(1.0, T1), ask(1.0, T1), ask(1.0, T1), ask(0.5, T1), ask(1.0, later)]);
        let release_soon = async {
            tokio::task::yield_now().await;
            release.send(true).unwrap();
        };
        let (answers, ()) = futures::join!(all, release_soon);
        assert_eq!(queries.load(Ordering::SeqCst), 3, "three distinct searches");
        let versions: Vec<u64> = answers.into_iter().map(|a| a.unwrap().version).collect();
        assert_eq!(versions, [1, 1, 1, 1, 2]);
        assert!(searches.in_flight.lock().unwrap().is_empty());
    }
}
