//! Test harness: real `redis-server` processes (single node and a 3-master cluster)
//! started on free loopback ports in temp dirs and killed on drop, plus helpers to open
//! stores on every backend with one generic API.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shroud_store::{KeyRing, Store, StoreConfig};

pub const P: &str = "0000000000000000000000000000000000000000000000000000000000000000";
pub const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
pub const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

pub fn ring1() -> KeyRing {
    KeyRing::parse(&format!("pseudonym {P}\nseal 1 {K1}")).unwrap()
}

pub fn ring12() -> KeyRing {
    KeyRing::parse(&format!("pseudonym {P}\nseal 1 {K1}\nseal 2 {K2}")).unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends one inline command over a fresh TCP connection and returns the raw reply.
pub fn raw_cmd(port: u16, parts: &[&[u8]]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut req = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        req.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        req.extend_from_slice(p);
        req.extend_from_slice(b"\r\n");
    }
    s.write_all(&req)?;
    let mut buf = vec![0u8; 65536];
    let n = s.read(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// One `redis-server` child process; killed (and its dir removed) on drop.
pub struct RedisProc {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisProc {
    pub fn start(extra: &[&str]) -> RedisProc {
        let mut dir = tempfile::tempdir().unwrap();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for _ in 0..5 {
            let port = free_port();
            let mut p = RedisProc {
                port,
                child: None,
                dir,
                extra: extra.clone(),
            };
            if p.spawn() {
                return p;
            }
            dir = p.take_dir();
        }
        panic!("could not start redis-server (is it installed? scripts/ensure-deps installs it)");
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.kill();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// Starts the server on `self.port`; true once it answers PING.
    fn spawn(&mut self) -> bool {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let mut cmd = Command::new(bin);
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--protected-mode")
            .arg("no")
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let Ok(child) = cmd.spawn() else { return false };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(r) = raw_cmd(self.port, &[b"PING"])
                && r.starts_with(b"+PONG")
            {
                return true;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (after [`RedisProc::kill`]).
    pub fn restart(&mut self) {
        assert!(
            self.spawn(),
            "redis-server did not restart on port {}",
            self.port
        );
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A 3-master Redis Cluster on loopback.
pub struct RedisCluster {
    pub nodes: Vec<RedisProc>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisProc> = (0..3)
            .map(|_| {
                RedisProc::start(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect();
        // Slots split in three, then every node MEETs the first.
        let ranges = [(0u32, 5460u32), (5461, 10922), (10923, 16383)];
        for (node, (lo, hi)) in nodes.iter().zip(ranges) {
            let mut args: Vec<Vec<u8>> = vec![b"CLUSTER".to_vec(), b"ADDSLOTSRANGE".to_vec()];
            args.push(lo.to_string().into_bytes());
            args.push(hi.to_string().into_bytes());
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            let r = raw_cmd(node.port, &refs).unwrap();
            assert!(
                r.starts_with(b"+OK"),
                "ADDSLOTSRANGE: {}",
                String::from_utf8_lossy(&r)
            );
        }
        let first = nodes[0].port.to_string();
        for node in &nodes[1..] {
            let r = raw_cmd(
                node.port,
                &[b"CLUSTER", b"MEET", b"127.0.0.1", first.as_bytes()],
            )
            .unwrap();
            assert!(
                r.starts_with(b"+OK"),
                "MEET: {}",
                String::from_utf8_lossy(&r)
            );
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = nodes.iter().all(|n| {
                raw_cmd(n.port, &[b"CLUSTER", b"INFO"])
                    .map(|r| {
                        let s = String::from_utf8_lossy(&r).to_string();
                        s.contains("cluster_state:ok") && s.contains("cluster_known_nodes:3")
                    })
                    .unwrap_or(false)
            });
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cluster did not reach cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        RedisCluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisProc::url).collect()
    }
}

/// Where a test's store lives; opens any number of stores on the same data.
pub enum Backing {
    Redb(tempfile::TempDir),
    Redis(RedisProc),
    Cluster(std::sync::Arc<RedisCluster>),
}

static PREFIX_SEQ: AtomicUsize = AtomicUsize::new(0);

pub struct Harness {
    pub backing: Backing,
    pub prefix: String,
}

impl Harness {
    pub fn redb() -> Harness {
        Harness {
            backing: Backing::Redb(tempfile::tempdir().unwrap()),
            prefix: "t".into(),
        }
    }

    pub fn redis() -> Harness {
        Harness {
            backing: Backing::Redis(RedisProc::start(&[])),
            prefix: "t".into(),
        }
    }

    /// A fresh key prefix on a shared cluster, so cases do not see each other's keys.
    pub fn cluster(c: &std::sync::Arc<RedisCluster>) -> Harness {
        let n = PREFIX_SEQ.fetch_add(1, Ordering::Relaxed);
        Harness {
            backing: Backing::Cluster(c.clone()),
            prefix: format!("t{n}"),
        }
    }

    pub fn config(&self) -> StoreConfig {
        let cfg = match &self.backing {
            Backing::Redb(d) => StoreConfig::redb(d.path().join("store.redb")),
            Backing::Redis(r) => StoreConfig::redis(r.url()),
            Backing::Cluster(c) => StoreConfig::redis_cluster(c.urls()),
        };
        let mut cfg = cfg
            .with_key_prefix(self.prefix.clone())
            .with_op_timeout(Duration::from_secs(2));
        // Long: a sweep holding the file open would race tests that reopen it.
        cfg.redb_sweep_interval = Duration::from_secs(3600);
        cfg
    }

    pub async fn open_with(&self, keys: KeyRing) -> Store {
        Store::open(self.config(), keys).await.unwrap()
    }

    pub async fn open(&self) -> Store {
        self.open_with(ring1()).await
    }

    /// Whether two stores may be open on the same data at once (redb locks its file).
    pub fn shared(&self) -> bool {
        !matches!(self.backing, Backing::Redb(_))
    }
}
