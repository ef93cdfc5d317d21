//! The risk-adaptive reverse proxy of Shroud: identity, scoring, tiered
//! routing, response masking, caching and the management API.
//!
//! For every request the gateway finds out who is asking ([`identity`]), asks
//! a [`RiskEngine`] what they may see and where the request goes
//! ([`Decision`]: a masking [`Level`] and a routing [`Tier`]), forwards it to
//! the pool of that tier, and masks the response with a [`ResponseMasker`].
//! It FAILS CLOSED: when the engine or the masker fails, the response gets the
//! fallback level or is withheld, never sent unmasked.
//!
//! The pipeline is a stack of tower layers (see [`layer`]); [`server::Gateway`]
//! runs it as a proxy (HTTP/1.1 + HTTP/2, TLS 1.3, pools, reload, graceful
//! shutdown) and [`middleware::ShroudLayer`] embeds it in any axum/hyper app.
//!
//! ```
//! use shroud_gateway::{Config, Level};
//!
//! let cfg = Config::from_toml(r#"
//!     [listen]
//!     addr = "127.0.0.1:0"
//!     [tiers.normal]
//!     upstreams = ["http://127.0.0.1:9000"]
//! "#).unwrap();
//! // Failures fall back to `redact` unless configured otherwise.
//! assert_eq!(cfg.decision.fallback_level, Level::Redact);
//! assert!(Level::Redact < Level::Tokenize && Level::Tokenize < Level::Block);
//! ```

pub mod body;
pub mod config;
pub mod decision;
pub mod identity;
pub mod jsonl;
pub mod layer;
pub mod management;
pub mod middleware;
pub mod server;
pub mod stepup;
pub mod transform;
pub mod upstream;

pub use config::Config;
pub use decision::{
    BodyKind, Decision, DecisionSource, EngineError, Level, MaskError, Masked, RequestInfo,
    ResponseMasker, RiskEngine, StaticEngine, Tier,
};
pub use server::{Gateway, GatewayError, Hooks};
