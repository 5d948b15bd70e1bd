//! The queue in front of one encoder: requests wait in a bounded queue as
//! chunks of their texts; worker threads (off the async reactor) each take
//! chunks waiting, up to a batch of texts, and run them through the model
//! together, so that concurrent requests share forward passes and one large
//! request is spread over every worker.
//!
//! Each worker runs the model on one core (see [`super::one_core_per_pass`]):
//! for a model of this size, batches side by side use the cores better than
//! one batch split across them (measured: 324 against 254 sentences/s at
//! batch 32 on two cores).

use super::encoder::Encoder;
use crate::metrics::{count, COUNTERS};
use edge_core::error::{code, ApiError};
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::oneshot;

type Vectors = Vec<Vec<f32>>;

/// A request's vectors as its chunks finish, and where they go when all have.
struct Job {
    vectors: Vec<Option<Vec<f32>>>,
    chunks_left: usize,
    reply: Option<oneshot::Sender<Result<Vectors, ApiError>>>,
}

/// Some consecutive texts of one request.
struct Chunk {
    job: Arc<Mutex<Job>>,
    /// Where the first text sits in the request.
    offset: usize,
    texts: Vec<String>,
}

/// Sizes of the queue and its batches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueueConfig {
    /// Threads running the model, one core each.
    pub workers: usize,
    /// Most texts in one forward pass (one worker's batch).
    pub max_batch: usize,
    /// Most texts waiting or being encoded; past it a request is refused
    /// with 503 `overloaded`.
    pub capacity: usize,
}

/// Chunks waiting, and the signal that one arrived.
#[derive(Default)]
struct Waiting {
    chunks: Mutex<VecDeque<Chunk>>,
    arrived: Condvar,
}

/// The queue of one encoder (see the module documentation).
pub struct Queue {
    waiting: Arc<Waiting>,
    /// Texts queued or being encoded.
    pending: Arc<AtomicUsize>,
    config: QueueConfig,
}

impl Queue {
    /// Starts `config.workers` threads encoding with `encoder`.
    pub fn start(name: &str, encoder: Arc<Encoder>, config: QueueConfig) -> std::io::Result<Queue> {
        let waiting = Arc::new(Waiting::default());
        let pending = Arc::new(AtomicUsize::new(0));
        for n in 0..config.workers.max(1) {
            let (encoder, waiting, pending) = (encoder.clone(), waiting.clone(), pending.clone());
            std::thread::Builder::new()
                .name(format!("embed-{n}"))
                .spawn(move || work(&encoder, &waiting, &pending, config.max_batch.max(1)))?;
        }
        tracing::info!(model = name, workers = config.workers, "embedding model loaded");
        Ok(Queue {
            waiting,
            pending,
            config,
        })
    }

    /// The vectors of `texts`, in order. Errors: 503 `overloaded` (retry
    /// after 1 s) when the queue holds `capacity` texts already; 500
    /// `internal` when the model fails.
    pub async fn encode(&self, texts: Vec<String>) -> Result<Vectors, ApiError> {
        let n = texts.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.pending.fetch_add(n, Ordering::AcqRel) + n > self.config.capacity {
            self.pending.fetch_sub(n, Ordering::AcqRel);
            count(&COUNTERS.embedding_overloaded);
            return Err(ApiError::retry_after(
                code::OVERLOADED,
                format!("the embedding model's queue is full ({} texts)", self.config.capacity),
                1,
            ));
        }
        // Enough chunks for every worker to take one, none past a batch.
        let size = n.div_ceil(self.config.workers.max(1)).min(self.config.max_batch.max(1));
        let (reply, answer) = oneshot::channel();
        let job = Arc::new(Mutex::new(Job {
            vectors: vec![None; n],
            chunks_left: n.div_ceil(size),
            reply: Some(reply),
        }));
        {
            let mut chunks = self.waiting.chunks.lock().unwrap_or_else(|e| e.into_inner());
            let mut texts = texts.into_iter();
            for offset in (0..n).step_by(size) {
                chunks.push_back(Chunk {
                    job: job.clone(),
                    offset,
                    texts: texts.by_ref().take(size).collect(),
                });
            }
        }
        self.waiting.arrived.notify_all();
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::new(code::INTERNAL, "an embedding worker stopped")))
    }
}

/// A worker: takes the first chunk waiting, then those behind it that fit
/// in its batch and belong to other requests (a request's next chunk is
/// left to another worker), and encodes them together.
fn work(encoder: &Encoder, waiting: &Waiting, pending: &AtomicUsize, max_batch: usize) {
    loop {
        let chunks = {
            let mut queue = waiting.chunks.lock().unwrap_or_else(|e| e.into_inner());
            while queue.is_empty() {
                queue = waiting.arrived.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
            let mut taken: Vec<Chunk> = Vec::new();
            let mut texts = 0;
            let mut i = 0;
            while i < queue.len() {
                let chunk = &queue[i];
                let fits = taken.is_empty() || texts + chunk.texts.len() <= max_batch;
                let same_job = taken.iter().any(|t| Arc::ptr_eq(&t.job, &chunk.job));
                if fits && !same_job {
                    texts += chunk.texts.len();
                    taken.extend(queue.remove(i));
                } else {
                    i += 1;
                }
                if texts >= max_batch {
                    break;
                }
            }
            taken
        };
        let all: Vec<&str> = chunks.iter().flat_map(|c| c.texts.iter().map(String::as_str)).collect();
        let count = all.len();
        // A panic in the model answers its requests with an error, not a hang.
        let vectors = std::panic::catch_unwind(AssertUnwindSafe(|| encode_sorted(encoder, &all, max_batch)))
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the model panicked")));
        pending.fetch_sub(count, Ordering::AcqRel);
        // (A failed pass fails every request that shared it.)
        if let Err(e) = &vectors {
            tracing::error!(error = %e, "embedding failed");
        }
        let mut vectors = vectors.ok().map(Vec::into_iter);
        for chunk in chunks {
            let mine: Option<Vectors> = vectors.as_mut().map(|v| v.by_ref().take(chunk.texts.len()).collect());
            finish(&chunk, mine);
        }
    }
}

/// Files a chunk's vectors (none: the model failed) with its request, and
/// answers the request once its last chunk is in.
fn finish(chunk: &Chunk, vectors: Option<Vectors>) {
    let Ok(mut job) = chunk.job.lock() else { return };
    job.chunks_left -= 1;
    match vectors {
        Some(vectors) => {
            for (i, vector) in vectors.into_iter().enumerate() {
                job.vectors[chunk.offset + i] = Some(vector);
            }
        }
        None => {
            if let Some(reply) = job.reply.take() {
                let _ = reply.send(Err(ApiError::new(code::INTERNAL, "the embedding model failed")));
            }
        }
    }
    if job.chunks_left == 0 {
        if let Some(reply) = job.reply.take() {
            let vectors: Option<Vectors> = std::mem::take(&mut job.vectors).into_iter().collect();
            let answer = vectors.ok_or_else(|| ApiError::new(code::INTERNAL, "an embedding went missing"));
            let _ = reply.send(answer);
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
