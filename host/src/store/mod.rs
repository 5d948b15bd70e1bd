//! The origin's system of record: PostgreSQL with pgvector, over a pooled
//! `tokio-postgres`.
//!
//! Every statement is prepared; request data only ever travels as bind
//! parameters. The only identifiers spliced into SQL are the per-collection
//! table names, built from the collection's numeric id (see [`table_name`]).
//! Every query is scoped to the caller's project.

mod collections;
mod keys;
pub mod legacy;
mod memory;
mod outbox;
pub mod schema;

pub use keys::Project;

use crate::coherence::{self, Change, Coherence};
use crate::health::{Check, Outcome, Service, ServiceId};
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::Notify;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType};
use edge_core::error::{code, ApiError};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// Seconds a client is told to wait when the database is unreachable.
const RETRY_AFTER_SECS: u32 = 2;

/// How long to wait for a new connection before answering 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections of the pool that resolves API keys (besides the main pool):
/// a lookup by primary key takes well under a millisecond, and renewals run
/// one per key in use at a time.
const KEY_LOOKUP_CONNECTIONS: usize = 2;

/// The pooled PostgreSQL store.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// One connection of its own for the health probe, so that a pool busy
    /// with slow queries does not read as a database that is down.
    probe_pool: Pool,
    /// Connections of their own for resolving API keys, which nearly
    /// every request may need: a key lookup never waits behind searches
    /// that fill the main pool.
    auth_pool: Pool,
    auth: keys::AuthCache,
    /// Postgres' entry in the service registry: the circuit breaker.
    health: Arc<Service>,
    /// Set when change events are published: wakes the publisher.
    events: Option<Arc<Notify>>,
    /// Every collection's current token; advanced by each write before it
    /// is acknowledged.
    coherence: Arc<Coherence>,
    /// `ZERODB_MEMORY_DIMS`: memory records' dimension where a project has
    /// declared none.
    memory_dims: Option<u32>,
}

pub type Result<T> = std::result::Result<T, ApiError>;

impl Store {
    /// Builds the pools: the main one of `max_connections`, where a request
    /// waits up to `pool_wait` for a free connection, one connection for
    /// the health probe and [`KEY_LOOKUP_CONNECTIONS`] for API keys.
    /// Connects lazily, so a database that is down at start turns into
    /// 503s rather than a failed start.
    pub fn new(database_url: &str, max_connections: usize, pool_wait: Duration) -> anyhow::Result<Store> {
        let mut config: tokio_postgres::Config = database_url.parse()?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("zerodb-edge");
        // A runaway query must not hold a connection for ever.
        config.options("-c statement_timeout=60000");
        let pool = |size, wait| {
            let manager = Manager::from_config(
                config.clone(),
                NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(wait))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .build()
        };
        Ok(Store {
            pool: pool(max_connections, pool_wait)?,
            probe_pool: pool(1, CONNECT_TIMEOUT)?,
            auth_pool: pool(KEY_LOOKUP_CONNECTIONS, pool_wait)?,
            auth: keys::AuthCache::default(),
            health: Arc::new(Service::new(ServiceId::Postgres, Some(String::new()))),
            events: None,
            coherence: Arc::default(),
            memory_dims: None,
        })
    }

    /// Uses `health` as the circuit breaker: while it is down, calls answer
    /// 503 at once instead of waiting on a dead pool.
    pub fn with_health(mut self, health: Arc<Service>) -> Store {
        self.health = health;
        self
    }

    /// Records a change event with every write and wakes `publisher` after
    /// each commit.
    pub fn with_events(mut self, publisher: Arc<Notify>) -> Store {
        self.events = Some(publisher);
        self
    }

    /// Sets the memory dimension of projects that have declared none.
    pub fn with_memory_dims(mut self, dims: Option<u32>) -> Store {
        self.memory_dims = dims;
        self
    }

    /// Shares `coherence` (the table the change feed keeps current).
    pub fn with_coherence(mut self, coherence: Arc<Coherence>) -> Store {
        self.coherence = coherence;
        self
    }

    /// Commits a write that made `change`: announces it to every host
    /// (`NOTIFY` inside the transaction, so that it is delivered when, and
    /// only if, the write commits, stamped with the database's clock for
    /// the feed's lag), commits, wakes the event publisher, and
    /// applies it to this host's table before the caller acknowledges it.
    pub(crate) async fn commit_change(&self, tx: deadpool_postgres::Transaction<'_>, change: Change) -> Result<()> {
        let stmt = tx.prepare_cached(coherence::NOTIFY).await.map_err(db_error)?;
        tx.execute(&stmt, &[&coherence::CHANNEL, &change.payload()])
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        self.events_committed();
        self.coherence.apply(&change);
        Ok(())
    }

    /// A connection of the main pool; 503 at once while the breaker is
    /// open, 503 `overloaded` when none frees up in time.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.client_of(&self.pool).await
    }

    /// A connection for resolving API keys, as [`Self::client`] gives one.
    pub(crate) async fn auth_client(&self) -> Result<deadpool_postgres::Object> {
        self.client_of(&self.auth_pool).await
    }

    async fn client_of(&self, pool: &Pool) -> Result<deadpool_postgres::Object> {
        if !self.health.usable() {
            crate::metrics::count(&crate::metrics::COUNTERS.db_breaker_refusals);
            // Not logged: the breaker's state change already was, once.
            return Err(ApiError::retry_after(
                code::DATABASE_UNAVAILABLE,
                "the database is unreachable; retry later",
                RETRY_AFTER_SECS,
            ));
        }
        crate::metrics::count(&crate::metrics::COUNTERS.db_pool_acquisitions);
        match pool.get().await {
            Ok(client) => {
                self.health.record_traffic(true);
                Ok(client)
            }
            // Every connection is busy: the database answers, only slowly,
            // so this is no failure of it (passive ejection would turn a
            // burst of load into an outage).
            Err(PoolError::Timeout(TimeoutType::Wait)) => Err(ApiError::retry_after(
                code::OVERLOADED,
                "every database connection is busy; retry later",
                RETRY_AFTER_SECS,
            )),
            Err(e) => {
                self.health.record_traffic(false);
                Err(match e {
                    PoolError::Backend(e) => db_error(e),
                    other => unavailable(&other.to_string()),
                })
            }
        }
    }

    /// The health probe: `SELECT 1` on the probe's own pooled connection,
    /// past the breaker. Fails with the error and whether the connection was
    /// refused.
    pub async fn ping(&self) -> std::result::Result<(), (String, bool)> {
        let client = self.probe_pool.get().await.map_err(|e| {
            let refused = match &e {
                PoolError::Backend(e) => refused(e),
                _ => false,
            };
            (chain(&e), refused)
        })?;
        client
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(|e| (chain(&e), refused(&e)))
    }
}

/// An error and its causes, `a: b: c`.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Whether nothing listens where the database should be.
fn refused(e: &tokio_postgres::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        source = err.source();
    }
    false
}

fn unavailable(detail: &str) -> ApiError {
    tracing::warn!(detail, "database unavailable");
    ApiError::retry_after(
        code::DATABASE_UNAVAILABLE,
        "the database is unreachable; retry later",
        RETRY_AFTER_SECS,
    )
}

/// Maps a database error to what the client should see. Connection trouble is
/// a 503 with `Retry-After`; anything unexpected is a 500 whose detail goes to
/// the log, not the client.
pub(crate) fn db_error(e: tokio_postgres::Error) -> ApiError {
    let Some(db) = e.as_db_error() else {
        return unavailable(&e.to_string());
    };
    let code = db.code();
    if *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::TOO_MANY_CONNECTIONS
    {
        return unavailable(db.message());
    }
    if *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE {
        return ApiError::retry_after(code::WRITE_CONFLICT, "a concurrent change got in the way; retry", 1);
    }
    if *code == SqlState::QUERY_CANCELED {
        return ApiError::retry_after(
            code::QUERY_TIMEOUT,
            "the query took too long; retry later",
            RETRY_AFTER_SECS,
        );
    }
    tracing::error!(code = code.code(), message = db.message(), "database error");
    ApiError::new(code::INTERNAL, "internal database error")
}

/// The table holding a collection's vectors. Built from the numeric id only,
/// never from a name a client chose.
pub(crate) fn table_name(collection_id: i64) -> String {
    format!("zerodb_data.c{collection_id}")
}

/// The Postgres health check: `SELECT 1` on the store's probe connection,
/// past the circuit breaker.
impl Check for Store {
    fn check(&self, _timeout: Duration) -> BoxFuture<'_, Outcome> {
        Box::pin(async move {
            match self.ping().await {
                Ok(()) => Outcome::Up,
                Err((error, refused)) => Outcome::Failed { error, refused },
            }
        })
    }
}
