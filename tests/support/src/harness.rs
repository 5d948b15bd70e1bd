//! Test harness: a fresh database per test on the PostgreSQL that
//! `scripts/test` started, the real `zerodb-edge` binary on a free port, and
//! a small HTTP client; also the suite's concurrency layer ([`clients`]),
//! reference vector maths and a database link that can be cut.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The `zerodb-edge` binary of this build.
///
/// Cargo builds a package's binaries into `<target>/<profile>/` before it
/// runs the package's tests and benches, which it builds into
/// `<profile>/deps/`: so the binary is found next to the running
/// executable's directory. Panics when it is not there (a test binary run
/// from elsewhere than cargo's target directory).
pub fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the running test's path");
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from <target>/<profile>/deps");
        let bin = profile.join(format!("zerodb-edge{}", std::env::consts::EXE_SUFFIX));
        assert!(
            bin.is_file(),
            "{} is missing: run the tests and benches with cargo, which builds it",
            bin.display()
        );
        bin
    })
}

/// The maintenance database URL of the test cluster.
fn admin_url() -> String {
    std::env::var("ZERODB_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432/postgres".to_string())
}

/// A database created for one test and dropped after it.
pub struct TestDb {
    /// The database's name: `zt_<tag>_<pid>_<n>`.
    pub name: String,
    /// Its connection URL, as `ZERODB_DATABASE_URL` takes it.
    pub url: String,
    keep: bool,
}

impl TestDb {
    /// Events waiting in the outbox table.
    pub fn outbox_rows(&self) -> i64 {
        self.client()
            .query_one("SELECT count(*) FROM zerodb.outbox", &[])
            .unwrap()
            .get(0)
    }

    /// Waits (up to 15 s) until the outbox is empty.
    pub fn wait_outbox_drained(&self) {
        let start = std::time::Instant::now();
        while self.outbox_rows() != 0 {
            assert!(start.elapsed() < Duration::from_secs(15), "the outbox did not drain");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Creates an empty database named after `tag` (which must be a valid
    /// SQL identifier part). Panics when the test PostgreSQL is not running.
    pub fn new(tag: &str) -> TestDb {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "zt_{tag}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let admin = admin_url();
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .expect("the test PostgreSQL is not running: run the tests through scripts/test");
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        TestDb {
            url: format!("{base}/{name}"),
            name,
            keep: false,
        }
    }

    /// A database that outlives the run (the benchmarks'): never dropped.
    pub fn existing(name: &str, url: &str) -> TestDb {
        TestDb {
            name: name.to_string(),
            url: url.to_string(),
            keep: true,
        }
    }

    /// A new connection to this database.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    /// Runs the binary with `args` against this database and waits for it.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin())
            .args(args)
            .env("ZERODB_DATABASE_URL", &self.url)
            .env("ZERODB_LOG", "warn")
            .output()
            .unwrap()
    }

    /// The UUID `zerodb-edge projects` lists for `project` (its
    /// `<name> <uuid>` lines); panics when it lists none.
    pub fn project_uuid(&self, project: &str) -> String {
        let out = self.cli(&["projects"]);
        assert!(
            out.status.success(),
            "projects failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8(out.stdout).unwrap();
        listing
            .lines()
            .find_map(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [name, uuid] if name == project => Some(uuid.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no project {project} in `zerodb-edge projects`:\n{listing}"))
    }

    /// Creates an API key for `project`; panics when the CLI fails.
    pub fn key(&self, project: &str) -> String {
        let out = self.cli(&["keys", "create", "--project", project]);
        assert!(
            out.status.success(),
            "keys create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Ok(mut client) = postgres::Client::connect(&admin_url(), postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// The settings of a server that runs the default embedding model from the
/// repository's `.zerodb/models` (where `scripts/models`, run by
/// `scripts/setup`, installs it), on one worker: tests run side by side,
/// and a model on every core would starve the others' servers.
pub fn embedding_env() -> Vec<(&'static str, String)> {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.zerodb/models");
    assert!(
        models.join("all-MiniLM-L6-v2/model.safetensors").is_file(),
        "no embedding model in {}: run scripts/models (scripts/setup does)",
        models.display()
    );
    vec![
        ("ZERODB_NO_EMBEDDING", "false".into()),
        ("ZERODB_EMBEDDING_WORKERS", "1".into()),
        ("ZERODB_MODELS_DIR", models.display().to_string()),
    ]
}

/// Runs a test driver (`command`, running `script`) to its end, and panics
/// with its output unless it succeeded; answers its stdout (also printed).
pub fn run_driver(command: &mut Command, script: &Path) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{} failed ({}):\n--- stdout\n{stdout}--- stderr\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{stdout}");
    stdout
}

/// A running `zerodb-edge serve`.
pub struct Server {
    child: Child,
    /// Where it listens: `http://127.0.0.1:<port>`.
    pub base: String,
    agent: ureq::Agent,
}

impl Server {
    /// Starts `serve --migrate` against `database_url`.
    pub fn start(database_url: &str) -> Server {
        Self::start_with(database_url, &["--migrate"])
    }

    /// Starts `serve` with `extra` flags (no `--migrate` unless given).
    pub fn start_with(database_url: &str, extra: &[&str]) -> Server {
        Self::start_env(database_url, extra, &[])
    }

    /// Starts `serve` with `extra` flags and `env` variables.
    pub fn start_env(database_url: &str, extra: &[&str], env: &[(&str, String)]) -> Server {
        Self::start_bin(bin(), database_url, extra, env)
    }

    /// Starts `serve` of the `zerodb-edge` binary at `bin` (this build's, or
    /// another's for a comparison) and waits for the line that names its
    /// address. Its shards run one edge instance each unless `extra` or
    /// `env` ask for more, so that a repeated read meets the cache that
    /// answered the first.
    pub fn start_bin(bin: &Path, database_url: &str, extra: &[&str], env: &[(&str, String)]) -> Server {
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("ZERODB_EDGE_INSTANCES_PER_SHARD", "1")
            // A model costs its load and its memory: servers run one only
            // when a test asks (see [`embedding_env`]).
            .env("ZERODB_NO_EMBEDDING", "true")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("ZERODB_DATABASE_URL", database_url)
            .env("ZERODB_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("zerodb-edge listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"))
            .to_string();
        Self::attach(child, base)
    }

    /// A server already started (any HTTP host of the API) at `base`; each
    /// request may take up to 60 s.
    pub fn attach(child: Child, base: String) -> Server {
        // Keep every client's connection open between its requests (ureq
        // keeps 3 per host by default), so that 200 clients are 200
        // connections rather than a stream of new ones.
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .max_idle_connections(1000)
            .max_idle_connections_per_host(1000)
            .build()
            .into();
        Server { child, base, agent }
    }

    /// Sends a request; `key` becomes `Authorization: Bearer key`. Any
    /// status is a [`Reply`]; panics only when no answer comes.
    pub fn send(&self, method: &str, path: &str, key: Option<&str>, body: Option<Vec<u8>>) -> Reply {
        self.send_with(method, path, key, body, &[])
    }

    /// [`send`](Self::send) with extra request headers.
    pub fn send_with(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body.unwrap_or_default()).unwrap();
        let started = Instant::now();
        let mut response = self.agent.run(request).expect("HTTP request failed");
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        let (cache, retry_after) = (header("x-zerodb-cache"), header("retry-after"));
        let instance = header("x-zerodb-edge-instance");
        let server_timing = header("server-timing");
        let content_type = header("content-type");
        let body = response.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Reply {
            status,
            json,
            cache,
            retry_after,
            content_type,
            instance,
            server_timing,
            body,
            elapsed,
        }
    }

    /// Sends `body` as JSON with `key`.
    pub fn call(&self, method: &str, path: &str, key: &str, body: Option<&Value>) -> Reply {
        self.send(method, path, Some(key), body.map(|b| b.to_string().into_bytes()))
    }

    /// Upserts `vectors` into collection `name` as `v0`, `v1`, …, 1000 a
    /// request, each with the metadata `metadata(i)` gives for its index `i`
    /// within its request. Panics unless each request succeeds.
    pub fn upsert_numbered(&self, key: &str, name: &str, vectors: &[Vec<f32>], metadata: impl Fn(usize) -> Value) {
        for (n, batch) in vectors.chunks(1000).enumerate() {
            let body: Vec<Value> = batch
                .iter()
                .enumerate()
                .map(|(i, v)| serde_json::json!({"id": format!("v{}", n * 1000 + i), "values": v, "metadata": metadata(i)}))
                .collect();
            let path = format!("/v1/collections/{name}/vectors");
            self.call("PUT", &path, key, Some(&serde_json::json!({ "vectors": body })))
                .ok();
        }
    }

    /// The host's `/metrics`, each series (name with its labels, as
    /// written) to its value.
    pub fn metrics(&self) -> std::collections::HashMap<String, f64> {
        let reply = self.send("GET", "/metrics", None, None);
        assert_eq!(reply.status, 200, "/metrics answered {}", reply.status);
        String::from_utf8(reply.body)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(series, value)| (series.to_string(), value.parse().unwrap()))
            .collect()
    }

    /// One series of [`metrics`](Self::metrics); panics when it is absent.
    #[track_caller]
    pub fn metric(&self, series: &str) -> f64 {
        let all = self.metrics();
        *all.get(series).unwrap_or_else(|| panic!("/metrics has no {series}"))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A memory figure of the server process from `/proc/<pid>/status`
    /// (`VmRSS` resident now, `VmHWM` its peak), in bytes; 0 if unreadable.
    pub fn memory_bytes(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib * 1024.0)
    }

    /// Stops the server the way an operator would (SIGTERM) and waits.
    pub fn stop(mut self) -> std::process::ExitStatus {
        send_sigterm(self.child.id());
        self.child.wait().unwrap()
    }
}

fn send_sigterm(pid: u32) {
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that every `(id, values)` in `writes` is stored in collection
/// `name`, with exactly those values.
pub fn assert_stored(db: &TestDb, name: &str, writes: &[&(String, Vec<f32>)]) {
    let mut client = db.client();
    let table: i64 = client
        .query_one("SELECT id FROM zerodb.collections WHERE name = $1", &[&name])
        .unwrap()
        .get(0);
    let ids: Vec<&str> = writes.iter().map(|(id, _)| id.as_str()).collect();
    let rows = client
        .query(
            &format!("SELECT id, embedding::real[] FROM zerodb_data.c{table} WHERE id = ANY($1)"),
            &[&ids],
        )
        .unwrap();
    let stored: std::collections::HashMap<String, Vec<f32>> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    for (id, values) in writes {
        assert_eq!(
            stored.get(id),
            Some(values),
            "acknowledged write {id} is missing or changed"
        );
    }
}

/// Whether a bench runs in its short mode (`ZERODB_BENCH_SHORT=1`, which
/// `scripts/test` sets): a small data set and few requests, and the bench's
/// target asserted as a ratio measured in the same run.
pub fn bench_short() -> bool {
    std::env::var("ZERODB_BENCH_SHORT").is_ok_and(|v| v == "1")
}

/// Makes collection `name` in `db` hold `rows` random vectors (`v1` …) of
/// `dims` in [-1, 1) with an HNSW cosine index, unless it already does:
/// bulk-loaded in SQL, then indexed once, in parallel (for 100 000 × 1536,
/// a few minutes, mostly the index build).
pub fn bulk_collection(db: &TestDb, key: &str, name: &str, rows: i64, dims: usize) {
    let mut client = db.client();
    let loaded: Option<i64> = client
        .query_opt("SELECT vector_count FROM zerodb.collections WHERE name = $1", &[&name])
        .ok()
        .flatten()
        .map(|r| r.get(0));
    if loaded == Some(rows) {
        return;
    }
    eprintln!("loading {rows} x {dims} vectors into {name} and building HNSW (once)...");
    let started = Instant::now();
    let server = Server::start(&db.url);
    server.call("DELETE", &format!("/v1/collections/{name}"), key, None);
    let spec = serde_json::json!({"dims": dims, "index": "hnsw"});
    server
        .call("PUT", &format!("/v1/collections/{name}"), key, Some(&spec))
        .ok();
    drop(server);
    let id: i64 = client
        .query_one("SELECT id FROM zerodb.collections WHERE name = $1", &[&name])
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!(
            "DROP INDEX zerodb_data.c{id}_ann;
             INSERT INTO zerodb_data.c{id} (id, embedding)
               SELECT 'v' || g, (SELECT array_agg(random()::real * 2 - 1) FROM generate_series(1, {dims}) WHERE g > 0)::vector
               FROM generate_series(1, {rows}) g;
             SET maintenance_work_mem = '2GB';
             SET max_parallel_maintenance_workers = 2;
             CREATE INDEX c{id}_ann ON zerodb_data.c{id} USING hnsw (embedding vector_cosine_ops);
             UPDATE zerodb.collections SET vector_count = {rows}, version = version + 1 WHERE id = {id};
             ANALYZE zerodb_data.c{id};"
        ))
        .unwrap();
    eprintln!("loaded in {:.0} s", started.elapsed().as_secs_f64());
}

/// Runs `n` clients at once and returns what each returned, in order.
///
/// The suite's concurrency layer: every client starts at the same moment
/// (a barrier), on its own thread, and sends its requests over its own
/// kept-alive connection, so that up to `n` requests are in flight in the
/// real edge at once. `client(i)` gets the client's index. A panic in a
/// client fails the test.
pub fn clients<T: Send>(n: usize, client: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let start = std::sync::Barrier::new(n);
    std::thread::scope(|scope| {
        let running: Vec<_> = (0..n)
            .map(|i| {
                let (start, client) = (&start, &client);
                scope.spawn(move || {
                    start.wait();
                    client(i)
                })
            })
            .collect();
        running
            .into_iter()
            .map(|c| c.join().expect("a client panicked"))
            .collect()
    })
}

/// Clients in the concurrency tests: more than a shard's default cap of
/// instances is not needed, but more than a couple is, to find races.
pub const CLIENTS: usize = 32;

/// Runs its closure when dropped, also while a failed assertion unwinds. A
/// client that others loop on (until it sets a flag, finishes its writes,
/// reaches a generation) signals them this way, so that its failure fails
/// the test instead of leaving them looping.
pub struct OnDrop<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body as JSON; `Null` when it is not JSON.
    pub json: Value,
    /// `x-zerodb-cache`.
    pub cache: Option<String>,
    /// `retry-after`, in seconds as sent.
    pub retry_after: Option<String>,
    /// `content-type`.
    pub content_type: Option<String>,
    /// `x-zerodb-edge-instance`: which warm instance answered.
    pub instance: Option<String>,
    /// `server-timing`: the edge's and the origin's time.
    pub server_timing: Option<String>,
    /// The body as received.
    pub body: Vec<u8>,
    /// From sending the request to reading the answer's head.
    pub elapsed: Duration,
}

impl Reply {
    /// The `error.code` of a JSON error answer.
    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("<no error code>")
    }

    /// The JSON body of a 2xx answer; panics on any other status.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "expected 2xx, got {}: {}",
            self.status,
            self.json
        );
        self.json
    }
}

/// Deterministic pseudo-random data.
pub fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::SeedableRng::seed_from_u64(seed)
}

/// `n` clustered unit-ish vectors of `dims`, the way real embeddings
/// cluster by topic: vector `i` is near center `i % clusters`.
pub fn clustered_vectors(rng: &mut impl rand::Rng, n: usize, dims: usize, clusters: usize) -> Vec<Vec<f32>> {
    let centers: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dims).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect();
    (0..n)
        .map(|i| {
            centers[i % clusters]
                .iter()
                .map(|c| c + rng.gen_range(-0.5f32..0.5))
                .collect()
        })
        .collect()
}

/// Cosine similarity, in f64 (the reference the edge's f32 kernels are
/// checked against).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64, *y as f64);
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    dot / (na.sqrt() * nb.sqrt())
}

/// Euclidean distance, in f64.
pub fn l2(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// A similarity: higher is closer.
pub type Score = fn(&[f32], &[f32]) -> f64;

/// Ids of the `k` best of `candidates` by `score` (higher first).
pub fn exact_top_k<'a>(
    candidates: impl Iterator<Item = (&'a str, &'a [f32])>,
    query: &[f32],
    k: usize,
    score: Score,
) -> Vec<(String, f64)> {
    let mut scored: Vec<(String, f64)> = candidates.map(|(id, v)| (id.to_string(), score(query, v))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.truncate(k);
    scored
}

/// The ids of a search answer's `hits`, in order; panics when it has none.
pub fn hit_ids(search: &Value) -> Vec<String> {
    search["hits"]
        .as_array()
        .expect("search answer has hits")
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

/// A TCP forwarder in front of the test PostgreSQL that a test can cut, to
/// make the database unreachable for one server without stopping it for the
/// other tests.
pub struct DbLink {
    /// The loopback port to connect to instead of the database's.
    pub port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl DbLink {
    /// Forwards a new loopback port to `target_port`.
    pub fn open(target_port: u16) -> DbLink {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (cut2, streams2) = (cut.clone(), streams.clone());
        std::thread::spawn(move || {
            // Dropping the listener on cut makes new connections refused.
            while !cut2.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                let mut all = streams2.lock().unwrap();
                all.push(client.try_clone().unwrap());
                all.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        DbLink { port, cut, streams }
    }

    /// Refuses new connections and breaks the open ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `url` with its port replaced.
pub fn with_port(url: &str, port: u16) -> String {
    let (head, tail) = url.rsplit_once(':').unwrap();
    let (_, path) = tail.split_once('/').unwrap();
    format!("{head}:{port}/{path}")
}
