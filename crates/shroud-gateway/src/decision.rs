//! The decision model (masking level, routing tier, risk, reasons) and the two
//! hook traits the gateway calls: [`RiskEngine`] decides, [`ResponseMasker`]
//! masks. Real implementations live in `shroud-policy` and `shroud-mask`; the
//! gateway only depends on these small traits so each side can be tested and
//! replaced alone.

use std::{future::Future, net::IpAddr, pin::Pin, time::SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A boxed, sendable future (the hook traits must stay object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub use shroud_types::{Level, ParseLevelError, ParseTierError, Tier};

/// Where a decision came from (for audit and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionSource {
    /// Freshly computed by the risk engine.
    Engine,
    /// Served from the per-session decision cache.
    Cache,
    /// The engine failed or timed out: the configured fallback applied.
    Fallback,
}

/// What the gateway does with one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Unique id, quoted in audit lines, alerts and `POST /v1/feedback`.
    pub id: String,
    /// Fused risk in `[0, 1]`.
    pub risk: f64,
    /// The masking level the response gets.
    pub level: Level,
    /// The upstream pool the request goes to.
    pub tier: Tier,
    /// Why (short machine-readable reasons, strongest first).
    pub reasons: Vec<String>,
    /// The policy version that produced it (part of response cache keys).
    pub policy_version: String,
    /// Where it came from.
    pub source: DecisionSource,
}

impl Decision {
    /// A new decision with a fresh id, from the engine.
    pub fn new(risk: f64, level: Level, tier: Tier, reasons: Vec<String>) -> Self {
        Decision {
            id: new_decision_id(),
            risk,
            level,
            tier,
            reasons,
            policy_version: String::new(),
            source: DecisionSource::Engine,
        }
    }
}

/// A fresh random decision id.
pub fn new_decision_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A verified JWT.
    Jwt,
    /// A configured API key.
    ApiKey,
    /// No identity; admitted by the anonymous policy.
    Anonymous,
}

/// What the risk engine is told about one request.
#[derive(Debug, Clone, Serialize)]
pub struct RequestInfo {
    /// The authenticated user (or `anonymous`).
    pub user: String,
    /// The session id (the JWT `sid` claim), when known.
    pub session: Option<String>,
    /// How the user was authenticated.
    pub auth: AuthMethod,
    /// The client address.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The application name (config `app`, or the route's `app`).
    pub app: String,
    /// The route name (config `[[routes]]`, else the path).
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Request path (without query).
    pub path: String,
    /// When the request arrived.
    pub ts: SystemTime,
}

/// The risk engine failed (its store, its model, its policy).
#[derive(Debug, Clone, thiserror::Error)]
#[error("risk engine error: {0}")]
pub struct EngineError(pub String);

/// Decides what happens to a request. Implemented by `shroud-policy`'s engine
/// in the full build; any error or timeout makes the gateway fail closed.
pub trait RiskEngine: Send + Sync + 'static {
    /// Scores the request and returns the decision.
    fn decide<'a>(&'a self, info: &'a RequestInfo) -> BoxFuture<'a, Result<Decision, EngineError>>;

    /// A short name for health reports and logs.
    fn name(&self) -> &str;
}

/// A risk engine that gives every request the same decision. It is what
/// `shroud serve` runs when no scoring engine is built in: the decision comes
/// from config (`[decision] static_level`/`static_tier`), never from guessing.
#[derive(Debug, Clone)]
pub struct StaticEngine {
    /// The level every request gets.
    pub level: Level,
    /// The tier every request goes to.
    pub tier: Tier,
    /// The policy version reported.
    pub policy_version: String,
}

impl RiskEngine for StaticEngine {
    fn decide<'a>(
        &'a self,
        _info: &'a RequestInfo,
    ) -> BoxFuture<'a, Result<Decision, EngineError>> {
        let mut d = Decision::new(0.0, self.level, self.tier, vec!["static_policy".into()]);
        d.policy_version = self.policy_version.clone();
        Box::pin(async move { Ok(d) })
    }
    fn name(&self) -> &str {
        "static"
    }
}

/// The kind of structured body handed to the masker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// One JSON document.
    Json,
    /// Newline-delimited JSON records.
    Ndjson,
}

/// A masked body and what was found in it.
#[derive(Debug, Clone, Default)]
pub struct Masked {
    /// The masked body.
    pub body: Bytes,
    /// Records (objects) seen.
    pub records: u64,
    /// Classes of sensitive data found (e.g. `ssn`, `email`).
    pub classes: Vec<String>,
}

/// The masker failed; the gateway then blocks the response.
#[derive(Debug, Clone, thiserror::Error)]
#[error("masking error: {0}")]
pub struct MaskError(pub String);

/// Masks JSON/NDJSON bodies at a level. Implemented by `shroud-mask` in the
/// full build. Never called with `Level::None` or `Level::Block`.
pub trait ResponseMasker: Send + Sync + 'static {
    /// Masks `body` at `level` with the policy of `route`.
    fn mask(
        &self,
        body: &[u8],
        kind: BodyKind,
        level: Level,
        route: &str,
    ) -> Result<Masked, MaskError>;

    /// A short name for health reports and logs.
    fn name(&self) -> &str;
}

/// The masker of a build without a masking engine: it refuses every level,
/// so any response that must be masked is blocked (fail closed) and only
/// `none` responses pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMasker;

impl ResponseMasker for NoMasker {
    fn mask(
        &self,
        _body: &[u8],
        _kind: BodyKind,
        level: Level,
        _route: &str,
    ) -> Result<Masked, MaskError> {
        Err(MaskError(format!(
            "no masking engine in this build (needs shroud-mask); cannot mask at `{level}`"
        )))
    }
    fn name(&self) -> &str {
        "none"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_is_ordered_and_round_trips() {
        for w in Level::ALL.windows(2) {
            assert!(w[0] < w[1]);
        }
        for l in Level::ALL {
            assert_eq!(l.as_str().parse::<Level>().unwrap(), l);
        }
        assert!("secret".parse::<Level>().is_err());
    }
}
