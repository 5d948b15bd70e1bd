//! The composition root of `serve` (and of `health`, which probes the same
//! services once). It alone reads the resolved settings: it builds the
//! service registry from plain service ids and endpoints, the store, the
//! object store client, the event publisher, the probers, the runtime and
//! the HTTP front, hands each the values it needs, and owns shutdown. Other
//! subsystems take only `config`'s value types (probe and S3 settings).

use crate::config::{self, HealthArgs, ServeConfig, ServicesConfig};
use crate::embed::Embedder;
use crate::health::checks::{self, Endpoint, Sequence};
use crate::health::{probe, Check, Registry, ServiceId};
use crate::origin::{http::OriginApi, OriginService};
use crate::store::Store;
use crate::{coherence, events, files, runtime, server};
use anyhow::Context;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The registry of the configured services; Postgres is always configured.
pub fn registry(services: &ServicesConfig, database_url: &str) -> Registry {
    let redpanda = services
        .redpanda_admin
        .clone()
        .or_else(|| (!services.brokers.is_empty()).then(|| services.brokers.join(",")));
    Registry::new(
        services.probe.clone(),
        [
            Some(config::database_endpoint(database_url)),
            services.qdrant.clone(),
            services.s3.as_ref().map(|s3| s3.url.clone()),
            redpanda,
        ],
        !services.brokers.is_empty(),
    )
}

/// The service with that name, for `health --require`.
fn service_named(name: &str) -> anyhow::Result<ServiceId> {
    match ServiceId::ALL.iter().find(|s| s.name() == name.trim()) {
        Some(id) => Ok(*id),
        None => anyhow::bail!("--require: unknown service {name:?} (postgres, qdrant, minio, redpanda)"),
    }
}

/// Checks every probed URL before anything starts: a bad one is a setting
/// refused before the socket is bound.
fn check_endpoints(services: &ServicesConfig) -> anyhow::Result<()> {
    for url in services.probed_urls() {
        Endpoint::parse(url)?;
    }
    Ok(())
}

/// The health check of every configured service.
pub fn checks(services: &ServicesConfig, store: &Store) -> anyhow::Result<Vec<(ServiceId, Box<dyn Check>)>> {
    let mut checks: Vec<(ServiceId, Box<dyn Check>)> = vec![(ServiceId::Postgres, Box::new(store.clone()))];
    if let Some(url) = &services.qdrant {
        checks.push((ServiceId::Qdrant, Box::new(checks::Qdrant(Endpoint::parse(url)?))));
    }
    if let Some(s3) = &services.s3 {
        checks.push((ServiceId::Minio, Box::new(checks::Minio(Endpoint::parse(&s3.url)?))));
    }
    // Redpanda: the admin API first (when configured), then the Kafka API.
    let mut redpanda: Vec<Box<dyn Check>> = Vec::new();
    if let Some(admin) = &services.redpanda_admin {
        redpanda.push(Box::new(checks::RedpandaAdmin(Endpoint::parse(admin)?)));
    }
    if !services.brokers.is_empty() {
        redpanda.push(Box::new(events::KafkaCheck {
            brokers: services.brokers.clone(),
        }));
    }
    if !redpanda.is_empty() {
        checks.push((ServiceId::Redpanda, Box::new(Sequence(redpanda))));
    }
    Ok(checks)
}

/// Serves the HTTP API until `shutdown` resolves, then drains: the front
/// stops taking requests, the publisher flushes the outbox, the probers
/// stop, the coherence feed ends, and the guests are told the process is
/// ending.
pub async fn serve(config: ServeConfig, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<ExitCode> {
    let services = &config.services;
    check_endpoints(services)?;
    let registry = Arc::new(registry(services, &config.database_url));
    let coherence = Arc::new(coherence::Coherence::default());
    let mut store = Store::new(&config.database_url, config.pool.max_connections, config.pool.wait)?
        .with_coherence(coherence.clone())
        .with_memory_dims(config.memory_dims)
        .with_auth_cache(config.auth_cache)
        .with_health(registry.service(ServiceId::Postgres).clone());
    let events = (!services.brokers.is_empty()).then(|| Arc::new(tokio::sync::Notify::new()));
    if let Some(wake) = &events {
        store = store.with_events(wake.clone());
    }
    if config.migrate {
        store.migrate().await.context("applying migrations")?;
    }
    let feed = coherence::spawn_feed(coherence.clone(), config.database_url.parse()?);
    let (stop_probers, probers_stopped) = tokio::sync::watch::channel(false);
    let probers: Vec<_> = checks(services, &store)?
        .into_iter()
        .map(|(id, check)| probe::spawn(registry.clone(), id, check, probers_stopped.clone()))
        .collect();
    let publisher = events.map(|wake| {
        events::Publisher {
            store: store.clone(),
            registry: registry.clone(),
            brokers: services.brokers.clone(),
            topic: services.topic.clone(),
            wake,
            timeout: services.probe.timeout,
        }
        .spawn()
    });
    let files = files::Files::new(
        services.s3.as_ref(),
        registry.service(ServiceId::Minio).clone(),
        services.probe.timeout,
    )?;
    // Loading reads every model's weights: before the listener is bound,
    // so that a host that answers can embed.
    let models = config.embedding.clone();
    let embedder = tokio::task::spawn_blocking(move || Embedder::load(&models))
        .await?
        .context("loading the embedding models")?;
    let embedder = Arc::new(embedder);
    let origin = OriginService {
        store,
        registry: registry.clone(),
        files,
        coherence,
        searches: Default::default(),
        embedder,
    };
    let origin_api = config
        .origin_secret
        .as_deref()
        .map(|secret| OriginApi::new(origin.clone(), secret));
    let instances = &config.instances;
    let limits = runtime::InstanceLimits {
        max_requests: instances.max_requests,
        max_memory_bytes: instances.max_memory_bytes,
        request_timeout: instances.request_timeout,
        idle_timeout: runtime::IDLE_TIMEOUT,
        max_in_flight: instances.max_in_flight,
        max_running: instances.max_running,
        primaries: instances.instances_per_shard,
        max_instances: instances.instances_per_shard + instances.overflow_instances,
        env: config.cache.to_env(),
    };
    let runtime = runtime::Runtime::new(&config.component, origin, limits)?;
    let front = server::Front {
        shards: Arc::new(runtime).shards(instances.shards),
        registry,
        origin_api,
        max_response_bytes: instances.max_response_bytes,
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    // Tests and scripts read the address from this line.
    println!("zerodb-edge listening on http://{}", listener.local_addr()?);
    server::serve(listener, front, shutdown).await?;
    // The publisher still reads Redpanda's state while it flushes, so the
    // probers stop after it.
    if let Some(publisher) = publisher {
        publisher.flush(Duration::from_secs(10)).await;
    }
    let _ = stop_probers.send(true);
    futures::future::join_all(probers).await;
    // Nothing is served any more, so nothing reads the tokens the feed keeps.
    feed.abort();
    runtime::SHUTTING_DOWN.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(ExitCode::SUCCESS)
}

/// `zerodb-edge health`: probes every configured service once, prints the
/// registry and routing table, and fails when a required service is down.
pub async fn health(args: HealthArgs) -> anyhow::Result<ExitCode> {
    let (database_url, services, require) = args.resolve()?;
    let mut required = vec![ServiceId::Postgres];
    for name in &require {
        required.push(service_named(name)?);
    }
    check_endpoints(&services)?;
    let registry = registry(&services, &database_url);
    let store = Store::new(&database_url, 1, config::POOL_WAIT)?;
    probe::check_once(&registry, checks(&services, &store)?).await;
    print!("{}", registry.table());
    let down: Vec<&str> = required
        .iter()
        .filter(|id| !registry.service(**id).usable())
        .map(|id| id.name())
        .collect();
    if down.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("required service(s) down: {}", down.join(", "));
        Ok(ExitCode::from(1))
    }
}
