//! Shards: which instance of which shard serves a request, and when a shard
//! needs more than its one instance.
//!
//! A shard's requests wait in one queue. Its primary instances take them as
//! they come, each while it has room (see `InstanceLimits::max_running`).
//! If a request waits longer than [`STUCK_AFTER`] with no instance taking
//! any (a guest computing, or blocked in a synchronous call), an overflow
//! instance is started and takes the waiting requests while the primaries
//! stay stuck; it ends after [`OVERFLOW_IDLE`] without work.

use super::front::{self, Handoff};
use super::{instance, Deadline, Runtime};
use crate::histogram::Histogram;
use crate::metrics::{ShardLoad, CACHE_RESULTS};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use wasmtime_wasi_http::handler::{ExpirationError, Request, Response, TrapOrPanicError};

/// How long a request may wait in its shard's queue, untaken, before the
/// shard counts its instances as stuck and starts another.
pub const STUCK_AFTER: Duration = Duration::from_millis(50);

/// How long an overflow instance is kept without work.
pub(super) const OVERFLOW_IDLE: Duration = Duration::from_secs(1);

/// How long past its deadline a request is still awaited: its instance
/// answers 503 at the deadline itself, this only catches one that cannot.
const DEADLINE_GRACE: Duration = Duration::from_millis(100);

/// One request handed to a shard.
pub(super) struct Job {
    pub request: Handoff,
    /// Its arrival plus the request timeout.
    pub deadline: Instant,
    /// Set when the watchdog stops its instance past the deadline.
    pub flag: Deadline,
    pub reply: futures::channel::oneshot::Sender<wasmtime::Result<Response>>,
}

/// The kind of an instance, which decides when it takes requests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Role {
    /// Takes requests as they come, while it has room for them.
    Primary,
    /// Takes requests only while the others leave them waiting.
    Overflow,
}

/// Groups of instances. All requests about one collection of one API key
/// go to the same shard, so the cache that holds the collection is the one
/// its reads and writes reach.
pub struct Shards {
    shards: Vec<Arc<Shard>>,
    request_timeout: Duration,
}

/// One shard: its queue, its instances and its counters.
pub(super) struct Shard {
    pub rt: Arc<Runtime>,
    queue: Mutex<VecDeque<Job>>,
    arrived: Notify,
    /// Time origin of the `*_ms` fields.
    clock: Instant,
    /// When the queue last went from empty to not empty.
    waiting_since_ms: AtomicU64,
    /// When the primary last took a request.
    primary_took_ms: AtomicU64,
    /// When any instance last took one.
    any_took_ms: AtomicU64,
    /// Primary instances running (taking requests).
    primaries: AtomicUsize,
    /// Instances alive (primary, overflow and retiring).
    pub instances: AtomicUsize,
    /// Bounds the requests in flight.
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    /// Most permits of `in_flight` taken at once.
    high_water: AtomicUsize,
    /// Answers by their `x-zerodb-cache` header, in [`CACHE_RESULTS`] order.
    cache_results: [AtomicU64; 4],
    /// Their time from arrival to answer, in the same order.
    durations: [Histogram; 4],
}

/// One of a shard's places for a request in flight.
pub type InFlight = tokio::sync::OwnedSemaphorePermit;

/// A request waited its whole deadline for a place in its shard.
#[derive(Debug)]
pub struct Overloaded;

impl std::fmt::Display for Overloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the shard stayed at its limit of requests in flight")
    }
}

impl std::error::Error for Overloaded {}

impl Shards {
    /// `count` shards (at least one), each watched for stuck instances by a
    /// task of its own. Needs a tokio runtime.
    pub fn new(rt: Arc<Runtime>, count: usize) -> Shards {
        let limits = &rt.limits;
        let request_timeout = limits.request_timeout;
        let shards = (0..count.max(1))
            .map(|_| {
                let shard = Arc::new(Shard {
                    queue: Mutex::default(),
                    arrived: Notify::new(),
                    clock: Instant::now(),
                    waiting_since_ms: AtomicU64::new(0),
                    primary_took_ms: AtomicU64::new(0),
                    any_took_ms: AtomicU64::new(0),
                    primaries: AtomicUsize::new(0),
                    instances: AtomicUsize::new(0),
                    in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
                    max_in_flight: limits.max_in_flight.max(1),
                    high_water: AtomicUsize::new(0),
                    cache_results: Default::default(),
                    durations: Default::default(),
                    rt: rt.clone(),
                });
                tokio::spawn(watch(Arc::downgrade(&shard)));
                shard
            })
            .collect();
        Shards {
            shards,
            request_timeout,
        }
    }

    /// Serves `request` on its collection's shard. Its deadline counts from
    /// now: waiting for a place past it is 503 `overloaded`
    /// ([`Overloaded`]), not being answered by it an [`ExpirationError`].
    /// The instance goes on writing the body after it answers, so the caller
    /// holds the returned [`InFlight`] until it has read the body.
    pub async fn handle(&self, flag: Deadline, request: Request) -> wasmtime::Result<(Response, InFlight)> {
        let arrived = Instant::now();
        let deadline = arrived + self.request_timeout;
        let shard = &self.shards[self.pick(&request)];
        let in_flight = tokio::time::timeout_at(deadline.into(), shard.in_flight.clone().acquire_owned())
            .await
            .map_err(|_| Overloaded)?
            .expect("the semaphore is never closed");
        shard.high_water.fetch_max(shard.busy(), Ordering::Relaxed);
        let request = tokio::time::timeout_at(deadline.into(), front::read(request))
            .await
            .map_err(|_| ExpirationError)?
            .map_err(BodyUnreadable)?;
        crate::metrics::count(match request {
            Handoff::Whole(_) => &crate::metrics::COUNTERS.requests_front,
            Handoff::Streaming(_) => &crate::metrics::COUNTERS.requests_wasi_http,
        });
        let (reply, answer) = futures::channel::oneshot::channel();
        shard.push(Job {
            request,
            deadline,
            flag,
            reply,
        });
        let response = match tokio::time::timeout_at((deadline + DEADLINE_GRACE).into(), answer).await {
            Ok(Ok(response)) => response?,
            // The instance ended (trapped) with the request in it.
            Ok(Err(_)) => return Err(TrapOrPanicError.into()),
            Err(_) => return Err(ExpirationError.into()),
        };
        let cache = response.headers().get("x-zerodb-cache").and_then(|v| v.to_str().ok());
        if let Some(i) = CACHE_RESULTS.iter().position(|r| Some(*r) == cache) {
            shard.cache_results[i].fetch_add(1, Ordering::Relaxed);
            shard.durations[i].observe(arrived.elapsed());
        }
        Ok((response, in_flight))
    }

    /// Each shard's requests in flight, now and at most since start.
    pub fn load(&self) -> Vec<ShardLoad<'_>> {
        self.shards
            .iter()
            .map(|s| ShardLoad {
                in_flight: s.busy(),
                high_water: s.high_water.load(Ordering::Relaxed),
                instances: s.instances.load(Ordering::Relaxed),
                durations: &s.durations,
                cache_results: s.cache_results.each_ref().map(|c| c.load(Ordering::Relaxed)),
            })
            .collect()
    }

    /// The shard of a request: by its API key (from `X-API-Key` or
    /// `Authorization: Bearer`, the same key either way) and, for the v1
    /// API, the collection it names. ZeroDB's routes name their namespace
    /// in the body or the query, so their requests go by key alone.
    fn pick<B>(&self, request: &http::Request<B>) -> usize {
        let mut hasher = std::hash::DefaultHasher::new();
        let headers = request.headers();
        let key = headers.get("x-api-key").map(|v| v.as_bytes()).or_else(|| {
            let value = headers.get(http::header::AUTHORIZATION)?.as_bytes();
            let scheme = value.get(..7)?;
            scheme.eq_ignore_ascii_case(b"bearer ").then(|| &value[7..])
        });
        if let Some(key) = key {
            key.trim_ascii().hash(&mut hasher);
        }
        // `/v1/collections/{name}/…`
        if let Some(name) = request.uri().path().strip_prefix("/v1/collections/") {
            name.split('/').next().hash(&mut hasher);
        }
        (hasher.finish() % self.shards.len() as u64) as usize
    }
}

/// The client's request body broke off before its declared end.
#[derive(Debug)]
pub struct BodyUnreadable(wasmtime_wasi_http::Error);

impl std::fmt::Display for BodyUnreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request body: {}", self.0)
    }
}

impl std::error::Error for BodyUnreadable {}

impl Shard {
    /// Requests in flight now: places taken.
    fn busy(&self) -> usize {
        self.max_in_flight - self.in_flight.available_permits()
    }

    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn push(self: &Arc<Self>, job: Job) {
        {
            let mut queue = self.queue.lock().expect("never poisoned");
            if queue.is_empty() {
                self.waiting_since_ms.store(self.now_ms(), Ordering::Relaxed);
            }
            queue.push_back(job);
        }
        // Every instance waiting in `take`, not the one that waited
        // longest: that one may be busy with its guest and not polled, and
        // a single wake-up would stay with it while another sits idle.
        self.arrived.notify_waiters();
        self.ensure_primary();
    }

    /// The next request for an instance of `role`: at once for the
    /// primary, only while the queue is stuck for an overflow instance.
    /// Requests past their deadline are answered as expired on the way.
    pub async fn take(&self, role: Role) -> Job {
        loop {
            let arrived = self.arrived.notified();
            if role == Role::Primary || self.stuck(self.primary_took_ms.load(Ordering::Relaxed)) {
                if let Some(job) = self.pop() {
                    let now = self.now_ms();
                    if role == Role::Primary {
                        self.primary_took_ms.store(now, Ordering::Relaxed);
                    }
                    self.any_took_ms.store(now, Ordering::Relaxed);
                    return job;
                }
            }
            match role {
                Role::Primary => arrived.await,
                Role::Overflow => tokio::time::sleep(STUCK_AFTER / 2).await,
            }
        }
    }

    fn pop(&self) -> Option<Job> {
        let mut queue = self.queue.lock().expect("never poisoned");
        let now = Instant::now();
        while let Some(job) = queue.pop_front() {
            if job.deadline > now {
                return Some(job);
            }
            let _ = job.reply.send(Err(ExpirationError.into()));
        }
        None
    }

    /// Whether a request has waited past [`STUCK_AFTER`] since `took_ms`
    /// (a time an instance last took one) and since it arrived.
    fn stuck(&self, took_ms: u64) -> bool {
        let waiting = !self.queue.lock().expect("never poisoned").is_empty();
        let since = took_ms.max(self.waiting_since_ms.load(Ordering::Relaxed));
        waiting && self.now_ms().saturating_sub(since) > STUCK_AFTER.as_millis() as u64
    }

    /// Starts primary instances until the shard has its number of them.
    fn ensure_primary(self: &Arc<Self>) {
        let target = self.rt.limits.primaries.max(1);
        while self
            .primaries
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| (n < target).then_some(n + 1))
            .is_ok()
        {
            self.start(Role::Primary);
        }
    }

    /// Called by the primary when it stops taking requests (it is idle,
    /// retiring or failed): a new one starts if requests wait.
    pub fn primary_ended(self: &Arc<Self>) {
        self.primaries.fetch_sub(1, Ordering::AcqRel);
        if !self.queue.lock().expect("never poisoned").is_empty() {
            self.ensure_primary();
        }
    }

    fn start(self: &Arc<Self>, role: Role) {
        self.instances.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(instance::run(self.clone(), role));
    }
}

/// Until the shard is dropped: every [`STUCK_AFTER`], starts an overflow
/// instance if every instance left a request waiting that long, and a
/// primary if none runs while requests wait.
async fn watch(shard: std::sync::Weak<Shard>) {
    loop {
        tokio::time::sleep(STUCK_AFTER).await;
        let Some(shard) = shard.upgrade() else { return };
        if shard.stuck(shard.any_took_ms.load(Ordering::Relaxed))
            && shard.instances.load(Ordering::Relaxed) < shard.rt.limits.max_instances
        {
            crate::metrics::count(&crate::metrics::COUNTERS.instances_overflow);
            shard.start(Role::Overflow);
        }
        if !shard.queue.lock().expect("never poisoned").is_empty() {
            shard.ensure_primary();
        }
    }
}
