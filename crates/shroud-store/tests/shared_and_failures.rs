//! Behavior that only shows with a shared or failing backend: two gateway instances on
//! one Redis (and one cluster) agreeing; tampered, swapped and wrongly typed records;
//! Redis killed mid-test and coming back; a stalled Redis hitting the operation timeout;
//! a tampered redb file; the blocking vault adapter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Harness, RedisCluster, RedisProc, raw_cmd, ring1};
use redb::ReadableTable;
use shroud_store::{BlockingVault, Expect, Modality, Store, StoreConfig, StoreError, VaultScope};

/// Two independent clients (as two gateway instances would hold) on one backend agree on
/// profiles, decisions, tokens and counters.
async fn two_instances(h: &Harness) {
    let a = h.open().await;
    let b = h.open().await;
    let u = a.user("shared-user").unwrap();
    assert_eq!(b.user("shared-user").unwrap(), u);

    let r = a
        .put_profile(&u, &Modality::keystroke(), 1, b"from-a", Expect::Absent)
        .await
        .unwrap();
    let p = b
        .profile(&u, &Modality::keystroke())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.revision, p.data.as_slice()), (r, &b"from-a"[..]));
    // Optimistic concurrency across instances: b adapts, a's stale write is refused.
    b.put_profile(
        &u,
        &Modality::keystroke(),
        1,
        b"from-b",
        Expect::Revision(r),
    )
    .await
    .unwrap();
    let e = a
        .put_profile(&u, &Modality::keystroke(), 1, b"stale", Expect::Revision(r))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict { .. }), "{e}");

    a.put_decision(&u, "sess", b"tier=normal", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        b.decision(&u, "sess").await.unwrap().as_deref(),
        Some(&b"tier=normal"[..])
    );

    // Both instances tokenize the same value concurrently: one token wins for both.
    let g = VaultScope::global("card").unwrap();
    let (ta, tb) = tokio::join!(
        a.vault_tokenize(&g, b"4111111111111111", "tok-from-a", None),
        b.vault_tokenize(&g, b"4111111111111111", "tok-from-b", None)
    );
    let (ta, tb) = (ta.unwrap(), tb.unwrap());
    assert_eq!(ta.token, tb.token);
    assert_eq!(u8::from(ta.created) + u8::from(tb.created), 1);
    assert_eq!(
        b.vault_detokenize(&g, &ta.token).await.unwrap().as_deref(),
        Some(&b"4111111111111111"[..])
    );

    // Rate-limit counters are shared: 2 x 25 concurrent increments = 50.
    let w = Duration::from_secs(30);
    let mut tasks = Vec::new();
    for s in [a.clone(), b.clone()] {
        for _ in 0..25 {
            let (s, u) = (s.clone(), u.clone());
            tasks.push(tokio::spawn(async move {
                s.incr_counter(&u, "rl", 1, w).await.unwrap().value
            }));
        }
    }
    let mut max = 0;
    for t in tasks {
        max = max.max(t.await.unwrap());
    }
    assert_eq!(max, 50);
    assert_eq!(a.counter(&u, "rl").await.unwrap().value, 50);
    assert_eq!(b.counter(&u, "rl").await.unwrap().value, 50);

    // Erasure through one instance is seen by the other.
    b.erase_user(&u).await.unwrap();
    assert_eq!(a.profile(&u, &Modality::keystroke()).await.unwrap(), None);
    assert!(!a.users().await.unwrap().contains(&u));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_agree() {
    two_instances(&Harness::redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_cluster_agree() {
    let c = Arc::new(RedisCluster::start());
    two_instances(&Harness::cluster(&c)).await;
}

fn redis_of(h: &Harness) -> &RedisProc {
    match &h.backing {
        common::Backing::Redis(r) => r,
        _ => unreachable!(),
    }
}

fn full_key(h: &Harness, s: &[String], needle: &str) -> String {
    let k = s.iter().find(|k| k.contains(needle)).unwrap();
    format!("{}:{k}", h.prefix)
}

/// Extracts the payload of a RESP bulk string reply.
fn bulk(reply: &[u8]) -> Vec<u8> {
    assert_eq!(reply[0], b'$', "{}", String::from_utf8_lossy(reply));
    let nl = reply.iter().position(|&b| b == b'\n').unwrap();
    let len: usize = std::str::from_utf8(&reply[1..nl - 1])
        .unwrap()
        .parse()
        .unwrap();
    reply[nl + 1..nl + 1 + len].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_or_swapped_records_fail_authentication() {
    let h = Harness::redis();
    let port = redis_of(&h).port;
    let s = h.open().await;
    let alice = s.user("alice").unwrap();
    let bob = s.user("bob").unwrap();
    for u in [&alice, &bob] {
        s.put_profile(u, &Modality::mouse(), 1, b"secret profile", Expect::Any)
            .await
            .unwrap();
    }
    let keys = s.debug_keys().await.unwrap();
    let ka = full_key(&h, &keys, &format!("{}}}:p:mouse", alice.pseudonym()));
    let kb = full_key(&h, &keys, &format!("{}}}:p:mouse", bob.pseudonym()));

    // Flip one byte in alice's blob: a decrypt error, never garbage.
    let blob = bulk(&raw_cmd(port, &[b"HGET", ka.as_bytes(), b"v"]).unwrap());
    let mut bad = blob.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    raw_cmd(port, &[b"HSET", ka.as_bytes(), b"v", &bad]).unwrap();
    let e = s.profile(&alice, &Modality::mouse()).await.unwrap_err();
    assert!(matches!(e, StoreError::Decrypt { key_id: 1, .. }), "{e}");
    assert_eq!(e.kind(), "decrypt");

    // Copy bob's (valid) blob over alice's: bound to bob's key, so it fails too.
    let bob_blob = bulk(&raw_cmd(port, &[b"HGET", kb.as_bytes(), b"v"]).unwrap());
    raw_cmd(port, &[b"HSET", ka.as_bytes(), b"v", &bob_blob]).unwrap();
    assert!(matches!(
        s.profile(&alice, &Modality::mouse()).await.unwrap_err(),
        StoreError::Decrypt { .. }
    ));
    // Rolling the revision field without the blob is detected as well.
    raw_cmd(port, &[b"HSET", kb.as_bytes(), b"r", b"7"]).unwrap();
    assert!(matches!(
        s.profile(&bob, &Modality::mouse()).await.unwrap_err(),
        StoreError::Decrypt { .. }
    ));
    // Truncation is reported as corruption.
    raw_cmd(port, &[b"HSET", kb.as_bytes(), b"v", b"xx"]).unwrap();
    assert!(matches!(
        s.profile(&bob, &Modality::mouse()).await.unwrap_err(),
        StoreError::Corrupt { .. }
    ));
    // Another Redis type under a profile key is corruption, not a crash.
    raw_cmd(port, &[b"DEL", kb.as_bytes()]).unwrap();
    raw_cmd(port, &[b"SET", kb.as_bytes(), b"not a hash"]).unwrap();
    let e = s.profile(&bob, &Modality::mouse()).await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");

    // Vault values: tamper with the sealed value behind a token.
    let g = VaultScope::global("ssn").unwrap();
    s.vault_tokenize(&g, b"123-45-6789", "tok", None)
        .await
        .unwrap();
    let keys = s.debug_keys().await.unwrap();
    let kt = full_key(&h, &keys, "{v:ssn}:t:");
    let v = bulk(&raw_cmd(port, &[b"GET", kt.as_bytes()]).unwrap());
    let mut bad = v.clone();
    bad[20] ^= 0x80;
    raw_cmd(port, &[b"SET", kt.as_bytes(), &bad]).unwrap();
    assert!(matches!(
        s.vault_detokenize(&g, "tok").await.unwrap_err(),
        StoreError::Decrypt { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_test_gives_typed_errors_then_recovers() {
    let mut h = Harness::redis();
    let mut cfg = h.config();
    cfg.op_timeout = Duration::from_millis(300);
    cfg.connect_timeout = Duration::from_millis(300);
    let s = Store::open(cfg.clone(), ring1()).await.unwrap();
    let u = s.user("ivan").unwrap();
    s.put_profile(&u, &Modality::mouse(), 1, b"p", Expect::Any)
        .await
        .unwrap();

    match &mut h.backing {
        common::Backing::Redis(r) => r.kill(),
        _ => unreachable!(),
    }
    let g = VaultScope::global("n").unwrap();
    let errors = vec![
        s.profile(&u, &Modality::mouse()).await.unwrap_err(),
        s.put_profile(&u, &Modality::mouse(), 1, b"q", Expect::Any)
            .await
            .unwrap_err(),
        s.decision(&u, "x").await.unwrap_err(),
        s.incr_counter(&u, "rl", 1, Duration::from_secs(1))
            .await
            .unwrap_err(),
        s.vault_detokenize(&g, "t").await.unwrap_err(),
        s.vault_tokenize(&g, b"v", "t", None).await.unwrap_err(),
        s.erase_user(&u).await.unwrap_err(),
    ];
    for e in &errors {
        assert!(
            matches!(
                e,
                StoreError::Unavailable { .. } | StoreError::Timeout { .. }
            ),
            "{e}"
        );
        assert!(e.is_transient());
        assert!(e.to_string().contains("redis"), "{e}");
    }
    let health = s.health().await;
    assert!(!health.ok);
    assert_eq!(health.backend, "redis");
    assert!(health.error.is_some());
    // A new instance cannot start against a dead Redis: clear error, bounded time.
    let e = Store::open(cfg, ring1()).await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Unavailable { .. } | StoreError::Timeout { .. }
        ),
        "{e}"
    );

    // Redis comes back (empty, no persistence): the same handle reconnects by itself.
    match &mut h.backing {
        common::Backing::Redis(r) => r.restart(),
        _ => unreachable!(),
    }
    let mut ok = false;
    for _ in 0..50 {
        if s.health().await.ok {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "store did not reconnect");
    s.put_profile(&u, &Modality::mouse(), 1, b"again", Expect::Any)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_redis_hits_the_operation_timeout() {
    let h = Harness::redis();
    let port = redis_of(&h).port;
    let cfg = h.config().with_op_timeout(Duration::from_millis(200));
    let s = Store::open(cfg, ring1()).await.unwrap();
    let u = s.user("judy").unwrap();
    // Pause every other client's commands for a second (CLIENT PAUSE answers at once).
    let r = raw_cmd(port, &[b"CLIENT", b"PAUSE", b"1000", b"ALL"]).unwrap();
    assert!(r.starts_with(b"+OK"), "{}", String::from_utf8_lossy(&r));
    let e = s.profile(&u, &Modality::mouse()).await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Timeout {
                op: "get_profile",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("timed out"), "{e}");
    // Once the pause ends the same handle works again.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(s.profile(&u, &Modality::mouse()).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_redb_file_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let u;
    {
        let s = Store::open(StoreConfig::redb(&path), ring1())
            .await
            .unwrap();
        u = s.user("kim").unwrap();
        s.put_profile(&u, &Modality::access(), 1, b"profile", Expect::Any)
            .await
            .unwrap();
    }
    {
        // Flip the last byte of the record (inside the AES-GCM-SIV tag).
        let db = redb::Database::create(&path).unwrap();
        let t: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("kv");
        let w = db.begin_write().unwrap();
        {
            let mut table = w.open_table(t).unwrap();
            let key = format!("{{u:{}}}:p:access", u.pseudonym());
            let mut v = table.get(key.as_str()).unwrap().unwrap().value().to_vec();
            let last = v.len() - 1;
            v[last] ^= 0x10;
            table.insert(key.as_str(), v.as_slice()).unwrap();
        }
        w.commit().unwrap();
    }
    let s = Store::open(StoreConfig::redb(&path), ring1())
        .await
        .unwrap();
    let e = s.profile(&u, &Modality::access()).await.unwrap_err();
    assert!(matches!(e, StoreError::Decrypt { .. }), "{e}");
    // Opening the file twice (a second instance on one redb) is a clear error.
    let e = Store::open(StoreConfig::redb(&path), ring1())
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Config(_)), "{e}");
}

#[test]
fn blocking_vault_works_inside_and_outside_the_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vault = rt.block_on(async {
        let s = Store::open(StoreConfig::redb(dir.path().join("v.redb")), ring1())
            .await
            .unwrap();
        BlockingVault::new(s).unwrap()
    });
    let g = VaultScope::global("ssn").unwrap();
    // From a plain thread (outside any runtime).
    let t = vault.tokenize(&g, b"078-05-1120", "T1", None).unwrap();
    assert!(t.created);
    assert_eq!(
        vault.lookup(&g, b"078-05-1120").unwrap().as_deref(),
        Some("T1")
    );
    // From inside a runtime task (the masking engine called from a request handler).
    let v2 = vault.clone();
    let g2 = g.clone();
    let got = rt
        .block_on(async move { tokio::spawn(async move { v2.detokenize(&g2, "T1") }).await })
        .unwrap()
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"078-05-1120"[..]));
    // A current-thread runtime would deadlock: refused with a clear error.
    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = ct
        .block_on(async { vault.detokenize(&g, "T1") })
        .unwrap_err();
    assert!(e.to_string().contains("current-thread"), "{e}");
}
