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
pub mod schema;

pub use keys::Project;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use edge_core::model::{ApiError, ErrorKind};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// Seconds a client is told to wait when the database is unreachable.
const RETRY_AFTER_SECS: u32 = 2;

/// How long to wait for a connection before answering 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The pooled PostgreSQL store.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    auth: keys::AuthCache,
}

pub type Result<T> = std::result::Result<T, ApiError>;

impl Store {
    /// Builds the pool; connects lazily, so a database that is down at start
    /// turns into 503s rather than a failed start.
    pub fn new(database_url: &str, max_connections: usize) -> anyhow::Result<Store> {
        let mut config: tokio_postgres::Config = database_url.parse()?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("zerodb-edge");
        // A runaway query must not hold a connection for ever.
        config.options("-c statement_timeout=60000");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()?;
        Ok(Store {
            pool,
            auth: keys::AuthCache::default(),
        })
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => db_error(e),
            other => unavailable(&other.to_string()),
        })
    }
}

fn unavailable(detail: &str) -> ApiError {
    tracing::warn!(detail, "database unavailable");
    ApiError::unavailable(
        "database_unavailable",
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
        return ApiError::unavailable("write_conflict", "a concurrent change got in the way; retry", 1);
    }
    if *code == SqlState::QUERY_CANCELED {
        return ApiError::unavailable(
            "query_timeout",
            "the query took too long; retry later",
            RETRY_AFTER_SECS,
        );
    }
    tracing::error!(code = code.code(), message = db.message(), "database error");
    ApiError::new(ErrorKind::Internal, "internal", "internal database error")
}

/// The table holding a collection's vectors. Built from the numeric id only,
/// never from a name a client chose.
pub(crate) fn table_name(collection_id: i64) -> String {
    format!("zerodb_data.c{collection_id}")
}
