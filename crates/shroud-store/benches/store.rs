//! Profile get/put latency: embedded redb vs a real loopback `redis-server` (started by
//! the bench on a free port; skipped with a message if `redis-server` is missing).
//!
//! `cargo bench -p shroud-store --bench store`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use shroud_store::{Expect, KeyRing, Modality, Store, StoreConfig};

/// The server process and its data dir (kept alive until the bench ends).
struct Redis(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Option<(Redis, u16)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let dir = tempfile::tempdir().ok()?;
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let r = Redis(child, dir);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((r, port));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: Store) {
    // A realistic profile: ~4 KiB of model parameters.
    let data = vec![0x5au8; 4096];
    let m = Modality::keystroke();
    let users: Vec<_> = (0..200)
        .map(|i| store.user(&format!("user-{i}")).unwrap())
        .collect();
    rt.block_on(async {
        for u in &users {
            store
                .put_profile(u, &m, 1, &data, Expect::Any)
                .await
                .unwrap();
        }
    });
    let mut g = c.benchmark_group(format!("profile/{name}"));
    let mut i = 0usize;
    g.bench_function("get_4KiB", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % users.len();
            let (s, u, m) = (&store, &users[i], &m);
            async move { s.profile(u, m).await.unwrap().unwrap() }
        })
    });
    let mut j = 0usize;
    g.bench_function("put_4KiB", |b| {
        b.to_async(rt).iter(|| {
            j = (j + 1) % users.len();
            let (s, u, m, d) = (&store, &users[j], &m, &data);
            async move { s.put_profile(u, m, 1, d, Expect::Any).await.unwrap() }
        })
    });
    let mut k = 0usize;
    g.bench_function("incr_counter", |b| {
        b.to_async(rt).iter(|| {
            k = (k + 1) % users.len();
            let (s, u) = (&store, &users[k]);
            async move {
                s.incr_counter(u, "rl", 1, Duration::from_secs(60))
                    .await
                    .unwrap()
            }
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let keys = || KeyRing::parse(&KeyRing::generate_text().unwrap()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let redb = rt
        .block_on(Store::open(
            // Latency is measured here, not the timeout: a durable redb commit on a disk
            // shared with other builds can exceed the 250 ms default.
            StoreConfig::redb(dir.path().join("bench.redb"))
                .with_op_timeout(Duration::from_secs(10)),
            keys(),
        ))
        .unwrap();
    bench_backend(c, &rt, "redb", redb);

    match start_redis() {
        Some((_guard, port)) => {
            let redis = rt
                .block_on(Store::open(
                    StoreConfig::redis(format!("redis://127.0.0.1:{port}/"))
                        .with_op_timeout(Duration::from_secs(10)),
                    keys(),
                ))
                .unwrap();
            bench_backend(c, &rt, "redis", redis);
        }
        None => eprintln!("redis-server not available: skipping the Redis benchmarks"),
    }
}

criterion_group! {
    name = store;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(store);
