//! The policy file (TOML): fusion weights, priors for missing signals,
//! risk → level and → tier thresholds, per-route and per-data-class
//! overrides, escalation, signal parameters, the population model, external
//! signal weights, geolocation sources and CEL rules. [`Policy::from_toml`]
//! parses and validates; [`CompiledPolicy`] is what the engine swaps in.
//! Every field is documented in `docs/policy.md`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::PolicyError;
use crate::geo::{GeoResolver, NetworkLocation};
use crate::rules::CompiledRule;
use crate::signals::{SIGNAL_COUNT, SIGNAL_NAMES};
use crate::types::{MaskLevel, Tier};

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Version label carried by every decision (e.g. `2026-11-22.1`).
    pub version: String,
    /// Time zone for users whose requests and profile carry none.
    #[serde(default = "default_tz")]
    pub default_tz: String,
    /// Fusion weights.
    #[serde(default)]
    pub fusion: Fusion,
    /// Evidence assumed for a signal that cannot be computed.
    #[serde(default)]
    pub missing: Missing,
    /// Lowest risk at which each masking level applies.
    #[serde(default)]
    pub levels: LevelThresholds,
    /// Lowest risk at which each tier applies.
    #[serde(default)]
    pub tiers: TierThresholds,
    /// Per-route overrides, first match wins.
    #[serde(default)]
    pub routes: Vec<RouteOverride>,
    /// Per-data-class overrides, all matching classes apply.
    #[serde(default)]
    pub classes: BTreeMap<String, ClassOverride>,
    /// Escalation hold and step-down.
    #[serde(default)]
    pub escalation: Escalation,
    /// Signal parameters.
    #[serde(default)]
    pub signals: SignalConfig,
    /// Isolation-forest population model.
    #[serde(default)]
    pub population: PopulationConfig,
    /// Weights of external signals by name.
    #[serde(default)]
    pub external: BTreeMap<String, ExternalConfig>,
    /// Geolocation sources.
    #[serde(default)]
    pub geo: GeoConfig,
    /// Contextual CEL rules.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

fn default_tz() -> String {
    "UTC".into()
}

/// Logistic fusion: `risk = sigmoid(bias + Σ weight·evidence + Σ rule factors)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fusion {
    /// Log-odds of risk when every signal is silent.
    pub bias: f32,
    /// Weight (log-odds per unit evidence, ≥ 0) per signal; unnamed signals keep defaults.
    pub weights: BTreeMap<String, f32>,
    /// Step size of feedback on the global weights.
    pub learning_rate: f32,
    /// Step size of feedback on the labelled user's own offset.
    pub user_learning_rate: f32,
    /// Bound on a user's learned log-odds offset (either sign).
    pub max_user_offset: f32,
}

impl Default for Fusion {
    fn default() -> Self {
        Self {
            bias: -6.0,
            weights: BTreeMap::new(),
            learning_rate: 0.05,
            user_learning_rate: 1.0,
            max_user_offset: 4.0,
        }
    }
}

/// The built-in weight of each signal (same order as [`SIGNAL_NAMES`]).
pub const DEFAULT_WEIGHTS: [f32; SIGNAL_COUNT] = [
    2.5, // time
    3.0, // new_country
    4.5, // impossible_travel
    1.5, // new_device
    1.5, // new_app
    1.5, // new_route
    2.0, // new_class
    3.5, // volume
    3.0, // hourly_volume
    2.5, // rate
    4.5, // auth_failures
    2.0, // population
    3.0, // biometric
];

/// Evidence (in [0, 1]) assumed where a signal cannot be computed. These
/// keep "unknown" visibly above "known good" instead of treating it as zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Missing {
    /// For profile-based signals while the user has little history.
    pub no_history: f32,
    /// When no biometric verdict is available or the user is not enrolled.
    pub biometric: f32,
    /// When the location of the request is unknown.
    pub geo: f32,
    /// When no population model is trained yet.
    pub population: f32,
}

impl Default for Missing {
    fn default() -> Self {
        Self {
            no_history: 0.2,
            biometric: 0.3,
            geo: 0.3,
            population: 0.2,
        }
    }
}

/// Lowest risk at which each level applies; an absent level is never chosen
/// by risk alone. Must not decrease along the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LevelThresholds {
    /// Threshold of `redact`.
    pub redact: Option<f32>,
    /// Threshold of `substitute`.
    pub substitute: Option<f32>,
    /// Threshold of `tokenize`.
    pub tokenize: Option<f32>,
    /// Threshold of `encrypt`.
    pub encrypt: Option<f32>,
    /// Threshold of `block`.
    pub block: Option<f32>,
}

impl Default for LevelThresholds {
    fn default() -> Self {
        Self {
            redact: Some(0.3),
            substitute: Some(0.5),
            tokenize: Some(0.7),
            encrypt: Some(0.85),
            block: Some(0.97),
        }
    }
}

impl LevelThresholds {
    fn as_array(&self) -> [Option<f32>; 5] {
        [
            self.redact,
            self.substitute,
            self.tokenize,
            self.encrypt,
            self.block,
        ]
    }
}

/// Lowest risk of each tier above `normal`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierThresholds {
    /// Threshold of `suspicious`.
    pub suspicious: f32,
    /// Threshold of `high_risk`.
    pub high_risk: f32,
}

impl Default for TierThresholds {
    fn default() -> Self {
        Self {
            suspicious: 0.4,
            high_risk: 0.8,
        }
    }
}

/// Overrides for requests on matching routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteOverride {
    /// Exact path, or a prefix ending in `*` (e.g. `/api/export/*`).
    pub path: String,
    /// Only this method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Log-odds added to the risk of matching requests.
    #[serde(default)]
    pub bias: f32,
    /// Floor on the masking level.
    #[serde(default)]
    pub min_level: Option<MaskLevel>,
    /// Floor on the tier.
    #[serde(default)]
    pub min_tier: Option<Tier>,
    /// Thresholds replacing the global `[levels]` for this route.
    #[serde(default)]
    pub levels: Option<LevelThresholds>,
}

/// Overrides for responses carrying a data class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClassOverride {
    /// Log-odds added when the class is present.
    #[serde(default)]
    pub bias: f32,
    /// Floor on the masking level.
    #[serde(default)]
    pub min_level: Option<MaskLevel>,
    /// Floor on the tier.
    #[serde(default)]
    pub min_tier: Option<Tier>,
    /// Thresholds that also apply (the stricter result wins).
    #[serde(default)]
    pub levels: Option<LevelThresholds>,
}

/// Stay escalated for `cooldown_secs`, then step down one level/tier every
/// `step_down_secs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Escalation {
    /// Seconds an escalated user stays at the reached level.
    pub cooldown_secs: u32,
    /// Seconds per one-step decrease after the cooldown.
    pub step_down_secs: u32,
}

impl Default for Escalation {
    fn default() -> Self {
        Self {
            cooldown_secs: 900,
            step_down_secs: 300,
        }
    }
}

/// Parameters of the context and access-pattern signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalConfig {
    /// Speed (km/h) above which travel between two requests is impossible.
    pub max_travel_kmh: f64,
    /// Jumps shorter than this (km) are ignored (geolocation noise).
    pub min_travel_km: f64,
    /// Requests before a profile is fully trusted (confidence ramps up to it).
    pub warmup_requests: u32,
    /// Only requests with a risk below this update the user's baseline
    /// (the profile adapts from behavior judged genuine).
    pub learn_below: f32,
    /// Window (s) of the per-IP failed-login and distinct-user counters.
    pub auth_window_secs: u32,
    /// Most users and IPs held in the transient per-IP table.
    pub max_tracked_ips: usize,
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            max_travel_kmh: 900.0,
            min_travel_km: 200.0,
            warmup_requests: 30,
            learn_below: 0.4,
            auth_window_secs: 600,
            max_tracked_ips: 100_000,
        }
    }
}

/// The isolation-forest population model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopulationConfig {
    /// Retrain after this many genuine-looking requests (0 disables retraining).
    pub retrain_every: u64,
    /// Recent feature vectors kept for training.
    pub window: usize,
    /// No model is trained before this many vectors were seen.
    pub min_samples: usize,
    /// Trees per forest.
    pub n_trees: usize,
    /// Rows per tree.
    pub sample_size: usize,
    /// Training seed (reproducible replays).
    pub seed: u64,
}

impl Default for PopulationConfig {
    fn default() -> Self {
        Self {
            retrain_every: 5000,
            window: 20_000,
            min_samples: 1000,
            n_trees: 100,
            sample_size: 256,
            seed: 17,
        }
    }
}

/// Weight of one external signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {
    /// Log-odds per unit of the external score (≥ 0).
    pub weight: f32,
}

/// Where locations come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct GeoConfig {
    /// A MaxMind-format (`.mmdb`) City database, consulted first.
    pub maxmind_db: Option<PathBuf>,
    /// CIDR → location table, used when the database has no answer.
    pub networks: Vec<NetworkLocation>,
}

/// One contextual rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name, shown in reasons.
    pub name: String,
    /// CEL expression evaluating to a bool.
    pub condition: String,
    /// Log-odds added to the risk when the condition holds (may be negative
    /// for allow-list rules).
    pub factor: f32,
    /// Free text for operators.
    #[serde(default)]
    pub description: Option<String>,
}

impl Policy {
    /// The built-in policy (all defaults, no rules).
    pub fn builtin() -> Self {
        Self {
            version: "builtin-1".into(),
            default_tz: default_tz(),
            fusion: Fusion::default(),
            missing: Missing::default(),
            levels: LevelThresholds::default(),
            tiers: TierThresholds::default(),
            routes: Vec::new(),
            classes: BTreeMap::new(),
            escalation: Escalation::default(),
            signals: SignalConfig::default(),
            population: PopulationConfig::default(),
            external: BTreeMap::new(),
            geo: GeoConfig::default(),
            rules: Vec::new(),
        }
    }

    /// Parses a policy from TOML text (not yet validated: see [`CompiledPolicy::compile`]).
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))
    }
}

/// A route pattern ready for matching.
#[derive(Debug, Clone)]
pub(crate) struct RouteMatcher {
    prefix: String,
    exact: bool,
    method: Option<String>,
}

impl RouteMatcher {
    pub(crate) fn matches(&self, route: &str, method: &str) -> bool {
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method)
        {
            return false;
        }
        if self.exact {
            route == self.prefix
        } else {
            route.starts_with(&self.prefix)
        }
    }
}

/// Level thresholds from `redact` to `block`.
pub(crate) type Thresholds = [Option<f32>; 5];

/// A validated policy with its rules compiled, ready to be swapped in.
#[derive(Debug)]
pub struct CompiledPolicy {
    pub(crate) source: Policy,
    pub(crate) weights: [f32; SIGNAL_COUNT],
    pub(crate) levels: [Option<f32>; 5],
    pub(crate) default_tz: chrono_tz::Tz,
    pub(crate) routes: Vec<(RouteMatcher, RouteOverride, Option<Thresholds>)>,
    pub(crate) classes: Vec<(String, ClassOverride, Option<Thresholds>)>,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) geo: GeoResolver,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn check_unit(field: &str, v: f32) -> Result<(), PolicyError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(field, format!("must be within [0, 1], got {v}")))
    }
}

fn check_levels(field: &str, t: &LevelThresholds) -> Result<[Option<f32>; 5], PolicyError> {
    let arr = t.as_array();
    let mut last: Option<(usize, f32)> = None;
    for (i, v) in arr.iter().enumerate() {
        let Some(v) = *v else { continue };
        let name = MaskLevel::ALL[i + 1].as_str();
        check_unit(&format!("{field}.{name}"), v)?;
        if let Some((j, prev)) = last
            && v < prev
        {
            return Err(invalid(
                format!("{field}.{name}"),
                format!(
                    "threshold {v} is below `{}` ({prev}); thresholds must not decrease along the ladder",
                    MaskLevel::ALL[j + 1].as_str()
                ),
            ));
        }
        last = Some((i, v));
    }
    Ok(arr)
}

impl CompiledPolicy {
    /// Validates `policy` and compiles its rules. Errors name the field or rule.
    pub fn compile(policy: Policy) -> Result<Self, PolicyError> {
        if policy.version.trim().is_empty() {
            return Err(invalid("version", "must not be empty"));
        }
        let default_tz = chrono_tz::Tz::from_str(&policy.default_tz).map_err(|_| {
            invalid(
                "default_tz",
                format!("unknown IANA time zone `{}`", policy.default_tz),
            )
        })?;
        let f = &policy.fusion;
        if !f.bias.is_finite() {
            return Err(invalid("fusion.bias", "must be finite"));
        }
        for (name, v) in [
            ("fusion.learning_rate", f.learning_rate),
            ("fusion.user_learning_rate", f.user_learning_rate),
            ("fusion.max_user_offset", f.max_user_offset),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(name, format!("must be ≥ 0, got {v}")));
            }
        }
        let mut weights = DEFAULT_WEIGHTS;
        for (name, w) in &f.weights {
            let Some(i) = SIGNAL_NAMES.iter().position(|n| n == name) else {
                return Err(invalid(
                    format!("fusion.weights.{name}"),
                    format!("unknown signal; known: {}", SIGNAL_NAMES.join(", ")),
                ));
            };
            if !(w.is_finite() && *w >= 0.0 && *w <= 50.0) {
                return Err(invalid(
                    format!("fusion.weights.{name}"),
                    format!("must be within [0, 50] (risk must grow with evidence), got {w}"),
                ));
            }
            weights[i] = *w;
        }
        let m = &policy.missing;
        check_unit("missing.no_history", m.no_history)?;
        check_unit("missing.biometric", m.biometric)?;
        check_unit("missing.geo", m.geo)?;
        check_unit("missing.population", m.population)?;
        let levels = check_levels("levels", &policy.levels)?;
        check_unit("tiers.suspicious", policy.tiers.suspicious)?;
        check_unit("tiers.high_risk", policy.tiers.high_risk)?;
        if policy.tiers.high_risk < policy.tiers.suspicious {
            return Err(invalid(
                "tiers.high_risk",
                "must not be below tiers.suspicious",
            ));
        }
        let mut routes = Vec::with_capacity(policy.routes.len());
        for (i, r) in policy.routes.iter().enumerate() {
            let field = format!("routes[{i}]");
            if !r.path.starts_with('/') {
                return Err(invalid(
                    format!("{field}.path"),
                    format!("must start with `/`, got `{}`", r.path),
                ));
            }
            let (prefix, exact) = match r.path.strip_suffix('*') {
                Some(p) => (p.to_owned(), false),
                None => (r.path.clone(), true),
            };
            if prefix.contains('*') {
                return Err(invalid(
                    format!("{field}.path"),
                    "`*` is only allowed at the end",
                ));
            }
            if !r.bias.is_finite() {
                return Err(invalid(format!("{field}.bias"), "must be finite"));
            }
            let lv = match &r.levels {
                Some(l) => Some(check_levels(&format!("{field}.levels"), l)?),
                None => None,
            };
            routes.push((
                RouteMatcher {
                    prefix,
                    exact,
                    method: r.method.clone(),
                },
                r.clone(),
                lv,
            ));
        }
        let mut classes = Vec::with_capacity(policy.classes.len());
        for (name, c) in &policy.classes {
            if !c.bias.is_finite() {
                return Err(invalid(format!("classes.{name}.bias"), "must be finite"));
            }
            let lv = match &c.levels {
                Some(l) => Some(check_levels(&format!("classes.{name}.levels"), l)?),
                None => None,
            };
            classes.push((name.clone(), c.clone(), lv));
        }
        if policy.escalation.step_down_secs == 0 {
            return Err(invalid(
                "escalation.step_down_secs",
                "must be at least 1 second",
            ));
        }
        let s = &policy.signals;
        if !(s.max_travel_kmh.is_finite() && s.max_travel_kmh > 0.0) {
            return Err(invalid("signals.max_travel_kmh", "must be > 0"));
        }
        if !(s.min_travel_km.is_finite() && s.min_travel_km >= 0.0) {
            return Err(invalid("signals.min_travel_km", "must be ≥ 0"));
        }
        check_unit("signals.learn_below", s.learn_below)?;
        if s.auth_window_secs == 0 {
            return Err(invalid("signals.auth_window_secs", "must be at least 1"));
        }
        let p = &policy.population;
        if p.n_trees == 0 || p.sample_size < 2 || p.window < 2 {
            return Err(invalid(
                "population",
                "n_trees ≥ 1, sample_size ≥ 2 and window ≥ 2 are required",
            ));
        }
        for (name, e) in &policy.external {
            if !(e.weight.is_finite() && e.weight >= 0.0) {
                return Err(invalid(
                    format!("external.{name}.weight"),
                    format!("must be ≥ 0, got {}", e.weight),
                ));
            }
        }
        let geo = GeoResolver::new(policy.geo.maxmind_db.as_deref(), &policy.geo.networks)?;
        let rules = crate::rules::compile_rules(&policy.rules)?;
        Ok(Self {
            weights,
            levels,
            default_tz,
            routes,
            classes,
            rules,
            geo,
            source: policy,
        })
    }

    /// Parses, validates and compiles TOML text.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        Self::compile(Policy::from_toml(text)?)
    }

    /// The policy as written.
    pub fn policy(&self) -> &Policy {
        &self.source
    }

    /// Names of the compiled rules, in policy order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name())
    }

    /// The version label.
    pub fn version(&self) -> &str {
        &self.source.version
    }
}

/// The highest level whose threshold `risk` reaches.
pub(crate) fn level_for(risk: f32, thresholds: &[Option<f32>; 5]) -> MaskLevel {
    let mut level = MaskLevel::None;
    for (i, t) in thresholds.iter().enumerate() {
        if let Some(t) = t
            && risk >= *t
        {
            level = MaskLevel::ALL[i + 1];
        }
    }
    level
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn err(toml: &str) -> String {
        CompiledPolicy::from_toml(toml).unwrap_err().to_string()
    }

    #[test]
    fn builtin_and_minimal_policies_compile() {
        CompiledPolicy::compile(Policy::builtin()).unwrap();
        let p = CompiledPolicy::from_toml("version = \"v1\"").unwrap();
        assert_eq!(p.version(), "v1");
    }

    #[test]
    fn config_errors_name_the_field() {
        assert!(err("").contains("version"));
        assert!(err("version = \"\"").contains("`version`"));
        assert!(err("version = \"v\"\nbogus = 1").contains("bogus"));
        let e = err("version = \"v\"\n[levels]\nredact = 0.5\nsubstitute = 0.4");
        assert!(
            e.contains("levels.substitute") && e.contains("below"),
            "{e}"
        );
        let e = err("version = \"v\"\n[levels]\nblock = 1.5");
        assert!(e.contains("levels.block"), "{e}");
        let e = err("version = \"v\"\n[fusion.weights]\nvolume = -1.0");
        assert!(e.contains("fusion.weights.volume"), "{e}");
        let e = err("version = \"v\"\n[fusion.weights]\nvolumee = 1.0");
        assert!(e.contains("unknown signal"), "{e}");
        let e = err("version = \"v\"\ndefault_tz = \"Mars/Olympus\"");
        assert!(e.contains("default_tz"), "{e}");
        let e = err("version = \"v\"\n[tiers]\nsuspicious = 0.9\nhigh_risk = 0.5");
        assert!(e.contains("tiers.high_risk"), "{e}");
        let e = err("version = \"v\"\n[[routes]]\npath = \"api/*\"");
        assert!(e.contains("routes[0].path"), "{e}");
        let e = err("version = \"v\"\n[[routes]]\npath = \"/a*b\"");
        assert!(e.contains("routes[0].path"), "{e}");
        let e = err("version = \"v\"\n[classes.ssn]\nmin_level = \"hide\"");
        assert!(e.contains("hide") || e.contains("min_level"), "{e}");
        let e = err("version = \"v\"\n[escalation]\nstep_down_secs = 0");
        assert!(e.contains("escalation.step_down_secs"), "{e}");
        let e = err("version = \"v\"\n[external.posture]\nweight = -2.0");
        assert!(e.contains("external.posture.weight"), "{e}");
        let e = err("version = \"v\"\n[[geo.networks]]\ncidr = \"10.0.0.0/33\"\ncountry = \"DE\"");
        assert!(e.contains("TOML"), "{e}");
    }

    #[test]
    fn level_thresholds_map_risk_to_the_ladder() {
        let t = check_levels("levels", &LevelThresholds::default()).unwrap();
        assert_eq!(level_for(0.0, &t), MaskLevel::None);
        assert_eq!(level_for(0.3, &t), MaskLevel::Redact);
        assert_eq!(level_for(0.69, &t), MaskLevel::Substitute);
        assert_eq!(level_for(0.99, &t), MaskLevel::Block);
        let sparse = [None, None, Some(0.5), None, Some(0.9)];
        assert_eq!(level_for(0.6, &sparse), MaskLevel::Tokenize);
        assert_eq!(level_for(0.4, &sparse), MaskLevel::None);
    }

    #[test]
    fn route_patterns_match_prefix_exact_and_method() {
        let m = RouteMatcher {
            prefix: "/api/export/".into(),
            exact: false,
            method: Some("GET".into()),
        };
        assert!(m.matches("/api/export/all", "get"));
        assert!(!m.matches("/api/export/all", "POST"));
        assert!(!m.matches("/api/other", "GET"));
        let e = RouteMatcher {
            prefix: "/login".into(),
            exact: true,
            method: None,
        };
        assert!(e.matches("/login", "POST"));
        assert!(!e.matches("/login/x", "POST"));
    }
}
