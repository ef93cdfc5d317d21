//! Mask layer: applies the decided level to the response body. `none` streams
//! the upstream body untouched. Any other level buffers the body (up to the
//! configured limit), decodes gzip/br, masks JSON and NDJSON with the
//! [`ResponseMasker`] and the route's policy, treats images and other bodies
//! per policy, re-encodes, and fixes Content-Length and ETag.
//!
//! FAIL CLOSED: a body over the limit, an undecodable body, an unknown
//! coding, a masker error or a masker panic all end in an error response;
//! the upstream body is never passed on unmasked.

use std::{
    panic::AssertUnwindSafe,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use tower::{Layer, Service};

use super::{MaskStats, MaskedBody, RouteInfo};
use crate::{
    body::{
        BoxError, CollectError, GatewayBody, boxed_response, collect_limited, full, json_error,
    },
    config::{ImagePolicy, MaskingConfig, NonJsonPolicy},
    decision::{BodyKind, BoxFuture, Decision, Level, ResponseMasker},
    transform::{self, Kind},
};

/// The response header telling clients the level applied.
pub const LEVEL_HEADER: &str = "x-shroud-level";

/// Adds [`Mask`].
#[derive(Clone)]
pub struct MaskLayer {
    masker: Arc<dyn ResponseMasker>,
    cfg: Arc<MaskingConfig>,
    max_body: usize,
}

impl std::fmt::Debug for MaskLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskLayer")
            .field("masker", &self.masker.name())
            .finish()
    }
}

impl MaskLayer {
    /// Masks with `masker`; bodies over `max_body` bytes (before or after decoding) are refused.
    pub fn new(masker: Arc<dyn ResponseMasker>, cfg: MaskingConfig, max_body: usize) -> Self {
        MaskLayer {
            masker,
            cfg: Arc::new(cfg),
            max_body,
        }
    }
}

impl<S> Layer<S> for MaskLayer {
    type Service = Mask<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Mask {
            inner,
            layer: self.clone(),
        }
    }
}

/// The mask service.
#[derive(Clone, Debug)]
pub struct Mask<S> {
    inner: S,
    layer: MaskLayer,
}

fn refuse(status: StatusCode, code: &str, msg: &str, level: Level) -> Response<GatewayBody> {
    metrics::counter!("shroud_mask_refusals_total", "reason" => code.to_string()).increment(1);
    tracing::warn!(code, "response refused (fail closed): {msg}");
    let mut r = json_error(status, code, msg);
    r.headers_mut()
        .insert(LEVEL_HEADER, HeaderValue::from_static(level.as_str()));
    r
}

/// Request headers that would let the upstream send something the masker
/// cannot see whole (a range, a 304 revalidating an unmasked copy) or a
/// coding it cannot decode.
fn prepare_request<B>(req: &mut Request<B>) {
    let h = req.headers_mut();
    for name in [
        header::RANGE,
        header::IF_RANGE,
        header::IF_NONE_MATCH,
        header::IF_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
    ] {
        h.remove(name);
    }
    let accepts = h
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|c| c == "gzip" || c == "br")
        .collect::<Vec<_>>()
        .join(", ");
    h.remove(header::ACCEPT_ENCODING);
    if !accepts.is_empty()
        && let Ok(v) = HeaderValue::from_str(&accepts)
    {
        h.insert(header::ACCEPT_ENCODING, v);
    }
}

impl MaskLayer {
    /// Masks a whole upstream response at `level` (not `none`, not `block`).
    pub async fn mask_response<RB>(
        &self,
        resp: Response<RB>,
        level: Level,
        route: &str,
        head: bool,
    ) -> Response<GatewayBody>
    where
        RB: Body<Data = Bytes> + Send + 'static,
        RB::Error: Into<BoxError>,
    {
        let (mut parts, body) = resp.into_parts();
        parts
            .headers
            .insert(LEVEL_HEADER, HeaderValue::from_static(level.as_str()));
        parts.headers.remove(header::ACCEPT_RANGES);
        parts.headers.remove("content-md5");
        parts.headers.remove("digest");
        if head
            || parts.status == StatusCode::NO_CONTENT
            || parts.status == StatusCode::NOT_MODIFIED
            || parts.status.is_informational()
        {
            // No body to mask; the upstream's length and validator describe the unmasked body.
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.headers.remove(header::ETAG);
            return Response::from_parts(parts, crate::body::empty());
        }
        let raw = match collect_limited(body, self.max_body).await {
            Ok(b) => b,
            Err(CollectError::TooLarge { limit }) => {
                return refuse(
                    StatusCode::BAD_GATEWAY,
                    "upstream_body_too_large",
                    &format!(
                        "the upstream response is larger than the masking limit of {limit} bytes (limits.max_response_body_bytes)"
                    ),
                    level,
                );
            }
            Err(CollectError::Read(e)) => {
                return refuse(
                    StatusCode::BAD_GATEWAY,
                    "upstream_body_error",
                    &format!("reading the upstream body failed: {e}"),
                    level,
                );
            }
        };
        let coding_header = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let coding = match transform::coding_of(coding_header.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_GATEWAY,
                    "unsupported_content_encoding",
                    &e.to_string(),
                    level,
                );
            }
        };
        let plain = match transform::decode(coding, &raw, self.max_body) {
            Ok(p) => p,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_GATEWAY,
                    "upstream_body_undecodable",
                    &e.to_string(),
                    level,
                );
            }
        };
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let kind = transform::classify(ct, &plain, self.cfg.sniff_json);
        let mut stats = MaskStats::default();
        let out: Bytes = match kind {
            Kind::Json | Kind::Ndjson => {
                if plain.is_empty() {
                    plain
                } else {
                    let bk = if kind == Kind::Json {
                        BodyKind::Json
                    } else {
                        BodyKind::Ndjson
                    };
                    let masker = &self.masker;
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        masker.mask(&plain, bk, level, route)
                    }));
                    match result {
                        Ok(Ok(m)) => {
                            stats.records = m.records;
                            stats.classes = m.classes;
                            m.body
                        }
                        Ok(Err(e)) => {
                            metrics::counter!("shroud_mask_errors_total", "kind" => "error")
                                .increment(1);
                            return refuse(
                                StatusCode::BAD_GATEWAY,
                                "masking_failed",
                                &format!(
                                    "the response could not be masked, so it is withheld: {e}"
                                ),
                                level,
                            );
                        }
                        Err(_) => {
                            metrics::counter!("shroud_mask_errors_total", "kind" => "panic")
                                .increment(1);
                            return refuse(
                                StatusCode::BAD_GATEWAY,
                                "masking_failed",
                                "the response could not be masked (masker panicked), so it is withheld",
                                level,
                            );
                        }
                    }
                }
            }
            Kind::Image => match self.cfg.images {
                ImagePolicy::Pass => plain,
                ImagePolicy::Block => {
                    return refuse(
                        StatusCode::FORBIDDEN,
                        "blocked_content",
                        "images are blocked at this masking level",
                        level,
                    );
                }
                ImagePolicy::Pixelate => match transform::pixelate(&plain, self.cfg.pixelate_block)
                {
                    Ok(p) => p,
                    Err(e) => {
                        return refuse(
                            StatusCode::FORBIDDEN,
                            "blocked_content",
                            &format!("image withheld: {e}"),
                            level,
                        );
                    }
                },
            },
            Kind::Other => match self.cfg.non_json {
                NonJsonPolicy::Pass => plain,
                NonJsonPolicy::Block => {
                    return refuse(
                        StatusCode::FORBIDDEN,
                        "blocked_content",
                        "non-JSON content is blocked at this masking level",
                        level,
                    );
                }
            },
        };
        let encoded = match transform::encode(coding, &out) {
            Ok(e) => e,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_GATEWAY,
                    "reencode_failed",
                    &e.to_string(),
                    level,
                );
            }
        };
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(encoded.len()));
        parts.headers.remove(header::TRANSFER_ENCODING);
        if (parts.headers.contains_key(header::ETAG) || kind != Kind::Other)
            && let Ok(v) = HeaderValue::from_str(&transform::etag_of(&encoded))
        {
            parts.headers.insert(header::ETAG, v);
        }
        parts.extensions.insert(stats);
        parts.extensions.insert(MaskedBody(encoded.clone()));
        Response::from_parts(parts, full(encoded))
    }
}

impl<S, B, RB> Service<Request<B>> for Mask<S>
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
        // No decision means a mis-assembled stack: treat it as the strictest level.
        let level = req
            .extensions()
            .get::<Decision>()
            .map(|d| d.level)
            .unwrap_or(Level::Block);
        if level == Level::Block {
            let resp = refuse(
                StatusCode::FORBIDDEN,
                "blocked",
                "access to this data is blocked for this request",
                level,
            );
            return Box::pin(async move { Ok(resp) });
        }
        let route = req
            .extensions()
            .get::<RouteInfo>()
            .map(|r| r.name.clone())
            .unwrap_or_else(|| req.uri().path().to_string());
        let head = req.method() == Method::HEAD;
        if level != Level::None {
            prepare_request(&mut req);
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let resp = inner.call(req).await?;
            if level == Level::None {
                let mut resp = boxed_response(resp);
                resp.headers_mut()
                    .insert(LEVEL_HEADER, HeaderValue::from_static("none"));
                return Ok(resp);
            }
            Ok(layer.mask_response(resp, level, &route, head).await)
        })
    }
}
