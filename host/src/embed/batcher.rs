//! The queue in front of one encoder: requests wait in a bounded queue,
//! worker threads (off the async reactor) take every request waiting, up to
//! a batch of texts, and run them through the model together, so that
//! concurrent requests share forward passes.

use super::encoder::Encoder;
use crate::metrics::{count, COUNTERS};
use edge_core::error::{code, ApiError};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Vectors = Vec<Vec<f32>>;

/// One request's texts and where its vectors go.
struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vectors, ApiError>>,
}

/// Sizes of the queue and its batches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueueConfig {
    /// Threads running the model; each forward pass also uses candle's own
    /// threads, so one is usually best on a small machine.
    pub workers: usize,
    /// Most texts in one forward pass.
    pub max_batch: usize,
    /// Most texts waiting or being encoded; past it a request is refused
    /// with 503 `overloaded`.
    pub capacity: usize,
}

/// The queue of one encoder (see the module documentation).
pub struct Queue {
    jobs: Sender<Job>,
    /// Texts queued or being encoded.
    pending: Arc<AtomicUsize>,
    capacity: usize,
}

impl Queue {
    /// Starts `config.workers` threads encoding with `encoder`.
    pub fn start(name: &str, encoder: Arc<Encoder>, config: QueueConfig) -> std::io::Result<Queue> {
        let (jobs, receiver) = mpsc::channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let pending = Arc::new(AtomicUsize::new(0));
        for n in 0..config.workers.max(1) {
            let (encoder, receiver, pending) = (encoder.clone(), receiver.clone(), pending.clone());
            std::thread::Builder::new()
                .name(format!("embed-{n}"))
                .spawn(move || work(&encoder, &receiver, &pending, config.max_batch.max(1)))?;
        }
        tracing::info!(model = name, workers = config.workers, "embedding model loaded");
        Ok(Queue {
            jobs,
            pending,
            capacity: config.capacity,
        })
    }

    /// The vectors of `texts`, in order. Errors: 503 `overloaded` (retry
    /// after 1 s) when the queue holds `capacity` texts already; 500
    /// `internal` when the model fails.
    pub async fn encode(&self, texts: Vec<String>) -> Result<Vectors, ApiError> {
        let n = texts.len();
        if self.pending.fetch_add(n, Ordering::AcqRel) + n > self.capacity {
            self.pending.fetch_sub(n, Ordering::AcqRel);
            count(&COUNTERS.embedding_overloaded);
            return Err(ApiError::retry_after(
                code::OVERLOADED,
                format!("the embedding model's queue is full ({} texts)", self.capacity),
                1,
            ));
        }
        let (reply, answer) = oneshot::channel();
        if self.jobs.send(Job { texts, reply }).is_err() {
            self.pending.fetch_sub(n, Ordering::AcqRel);
            return Err(ApiError::new(code::INTERNAL, "the embedding workers have stopped"));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::new(code::INTERNAL, "an embedding worker stopped")))
    }
}

/// A worker: takes the first job waiting, then every other one already
/// waiting while the batch has room, and encodes them together.
fn work(encoder: &Encoder, receiver: &Mutex<Receiver<Job>>, pending: &AtomicUsize, max_batch: usize) {
    loop {
        let jobs = {
            let Ok(receiver) = receiver.lock() else { return };
            let Ok(first) = receiver.recv() else { return };
            let mut texts = first.texts.len();
            let mut jobs = vec![first];
            while texts < max_batch {
                match receiver.try_recv() {
                    Ok(job) => {
                        texts += job.texts.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            jobs
        };
        let all: Vec<&str> = jobs.iter().flat_map(|j| j.texts.iter().map(String::as_str)).collect();
        let count = all.len();
        // A panic in the model answers its requests with an error, not a hang.
        let vectors = std::panic::catch_unwind(AssertUnwindSafe(|| encode_sorted(encoder, &all, max_batch)))
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the model panicked")));
        pending.fetch_sub(count, Ordering::AcqRel);
        match vectors {
            Ok(vectors) => {
                let mut vectors = vectors.into_iter();
                for job in jobs {
                    let mine = vectors.by_ref().take(job.texts.len()).collect();
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "embedding failed");
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(ApiError::new(code::INTERNAL, "the embedding model failed")));
                }
            }
        }
    }
}

/// Encodes `texts` in forward passes of at most `max_batch`, texts of
/// similar length together (a pass pads every text to its longest), and
/// answers the vectors in the texts' order.
fn encode_sorted(encoder: &Encoder, texts: &[&str], max_batch: usize) -> anyhow::Result<Vectors> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let mut vectors = vec![Vec::new(); texts.len()];
    for chunk in order.chunks(max_batch) {
        let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
        let encoded = encoder.encode(&batch)?;
        count(&COUNTERS.embedding_batches);
        COUNTERS
            .embedding_texts
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (&i, vector) in chunk.iter().zip(encoded) {
            vectors[i] = vector;
        }
    }
    Ok(vectors)
}
