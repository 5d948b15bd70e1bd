//! Collapsed misses: while one request of an instance fetches a search's
//! answer from the origin, the others asking the same search (same
//! collection, shape and query vector) wait for it and then find it in the
//! cache, instead of each asking the origin. A popular entry that expires
//! under load then costs the origin one query, not one per request waiting.

use super::keys::Key;
use std::cell::RefCell;
use std::collections::HashMap;
use std::task::{Poll, Waker};

/// The searches being fetched from the origin, with the requests waiting
/// on each.
#[derive(Default)]
pub struct Flights {
    waiting: RefCell<HashMap<Key, Vec<Waker>>>,
}

/// Which search a flight fetches: see [`super::Cache::flight_key`].
pub struct FlightKey(pub(super) Key);

/// The fetch a request leads; when it ends (dropped, whether or not the
/// answer was cached), the requests waiting on it go on.
pub struct Flight<'a> {
    flights: &'a Flights,
    key: Key,
}

impl Flights {
    /// Leads the fetch of `key` (Some) or, when another request leads it,
    /// waits until that one ends (None: then look in the cache again).
    pub async fn join(&self, key: FlightKey) -> Option<Flight<'_>> {
        {
            let mut waiting = self.waiting.borrow_mut();
            if !waiting.contains_key(&key.0) {
                waiting.insert(key.0.clone(), Vec::new());
                return Some(Flight {
                    flights: self,
                    key: key.0,
                });
            }
        }
        std::future::poll_fn(|cx| {
            let mut waiting = self.waiting.borrow_mut();
            match waiting.get_mut(&key.0) {
                Some(wakers) => {
                    if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                        wakers.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
                None => Poll::Ready(None),
            }
        })
        .await
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let wakers = self.flights.waiting.borrow_mut().remove(&self.key);
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}
