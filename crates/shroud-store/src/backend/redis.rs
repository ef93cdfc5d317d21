//! The shared backend: one Redis server or a Redis Cluster.
//!
//! Connections: a `ConnectionManager` (single node) or a `ClusterConnection` (cluster),
//! both multiplexed, reconnecting by themselves, cheap to clone, with connection and
//! response timeouts. Every multi-key step is a Lua script whose keys share one hash tag
//! (`{u:<pseudonym>}` for a user, `{v:<namespace>}` for a global vault namespace), so the
//! same scripts run unchanged on a cluster, where a script may only touch one slot.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
use redis::{Cmd, FromRedisValue, RedisError, Script, ScriptInvocation, Value};

use super::{Cas, CounterState, VaultInsert, VaultInsertArgs};
use crate::config::StoreConfig;
use crate::error::{Result, StoreError};

/// Sets a string (with optional TTL) and registers it in a per-user index.
const PUT: &str = r"
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if KEYS[2] then redis.call('SADD', KEYS[2], ARGV[3]) end
return 1
";

/// Versioned compare-and-set on a hash {r = revision, v = sealed blob}.
const CAS: &str = r"
local cur = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
if cur ~= tonumber(ARGV[1]) then return cur end
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'v', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return -1
";

/// Vault insert: KEYS = digest key, token key, [index]; ARGV = sealed token, sealed
/// value, digest ttl ms ('0' = none), token ttl ms, digest member, token member.
const VAULT: &str = r"
local t = redis.call('GET', KEYS[1])
if t then return {0, t} end
local v = redis.call('GET', KEYS[2])
if v then return {2, v} end
if ARGV[3] == '0' then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
end
if KEYS[3] then redis.call('SADD', KEYS[3], ARGV[5], ARGV[6]) end
return {1, ''}
";

/// Atomic counter with a TTL set when the window starts.
const INCR: &str = r"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
end
return {v, ttl}
";

/// Deletes a batch of indexed keys; drops the index once it is empty. KEYS = index,
/// then the keys; ARGV = their index members. Returns {deleted, remaining members}.
const ERASE: &str = r"
local n = 0
for i = 2, #KEYS do n = n + redis.call('DEL', KEYS[i]) end
if #ARGV > 0 then redis.call('SREM', KEYS[1], unpack(ARGV)) end
local left = redis.call('SCARD', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[1]) end
return {n, left}
";

/// Deletes keys and removes them from an index. KEYS = index, keys; ARGV = members.
const DEL: &str = r"
local n = 0
for i = 2, #KEYS do n = n + redis.call('DEL', KEYS[i]) end
if #ARGV > 0 then redis.call('SREM', KEYS[1], unpack(ARGV)) end
return n
";

/// Keys deleted per erase script call, so one call never blocks Redis for long.
const ERASE_BATCH: usize = 256;

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

struct Scripts {
    put: Script,
    cas: Script,
    vault: Script,
    incr: Script,
    erase: Script,
    del: Script,
}

/// Redis (single node or cluster) backend.
pub(crate) struct RedisBackend {
    conn: Conn,
    prefix: String,
    name: &'static str,
    scripts: Scripts,
}

fn map_err(name: &'static str, op: &'static str, e: RedisError) -> StoreError {
    if e.code() == Some("WRONGTYPE") {
        // Something else (or a corrupted write) put another Redis type under our key.
        StoreError::Corrupt {
            what: op,
            detail: format!("{name}: {e}"),
        }
    } else if e.is_timeout() {
        StoreError::Timeout {
            op,
            backend: name,
            after: Duration::ZERO,
        }
    } else {
        StoreError::Unavailable {
            op,
            backend: name,
            reason: e.to_string(),
        }
    }
}

fn ms(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

impl RedisBackend {
    /// Connects to one node.
    pub(crate) async fn connect_single(url: &str, cfg: &StoreConfig) -> Result<Self> {
        let name = "redis";
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Config(format!("invalid Redis URL: {e}")))?;
        let mc = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.connect_timeout))
            .set_response_timeout(Some(cfg.op_timeout))
            .set_number_of_retries(cfg.redis_retries as usize)
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(
            cfg.connect_timeout,
            ConnectionManager::new_with_config(client, mc),
        )
        .await
        .map_err(|_| StoreError::Timeout {
            op: "connect",
            backend: name,
            after: cfg.connect_timeout,
        })?
        .map_err(|e| map_err(name, "connect", e))?;
        Ok(Self::with(Conn::Single(conn), name, cfg))
    }

    /// Connects to a cluster through its seed nodes.
    pub(crate) async fn connect_cluster(urls: &[String], cfg: &StoreConfig) -> Result<Self> {
        let name = "redis-cluster";
        if urls.is_empty() {
            return Err(StoreError::Config(
                "Redis Cluster needs at least one seed URL".into(),
            ));
        }
        let client = redis::cluster::ClusterClientBuilder::new(urls.to_vec())
            .connection_timeout(cfg.connect_timeout)
            .response_timeout(cfg.op_timeout)
            .retries(cfg.redis_retries)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .build()
            .map_err(|e| StoreError::Config(format!("invalid Redis Cluster config: {e}")))?;
        let conn = tokio::time::timeout(cfg.connect_timeout, client.get_async_connection())
            .await
            .map_err(|_| StoreError::Timeout {
                op: "connect",
                backend: name,
                after: cfg.connect_timeout,
            })?
            .map_err(|e| map_err(name, "connect", e))?;
        Ok(Self::with(Conn::Cluster(conn), name, cfg))
    }

    fn with(conn: Conn, name: &'static str, cfg: &StoreConfig) -> Self {
        RedisBackend {
            conn,
            prefix: format!("{}:", cfg.key_prefix),
            name,
            scripts: Scripts {
                put: Script::new(PUT),
                cas: Script::new(CAS),
                vault: Script::new(VAULT),
                incr: Script::new(INCR),
                erase: Script::new(ERASE),
                del: Script::new(DEL),
            },
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    fn k(&self, logical: &str) -> String {
        format!("{}{logical}", self.prefix)
    }

    async fn cmd<T: FromRedisValue>(&self, op: &'static str, cmd: &Cmd) -> Result<T> {
        let r = match &self.conn {
            Conn::Single(c) => cmd.query_async(&mut c.clone()).await,
            Conn::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        };
        r.map_err(|e| map_err(self.name, op, e))
    }

    async fn script<T: FromRedisValue>(
        &self,
        op: &'static str,
        inv: ScriptInvocation<'_>,
    ) -> Result<T> {
        let r = match &self.conn {
            Conn::Single(c) => inv.invoke_async(&mut c.clone()).await,
            Conn::Cluster(c) => inv.invoke_async(&mut c.clone()).await,
        };
        r.map_err(|e| map_err(self.name, op, e))
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.cmd("get", redis::cmd("GET").arg(self.k(key))).await
    }

    pub(crate) async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        index: Option<&str>,
    ) -> Result<()> {
        let mut inv = self.scripts.put.key(self.k(key));
        if let Some(idx) = index {
            inv.key(self.k(idx));
        }
        inv.arg(value).arg(ttl.map_or(0, ms)).arg(key);
        let _: i64 = self.script("put", inv).await?;
        Ok(())
    }

    pub(crate) async fn get_versioned(&self, key: &str) -> Result<Option<(u64, Vec<u8>)>> {
        let (rev, blob): (Option<String>, Option<Vec<u8>>) = self
            .cmd(
                "get_versioned",
                redis::cmd("HMGET").arg(self.k(key)).arg("r").arg("v"),
            )
            .await?;
        match (rev, blob) {
            (None, None) => Ok(None),
            (Some(r), Some(b)) => {
                let r = r.parse().map_err(|_| {
                    StoreError::corrupt("profile", format!("revision `{r}` is not a number"))
                })?;
                Ok(Some((r, b)))
            }
            _ => Err(StoreError::corrupt(
                "profile",
                "revision or blob field missing",
            )),
        }
    }

    pub(crate) async fn cas(
        &self,
        key: &str,
        expected: u64,
        new_rev: u64,
        value: &[u8],
        index: &str,
    ) -> Result<Cas> {
        let mut inv = self.scripts.cas.key(self.k(key));
        inv.key(self.k(index))
            .arg(expected)
            .arg(new_rev)
            .arg(value)
            .arg(key);
        let r: i64 = self.script("cas", inv).await?;
        Ok(if r < 0 {
            Cas::Written
        } else {
            Cas::Conflict(r as u64)
        })
    }

    pub(crate) async fn del(&self, keys: &[String], index: Option<&str>) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        match index {
            Some(idx) => {
                let mut inv = self.scripts.del.key(self.k(idx));
                for k in keys {
                    inv.key(self.k(k));
                    inv.arg(k.as_str());
                }
                self.script("delete", inv).await
            }
            None => {
                // Keys outside an index may live in different cluster slots: one DEL each.
                let mut n = 0;
                for k in keys {
                    let d: u64 = self.cmd("delete", redis::cmd("DEL").arg(self.k(k))).await?;
                    n += d;
                }
                Ok(n)
            }
        }
    }

    pub(crate) async fn vault_insert(&self, a: VaultInsertArgs<'_>) -> Result<VaultInsert> {
        let mut inv = self.scripts.vault.key(self.k(a.digest_key));
        inv.key(self.k(a.token_key));
        if let Some(idx) = a.index {
            inv.key(self.k(idx));
        }
        inv.arg(a.sealed_token)
            .arg(a.sealed_value)
            .arg(a.ttl.map_or(0, ms))
            .arg(a.ttl.map_or(0, |t| ms(t + a.token_grace)))
            .arg(a.digest_key)
            .arg(a.token_key);
        let (code, data): (i64, Vec<u8>) = self.script("vault_insert", inv).await?;
        match code {
            0 => Ok(VaultInsert::Existing(data)),
            1 => Ok(VaultInsert::Inserted),
            2 => Ok(VaultInsert::TokenTaken(data)),
            c => Err(StoreError::corrupt(
                "vault",
                format!("unexpected vault script result {c}"),
            )),
        }
    }

    pub(crate) async fn incr(
        &self,
        key: &str,
        by: i64,
        ttl: Duration,
        index: &str,
    ) -> Result<CounterState> {
        let mut inv = self.scripts.incr.key(self.k(key));
        inv.key(self.k(index)).arg(by).arg(ms(ttl)).arg(key);
        let (value, pttl): (i64, i64) = self.script("incr", inv).await?;
        Ok(CounterState {
            value,
            ttl: (pttl >= 0).then(|| Duration::from_millis(pttl as u64)),
        })
    }

    pub(crate) async fn counter(&self, key: &str) -> Result<CounterState> {
        let k = self.k(key);
        // Two reads on one key: the TTL may be a few ms newer than the value, which is
        // harmless for rate limiting (worst case a slightly early Retry-After).
        let v: Option<i64> = self.cmd("counter", redis::cmd("GET").arg(&k)).await?;
        let Some(value) = v else {
            return Ok(CounterState {
                value: 0,
                ttl: None,
            });
        };
        let pttl: i64 = self.cmd("counter", redis::cmd("PTTL").arg(&k)).await?;
        Ok(CounterState {
            value,
            ttl: (pttl >= 0).then(|| Duration::from_millis(pttl as u64)),
        })
    }

    pub(crate) async fn set_add(&self, set: &str, member: &str) -> Result<()> {
        let _: i64 = self
            .cmd("set_add", redis::cmd("SADD").arg(self.k(set)).arg(member))
            .await?;
        Ok(())
    }

    pub(crate) async fn set_remove(&self, set: &str, member: &str) -> Result<()> {
        let _: i64 = self
            .cmd(
                "set_remove",
                redis::cmd("SREM").arg(self.k(set)).arg(member),
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn set_members(&self, set: &str) -> Result<Vec<String>> {
        let mut m: Vec<String> = self
            .cmd("set_members", redis::cmd("SMEMBERS").arg(self.k(set)))
            .await?;
        m.sort();
        Ok(m)
    }

    pub(crate) async fn set_len(&self, set: &str) -> Result<u64> {
        self.cmd("set_len", redis::cmd("SCARD").arg(self.k(set)))
            .await
    }

    pub(crate) async fn erase_indexed(&self, index: &str) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let members: Vec<String> = self
                .cmd(
                    "erase",
                    redis::cmd("SRANDMEMBER")
                        .arg(self.k(index))
                        .arg(ERASE_BATCH),
                )
                .await?;
            let mut inv = self.scripts.erase.key(self.k(index));
            for m in &members {
                inv.key(self.k(m));
                inv.arg(m.as_str());
            }
            let (n, left): (u64, u64) = self.script("erase", inv).await?;
            total += n;
            if left == 0 {
                return Ok(total);
            }
        }
    }

    pub(crate) async fn keys(&self) -> Result<Vec<String>> {
        let pattern = format!("{}*", self.prefix);
        let full: Vec<String> = match &self.conn {
            Conn::Single(c) => {
                let mut c = c.clone();
                let mut out = Vec::new();
                let mut cursor: u64 = 0;
                loop {
                    let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                        .map_err(|e| map_err(self.name, "keys", e))?;
                    out.extend(batch);
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
                out
            }
            Conn::Cluster(c) => {
                // Diagnostics only: KEYS on every primary, results concatenated.
                let v = c
                    .clone()
                    .route_command(
                        redis::cmd("KEYS").arg(&pattern).clone(),
                        RoutingInfo::MultiNode((
                            MultipleNodeRoutingInfo::AllMasters,
                            Some(ResponsePolicy::CombineArrays),
                        )),
                    )
                    .await
                    .map_err(|e| map_err(self.name, "keys", e))?;
                <Vec<String> as FromRedisValue>::from_redis_value(v).map_err(|e| {
                    StoreError::corrupt("keys", format!("unexpected KEYS reply: {e}"))
                })?
            }
        };
        let mut out: Vec<String> = full
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        let v: Value = self.cmd("ping", &redis::cmd("PING")).await?;
        match v {
            Value::SimpleString(s) if s == "PONG" => Ok(()),
            other => Err(StoreError::Unavailable {
                op: "ping",
                backend: self.name,
                reason: format!("unexpected PING reply {other:?}"),
            }),
        }
    }
}
