//! Response cache layer: stores masked responses (moka) only when the
//! upstream says they are cacheable, keyed by URL + masking level + policy
//! version + accepted encodings, and by user unless the upstream marked the
//! response `public`. Because the level is part of the key, a hit always
//! carries exactly the decided level: never a lower one.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use tower::{Layer, Service};

use super::{CacheHit, MaskedBody};
use crate::{
    body::{BoxError, GatewayBody, boxed_response, full},
    decision::{BoxFuture, Decision, Level},
    identity::Identity,
};

/// A stored response.
#[derive(Debug)]
struct Entry {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    expires: Instant,
}

/// Adds [`ResponseCache`].
#[derive(Clone, Debug)]
pub struct CacheLayer {
    cache: moka::sync::Cache<String, Arc<Entry>>,
    max_entry_bytes: usize,
    max_ttl: Duration,
}

impl CacheLayer {
    /// A cache of at most `max_entries` responses of at most `max_entry_bytes`, kept at most `max_ttl`.
    pub fn new(max_entries: u64, max_entry_bytes: usize, max_ttl: Duration) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(max_entries)
            .time_to_live(max_ttl)
            .build();
        CacheLayer {
            cache,
            max_entry_bytes,
            max_ttl,
        }
    }

    /// Entries currently held (approximate).
    pub fn len(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Whether the cache is empty (approximate).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = ResponseCache<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ResponseCache {
            inner,
            layer: self.clone(),
        }
    }
}

/// The response cache service.
#[derive(Clone, Debug)]
pub struct ResponseCache<S> {
    inner: S,
    layer: CacheLayer,
}

/// The freshness lifetime the upstream allows a shared cache, if any, and
/// whether the response is `public` (shared across users).
pub fn cacheable_for(headers: &HeaderMap) -> Option<(Duration, bool)> {
    if headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    if let Some(vary) = headers.get(header::VARY) {
        let vary = vary.to_str().ok()?.to_ascii_lowercase();
        if vary.split(',').any(|v| v.trim() != "accept-encoding") {
            return None;
        }
    }
    let cc = headers
        .get(header::CACHE_CONTROL)?
        .to_str()
        .ok()?
        .to_ascii_lowercase();
    let mut max_age = None;
    let mut s_maxage = None;
    let mut public = false;
    for d in cc.split(',').map(str::trim) {
        match d {
            "no-store" | "no-cache" | "private" => return None,
            "public" => public = true,
            _ => {
                if let Some(v) = d.strip_prefix("s-maxage=") {
                    s_maxage = v.trim_matches('"').parse::<u64>().ok();
                } else if let Some(v) = d.strip_prefix("max-age=") {
                    max_age = v.trim_matches('"').parse::<u64>().ok();
                }
            }
        }
    }
    let secs = s_maxage.or(max_age)?;
    (secs > 0).then(|| (Duration::from_secs(secs), public))
}

fn key(scope: &str, level: Level, policy: &str, accept_encoding: &str, uri: &http::Uri) -> String {
    format!("{level}\u{1f}{policy}\u{1f}{scope}\u{1f}{accept_encoding}\u{1f}{uri}")
}

impl<S, B, RB> Service<Request<B>> for ResponseCache<S>
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

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let decision = req.extensions().get::<Decision>().cloned();
        let user = req.extensions().get::<Identity>().map(|i| i.user.clone());
        let bypass = req.method() != Method::GET
            || req
                .headers()
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("no-cache") || v.contains("no-store"));
        let (Some(decision), Some(user), false) = (decision, user, bypass) else {
            return Box::pin(async move { Ok(boxed_response(inner.call(req).await?)) });
        };
        let ae = req
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let user_key = key(
            &format!("u:{user}"),
            decision.level,
            &decision.policy_version,
            &ae,
            req.uri(),
        );
        let public_key = key(
            "public",
            decision.level,
            &decision.policy_version,
            &ae,
            req.uri(),
        );
        let now = Instant::now();
        for k in [&user_key, &public_key] {
            if let Some(e) = self.layer.cache.get(k) {
                if e.expires > now {
                    metrics::counter!("shroud_cache_hits_total").increment(1);
                    let mut resp = Response::new(full(e.body.clone()));
                    *resp.status_mut() = e.status;
                    *resp.headers_mut() = e.headers.clone();
                    resp.headers_mut()
                        .insert("x-shroud-cache", HeaderValue::from_static("hit"));
                    resp.extensions_mut().insert(CacheHit);
                    return Box::pin(async move { Ok(resp) });
                }
                self.layer.cache.invalidate(k);
            }
        }
        let layer = self.layer.clone();
        Box::pin(async move {
            let resp = boxed_response(inner.call(req).await?);
            if resp.status() != StatusCode::OK {
                return Ok(resp);
            }
            let Some(MaskedBody(body)) = resp.extensions().get::<MaskedBody>().cloned() else {
                return Ok(resp);
            };
            if body.len() > layer.max_entry_bytes {
                return Ok(resp);
            }
            if let Some((ttl, public)) = cacheable_for(resp.headers()) {
                let ttl = ttl.min(layer.max_ttl);
                let entry = Entry {
                    status: resp.status(),
                    headers: resp.headers().clone(),
                    body,
                    expires: now + ttl,
                };
                layer
                    .cache
                    .insert(if public { public_key } else { user_key }, Arc::new(entry));
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(cc: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::CACHE_CONTROL, cc.parse().unwrap());
        m
    }

    #[test]
    fn cacheability() {
        assert_eq!(
            cacheable_for(&h("max-age=60")),
            Some((Duration::from_secs(60), false))
        );
        assert_eq!(
            cacheable_for(&h("public, max-age=60, s-maxage=10")),
            Some((Duration::from_secs(10), true))
        );
        assert_eq!(cacheable_for(&h("private, max-age=60")), None);
        assert_eq!(cacheable_for(&h("no-store")), None);
        assert_eq!(cacheable_for(&h("max-age=0")), None);
        assert_eq!(cacheable_for(&HeaderMap::new()), None);
        let mut m = h("max-age=60");
        m.insert(header::VARY, "Cookie".parse().unwrap());
        assert_eq!(cacheable_for(&m), None);
    }
}
