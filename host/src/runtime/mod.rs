//! Runs the edge component in wasmtime.
//!
//! Process state ([`Runtime`]: engine, linker, pre-instantiated component) is
//! built once. Requests are grouped into shards by collection ([`Shards`]);
//! each shard runs a few primary instances (2 by default), each serving many
//! of its requests at once: a request waiting on the origin
//! (`zerodb:edge/origin-async`) leaves its instance free for the others,
//! and an instance takes a new request only while fewer than
//! `max_running` of its requests are outside such a wait (the rest wait in
//! the shard's queue). Only while the shard's instances leave a request
//! waiting longer than [`shard::STUCK_AFTER`] does the shard
//! start an overflow instance, up to a cap; an overflow instance ends once
//! idle. An instance is replaced after `max_requests` requests, when its
//! linear memory passes three quarters of its ceiling, or when it traps.
//! Every request's deadline counts from its arrival at the shard. A request
//! read whole goes into its instance in one call of the component's
//! `zerodb:edge/front` export ([`front`]); one whose body streams, through
//! `wasi:http/handler`.

mod front;
mod instance;
mod shard;

pub use shard::{BodyUnreadable, Overloaded, Shards};

use crate::origin::wit::{self as origin, OriginCtx};
use crate::origin::OriginService;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p3::bindings::ServiceIndices;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// Limits on the edge component's instances.
#[derive(Clone, Debug)]
pub struct InstanceLimits {
    /// Requests an instance serves before it is replaced.
    pub max_requests: usize,
    /// Linear memory an instance may grow to; past it, a `memory.grow` fails.
    pub max_memory_bytes: usize,
    /// How long one request may take from its arrival; past it, 503.
    pub request_timeout: Duration,
    /// How long an idle instance is kept.
    pub idle_timeout: Duration,
    /// Most requests in flight in one shard; the rest wait for a place,
    /// up to their deadline, and are then answered 503 `overloaded`.
    pub max_in_flight: usize,
    /// Most requests one instance runs at once, besides those whose origin
    /// call is waiting; the others stay in the shard's queue.
    pub max_running: usize,
    /// Instances of one shard that take its requests as they come (each
    /// with a cache of its own; more use more cores on one collection).
    pub primaries: usize,
    /// Most instances of one shard at once: its primaries, plus overflow
    /// instances while they are stuck.
    pub max_instances: usize,
    /// Environment of each instance: its cache settings, as
    /// `CacheConfig::to_env` renders them.
    pub env: Vec<(String, String)>,
}

/// A whole body of `bytes`, in the type wasi:http's host side carries.
pub fn full_body(bytes: bytes::Bytes) -> WasiBody {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The `Content-Length` a request or response declares, if any.
pub fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
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
    /// The requests in flight and whether the guest still makes progress.
    watchdog: Watchdog,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    origin: OriginCtx,
    limits: MemoryLimiter,
    hooks: DenyOutgoingHttp,
}

/// Watches an instance for a guest that computes without end. Its requests
/// run interleaved, so time per request says nothing; instead, at each
/// epoch tick that finds guest code running, it checks whether any request
/// has finished since the previous such tick. Guest code that has run for a
/// whole request deadline with none finishing is a runaway: the instance is
/// stopped, and its requests past their deadline are marked timed out.
struct Watchdog {
    /// Deadline and timeout flag of each request in flight, by id.
    requests: HashMap<u64, (Instant, Deadline)>,
    next_id: u64,
    finished: u64,
    finished_at_last_tick: u64,
    ticks_without_progress: u32,
    max_ticks_without_progress: u32,
}

impl Watchdog {
    fn new(request_timeout: Duration) -> Self {
        let ticks = request_timeout.as_millis() / EPOCH_TICK.as_millis();
        Watchdog {
            requests: HashMap::new(),
            next_id: 0,
            finished: 0,
            finished_at_last_tick: 0,
            ticks_without_progress: 0,
            max_ticks_without_progress: u32::try_from(ticks).unwrap_or(u32::MAX).max(1),
        }
    }

    /// A request the instance takes on; the id to [`Watchdog::finish`] it by.
    fn start(&mut self, deadline: Instant, flag: Deadline) -> u64 {
        self.next_id += 1;
        self.requests.insert(self.next_id, (deadline, flag));
        self.next_id
    }

    fn finish(&mut self, id: u64) {
        self.requests.remove(&id);
        self.finished += 1;
    }

    /// One epoch tick with guest code running; true when the guest has run
    /// that long without any request finishing (then the requests past their
    /// deadline are marked).
    fn tick(&mut self) -> bool {
        if self.finished != self.finished_at_last_tick {
            self.finished_at_last_tick = self.finished;
            self.ticks_without_progress = 0;
            return false;
        }
        self.ticks_without_progress += 1;
        if self.ticks_without_progress < self.max_ticks_without_progress {
            return false;
        }
        let now = Instant::now();
        for (deadline, flag) in self.requests.values() {
            if *deadline <= now {
                flag.0.store(true, Ordering::Relaxed);
            }
        }
        true
    }
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

/// Set once the server has stopped, so that instances dropped at exit are
/// not reported as failures.
pub static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Process-wide state: compiled once, shared by every instance.
pub struct Runtime {
    engine: Engine,
    /// The component, linked, ready to instantiate.
    pre: InstancePre<InstanceState>,
    /// Where `wasi:http/handler` is in an instance.
    service: ServiceIndices,
    /// Where `zerodb:edge/front` is in an instance.
    front: front::EdgeNativeIndices,
    origin: OriginService,
    limits: InstanceLimits,
}

impl Runtime {
    /// Compiles the component at `path` and links its imports: WASI 0.2 and
    /// 0.3, wasi:http 0.3, and `zerodb:edge/origin-async` backed by `origin`.
    /// Err unless it exports both `wasi:http/handler@0.3.0` and
    /// `zerodb:edge/front`.
    pub fn new(path: &Path, origin: OriginService, limits: InstanceLimits) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model_async(true);
        // A guest that computes without end must not hold a thread: each
        // epoch tick it yields, and when it makes no progress for a whole
        // deadline it is stopped.
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
        let pre = linker.instantiate_pre(&component)?;
        let service = ServiceIndices::new(&pre)
            .map_err(|e| anyhow::anyhow!("the component must export wasi:http/handler@0.3.0: {e:#}"))?;
        let front = front::EdgeNativeIndices::new(&pre)
            .map_err(|e| anyhow::anyhow!("the component must export zerodb:edge/front: {e:#}"))?;
        Ok(Runtime {
            engine,
            pre,
            service,
            front,
            origin,
            limits,
        })
    }

    /// `count` shards, each with its own instances.
    pub fn shards(self: Arc<Self>, count: usize) -> Shards {
        Shards::new(self, count)
    }

    /// A fresh store for one instance, with its limits, environment and
    /// epoch policy; `grown` follows its linear memory.
    fn store(&self, grown: Arc<AtomicUsize>) -> wasmtime::Store<InstanceState> {
        let mut wasi = WasiCtx::builder();
        for (name, value) in &self.limits.env {
            wasi.env(name, value);
        }
        let state = InstanceState {
            watchdog: Watchdog::new(self.limits.request_timeout),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            origin: OriginCtx {
                origin: self.origin.clone(),
                table: ResourceTable::new(),
                waits: Default::default(),
            },
            limits: MemoryLimiter {
                max_bytes: self.limits.max_memory_bytes,
                grown,
            },
            hooks: DenyOutgoingHttp,
        };
        let mut store = wasmtime::Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut store| {
            if store.data_mut().watchdog.tick() {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                crate::metrics::count(&crate::metrics::COUNTERS.epoch_yields);
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        store
    }
}
