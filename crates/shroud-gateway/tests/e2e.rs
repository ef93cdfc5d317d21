//! End-to-end tests of the proxy over real loopback sockets: masking, fail
//! closed, identity, tiers, balancing, limits, caching, protocols, reload,
//! shutdown, management API and logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{sync::Arc, sync::atomic::Ordering, time::Duration};

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;
use shroud_gateway::{Config, Gateway, Hooks, Level, ResponseMasker, decision::NoMasker};

async fn start_with(cfg: &str, masker: Arc<dyn ResponseMasker>) -> (Gateway, Arc<ScriptEngine>) {
    let engine = Arc::new(ScriptEngine::default());
    let config = Config::from_toml(cfg).unwrap();
    let gw = Gateway::start(
        config,
        Hooks {
            engine: engine.clone(),
            masker,
        },
    )
    .await
    .unwrap();
    (gw, engine)
}

async fn start(cfg: &str) -> (Gateway, Arc<ScriptEngine>) {
    start_with(cfg, Arc::new(TestMasker::default())).await
}

#[tokio::test]
async fn levels_none_redact_tokenize_and_block() {
    let up = Upstream::start("a").await;
    let (gw, _) = start(&config(&[up.url()], "")).await;
    let c = client();
    let a = gw.data_addr();

    let r = get(&c, a, "/customers", Some("alice")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), CUSTOMER, "level none passes the body untouched");
    assert_eq!(r.header("x-shroud-level"), Some("none"));
    assert_eq!(r.header("etag"), Some("\"up-1\""));

    let r = get(&c, a, "/customers", Some("bob")).await;
    assert_eq!(r.status, 200);
    assert!(!r.leaks(), "{}", r.text());
    assert_eq!(r.json()["ssn"], "[REDACTED]");
    assert_eq!(r.json()["plan"], "gold");
    assert_eq!(r.header("x-shroud-level"), Some("redact"));
    assert_eq!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        r.body.len()
    );
    let etag = r.header("etag").unwrap();
    assert_ne!(etag, "\"up-1\"");

    let r = get(&c, a, "/customers", Some("tom")).await;
    assert_eq!(r.json()["ssn"], "tok_ssn");

    let before = up.hits();
    let r = get(&c, a, "/customers", Some("mallory")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"], "blocked");
    assert!(r.json()["decision_id"].is_string());
    assert_eq!(
        up.hits(),
        before,
        "a blocked request never reaches the upstream"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn compressed_ndjson_images_and_other_bodies() {
    let up = Upstream::start("a").await;
    let (gw, _) = start(&config(&[up.url()], "[masking]\nnon_json = \"block\"")).await;
    let c = client();
    let a = gw.data_addr();
    for (path, coding) in [("/gzip", "gzip"), ("/br", "br")] {
        let r = get(&c, a, path, Some("bob")).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-encoding"), Some(coding));
        assert_eq!(
            r.header("content-length")
                .unwrap()
                .parse::<usize>()
                .unwrap(),
            r.body.len()
        );
        let plain = shroud_gateway::transform::decode(
            shroud_gateway::transform::coding_of(Some(coding)).unwrap(),
            &r.body,
            1 << 20,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(v["ssn"], "[REDACTED]", "{path}");
        assert!(!String::from_utf8_lossy(&plain).contains("123-45-6789"));
    }
    let r = get(&c, a, "/zstd", Some("bob")).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.json()["error"], "unsupported_content_encoding");

    let r = get(&c, a, "/ndjson", Some("bob")).await;
    assert_eq!(r.status, 200);
    assert!(!r.leaks());
    assert_eq!(r.text().lines().count(), 2);

    let r = get(&c, a, "/mislabelled", Some("bob")).await;
    assert!(
        !r.leaks(),
        "JSON sent as text/plain is sniffed and masked: {}",
        r.text()
    );

    let r = get(&c, a, "/text", Some("bob")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "non_json = block");
    let r = get(&c, a, "/text", Some("alice")).await;
    assert_eq!(r.text(), "hello world", "level none passes everything");

    let r = get(&c, a, "/image", Some("bob")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_ne!(r.body.as_ref(), png().as_slice(), "image pixelated");
    assert!(image::load_from_memory(&r.body).is_ok());
    gw.shutdown().await;
}

#[tokio::test]
async fn fail_closed_on_every_failure() {
    let up = Upstream::start("a").await;
    let cfg = config(
        &[up.url()],
        "[decision]\ntimeout_ms = 200\n[limits]\nmax_response_body_bytes = 20000",
    );
    let (gw, _) = start(&cfg).await;
    let c = client();
    let a = gw.data_addr();
    // Engine error, timeout and panic: the fallback level (redact) applies.
    for user in ["err", "slow", "panic"] {
        let r = get(&c, a, "/customers", Some(user)).await;
        assert_eq!(r.status, 200, "{user}");
        assert_eq!(r.header("x-shroud-level"), Some("redact"), "{user}");
        assert!(!r.leaks(), "{user}: {}", r.text());
    }
    // A body over the masking limit is refused, not passed.
    let r = get(&c, a, "/big", Some("bob")).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.json()["error"], "upstream_body_too_large");
    assert!(!r.leaks());
    gw.shutdown().await;

    // Masker error and masker panic: the response is withheld.
    for masker in [
        TestMasker {
            fail: true,
            ..Default::default()
        },
        TestMasker {
            panic: true,
            ..Default::default()
        },
    ] {
        let (gw, _) = start_with(&cfg, Arc::new(masker)).await;
        for path in ["/customers", "/gzip", "/ndjson"] {
            let r = get(&c, gw.data_addr(), path, Some("bob")).await;
            assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{path}");
            assert_eq!(r.json()["error"], "masking_failed");
            assert!(!r.leaks());
        }
        gw.shutdown().await;
    }
    // No masker in the build: anything to mask is withheld, `none` passes.
    let (gw, _) = start_with(&cfg, Arc::new(NoMasker)).await;
    let r = get(&c, gw.data_addr(), "/customers", Some("bob")).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(!r.leaks());
    assert_eq!(
        get(&c, gw.data_addr(), "/customers", Some("alice"))
            .await
            .text(),
        CUSTOMER
    );
    gw.shutdown().await;

    // Fallback `block`: engine failures refuse the request.
    let (gw, _) = start(&config(
        &[up.url()],
        "[decision]\ntimeout_ms = 100\nfallback_level = \"block\"",
    ))
    .await;
    for user in ["err", "slow", "panic"] {
        let r = get(&c, gw.data_addr(), "/customers", Some(user)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{user}");
        assert!(!r.leaks());
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn identity_is_required_or_anonymous_is_masked() {
    let up = Upstream::start("a").await;
    let (gw, _) = start(&config(&[up.url()], "")).await;
    let c = client();
    let r = get(&c, gw.data_addr(), "/customers", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "unauthenticated");
    let r = get(
        &c,
        gw.data_addr(),
        "/customers",
        Some("nobody-has-this-key"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The API key never reaches the upstream.
    let r = get(&c, gw.data_addr(), "/headers", Some("alice")).await;
    assert!(r.json().get("x-api-key").is_none(), "{}", r.text());
    assert!(
        r.json()["x-forwarded-for"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1")
    );
    gw.shutdown().await;

    let (gw, _) = start(&config(
        &[up.url()],
        "[identity]\nanonymous = \"allow\"\nanonymous_min_level = \"redact\"",
    ))
    .await;
    let r = get(&c, gw.data_addr(), "/customers", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-shroud-level"),
        Some("redact"),
        "anonymous gets at least the minimum level"
    );
    assert!(!r.leaks());
    gw.shutdown().await;
}

#[tokio::test]
async fn jwt_bearer_tokens_are_verified() {
    let up = Upstream::start("a").await;
    let dir = temp_dir();
    let secret = b"0123456789abcdef0123456789abcdef-jwt";
    std::fs::write(dir.join("jwt.secret"), secret).unwrap();
    let extra = format!(
        "[identity.jwt]\nalgorithms = [\"HS256\"]\nsecret_file = \"{}\"\nissuer = \"idp\"\naudience = [\"shroud\"]",
        dir.join("jwt.secret").display()
    );
    let (gw, _) = start(&config(&[up.url()], &extra)).await;
    let c = client();
    let tok = |sub: &str, iss: &str| {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = serde_json::json!({"sub": sub, "iss": iss, "aud": "shroud", "exp": now + 60});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let req = |t: String| {
        Request::get(format!("http://{}/customers", gw.data_addr()))
            .header("authorization", format!("Bearer {t}"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let r = send(&c, req(tok("bob", "idp"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ssn"], "[REDACTED]");
    let r = send(&c, req(tok("alice", "idp"))).await;
    assert_eq!(r.text(), CUSTOMER);
    let r = send(&c, req(tok("alice", "someone-else"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    gw.shutdown().await;
}

#[tokio::test]
async fn suspicious_tier_rate_limits_and_step_up() {
    let normal = Upstream::start("normal").await;
    let dir = temp_dir();
    let secret = b"0123456789abcdef0123456789abcdef-jwt";
    std::fs::write(dir.join("jwt.secret"), secret).unwrap();
    std::fs::write(
        dir.join("stepup.secret"),
        b"step-up-secret-step-up-secret-0123456789",
    )
    .unwrap();
    let extra = format!(
        "[suspicious]\nrate_per_second = 1\nburst = 5\n[suspicious.step_up]\nsecret_file = \"{}\"\n[identity.jwt]\nalgorithms = [\"HS256\"]\nsecret_file = \"{}\"\nissuer = \"idp\"\naudience = [\"shroud\"]",
        dir.join("stepup.secret").display(),
        dir.join("jwt.secret").display()
    );
    let (gw, _) = start(&config(&[normal.url()], &extra)).await;
    let c = client();
    // Step-up: the first request is challenged.
    let r = get(&c, gw.data_addr(), "/customers", Some("sus")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "step_up_required");
    let challenge = r.json()["challenge"].as_str().unwrap().to_string();
    assert!(r.header("www-authenticate").unwrap().contains(&challenge));
    let now = jsonwebtoken::get_current_timestamp();
    let answer = |sub: &str, ch: &str| {
        let claims = serde_json::json!({"sub": sub, "iss": "idp", "aud": "shroud", "exp": now + 60, "iat": now, "shroud_challenge": ch});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let with = |t: String| {
        Request::get(format!("http://{}/customers", gw.data_addr()))
            .header("x-api-key", "k-sus")
            .header("x-shroud-step-up", t)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    // A forged challenge and a token for another user fail.
    let r = send(&c, with(answer("sus", "1.2.3"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(&c, with(answer("bob", &challenge))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The right answer passes, and the session stays passed.
    let r = send(&c, with(answer("sus", &challenge))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ssn"], "[REDACTED]");
    // The burst of 5 is spent (the challenged and answered requests count): 429.
    let mut limited = false;
    for _ in 0..6 {
        let r = get(&c, gw.data_addr(), "/customers", Some("sus")).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.header("retry-after").is_some());
            limited = true;
            break;
        }
        assert_eq!(r.status, 200);
    }
    assert!(limited, "suspicious users are rate limited");
    // Normal users are not limited.
    for _ in 0..8 {
        assert_eq!(
            get(&c, gw.data_addr(), "/customers", Some("alice"))
                .await
                .status,
            200
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn high_risk_goes_to_sandbox_with_alert() {
    let normal = Upstream::start("normal").await;
    let sandbox = Upstream::start("sandbox").await;
    let dir = temp_dir();
    let alerts = dir.join("alerts.jsonl");
    let audit = dir.join("audit.jsonl");
    let extra = format!(
        "[tiers.high_risk]\nupstreams = [\"{}\"]\n[logs]\nalerts = \"{}\"\naudit = \"{}\"",
        sandbox.url(),
        alerts.display(),
        audit.display()
    );
    let (gw, _) = start(&config(&[normal.url()], &extra)).await;
    let c = client();
    let r = get(&c, gw.data_addr(), "/customers", Some("evil")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-upstream"), Some("sandbox"));
    assert_eq!(r.json()["ssn"], "tok_ssn");
    let r = get(&c, gw.data_addr(), "/customers", Some("alice")).await;
    assert_eq!(r.header("x-upstream"), Some("normal"));
    let a = lines(&alerts, 1).await;
    assert_eq!(a[0]["kind"], "high_risk_request");
    assert_eq!(a[0]["user"], "evil");
    let d = lines(&audit, 2).await;
    assert!(d.iter().any(|l| l["kind"] == "decision"
        && l["user"] == "evil"
        && l["tier"] == "high_risk"
        && l["decision_id"] == a[0]["decision_id"]));
    gw.shutdown().await;

    // Without a sandbox pool, high-risk requests are blocked.
    let (gw, _) = start(&config(&[normal.url()], "")).await;
    let before = normal.hits();
    let r = get(&c, gw.data_addr(), "/customers", Some("evil")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(normal.hits(), before);
    gw.shutdown().await;
}

#[tokio::test]
async fn balancing_health_checks_and_ejection() {
    let u1 = Upstream::start("u1").await;
    let u2 = Upstream::start("u2").await;
    let extra = "[tiers.normal.health]\npath = \"/healthz\"\ninterval_ms = 50\ntimeout_ms = 200\nunhealthy_after = 1\nhealthy_after = 1";
    let (gw, _) = start(&config(&[u1.url(), u2.url()], extra)).await;
    let c = client();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        seen.insert(
            get(&c, gw.data_addr(), "/customers", Some("alice"))
                .await
                .header("x-upstream")
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(seen.len(), 2, "round robin uses both");
    u1.healthy.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..4 {
        assert_eq!(
            get(&c, gw.data_addr(), "/customers", Some("alice"))
                .await
                .header("x-upstream"),
            Some("u2")
        );
    }
    u1.healthy.store(true, Ordering::SeqCst);
    gw.shutdown().await;

    // Passive ejection: a dead upstream is ejected after consecutive failures.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (gw, _) = start(&config(
        &[dead, u2.url()],
        "[tiers.normal.ejection]\nconsecutive_failures = 1\neject_ms = 60000",
    ))
    .await;
    let first = get(&c, gw.data_addr(), "/customers", Some("alice")).await;
    let mut codes = vec![first.status.as_u16()];
    for _ in 0..4 {
        let r = get(&c, gw.data_addr(), "/customers", Some("alice")).await;
        assert_eq!(
            r.status, 200,
            "after ejection only the live upstream is used"
        );
        codes.push(200);
    }
    assert!(codes.iter().filter(|c| **c == 502).count() <= 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn load_shedding_and_timeouts() {
    let up = Upstream::start("a").await;
    let (gw, _) = start(&config(&[up.url()], "[limits]\nmax_concurrency = 1\nretry_after_secs = 3\n[upstream]\nresponse_timeout_ms = 500")).await;
    let a = gw.data_addr();
    let c = client();
    let c2 = c.clone();
    let slow = tokio::spawn(async move { get(&c2, a, "/slow", Some("alice")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = get(&c, a, "/customers", Some("alice")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header("retry-after"), Some("3"));
    let slow = slow.await.unwrap();
    assert_eq!(
        slow.status,
        StatusCode::GATEWAY_TIMEOUT,
        "upstream response timeout"
    );
    assert_eq!(slow.json()["error"], "upstream_timeout");
    assert_eq!(get(&c, a, "/customers", Some("alice")).await.status, 200);
    // Request bodies over the limit are refused.
    gw.shutdown().await;
    let (gw, _) = start(&config(
        &[up.url()],
        "[limits]\nmax_request_body_bytes = 10",
    ))
    .await;
    let req = Request::post(format!("http://{}/customers", gw.data_addr()))
        .header("x-api-key", "k-alice")
        .body(Full::new(Bytes::from(vec![b'x'; 100])))
        .unwrap();
    assert_eq!(send(&c, req).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    gw.shutdown().await;
}

#[tokio::test]
async fn caches_decisions_and_masked_responses() {
    let up = Upstream::start("a").await;
    let (gw, engine) = start(&config(&[up.url()], "[decision]\ncache_ttl_ms = 60000")).await;
    let c = client();
    let a = gw.data_addr();
    let r1 = get(&c, a, "/cacheable", Some("bob")).await;
    let r2 = get(&c, a, "/cacheable", Some("bob")).await;
    assert_eq!(r1.body, r2.body);
    assert_eq!(r2.header("x-shroud-cache"), Some("hit"));
    assert_eq!(r2.json()["ssn"], "[REDACTED]");
    assert_eq!(up.hits(), 1);
    assert_eq!(
        engine.calls.load(Ordering::SeqCst),
        1,
        "decision cached per session"
    );
    // Another user: not shared (not public). Another level: separate entry, masked at its own level.
    let r = get(&c, a, "/cacheable", Some("tom")).await;
    assert!(r.header("x-shroud-cache").is_none());
    assert_eq!(r.json()["ssn"], "tok_ssn");
    // Level none responses are not stored; non-cacheable ones neither.
    get(&c, a, "/customers", Some("bob")).await;
    let h = up.hits();
    get(&c, a, "/customers", Some("bob")).await;
    assert_eq!(up.hits(), h + 1);
    // Public responses are shared across users at the same level only.
    get(&c, a, "/public", Some("bob")).await;
    let h = up.hits();
    let ben_sees = get(&c, a, "/public", Some("ben")).await; // another user, same level and policy
    assert_eq!(ben_sees.header("x-shroud-cache"), Some("hit"));
    assert_eq!(ben_sees.json()["ssn"], "[REDACTED]");
    assert_eq!(up.hits(), h);
    let tom = get(&c, a, "/public", Some("tom")).await;
    assert!(tom.header("x-shroud-cache").is_none());
    assert_eq!(tom.json()["ssn"], "tok_ssn");
    gw.shutdown().await;
}

#[tokio::test]
async fn http2_and_tls13() {
    let up = Upstream::start("a").await;
    let (gw, _) = start(&config(&[up.url()], "")).await;
    let r = get(&h2_client(), gw.data_addr(), "/customers", Some("bob")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ssn"], "[REDACTED]");
    gw.shutdown().await;

    let dir = temp_dir();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let cfg = config(&[up.url()], "").replace(
        "addr = \"127.0.0.1:0\"",
        &format!(
            "addr = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            dir.join("cert.pem").display(),
            dir.join("key.pem").display()
        ),
    );
    let (gw, _) = start(&cfg).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    for alpn in [b"h2".to_vec(), b"http/1.1".to_vec()] {
        let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        tls.alpn_protocols = vec![alpn.clone()];
        let tcp = tokio::net::TcpStream::connect(gw.data_addr())
            .await
            .unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(
                rustls_pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .unwrap();
        assert_eq!(
            stream.get_ref().1.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        let io = hyper_util::rt::TokioIo::new(stream);
        let req = Request::get("/customers")
            .header("host", "localhost")
            .header("x-api-key", "k-bob")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = if alpn == b"h2" {
            let (mut s, conn) =
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let req = Request::get(format!(
                "https://localhost:{}/customers",
                gw.data_addr().port()
            ))
            .header("x-api-key", "k-bob")
            .body(Full::new(Bytes::new()))
            .unwrap();
            s.send_request(req).await.unwrap()
        } else {
            let (mut s, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            s.send_request(req).await.unwrap()
        };
        assert_eq!(resp.status(), 200);
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert!(!String::from_utf8_lossy(&body).contains("123-45-6789"));
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn reload_swaps_config_and_shutdown_drains() {
    let u1 = Upstream::start("u1").await;
    let u2 = Upstream::start("u2").await;
    let (gw, _) = start(&config(&[u1.url()], "")).await;
    let c = client();
    let a = gw.data_addr();
    assert_eq!(
        get(&c, a, "/customers", Some("alice"))
            .await
            .header("x-upstream"),
        Some("u1")
    );
    // A bad config is refused and the running one stays.
    let bad = Config::from_toml(&config(&[u2.url()], "")).map(|mut c| {
        c.identity.api_keys[0].sha256 = "zz".repeat(32);
        c
    });
    assert!(gw.reload(bad.unwrap()).is_err());
    gw.reload(Config::from_toml(&config(&[u2.url()], "")).unwrap())
        .unwrap();
    // Same keep-alive connection, new runtime.
    assert_eq!(
        get(&c, a, "/customers", Some("alice"))
            .await
            .header("x-upstream"),
        Some("u2")
    );

    // Graceful shutdown: the in-flight request completes.
    let c2 = c.clone();
    let slow = tokio::spawn(async move { get(&c2, a, "/slow", Some("alice")).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.shutdown().await;
    assert_eq!(slow.await.unwrap().status, 200);
    assert!(
        tokio::net::TcpStream::connect(a).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn management_api_metrics_openapi_audit_and_traffic() {
    let up = Upstream::start("a").await;
    let dir = temp_dir();
    let tok = |t: &str| hex::encode(shroud_gateway::identity::sha256(t.as_bytes()));
    let extra = format!(
        "[management]\naddr = \"127.0.0.1:0\"\n[[management.tokens]]\nname = \"ops\"\nsha256 = \"{}\"\nscopes = [\"read\", \"admin\"]\n[[management.tokens]]\nname = \"viewer\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n[logs]\naudit = \"{}\"\ntraffic = \"{}\"\n[[routes]]\nprefix = \"/customers\"\nname = \"customers\"\napp = \"crm\"",
        tok("ops-token"),
        tok("viewer-token"),
        dir.join("audit.jsonl").display(),
        dir.join("traffic.jsonl").display()
    );
    let (gw, _) = start(&config(&[up.url()], &extra)).await;
    let c = client();
    let m = gw.management_addr().unwrap();
    get(&c, gw.data_addr(), "/customers", Some("bob")).await;
    let call = |method: &str, path: &str, token: Option<&str>| {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("http://{m}{path}"));
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Full::new(Bytes::new())).unwrap()
    };
    assert_eq!(send(&c, call("GET", "/metrics", None)).await.status, 401);
    assert_eq!(
        send(&c, call("GET", "/metrics", Some("wrong")))
            .await
            .status,
        401
    );
    let metrics = send(&c, call("GET", "/metrics", Some("viewer-token"))).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text().contains("shroud_decisions_total"),
        "{}",
        metrics.text()
    );
    assert!(metrics.text().contains("shroud_request_duration_seconds"));
    let oa = send(&c, call("GET", "/openapi.json", None)).await;
    assert_eq!(oa.status, 200);
    for p in [
        "/v1/health/anomalydetection",
        "/v1/profiles/{user_id}",
        "/v1/detokenize",
        "/metrics",
    ] {
        assert!(oa.json()["paths"].get(p).is_some(), "{p} in openapi");
    }
    let h = send(
        &c,
        call("GET", "/v1/health/anomalydetection", Some("viewer-token")),
    )
    .await;
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
    assert_eq!(h.json()["engine"], "script");
    // Scopes: viewer cannot delete, and nobody has detokenize.
    assert_eq!(
        send(&c, call("DELETE", "/v1/profiles/u1", Some("viewer-token")))
            .await
            .status,
        403
    );
    assert_eq!(
        send(&c, call("POST", "/v1/detokenize", Some("ops-token")))
            .await
            .status,
        403
    );
    let r = send(&c, call("DELETE", "/v1/profiles/u1", Some("ops-token"))).await;
    assert_eq!(r.status, 501);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("needs shroud-store")
    );
    assert_eq!(
        send(
            &c,
            call("PUT", "/v1/anomalydetection/configure", Some("ops-token"))
        )
        .await
        .status,
        501
    );
    assert_eq!(
        send(&c, call("POST", "/v1/feedback", Some("ops-token")))
            .await
            .status,
        501
    );
    let t = get(&c, gw.data_addr(), "/v1/telemetry", Some("bob")).await;
    assert_eq!(t.status, 501);

    let audit = lines(&dir.join("audit.jsonl"), 6).await;
    assert!(
        audit
            .iter()
            .any(|l| l["kind"] == "decision" && l["user"] == "bob" && l["level"] == "redact")
    );
    assert!(audit.iter().any(|l| l["kind"] == "admin"
        && l["token"] == "ops"
        && l["method"] == "DELETE"
        && l["status"] == 501));
    assert!(
        audit
            .iter()
            .any(|l| l["kind"] == "admin" && l["token"] == "viewer" && l["status"] == 403)
    );
    let traffic = lines(&dir.join("traffic.jsonl"), 1).await;
    let l = &traffic[0];
    for k in [
        "ts",
        "user",
        "ip",
        "user_agent",
        "app",
        "route",
        "method",
        "status",
        "records",
        "classes",
    ] {
        assert!(l.get(k).is_some(), "traffic field {k}");
    }
    assert_eq!(l["route"], "customers");
    assert_eq!(l["app"], "crm");
    assert_eq!(l["records"], 1);
    assert!(l["classes"].as_array().unwrap().iter().any(|c| c == "ssn"));
    assert!(l["ts"].as_str().unwrap().ends_with('Z'));
    gw.shutdown().await;
    let _ = Level::None;
}
