//! Identify layer: authenticates the request (JWT or API key, or anonymous
//! per policy) and puts the [`Identity`] in the request extensions; 401 with
//! a JSON reason otherwise.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use tower::{Layer, Service};

use crate::{
    body::{BoxError, GatewayBody, boxed_response, json_error},
    decision::BoxFuture,
    identity::{Authenticator, Identity},
};

/// Adds [`Identify`].
#[derive(Debug, Clone)]
pub struct IdentifyLayer {
    auth: Arc<Authenticator>,
}

impl IdentifyLayer {
    /// A layer authenticating with `auth`.
    pub fn new(auth: Arc<Authenticator>) -> Self {
        IdentifyLayer { auth }
    }
}

impl<S> Layer<S> for IdentifyLayer {
    type Service = Identify<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Identify {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The identify service.
#[derive(Debug, Clone)]
pub struct Identify<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

impl<S, B, RB> Service<Request<B>> for Identify<S>
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
        let identity = match self.auth.authenticate(req.headers()) {
            Ok(id) => id,
            Err(e) => {
                metrics::counter!("shroud_auth_failures_total").increment(1);
                let mut resp =
                    json_error(StatusCode::UNAUTHORIZED, "unauthenticated", &e.to_string());
                resp.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                );
                return Box::pin(async move { Ok(resp) });
            }
        };
        req.extensions_mut().insert(identity.clone());
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut resp = boxed_response(inner.call(req).await?);
            resp.extensions_mut().insert::<Identity>(identity);
            Ok(resp)
        })
    }
}
