//! Shroud's risk and policy engine: turns one request's context, the user's
//! access-pattern profile, a population model, contextual CEL rules,
//! biometric and external evidence into one explained decision (a risk in
//! [0, 1], a masking level and a routing tier).
//!
//! * [`Engine::decide`] is called by the gateway per request, with the time
//!   of the request (never the wall clock: `shroud replay` feeds log times).
//! * [`Engine::feedback`] takes a security system's label for a past decision.
//! * [`Engine::reload`] swaps a validated [`CompiledPolicy`] atomically.
//! * [`Engine::export_state`] / [`Engine::import_state`] move the profiles,
//!   learned weights and population model to and from the store as bytes.
//! * [`accesslog`] parses and writes the NDJSON access-log schema.
//!
//! Fusion is a logistic combination: `risk = sigmoid(bias + offset_user +
//! Σ wᵢ·eᵢ + Σ rule factors + Σ external weights·scores)`, where every signal
//! evidence `eᵢ` is in [0, 1] and every weight is kept ≥ 0, so risk is
//! monotonic in each signal. See `docs/policy.md` for why and for the policy
//! reference.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use shroud_policy::{CompiledPolicy, Engine, RequestContext, Tier};
//!
//! let policy = CompiledPolicy::from_toml(r#"
//!     version = "doc-1"
//!     [[rules]]
//!     name = "legacy_export"
//!     condition = 'app in ["legacy-export"]'
//!     factor = 6.0
//! "#)?;
//! let engine = Engine::new(policy);
//! let ctx = RequestContext { user: "alice", app: "legacy-export", route: "/export",
//!                            method: "GET", records: Some(10), ..Default::default() };
//! let d = engine.decide(&ctx, Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap());
//! assert!(d.risk > 0.5 && d.tier >= Tier::Suspicious);
//! assert!(d.reasons.iter().any(|r| r.signal == "rule:legacy_export"));
//! assert!(d.missing.iter().any(|m| m == "biometric:no_telemetry"));
//! # Ok::<(), shroud_policy::PolicyError>(())
//! ```

pub mod accesslog;
mod engine;
mod error;
mod geo;
mod policy;
mod profile;
mod rules;
mod signals;
mod types;

pub use engine::{Decision, Engine, EngineOptions, FeedbackOutcome, Reason};
pub use error::{FeedbackError, PolicyError, StateError};
pub use geo::{GeoResolver, NetworkLocation, haversine_km};
pub use policy::{
    ClassOverride, CompiledPolicy, DEFAULT_WEIGHTS, Escalation, ExternalConfig, Fusion, GeoConfig,
    LevelThresholds, Missing, Policy, PopulationConfig, RouteOverride, RuleConfig, SignalConfig,
    TierThresholds,
};
pub use profile::UserProfile;
pub use rules::RULE_VARIABLES;
pub use signals::{POPULATION_DIM, SIGNAL_COUNT, SIGNAL_NAMES, fuse};
pub use types::{
    BiometricEvidence, BiometricFeature, Enrollment, ExternalSignal, Geo, Label, MaskLevel,
    RequestContext, Tier,
};
