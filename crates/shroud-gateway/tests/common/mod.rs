//! Shared fixtures of the gateway's integration tests: a loopback upstream
//! with test routes, test engines and maskers, a client, config builders.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, missing_docs)]

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use shroud_gateway::{
    BodyKind, Decision, EngineError, Level, MaskError, Masked, RequestInfo, ResponseMasker,
    RiskEngine, Tier, decision::BoxFuture, identity::sha256,
};

pub const CUSTOMER: &str =
    r#"{"name":"Ada Lovelace","ssn":"123-45-6789","email":"ada@example.com","plan":"gold"}"#;
pub const SECRET_VALUES: [&str; 3] = ["123-45-6789", "ada@example.com", "Ada Lovelace"];

/// A loopback upstream server.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub healthy: Arc<AtomicBool>,
    pub name: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn br(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(b).unwrap();
    }
    out
}

pub fn png() -> Vec<u8> {
    let mut img = image::RgbImage::new(32, 32);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgb([(x * 8) as u8, (y * 8) as u8, 77]);
    }
    let mut c = std::io::Cursor::new(Vec::new());
    img.write_to(&mut c, image::ImageFormat::Png).unwrap();
    c.into_inner()
}

async fn route(
    req: Request<Incoming>,
    name: String,
    hits: Arc<AtomicUsize>,
    healthy: Arc<AtomicBool>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if path != "/healthz" {
        hits.fetch_add(1, Ordering::SeqCst);
    }
    let b = Response::builder().header("x-upstream", name.clone());
    let json = |b: http::response::Builder| b.header("content-type", "application/json");
    let resp = match path.as_str() {
        "/healthz" => {
            let s = if healthy.load(Ordering::SeqCst) {
                200
            } else {
                503
            };
            b.status(s).body(Full::new(Bytes::from_static(b"ok")))
        }
        "/customers" => json(b)
            .header("etag", "\"up-1\"")
            .body(Full::new(Bytes::from_static(CUSTOMER.as_bytes()))),
        "/gzip" => json(b)
            .header("content-encoding", "gzip")
            .body(Full::new(Bytes::from(gzip(CUSTOMER.as_bytes())))),
        "/br" => json(b)
            .header("content-encoding", "br")
            .body(Full::new(Bytes::from(br(CUSTOMER.as_bytes())))),
        "/zstd" => json(b)
            .header("content-encoding", "zstd")
            .body(Full::new(Bytes::from_static(b"\x28\xb5\x2f\xfd"))),
        "/ndjson" => b
            .header("content-type", "application/x-ndjson")
            .body(Full::new(Bytes::from(format!("{CUSTOMER}\n{CUSTOMER}\n")))),
        "/mislabelled" => b
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from_static(CUSTOMER.as_bytes()))),
        "/text" => b
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from_static(b"hello world"))),
        "/image" => b
            .header("content-type", "image/png")
            .body(Full::new(Bytes::from(png()))),
        "/big" => json(b).body(Full::new(Bytes::from(format!(
            "[{}]",
            vec![CUSTOMER; 2000].join(",")
        )))),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            json(b).body(Full::new(Bytes::from_static(CUSTOMER.as_bytes())))
        }
        "/cacheable" => json(b)
            .header("cache-control", "max-age=60")
            .body(Full::new(Bytes::from(format!(
                r#"{{"ssn":"123-45-6789","n":{}}}"#,
                hits.load(Ordering::SeqCst)
            )))),
        "/public" => json(b)
            .header("cache-control", "public, max-age=60")
            .body(Full::new(Bytes::from(format!(
                r#"{{"ssn":"123-45-6789","n":{}}}"#,
                hits.load(Ordering::SeqCst)
            )))),
        "/headers" => {
            let h: HashMap<String, String> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            json(b).body(Full::new(Bytes::from(serde_json::to_vec(&h).unwrap())))
        }
        _ => b
            .status(404)
            .body(Full::new(Bytes::from_static(b"not found"))),
    };
    Ok(resp.unwrap())
}

impl Upstream {
    pub async fn start(name: &str) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let healthy = Arc::new(AtomicBool::new(true));
        let (h, hl, n) = (hits.clone(), healthy.clone(), name.to_string());
        let task = tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
                let (h, hl, n) = (h.clone(), hl.clone(), n.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |r| {
                        route(r, n.clone(), h.clone(), hl.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            hits,
            healthy,
            name: name.to_string(),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Decisions by user name.
#[derive(Default)]
pub struct ScriptEngine {
    pub calls: AtomicUsize,
}

impl RiskEngine for ScriptEngine {
    fn decide<'a>(&'a self, info: &'a RequestInfo) -> BoxFuture<'a, Result<Decision, EngineError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let (level, tier) = match info.user.as_str() {
                "alice" => (Level::None, Tier::Normal),
                "bob" | "ben" => (Level::Redact, Tier::Normal),
                "tom" => (Level::Tokenize, Tier::Normal),
                "mallory" => (Level::Block, Tier::HighRisk),
                "sus" => (Level::Redact, Tier::Suspicious),
                "evil" => (Level::Tokenize, Tier::HighRisk),
                "err" => return Err(EngineError("profile store unreachable".into())),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    (Level::None, Tier::Normal)
                }
                "panic" => panic!("engine bug"),
                _ => (Level::None, Tier::Normal),
            };
            let mut d = Decision::new(0.1, level, tier, vec![format!("script:{}", info.user)]);
            d.policy_version = "test-1".into();
            Ok(d)
        })
    }
    fn name(&self) -> &str {
        "script"
    }
}

/// Masks the values of `name`, `ssn`, `email` keys.
#[derive(Default)]
pub struct TestMasker {
    pub fail: bool,
    pub panic: bool,
    pub levels: Mutex<Vec<Level>>,
}

fn mask_value(v: &mut serde_json::Value, level: Level, classes: &mut Vec<String>) -> u64 {
    let mut records = 0;
    match v {
        serde_json::Value::Object(m) => {
            records += 1;
            for (k, v) in m.iter_mut() {
                if ["name", "ssn", "email"].contains(&k.as_str()) && v.is_string() {
                    *v = serde_json::Value::String(match level {
                        Level::Redact => "[REDACTED]".into(),
                        _ => format!("tok_{}", k),
                    });
                    if !classes.contains(k) {
                        classes.push(k.clone());
                    }
                } else {
                    records += mask_value(v, level, classes);
                }
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                records += mask_value(v, level, classes);
            }
        }
        _ => {}
    }
    records
}

impl ResponseMasker for TestMasker {
    fn mask(
        &self,
        body: &[u8],
        kind: BodyKind,
        level: Level,
        _route: &str,
    ) -> Result<Masked, MaskError> {
        self.levels.lock().unwrap().push(level);
        if self.panic {
            panic!("masker bug");
        }
        if self.fail {
            return Err(MaskError("classifier crashed".into()));
        }
        let mut classes = vec![];
        let mut records = 0;
        let out = match kind {
            BodyKind::Json => {
                let mut v: serde_json::Value =
                    serde_json::from_slice(body).map_err(|e| MaskError(e.to_string()))?;
                records += mask_value(&mut v, level, &mut classes);
                serde_json::to_vec(&v).unwrap()
            }
            BodyKind::Ndjson => {
                let mut out = Vec::new();
                for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    let mut v: serde_json::Value =
                        serde_json::from_slice(line).map_err(|e| MaskError(e.to_string()))?;
                    records += mask_value(&mut v, level, &mut classes);
                    out.extend(serde_json::to_vec(&v).unwrap());
                    out.push(b'\n');
                }
                out
            }
        };
        Ok(Masked {
            body: Bytes::from(out),
            records,
            classes,
        })
    }
    fn name(&self) -> &str {
        "test"
    }
}

pub type TestClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn h2_client() -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

pub struct Got {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }
    pub fn leaks(&self) -> bool {
        let t = self.text();
        SECRET_VALUES.iter().any(|s| t.contains(s))
    }
}

pub async fn send(c: &TestClient, req: Request<Full<Bytes>>) -> Got {
    let resp = tokio::time::timeout(Duration::from_secs(10), c.request(req))
        .await
        .expect("request timed out")
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Got {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn get(c: &TestClient, addr: SocketAddr, path: &str, user: Option<&str>) -> Got {
    let mut b = Request::get(format!("http://{addr}{path}"));
    if let Some(u) = user {
        b = b.header("x-api-key", format!("k-{u}"));
    }
    send(c, b.body(Full::new(Bytes::new())).unwrap()).await
}

pub const USERS: [&str; 12] = [
    "alice", "bob", "ben", "tom", "mallory", "sus", "evil", "err", "slow", "panic", "carol", "dave",
];

/// A config for one upstream with API keys `k-<user>` for the script users.
pub fn config(normal: &[String], extra: &str) -> String {
    let ups: Vec<String> = normal.iter().map(|u| format!("\"{u}\"")).collect();
    let mut s = format!(
        "[listen]\naddr = \"127.0.0.1:0\"\n[tiers.normal]\nupstreams = [{}]\n",
        ups.join(", ")
    );
    s.push_str(extra);
    s.push('\n');
    for u in USERS {
        s.push_str(&format!(
            "[[identity.api_keys]]\nuser = \"{u}\"\nsha256 = \"{}\"\n",
            hex::encode(sha256(format!("k-{u}").as_bytes()))
        ));
    }
    s
}

pub fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "shroud-gw-test-{}",
        shroud_gateway::decision::new_decision_id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Waits until `path` has at least `n` lines, returns them parsed.
pub async fn lines(path: &std::path::Path, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        if let Ok(t) = std::fs::read_to_string(path) {
            let v: Vec<serde_json::Value> = t
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if v.len() >= n {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never had {n} lines", path.display());
}
