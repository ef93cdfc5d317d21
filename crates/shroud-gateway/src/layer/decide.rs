//! Decide layer: asks the [`RiskEngine`] what this request may see and where
//! it goes, with a timeout; reuses decisions per session for a short TTL; and
//! FAILS CLOSED: an engine error, timeout or panic yields the configured
//! fallback level (default `redact`) or a block, never `none`. A `block`
//! decision is answered here with 403; the upstream is never called. Every
//! decision is written to the audit log.

use std::{
    panic::AssertUnwindSafe,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use http_body::Body;
use tower::{Layer, Service};

use super::{ClientAddr, RouteInfo};
use crate::{
    body::{BoxError, GatewayBody, boxed_response, json_response},
    config::RouteConfig,
    decision::{
        AuthMethod, BoxFuture, Decision, DecisionSource, Level, RequestInfo, RiskEngine, Tier,
        new_decision_id,
    },
    identity::Identity,
    jsonl::{JsonLines, now_rfc3339},
};

/// Route names by path prefix.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    /// Default application name.
    pub app: String,
    /// Named prefixes.
    pub routes: Vec<RouteConfig>,
}

impl Routes {
    /// The route (name, app) of a path: longest matching prefix, else the path.
    pub fn route_of(&self, path: &str) -> RouteInfo {
        self.routes
            .iter()
            .filter(|r| path.starts_with(r.prefix.as_str()))
            .max_by_key(|r| r.prefix.len())
            .map(|r| RouteInfo {
                name: r.name.clone(),
                app: r.app.clone().unwrap_or_else(|| self.app.clone()),
            })
            .unwrap_or_else(|| RouteInfo {
                name: path.to_string(),
                app: self.app.clone(),
            })
    }
}

/// Settings of the decide layer.
#[derive(Debug, Clone)]
pub struct DecideSettings {
    /// Longest wait for the engine.
    pub timeout: Duration,
    /// Level when the engine fails.
    pub fallback_level: Level,
    /// Tier when the engine fails.
    pub fallback_tier: Tier,
    /// Lowest level for anonymous requests.
    pub anonymous_min_level: Level,
    /// Per-session decision cache TTL (zero: no cache).
    pub cache_ttl: Duration,
    /// Most cached decisions.
    pub cache_max_entries: u64,
}

/// Adds [`Decide`].
#[derive(Clone)]
pub struct DecideLayer {
    engine: Arc<dyn RiskEngine>,
    settings: Arc<DecideSettings>,
    routes: Arc<Routes>,
    cache: Option<moka::sync::Cache<String, Decision>>,
    audit: JsonLines,
}

impl std::fmt::Debug for DecideLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecideLayer")
            .field("engine", &self.engine.name())
            .finish()
    }
}

impl DecideLayer {
    /// A layer deciding with `engine`.
    pub fn new(
        engine: Arc<dyn RiskEngine>,
        settings: DecideSettings,
        routes: Routes,
        audit: JsonLines,
    ) -> Self {
        let cache = (!settings.cache_ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(settings.cache_max_entries)
                .time_to_live(settings.cache_ttl)
                .build()
        });
        DecideLayer {
            engine,
            settings: Arc::new(settings),
            routes: Arc::new(routes),
            cache,
            audit,
        }
    }
}

impl<S> Layer<S> for DecideLayer {
    type Service = Decide<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Decide {
            inner,
            layer: self.clone(),
        }
    }
}

/// The decide service.
#[derive(Clone, Debug)]
pub struct Decide<S> {
    inner: S,
    layer: DecideLayer,
}

impl DecideLayer {
    /// Decides for `info`, failing closed. Public so the decision logic can be
    /// tested and reused without HTTP.
    pub async fn decide(&self, info: &RequestInfo, cache_key: &str) -> Decision {
        if let Some(cache) = &self.cache
            && let Some(mut d) = cache.get(cache_key)
        {
            d.source = DecisionSource::Cache;
            return d;
        }
        let s = &self.settings;
        let fut = AssertUnwindSafe(self.engine.decide(info)).catch_unwind();
        let failure = match tokio::time::timeout(s.timeout, fut).await {
            Ok(Ok(Ok(d))) => {
                if let Some(cache) = &self.cache {
                    cache.insert(cache_key.to_string(), d.clone());
                }
                return d;
            }
            Ok(Ok(Err(e))) => format!("engine_error: {}", e.0),
            Ok(Err(_panic)) => "engine_panic".to_string(),
            Err(_) => format!(
                "engine_timeout: no decision within {} ms",
                s.timeout.as_millis()
            ),
        };
        let kind = failure
            .split(':')
            .next()
            .unwrap_or("engine_error")
            .to_string();
        tracing::warn!(user = %info.user, "risk engine failed, applying fallback `{}`: {failure}", s.fallback_level);
        metrics::counter!("shroud_engine_errors_total", "kind" => kind).increment(1);
        Decision {
            id: new_decision_id(),
            // Unknown risk is reported as the maximum: nothing downstream may
            // read a failure as "safe".
            risk: 1.0,
            level: s.fallback_level,
            tier: s.fallback_tier,
            reasons: vec![failure],
            policy_version: String::new(),
            source: DecisionSource::Fallback,
        }
    }
}

impl<S, B, RB> Service<Request<B>> for Decide<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    RB: Body<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError>,
{
    type Response = Response<GatewayBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let identity = req
                .extensions()
                .get::<Identity>()
                .cloned()
                .unwrap_or(Identity {
                    user: "anonymous".into(),
                    session: None,
                    method: AuthMethod::Anonymous,
                });
            let route = layer.routes.route_of(req.uri().path());
            let info = RequestInfo {
                user: identity.user.clone(),
                session: identity.session.clone(),
                auth: identity.method,
                ip: req.extensions().get::<ClientAddr>().map(|a| a.0.ip()),
                user_agent: req
                    .headers()
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                app: route.app.clone(),
                route: route.name.clone(),
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
                ts: SystemTime::now(),
            };
            let mut decision = layer.decide(&info, &identity.session_key()).await;
            if identity.method == AuthMethod::Anonymous
                && decision.level < layer.settings.anonymous_min_level
            {
                decision.level = layer.settings.anonymous_min_level;
                decision.reasons.push("anonymous".into());
            }
            metrics::counter!(
                "shroud_decisions_total",
                "level" => decision.level.as_str(),
                "tier" => decision.tier.as_str(),
            )
            .increment(1);
            if layer.audit.enabled() {
                layer.audit.write(&serde_json::json!({
                    "ts": now_rfc3339(),
                    "kind": "decision",
                    "decision_id": decision.id,
                    "user": info.user,
                    "session": info.session,
                    "auth": info.auth,
                    "ip": info.ip,
                    "app": info.app,
                    "route": info.route,
                    "method": info.method,
                    "path": info.path,
                    "risk": decision.risk,
                    "level": decision.level,
                    "tier": decision.tier,
                    "reasons": decision.reasons,
                    "source": decision.source,
                    "policy_version": decision.policy_version,
                }));
            }
            if decision.level == Level::Block {
                let mut resp = json_response(
                    StatusCode::FORBIDDEN,
                    &serde_json::json!({
                        "error": "blocked",
                        "message": "access to this data is blocked for this request",
                        "decision_id": decision.id,
                    }),
                );
                resp.extensions_mut().insert(decision);
                resp.extensions_mut().insert(route);
                return Ok(resp);
            }
            req.extensions_mut().insert(decision.clone());
            req.extensions_mut().insert(route.clone());
            let mut resp = boxed_response(inner.call(req).await?);
            resp.extensions_mut().insert(decision);
            resp.extensions_mut().insert(route);
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::EngineError;

    struct Failing(&'static str);

    impl RiskEngine for Failing {
        fn decide<'a>(
            &'a self,
            _info: &'a RequestInfo,
        ) -> BoxFuture<'a, Result<Decision, EngineError>> {
            Box::pin(async move {
                match self.0 {
                    "error" => Err(EngineError("store down".into())),
                    "panic" => panic!("bug"),
                    _ => {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        Ok(Decision::new(0.0, Level::None, Tier::Normal, vec![]))
                    }
                }
            })
        }
        fn name(&self) -> &str {
            "failing"
        }
    }

    fn info() -> RequestInfo {
        RequestInfo {
            user: "u".into(),
            session: None,
            auth: AuthMethod::ApiKey,
            ip: None,
            user_agent: None,
            app: "a".into(),
            route: "r".into(),
            method: "GET".into(),
            path: "/".into(),
            ts: SystemTime::now(),
        }
    }

    #[tokio::test]
    async fn every_engine_failure_gets_the_fallback_and_is_not_cached() {
        for (mode, reason) in [
            ("error", "engine_error"),
            ("panic", "engine_panic"),
            ("slow", "engine_timeout"),
        ] {
            let layer = DecideLayer::new(
                Arc::new(Failing(mode)),
                DecideSettings {
                    timeout: Duration::from_millis(20),
                    fallback_level: Level::Substitute,
                    fallback_tier: Tier::Suspicious,
                    anonymous_min_level: Level::Redact,
                    cache_ttl: Duration::from_secs(60),
                    cache_max_entries: 10,
                },
                Routes::default(),
                JsonLines::disabled(),
            );
            let d = layer.decide(&info(), "u").await;
            assert_eq!(d.level, Level::Substitute, "{mode}");
            assert_eq!(d.tier, Tier::Suspicious);
            assert_eq!(d.source, DecisionSource::Fallback);
            assert_eq!(d.risk, 1.0);
            assert!(d.reasons[0].starts_with(reason), "{mode}: {:?}", d.reasons);
            let again = layer.decide(&info(), "u").await;
            assert_eq!(
                again.source,
                DecisionSource::Fallback,
                "fallbacks are not cached"
            );
        }
    }

    #[test]
    fn routes_pick_longest_prefix() {
        let r = Routes {
            app: "default".into(),
            routes: vec![
                RouteConfig {
                    prefix: "/api".into(),
                    name: "api".into(),
                    app: None,
                },
                RouteConfig {
                    prefix: "/api/customers".into(),
                    name: "customers".into(),
                    app: Some("crm".into()),
                },
            ],
        };
        let c = r.route_of("/api/customers/1");
        assert_eq!((c.name.as_str(), c.app.as_str()), ("customers", "crm"));
        assert_eq!(r.route_of("/api/x").name, "api");
        assert_eq!(r.route_of("/other").name, "/other");
    }
}
