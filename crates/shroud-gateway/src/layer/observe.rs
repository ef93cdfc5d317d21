//! Observe layer (outermost): request metrics (count by status and tier,
//! latency histogram) and the optional traffic log in the access-log schema
//! of `shroud replay`: `ts` (RFC 3339), `user`, `ip`, `user_agent`, `app`,
//! `route`, `method`, `status`, `records`, `classes` (plus `level`, `tier`,
//! `decision_id`, `latency_ms`).

use std::{
    task::{Context, Poll},
    time::{Instant, SystemTime},
};

use http::{Request, Response};
use tower::{Layer, Service};

use super::{CacheHit, ClientAddr, MaskStats, RouteInfo};
use crate::{
    body::GatewayBody,
    decision::{BoxFuture, Decision},
    identity::Identity,
    jsonl::{JsonLines, rfc3339},
};

/// Adds [`Observe`].
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    traffic: JsonLines,
}

impl ObserveLayer {
    /// Observes requests; writes traffic lines to `traffic` if enabled.
    pub fn new(traffic: JsonLines) -> Self {
        ObserveLayer { traffic }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            traffic: self.traffic.clone(),
        }
    }
}

/// The observe service.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    traffic: JsonLines,
}

impl<S, B> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<GatewayBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<GatewayBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let ts = SystemTime::now();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let traffic = self.traffic.clone();
        let request_meta = traffic.enabled().then(|| {
            (
                req.method().to_string(),
                req.uri().path().to_string(),
                req.extensions().get::<ClientAddr>().map(|a| a.0.ip()),
                req.headers()
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            )
        });
        Box::pin(async move {
            let resp = inner.call(req).await?;
            let elapsed = start.elapsed();
            let decision = resp.extensions().get::<Decision>();
            let tier = decision.map(|d| d.tier.as_str()).unwrap_or("none");
            let status = resp.status().as_u16();
            let class = match status {
                200..=299 => "2xx",
                300..=399 => "3xx",
                400..=499 => "4xx",
                _ => "5xx",
            };
            metrics::counter!("shroud_requests_total", "status" => class, "tier" => tier)
                .increment(1);
            metrics::histogram!("shroud_request_duration_seconds", "tier" => tier)
                .record(elapsed.as_secs_f64());
            if let Some((method, path, ip, ua)) = request_meta {
                let id = resp.extensions().get::<Identity>();
                let route = resp.extensions().get::<RouteInfo>();
                let stats = resp.extensions().get::<MaskStats>();
                traffic.write(&serde_json::json!({
                    "ts": rfc3339(ts),
                    "user": id.map(|i| i.user.as_str()),
                    "ip": ip,
                    "user_agent": ua,
                    "app": route.map(|r| r.app.as_str()),
                    "route": route.map(|r| r.name.as_str()).unwrap_or(path.as_str()),
                    "method": method,
                    "status": status,
                    "records": stats.map(|s| s.records).unwrap_or(0),
                    "classes": stats.map(|s| s.classes.clone()).unwrap_or_default(),
                    "level": decision.map(|d| d.level),
                    "tier": decision.map(|d| d.tier),
                    "decision_id": decision.map(|d| d.id.as_str()),
                    "cache_hit": resp.extensions().get::<CacheHit>().is_some(),
                    "latency_ms": elapsed.as_secs_f64() * 1000.0,
                }));
            }
            Ok(resp)
        })
    }
}
