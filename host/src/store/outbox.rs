//! The transactional outbox of change events.
//!
//! Every write to vectors, collections and memory records adds its event to
//! `zerodb.outbox` in the write's own transaction, so an acknowledged write
//! always has its event. The publisher (`crate::events`) takes events out in
//! `seq` order once they are on the broker: delivery is at-least-once, and
//! each event carries a UUID for consumers to drop repeats.

use super::{db_error, Project, Result, Store};
use deadpool_postgres::{Object, Transaction};
use serde_json::Value;

/// One event waiting to be published.
#[derive(Debug)]
pub struct OutboxEvent {
    pub seq: i64,
    pub id: String,
    pub project_id: i64,
    pub kind: String,
    pub payload: Value,
    pub created_at_ms: i64,
}

impl OutboxEvent {
    /// The event as published: its payload plus who, what and when.
    pub fn to_json(&self) -> Value {
        let mut event = serde_json::json!({
            "id": self.id,
            "seq": self.seq,
            "project_id": self.project_id,
            "kind": self.kind,
            "at_ms": self.created_at_ms,
        });
        if let (Some(event), Value::Object(payload)) = (event.as_object_mut(), &self.payload) {
            event.extend(payload.clone());
        }
        event
    }
}

/// The oldest waiting events, locked so that one publisher at a time (across
/// hosts sharing the database) sends them. Drop without [`OutboxBatch::ack`]
/// and the lock goes with the connection, leaving the events in place.
pub struct OutboxBatch {
    client: Option<Object>,
    pub events: Vec<OutboxEvent>,
}

impl OutboxBatch {
    /// Removes the batch's events: they are on the broker.
    pub async fn ack(mut self) -> Result<()> {
        let Some(client) = self.client.take() else {
            return Ok(());
        };
        let seqs: Vec<i64> = self.events.iter().map(|e| e.seq).collect();
        let done = async {
            client
                .execute("DELETE FROM zerodb.outbox WHERE seq = ANY($1)", &[&seqs])
                .await?;
            client.batch_execute("COMMIT").await
        };
        match done.await {
            Ok(()) => Ok(()),
            Err(e) => {
                drop(Object::take(client));
                Err(db_error(e))
            }
        }
    }
}

impl Drop for OutboxBatch {
    fn drop(&mut self) {
        // Mid-transaction: close the connection rather than pool it.
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

/// The advisory lock that orders writers' events (an arbitrary constant,
/// "zerodb-o" in ASCII).
const OUTBOX_TURN: i64 = 0x7a65_726f_6462_2d6f;

impl Store {
    /// Adds a change event to the write transaction `tx`; a no-op when no
    /// broker is configured (nothing would ever drain the outbox).
    pub(crate) async fn record_event(
        &self,
        tx: &Transaction<'_>,
        project: &Project,
        kind: &str,
        payload: Value,
    ) -> Result<()> {
        if self.events.is_none() {
            return Ok(());
        }
        // Writers take their `seq` one at a time and keep that turn until
        // they commit, so that `seq` order is commit order: the publisher
        // reads in `seq` order, and must never publish a later event while
        // an earlier one is still uncommitted (and so invisible to it).
        // Only the tail of each write waits: this is its last statement
        // before the commit.
        let lock = tx
            .prepare_cached("SELECT pg_advisory_xact_lock($1)")
            .await
            .map_err(db_error)?;
        tx.execute(&lock, &[&OUTBOX_TURN]).await.map_err(db_error)?;
        let stmt = tx
            .prepare_cached("INSERT INTO zerodb.outbox (project_id, kind, payload) VALUES ($1, $2, $3)")
            .await
            .map_err(db_error)?;
        tx.execute(&stmt, &[&project.id, &kind, &payload])
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Tells the publisher that committed events are waiting.
    pub(crate) fn events_committed(&self) {
        if let Some(wake) = &self.events {
            wake.notify_one();
        }
    }

    /// Up to `limit` of the oldest events, locked until acknowledged.
    pub async fn outbox_batch(&self, limit: i64) -> Result<OutboxBatch> {
        let client = self.client().await?;
        client.batch_execute("BEGIN").await.map_err(db_error)?;
        let mut batch = OutboxBatch {
            client: Some(client),
            events: Vec::new(),
        };
        let client = batch.client.as_ref().expect("just set");
        let rows = client
            .query(
                "SELECT seq, event_id::text, project_id, kind, payload,
                        (extract(epoch FROM created_at) * 1000)::bigint
                 FROM zerodb.outbox ORDER BY seq LIMIT $1 FOR UPDATE",
                &[&limit],
            )
            .await
            .map_err(db_error)?;
        batch.events = rows
            .iter()
            .map(|r| OutboxEvent {
                seq: r.get(0),
                id: r.get(1),
                project_id: r.get(2),
                kind: r.get(3),
                payload: r.get(4),
                created_at_ms: r.get(5),
            })
            .collect();
        if batch.events.is_empty() {
            batch.ack().await?;
            return Ok(OutboxBatch {
                client: None,
                events: Vec::new(),
            });
        }
        Ok(batch)
    }

    /// How many events wait.
    pub async fn outbox_depth(&self) -> Result<i64> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT count(*) FROM zerodb.outbox", &[])
            .await
            .map_err(db_error)?;
        Ok(row.get(0))
    }
}
