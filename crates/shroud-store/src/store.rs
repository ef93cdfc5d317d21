//! [`Store`]: the one handle the gateway uses for everything it persists, whatever the
//! backend. It owns the key layout, sealing and pseudonymization, input limits and
//! operation timeouts; the backends only move bytes.
//!
//! Logical key layout (Redis adds `<prefix>:` in front):
//!
//! | key | holds |
//! |---|---|
//! | `users` | set of user pseudonyms (for listing, counts, erasure) |
//! | `{u:P}:i` | index of every key below for user pseudonym `P` (erasure) |
//! | `{u:P}:p:<modality>` | profile: revision + sealed (schema, updated, bytes) |
//! | `{u:P}:d:<H(session)>` | sealed decision-cache entry, short TTL |
//! | `{u:P}:c:<name>` | counter (rate limit / escalation), TTL = window |
//! | `{u:P}:v:<ns>:t:<H(token)>` / `:x:<H(value)>` | user-scoped vault: token -> sealed value, value digest -> sealed token |
//! | `{v:<ns>}:t:<H(token)>` / `:x:<H(value)>` | global vault namespace `ns` |
//!
//! `P` and `H` are keyed HMAC-SHA256 pseudonyms (see [`crate::KeyRing`]); user ids,
//! session ids, tokens and values never appear in clear. The `{...}` hash tag keeps all
//! keys of one user (or one vault namespace) in one Redis Cluster slot so every step is
//! one atomic script.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::backend::{Backend, Cas, VaultInsert, VaultInsertArgs};
use crate::config::{BackendConfig, StoreConfig};
use crate::error::{Result, StoreError};
use crate::keys::KeyRing;

const USERS: &str = "users";
const MAX_ID_BYTES: usize = 1024;
const MAX_TOKEN_BYTES: usize = 1024;
/// Rounds of compare-and-set for `Expect::Any`; each round at least one concurrent
/// writer wins, so this bounds the writers that can race on one profile at once.
const PUT_RETRIES: usize = 64;

/// A user as the store names them: the keyed pseudonym of their id. Obtained from
/// [`Store::user`] (from the clear id) or [`Store::users`] (listing).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKey(String);

impl UserKey {
    /// The pseudonym (32 hex chars). Safe to log: it cannot be reversed without the
    /// pseudonymization key.
    pub fn pseudonym(&self) -> &str {
        &self.0
    }

    /// Rebuilds a key from a pseudonym previously obtained from [`UserKey::pseudonym`]
    /// (e.g. from an admin listing).
    pub fn from_pseudonym(p: &str) -> Result<Self> {
        if p.len() == 32
            && p.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            Ok(UserKey(p.to_owned()))
        } else {
            Err(StoreError::invalid(
                "pseudonym",
                "must be 32 lowercase hex characters",
            ))
        }
    }

    fn tag(&self) -> String {
        format!("{{u:{}}}", self.0)
    }

    fn index(&self) -> String {
        format!("{}:i", self.tag())
    }
}

fn check_name(field: &'static str, s: &str, max: usize) -> Result<()> {
    if s.is_empty() || s.len() > max {
        return Err(StoreError::invalid(
            field,
            format!("length must be 1..={max} bytes, got {}", s.len()),
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(StoreError::invalid(
            field,
            format!("character {c:?} not allowed (use a-z A-Z 0-9 _ - .)"),
        ));
    }
    Ok(())
}

/// A behavioral modality a profile is kept for (`keystroke`, `mouse`, `access`, or any
/// other name of up to 32 characters `[a-zA-Z0-9_.-]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Modality(String);

impl Modality {
    /// Validates a modality name.
    pub fn new(name: &str) -> Result<Self> {
        check_name("modality", name, 32)?;
        Ok(Modality(name.to_owned()))
    }

    /// Keystroke dynamics.
    pub fn keystroke() -> Self {
        Modality("keystroke".into())
    }

    /// Mouse / pointer dynamics.
    pub fn mouse() -> Self {
        Modality("mouse".into())
    }

    /// Context and access patterns.
    pub fn access() -> Self {
        Modality("access".into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Which modality.
    pub modality: Modality,
    /// Store-assigned revision, 1 for the first write, +1 per write.
    pub revision: u64,
    /// The caller's format version of `data`.
    pub schema_version: u32,
    /// When it was written (milliseconds precision).
    pub updated_at: SystemTime,
    /// The opaque profile bytes.
    pub data: Vec<u8>,
}

/// Condition for [`Store::put_profile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Write whatever is stored (last writer wins; retried internally on races).
    Any,
    /// Only if no profile exists yet.
    Absent,
    /// Only if the stored revision is this one (optimistic concurrency between
    /// gateway instances adapting the same profile).
    Revision(u64),
}

/// A counter read or increment result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Current value (0 when absent or expired).
    pub value: i64,
    /// Time until the counter expires (its window ends); `None` when absent.
    pub resets_in: Option<Duration>,
}

/// Where a vault token lives: a namespace (e.g. a data class or policy), global or
/// scoped to one user. User-scoped tokens are erased with the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultScope {
    namespace: String,
    user: Option<UserKey>,
}

impl VaultScope {
    /// Tokens shared by all users of the namespace (same value -> same token).
    pub fn global(namespace: &str) -> Result<Self> {
        check_name("vault namespace", namespace, 64)?;
        Ok(VaultScope {
            namespace: namespace.to_owned(),
            user: None,
        })
    }

    /// Tokens private to one user.
    pub fn user(namespace: &str, user: &UserKey) -> Result<Self> {
        check_name("vault namespace", namespace, 64)?;
        Ok(VaultScope {
            namespace: namespace.to_owned(),
            user: Some(user.clone()),
        })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The user it is scoped to, if any.
    pub fn user_key(&self) -> Option<&UserKey> {
        self.user.as_ref()
    }

    fn base(&self) -> String {
        match &self.user {
            Some(u) => format!("{}:v:{}", u.tag(), self.namespace),
            None => format!("{{v:{}}}", self.namespace),
        }
    }
}

/// Result of [`Store::vault_tokenize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokenized {
    /// The token now standing for the value.
    pub token: String,
    /// `true` if the candidate was stored, `false` if the value already had a token.
    pub created: bool,
}

/// Result of [`Store::health`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `redb`, `redis` or `redis-cluster`.
    pub backend: &'static str,
    /// Whether a round trip succeeded within the operation timeout.
    pub ok: bool,
    /// Round-trip time of the probe.
    pub latency: Duration,
    /// The error, when not ok.
    pub error: Option<String>,
    /// Seal key id used for new writes.
    pub current_key_id: u32,
}

/// Result of [`Store::erase_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erasure {
    /// Keys that existed and were deleted.
    pub keys_deleted: u64,
}

struct Inner {
    backend: Backend,
    keys: KeyRing,
    cfg: StoreConfig,
}

/// The store handle: cheap to clone (`Arc` inside), `Send + Sync`, all methods async and
/// bounded by [`StoreConfig::op_timeout`].
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend.name())
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Store {
    /// Opens the configured backend. Fails with a clear error if the redb file cannot be
    /// opened or Redis cannot be reached within [`StoreConfig::connect_timeout`].
    pub async fn open(cfg: StoreConfig, keys: KeyRing) -> Result<Self> {
        if cfg.key_prefix.is_empty() || cfg.key_prefix.contains(['{', '}']) {
            return Err(StoreError::Config(
                "key_prefix must be non-empty and contain no `{` or `}` (they are Redis Cluster hash tags)".into(),
            ));
        }
        if cfg.op_timeout.is_zero() {
            return Err(StoreError::Config("op_timeout must be > 0".into()));
        }
        let backend = match &cfg.backend {
            BackendConfig::Redb { path } => Backend::Redb(
                crate::backend::redb::RedbBackend::open(path, cfg.redb_sweep_interval).await?,
            ),
            BackendConfig::Redis { url } => Backend::Redis(Box::new(
                crate::backend::redis::RedisBackend::connect_single(url, &cfg).await?,
            )),
            BackendConfig::RedisCluster { urls } => Backend::Redis(Box::new(
                crate::backend::redis::RedisBackend::connect_cluster(urls, &cfg).await?,
            )),
        };
        Ok(Store {
            inner: Arc::new(Inner { backend, keys, cfg }),
        })
    }

    /// Backend name: `redb`, `redis` or `redis-cluster`.
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// The key ring in use.
    pub fn key_ring(&self) -> &KeyRing {
        &self.inner.keys
    }

    /// Runs a backend future under the operation timeout.
    async fn timed<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let after = self.inner.cfg.op_timeout;
        match tokio::time::timeout(after, fut).await {
            Ok(Err(StoreError::Timeout { backend, .. })) => {
                Err(StoreError::Timeout { op, backend, after })
            }
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout {
                op,
                backend: self.backend_name(),
                after,
            }),
        }
    }

    fn b(&self) -> &Backend {
        &self.inner.backend
    }

    fn check_value(&self, field: &'static str, v: &[u8]) -> Result<()> {
        let max = self.inner.cfg.max_value_bytes;
        if v.len() > max {
            return Err(StoreError::invalid(
                field,
                format!(
                    "{} bytes exceeds the {max} byte limit (max_value_bytes)",
                    v.len()
                ),
            ));
        }
        Ok(())
    }

    /// The pseudonymous key of a user id (pure computation, no I/O).
    pub fn user(&self, user_id: &str) -> Result<UserKey> {
        if user_id.is_empty() || user_id.len() > MAX_ID_BYTES {
            return Err(StoreError::invalid(
                "user_id",
                format!(
                    "length must be 1..={MAX_ID_BYTES} bytes, got {}",
                    user_id.len()
                ),
            ));
        }
        Ok(UserKey(
            self.inner.keys.pseudonym("user", &[user_id.as_bytes()]),
        ))
    }

    // ----- health -------------------------------------------------------------------

    /// Probes the backend with one round trip; never fails (errors are reported inside).
    pub async fn health(&self) -> Health {
        let start = Instant::now();
        let r = self.timed("health", self.b().ping()).await;
        Health {
            backend: self.backend_name(),
            ok: r.is_ok(),
            latency: start.elapsed(),
            error: r.err().map(|e| e.to_string()),
            current_key_id: self.inner.keys.current_key_id(),
        }
    }

    // ----- profiles -----------------------------------------------------------------

    fn profile_key(user: &UserKey, m: &Modality) -> String {
        format!("{}:p:{}", user.tag(), m.0)
    }

    fn profile_aad(key: &str, rev: u64) -> Vec<u8> {
        format!("{key}\0rev={rev}").into_bytes()
    }

    fn open_profile(&self, key: &str, m: &Modality, rev: u64, blob: &[u8]) -> Result<Profile> {
        let plain = self
            .inner
            .keys
            .open("profile", &Self::profile_aad(key, rev), blob)?;
        if plain.len() < 12 {
            return Err(StoreError::corrupt(
                "profile",
                "sealed profile lacks its header",
            ));
        }
        let schema_version = u32::from_be_bytes([plain[0], plain[1], plain[2], plain[3]]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&plain[4..12]);
        Ok(Profile {
            modality: m.clone(),
            revision: rev,
            schema_version,
            updated_at: UNIX_EPOCH + Duration::from_millis(u64::from_be_bytes(t)),
            data: plain[12..].to_vec(),
        })
    }

    /// Reads one profile.
    pub async fn profile(&self, user: &UserKey, modality: &Modality) -> Result<Option<Profile>> {
        let key = Self::profile_key(user, modality);
        let got = self
            .timed("get_profile", self.b().get_versioned(&key))
            .await?;
        got.map(|(rev, blob)| self.open_profile(&key, modality, rev, &blob))
            .transpose()
    }

    /// Reads every profile of a user, sorted by modality.
    pub async fn profiles(&self, user: &UserKey) -> Result<Vec<Profile>> {
        let idx = user.index();
        let prefix = format!("{}:p:", user.tag());
        let members = self
            .timed("get_profiles", self.b().set_members(&idx))
            .await?;
        let mut out = Vec::new();
        for m in members {
            if let Some(name) = m.strip_prefix(&prefix) {
                let modality = Modality::new(name)
                    .map_err(|e| StoreError::corrupt("profile index", e.to_string()))?;
                if let Some(p) = self.profile(user, &modality).await? {
                    out.push(p);
                }
            }
        }
        out.sort_by(|a, b| a.modality.cmp(&b.modality));
        Ok(out)
    }

    /// Writes a profile under a condition; returns the new revision. The user is added
    /// to the known-users list on their first profile.
    pub async fn put_profile(
        &self,
        user: &UserKey,
        modality: &Modality,
        schema_version: u32,
        data: &[u8],
        expect: Expect,
    ) -> Result<u64> {
        self.check_value("profile data", data)?;
        let key = Self::profile_key(user, modality);
        let idx = user.index();
        let mut plain = Vec::with_capacity(12 + data.len());
        plain.extend_from_slice(&schema_version.to_be_bytes());
        plain.extend_from_slice(&millis(SystemTime::now()).to_be_bytes());
        plain.extend_from_slice(data);
        // For `Any`, the revision seen by a lost race is the next one to expect: no
        // extra read per retry.
        let mut seen = None;
        for _ in 0..PUT_RETRIES {
            let expected = match (expect, seen) {
                (Expect::Absent, _) => 0,
                (Expect::Revision(r), _) => r,
                (Expect::Any, Some(r)) => r,
                (Expect::Any, None) => self
                    .timed("put_profile", self.b().get_versioned(&key))
                    .await?
                    .map_or(0, |(r, _)| r),
            };
            let new_rev = expected
                .checked_add(1)
                .ok_or_else(|| StoreError::corrupt("profile", "revision overflow"))?;
            if expected == 0 {
                // Listed before the profile exists, so a crash in between leaves a listed
                // user without data (harmless, erasable) rather than unlisted data.
                self.timed("put_profile", self.b().set_add(USERS, &user.0))
                    .await?;
            }
            let sealed = self
                .inner
                .keys
                .seal(&Self::profile_aad(&key, new_rev), &plain)?;
            match self
                .timed(
                    "put_profile",
                    self.b().cas(&key, expected, new_rev, &sealed, &idx),
                )
                .await?
            {
                Cas::Written => return Ok(new_rev),
                Cas::Conflict(found) if expect == Expect::Any => {
                    tracing::debug!(found, "profile write raced; retrying");
                    seen = Some(found);
                    tokio::task::yield_now().await;
                }
                Cas::Conflict(found) => return Err(StoreError::Conflict { expected, found }),
            }
        }
        Err(StoreError::Unavailable {
            op: "put_profile",
            backend: self.backend_name(),
            reason: format!("gave up after {PUT_RETRIES} concurrent-write retries"),
        })
    }

    /// Deletes one profile; returns whether it existed.
    pub async fn delete_profile(&self, user: &UserKey, modality: &Modality) -> Result<bool> {
        let key = Self::profile_key(user, modality);
        let idx = user.index();
        Ok(self
            .timed("delete_profile", self.b().del(&[key], Some(&idx)))
            .await?
            > 0)
    }

    /// Every known user (those who ever had a profile and were not erased), sorted.
    pub async fn users(&self) -> Result<Vec<UserKey>> {
        let m = self
            .timed("list_users", self.b().set_members(USERS))
            .await?;
        Ok(m.into_iter().map(UserKey).collect())
    }

    /// Number of known users (enrollment count for health).
    pub async fn user_count(&self) -> Result<u64> {
        self.timed("count_users", self.b().set_len(USERS)).await
    }

    /// Right to be forgotten: deletes every key of the user (profiles, decisions,
    /// counters, user-scoped vault tokens) and removes them from the user list.
    /// Global-scope vault tokens are not per-user and stay.
    pub async fn erase_user(&self, user: &UserKey) -> Result<Erasure> {
        let idx = user.index();
        // Erasure may touch many keys; allow it several operation timeouts.
        let n = tokio::time::timeout(self.inner.cfg.op_timeout * 20, self.b().erase_indexed(&idx))
            .await
            .map_err(|_| StoreError::Timeout {
                op: "erase_user",
                backend: self.backend_name(),
                after: self.inner.cfg.op_timeout * 20,
            })??;
        self.timed("erase_user", self.b().set_remove(USERS, &user.0))
            .await?;
        Ok(Erasure { keys_deleted: n })
    }

    // ----- decision cache -----------------------------------------------------------

    fn decision_key(&self, user: &UserKey, session: &str) -> Result<String> {
        if session.is_empty() || session.len() > MAX_ID_BYTES {
            return Err(StoreError::invalid(
                "session",
                format!("length must be 1..={MAX_ID_BYTES} bytes"),
            ));
        }
        let h = self
            .inner
            .keys
            .pseudonym("session", &[user.0.as_bytes(), session.as_bytes()]);
        Ok(format!("{}:d:{h}", user.tag()))
    }

    /// Caches a decision (opaque bytes, sealed) for a user's session for `ttl`.
    pub async fn put_decision(
        &self,
        user: &UserKey,
        session: &str,
        decision: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        if ttl.is_zero() {
            return Err(StoreError::invalid("ttl", "must be > 0"));
        }
        self.check_value("decision", decision)?;
        let key = self.decision_key(user, session)?;
        let sealed = self.inner.keys.seal(key.as_bytes(), decision)?;
        let idx = user.index();
        self.timed(
            "put_decision",
            self.b().put(&key, &sealed, Some(ttl), Some(&idx)),
        )
        .await
    }

    /// Reads a cached decision, `None` when absent or expired.
    pub async fn decision(&self, user: &UserKey, session: &str) -> Result<Option<Vec<u8>>> {
        let key = self.decision_key(user, session)?;
        let got = self.timed("get_decision", self.b().get(&key)).await?;
        got.map(|b| self.inner.keys.open("decision", key.as_bytes(), &b))
            .transpose()
    }

    /// Drops a cached decision (e.g. after a policy change or new telemetry).
    pub async fn invalidate_decision(&self, user: &UserKey, session: &str) -> Result<()> {
        let key = self.decision_key(user, session)?;
        let idx = user.index();
        self.timed("invalidate_decision", self.b().del(&[key], Some(&idx)))
            .await?;
        Ok(())
    }

    // ----- counters -----------------------------------------------------------------

    fn counter_key(user: &UserKey, name: &str) -> Result<String> {
        check_name("counter name", name, 64)?;
        Ok(format!("{}:c:{name}", user.tag()))
    }

    /// Atomically adds `by` to the user's counter `name`; a counter that does not exist
    /// starts at 0 and expires `window` after this first increment (fixed window).
    /// Shared by every gateway instance on the same Redis.
    pub async fn incr_counter(
        &self,
        user: &UserKey,
        name: &str,
        by: i64,
        window: Duration,
    ) -> Result<Counter> {
        if window.is_zero() {
            return Err(StoreError::invalid("window", "must be > 0"));
        }
        let key = Self::counter_key(user, name)?;
        let idx = user.index();
        let s = self
            .timed("incr_counter", self.b().incr(&key, by, window, &idx))
            .await?;
        Ok(Counter {
            value: s.value,
            resets_in: s.ttl,
        })
    }

    /// Reads a counter (0 when absent or expired).
    pub async fn counter(&self, user: &UserKey, name: &str) -> Result<Counter> {
        let key = Self::counter_key(user, name)?;
        let s = self.timed("get_counter", self.b().counter(&key)).await?;
        Ok(Counter {
            value: s.value,
            resets_in: s.ttl,
        })
    }

    /// Deletes a counter.
    pub async fn reset_counter(&self, user: &UserKey, name: &str) -> Result<()> {
        let key = Self::counter_key(user, name)?;
        let idx = user.index();
        self.timed("reset_counter", self.b().del(&[key], Some(&idx)))
            .await?;
        Ok(())
    }

    // ----- token vault --------------------------------------------------------------

    fn vault_keys(
        &self,
        scope: &VaultScope,
        value: Option<&[u8]>,
        token: Option<&str>,
    ) -> (String, String) {
        let base = scope.base();
        let ns = scope.namespace.as_bytes();
        let d = value
            .map(|v| {
                let h = self
                    .inner
                    .keys
                    .pseudonym("vault-value", &[base.as_bytes(), ns, v]);
                format!("{base}:x:{h}")
            })
            .unwrap_or_default();
        let t = token
            .map(|t| {
                let h = self
                    .inner
                    .keys
                    .pseudonym("vault-token", &[base.as_bytes(), ns, t.as_bytes()]);
                format!("{base}:t:{h}")
            })
            .unwrap_or_default();
        (d, t)
    }

    fn check_token(token: &str) -> Result<()> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(StoreError::invalid(
                "token",
                format!(
                    "length must be 1..={MAX_TOKEN_BYTES} bytes, got {}",
                    token.len()
                ),
            ));
        }
        Ok(())
    }

    /// Returns the token of `value` in `scope`, storing `candidate` for it if the value
    /// has none yet (deterministic: the same value always gets the same token while it
    /// lives). `ttl` = `None` keeps the mapping forever. Errors with
    /// [`StoreError::TokenCollision`] when `candidate` already stands for another value:
    /// generate another candidate and retry.
    pub async fn vault_tokenize(
        &self,
        scope: &VaultScope,
        value: &[u8],
        candidate: &str,
        ttl: Option<Duration>,
    ) -> Result<Tokenized> {
        Self::check_token(candidate)?;
        self.check_value("vault value", value)?;
        if ttl.is_some_and(|t| t.is_zero()) {
            return Err(StoreError::invalid(
                "ttl",
                "must be > 0 (or None for no expiry)",
            ));
        }
        let (dk, tk) = self.vault_keys(scope, Some(value), Some(candidate));
        let keys = &self.inner.keys;
        let sealed_token = keys.seal(dk.as_bytes(), candidate.as_bytes())?;
        let sealed_value = keys.seal(tk.as_bytes(), value)?;
        let idx = scope.user.as_ref().map(UserKey::index);
        // The token entry outlives its index entry a little, so a token handed out from
        // the index never resolves to nothing.
        let grace = ttl.map_or(Duration::ZERO, |t| (t / 100).max(Duration::from_secs(1)));
        let r = self
            .timed(
                "vault_tokenize",
                self.b().vault_insert(VaultInsertArgs {
                    digest_key: &dk,
                    token_key: &tk,
                    sealed_token: &sealed_token,
                    sealed_value: &sealed_value,
                    ttl,
                    token_grace: grace,
                    index: idx.as_deref(),
                }),
            )
            .await?;
        match r {
            VaultInsert::Inserted => Ok(Tokenized {
                token: candidate.to_owned(),
                created: true,
            }),
            VaultInsert::Existing(sealed) => {
                let t = keys.open("vault index", dk.as_bytes(), &sealed)?;
                let token = String::from_utf8(t)
                    .map_err(|_| StoreError::corrupt("vault index", "token is not UTF-8"))?;
                Ok(Tokenized {
                    token,
                    created: false,
                })
            }
            VaultInsert::TokenTaken(sealed) => {
                let existing = keys.open("vault value", tk.as_bytes(), &sealed)?;
                if existing != value {
                    return Err(StoreError::TokenCollision);
                }
                // Same value, index entry expired first: restore the index entry.
                self.timed(
                    "vault_tokenize",
                    self.b().put(&dk, &sealed_token, ttl, idx.as_deref()),
                )
                .await?;
                Ok(Tokenized {
                    token: candidate.to_owned(),
                    created: false,
                })
            }
        }
    }

    /// The token already standing for `value` in `scope`, if any (no write).
    pub async fn vault_lookup(&self, scope: &VaultScope, value: &[u8]) -> Result<Option<String>> {
        let (dk, _) = self.vault_keys(scope, Some(value), None);
        let got = self.timed("vault_lookup", self.b().get(&dk)).await?;
        got.map(|sealed| {
            let t = self
                .inner
                .keys
                .open("vault index", dk.as_bytes(), &sealed)?;
            String::from_utf8(t)
                .map_err(|_| StoreError::corrupt("vault index", "token is not UTF-8"))
        })
        .transpose()
    }

    /// The value a token stands for in `scope`; `None` if unknown or expired. The
    /// gateway must check the caller's `detokenize` scope before calling this.
    pub async fn vault_detokenize(
        &self,
        scope: &VaultScope,
        token: &str,
    ) -> Result<Option<Vec<u8>>> {
        Self::check_token(token)?;
        let (_, tk) = self.vault_keys(scope, None, Some(token));
        let got = self.timed("vault_detokenize", self.b().get(&tk)).await?;
        got.map(|sealed| self.inner.keys.open("vault value", tk.as_bytes(), &sealed))
            .transpose()
    }

    // ----- diagnostics --------------------------------------------------------------

    /// Every logical key in the store (for erasure proofs and debugging). Scans the
    /// whole keyspace: never call it on a request path.
    pub async fn debug_keys(&self) -> Result<Vec<String>> {
        let t = self.inner.cfg.op_timeout * 40;
        tokio::time::timeout(t, self.b().keys())
            .await
            .map_err(|_| StoreError::Timeout {
                op: "debug_keys",
                backend: self.backend_name(),
                after: t,
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_is_shareable_across_tasks() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Store>();
    }

    #[test]
    fn pseudonym_keys_round_trip_and_validate() {
        let k = UserKey::from_pseudonym("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(k.pseudonym(), "0123456789abcdef0123456789abcdef");
        assert_eq!(k.index(), "{u:0123456789abcdef0123456789abcdef}:i");
        for bad in ["", "0123456789ABCDEF0123456789ABCDEF", "0123", "{u:x}"] {
            assert!(UserKey::from_pseudonym(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_reject_hash_tag_and_separator_characters() {
        for bad in ["a{b", "a}b", "a:b", "a b", "é", ""] {
            assert!(Modality::new(bad).is_err(), "{bad}");
            assert!(VaultScope::global(bad).is_err(), "{bad}");
        }
        assert!(Modality::new(&"m".repeat(33)).is_err());
        assert_eq!(Modality::new("touch").unwrap().as_str(), "touch");
    }
}
