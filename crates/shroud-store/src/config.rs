//! Store configuration: which backend, where, and the limits (timeouts, sizes) every
//! operation obeys. All fields are documented in `docs/store.md`.

use std::path::PathBuf;
use std::time::Duration;

/// Which backend to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// Embedded single-file redb database (the default; one gateway instance).
    Redb {
        /// Database file; created if missing.
        path: PathBuf,
    },
    /// One Redis server, shared by several gateway instances.
    Redis {
        /// `redis://[user:pass@]host:port[/db]` (or `rediss://` with TLS).
        url: String,
    },
    /// A Redis Cluster; any subset of the nodes works as seeds.
    RedisCluster {
        /// Seed node URLs.
        urls: Vec<String>,
    },
}

/// Everything needed to open a [`crate::Store`] besides the key ring.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The backend.
    pub backend: BackendConfig,
    /// Upper bound for every single store operation, end to end (queueing, network,
    /// retries). Past it the operation returns [`crate::StoreError::Timeout`] and the
    /// gateway applies its fail-closed fallback. Default 250 ms.
    pub op_timeout: Duration,
    /// Timeout for establishing a Redis connection (also bounds [`crate::Store::open`]).
    /// Default 2 s.
    pub connect_timeout: Duration,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    /// Default `shroud`. Not used by redb (one file per deployment).
    pub key_prefix: String,
    /// Largest profile or vault value accepted, in bytes. Default 1 MiB.
    pub max_value_bytes: usize,
    /// How often the redb backend deletes expired entries (reads ignore them anyway).
    /// Default 30 s.
    pub redb_sweep_interval: Duration,
    /// Redis reconnect attempts inside one operation before it fails. Default 2.
    pub redis_retries: u32,
}

impl StoreConfig {
    /// Defaults for a backend.
    pub fn new(backend: BackendConfig) -> Self {
        StoreConfig {
            backend,
            op_timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(2),
            key_prefix: "shroud".into(),
            max_value_bytes: 1 << 20,
            redb_sweep_interval: Duration::from_secs(30),
            redis_retries: 2,
        }
    }

    /// Embedded redb file with defaults.
    pub fn redb(path: impl Into<PathBuf>) -> Self {
        Self::new(BackendConfig::Redb { path: path.into() })
    }

    /// Single Redis node with defaults.
    pub fn redis(url: impl Into<String>) -> Self {
        Self::new(BackendConfig::Redis { url: url.into() })
    }

    /// Redis Cluster with defaults.
    pub fn redis_cluster(urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::new(BackendConfig::RedisCluster {
            urls: urls.into_iter().map(Into::into).collect(),
        })
    }

    /// Sets [`StoreConfig::op_timeout`].
    pub fn with_op_timeout(mut self, t: Duration) -> Self {
        self.op_timeout = t;
        self
    }

    /// Sets [`StoreConfig::key_prefix`].
    pub fn with_key_prefix(mut self, p: impl Into<String>) -> Self {
        self.key_prefix = p.into();
        self
    }
}
