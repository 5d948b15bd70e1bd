//! One instance of the edge component: instantiated, then serving its
//! shard's requests, many at once, until it is idle, retired or fails.

use super::front::{self, Handoff};
use super::shard::{Role, Shard, OVERFLOW_IDLE};
use super::{InstanceState, SHUTTING_DOWN};
use crate::metrics::{count, COUNTERS};
use futures::future::Either;
use futures::stream::{FuturesUnordered, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wasmtime::AsContextMut;
use wasmtime_wasi_http::handler::{Prepared, Proxy};
use wasmtime_wasi_http::WasiHttpView;

/// Runs one instance of `shard` in `role` to its end, then lets the shard
/// replace it if it was the primary.
pub(super) async fn run(shard: Arc<Shard>, role: Role) {
    let result = serve(&shard, role).await;
    shard.instances.fetch_sub(1, Ordering::Relaxed);
    if let Err(e) = result {
        // At exit the async runtime tears instances down: not a failure.
        if !SHUTTING_DOWN.load(Ordering::Relaxed) {
            tracing::warn!(
                error = format!("{e:#}"),
                ?role,
                "edge instance failed; a fresh one replaces it"
            );
        }
    }
}

/// Instantiates, then takes requests until the instance is idle (then it
/// ends), has served `max_requests` or passed three quarters of its memory
/// (then it stops taking requests, hands the shard to a new primary, and
/// ends once those it has are answered), or traps (then its requests in
/// flight fail). The primary hands over in every case.
async fn serve(shard: &Arc<Shard>, role: Role) -> wasmtime::Result<()> {
    let mut handed_over = false;
    let hand_over = |handed_over: &mut bool| {
        if role == Role::Primary && !std::mem::replace(handed_over, true) {
            shard.primary_ended();
        }
    };
    let result = async {
        let rt = &shard.rt;
        let limits = &rt.limits;
        let grown = Arc::new(AtomicUsize::new(0));
        let mut store = rt.store(grown.clone());
        let instance = rt.pre.instantiate_async(&mut store).await?;
        let proxy = Proxy::P3(rt.service.load(&mut store, &instance)?);
        let front = rt.front.load(&mut store, &instance)?;
        count(&COUNTERS.instances_started);
        let idle = match role {
            Role::Primary => limits.idle_timeout,
            Role::Overflow => OVERFLOW_IDLE,
        };
        let (proxy, front) = (&proxy, front.zerodb_edge_front());
        let handed_over = &mut handed_over;
        let waits = store.data().origin.waits.clone();
        store
            .run_concurrent(async |accessor| -> wasmtime::Result<()> {
                let mut requests = FuturesUnordered::new();
                let mut served = 0usize;
                let mut accepting = true;
                while accepting || !requests.is_empty() {
                    // A new request is taken only while few enough are outside an origin wait.
                    let room = requests.len().saturating_sub(waits.waiting()) < limits.max_running;
                    tokio::select! {
                        biased;
                        Some(done) = requests.next() => {
                            let _sent: bool = done?;
                        }
                        () = waits.wait_started(), if accepting && !room => {}
                        job = shard.take(role), if accepting && room => {
                            served += 1;
                            let (deadline, flag) = (job.deadline, job.flag.clone());
                            let expired = tokio::time::sleep_until(deadline.into());
                            let started = accessor.with(|mut store| -> wasmtime::Result<_> {
                                let mut store = store.as_context_mut();
                                let prepared = match job.request {
                                    Handoff::Whole(request) => Either::Left((request, job.reply)),
                                    Handoff::Streaming(request) => Either::Right(Prepared::new(
                                        store.as_context_mut(),
                                        proxy,
                                        request,
                                        InstanceState::http,
                                        job.reply,
                                    )?),
                                };
                                let id = store.data_mut().watchdog.start(deadline, flag);
                                Ok((id, prepared))
                            });
                            match started {
                                Ok((id, prepared)) => requests.push(async move {
                                    let sent = match prepared {
                                        Either::Left((request, reply)) => {
                                            let (answer, sent) = front::call(front, accessor, request, expired).await;
                                            let _ = reply.send(answer);
                                            Ok(sent)
                                        }
                                        Either::Right(prepared) => prepared.run(accessor, expired).await,
                                    };
                                    accessor.with(|mut store| store.as_context_mut().data_mut().watchdog.finish(id));
                                    sent
                                }),
                                // The reply went with the request: its client gets a failure.
                                Err(e) => tracing::warn!(error = %e, "a request could not be handed to the edge instance"),
                            }
                        }
                        () = tokio::time::sleep(idle), if requests.is_empty() => accepting = false,
                    }
                    let past_memory = grown.load(Ordering::Relaxed) > limits.max_memory_bytes / 4 * 3;
                    if accepting && (served >= limits.max_requests || past_memory) {
                        if past_memory {
                            count(&COUNTERS.instances_retired_memory);
                        }
                        accepting = false;
                    }
                    if !accepting {
                        hand_over(handed_over);
                    }
                }
                // Answers whose bodies the guest is still writing.
                std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
                Ok(())
            })
            .await?
    }
    .await;
    hand_over(&mut handed_over);
    result
}
