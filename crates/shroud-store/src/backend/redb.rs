//! The embedded backend: one redb file.
//!
//! redb is synchronous and a durable commit waits for `fsync`, so every operation runs
//! on tokio's blocking pool (`spawn_blocking`) and never on a runtime worker: a slow disk
//! then delays store calls (bounded by the store's operation timeout) but never stalls
//! the proxy's other connections. Read transactions are MVCC snapshots and run in
//! parallel; redb serializes write transactions itself. A dedicated writer thread with
//! group commit would batch fsyncs further; the blocking pool keeps reads parallel and
//! was enough for the measured latencies (BENCHMARKS.md).
//!
//! Durability follows what the data is worth: profiles, vault entries and the user
//! list commit with `Durability::Immediate`; decision-cache entries and counters (which
//! are short-lived by design and rewritten on the next request) use `Durability::None`,
//! which skips the fsync and becomes durable with the next immediate commit.
//!
//! Tables: `kv` (logical key -> `expiry ms (u64 LE, 0 = never) | payload`), `exp`
//! (`(expiry ms, key)` index for the sweeper) and `sets` (`(set, member)`). Expired
//! entries are invisible to reads at once and deleted by a periodic sweep.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition};

use super::{Cas, CounterState, VaultInsert, VaultInsertArgs};
use crate::error::{Result, StoreError};

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const EXP: TableDefinition<(u64, &str), ()> = TableDefinition::new("exp");
const SETS: TableDefinition<(&str, &str), ()> = TableDefinition::new("sets");

const NAME: &str = "redb";

fn unavailable(op: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        op,
        backend: NAME,
        reason: e.to_string(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn expiry(ttl: Option<Duration>) -> u64 {
    match ttl {
        // Clamp to at least 1 ms so a zero TTL still means "expires", not "never".
        Some(t) => now_ms().saturating_add((t.as_millis() as u64).max(1)),
        None => 0,
    }
}

fn split<'a>(what: &'static str, raw: &'a [u8]) -> Result<(u64, &'a [u8])> {
    if raw.len() < 8 {
        return Err(StoreError::corrupt(
            what,
            "redb record shorter than its header",
        ));
    }
    let (h, p) = raw.split_at(8);
    let mut b = [0u8; 8];
    b.copy_from_slice(h);
    Ok((u64::from_le_bytes(b), p))
}

fn live(exp: u64, now: u64) -> bool {
    exp == 0 || exp > now
}

/// Reads a live record: (expiry, payload).
fn read_live<T: ReadableTable<&'static str, &'static [u8]>>(
    t: &T,
    key: &str,
    now: u64,
) -> Result<Option<(u64, Vec<u8>)>> {
    let Some(g) = t.get(key).map_err(|e| unavailable("read", e))? else {
        return Ok(None);
    };
    let (exp, payload) = split("record", g.value())?;
    Ok(live(exp, now).then(|| (exp, payload.to_vec())))
}

struct Tables<'t> {
    kv: Table<'t, &'static str, &'static [u8]>,
    exp: Table<'t, (u64, &'static str), ()>,
    sets: Table<'t, (&'static str, &'static str), ()>,
}

impl Tables<'_> {
    fn write(&mut self, key: &str, exp: u64, payload: &[u8]) -> Result<()> {
        self.remove(key)?;
        let mut rec = Vec::with_capacity(8 + payload.len());
        rec.extend_from_slice(&exp.to_le_bytes());
        rec.extend_from_slice(payload);
        self.kv
            .insert(key, rec.as_slice())
            .map_err(|e| unavailable("write", e))?;
        if exp != 0 {
            self.exp
                .insert((exp, key), ())
                .map_err(|e| unavailable("write", e))?;
        }
        Ok(())
    }

    /// Removes a key (live or expired); returns whether a live one existed.
    fn remove(&mut self, key: &str) -> Result<bool> {
        let old = self.kv.remove(key).map_err(|e| unavailable("delete", e))?;
        let Some(old) = old else { return Ok(false) };
        let (exp, _) = split("record", old.value())?;
        drop(old);
        if exp != 0 {
            self.exp
                .remove((exp, key))
                .map_err(|e| unavailable("delete", e))?;
        }
        Ok(live(exp, now_ms()))
    }

    fn index(&mut self, index: Option<&str>, key: &str) -> Result<()> {
        if let Some(idx) = index {
            self.sets
                .insert((idx, key), ())
                .map_err(|e| unavailable("index", e))?;
        }
        Ok(())
    }
}

/// The redb backend; cheap to clone.
#[derive(Clone)]
pub(crate) struct RedbBackend {
    db: Arc<Database>,
}

impl RedbBackend {
    /// Opens (or creates) the file and its tables, and starts the expiry sweeper.
    pub(crate) async fn open(path: &Path, sweep_every: Duration) -> Result<Self> {
        let path = path.to_path_buf();
        let db = tokio::task::spawn_blocking(move || -> Result<Database> {
            let db = Database::create(&path).map_err(|e| {
                StoreError::Config(format!("cannot open redb file {}: {e}", path.display()))
            })?;
            let txn = db.begin_write().map_err(|e| unavailable("open", e))?;
            {
                txn.open_table(KV).map_err(|e| unavailable("open", e))?;
                txn.open_table(EXP).map_err(|e| unavailable("open", e))?;
                txn.open_table(SETS).map_err(|e| unavailable("open", e))?;
            }
            txn.commit().map_err(|e| unavailable("open", e))?;
            Ok(db)
        })
        .await
        .map_err(|e| unavailable("open", e))??;
        let db = Arc::new(db);
        spawn_sweeper(Arc::downgrade(&db), sweep_every);
        Ok(RedbBackend { db })
    }

    pub(crate) fn name(&self) -> &'static str {
        NAME
    }

    async fn read<T, F>(&self, op: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>, u64) -> Result<T>
            + Send
            + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(|e| unavailable(op, e))?;
            let kv = txn.open_table(KV).map_err(|e| unavailable(op, e))?;
            f(&kv, now_ms())
        })
        .await
        .map_err(|e| unavailable(op, e))?
    }

    async fn write<T, F>(&self, op: &'static str, durable: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tables<'_>, u64) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut txn = db.begin_write().map_err(|e| unavailable(op, e))?;
            if !durable {
                txn.set_durability(Durability::None)
                    .map_err(|e| unavailable(op, e))?;
            }
            let out = {
                let mut t = Tables {
                    kv: txn.open_table(KV).map_err(|e| unavailable(op, e))?,
                    exp: txn.open_table(EXP).map_err(|e| unavailable(op, e))?,
                    sets: txn.open_table(SETS).map_err(|e| unavailable(op, e))?,
                };
                f(&mut t, now_ms())?
            };
            txn.commit().map_err(|e| unavailable(op, e))?;
            Ok(out)
        })
        .await
        .map_err(|e| unavailable(op, e))?
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = key.to_owned();
        self.read("get", move |kv, now| {
            Ok(read_live(kv, &key, now)?.map(|(_, p)| p))
        })
        .await
    }

    pub(crate) async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        index: Option<&str>,
    ) -> Result<()> {
        let (key, value, index) = (key.to_owned(), value.to_vec(), index.map(str::to_owned));
        // Entries with a TTL are caches (decisions); entries without are data.
        let durable = ttl.is_none();
        self.write("put", durable, move |t, _| {
            t.write(&key, expiry(ttl), &value)?;
            t.index(index.as_deref(), &key)
        })
        .await
    }

    pub(crate) async fn get_versioned(&self, key: &str) -> Result<Option<(u64, Vec<u8>)>> {
        let key = key.to_owned();
        self.read("get_versioned", move |kv, now| {
            let Some((_, p)) = read_live(kv, &key, now)? else {
                return Ok(None);
            };
            if p.len() < 8 {
                return Err(StoreError::corrupt("profile", "record lacks its revision"));
            }
            let mut r = [0u8; 8];
            r.copy_from_slice(&p[..8]);
            Ok(Some((u64::from_le_bytes(r), p[8..].to_vec())))
        })
        .await
    }

    pub(crate) async fn cas(
        &self,
        key: &str,
        expected: u64,
        new_rev: u64,
        value: &[u8],
        index: &str,
    ) -> Result<Cas> {
        let (key, value, index) = (key.to_owned(), value.to_vec(), index.to_owned());
        self.write("cas", true, move |t, now| {
            let current = match read_live(&t.kv, &key, now)? {
                None => 0,
                Some((_, p)) if p.len() >= 8 => {
                    let mut r = [0u8; 8];
                    r.copy_from_slice(&p[..8]);
                    u64::from_le_bytes(r)
                }
                Some(_) => return Err(StoreError::corrupt("profile", "record lacks its revision")),
            };
            if current != expected {
                return Ok(Cas::Conflict(current));
            }
            let mut payload = Vec::with_capacity(8 + value.len());
            payload.extend_from_slice(&new_rev.to_le_bytes());
            payload.extend_from_slice(&value);
            t.write(&key, 0, &payload)?;
            t.index(Some(&index), &key)?;
            Ok(Cas::Written)
        })
        .await
    }

    pub(crate) async fn del(&self, keys: &[String], index: Option<&str>) -> Result<u64> {
        let (keys, index) = (keys.to_vec(), index.map(str::to_owned));
        self.write("delete", true, move |t, _| {
            let mut n = 0;
            for k in &keys {
                n += u64::from(t.remove(k)?);
                if let Some(idx) = &index {
                    t.sets
                        .remove((idx.as_str(), k.as_str()))
                        .map_err(|e| unavailable("delete", e))?;
                }
            }
            Ok(n)
        })
        .await
    }

    pub(crate) async fn vault_insert(&self, a: VaultInsertArgs<'_>) -> Result<VaultInsert> {
        let digest_key = a.digest_key.to_owned();
        let token_key = a.token_key.to_owned();
        let sealed_token = a.sealed_token.to_vec();
        let sealed_value = a.sealed_value.to_vec();
        let index = a.index.map(str::to_owned);
        let (ttl, grace) = (a.ttl, a.token_grace);
        self.write("vault_insert", true, move |t, now| {
            if let Some((_, tok)) = read_live(&t.kv, &digest_key, now)? {
                return Ok(VaultInsert::Existing(tok));
            }
            if let Some((_, val)) = read_live(&t.kv, &token_key, now)? {
                return Ok(VaultInsert::TokenTaken(val));
            }
            t.write(&token_key, expiry(ttl.map(|d| d + grace)), &sealed_value)?;
            t.write(&digest_key, expiry(ttl), &sealed_token)?;
            t.index(index.as_deref(), &token_key)?;
            t.index(index.as_deref(), &digest_key)?;
            Ok(VaultInsert::Inserted)
        })
        .await
    }

    pub(crate) async fn incr(
        &self,
        key: &str,
        by: i64,
        ttl: Duration,
        index: &str,
    ) -> Result<CounterState> {
        let (key, index) = (key.to_owned(), index.to_owned());
        self.write("incr", false, move |t, now| {
            let (exp, value) = match read_live(&t.kv, &key, now)? {
                Some((exp, p)) => (exp, decode_counter(&p)?.saturating_add(by)),
                None => (expiry(Some(ttl)), by),
            };
            t.write(&key, exp, &value.to_le_bytes())?;
            t.index(Some(&index), &key)?;
            Ok(CounterState {
                value,
                ttl: remaining(exp, now),
            })
        })
        .await
    }

    pub(crate) async fn counter(&self, key: &str) -> Result<CounterState> {
        let key = key.to_owned();
        self.read("counter", move |kv, now| {
            Ok(match read_live(kv, &key, now)? {
                Some((exp, p)) => CounterState {
                    value: decode_counter(&p)?,
                    ttl: remaining(exp, now),
                },
                None => CounterState {
                    value: 0,
                    ttl: None,
                },
            })
        })
        .await
    }

    pub(crate) async fn set_add(&self, set: &str, member: &str) -> Result<()> {
        let (set, member) = (set.to_owned(), member.to_owned());
        self.write("set_add", true, move |t, _| {
            t.sets
                .insert((set.as_str(), member.as_str()), ())
                .map_err(|e| unavailable("set_add", e))?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn set_remove(&self, set: &str, member: &str) -> Result<()> {
        let (set, member) = (set.to_owned(), member.to_owned());
        self.write("set_remove", true, move |t, _| {
            t.sets
                .remove((set.as_str(), member.as_str()))
                .map_err(|e| unavailable("set_remove", e))?;
            Ok(())
        })
        .await
    }

    fn members_of<T: ReadableTable<(&'static str, &'static str), ()>>(
        sets: &T,
        set: &str,
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let range = sets
            .range((set, "")..)
            .map_err(|e| unavailable("set_members", e))?;
        for item in range {
            let (k, _) = item.map_err(|e| unavailable("set_members", e))?;
            let (s, m) = k.value();
            if s != set {
                break;
            }
            out.push(m.to_owned());
        }
        Ok(out)
    }

    pub(crate) async fn set_members(&self, set: &str) -> Result<Vec<String>> {
        let set = set.to_owned();
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(|e| unavailable("set_members", e))?;
            let sets = txn
                .open_table(SETS)
                .map_err(|e| unavailable("set_members", e))?;
            Self::members_of(&sets, &set)
        })
        .await
        .map_err(|e| unavailable("set_members", e))?
    }

    pub(crate) async fn set_len(&self, set: &str) -> Result<u64> {
        Ok(self.set_members(set).await?.len() as u64)
    }

    pub(crate) async fn erase_indexed(&self, index: &str) -> Result<u64> {
        let index = index.to_owned();
        self.write("erase", true, move |t, _| {
            let members = Self::members_of(&t.sets, &index)?;
            let mut n = 0;
            for m in &members {
                n += u64::from(t.remove(m)?);
                t.sets
                    .remove((index.as_str(), m.as_str()))
                    .map_err(|e| unavailable("erase", e))?;
            }
            Ok(n)
        })
        .await
    }

    pub(crate) async fn keys(&self) -> Result<Vec<String>> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(|e| unavailable("keys", e))?;
            let kv = txn.open_table(KV).map_err(|e| unavailable("keys", e))?;
            let sets = txn.open_table(SETS).map_err(|e| unavailable("keys", e))?;
            let now = now_ms();
            let mut out = Vec::new();
            for item in kv.iter().map_err(|e| unavailable("keys", e))? {
                let (k, v) = item.map_err(|e| unavailable("keys", e))?;
                let (exp, _) = split("record", v.value())?;
                if live(exp, now) {
                    out.push(k.value().to_owned());
                }
            }
            // A set exists as long as it has a member, as in Redis.
            for item in sets.iter().map_err(|e| unavailable("keys", e))? {
                let (k, _) = item.map_err(|e| unavailable("keys", e))?;
                let s = k.value().0.to_owned();
                if out.last() != Some(&s) {
                    out.push(s);
                }
            }
            out.sort();
            out.dedup();
            Ok(out)
        })
        .await
        .map_err(|e| unavailable("keys", e))?
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        self.read("ping", |_, _| Ok(())).await
    }
}

fn decode_counter(p: &[u8]) -> Result<i64> {
    let b: [u8; 8] = p
        .try_into()
        .map_err(|_| StoreError::corrupt("counter", format!("{} bytes, expected 8", p.len())))?;
    Ok(i64::from_le_bytes(b))
}

fn remaining(exp: u64, now: u64) -> Option<Duration> {
    (exp != 0).then(|| Duration::from_millis(exp.saturating_sub(now)))
}

/// Deletes expired records periodically until the database is dropped.
fn spawn_sweeper(db: Weak<Database>, every: Duration) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(db) = db.upgrade() else { return };
            let res = tokio::task::spawn_blocking(move || sweep(&db)).await;
            match res {
                Ok(Ok(n)) if n > 0 => {
                    tracing::debug!(removed = n, "redb store swept expired entries")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "redb store sweep failed"),
                Err(e) => tracing::warn!(error = %e, "redb store sweep task failed"),
            }
        }
    });
}

/// Removes every record whose expiry has passed; returns how many.
pub(crate) fn sweep(db: &Database) -> Result<u64> {
    let now = now_ms();
    let mut txn = db.begin_write().map_err(|e| unavailable("sweep", e))?;
    txn.set_durability(Durability::None)
        .map_err(|e| unavailable("sweep", e))?;
    let mut n = 0;
    {
        let mut kv = txn.open_table(KV).map_err(|e| unavailable("sweep", e))?;
        let mut exp = txn.open_table(EXP).map_err(|e| unavailable("sweep", e))?;
        let due: Vec<(u64, String)> = exp
            .range(..(now.saturating_add(1), ""))
            .map_err(|e| unavailable("sweep", e))?
            .map(|r| r.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
            .collect::<Result<_, _>>()
            .map_err(|e| unavailable("sweep", e))?;
        for (at, key) in due {
            exp.remove((at, key.as_str()))
                .map_err(|e| unavailable("sweep", e))?;
            // Only delete if the record still carries this expiry (it may have been
            // rewritten with a later one).
            let still = match kv.get(key.as_str()).map_err(|e| unavailable("sweep", e))? {
                Some(g) => split("record", g.value())?.0 == at,
                None => false,
            };
            if still {
                kv.remove(key.as_str())
                    .map_err(|e| unavailable("sweep", e))?;
                n += 1;
            }
        }
    }
    txn.commit().map_err(|e| unavailable("sweep", e))?;
    Ok(n)
}
