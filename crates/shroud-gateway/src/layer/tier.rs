//! Tier layer: the rules of each routing tier before the request goes on.
//! `suspicious`: a per-user rate limit (governor; 429 + Retry-After) and, if
//! configured, the step-up challenge (see [`crate::stepup`]). `high_risk`: a
//! security alert (JSON lines + tracing) before the request goes to the
//! sandbox pool.

use std::{
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use tower::{Layer, Service};

use super::{ClientAddr, RouteInfo};
use crate::{
    body::{BoxError, GatewayBody, boxed_response, json_error, json_response},
    decision::{BoxFuture, Decision, Tier},
    identity::{Authenticator, Identity},
    jsonl::{JsonLines, now_rfc3339},
    stepup::{STEP_UP_HEADER, StepUp},
};

/// Adds [`TierRules`].
#[derive(Clone)]
pub struct TierLayer {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    checks: Arc<AtomicU64>,
    step_up: Option<Arc<StepUp>>,
    auth: Arc<Authenticator>,
    alerts: JsonLines,
}

impl std::fmt::Debug for TierLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TierLayer").finish_non_exhaustive()
    }
}

impl TierLayer {
    /// Suspicious users get `rate_per_second` sustained, `burst` at once.
    pub fn new(
        rate_per_second: NonZeroU32,
        burst: NonZeroU32,
        step_up: Option<Arc<StepUp>>,
        auth: Arc<Authenticator>,
        alerts: JsonLines,
    ) -> Self {
        let quota = Quota::per_second(rate_per_second).allow_burst(burst);
        TierLayer {
            limiter: Arc::new(RateLimiter::keyed(quota)),
            checks: Arc::new(AtomicU64::new(0)),
            step_up,
            auth,
            alerts,
        }
    }

    /// Applies the suspicious tier's rules; `Some(response)` refuses the request.
    fn suspicious(
        &self,
        id: &Identity,
        headers: &http::HeaderMap,
    ) -> Option<Response<GatewayBody>> {
        // Forget idle users now and then so the limiter's memory stays bounded.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        if let Err(not_until) = self.limiter.check_key(&id.user) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            metrics::counter!("shroud_rate_limited_total", "tier" => "suspicious").increment(1);
            let mut resp = json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests for this user in the suspicious tier",
            );
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            return Some(resp);
        }
        let step_up = self.step_up.as_ref()?;
        if step_up.passed(id) {
            return None;
        }
        let mut failure = None;
        if let (Some(answer), Some(verifier)) = (headers.get(STEP_UP_HEADER), self.auth.jwt()) {
            match answer
                .to_str()
                .map_err(|_| "non-ASCII header".to_string())
                .and_then(|t| {
                    step_up
                        .answer(id, t.trim(), verifier)
                        .map_err(|e| e.to_string())
                }) {
                Ok(()) => return None,
                Err(e) => failure = Some(e),
            }
        }
        let (challenge, exp) = step_up.challenge(id);
        metrics::counter!("shroud_step_up_challenges_total").increment(1);
        let mut resp = json_response(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({
                "error": "step_up_required",
                "message": failure.unwrap_or_else(|| "re-authenticate and retry with a step-up token".into()),
                "challenge": challenge,
                "expires_at": exp,
                "answer_header": STEP_UP_HEADER,
            }),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("Shroud-StepUp challenge=\"{challenge}\"")) {
            resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
        }
        Some(resp)
    }

    fn alert(
        &self,
        id: &Identity,
        d: &Decision,
        route: Option<&RouteInfo>,
        ip: Option<ClientAddr>,
        path: &str,
    ) {
        tracing::warn!(
            user = %id.user, decision = %d.id, risk = d.risk, reasons = ?d.reasons,
            "security alert: high-risk request routed to the sandbox pool"
        );
        metrics::counter!("shroud_alerts_total", "kind" => "high_risk_request").increment(1);
        self.alerts.write(&serde_json::json!({
            "ts": now_rfc3339(),
            "kind": "high_risk_request",
            "decision_id": d.id,
            "user": id.user,
            "session": id.session,
            "ip": ip.map(|a| a.0.ip()),
            "route": route.map(|r| r.name.as_str()),
            "path": path,
            "risk": d.risk,
            "level": d.level,
            "reasons": d.reasons,
        }));
    }
}

impl<S> Layer<S> for TierLayer {
    type Service = TierRules<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TierRules {
            inner,
            layer: self.clone(),
        }
    }
}

/// The tier service.
#[derive(Clone, Debug)]
pub struct TierRules<S> {
    inner: S,
    layer: TierLayer,
}

impl<S, B, RB> Service<Request<B>> for TierRules<S>
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
        let tier = req
            .extensions()
            .get::<Decision>()
            .map(|d| d.tier)
            .unwrap_or(Tier::Normal);
        if let Some(id) = req.extensions().get::<Identity>() {
            match tier {
                Tier::Suspicious => {
                    if let Some(resp) = self.layer.suspicious(id, req.headers()) {
                        return Box::pin(async move { Ok(resp) });
                    }
                }
                Tier::HighRisk => {
                    if let Some(d) = req.extensions().get::<Decision>() {
                        self.layer.alert(
                            id,
                            d,
                            req.extensions().get::<RouteInfo>(),
                            req.extensions().get::<ClientAddr>().copied(),
                            req.uri().path(),
                        );
                    }
                }
                Tier::Normal => {}
            }
        }
        req.headers_mut().remove(STEP_UP_HEADER);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { Ok(boxed_response(inner.call(req).await?)) })
    }
}
