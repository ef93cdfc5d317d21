//! The pipeline as a tower layer inside an axum app: identity enforced,
//! responses masked, engine failures fail closed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use axum::{Json, Router, body::Body, routing::get};
use common::{ScriptEngine, TestMasker, USERS};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use shroud_gateway::{
    config::ApiKeyConfig,
    identity::sha256,
    middleware::{ShroudLayer, ShroudLayerConfig},
};
use tower::ServiceExt;

async fn customer() -> Json<serde_json::Value> {
    Json(serde_json::json!({"name": "Ada Lovelace", "ssn": "123-45-6789", "plan": "gold"}))
}

fn app() -> Router {
    let mut cfg = ShroudLayerConfig::default();
    cfg.decision.timeout_ms = 100;
    for u in USERS {
        cfg.identity.api_keys.push(ApiKeyConfig {
            user: u.into(),
            sha256: hex::encode(sha256(format!("k-{u}").as_bytes())),
        });
    }
    let layer = ShroudLayer::new(
        cfg,
        Arc::new(ScriptEngine::default()),
        Arc::new(TestMasker::default()),
    )
    .unwrap();
    Router::new()
        .route("/customers/{id}", get(customer))
        .layer(layer)
}

async fn call(user: Option<&str>) -> (StatusCode, String) {
    let mut b = Request::get("/customers/1");
    if let Some(u) = user {
        b = b.header("x-api-key", format!("k-{u}"));
    }
    let resp = app().oneshot(b.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn axum_app_gets_identity_decisions_and_masking() {
    assert_eq!(call(None).await.0, StatusCode::UNAUTHORIZED);
    let (s, body) = call(Some("alice")).await;
    assert_eq!(s, 200);
    assert!(body.contains("123-45-6789"), "level none: unmasked");
    for user in ["bob", "err", "slow", "panic"] {
        let (s, body) = call(Some(user)).await;
        assert_eq!(s, 200, "{user}");
        assert!(!body.contains("123-45-6789"), "{user}: {body}");
        assert!(body.contains("[REDACTED]"), "{user}: {body}");
    }
    let (s, body) = call(Some("mallory")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(!body.contains("123-45-6789"));
}
