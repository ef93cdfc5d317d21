//! The Shroud pipeline (identify → decide → mask) as a tower layer inside an
//! ordinary axum application, without a proxy hop.
//!
//! Run: `cargo run -p shroud-gateway --example axum_layer`, then
//! `curl -H 'x-api-key: demo-key' http://127.0.0.1:3000/customers/1`.
//! The masker here is a tiny stand-in that blanks a few field names; the
//! full build plugs in shroud-mask's engine through the same trait.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::{Json, Router, routing::get};
use bytes::Bytes;
use shroud_gateway::{
    BodyKind, Level, MaskError, Masked, ResponseMasker, StaticEngine, Tier,
    config::ApiKeyConfig,
    identity::sha256,
    middleware::{ShroudLayer, ShroudLayerConfig},
};

/// Blanks `ssn`, `email` and `card` fields (stand-in for shroud-mask).
struct FieldMasker;

impl ResponseMasker for FieldMasker {
    fn mask(
        &self,
        body: &[u8],
        _kind: BodyKind,
        level: Level,
        _route: &str,
    ) -> Result<Masked, MaskError> {
        let mut v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| MaskError(e.to_string()))?;
        let mut classes = vec![];
        if let Some(m) = v.as_object_mut() {
            for k in ["ssn", "email", "card"] {
                if let Some(f) = m.get_mut(k) {
                    *f = serde_json::Value::String(format!("[{level}]"));
                    classes.push(k.to_string());
                }
            }
        }
        Ok(Masked {
            body: Bytes::from(serde_json::to_vec(&v).unwrap()),
            records: 1,
            classes,
        })
    }
    fn name(&self) -> &str {
        "field-example"
    }
}

/// The application's own handler: it knows nothing about masking.
async fn customer() -> Json<serde_json::Value> {
    Json(
        serde_json::json!({"id": 1, "name": "Ada", "ssn": "123-45-6789", "email": "ada@example.com"}),
    )
}

/// The app with the Shroud layer around it.
fn app() -> Router {
    let mut cfg = ShroudLayerConfig::default();
    cfg.identity.api_keys.push(ApiKeyConfig {
        user: "demo".into(),
        sha256: hex::encode(sha256(b"demo-key")),
    });
    let engine = StaticEngine {
        level: Level::Redact,
        tier: Tier::Normal,
        policy_version: "example".into(),
    };
    let layer = ShroudLayer::new(cfg, Arc::new(engine), Arc::new(FieldMasker)).unwrap();
    Router::new()
        .route("/customers/{id}", get(customer))
        .layer(layer)
}

#[tokio::main]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await
        .unwrap();
    println!("listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app()).await.unwrap();
}
