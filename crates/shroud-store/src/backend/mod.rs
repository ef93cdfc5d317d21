//! The storage backends behind [`crate::Store`] and the small set of semantic operations
//! they all implement (get/put with TTL, versioned compare-and-set, vault insert,
//! counters, per-user key index, erasure).
//!
//! The operations are deliberately few and coarse: each one is a single atomic step on
//! every backend (one redb write transaction, one Redis Lua script or command), so the
//! layer above never needs multi-step transactions and behaves the same on all three.
//! Keys here are *logical* keys (see `crate::store` for the layout); the Redis backend
//! adds its prefix, redb stores them as they are.

pub(crate) mod redb;
pub(crate) mod redis;

use std::time::Duration;

use crate::error::Result;

/// Result of a versioned compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cas {
    /// Written; the stored revision is now the requested one.
    Written,
    /// Not written: the stored revision (0 = absent) differs from the expected one.
    Conflict(u64),
}

/// Result of a vault insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VaultInsert {
    /// The value already had a token: the sealed token stored in the digest index.
    Existing(Vec<u8>),
    /// The candidate token was stored.
    Inserted,
    /// The candidate token key already exists; its sealed value is returned so the caller
    /// can tell a real collision from the same value re-inserted.
    TokenTaken(Vec<u8>),
}

/// A counter's value and remaining lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CounterState {
    pub value: i64,
    pub ttl: Option<Duration>,
}

/// Arguments of [`Backend::vault_insert`].
pub(crate) struct VaultInsertArgs<'a> {
    pub digest_key: &'a str,
    pub token_key: &'a str,
    pub sealed_token: &'a [u8],
    pub sealed_value: &'a [u8],
    /// Lifetime of the digest index entry; the token entry lives `token_grace` longer so
    /// the index never points at an already-expired token.
    pub ttl: Option<Duration>,
    pub token_grace: Duration,
    /// Per-user key index to register both keys in (user-scoped vaults).
    pub index: Option<&'a str>,
}

/// The closed set of backends. An enum rather than `dyn Trait`: the set is fixed by this
/// crate, dispatch is a jump instead of a boxed future per call, and the crypto/layout
/// layer above is written once.
pub(crate) enum Backend {
    Redb(redb::RedbBackend),
    // Boxed: the Redis variant is large and the enum lives once per store anyway.
    Redis(Box<redis::RedisBackend>),
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Backend::Redb($b) => $e,
            Backend::Redis($b) => $e,
        }
    };
}

impl Backend {
    pub(crate) fn name(&self) -> &'static str {
        dispatch!(self, b => b.name())
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        dispatch!(self, b => b.get(key).await)
    }

    pub(crate) async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        index: Option<&str>,
    ) -> Result<()> {
        dispatch!(self, b => b.put(key, value, ttl, index).await)
    }

    pub(crate) async fn get_versioned(&self, key: &str) -> Result<Option<(u64, Vec<u8>)>> {
        dispatch!(self, b => b.get_versioned(key).await)
    }

    pub(crate) async fn cas(
        &self,
        key: &str,
        expected: u64,
        new_rev: u64,
        value: &[u8],
        index: &str,
    ) -> Result<Cas> {
        dispatch!(self, b => b.cas(key, expected, new_rev, value, index).await)
    }

    /// Deletes `keys` (and removes them from `index` if given); returns how many existed.
    pub(crate) async fn del(&self, keys: &[String], index: Option<&str>) -> Result<u64> {
        dispatch!(self, b => b.del(keys, index).await)
    }

    pub(crate) async fn vault_insert(&self, args: VaultInsertArgs<'_>) -> Result<VaultInsert> {
        dispatch!(self, b => b.vault_insert(args).await)
    }

    pub(crate) async fn incr(
        &self,
        key: &str,
        by: i64,
        ttl: Duration,
        index: &str,
    ) -> Result<CounterState> {
        dispatch!(self, b => b.incr(key, by, ttl, index).await)
    }

    pub(crate) async fn counter(&self, key: &str) -> Result<CounterState> {
        dispatch!(self, b => b.counter(key).await)
    }

    pub(crate) async fn set_add(&self, set: &str, member: &str) -> Result<()> {
        dispatch!(self, b => b.set_add(set, member).await)
    }

    pub(crate) async fn set_remove(&self, set: &str, member: &str) -> Result<()> {
        dispatch!(self, b => b.set_remove(set, member).await)
    }

    pub(crate) async fn set_members(&self, set: &str) -> Result<Vec<String>> {
        dispatch!(self, b => b.set_members(set).await)
    }

    pub(crate) async fn set_len(&self, set: &str) -> Result<u64> {
        dispatch!(self, b => b.set_len(set).await)
    }

    /// Deletes every key listed in the index set and the index itself, atomically per
    /// batch, until the index is empty; returns the number of keys that existed.
    pub(crate) async fn erase_indexed(&self, index: &str) -> Result<u64> {
        dispatch!(self, b => b.erase_indexed(index).await)
    }

    /// Every logical key present (diagnostics and erasure proofs; O(keyspace)).
    pub(crate) async fn keys(&self) -> Result<Vec<String>> {
        dispatch!(self, b => b.keys().await)
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        dispatch!(self, b => b.ping().await)
    }
}
