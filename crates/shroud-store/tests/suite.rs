//! One generic behavior suite run against every backend: embedded redb, a real
//! single-node `redis-server`, and a real 3-master Redis Cluster, all started by the
//! tests on free loopback ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Harness, RedisCluster, ring1, ring12};
use shroud_store::{Expect, KeyRing, Modality, StoreError, VaultScope};

async fn profiles(h: &Harness) {
    let s = h.open().await;
    let alice = s.user("alice@example.com").unwrap();
    let bob = s.user("bob@example.com").unwrap();
    let ks = Modality::keystroke();
    assert_eq!(s.profile(&alice, &ks).await.unwrap(), None);

    let r1 = s
        .put_profile(&alice, &ks, 3, b"alice-ks-v1", Expect::Absent)
        .await
        .unwrap();
    assert_eq!(r1, 1);
    let p = s.profile(&alice, &ks).await.unwrap().unwrap();
    assert_eq!(
        (p.revision, p.schema_version, p.data.as_slice()),
        (1, 3, &b"alice-ks-v1"[..])
    );
    assert!(p.updated_at.elapsed().unwrap() < Duration::from_secs(60));

    // Conditions: Absent on an existing profile, and a stale revision, both conflict.
    let e = s
        .put_profile(&alice, &ks, 3, b"x", Expect::Absent)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Conflict {
                expected: 0,
                found: 1
            }
        ),
        "{e}"
    );
    let r2 = s
        .put_profile(&alice, &ks, 3, b"alice-ks-v2", Expect::Revision(1))
        .await
        .unwrap();
    assert_eq!(r2, 2);
    let e = s
        .put_profile(&alice, &ks, 3, b"stale", Expect::Revision(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Conflict {
                expected: 1,
                found: 2
            }
        ),
        "{e}"
    );
    assert_eq!(
        s.put_profile(&alice, &ks, 4, b"alice-ks-v3", Expect::Any)
            .await
            .unwrap(),
        3
    );
    s.put_profile(&alice, &Modality::mouse(), 1, b"alice-mouse", Expect::Any)
        .await
        .unwrap();
    s.put_profile(&bob, &Modality::access(), 1, b"bob-access", Expect::Any)
        .await
        .unwrap();

    let all = s.profiles(&alice).await.unwrap();
    let names: Vec<_> = all.iter().map(|p| p.modality.as_str().to_owned()).collect();
    assert_eq!(names, ["keystroke", "mouse"]);
    assert_eq!(all[0].data, b"alice-ks-v3");
    assert_eq!(all[0].schema_version, 4);

    // Users are listed by pseudonym only.
    let users = s.users().await.unwrap();
    assert_eq!(
        users.iter().collect::<BTreeSet<_>>(),
        [&alice, &bob].into_iter().collect()
    );
    assert_eq!(s.user_count().await.unwrap(), 2);

    assert!(s.delete_profile(&alice, &Modality::mouse()).await.unwrap());
    assert!(!s.delete_profile(&alice, &Modality::mouse()).await.unwrap());
    assert_eq!(s.profiles(&alice).await.unwrap().len(), 1);

    // Nothing in clear: no key and no value contains the ids or the profile bytes.
    for k in s.debug_keys().await.unwrap() {
        assert!(!k.contains("alice") && !k.contains("bob"), "{k}");
    }
}

async fn concurrent_profile_writes(h: &Harness) {
    let s = h.open().await;
    let u = s.user("racer").unwrap();
    let m = Modality::keystroke();
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let s = s.clone();
        let (u, m) = (u.clone(), m.clone());
        tasks.push(tokio::spawn(async move {
            s.put_profile(&u, &m, 1, &i.to_be_bytes(), Expect::Any)
                .await
        }));
    }
    let mut revs = BTreeSet::new();
    for t in tasks {
        revs.insert(t.await.unwrap().unwrap());
    }
    // Every write got its own revision: none was lost to a race.
    assert_eq!(revs, (1..=16).collect());
    assert_eq!(s.profile(&u, &m).await.unwrap().unwrap().revision, 16);
}

async fn decisions_expire(h: &Harness) {
    let s = h.open().await;
    let u = s.user("carol").unwrap();
    s.put_decision(&u, "sess-1", b"level=redact", Duration::from_millis(1000))
        .await
        .unwrap();
    s.put_decision(&u, "sess-2", b"level=none", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        s.decision(&u, "sess-1").await.unwrap().as_deref(),
        Some(&b"level=redact"[..])
    );
    // Another user's session of the same name is a different entry.
    let d = s.user("dave").unwrap();
    assert_eq!(s.decision(&d, "sess-1").await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(s.decision(&u, "sess-1").await.unwrap(), None);
    assert!(s.decision(&u, "sess-2").await.unwrap().is_some());
    s.invalidate_decision(&u, "sess-2").await.unwrap();
    assert_eq!(s.decision(&u, "sess-2").await.unwrap(), None);
}

async fn counters(h: &Harness) {
    let s = h.open().await;
    let u = s.user("erin").unwrap();
    // Long enough that 50 increments on a loaded CI machine fit in one window.
    let w = Duration::from_millis(2000);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (s, u) = (s.clone(), u.clone());
        tasks.push(tokio::spawn(async move {
            s.incr_counter(&u, "req.min", 1, w).await.unwrap().value
        }));
    }
    let mut seen = BTreeSet::new();
    for t in tasks {
        seen.insert(t.await.unwrap());
    }
    // Atomic: 50 increments saw 50 distinct values 1..=50.
    assert_eq!(seen, (1..=50).collect());
    let c = s.counter(&u, "req.min").await.unwrap();
    assert_eq!(c.value, 50);
    assert!(c.resets_in.unwrap() <= w);
    assert_eq!(s.counter(&u, "other").await.unwrap().value, 0);
    tokio::time::sleep(c.resets_in.unwrap() + Duration::from_millis(150)).await;
    // The window ended: the counter starts over.
    assert_eq!(s.counter(&u, "req.min").await.unwrap().value, 0);
    assert_eq!(s.incr_counter(&u, "req.min", 5, w).await.unwrap().value, 5);
    s.reset_counter(&u, "req.min").await.unwrap();
    assert_eq!(s.counter(&u, "req.min").await.unwrap().value, 0);
}

async fn vault(h: &Harness) {
    let s = h.open().await;
    let g = VaultScope::global("ssn").unwrap();
    let t1 = s
        .vault_tokenize(&g, b"123-45-6789", "tok_A", None)
        .await
        .unwrap();
    assert!(t1.created);
    // Deterministic: the same value keeps its token, whatever the new candidate.
    let t2 = s
        .vault_tokenize(&g, b"123-45-6789", "tok_B", None)
        .await
        .unwrap();
    assert_eq!((t2.token.as_str(), t2.created), ("tok_A", false));
    assert_eq!(
        s.vault_lookup(&g, b"123-45-6789").await.unwrap().as_deref(),
        Some("tok_A")
    );
    assert_eq!(s.vault_lookup(&g, b"000-00-0000").await.unwrap(), None);
    // A candidate already standing for another value is a collision.
    let e = s
        .vault_tokenize(&g, b"987-65-4321", "tok_A", None)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::TokenCollision), "{e}");
    assert_eq!(
        s.vault_detokenize(&g, "tok_A").await.unwrap().as_deref(),
        Some(&b"123-45-6789"[..])
    );
    assert_eq!(s.vault_detokenize(&g, "tok_B").await.unwrap(), None);
    // Namespaces and user scopes are separate.
    let cards = VaultScope::global("card").unwrap();
    assert_eq!(s.vault_detokenize(&cards, "tok_A").await.unwrap(), None);
    let u = s.user("frank").unwrap();
    let us = VaultScope::user("ssn", &u).unwrap();
    let t3 = s
        .vault_tokenize(&us, b"123-45-6789", "tok_U", None)
        .await
        .unwrap();
    assert_eq!((t3.token.as_str(), t3.created), ("tok_U", true));
    assert_eq!(s.vault_detokenize(&g, "tok_U").await.unwrap(), None);

    // TTL: both directions expire.
    let short = s
        .vault_tokenize(&g, b"temp", "tok_T", Some(Duration::from_millis(200)))
        .await
        .unwrap();
    assert!(short.created);
    assert!(s.vault_detokenize(&g, "tok_T").await.unwrap().is_some());
    // The index entry expires first (token lives a grace period longer) ...
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.vault_lookup(&g, b"temp").await.unwrap(), None);
    // ... and re-tokenizing the same value with the same candidate restores it.
    let again = s
        .vault_tokenize(&g, b"temp", "tok_T", Some(Duration::from_millis(200)))
        .await
        .unwrap();
    assert_eq!(again.token, "tok_T");

    // Values never appear in clear in key names.
    for k in s.debug_keys().await.unwrap() {
        assert!(!k.contains("123-45") && !k.contains("tok_"), "{k}");
    }
}

async fn erase_leaves_nothing(h: &Harness) {
    let s = h.open().await;
    let keep = s.user("keeper").unwrap();
    s.put_profile(&keep, &Modality::mouse(), 1, b"keep", Expect::Any)
        .await
        .unwrap();
    let before: BTreeSet<String> = s.debug_keys().await.unwrap().into_iter().collect();

    let gone = s.user("gone@example.com").unwrap();
    for m in [Modality::keystroke(), Modality::mouse(), Modality::access()] {
        s.put_profile(&gone, &m, 1, b"profile", Expect::Any)
            .await
            .unwrap();
    }
    s.put_decision(&gone, "s1", b"d", Duration::from_secs(60))
        .await
        .unwrap();
    s.put_decision(&gone, "s2", b"d", Duration::from_secs(60))
        .await
        .unwrap();
    s.incr_counter(&gone, "rl", 1, Duration::from_secs(60))
        .await
        .unwrap();
    s.incr_counter(&gone, "esc", 3, Duration::from_secs(60))
        .await
        .unwrap();
    let us = VaultScope::user("email", &gone).unwrap();
    for i in 0..300 {
        // More than one erase batch.
        s.vault_tokenize(&us, format!("v{i}").as_bytes(), &format!("t{i}"), None)
            .await
            .unwrap();
    }
    let g = VaultScope::global("email").unwrap();
    s.vault_tokenize(&g, b"shared@example.com", "gtok", None)
        .await
        .unwrap();
    let during: BTreeSet<String> = s.debug_keys().await.unwrap().into_iter().collect();
    let tag = format!("{{u:{}}}", gone.pseudonym());
    assert!(during.iter().filter(|k| k.contains(&tag)).count() > 600);

    let e = s.erase_user(&gone).await.unwrap();
    assert!(e.keys_deleted >= 3 + 2 + 2 + 600, "{e:?}");

    // Scan every key: nothing of the erased user remains anywhere.
    let after: BTreeSet<String> = s.debug_keys().await.unwrap().into_iter().collect();
    for k in &after {
        assert!(!k.contains(gone.pseudonym()), "left behind: {k}");
    }
    let gtok: BTreeSet<String> = after.difference(&before).cloned().collect();
    // Only the global (not user-scoped) token pair was added.
    assert_eq!(gtok.len(), 2, "{gtok:?}");
    assert!(gtok.iter().all(|k| k.starts_with("{v:email}")));
    assert!(!s.users().await.unwrap().contains(&gone));
    assert_eq!(s.profiles(&gone).await.unwrap(), vec![]);
    assert_eq!(s.decision(&gone, "s1").await.unwrap(), None);
    assert_eq!(s.counter(&gone, "rl").await.unwrap().value, 0);
    assert_eq!(s.vault_detokenize(&us, "t1").await.unwrap(), None);
    // The other user is untouched.
    assert!(
        s.profile(&keep, &Modality::mouse())
            .await
            .unwrap()
            .is_some()
    );
    // Erasing twice is fine.
    assert_eq!(s.erase_user(&gone).await.unwrap().keys_deleted, 0);
}

async fn key_rotation(h: &Harness) {
    let u;
    {
        let old = h.open_with(ring1()).await;
        u = old.user("gina").unwrap();
        old.put_profile(&u, &Modality::mouse(), 1, b"sealed-with-1", Expect::Any)
            .await
            .unwrap();
        old.vault_tokenize(&VaultScope::global("x").unwrap(), b"val1", "tk1", None)
            .await
            .unwrap();
    }
    {
        let new = h.open_with(ring12()).await;
        assert_eq!(new.user("gina").unwrap(), u, "pseudonyms survive rotation");
        let p = new.profile(&u, &Modality::mouse()).await.unwrap().unwrap();
        assert_eq!(p.data, b"sealed-with-1");
        let g = VaultScope::global("x").unwrap();
        assert_eq!(
            new.vault_detokenize(&g, "tk1").await.unwrap().as_deref(),
            Some(&b"val1"[..])
        );
        new.put_profile(&u, &Modality::mouse(), 1, b"sealed-with-2", Expect::Any)
            .await
            .unwrap();
        assert_eq!(new.health().await.current_key_id, 2);
    }
    // A node still on the old ring cannot open key-2 blobs: a typed error, not garbage.
    let old = h.open_with(ring1()).await;
    let e = old.profile(&u, &Modality::mouse()).await.unwrap_err();
    assert!(
        matches!(e, StoreError::UnknownKeyId { key_id: 2, .. }),
        "{e}"
    );
    // A ring with another pseudonym key sees nothing of it.
    let other = KeyRing::parse(&KeyRing::generate_text().unwrap()).unwrap();
    drop(old);
    let s = h.open_with(other).await;
    let u2 = s.user("gina").unwrap();
    assert_ne!(u2, u);
    assert_eq!(s.profile(&u2, &Modality::mouse()).await.unwrap(), None);
}

async fn bad_input(h: &Harness) {
    let s = h.open().await;
    let u = s.user("hank").unwrap();
    let cases: Vec<(StoreError, &str)> = vec![
        (s.user("").unwrap_err(), "user_id"),
        (Modality::new("key stroke").unwrap_err(), "modality"),
        (Modality::new("").unwrap_err(), "modality"),
        (VaultScope::global("a/b").unwrap_err(), "vault namespace"),
        (
            s.incr_counter(&u, "bad name", 1, Duration::from_secs(1))
                .await
                .unwrap_err(),
            "counter name",
        ),
        (
            s.incr_counter(&u, "ok", 1, Duration::ZERO)
                .await
                .unwrap_err(),
            "window",
        ),
        (
            s.put_decision(&u, "", b"x", Duration::from_secs(1))
                .await
                .unwrap_err(),
            "session",
        ),
        (
            s.put_profile(
                &u,
                &Modality::mouse(),
                1,
                &vec![0u8; (1 << 20) + 1],
                Expect::Any,
            )
            .await
            .unwrap_err(),
            "profile data",
        ),
        (
            s.vault_tokenize(&VaultScope::global("n").unwrap(), b"v", "", None)
                .await
                .unwrap_err(),
            "token",
        ),
        (
            shroud_store::UserKey::from_pseudonym("nothex").unwrap_err(),
            "pseudonym",
        ),
    ];
    for (e, field) in cases {
        assert!(
            matches!(&e, StoreError::InvalidInput { field: f, .. } if *f == field),
            "expected invalid {field}, got {e}"
        );
        assert_eq!(e.kind(), "invalid_input");
        assert!(!e.is_transient());
    }
    let h = s.health().await;
    assert!(h.ok, "{h:?}");
    assert!(h.error.is_none());
}

macro_rules! per_backend {
    ($($case:ident),* $(,)?) => {
        mod redb_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::Harness::redb()).await;
                }
            )*
        }
        mod redis_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::Harness::redis()).await;
                }
            )*
        }
        /// One cluster for all cases (a cluster takes a second or two to form); each
        /// case gets its own key prefix.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn redis_cluster_backend_all_cases() {
            let cluster = Arc::new(RedisCluster::start());
            $(
                $case(&Harness::cluster(&cluster)).await;
            )*
        }
    };
}

per_backend!(
    profiles,
    concurrent_profile_writes,
    decisions_expire,
    counters,
    vault,
    erase_leaves_nothing,
    key_rotation,
    bad_input,
);
