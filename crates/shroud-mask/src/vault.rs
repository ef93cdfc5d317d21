//! The token vault: where `tokenize` keeps token → original value, per scope, with an optional
//! TTL. [`TokenVault`] is the (sync, object-safe, batch-friendly) trait the masker calls once per
//! document with all new tokens; [`MemoryVault`] and [`RedbVault`] (a file, via `redb`) implement
//! it here, and the gateway adds a Redis one against the same trait.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The storage backend failed.
    #[error("token vault: {0}")]
    Backend(String),
}

fn backend<E: std::fmt::Display>(e: E) -> VaultError {
    VaultError::Backend(e.to_string())
}

/// One token to store: the token and the original value it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    /// The token as it appears in masked output.
    pub token: String,
    /// The original value (opaque bytes; the masker stores a type tag and the text).
    pub value: Vec<u8>,
}

/// A store of token → value mappings, partitioned by scope (a tenant, a user, a session: the
/// caller decides), so one scope can be erased on request.
pub trait TokenVault: Send + Sync {
    /// Stores the entries with an optional time to live. For each entry, returns `true` when it is
    /// now stored (or the token already maps to the same value, so deterministic tokens are
    /// idempotent) and `false` when the token is taken by a different value (the caller then
    /// derives another token).
    fn put_many(
        &self,
        scope: &str,
        entries: &[TokenEntry],
        ttl: Option<Duration>,
    ) -> Result<Vec<bool>, VaultError>;
    /// The value behind a token, if present and not expired.
    fn get(&self, scope: &str, token: &str) -> Result<Option<Vec<u8>>, VaultError>;
    /// Removes one token; returns whether it existed.
    fn delete(&self, scope: &str, token: &str) -> Result<bool, VaultError>;
    /// Removes every token of a scope (right to erasure); returns how many were removed.
    fn erase_scope(&self, scope: &str) -> Result<u64, VaultError>;
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn expiry(ttl: Option<Duration>) -> u64 {
    // 0 means "never expires".
    ttl.map_or(0, |t| now_secs().saturating_add(t.as_secs().max(1)))
}

fn alive(exp: u64) -> bool {
    exp == 0 || exp > now_secs()
}

/// (scope, token).
type ScopedToken = (String, String);

/// An in-memory vault (tests, single-process use). Expired entries are dropped when read.
#[derive(Debug, Default)]
pub struct MemoryVault {
    map: RwLock<HashMap<ScopedToken, (Vec<u8>, u64)>>,
}

impl MemoryVault {
    /// An empty vault.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of live entries (all scopes).
    pub fn len(&self) -> usize {
        self.map
            .read()
            .map(|m| m.values().filter(|(_, e)| alive(*e)).count())
            .unwrap_or(0)
    }

    /// True when no live entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TokenVault for MemoryVault {
    fn put_many(
        &self,
        scope: &str,
        entries: &[TokenEntry],
        ttl: Option<Duration>,
    ) -> Result<Vec<bool>, VaultError> {
        let mut map = self.map.write().map_err(|_| backend("lock poisoned"))?;
        let exp = expiry(ttl);
        Ok(entries
            .iter()
            .map(|e| {
                let key = (scope.to_string(), e.token.clone());
                match map.get(&key) {
                    Some((v, old)) if alive(*old) && *v != e.value => false,
                    _ => {
                        map.insert(key, (e.value.clone(), exp));
                        true
                    }
                }
            })
            .collect())
    }

    fn get(&self, scope: &str, token: &str) -> Result<Option<Vec<u8>>, VaultError> {
        let map = self.map.read().map_err(|_| backend("lock poisoned"))?;
        Ok(map
            .get(&(scope.to_string(), token.to_string()))
            .filter(|(_, e)| alive(*e))
            .map(|(v, _)| v.clone()))
    }

    fn delete(&self, scope: &str, token: &str) -> Result<bool, VaultError> {
        let mut map = self.map.write().map_err(|_| backend("lock poisoned"))?;
        Ok(map
            .remove(&(scope.to_string(), token.to_string()))
            .is_some())
    }

    fn erase_scope(&self, scope: &str) -> Result<u64, VaultError> {
        let mut map = self.map.write().map_err(|_| backend("lock poisoned"))?;
        let before = map.len();
        map.retain(|(s, _), _| s != scope);
        Ok((before - map.len()) as u64)
    }
}

/// Key: `scope \0 token`; value: 8-byte little-endian expiry (0 = none) then the value.
const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("shroud_tokens_v1");

/// A vault persisted in a `redb` file: one write transaction per [`TokenVault::put_many`].
pub struct RedbVault {
    db: Database,
}

impl std::fmt::Debug for RedbVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedbVault")
    }
}

fn db_key(scope: &str, token: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(scope.len() + token.len() + 1);
    k.extend_from_slice(scope.as_bytes());
    k.push(0);
    k.extend_from_slice(token.as_bytes());
    k
}

impl RedbVault {
    /// Opens (or creates) the vault file.
    pub fn open(path: &Path) -> Result<RedbVault, VaultError> {
        let db = Database::create(path)
            .map_err(|e| VaultError::Backend(format!("{}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(backend)?;
        tx.open_table(TOKENS).map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(RedbVault { db })
    }
}

impl TokenVault for RedbVault {
    fn put_many(
        &self,
        scope: &str,
        entries: &[TokenEntry],
        ttl: Option<Duration>,
    ) -> Result<Vec<bool>, VaultError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let exp = expiry(ttl);
        let tx = self.db.begin_write().map_err(backend)?;
        let mut res = Vec::with_capacity(entries.len());
        {
            let mut t = tx.open_table(TOKENS).map_err(backend)?;
            for e in entries {
                let k = db_key(scope, &e.token);
                let conflict = match t.get(k.as_slice()).map_err(backend)? {
                    Some(old) => {
                        let old = old.value();
                        let old_exp = old
                            .get(..8)
                            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                        alive(old_exp) && old.get(8..) != Some(e.value.as_slice())
                    }
                    None => false,
                };
                if conflict {
                    res.push(false);
                    continue;
                }
                let mut v = Vec::with_capacity(8 + e.value.len());
                v.extend_from_slice(&exp.to_le_bytes());
                v.extend_from_slice(&e.value);
                t.insert(k.as_slice(), v.as_slice()).map_err(backend)?;
                res.push(true);
            }
        }
        tx.commit().map_err(backend)?;
        Ok(res)
    }

    fn get(&self, scope: &str, token: &str) -> Result<Option<Vec<u8>>, VaultError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(TOKENS).map_err(backend)?;
        let k = db_key(scope, token);
        let Some(v) = t.get(k.as_slice()).map_err(backend)? else {
            return Ok(None);
        };
        let v = v.value();
        if v.len() < 8 {
            return Err(backend("corrupt vault entry"));
        }
        let exp = u64::from_le_bytes(v[..8].try_into().map_err(backend)?);
        Ok(alive(exp).then(|| v[8..].to_vec()))
    }

    fn delete(&self, scope: &str, token: &str) -> Result<bool, VaultError> {
        let tx = self.db.begin_write().map_err(backend)?;
        let existed = {
            let mut t = tx.open_table(TOKENS).map_err(backend)?;
            t.remove(db_key(scope, token).as_slice())
                .map_err(backend)?
                .is_some()
        };
        tx.commit().map_err(backend)?;
        Ok(existed)
    }

    fn erase_scope(&self, scope: &str) -> Result<u64, VaultError> {
        let lo = db_key(scope, "");
        let mut hi = scope.as_bytes().to_vec();
        hi.push(1);
        let tx = self.db.begin_write().map_err(backend)?;
        let n = {
            let mut t = tx.open_table(TOKENS).map_err(backend)?;
            let keys: Vec<Vec<u8>> = t
                .range(lo.as_slice()..hi.as_slice())
                .map_err(backend)?
                .map(|r| r.map(|(k, _)| k.value().to_vec()))
                .collect::<Result<_, _>>()
                .map_err(backend)?;
            for k in &keys {
                t.remove(k.as_slice()).map_err(backend)?;
            }
            keys.len() as u64
        };
        tx.commit().map_err(backend)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(v: &dyn TokenVault) {
        let e = |t: &str, v: &str| TokenEntry {
            token: t.into(),
            value: v.as_bytes().to_vec(),
        };
        assert_eq!(
            v.put_many("s1", &[e("t1", "a"), e("t2", "b")], None)
                .unwrap(),
            vec![true, true]
        );
        assert_eq!(
            v.put_many("s1", &[e("t1", "a"), e("t2", "c")], None)
                .unwrap(),
            vec![true, false]
        );
        assert_eq!(v.get("s1", "t1").unwrap(), Some(b"a".to_vec()));
        assert_eq!(v.get("s2", "t1").unwrap(), None);
        v.put_many("s2", &[e("t1", "z")], None).unwrap();
        assert!(v.delete("s1", "t2").unwrap());
        assert!(!v.delete("s1", "t2").unwrap());
        assert_eq!(v.erase_scope("s1").unwrap(), 1);
        assert_eq!(v.get("s1", "t1").unwrap(), None);
        assert_eq!(v.get("s2", "t1").unwrap(), Some(b"z".to_vec()));
        // An already-expired entry is invisible and can be replaced.
        v.put_many("s3", &[e("t", "old")], Some(Duration::from_secs(1)))
            .unwrap();
    }

    #[test]
    fn memory() {
        exercise(&MemoryVault::new());
    }

    #[test]
    fn redb_persists() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.redb");
        exercise(&RedbVault::open(&p).unwrap());
        let v = RedbVault::open(&p).unwrap();
        assert_eq!(v.get("s2", "t1").unwrap(), Some(b"z".to_vec()));
    }
}
