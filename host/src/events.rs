//! Change events to Redpanda (any Kafka API), through the Postgres outbox.
//!
//! Writes put their events in the outbox (`store::outbox`) and wake the
//! publisher. While the registry has Redpanda usable, the publisher moves
//! events to partition 0 of the topic in `seq` order, then deletes them;
//! while it is down, events wait, and drain in order when it returns.

use crate::health::{Check, Outcome, Registry, ServiceId};
use crate::store::Store;
use futures::future::BoxFuture;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use rskafka::BackoffConfig;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Events sent in one produce request.
const BATCH: i64 = 256;
/// How often the publisher looks at the outbox when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);

/// A Kafka client that gives up after `timeout` instead of retrying for ever.
pub async fn kafka_client(brokers: &[String], timeout: Duration) -> rskafka::client::error::Result<Client> {
    ClientBuilder::new(brokers.to_vec())
        .client_id("zerodb-edge")
        .backoff_config(BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: timeout,
            base: 2.0,
            deadline: Some(timeout),
        })
        .build()
        .await
}

pub struct Publisher {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub brokers: Vec<String>,
    pub topic: String,
    pub wake: Arc<Notify>,
    pub timeout: Duration,
}

/// A running publisher; [`Running::flush`] ends it.
pub struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Sends what waits in the outbox one last time, whatever the registry
    /// says of the broker (it may be back before a probe has seen it), and
    /// stops. Gives up after `deadline`: the events stay in the outbox.
    pub async fn flush(self, deadline: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(deadline, self.task).await.is_err() {
            tracing::warn!("the outbox was not flushed before the deadline; its events wait for the next start");
        }
    }
}

impl Publisher {
    pub fn spawn(self) -> Running {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(self.run(stopped));
        Running { stop, task }
    }

    async fn run(self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let redpanda = self.registry.service(ServiceId::Redpanda).clone();
        let mut partition: Option<PartitionClient> = None;
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                _ = stopped.changed() => {
                    while let Some(true) = self.publish_batch(&mut partition).await {}
                    return;
                }
            }
            if redpanda.usable() {
                while let Some(sent) = self.publish_batch(&mut partition).await {
                    if !sent {
                        redpanda.record_traffic(false);
                        partition = None;
                        break;
                    }
                }
            } else {
                partition = None;
            }
            if let Ok(depth) = self.store.outbox_depth().await {
                self.registry.outbox_depth.store(depth, Ordering::Relaxed);
            }
        }
    }

    /// Publishes the oldest batch. `None`: nothing to send (or the database
    /// could not say); `Some(false)`: the broker failed and the batch stays.
    async fn publish_batch(&self, partition: &mut Option<PartitionClient>) -> Option<bool> {
        let batch = self.store.outbox_batch(BATCH).await.ok()?;
        if batch.events.is_empty() {
            return None;
        }
        if partition.is_none() {
            match tokio::time::timeout(self.timeout, self.connect()).await {
                Ok(Ok(client)) => *partition = Some(client),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot reach the Kafka API; events wait in the outbox");
                    return Some(false);
                }
                Err(_) => return Some(false),
            }
        }
        let client = partition.as_ref()?;
        let records: Vec<Record> = batch
            .events
            .iter()
            .map(|event| Record {
                key: Some(event.project_id.to_string().into_bytes()),
                value: Some(event.to_json().to_string().into_bytes()),
                headers: [("event-id".to_string(), event.id.clone().into_bytes())].into(),
                timestamp: rskafka::chrono::DateTime::from_timestamp_millis(event.created_at_ms).unwrap_or_default(),
            })
            .collect();
        match tokio::time::timeout(self.timeout, client.produce(records, Compression::NoCompression)).await {
            Ok(Ok(_offsets)) => Some(batch.ack().await.is_ok()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "producing events failed; they stay in the outbox");
                Some(false)
            }
            Err(_) => Some(false),
        }
    }

    /// Connects and makes sure the topic exists (brokers may not create
    /// topics on first use).
    async fn connect(&self) -> rskafka::client::error::Result<PartitionClient> {
        let client = kafka_client(&self.brokers, self.timeout).await?;
        let topics = client.list_topics().await?;
        if !topics.iter().any(|t| t.name == self.topic) {
            if let Err(e) = client.controller_client()?.create_topic(&self.topic, 1, 1, 5_000).await {
                // Another host may have created it meanwhile.
                tracing::debug!(error = %e, topic = %self.topic, "create topic");
            }
        }
        client
            .partition_client(self.topic.clone(), 0, UnknownTopicHandling::Error)
            .await
    }
}

/// The Kafka API's health check: connect to the brokers and ask for the
/// cluster's metadata.
pub struct KafkaCheck {
    pub brokers: Vec<String>,
}

impl Check for KafkaCheck {
    fn check(&self, timeout: Duration) -> BoxFuture<'_, Outcome> {
        Box::pin(kafka(&self.brokers, timeout))
    }
}

/// Connects to the brokers and asks for the cluster's metadata.
async fn kafka(brokers: &[String], timeout: Duration) -> Outcome {
    let check = async {
        let client = kafka_client(brokers, timeout).await?;
        client.list_topics().await.map(|_| ())
    };
    match tokio::time::timeout(timeout, check).await {
        Ok(Ok(())) => Outcome::Up,
        Ok(Err(e)) => {
            let error = e.to_string();
            let refused = error.to_ascii_lowercase().contains("connection refused");
            Outcome::Failed { error, refused }
        }
        Err(_) => Outcome::Failed {
            error: "kafka metadata timed out".into(),
            refused: false,
        },
    }
}
