//! The request pipeline as a stack of small tower layers, outermost first:
//! [`observe`] (metrics, traffic log) → [`shed`] (bounded concurrency, 503) →
//! [`identify`] (who) → [`decide`] (risk engine, fail closed) → [`tier`]
//! (rate limits, step-up, alerts) → [`cache`] (masked responses) → [`mask`]
//! (response bodies) → [`forward`] (upstream pools). Each layer reads what the
//! layers before it put in the request extensions, and copies what the outer
//! layers need to the response extensions, so each can be tested alone.

pub mod cache;
pub mod decide;
pub mod forward;
pub mod identify;
pub mod mask;
pub mod observe;
pub mod shed;
pub mod tier;

use std::net::SocketAddr;

use bytes::Bytes;

/// The client's address (inserted by the listener).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The route of a request (inserted by [`decide`]).
#[derive(Debug, Clone)]
pub struct RouteInfo {
    /// Route name.
    pub name: String,
    /// Application name.
    pub app: String,
}

/// What the masker found (inserted in responses by [`mask`]).
#[derive(Debug, Clone, Default)]
pub struct MaskStats {
    /// Records seen.
    pub records: u64,
    /// Classes of sensitive data found.
    pub classes: Vec<String>,
}

/// The full masked body of a response (inserted by [`mask`], so [`cache`]
/// can store it without reading the body again).
#[derive(Debug, Clone)]
pub struct MaskedBody(pub Bytes);

/// Marks a response served from the response cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheHit;
