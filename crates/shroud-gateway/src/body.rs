//! Body types shared by every layer of the gateway, and helpers to build,
//! box and collect bodies with a size limit.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

/// The boxed error type carried by bodies and services.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The body type of every response the gateway produces.
pub type GatewayBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes` in full.
pub fn full(bytes: impl Into<Bytes>) -> GatewayBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> GatewayBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Boxes any body with `Bytes` frames into a [`GatewayBody`]; a body that
/// already is one is returned as is (no second box on every layer).
pub fn boxed<B>(body: B) -> GatewayBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut slot = Some(body);
    if let Some(b) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<GatewayBody>>()
        && let Some(b) = b.take()
    {
        return b;
    }
    match slot {
        Some(body) => body.map_err(Into::into).boxed_unsync(),
        None => empty(),
    }
}

/// Converts any response into one with a [`GatewayBody`].
pub fn boxed_response<B>(resp: Response<B>) -> Response<GatewayBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    resp.map(boxed)
}

/// Why a body could not be collected.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The body was longer than the configured limit.
    #[error("body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Reading the body failed (connection error, timeout).
    #[error("reading the body failed: {0}")]
    Read(BoxError),
}

/// Reads a whole body into memory, failing as soon as it grows past `limit`
/// bytes (so an oversized body is never held in full).
pub async fn collect_limited<B>(body: B, limit: usize) -> Result<Bytes, CollectError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CollectError::Read(e.into()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(CollectError::TooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// A JSON error response: `{"error": code, "message": message}` plus any
/// extra fields, so clients get a machine-readable code and a human reason.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<GatewayBody> {
    json_response(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
}

/// A JSON response with `status` and the given value as body.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<GatewayBody> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
