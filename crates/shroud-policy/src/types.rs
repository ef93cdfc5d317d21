//! The vocabulary shared with the gateway: masking levels, routing tiers,
//! feedback labels, and the per-request input ([`RequestContext`]) with its
//! optional biometric and external evidence.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The masking ladder, shared with `shroud-mask` and the gateway.
pub use shroud_types::Level as MaskLevel;
/// Where the gateway routes a request (shared with the gateway).
pub use shroud_types::Tier;

/// A security system's verdict on a past decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// The request really was an attack.
    ConfirmedFraud,
    /// The request was the genuine user (a false positive if it scored high).
    ConfirmedGenuine,
}

/// A location, from the request, a MaxMind database or the CIDR table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code, upper case.
    pub country: String,
    /// City name, if known.
    #[serde(default)]
    pub city: Option<String>,
    /// Latitude in degrees.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude in degrees.
    #[serde(default)]
    pub lon: Option<f64>,
}

/// Whether a user has a biometric baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enrollment {
    /// A baseline exists and the score below is meaningful.
    Enrolled,
    /// Enrollment still in progress: no usable score.
    Enrolling,
    /// No baseline at all.
    NotEnrolled,
}

/// One behavioral feature that drove a biometric score, for reasons.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiometricFeature<'a> {
    /// Feature name, e.g. `digraph_latency`.
    pub name: &'a str,
    /// How far it was from the baseline, in the biometric model's units.
    pub deviation: f32,
}

/// The biometric verdict for the session behind a request, as produced by
/// the biometrics crate. Kept as a plain struct so both crates evolve apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiometricEvidence<'a> {
    /// Impostor likelihood in [0, 1]: 0 behaves like the owner, 1 does not.
    pub score: f32,
    /// How much to trust `score`, in [0, 1] (e.g. little telemetry yet).
    pub confidence: f32,
    /// Whether the user has a baseline at all.
    pub enrollment: Enrollment,
    /// The features that contributed most, strongest first.
    pub top_features: &'a [BiometricFeature<'a>],
}

/// A score from another system (device posture, fraud feed, liveness, ...).
/// Its weight comes from the policy's `[external.<name>]` table; signals the
/// policy does not name are ignored and listed in the decision's `missing`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExternalSignal<'a> {
    /// Name matching a `[external.<name>]` policy entry.
    pub name: &'a str,
    /// Risk in [0, 1] (values outside are clamped; NaN is ignored).
    pub score: f32,
}

/// Everything the engine needs to know about one request. Borrowed so the
/// gateway can build it from its own buffers without copying.
#[derive(Debug, Clone, Default)]
pub struct RequestContext<'a> {
    /// Pseudonymous user id (or API key id for machine clients).
    pub user: &'a str,
    /// Client address, if known.
    pub ip: Option<IpAddr>,
    /// Location supplied by the caller; when `None` it is looked up from `ip`.
    pub geo: Option<&'a Geo>,
    /// The user's time zone (IANA); else the profile's, else the policy default.
    pub tz: Option<chrono_tz::Tz>,
    /// `User-Agent` header.
    pub user_agent: &'a str,
    /// Client-hint headers (`Sec-CH-UA-*`) joined, part of the device fingerprint.
    pub client_hints: &'a str,
    /// Application or API-key identifier.
    pub app: &'a str,
    /// Route path (query string and ids are normalised away by the engine).
    pub route: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Upstream status, when deciding after the response (auth failures count).
    pub status: Option<u16>,
    /// Records in the response, when known.
    pub records: Option<u32>,
    /// Data classes in the response (e.g. `email`, `ssn`).
    pub classes: &'a [&'a str],
    /// Biometric verdict, `None` when no telemetry was received.
    pub biometric: Option<BiometricEvidence<'a>>,
    /// Scores from other systems.
    pub external: &'a [ExternalSignal<'a>],
}
