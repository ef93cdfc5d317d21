//! The management API (its own listener, axum): Prometheus metrics, the
//! OpenAPI document generated from this code, health, and the admin routes.
//! Every route except `/openapi.json` needs a bearer token with the right
//! scope (`read`, `admin`, `detokenize`); every call is written to the audit
//! log. Routes whose backing crate is not part of this build answer 501 with
//! the crate they need, instead of pretending.

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{
    body::{GatewayBody, json_response},
    identity::sha256,
    jsonl::now_rfc3339,
    server::{Runtime, metrics_handle},
};

type AppState = Arc<ArcSwap<Runtime>>;

/// A JSON error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: String,
    /// Human-readable reason.
    pub message: String,
}

/// Health of the anomaly-detection pipeline as far as this build knows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    /// `ok`, or `degraded` when a pool has no usable upstream.
    pub status: String,
    /// The risk engine in use.
    pub engine: String,
    /// The masker in use.
    pub masker: String,
    /// Upstream pools and their endpoints.
    #[schema(value_type = Object)]
    pub pools: serde_json::Value,
    /// Parts not in this build, with the crate each needs.
    #[schema(value_type = Object)]
    pub unavailable: serde_json::Value,
}

/// The 501 answer of a route whose backing crate is not in this build.
pub fn not_available(route: &str, needs: &str) -> Response<GatewayBody> {
    json_response(
        StatusCode::NOT_IMPLEMENTED,
        &serde_json::json!({
            "error": "not_implemented",
            "message": format!("{route} is not available in this build: needs {needs}"),
            "needs": needs,
        }),
    )
}

fn not_available_axum(route: &str, needs: &str) -> Response {
    not_available(route, needs).map(axum::body::Body::new)
}

/// The scope a route needs.
fn scope_for(method: &axum::http::Method, path: &str) -> Option<&'static str> {
    if path == "/openapi.json" {
        return None;
    }
    if path == "/v1/detokenize" {
        return Some("detokenize");
    }
    if method == axum::http::Method::GET {
        Some("read")
    } else {
        Some("admin")
    }
}

async fn auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let rt = state.load_full();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let Some(scope) = scope_for(&method, &path) else {
        return next.run(req).await;
    };
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let tokens = rt
        .config
        .management
        .as_ref()
        .map(|m| m.tokens.as_slice())
        .unwrap_or(&[]);
    let found = token.and_then(|t| {
        let h = hex::encode(sha256(t.as_bytes()));
        tokens.iter().find(|c| c.sha256.eq_ignore_ascii_case(&h))
    });
    let (status, name, resp) = match found {
        None => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({"error":"unauthenticated","message":"a valid management bearer token is required"})),
            )
                .into_response();
            r.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            (401, None, r)
        }
        Some(t) if !t.scopes.iter().any(|s| s == scope) => (
            403,
            Some(t.name.clone()),
            (
                StatusCode::FORBIDDEN,
                Json(serde_json::json!({"error":"forbidden","message":format!("this token lacks the `{scope}` scope")})),
            )
                .into_response(),
        ),
        Some(t) => {
            let name = t.name.clone();
            let r = next.run(req).await;
            (r.status().as_u16(), Some(name), r)
        }
    };
    if path != "/metrics" {
        rt.sinks.audit.write(&serde_json::json!({
            "ts": now_rfc3339(),
            "kind": "admin",
            "token": name,
            "method": method.as_str(),
            "path": path,
            "scope": scope,
            "status": status,
        }));
    }
    resp
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")), security(("bearer" = ["read"])))]
async fn metrics_route() -> Response {
    let mut r = metrics_handle().render().into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// Model, store and upstream health.
#[utoipa::path(get, path = "/v1/health/anomalydetection", responses((status = 200, body = HealthReport)), security(("bearer" = ["read"])))]
async fn health(State(state): State<AppState>) -> Json<HealthReport> {
    let rt = state.load_full();
    let pools = rt.pools.status();
    let degraded = pools.as_array().into_iter().flatten().any(|p| {
        !p["upstreams"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|u| u["healthy"] == true && u["ejected"] == false)
    });
    Json(HealthReport {
        status: if degraded { "degraded" } else { "ok" }.into(),
        engine: rt.hooks.engine.name().to_string(),
        masker: rt.hooks.masker.name().to_string(),
        pools,
        unavailable: serde_json::json!({
            "store": "not available in this build: needs shroud-store",
            "enrollment_counts": "not available in this build: needs shroud-detect",
            "score_distribution": "not available in this build: needs shroud-policy",
            "telemetry_lag": "not available in this build: needs shroud-telemetry",
        }),
    })
}

/// Read a profile (without raw biometrics).
#[utoipa::path(get, path = "/v1/profiles/{user_id}", params(("user_id" = String, Path)), responses((status = 501, body = ErrorBody)), security(("bearer" = ["read"])))]
async fn profile_get() -> Response {
    not_available_axum(
        "GET /v1/profiles/{user_id}",
        "shroud-store and shroud-detect",
    )
}

/// Reset / re-enroll a profile.
#[utoipa::path(put, path = "/v1/profiles/{user_id}", params(("user_id" = String, Path)), responses((status = 501, body = ErrorBody)), security(("bearer" = ["admin"])))]
async fn profile_put() -> Response {
    not_available_axum(
        "PUT /v1/profiles/{user_id}",
        "shroud-store and shroud-detect",
    )
}

/// Erase every trace of a user.
#[utoipa::path(delete, path = "/v1/profiles/{user_id}", params(("user_id" = String, Path)), responses((status = 501, body = ErrorBody)), security(("bearer" = ["admin"])))]
async fn profile_delete() -> Response {
    not_available_axum("DELETE /v1/profiles/{user_id}", "shroud-store")
}

/// Read the anomaly-detection configuration.
#[utoipa::path(get, path = "/v1/anomalydetection/configure", responses((status = 501, body = ErrorBody)), security(("bearer" = ["read"])))]
async fn configure_get() -> Response {
    not_available_axum("GET /v1/anomalydetection/configure", "shroud-policy")
}

/// Change thresholds, detectors and weights, policy version.
#[utoipa::path(put, path = "/v1/anomalydetection/configure", responses((status = 501, body = ErrorBody)), security(("bearer" = ["admin"])))]
async fn configure_put() -> Response {
    not_available_axum("PUT /v1/anomalydetection/configure", "shroud-policy")
}

/// Labels from security systems for a decision id.
#[utoipa::path(post, path = "/v1/feedback", responses((status = 501, body = ErrorBody)), security(("bearer" = ["admin"])))]
async fn feedback() -> Response {
    not_available_axum("POST /v1/feedback", "shroud-policy")
}

/// Reverse tokenized values.
#[utoipa::path(post, path = "/v1/detokenize", responses((status = 501, body = ErrorBody)), security(("bearer" = ["detokenize"])))]
async fn detokenize() -> Response {
    not_available_axum(
        "POST /v1/detokenize",
        "shroud-mask (token vault) and shroud-store",
    )
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of the management API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Shroud management API", description = "Metrics, health and administration of the Shroud gateway."),
    paths(metrics_route, health, profile_get, profile_put, profile_delete, configure_get, configure_put, feedback, detokenize),
    components(schemas(ErrorBody, HealthReport)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The management router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_route))
        .route("/openapi.json", get(openapi))
        .route("/v1/health/anomalydetection", get(health))
        .route(
            "/v1/profiles/{user_id}",
            get(profile_get).put(profile_put).delete(profile_delete),
        )
        .route(
            "/v1/anomalydetection/configure",
            get(configure_get).put(configure_put),
        )
        .route("/v1/feedback", post(feedback))
        .route("/v1/detokenize", post(detokenize))
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}
