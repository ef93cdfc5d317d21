//! Shed layer: bounded concurrency with load shedding. tower's
//! `ConcurrencyLimit` bounds requests in flight and `LoadShed` refuses,
//! instead of queueing, when no slot is free; this layer turns that refusal
//! into `503 Service Unavailable` with `Retry-After`, and any other error of
//! the stack into a JSON 500, so the service below the listener never fails.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use http::{HeaderValue, Request, Response, StatusCode, header};
use tower::{
    Layer, Service, ServiceExt,
    limit::ConcurrencyLimit,
    load_shed::{LoadShed, error::Overloaded},
};

use crate::{
    body::{BoxError, GatewayBody, json_error},
    decision::BoxFuture,
};

/// Adds [`Shed`].
#[derive(Debug, Clone)]
pub struct ShedLayer {
    max: usize,
    retry_after_secs: u64,
}

impl ShedLayer {
    /// At most `max` requests in flight; others get 503 + `Retry-After: retry_after_secs`.
    pub fn new(max: usize, retry_after_secs: u64) -> Self {
        ShedLayer {
            max,
            retry_after_secs,
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Shed {
            inner: LoadShed::new(ConcurrencyLimit::new(inner, self.max)),
            retry_after_secs: self.retry_after_secs,
        }
    }
}

/// The shed service.
#[derive(Debug, Clone)]
pub struct Shed<S> {
    inner: LoadShed<ConcurrencyLimit<S>>,
    retry_after_secs: u64,
}

/// The response for an error that escaped the stack.
pub fn error_response(e: &BoxError, retry_after_secs: u64) -> Response<GatewayBody> {
    if e.is::<Overloaded>() {
        metrics::counter!("shroud_shed_total").increment(1);
        let mut r = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the gateway is at its concurrency limit; retry later",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        return r;
    }
    tracing::error!("request failed inside the gateway: {e}");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the gateway failed to process the request",
    )
}

impl<S, B> Service<Request<B>> for Shed<S>
where
    S: Service<Request<B>, Response = Response<GatewayBody>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness is checked per request in `call` (LoadShed answers at once).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let svc = self.inner.clone();
        let retry = self.retry_after_secs;
        Box::pin(async move {
            match svc.oneshot(req).await {
                Ok(r) => Ok(r),
                Err(e) => Ok(error_response(&e, retry)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::body::empty;

    #[tokio::test]
    async fn sheds_beyond_the_limit_with_retry_after() {
        let gate = Arc::new(tokio::sync::Notify::new());
        let g = gate.clone();
        let inner = tower::service_fn(move |_req: Request<()>| {
            let g = g.clone();
            async move {
                g.notified().await;
                Ok::<_, Infallible>(Response::new(empty()))
            }
        });
        let svc = ShedLayer::new(1, 7).layer(inner);
        let first = tokio::spawn(svc.clone().oneshot(Request::new(())));
        tokio::task::yield_now().await;
        let shed = svc.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()[header::RETRY_AFTER], "7");
        gate.notify_one();
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        // The slot is free again.
        let g2 = gate.clone();
        let next = tokio::spawn(svc.oneshot(Request::new(())));
        tokio::task::yield_now().await;
        g2.notify_one();
        assert_eq!(next.await.unwrap().unwrap().status(), StatusCode::OK);
    }
}
