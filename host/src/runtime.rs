//! Runs the edge component in wasmtime.
//!
//! Process state ([`Runtime`]: engine, linker, pre-instantiated component) is
//! built once. Instances are kept warm by wasmtime-wasi-http's
//! [`ProxyHandler`]: each worker owns one instance (so its hot-vector cache
//! lives across requests) and serves one request at a time, since a miss
//! blocks the instance's store while the origin call runs; more workers start
//! when all are busy, up to a cap per shard. A worker is recycled after
//! `max_requests` requests or when its linear memory passes a ceiling, and
//! dropped when it traps.

use crate::metrics::CACHE_RESULTS;
use crate::origin::wit::{self as origin, OriginCtx};
use crate::origin::OriginService;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, GuestTaskId, Linker, ResourceTable};
use wasmtime::{Config, Engine, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::handler::{
    HandlerState, Instance, ProxyHandler, ProxyPre, ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// Limits on the edge component's instances.
#[derive(Clone, Debug)]
pub struct InstanceLimits {
    /// Requests an instance serves before it is replaced.
    pub max_requests: usize,
    /// Linear memory an instance may grow to; past it, a `memory.grow` fails.
    pub max_memory_bytes: usize,
    /// How long one request may run before it is answered 503.
    pub request_timeout: Duration,
    /// How long an idle instance is kept.
    pub idle_timeout: Duration,
    /// Most instances of one shard at once. Each serves one request at a
    /// time, so this also bounds a shard's requests in flight: the rest
    /// queue, up to `request_timeout`, and are then answered 503.
    pub max_per_shard: usize,
    /// Environment of each instance: its cache settings, as
    /// `CacheConfig::to_env` renders them.
    pub env: Vec<(String, String)>,
}

/// How long an idle instance is kept by default.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// How often the engine's epoch advances: the granularity of the CPU
/// deadline, and how often a busy guest yields to other tasks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Set when a request's guest code was stopped at its CPU deadline, so that
/// the front answers 503 `edge_timeout` rather than a generic failure.
#[derive(Clone, Default)]
pub struct Deadline(pub Arc<AtomicBool>);

/// A component instance's store data.
pub struct InstanceState {
    /// When the request being served started, for the CPU deadline, and
    /// where to say that it was interrupted.
    request_started: Option<(Instant, Deadline)>,
    request_timeout: Duration,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    origin: OriginCtx,
    limits: MemoryLimiter,
    hooks: DenyOutgoingHttp,
}

/// Caps an instance's linear memory and records how much it has grown, so
/// that its worker retires it once past three quarters of the cap (before
/// an allocation fails inside the guest).
struct MemoryLimiter {
    max_bytes: usize,
    grown: Arc<AtomicUsize>,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.grown.load(Ordering::Relaxed) + (desired - current);
        if total > self.max_bytes {
            return Ok(false);
        }
        self.grown.store(total, Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// In the native host the origin is a direct import, so the edge component
/// gets no outgoing HTTP at all.
struct DenyOutgoingHttp;

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for DenyOutgoingHttp {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Set once the server has stopped, so that workers dropped at exit are not
/// reported as failures.
pub static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Process-wide state: compiled once, shared by every worker.
pub struct Runtime {
    engine: Engine,
    pre: ServicePre<InstanceState>,
    origin: OriginService,
    limits: InstanceLimits,
}

impl Runtime {
    /// Compiles the component at `path` and links its imports: WASI 0.2 and
    /// 0.3, wasi:http 0.3, and `zerodb:edge/origin` backed by `origin`.
    pub fn new(path: &Path, origin: OriginService, limits: InstanceLimits) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model_async(true);
        // A guest that computes without end must not hold a thread: each
        // epoch tick it yields, and past its deadline it traps.
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let ticker = engine.weak();
        std::thread::Builder::new().name("zerodb-epoch".into()).spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
        let started = Instant::now();
        let component = Component::from_file(&engine, path)
            .map_err(|e| anyhow::anyhow!("loading component {}: {e:#}", path.display()))?;
        tracing::info!(path = %path.display(), ms = started.elapsed().as_millis() as u64, "compiled edge component");

        let mut linker = Linker::<InstanceState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
        origin::add_to_linker(&mut linker, |state: &mut InstanceState| &mut state.origin)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(ServicePre::new)
            .map_err(|e| anyhow::anyhow!("the component must export wasi:http/handler@0.3.0: {e:#}"))?;
        Ok(Runtime {
            engine,
            pre,
            origin,
            limits,
        })
    }

    /// `count` groups of warm instances.
    pub fn shards(self: Arc<Self>, count: usize) -> Shards {
        let shards = (0..count.max(1))
            .map(|_| Shard {
                handler: ProxyHandler::new(Handler(self.clone())),
                in_flight: Arc::new(Semaphore::new(self.limits.max_per_shard.max(1))),
                high_water: AtomicUsize::new(0),
                cache_results: Default::default(),
            })
            .collect();
        Shards {
            shards,
            queue_timeout: self.limits.request_timeout,
            max_per_shard: self.limits.max_per_shard.max(1),
        }
    }
}

/// Groups of warm instances. All requests about one collection of one API
/// key go to the same group, so the cache that holds the collection is the
/// one its reads and writes reach.
pub struct Shards {
    shards: Vec<Shard>,
    queue_timeout: Duration,
    max_per_shard: usize,
}

struct Shard {
    handler: ProxyHandler<Handler>,
    /// The handler starts an instance whenever all are busy; this bounds them.
    in_flight: Arc<Semaphore>,
    /// Most permits of `in_flight` taken at once.
    high_water: AtomicUsize,
    /// Answers by their `x-zerodb-cache` header, in [`CACHE_RESULTS`] order.
    cache_results: [AtomicU64; 4],
}

/// One of a shard's places for a request in flight.
pub type InFlight = tokio::sync::OwnedSemaphorePermit;

/// A request waited its whole deadline for a free instance.
#[derive(Debug)]
pub struct Overloaded;

impl std::fmt::Display for Overloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("every edge instance of the shard stayed busy")
    }
}

impl std::error::Error for Overloaded {}

impl Shards {
    /// Serves `request` on its collection's shard, once one of the shard's
    /// instances is free. The instance goes on writing the body after it
    /// answers, so the caller holds the returned [`InFlight`] until it has
    /// read the body.
    pub async fn handle(
        &self,
        deadline: Deadline,
        request: wasmtime_wasi_http::handler::Request,
    ) -> wasmtime::Result<(wasmtime_wasi_http::handler::Response, InFlight)> {
        let shard = &self.shards[self.pick(&request)];
        let in_flight = tokio::time::timeout(self.queue_timeout, shard.in_flight.clone().acquire_owned())
            .await
            .map_err(|_| Overloaded)?
            .expect("the semaphore is never closed");
        shard.high_water.fetch_max(self.busy(shard), Ordering::Relaxed);
        let response = shard.handler.handle(deadline, request).await?;
        let cache = response.headers().get("x-zerodb-cache").and_then(|v| v.to_str().ok());
        if let Some(i) = CACHE_RESULTS.iter().position(|r| Some(*r) == cache) {
            shard.cache_results[i].fetch_add(1, Ordering::Relaxed);
        }
        Ok((response, in_flight))
    }

    /// Requests in flight in `shard` now: its places taken.
    fn busy(&self, shard: &Shard) -> usize {
        self.max_per_shard - shard.in_flight.available_permits()
    }

    /// Each shard's requests in flight, now and at most since start.
    pub fn load(&self) -> Vec<crate::metrics::ShardLoad> {
        self.shards
            .iter()
            .map(|s| crate::metrics::ShardLoad {
                in_flight: self.busy(s),
                high_water: s.high_water.load(Ordering::Relaxed),
                cache_results: s.cache_results.each_ref().map(|c| c.load(Ordering::Relaxed)),
            })
            .collect()
    }

    fn pick<B>(&self, request: &http::Request<B>) -> usize {
        let mut hasher = std::hash::DefaultHasher::new();
        if let Some(key) = request.headers().get(http::header::AUTHORIZATION) {
            key.as_bytes().hash(&mut hasher);
        }
        // `/v1/collections/{name}/…`
        if let Some(name) = request.uri().path().strip_prefix("/v1/collections/") {
            name.split('/').next().hash(&mut hasher);
        }
        (hasher.finish() % self.shards.len() as u64) as usize
    }
}

/// [`HandlerState`] for the edge component.
pub struct Handler(Arc<Runtime>);

impl HandlerState for Handler {
    type StoreData = InstanceState;
    type WorkerExpiration = Expiration;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<InstanceState, Expiration, Worker>> {
        let rt = &self.0;
        let grown = Arc::new(AtomicUsize::new(0));
        let mut wasi = WasiCtx::builder();
        for (name, value) in &rt.limits.env {
            wasi.env(name, value);
        }
        let state = InstanceState {
            request_started: None,
            request_timeout: rt.limits.request_timeout,
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            origin: OriginCtx {
                origin: rt.origin.clone(),
                table: ResourceTable::new(),
            },
            limits: MemoryLimiter {
                max_bytes: rt.limits.max_memory_bytes,
                grown: grown.clone(),
            },
            hooks: DenyOutgoingHttp,
        };
        let mut store = wasmtime::Store::new(&rt.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|store| {
            let state = store.data();
            match &state.request_started {
                Some((start, deadline)) if start.elapsed() > state.request_timeout => {
                    deadline.0.store(true, Ordering::Relaxed);
                    Ok(UpdateDeadline::Interrupt)
                }
                _ => {
                    crate::metrics::count(&crate::metrics::COUNTERS.epoch_yields);
                    Ok(UpdateDeadline::Yield(1))
                }
            }
        });
        let proxy = ProxyPre::P3(rt.pre.clone()).instantiate_async(&mut store).await?;
        crate::metrics::count(&crate::metrics::COUNTERS.instances_started);
        Ok(Instance {
            store,
            proxy,
            view: |s: &mut InstanceState| s.http(),
            expiration: Expiration::new(rt.limits.request_timeout, rt.limits.idle_timeout),
            state: Worker {
                rt: rt.clone(),
                grown,
                retired: AtomicBool::new(false),
            },
        })
    }
}

/// Per-worker policy: one request at a time, recycled by count or memory.
pub struct Worker {
    rt: Arc<Runtime>,
    /// Linear memory the instance has grown to.
    grown: Arc<AtomicUsize>,
    /// Set once the worker has refused requests for good (counted once).
    retired: AtomicBool,
}

impl WorkerState for Worker {
    type StoreData = InstanceState;
    type RequestData = Deadline;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        let limits = &self.rt.limits;
        let past_memory = self.grown.load(Ordering::Relaxed) > limits.max_memory_bytes / 4 * 3;
        if total >= limits.max_requests || past_memory {
            if past_memory && !self.retired.swap(true, Ordering::Relaxed) {
                crate::metrics::count(&crate::metrics::COUNTERS.instances_retired_memory);
            }
            ShouldAccept::Never
        } else if concurrent > 0 {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        mut store: StoreContextMut<'_, InstanceState>,
        deadline: Deadline,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        store.data_mut().request_started = Some((Instant::now(), deadline));
        Box::pin(tokio::time::sleep(self.rt.limits.request_timeout))
    }

    fn drop(&self, _store: wasmtime::Store<InstanceState>, result: wasmtime::Result<()>) {
        // Workers are also torn down with the async runtime at exit: not a failure.
        if let Err(e) = result {
            if !SHUTTING_DOWN.load(Ordering::Relaxed) {
                tracing::warn!(error = %e, "edge instance failed; a fresh one replaces it");
            }
        }
    }
}

/// Ends a worker whose request overran its deadline or that sat idle too long.
pub struct Expiration {
    request_timeout: Duration,
    idle_timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed_for: Option<(WorkerStatus, Instant)>,
}

impl Expiration {
    fn new(request_timeout: Duration, idle_timeout: Duration) -> Self {
        Expiration {
            request_timeout,
            idle_timeout,
            timer: Box::pin(tokio::time::sleep(idle_timeout)),
            armed_for: None,
        }
    }
}

impl WorkerExpiration for Expiration {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>, status: WorkerStatus, start: Instant) -> Poll<()> {
        let this = self.get_mut();
        if this.armed_for != Some((status, start)) {
            let limit = match status {
                WorkerStatus::Idle => this.idle_timeout,
                WorkerStatus::Requests | WorkerStatus::PostReturn => this.request_timeout,
            };
            this.timer.as_mut().reset(tokio::time::Instant::from_std(start + limit));
            this.armed_for = Some((status, start));
        }
        this.timer.as_mut().poll(cx)
    }
}
