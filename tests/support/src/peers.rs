//! Protocol peers the origin talks to: a scripted HTTP peer that answers the
//! health endpoints of Qdrant, MinIO and Redpanda's admin API the way
//! those services' own sources define them (the README's health table), plus real Kafka- and S3-compatible
//! servers (`tansu`, `s3s-fs`) and a private PostgreSQL cluster, each run
//! as a child process that a test can stop and start again.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a scripted peer answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every health endpoint says the service is fine.
    Healthy,
    /// Qdrant 503 "some shards are not ready"; MinIO 503 on the quorum
    /// checks (while `/live` still says 200); Redpanda `{"status":"booting"}`.
    Unhealthy,
    /// Redpanda: ready, but `is_healthy: false`. Qdrant: ready, in cluster
    /// mode, with its consensus thread stopped on an error.
    Degraded,
    /// Qdrant: ready, in cluster mode, consensus working (healthy).
    Clustered,
    /// MinIO: 412 on the quorum checks, as a node in maintenance answers.
    Maintenance,
    /// Answers after longer than any probe timeout.
    Slow,
    /// Nothing listens: connections are refused.
    Refused,
}

/// Which service a scripted peer plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Qdrant: `/readyz` and `/cluster`.
    Qdrant,
    /// MinIO: `/minio/health/{live,cluster,cluster/read}`.
    Minio,
    /// Redpanda's admin API: `/v1/status/ready` and
    /// `/v1/cluster/health_overview`.
    RedpandaAdmin,
}

impl Kind {
    /// The request each probe makes first; a flapping pattern advances on it.
    fn primary(self) -> &'static str {
        match self {
            Kind::Qdrant => "/readyz",
            Kind::Minio => "/minio/health/cluster",
            Kind::RedpandaAdmin => "/v1/status/ready",
        }
    }

    fn health_path(self, path: &str) -> bool {
        match self {
            Kind::Minio => path.starts_with("/minio/health/"),
            _ => true,
        }
    }
}

struct State {
    mode: Mode,
    /// When not empty, the modes answered in turn, one per probe.
    pattern: Vec<Mode>,
    /// Probes answered since the last [`HealthPeer::set`] or [`HealthPeer::flap`].
    probes: usize,
    current: Mode,
    paths: Vec<String>,
}

struct Shared {
    kind: Kind,
    state: Mutex<State>,
    /// Where requests that are not health checks go (a real S3 server).
    forward: Option<u16>,
    stop: AtomicBool,
}

/// A scripted HTTP peer on loopback.
pub struct HealthPeer {
    /// Its loopback port; kept while it refuses connections.
    pub port: u16,
    shared: Arc<Shared>,
}

impl HealthPeer {
    /// A peer playing `kind` on a free port, healthy until told otherwise.
    pub fn start(kind: Kind) -> HealthPeer {
        Self::start_forwarding(kind, None)
    }

    /// A peer that answers health checks itself and hands every other
    /// connection to `forward` (MinIO's S3 API, played by `s3s-fs`).
    pub fn start_forwarding(kind: Kind, forward: Option<u16>) -> HealthPeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            kind,
            state: Mutex::new(State {
                mode: Mode::Healthy,
                pattern: Vec::new(),
                probes: 0,
                current: Mode::Healthy,
                paths: Vec::new(),
            }),
            forward,
            stop: AtomicBool::new(false),
        });
        let peer = shared.clone();
        std::thread::spawn(move || serve(peer, port, Some(listener)));
        HealthPeer { port, shared }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answers every probe from now on as `mode`.
    pub fn set(&self, mode: Mode) {
        let mut state = self.shared.state.lock().unwrap();
        state.mode = mode;
        state.pattern.clear();
        state.probes = 0;
    }

    /// Answers `pattern` in turn, one entry per probe, until [`set`](Self::set).
    pub fn flap(&self, pattern: &[Mode]) {
        let mut state = self.shared.state.lock().unwrap();
        state.pattern = pattern.to_vec();
        state.probes = 0;
    }

    /// Probes (requests to the kind's first probe path) answered since the
    /// last [`set`](Self::set) or [`flap`](Self::flap). A probe is counted
    /// when its request arrives, before the host has read the answer.
    pub fn probes(&self) -> usize {
        self.shared.state.lock().unwrap().probes
    }

    /// Paths requested so far.
    pub fn paths(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().paths.clone()
    }
}

impl Drop for HealthPeer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(peer: Arc<Shared>, port: u16, mut listener: Option<TcpListener>) {
    while !peer.stop.load(Ordering::Relaxed) {
        let refused = peer.state.lock().unwrap().mode == Mode::Refused;
        if refused {
            listener = None;
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let l = listener.get_or_insert_with(|| {
            let l = TcpListener::bind(("127.0.0.1", port)).expect("rebinding the peer's port");
            l.set_nonblocking(true).unwrap();
            l
        });
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Ok((stream, _)) => {
                let peer = peer.clone();
                std::thread::spawn(move || answer(&peer, stream));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn answer(peer: &Shared, mut stream: TcpStream) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    if let Some(port) = peer.forward.filter(|_| !peer.kind.health_path(&path)) {
        return forward(stream, &head, port);
    }
    let mode = {
        let mut state = peer.state.lock().unwrap();
        state.paths.push(path.clone());
        if path == peer.kind.primary() {
            state.current = if state.pattern.is_empty() {
                state.mode
            } else {
                state.pattern[state.probes % state.pattern.len()]
            };
            state.probes += 1;
        }
        state.current
    };
    if mode == Mode::Slow {
        std::thread::sleep(Duration::from_secs(2));
    }
    let (status, body, extra) = respond(peer.kind, &path, mode);
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        412 => "Precondition Failed",
        _ => "Service Unavailable",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}

/// What each service answers on its health endpoints (as in the README's health table).
fn respond(kind: Kind, path: &str, mode: Mode) -> (u16, String, String) {
    let json = "content-type: application/json\r\n".to_string();
    let healthy = matches!(mode, Mode::Healthy | Mode::Slow | Mode::Clustered);
    match (kind, path) {
        (Kind::Qdrant, "/readyz") if healthy || mode == Mode::Degraded => {
            (200, "all shards are ready".into(), String::new())
        }
        (Kind::Qdrant, "/readyz") => (503, "some shards are not ready".into(), String::new()),
        // Qdrant's `ClusterStatus`: `disabled` on a single node; in cluster
        // mode the consensus thread's state (`working`, `stopped`,
        // `stopped_with_err`) among the raft details.
        (Kind::Qdrant, "/cluster") => {
            let consensus = match mode {
                Mode::Clustered => {
                    Some(r#"{"consensus_thread_status":"working","last_update":"2025-01-01T00:00:00Z"}"#)
                }
                Mode::Degraded => Some(r#"{"consensus_thread_status":"stopped_with_err","err":"raft log corrupted"}"#),
                _ => None,
            };
            let result = match consensus {
                Some(consensus) => format!(
                    r#"{{"status":"enabled","peer_id":1,"peers":{{"1":{{"uri":"http://qdrant-0:6335/"}}}},"raft_info":{{"term":3,"commit":42,"pending_operations":0,"leader":1,"role":"Leader","is_voter":true}},"consensus_thread_status":{consensus},"message_send_failures":{{}}}}"#
                ),
                None => r#"{"status":"disabled"}"#.into(),
            };
            (200, format!(r#"{{"result":{result},"status":"ok","time":0.0}}"#), json)
        }
        // `/live` says 200 even while the node is offline.
        (Kind::Minio, "/minio/health/live") => {
            let status = if healthy { "online" } else { "offline" };
            (200, String::new(), format!("x-minio-server-status: {status}\r\n"))
        }
        (Kind::Minio, "/minio/health/cluster" | "/minio/health/cluster/read") if healthy => {
            (200, String::new(), "x-minio-write-quorum: 1\r\n".into())
        }
        (Kind::Minio, "/minio/health/cluster" | "/minio/health/cluster/read") if mode == Mode::Maintenance => {
            (412, String::new(), String::new())
        }
        (Kind::Minio, "/minio/health/cluster" | "/minio/health/cluster/read") => (503, String::new(), String::new()),
        // Always 200: the body says whether the node is ready.
        (Kind::RedpandaAdmin, "/v1/status/ready") => {
            let status = if mode == Mode::Unhealthy { "booting" } else { "ready" };
            (200, format!(r#"{{"status":"{status}"}}"#), json)
        }
        (Kind::RedpandaAdmin, "/v1/cluster/health_overview") => {
            let body = if mode == Mode::Degraded {
                r#"{"is_healthy":false,"unhealthy_reasons":["nodes_down"],"controller_id":0,"all_nodes":[0,1,2],"nodes_down":[2],"leaderless_partitions":[],"under_replicated_count":3}"#
            } else {
                r#"{"is_healthy":true,"unhealthy_reasons":[],"controller_id":0,"all_nodes":[0,1,2],"nodes_down":[],"leaderless_partitions":[],"under_replicated_count":0}"#
            };
            (200, body.into(), json)
        }
        _ => (404, String::new(), String::new()),
    }
}

/// Hands a connection (and the request head already read) to `port`.
fn forward(client: TcpStream, head: &[u8], port: u16) {
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    client.set_read_timeout(None).unwrap();
    if upstream.write_all(head).is_err() {
        return;
    }
    let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(Shutdown::Write);
    });
    let mut client = client;
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// A TCP relay to a local port that can be made to stall, the way a
/// database hangs: after [`stall`](Self::stall) every connection, open or
/// new, stays open but no byte passes any more.
pub struct StallLink {
    /// The loopback port to connect to instead of the target's.
    pub port: u16,
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl StallLink {
    /// Relays a new loopback port to `target`.
    pub fn open(target: u16) -> StallLink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stalled = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (stalled2, stop2) = (stalled.clone(), stop.clone());
        std::thread::spawn(move || {
            // Connections accepted while stalled: held open, never read.
            let mut held = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                if stalled2.load(Ordering::Relaxed) {
                    held.push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let (stalled, stop) = (stalled2.clone(), stop2.clone());
                    std::thread::spawn(move || pump(from, to, &stalled, &stop));
                }
            }
        });
        StallLink { port, stalled, stop }
    }

    /// From now on, nothing passes.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::Relaxed);
    }
}

impl Drop for StallLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Copies `from` to `to` until either closes or `stop`; while `stalled`,
/// stops reading (what was sent waits, unanswered).
fn pump(mut from: TcpStream, mut to: TcpStream, stalled: &AtomicBool, stop: &AtomicBool) {
    from.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut buf = [0u8; 16 << 10];
    while !stop.load(Ordering::Relaxed) {
        if stalled.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fresh directory under the system's temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zerodb-{tag}-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tool the project's scripts install (`scripts/tools`), found on PATH.
pub fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH: run the tests through scripts/test, which installs it"))
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server process that can be stopped and started again on the same port
/// and data.
pub struct Process {
    command: Box<dyn Fn() -> Command + Send>,
    child: Option<Child>,
    /// Its loopback port, the same across restarts.
    pub port: u16,
    name: &'static str,
    /// Its data, removed when it is dropped.
    pub dir: PathBuf,
}

impl Process {
    fn launch(name: &'static str, port: u16, dir: PathBuf, command: Box<dyn Fn() -> Command + Send>) -> Process {
        let mut process = Process {
            command,
            child: None,
            port,
            name,
            dir,
        };
        process.start();
        process
    }

    /// Starts it again and waits (up to 30 s) until its port accepts
    /// connections; panics when it is running or does not come up.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.name);
        let child = (self.command)()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name));
        self.child = Some(child);
        wait_for_port(self.port, self.name);
    }

    /// Kills it; connections to its port are refused afterwards.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `tansu`, a Kafka-compatible broker, storing in SQLite (its in-memory
/// engine loses records when a fetch starts inside a batch). The database
/// path is relative to the working directory, the broker's own temp dir.
pub fn tansu() -> Process {
    let port = free_port();
    let dir = temp_dir("tansu");
    let bin = tool("tansu");
    Process::launch(
        "tansu",
        port,
        dir.clone(),
        Box::new(move || {
            let listener = format!("tcp://127.0.0.1:{port}");
            let mut c = Command::new(&bin);
            c.current_dir(&dir)
                .env_remove("RUST_LOG")
                .args(["broker", "--listener-url", &listener])
                .args(["--advertised-listener-url", &listener])
                .args(["--storage-engine", "sqlite://broker.db"]);
            c
        }),
    )
}

/// The access key [`s3s_fs`] accepts.
pub const S3_ACCESS_KEY: &str = "zerodb-test";
/// The secret key [`s3s_fs`] accepts.
pub const S3_SECRET_KEY: &str = "zerodb-test-secret";

/// `s3s-fs`, an S3-compatible server over a directory; `bucket` exists.
pub fn s3s_fs(bucket: &str) -> Process {
    let port = free_port();
    let dir = temp_dir("s3");
    std::fs::create_dir_all(dir.join(bucket)).unwrap();
    let bin = tool("s3s-fs");
    Process::launch(
        "s3s-fs",
        port,
        dir.clone(),
        Box::new(move || {
            let mut c = Command::new(&bin);
            c.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
                .arg(&dir);
            c
        }),
    )
}

/// A private PostgreSQL cluster (through `scripts/pg`), for tests that stop
/// and start the database itself.
pub struct PrivatePg {
    dir: PathBuf,
    /// Its loopback port.
    pub port: u16,
}

impl PrivatePg {
    /// A new cluster on a free port, started; panics when `scripts/pg`
    /// fails.
    pub fn start() -> PrivatePg {
        let pg = PrivatePg {
            dir: temp_dir("pg"),
            port: free_port(),
        };
        pg.run("start");
        pg
    }

    /// The URL of its `zerodb` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/zerodb", self.port)
    }

    fn run(&self, action: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg");
        let out = Command::new(script)
            .arg(action)
            .env("ZERODB_PG_DIR", &self.dir)
            .env("ZERODB_PG_PORT", self.port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/pg {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the cluster (its data stays).
    pub fn stop(&self) {
        self.run("stop");
    }

    /// Starts it again on the same port and data.
    pub fn resume(&self) {
        self.run("start");
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
