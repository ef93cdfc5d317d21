//! Forward service: the innermost service. Picks the pool of the decided
//! tier and an endpoint in it, rewrites the request for the upstream (hop-by-
//! hop headers, credentials, X-Forwarded-*), sends it over the keep-alive
//! client with a response timeout and a body idle timeout, and feeds the
//! outcome to passive ejection.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{
    HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, Version, header,
};
use http_body_util::BodyExt;
use tower::Service;

use super::ClientAddr;
use crate::{
    body::{GatewayBody, json_error},
    config::UpstreamConfig,
    decision::{BoxFuture, Decision, Tier},
    identity::Identity,
    upstream::{Pool, UpstreamClient},
};

/// The pools of all tiers.
#[derive(Debug)]
pub struct Pools {
    /// The normal (fast) pool.
    pub normal: Pool,
    /// The suspicious pool (absent: the normal pool serves it).
    pub suspicious: Option<Pool>,
    /// The sandbox pool (absent: high-risk requests are blocked).
    pub high_risk: Option<Pool>,
}

impl Pools {
    /// The pool serving `tier`, if any.
    pub fn for_tier(&self, tier: Tier) -> Option<&Pool> {
        match tier {
            Tier::Normal => Some(&self.normal),
            Tier::Suspicious => Some(self.suspicious.as_ref().unwrap_or(&self.normal)),
            Tier::HighRisk => self.high_risk.as_ref(),
        }
    }

    /// Status of every pool (health reports).
    pub fn status(&self) -> serde_json::Value {
        let mut v = vec![self.normal.status()];
        v.extend(self.suspicious.iter().map(Pool::status));
        v.extend(self.high_risk.iter().map(Pool::status));
        serde_json::Value::Array(v)
    }
}

/// Headers that concern one hop only (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// Removes hop-by-hop headers, including those the Connection header names.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(n);
    }
    h.remove(header::TRANSFER_ENCODING);
}

/// The forward service.
#[derive(Clone)]
pub struct Forward {
    pools: Arc<Pools>,
    client: UpstreamClient,
    cfg: Arc<UpstreamConfig>,
    api_key_header: HeaderName,
    tls: bool,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward").finish_non_exhaustive()
    }
}

impl Forward {
    /// A forwarder over `pools`; `tls` says whether clients reach us over TLS (X-Forwarded-Proto).
    pub fn new(
        pools: Arc<Pools>,
        client: UpstreamClient,
        cfg: UpstreamConfig,
        api_key_header: HeaderName,
        tls: bool,
    ) -> Self {
        Forward {
            pools,
            client,
            cfg: Arc::new(cfg),
            api_key_header,
            tls,
        }
    }
}

fn upstream_error(status: StatusCode, code: &str, msg: &str, tier: Tier) -> Response<GatewayBody> {
    metrics::counter!("shroud_upstream_errors_total", "tier" => tier.as_str(), "kind" => code.to_string()).increment(1);
    json_error(status, code, msg)
}

impl Service<Request<GatewayBody>> for Forward {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<GatewayBody>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let tier = req
                .extensions()
                .get::<Decision>()
                .map(|d| d.tier)
                .unwrap_or(Tier::Normal);
            let user = req
                .extensions()
                .get::<Identity>()
                .map(|i| i.user.clone())
                .unwrap_or_default();
            let Some(pool) = this.pools.for_tier(tier) else {
                return Ok(upstream_error(
                    StatusCode::FORBIDDEN,
                    "blocked",
                    "high-risk request and no sandbox pool is configured",
                    tier,
                ));
            };
            let Some((ep, guard)) = pool.pick(&user) else {
                let mut r = upstream_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no_healthy_upstream",
                    "no healthy upstream in the pool",
                    tier,
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return Ok(r);
            };
            let pq = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let uri: Uri = match format!("http://{}{}", ep.authority, pq).parse() {
                Ok(u) => u,
                Err(_) => {
                    return Ok(json_error(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        "invalid request target",
                    ));
                }
            };
            let client_host = req.headers().get(header::HOST).cloned().or_else(|| {
                req.uri()
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            });
            let peer = req.extensions().get::<ClientAddr>().copied();
            *req.uri_mut() = uri;
            *req.version_mut() = Version::HTTP_11;
            let h = req.headers_mut();
            strip_hop_by_hop(h);
            h.remove(&this.api_key_header);
            if !this.cfg.forward_authorization {
                h.remove(header::AUTHORIZATION);
            }
            if this.cfg.preserve_host {
                if let Some(host) = &client_host {
                    h.insert(header::HOST, host.clone());
                }
            } else {
                h.remove(header::HOST);
            }
            if let Some(ClientAddr(addr)) = peer {
                let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                    Some(prev) => format!("{prev}, {}", addr.ip()),
                    None => addr.ip().to_string(),
                };
                if let Ok(v) = HeaderValue::from_str(&xff) {
                    h.insert("x-forwarded-for", v);
                }
            }
            h.insert(
                "x-forwarded-proto",
                HeaderValue::from_static(if this.tls { "https" } else { "http" }),
            );
            if let Some(host) = client_host {
                h.insert("x-forwarded-host", host);
            }
            let timeout = Duration::from_millis(this.cfg.response_timeout_ms);
            let resp = match tokio::time::timeout(timeout, this.client.request(req)).await {
                Err(_) => {
                    pool.report(&ep, false);
                    return Ok(upstream_error(
                        StatusCode::GATEWAY_TIMEOUT,
                        "upstream_timeout",
                        "the upstream did not answer in time",
                        tier,
                    ));
                }
                Ok(Err(e)) => {
                    pool.report(&ep, false);
                    tracing::warn!(upstream = %ep.authority, "upstream request failed: {e}");
                    return Ok(upstream_error(
                        StatusCode::BAD_GATEWAY,
                        "upstream_unavailable",
                        "the upstream could not be reached",
                        tier,
                    ));
                }
                Ok(Ok(resp)) => resp,
            };
            let failed = matches!(resp.status().as_u16(), 502..=504);
            pool.report(&ep, !failed);
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            let body_timeout = Duration::from_millis(this.cfg.body_timeout_ms);
            // The guard lives inside the closure, so the endpoint counts as
            // loaded until the body is done (what least-loaded balancing needs).
            let body = tower_http::timeout::TimeoutBody::new(body_timeout, body)
                .map_err(move |e| {
                    let _ = &guard;
                    e
                })
                .boxed_unsync();
            Ok(Response::from_parts(parts, body))
        })
    }
}
