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
//! key revoked).

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
#[derive(Default)]
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
}

impl Coherence {
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

    /// Applies one notice of the feed.
    fn receive(&self, payload: &str) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
        match Change::parse(payload) {
            Some(change) => self.apply(&change),
            None => tracing::warn!(payload, "malformed coherence notice"),
        }
    }

    fn set_live(&self, live: bool) {
        let was = self.live.swap(live, Ordering::AcqRel);
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

    fn live() -> Coherence {
        let c = Coherence::default();
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
}
