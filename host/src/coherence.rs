// Over 500 lines: the table, its change feed and their unit tests belong together.
//! The coherence table: the current token (incarnation, version) of every
//! collection, kept in memory so that an edge instance can check a cached
//! entry before serving it without a database round trip.
//!
//! - A write through this host advances the table after its commit and
//!   before its 2xx ([`Coherence::advance`], [`Coherence::dropped`]).
//! - Writes through other hosts arrive on the change feed: every write sends
//!   `NOTIFY zerodb_coherence` inside its transaction, so PostgreSQL delivers
//!   it at commit, and [`spawn_feed`] listens on a connection of its own.
//! - On (re)subscribing, the feed `LISTEN`s first and then re-reads every
//!   collection's token, so nothing committed in between is missed. Until
//!   that is done, and from the moment the connection is lost,
//!   [`Coherence::token`] answers `None` and callers read the database.
//! - A revoked API key is announced on the same channel; it ends every
//!   cached key resolution ([`Coherence::auth_epoch`]).
//!
//! Reads are lock-free: the table is an immutable map behind an
//! [`ArcSwap`], rebuilt only when a collection appears or goes; versions
//! advance in place in atomics.
//!
//! Payloads of the channel ([`Change::payload`]; text, space-separated, the
//! name last): `c <project> <incarnation> <version> <name>` (a collection
//! written or created), `d <project> <incarnation> <name>` (dropped), `k` (a
//! key revoked). A write sends it as [`NOTIFY`] builds it: prefixed with
//! `t<micros> `, the sender's `clock_timestamp()` in microseconds since the
//! Unix epoch, from which a receiver measures the feed's lag
//! ([`FeedMetrics`]). The prefix is optional on receipt, so a notice sent
//! without it still applies; a host built before the prefix existed reads
//! a prefixed notice as malformed, so the hosts of one database are
//! upgraded together.

use arc_swap::ArcSwap;
use edge_core::model::Token;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};

/// The PostgreSQL notification channel of the coherence feed.
pub const CHANNEL: &str = "zerodb_coherence";

/// The statement a write runs in its transaction to announce a change:
/// `$1` is [`CHANNEL`], `$2` the change's [`Change::payload`]. It prefixes
/// the payload with `t<micros> `, the database's `clock_timestamp()` when
/// the statement runs (just before the commit) in microseconds since the
/// Unix epoch; the time is taken by PostgreSQL so that all hosts' notices
/// are stamped by one clock.
pub const NOTIFY: &str = "SELECT pg_notify($1, 't' || \
     (extract(epoch FROM clock_timestamp()) * 1000000)::bigint || ' ' || $2::text)";

/// Upper bounds of the lag histogram's buckets, in seconds: from 0.1 ms (a
/// notice on one machine) to 10 s (a feed badly behind).
pub const LAG_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What `/metrics` shows of the change feed: whether it is live, how many
/// notices arrived, how many times it subscribed again after losing its
/// connection, and how late the notices arrived.
///
/// The lag of a notice is the receiving host's clock when it has applied
/// the notice minus the sender's stamp ([`NOTIFY`]), in seconds. Both clocks
/// are read on the same machine or NTP-synchronised ones: any skew between
/// the host and PostgreSQL is added to (or taken from) every lag, and a
/// negative difference counts as 0. Notices without a stamp count as
/// notices but not in the histogram.
#[derive(Default)]
pub struct FeedMetrics {
    live: AtomicBool,
    notices: AtomicU64,
    subscriptions: AtomicU64,
    resubscribes: AtomicU64,
    /// Notices whose lag was at most each bound and above the previous one
    /// (not cumulative; [`FeedMetrics::lag`] sums them).
    lag_counts: [AtomicU64; LAG_BUCKETS.len()],
    /// Stamped notices: every lag observed, including those above the last
    /// bound.
    lag_count: AtomicU64,
    lag_sum_micros: AtomicU64,
}

/// A reading of the lag histogram, in the shape Prometheus renders.
pub struct LagSnapshot {
    /// For each of [`LAG_BUCKETS`]: notices with a lag at or below it
    /// (cumulative).
    pub buckets: [u64; LAG_BUCKETS.len()],
    /// Every stamped notice (the `+Inf` bucket and `_count`).
    pub count: u64,
    /// The sum of their lags, in seconds.
    pub sum_seconds: f64,
}

impl FeedMetrics {
    /// 1 while the feed is live (subscribed, and the table re-read), else 0.
    pub fn up(&self) -> u8 {
        u8::from(self.live.load(Ordering::Acquire))
    }

    /// Notices received since start, stamped or not, well-formed or not.
    pub fn notices(&self) -> u64 {
        self.notices.load(Ordering::Relaxed)
    }

    /// Subscriptions after the first: each follows a lost connection.
    pub fn resubscribes(&self) -> u64 {
        self.resubscribes.load(Ordering::Relaxed)
    }

    /// The lag histogram so far.
    pub fn lag(&self) -> LagSnapshot {
        let mut buckets = [0; LAG_BUCKETS.len()];
        let mut cumulative = 0;
        for (bucket, count) in buckets.iter_mut().zip(&self.lag_counts) {
            cumulative += count.load(Ordering::Relaxed);
            *bucket = cumulative;
        }
        LagSnapshot {
            buckets,
            count: self.lag_count.load(Ordering::Relaxed),
            sum_seconds: self.lag_sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    fn observe_lag(&self, micros: u64) {
        let secs = micros as f64 / 1e6;
        if let Some(i) = LAG_BUCKETS.iter().position(|b| secs <= *b) {
            self.lag_counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.lag_count.fetch_add(1, Ordering::Relaxed);
        self.lag_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn subscribed(&self) {
        if self.subscriptions.fetch_add(1, Ordering::Relaxed) > 0 {
            self.resubscribes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The feed metrics of the process. A process serves one host, and
/// `/metrics` is rendered without a handle on its table, so the host's
/// table records here ([`Coherence::default`]).
pub static FEED: FeedMetrics = FeedMetrics {
    live: AtomicBool::new(false),
    notices: AtomicU64::new(0),
    subscriptions: AtomicU64::new(0),
    resubscribes: AtomicU64::new(0),
    lag_counts: [const { AtomicU64::new(0) }; LAG_BUCKETS.len()],
    lag_count: AtomicU64::new(0),
    lag_sum_micros: AtomicU64::new(0),
};

/// Microseconds since the Unix epoch on this host's clock (0 if the clock
/// is set before 1970).
fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Splits a notice into the sender's stamp (`t<micros> `, when there is
/// one) and the change's payload.
fn split_stamp(notice: &str) -> (Option<u64>, &str) {
    notice
        .strip_prefix('t')
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(micros, payload)| Some((Some(micros.parse().ok()?), payload)))
        .unwrap_or((None, notice))
}

/// How often the feed proves its connection alive; a connection lost without
/// a word (a silent network partition) is noticed within two of these.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Waits between attempts to resubscribe, growing to the last.
const RESUBSCRIBE_BACKOFF: [Duration; 4] = [
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

/// One incarnation of a collection: its version grows in place.
struct Entry {
    incarnation: u64,
    version: AtomicU64,
    /// Dropped: the name has no collection until a later incarnation.
    dropped: AtomicBool,
}

impl Entry {
    fn new(incarnation: u64, version: u64, dropped: bool) -> Arc<Entry> {
        Arc::new(Entry {
            incarnation,
            version: AtomicU64::new(version),
            dropped: AtomicBool::new(dropped),
        })
    }

    fn token(&self) -> Option<Token> {
        (!self.dropped.load(Ordering::Acquire)).then(|| Token {
            incarnation: self.incarnation,
            version: self.version.load(Ordering::Acquire),
        })
    }
}

/// Collections by project id, then name.
type Table = HashMap<i64, HashMap<String, Arc<Entry>>>;

/// The host's coherence table and the state of its change feed.
pub struct Coherence {
    table: ArcSwap<Table>,
    /// Serialises rebuilds of the table (readers never take it).
    rebuild: Mutex<()>,
    /// The feed is subscribed and the table was re-read after it was.
    live: AtomicBool,
    /// Bumped by every key revocation and every resubscription.
    auth_epoch: AtomicU64,
    notifications: AtomicU64,
    subscriptions: AtomicU64,
    /// Where the feed's state and lag are recorded for `/metrics`.
    metrics: &'static FeedMetrics,
}

impl Default for Coherence {
    /// An empty table, not live, recording its feed's metrics in [`FEED`].
    fn default() -> Coherence {
        Coherence::recording_to(&FEED)
    }
}

impl Coherence {
    /// An empty table, not live, recording its feed's metrics in `metrics`.
    fn recording_to(metrics: &'static FeedMetrics) -> Coherence {
        Coherence {
            table: ArcSwap::default(),
            rebuild: Mutex::default(),
            live: AtomicBool::default(),
            auth_epoch: AtomicU64::default(),
            notifications: AtomicU64::default(),
            subscriptions: AtomicU64::default(),
            metrics,
        }
    }

    /// The collection's current token, from memory: `Some(None)` when it does
    /// not exist, `None` when the table cannot vouch for it (the feed is not
    /// live), and the caller must read the database.
    pub fn token(&self, project: i64, name: &str) -> Option<Option<Token>> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let table = self.table.load();
        Some(table.get(&project).and_then(|c| c.get(name)).and_then(|e| e.token()))
    }

    /// Whether the feed is live: cached answers (keys included) are trusted.
    pub fn live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Changes whenever a key may have been revoked: a cached key resolution
    /// from another epoch is looked up again.
    pub fn auth_epoch(&self) -> u64 {
        self.auth_epoch.load(Ordering::Acquire)
    }

    /// The collection `name` is at `version` of `incarnation` (a write
    /// committed, or the database said so). Tokens only grow: an older one
    /// changes nothing.
    pub fn advance(&self, project: i64, name: &str, incarnation: u64, version: u64) {
        let current = self.table.load().get(&project).and_then(|c| c.get(name)).cloned();
        match current {
            Some(entry) if entry.incarnation == incarnation => {
                entry.version.fetch_max(version, Ordering::AcqRel);
            }
            Some(entry) if entry.incarnation > incarnation => {}
            _ => self.rebuild(|table| {
                let entries = table.entry(project).or_default();
                match entries.get(name) {
                    Some(e) if e.incarnation >= incarnation => {
                        e.version.fetch_max(version, Ordering::AcqRel);
                    }
                    _ => {
                        entries.insert(name.to_string(), Entry::new(incarnation, version, false));
                    }
                }
            }),
        }
    }

    /// The incarnation `incarnation` of `name` was dropped.
    pub fn dropped(&self, project: i64, name: &str, incarnation: u64) {
        self.rebuild(|table| {
            let entries = table.entry(project).or_default();
            match entries.get(name) {
                Some(e) if e.incarnation > incarnation => {}
                Some(e) if e.incarnation == incarnation => e.dropped.store(true, Ordering::Release),
                _ => {
                    entries.insert(name.to_string(), Entry::new(incarnation, u64::MAX, true));
                }
            }
        });
    }

    /// Copies the table, changes the copy and publishes it.
    fn rebuild(&self, change: impl FnOnce(&mut Table)) {
        let _guard = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        let mut table = Table::clone(&self.table.load());
        change(&mut table);
        self.table.store(Arc::new(table));
    }

    /// Merges what the database held when `rows` were read (project, name,
    /// incarnation, version) into the table; `before` is the table as it was
    /// just before that read. Local writes may have moved on since: an entry
    /// of a later incarnation, or a later version, wins, and a name missing
    /// from the rows is marked dropped only if it was in `before` (it was
    /// dropped, not created after the read). A dropped entry stays dropped,
    /// so that a late notice of an old write cannot bring it back.
    fn reload(&self, before: &Table, rows: Vec<(i64, String, u64, u64)>) {
        self.rebuild(|table| {
            let mut fresh = table.clone();
            let mut seen: HashMap<i64, std::collections::HashSet<String>> = HashMap::new();
            for (project, name, incarnation, version) in rows {
                seen.entry(project).or_default().insert(name.clone());
                let entries = fresh.entry(project).or_default();
                match entries.get(&name) {
                    Some(e) if e.incarnation == incarnation => {
                        e.version.fetch_max(version, Ordering::AcqRel);
                    }
                    Some(e) if e.incarnation > incarnation => {}
                    _ => {
                        entries.insert(name, Entry::new(incarnation, version, false));
                    }
                }
            }
            for (project, entries) in before {
                for (name, e) in entries {
                    let in_rows = seen.get(project).is_some_and(|names| names.contains(name));
                    // Gone from the database, and not replaced since the read.
                    if let Some(current) = fresh.get(project).and_then(|c| c.get(name)) {
                        if !in_rows && current.incarnation == e.incarnation {
                            current.dropped.store(true, Ordering::Release);
                        }
                    }
                }
            }
            *table = fresh;
        });
    }

    /// Applies a change: one committed through this host (before its 2xx),
    /// or one another host announced on the feed.
    pub fn apply(&self, change: &Change) {
        match change {
            Change::Written {
                project,
                name,
                incarnation,
                version,
            } => self.advance(*project, name, *incarnation, *version),
            Change::Dropped {
                project,
                name,
                incarnation,
            } => self.dropped(*project, name, *incarnation),
            Change::KeyRevoked => {
                self.auth_epoch.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Applies one notice of the feed (stamped or not; the host's own
    /// writes come back too and change nothing), and records its lag.
    fn receive(&self, notice: &str) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
        self.metrics.notices.fetch_add(1, Ordering::Relaxed);
        let (sent, payload) = split_stamp(notice);
        match Change::parse(payload) {
            Some(change) => self.apply(&change),
            None => tracing::warn!(notice, "malformed coherence notice"),
        }
        if let Some(sent) = sent {
            // A clock behind the sender's would make it negative: 0.
            self.metrics.observe_lag(now_micros().saturating_sub(sent));
        }
    }

    fn set_live(&self, live: bool) {
        let was = self.live.swap(live, Ordering::AcqRel);
        self.metrics.live.store(live, Ordering::Release);
        if was != live {
            // Keys revoked while the feed was down were not announced here.
            self.auth_epoch.fetch_add(1, Ordering::AcqRel);
            if live {
                tracing::info!("coherence feed subscribed; the table is current");
            } else {
                tracing::warn!("coherence feed lost; reads revalidate at the database until it is back");
            }
        }
    }

    /// The feed's state for `/v1/health`: `{feed: live|down, collections,
    /// notifications, subscriptions}`.
    pub fn to_json(&self) -> Value {
        let collections: usize = self.table.load().values().map(HashMap::len).sum();
        json!({
            "feed": if self.live() { "live" } else { "down" },
            "collections": collections,
            "notifications": self.notifications.load(Ordering::Relaxed),
            "subscriptions": self.subscriptions.load(Ordering::Relaxed),
        })
    }
}

/// A change every host's table must learn of, and its `NOTIFY` payload
/// (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A collection was created (version 0) or written, to `version`.
    Written {
        project: i64,
        name: String,
        incarnation: u64,
        version: u64,
    },
    /// A collection's incarnation was dropped.
    Dropped {
        project: i64,
        name: String,
        incarnation: u64,
    },
    /// An API key was revoked.
    KeyRevoked,
}

impl Change {
    /// The notice's text: space-separated fields, the name last (it may
    /// hold spaces).
    pub fn payload(&self) -> String {
        match self {
            Change::Written {
                project,
                name,
                incarnation,
                version,
            } => format!("c {project} {incarnation} {version} {name}"),
            Change::Dropped {
                project,
                name,
                incarnation,
            } => format!("d {project} {incarnation} {name}"),
            Change::KeyRevoked => "k".to_string(),
        }
    }

    /// Reads a notice's text; none when it is not one.
    pub fn parse(payload: &str) -> Option<Change> {
        let (kind, rest) = payload.split_once(' ').unwrap_or((payload, ""));
        // `count` numbers, then the name: the rest of the text.
        let numbers_then_name = |count: usize| -> Option<(Vec<u64>, String)> {
            let mut fields = rest.splitn(count + 1, ' ');
            let numbers = (0..count)
                .map(|_| fields.next()?.parse().ok())
                .collect::<Option<Vec<u64>>>()?;
            Some((numbers, fields.next()?.to_string()))
        };
        Some(match kind {
            "c" => {
                let (n, name) = numbers_then_name(3)?;
                Change::Written {
                    project: n[0] as i64,
                    name,
                    incarnation: n[1],
                    version: n[2],
                }
            }
            "d" => {
                let (n, name) = numbers_then_name(2)?;
                Change::Dropped {
                    project: n[0] as i64,
                    name,
                    incarnation: n[1],
                }
            }
            "k" if rest.is_empty() => Change::KeyRevoked,
            _ => return None,
        })
    }
}

/// Keeps the change feed subscribed until the returned task is aborted: a
/// connection of its own (application name `zerodb-edge-feed-<pid>`) that
/// `LISTEN`s, re-reads the table, applies notices, and proves itself alive
/// every [`HEARTBEAT`]; when it is lost, it subscribes again.
pub fn spawn_feed(coherence: Arc<Coherence>, mut config: tokio_postgres::Config) -> tokio::task::JoinHandle<()> {
    config.application_name(format!("zerodb-edge-feed-{}", std::process::id()));
    config.connect_timeout(Duration::from_secs(2));
    tokio::spawn(async move {
        let mut failures = 0usize;
        loop {
            match subscribe(&coherence, &config).await {
                Ok(()) => failures = 0,
                Err(e) => {
                    if failures == 0 {
                        tracing::warn!(error = %e, "coherence feed cannot subscribe; retrying");
                    }
                    failures += 1;
                }
            }
            coherence.set_live(false);
            tokio::time::sleep(RESUBSCRIBE_BACKOFF[failures.min(RESUBSCRIBE_BACKOFF.len() - 1)]).await;
        }
    })
}

/// One subscription, until its connection is lost.
async fn subscribe(coherence: &Arc<Coherence>, config: &tokio_postgres::Config) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (notices, mut received) = tokio::sync::mpsc::unbounded_channel();
    let driver_coherence = coherence.clone();
    let alive = Arc::new(AtomicBool::new(true));
    let driver_alive = alive.clone();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if notices.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "coherence feed connection failed");
                    break;
                }
            }
        }
        // Lost: stop vouching at once, before the subscriber notices.
        driver_alive.store(false, Ordering::Release);
        driver_coherence.set_live(false);
    });
    let result = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        let before = coherence.table.load_full();
        let rows = client
            .query("SELECT project_id, name, id, version FROM zerodb.collections", &[])
            .await?;
        coherence.reload(
            &before,
            rows.iter()
                .map(|r| {
                    (
                        r.get::<_, i64>(0),
                        r.get::<_, String>(1),
                        r.get::<_, i64>(2) as u64,
                        r.get::<_, i64>(3).max(0) as u64,
                    )
                })
                .collect(),
        );
        coherence.subscriptions.fetch_add(1, Ordering::Relaxed);
        coherence.metrics.subscribed();
        coherence.set_live(true);
        // The driver clears `alive` before it clears the live flag: if the
        // connection died meanwhile, its clearing may have come first.
        if !alive.load(Ordering::Acquire) {
            coherence.set_live(false);
            return Ok(());
        }
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                notice = received.recv() => match notice {
                    Some(payload) => coherence.receive(&payload),
                    None => return Ok(()),
                },
                _ = heartbeat.tick() => {
                    match tokio::time::timeout(HEARTBEAT, client.simple_query("SELECT 1")).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(e),
                        Err(_) => {
                            tracing::warn!("coherence feed heartbeat timed out");
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of its own metrics, so that tests do not share [`FEED`].
    fn private() -> Coherence {
        Coherence::recording_to(Box::leak(Box::default()))
    }

    fn live() -> Coherence {
        let c = private();
        c.reload(&Table::new(), vec![(1, "docs".into(), 5, 3)]);
        c.set_live(true);
        c
    }

    fn token(incarnation: u64, version: u64) -> Option<Option<Token>> {
        Some(Some(Token { incarnation, version }))
    }

    #[test]
    fn tokens_only_grow() {
        let c = live();
        assert_eq!(c.token(1, "docs"), token(5, 3));
        c.advance(1, "docs", 5, 4);
        c.advance(1, "docs", 5, 2);
        assert_eq!(c.token(1, "docs"), token(5, 4));
        // An older incarnation never wins; a newer one replaces.
        c.advance(1, "docs", 4, 99);
        assert_eq!(c.token(1, "docs"), token(5, 4));
        c.advance(1, "docs", 6, 0);
        assert_eq!(c.token(1, "docs"), token(6, 0));
        // Another project's collection of the same name is another entry.
        assert_eq!(c.token(2, "docs"), Some(None));
    }

    #[test]
    fn payloads_read_back() {
        for change in [
            Change::Written {
                project: 3,
                name: "two words".into(),
                incarnation: 9,
                version: 12,
            },
            Change::Dropped {
                project: 3,
                name: "a b c".into(),
                incarnation: 9,
            },
            Change::KeyRevoked,
        ] {
            assert_eq!(Change::parse(&change.payload()), Some(change));
        }
        for garbage in ["", "c", "c 1 2", "c x 2 3 n", "d 1", "k extra", "z 1 2 3 n"] {
            assert_eq!(Change::parse(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_drop_is_not_undone_by_a_late_notice() {
        let c = live();
        c.receive("d 1 5 docs");
        assert_eq!(c.token(1, "docs"), Some(None));
        c.receive("c 1 5 9 docs");
        assert_eq!(c.token(1, "docs"), Some(None));
        c.receive("c 1 6 0 docs");
        assert_eq!(c.token(1, "docs"), token(6, 0));
        // Names with spaces survive the payload.
        c.receive("c 1 7 2 two words");
        assert_eq!(c.token(1, "two words"), token(7, 2));
        c.receive("d 1 7 two words");
        assert_eq!(c.token(1, "two words"), Some(None));
    }

    #[test]
    fn nothing_is_vouched_for_while_the_feed_is_down() {
        let c = live();
        let epoch = c.auth_epoch();
        c.set_live(false);
        assert_eq!(c.token(1, "docs"), None);
        assert_ne!(c.auth_epoch(), epoch, "key resolutions are looked up again");
        // A reload marks what the database no longer has as dropped.
        c.advance(1, "gone", 8, 1);
        let before = Table::clone(&c.table.load());
        // Meanwhile (after the read), local writes create "new" and drop
        // and re-create "docs" as incarnation 6.
        c.advance(1, "new", 9, 0);
        c.dropped(1, "docs", 5);
        c.advance(1, "docs", 6, 0);
        c.reload(&before, vec![(1, "docs".into(), 5, 7)]);
        c.set_live(true);
        assert_eq!(c.token(1, "docs"), token(6, 0), "a later incarnation wins");
        assert_eq!(c.token(1, "new"), token(9, 0), "created after the read: kept");
        assert_eq!(c.token(1, "gone"), Some(None));
        c.receive("c 1 8 2 gone");
        assert_eq!(c.token(1, "gone"), Some(None));
        let epoch = c.auth_epoch();
        c.receive(&Change::KeyRevoked.payload());
        assert_ne!(c.auth_epoch(), epoch);
    }

    #[test]
    fn stamped_and_unstamped_notices_both_apply_and_only_stamped_ones_have_a_lag() {
        let c = live();
        c.receive("c 1 5 4 docs");
        assert_eq!(c.token(1, "docs"), token(5, 4), "a notice without a stamp applies");
        let sent = now_micros() - 3_000;
        c.receive(&format!("t{sent} c 1 5 5 two words"));
        assert_eq!(c.token(1, "two words"), token(5, 5));
        // A sender's clock ahead of ours: lag 0, not negative.
        c.receive(&format!("t{} k", now_micros() + 60_000_000));
        // Not a stamp: the whole notice is the payload (and malformed).
        c.receive("tx c 1 5 6 docs");
        assert_eq!(c.token(1, "docs"), token(5, 4));
        let m = c.metrics;
        assert_eq!(m.notices(), 4);
        let lag = m.lag();
        assert_eq!(lag.count, 2);
        // 0 s is in the first bucket; 3 ms (plus the test's own time) is
        // above 2.5 ms and, on any sane machine, below 1 s.
        assert_eq!(lag.buckets[0], 1);
        assert_eq!(lag.buckets[4], 1);
        assert_eq!(lag.buckets[12], 2);
        assert_eq!(lag.buckets[LAG_BUCKETS.len() - 1], 2);
        assert!(lag.sum_seconds >= 0.003 && lag.sum_seconds < 1.0, "{}", lag.sum_seconds);
        assert_eq!(m.up(), 1);
        c.set_live(false);
        assert_eq!(m.up(), 0);
    }

    #[test]
    fn stamps_split_off_only_when_they_are_numbers() {
        assert_eq!(split_stamp("t17 c 1 2 3 n"), (Some(17), "c 1 2 3 n"));
        assert_eq!(split_stamp("c 1 2 3 n"), (None, "c 1 2 3 n"));
        assert_eq!(split_stamp("t17"), (None, "t17"));
        assert_eq!(split_stamp("t c 1"), (None, "t c 1"));
        assert_eq!(split_stamp("t-1 k"), (None, "t-1 k"));
    }
}
