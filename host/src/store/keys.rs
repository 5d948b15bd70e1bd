//! Projects and API keys. A key is 32 random bytes shown once at creation;
//! only its SHA-256 is stored (a key has 256 bits of entropy, so a fast hash
//! is enough), and it is looked up by that hash. The key itself is never
//! compared with anything, so comparison timing says nothing about it:
//! learning from it would take a SHA-256 preimage.

use super::{db_error, Result, Store};
use crate::coherence::Change;
use edge_core::error::{code, ApiError, ErrorKind};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY_PREFIX: &str = "zdb_";

/// The project an API key belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: i64,
    pub name: String,
    /// The project's UUID, as ZeroDB's routes name it (`{project_id}`).
    pub uuid: String,
}

fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// How long a key resolved before waits for the database to confirm it
/// before the earlier resolution is used.
const STALE_KEY_WAIT: Duration = Duration::from_secs(2);

fn unauthorized() -> ApiError {
    ApiError::new(code::INVALID_API_KEY, "the API key is not valid")
}

type KeyHash = Vec<u8>;

/// How far a cached resolution may be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trust {
    /// Within its TTL, in the current auth epoch.
    Fresh,
    /// Fresh, and this caller renews it (in the background).
    Renew,
    /// Past its TTL or its epoch: looked up again before use (but used
    /// while the database is unavailable).
    Stale,
}

/// A resolution of a key.
struct Resolved {
    project: Project,
    /// When it was made.
    at: Instant,
    /// The auth epoch it was made in.
    epoch: u64,
    /// Whether a request has been sent to the database to renew it before
    /// the TTL runs out.
    renewing: bool,
}

impl Resolved {
    /// A resolution made `at` in `epoch`, not being renewed.
    fn new(project: Project, at: Instant, epoch: u64) -> Resolved {
        Resolved {
            project,
            at,
            epoch,
            renewing: false,
        }
    }
}

/// Recently resolved keys (by hash), so that a request served from the
/// edge cache needs no database round trip. A resolution is trusted for the
/// cache's lifetime and only while the coherence feed is live and has
/// announced no revocation since (its auth epoch), so a revocation through
/// any host ends it at once.
#[derive(Clone, Default)]
pub(crate) struct AuthCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<KeyHash, Resolved>>>,
}

impl AuthCache {
    /// The project a key resolved to, and whether that is still fresh in
    /// the auth epoch `epoch` (none: the feed is down, nothing is fresh).
    /// The first caller that finds a resolution in the last quarter of its
    /// TTL is told to renew it ([`Trust::Renew`]), the others go on using
    /// it: a key in use is looked up once before it expires, not by every
    /// request that would find it expired.
    fn get(&self, hash: &[u8], epoch: Option<u64>) -> Option<(Project, Trust)> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let resolved = entries.get_mut(hash)?;
        let age = resolved.at.elapsed();
        let trust = if age >= self.ttl || epoch != Some(resolved.epoch) {
            Trust::Stale
        } else if !resolved.renewing && edge_core::cache::refresh_ahead(age, self.ttl) {
            resolved.renewing = true;
            Trust::Renew
        } else {
            Trust::Fresh
        };
        Some((resolved.project.clone(), trust))
    }

    /// Keeps the renewal of a resolution looked up from `started` on, if
    /// that is still the one being renewed in `epoch` (a request that found
    /// it stale may have stored a newer one meanwhile).
    fn renewed(&self, hash: Vec<u8>, project: Project, epoch: u64, started: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(resolved) = entries.get_mut(&hash).filter(|r| r.renewing && r.epoch == epoch) {
            *resolved = Resolved::new(project, started, epoch);
        }
    }

    /// Forgets a key the database no longer accepts.
    fn forget(&self, hash: &[u8]) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(hash);
    }

    /// Keeps a resolution made now in `epoch` for the TTL (none when the
    /// TTL is 0), dropping expired ones once 10 000 keys are held.
    fn put(&self, hash: Vec<u8>, project: Project, epoch: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= 10_000 {
            let ttl = self.ttl;
            entries.retain(|_, resolved| resolved.at.elapsed() < ttl);
        }
        entries.insert(hash, Resolved::new(project, Instant::now(), epoch));
    }
}

impl Store {
    /// Trust a resolved key for `ttl` before looking it up again (0 = always look up).
    pub fn with_auth_cache(mut self, ttl: Duration) -> Store {
        self.auth.ttl = ttl;
        self
    }

    /// Creates a key for `project` (creating the project when new) and
    /// returns the key (it cannot be recovered later) and the project.
    pub async fn create_key(&self, project: &str) -> Result<(String, Project)> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let row = tx
            .query_one(
                "INSERT INTO zerodb.projects (name) VALUES ($1)
                 ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id, name, uuid::text",
                &[&project],
            )
            .await
            .map_err(db_error)?;
        let project = project_of(&row);
        tx.execute(
            "INSERT INTO zerodb.api_keys (project_id, key_hash, prefix) VALUES ($1, $2, $3)",
            &[&project.id, &hash(&key), &&key[..12]],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok((key, project))
    }

    /// Every project, by name.
    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT id, name, uuid::text FROM zerodb.projects ORDER BY name", &[])
            .await
            .map_err(db_error)?;
        Ok(rows.iter().map(project_of).collect())
    }

    /// Revokes a key; returns whether it existed and was live. Every
    /// serving host hears of it on the coherence feed when it commits.
    pub async fn revoke_key(&self, key: &str) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let n = tx
            .execute(
                "UPDATE zerodb.api_keys SET revoked_at = now() WHERE key_hash = $1 AND revoked_at IS NULL",
                &[&hash(key)],
            )
            .await
            .map_err(db_error)?;
        if n == 1 {
            self.commit_change(tx, Change::KeyRevoked).await?;
        }
        Ok(n == 1)
    }

    /// Resolves a live key to its project. The lookup is by hash, so the
    /// time it takes does not depend on how much of a key matches.
    pub async fn authenticate(&self, key: &str) -> Result<Project> {
        if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
            return Err(unauthorized());
        }
        let hash = hash(key);
        // Read the epoch before the lookup: a revocation announced during it
        // leaves this resolution in an old epoch.
        let epoch = self.coherence.live().then(|| self.coherence.auth_epoch());
        let cached = self.auth.get(&hash, epoch);
        match (&cached, epoch) {
            (Some((project, Trust::Fresh)), _) => return Ok(project.clone()),
            (Some((project, Trust::Renew)), Some(epoch)) => {
                // Still fresh: this request need not wait for the renewal.
                let store = self.clone();
                tokio::spawn(async move { store.renew_key(hash, epoch).await });
                return Ok(project.clone());
            }
            _ => {}
        }
        // With a resolution to fall back on, a database that does not
        // answer in time counts as unavailable, not as a wait to the
        // request's deadline (the feed may be down because the database is).
        let lookup = match &cached {
            Some(_) => tokio::time::timeout(STALE_KEY_WAIT, self.lookup_key(&hash))
                .await
                .unwrap_or_else(|_| {
                    Err(ApiError::retry_after(
                        code::DATABASE_UNAVAILABLE,
                        "the database did not answer in time",
                        1,
                    ))
                }),
            None => self.lookup_key(&hash).await,
        };
        match lookup {
            Ok(Some(project)) => {
                if let Some(epoch) = epoch {
                    self.auth.put(hash, project.clone(), epoch);
                }
                Ok(project)
            }
            Ok(None) => Err(unauthorized()),
            // While the database is down, a key it accepted before still
            // opens a session, so that the edge can serve its cache (as stale).
            Err(e) if e.kind == ErrorKind::Unavailable => cached.map(|(project, _)| project).ok_or(e),
            Err(e) => Err(e),
        }
    }

    /// Looks a cached key up again: kept for a new TTL when still live,
    /// forgotten when not; left to expire when the database cannot say.
    async fn renew_key(&self, hash: Vec<u8>, epoch: u64) {
        let started = Instant::now();
        match self.lookup_key(&hash).await {
            Ok(Some(project)) => self.auth.renewed(hash, project, epoch, started),
            Ok(None) => self.auth.forget(&hash),
            Err(e) => tracing::debug!(error = %e, "renewing a key's resolution failed; it expires"),
        }
    }

    async fn lookup_key(&self, hash: &[u8]) -> Result<Option<Project>> {
        let client = self.auth_client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT p.id, p.name, p.uuid::text FROM zerodb.api_keys k JOIN zerodb.projects p ON p.id = k.project_id
                 WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
            )
            .await
            .map_err(db_error)?;
        let row = client.query_opt(&stmt, &[&hash]).await.map_err(db_error)?;
        Ok(row.as_ref().map(project_of))
    }
}

/// A project read as `id, name, uuid::text`.
fn project_of(row: &tokio_postgres::Row) -> Project {
    Project {
        id: row.get(0),
        name: row.get(1),
        uuid: row.get(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resolution is fresh for its TTL in the epoch it was made in; in
    /// the last quarter of the TTL one caller is told to renew it while the
    /// others go on using it; past the TTL none may.
    #[test]
    fn one_request_renews_a_key_before_its_ttl_ends() {
        let ttl = Duration::from_secs(60);
        let cache = AuthCache {
            ttl,
            entries: Arc::default(),
        };
        // Every resolution made `by` earlier than it was.
        let age = |by: Duration| {
            for resolved in cache.entries.lock().unwrap().values_mut() {
                resolved.at -= by;
            }
        };
        let project = Project {
            id: 7,
            name: "p".into(),
            uuid: "u".into(),
        };
        let trust = |epoch| cache.get(b"k", epoch).map(|(p, trust)| (p.id, trust));
        assert_eq!(trust(Some(3)), None);
        cache.put(b"k".to_vec(), project.clone(), 3);
        assert_eq!(trust(Some(3)), Some((7, Trust::Fresh)));
        // A revocation announced since, or a feed that is down: not fresh.
        assert_eq!(trust(Some(4)), Some((7, Trust::Stale)));
        assert_eq!(trust(None), Some((7, Trust::Stale)));
        age(ttl * 3 / 4);
        assert_eq!(trust(Some(3)), Some((7, Trust::Renew)), "the first caller renews");
        assert_eq!(trust(Some(3)), Some((7, Trust::Fresh)), "the others use it meanwhile");
        // A renewal starts a new TTL from its lookup, unless a newer
        // resolution took its place meanwhile.
        cache.renewed(b"k".to_vec(), project.clone(), 3, Instant::now());
        assert_eq!(trust(Some(3)), Some((7, Trust::Fresh)));
        age(ttl * 3 / 4);
        assert_eq!(trust(Some(3)), Some((7, Trust::Renew)));
        cache.put(b"k".to_vec(), project.clone(), 4);
        cache.renewed(b"k".to_vec(), project.clone(), 3, Instant::now());
        assert_eq!(trust(Some(4)), Some((7, Trust::Fresh)), "the older renewal was dropped");
        age(ttl);
        assert_eq!(trust(Some(4)), Some((7, Trust::Stale)), "past the TTL");
        // A key no longer live is forgotten.
        cache.put(b"k".to_vec(), project, 3);
        cache.forget(b"k");
        assert_eq!(trust(Some(3)), None);
    }
}
