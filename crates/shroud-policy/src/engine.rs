//! The decision engine: per request it computes every signal's evidence,
//! evaluates the rules, fuses them into one risk, maps the risk to a masking
//! level and a tier (with overrides and escalation), explains the result, and
//! updates the in-memory profiles. Also: feedback, hot policy reload, the
//! population model's retraining, and state export/import for the store.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use chrono::{DateTime, Datelike, Timelike, Utc};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use shroud_forest::{ForestConfig, IsolationForest, RecentWindow, SharedForest};

use crate::error::{FeedbackError, PolicyError, StateError};
use crate::geo::haversine_km;
use crate::policy::{CompiledPolicy, Policy, level_for};
use crate::profile::{
    CAP_APPS, CAP_CLASSES, CAP_COUNTRIES, CAP_DEVICES, CAP_ROUTES, FAIL_HALF_LIFE, Hold, IpStats,
    LastSeen, RATE_HALF_LIFE, UserProfile, VOLUME_HALF_LIFE,
};
use crate::rules::{RuleInput, evaluate};
use crate::signals::*;
use crate::types::{Enrollment, Geo, Label, MaskLevel, RequestContext, Tier};

/// One contributing signal of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Signal name (`volume`, `rule:<name>`, `external:<name>`, `route`, `class:<name>`, ...).
    pub signal: Cow<'static, str>,
    /// The raw measurement behind it (km/h, records, z-score, forest score, ...).
    pub value: f64,
    /// Evidence in [0, 1] (1 for a matched rule).
    pub evidence: f32,
    /// Log-odds it added to the risk.
    pub contribution: f32,
    /// Extra context (e.g. the country, the strongest biometric feature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The engine's verdict on one request, ready for the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Unique id (per engine), for [`Engine::feedback`].
    pub id: u64,
    /// The user (or API key) it concerns.
    pub user: String,
    /// Request time, as given to [`Engine::decide`].
    pub ts: DateTime<Utc>,
    /// Fused risk in [0, 1].
    pub risk: f32,
    /// Masking level to apply.
    pub level: MaskLevel,
    /// Routing tier.
    pub tier: Tier,
    /// Strongest contributors, largest first (at most five).
    pub reasons: Vec<Reason>,
    /// Signals that could not be computed and were replaced by their prior.
    pub missing: Vec<Cow<'static, str>>,
    /// Whether level or tier is held up by an earlier escalation.
    pub held: bool,
    /// Rules whose evaluation failed on this request (treated as not matched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_errors: Vec<String>,
    /// Version label of the policy that decided.
    pub policy_version: String,
}

/// What a feedback label changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackOutcome {
    /// The user's log-odds offset after the update.
    pub user_offset: f32,
    /// Largest absolute change applied to a global weight.
    pub max_weight_change: f32,
}

/// Engine construction options that are deployment, not policy, choices.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Retrain the population model on a background thread (the gateway);
    /// `false` retrains inline so replays are deterministic.
    pub background_retrain: bool,
    /// Past decisions remembered for feedback.
    pub feedback_memory: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            background_retrain: true,
            feedback_memory: 100_000,
        }
    }
}

struct Pending {
    id: u64,
    user: String,
    evidence: [f32; SIGNAL_COUNT],
    risk: f32,
    labelled: bool,
}

const SHARDS: usize = 32;
const STATE_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateBytes {
    format: u32,
    profiles: Vec<(String, UserProfile)>,
    weight_delta: Vec<f32>,
    forest: Option<IsolationForest>,
    next_id: u64,
}

/// The risk and policy engine. Cheap to share (`Arc<Engine>`); every method
/// takes `&self`.
pub struct Engine {
    policy: ArcSwap<CompiledPolicy>,
    shards: Vec<Mutex<HashMap<String, UserProfile>>>,
    ips: Vec<Mutex<HashMap<IpAddr, IpStats>>>,
    forest: Arc<SharedForest>,
    window: Mutex<RecentWindow>,
    learned_total: AtomicU64,
    retraining: Arc<AtomicBool>,
    weight_delta: RwLock<[f32; SIGNAL_COUNT]>,
    pending: Mutex<VecDeque<Pending>>,
    next_id: AtomicU64,
    options: EngineOptions,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("policy_version", &self.policy.load().version())
            .field("forest_generation", &self.forest.generation())
            .finish_non_exhaustive()
    }
}

fn shard_of(key: &[u8], n: usize) -> usize {
    (fnv1a(&[key]) % n as u64) as usize
}

/// Per-request working values (kept on the stack).
struct Work {
    e: [f32; SIGNAL_COUNT],
    raw: [f64; SIGNAL_COUNT],
    missing: Vec<Cow<'static, str>>,
}

impl Engine {
    /// An engine with `policy` and default options.
    pub fn new(policy: CompiledPolicy) -> Self {
        Self::with_options(policy, EngineOptions::default())
    }

    /// An engine with `policy` and `options`.
    pub fn with_options(policy: CompiledPolicy, options: EngineOptions) -> Self {
        let window = RecentWindow::new(POPULATION_DIM, policy.source.population.window);
        Self {
            policy: ArcSwap::from_pointee(policy),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            ips: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            forest: Arc::new(SharedForest::new()),
            window: Mutex::new(window),
            learned_total: AtomicU64::new(0),
            retraining: Arc::new(AtomicBool::new(false)),
            weight_delta: RwLock::new([0.0; SIGNAL_COUNT]),
            pending: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
            options,
        }
    }

    /// An engine with the built-in policy.
    pub fn builtin() -> Result<Self, PolicyError> {
        Ok(Self::new(CompiledPolicy::compile(Policy::builtin())?))
    }

    /// Swaps in a new policy atomically: requests in flight finish with the
    /// old one, the next see the new one. Profiles are kept.
    pub fn reload(&self, policy: CompiledPolicy) {
        self.policy.store(Arc::new(policy));
    }

    /// Parses, validates and swaps in TOML text; on error the old policy stays.
    pub fn reload_toml(&self, text: &str) -> Result<(), PolicyError> {
        self.reload(CompiledPolicy::from_toml(text)?);
        Ok(())
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<CompiledPolicy> {
        self.policy.load_full()
    }

    /// The population model slot (for external retraining or inspection).
    pub fn population_model(&self) -> &Arc<SharedForest> {
        &self.forest
    }

    /// A copy of one user's profile, if any.
    pub fn profile(&self, user: &str) -> Option<UserProfile> {
        self.shards[shard_of(user.as_bytes(), SHARDS)]
            .lock()
            .get(user)
            .cloned()
    }

    /// Forgets a user entirely (erasure). Returns whether a profile existed.
    pub fn forget(&self, user: &str) -> bool {
        self.shards[shard_of(user.as_bytes(), SHARDS)]
            .lock()
            .remove(user)
            .is_some()
    }

    /// Decides on one request at time `now` (taken from the caller, never
    /// the wall clock, so replays are exact). No I/O.
    pub fn decide(&self, ctx: &RequestContext<'_>, now: DateTime<Utc>) -> Decision {
        let policy = self.policy.load();
        let p: &CompiledPolicy = &policy;
        let cfg = &p.source;
        let t = now.timestamp();
        let mut w = Work {
            e: [0.0; SIGNAL_COUNT],
            raw: [0.0; SIGNAL_COUNT],
            missing: Vec::new(),
        };

        // Location: given by the caller, else looked up.
        let looked_up: Option<Geo>;
        let geo: Option<&Geo> = match ctx.geo {
            Some(g) => Some(g),
            None => {
                looked_up = ctx.ip.and_then(|ip| p.geo.lookup(ip));
                looked_up.as_ref()
            }
        };

        // Per-IP counters (credential stuffing spreads over many users).
        let is_fail = matches!(ctx.status, Some(401 | 403));
        let user_hash = fnv1a(&[ctx.user.as_bytes()]);
        let (ip_failures, ip_users) = match ctx.ip {
            Some(ip) => self.touch_ip(ip, user_hash, is_fail, t, cfg),
            None => (0.0, 0),
        };

        let shard = &self.shards[shard_of(ctx.user.as_bytes(), SHARDS)];
        let mut guard = shard.lock();
        if !guard.contains_key(ctx.user) {
            guard.insert(ctx.user.to_owned(), UserProfile::default());
        }
        let Some(prof) = guard.get_mut(ctx.user) else {
            // Unreachable in practice; fail closed rather than panic.
            return self.fail_closed(ctx, now, p);
        };
        prof.seen += 1;

        let tz = ctx
            .tz
            .or_else(|| {
                prof.tz
                    .as_deref()
                    .and_then(|s| chrono_tz::Tz::from_str(s).ok())
            })
            .unwrap_or(p.default_tz);
        if ctx.tz.is_none() && prof.tz.is_none() {
            w.missing.push(Cow::Borrowed("time_zone"));
        }
        let local = now.with_timezone(&tz);
        let hour = local.hour();
        let dow = local.weekday().num_days_from_monday();
        let how = (dow * 24 + hour) as usize;

        let warm = cfg.signals.warmup_requests.max(1) as f32;
        let conf = (prof.learned as f32 / warm).min(1.0);
        let prior = cfg.missing.no_history;
        if conf < 1.0 {
            w.missing.push(Cow::Borrowed("profile_history"));
        }
        // Shrinks evidence toward the no-history prior while the profile is young.
        let blend = |e: f32| conf * e + (1.0 - conf) * prior;

        // Time of day / week.
        match prof.time_evidence(how) {
            Some(e) => w.e[TIME] = blend(e),
            None => w.e[TIME] = prior,
        }
        w.raw[TIME] = f64::from(hour);

        // Geography and travel.
        let mut new_country = false;
        let mut travel_kmh = 0.0f64;
        match geo {
            Some(g) => {
                new_country = prof.countries.count(&g.country) == 0;
                w.e[NEW_COUNTRY] = if prof.learned == 0 {
                    prior
                } else {
                    blend(if new_country { 1.0 } else { 0.0 })
                };
                if let (Some(lat), Some(lon), Some(last)) = (g.lat, g.lon, prof.last_geo) {
                    let km = haversine_km(last.lat, last.lon, lat, lon);
                    // Clock skew or same-second requests: at least a minute apart.
                    let hours = ((t - last.at).max(60) as f64) / 3600.0;
                    travel_kmh = km / hours;
                    if km >= cfg.signals.min_travel_km {
                        w.e[TRAVEL] =
                            unit(((travel_kmh / cfg.signals.max_travel_kmh - 1.0) / 2.0) as f32);
                    }
                }
                w.raw[NEW_COUNTRY] = if new_country { 1.0 } else { 0.0 };
                w.raw[TRAVEL] = travel_kmh;
            }
            None => {
                w.missing.push(Cow::Borrowed("geo"));
                w.e[NEW_COUNTRY] = cfg.missing.geo;
                w.e[TRAVEL] = cfg.missing.geo;
            }
        }

        // Device, app, route, data classes.
        let device = fnv1a(&[ctx.user_agent.as_bytes(), ctx.client_hints.as_bytes()]);
        let device_new = prof.devices.count(&device) == 0;
        w.e[NEW_DEVICE] = blend(if device_new { 1.0 } else { 0.0 });
        w.raw[NEW_DEVICE] = if device_new { 1.0 } else { 0.0 };
        let app = fnv1a(&[ctx.app.as_bytes()]);
        let app_new = prof.apps.count(&app) == 0;
        w.e[NEW_APP] = blend(if app_new { 1.0 } else { 0.0 });
        w.raw[NEW_APP] = if app_new { 1.0 } else { 0.0 };
        let route = route_hash(ctx.method, ctx.route);
        let route_new = prof.routes.count(&route) == 0;
        w.e[NEW_ROUTE] = blend(if route_new { 1.0 } else { 0.0 });
        w.raw[NEW_ROUTE] = if route_new { 1.0 } else { 0.0 };
        let mut new_classes = 0usize;
        for c in ctx.classes {
            if prof.classes.count(&fnv1a(&[c.as_bytes()])) == 0 {
                new_classes += 1;
            }
        }
        w.e[NEW_CLASS] = blend(if new_classes > 0 { 1.0 } else { 0.0 });
        w.raw[NEW_CLASS] = new_classes as f64;

        // Volume per request and per hour, request rate.
        let rate_now = prof.rate.add(t, RATE_HALF_LIFE, 1.0);
        let records = ctx.records.unwrap_or(0);
        let vol_now = prof.volume.add(t, VOLUME_HALF_LIFE, records as f32);
        let lr = (records as f32).ln_1p();
        let lh = vol_now.ln_1p();
        match ctx.records {
            Some(_) if prof.records.n > 0 => {
                let z = prof.records.z(lr, 0.5);
                w.e[VOLUME] = blend(unit((z - 2.0) / 3.0));
                w.raw[VOLUME] = f64::from(records);
                let zh = prof.hourly.z(lh, 0.5);
                w.e[HOURLY] = blend(unit((zh - 2.0) / 3.0));
                w.raw[HOURLY] = f64::from(vol_now);
            }
            Some(_) => {
                w.e[VOLUME] = prior;
                w.e[HOURLY] = prior;
                w.raw[VOLUME] = f64::from(records);
                w.raw[HOURLY] = f64::from(vol_now);
            }
            None => {
                w.missing.push(Cow::Borrowed("records"));
                w.e[VOLUME] = prior;
                w.e[HOURLY] = prior;
            }
        }
        let rate_ratio = rate_now / (prof.rate_base.mean.max(0.0) + 3.0);
        w.e[RATE] = if prof.rate_base.n > 0 {
            blend(unit((rate_ratio - 1.5) / 4.0))
        } else {
            prior
        };
        w.raw[RATE] = f64::from(rate_now);

        // Authentication failures: per IP across users, and for this user.
        let user_fail = prof
            .failures
            .add(t, FAIL_HALF_LIFE, if is_fail { 1.0 } else { 0.0 });
        let spread = unit((ip_users as f32 - 3.0) / 7.0) * unit(ip_failures / 5.0);
        let sheer = unit(ip_failures / 20.0);
        let user_side = unit((user_fail - 2.0) / 5.0);
        w.e[AUTH] = spread.max(sheer).max(user_side);
        w.raw[AUTH] = f64::from(ip_failures);

        // Population model.
        let fv = [
            (hour as f32 * std::f32::consts::TAU / 24.0).sin(),
            (hour as f32 * std::f32::consts::TAU / 24.0).cos(),
            if dow >= 5 { 1.0 } else { 0.0 },
            lr,
            ctx.classes.len() as f32,
            if ctx.method.eq_ignore_ascii_case("GET") || ctx.method.eq_ignore_ascii_case("HEAD") {
                0.0
            } else {
                1.0
            },
            if is_fail { 1.0 } else { 0.0 },
            rate_now.ln_1p(),
            (ip_users as f32).ln_1p(),
            lh,
        ];
        match self.forest.score(&fv) {
            Some(Ok(s)) => {
                w.e[POPULATION] = unit((s - 0.45) / 0.25);
                w.raw[POPULATION] = f64::from(s);
            }
            _ => {
                w.missing.push(Cow::Borrowed("population_model"));
                w.e[POPULATION] = cfg.missing.population;
            }
        }

        // Biometrics: missing or not enrolled is explicit, never "zero risk".
        let mut bio_detail = None;
        match &ctx.biometric {
            Some(b) if b.enrollment == Enrollment::Enrolled && b.score.is_finite() => {
                let c = unit(b.confidence);
                w.e[BIOMETRIC] = c * unit(b.score) + (1.0 - c) * cfg.missing.biometric;
                w.raw[BIOMETRIC] = f64::from(b.score);
                bio_detail = b.top_features.first().map(|f| f.name.to_owned());
            }
            Some(b) if b.enrollment == Enrollment::Enrolled => {
                w.missing.push(Cow::Borrowed("biometric:invalid_score"));
                w.e[BIOMETRIC] = cfg.missing.biometric;
            }
            Some(b) => {
                w.missing.push(Cow::Borrowed(match b.enrollment {
                    Enrollment::Enrolling => "biometric:enrolling",
                    _ => "biometric:not_enrolled",
                }));
                w.e[BIOMETRIC] = cfg.missing.biometric;
            }
            None => {
                w.missing.push(Cow::Borrowed("biometric:no_telemetry"));
                w.e[BIOMETRIC] = cfg.missing.biometric;
            }
        }

        // Rules.
        let p99 = (prof.records.mean + 2.33 * prof.records.var.sqrt()).exp_m1();
        let outcome = if p.rules.is_empty() {
            Default::default()
        } else {
            let input = RuleInput {
                hour,
                minute: local.minute(),
                dow,
                method: ctx.method,
                route: ctx.route,
                app: ctx.app,
                status: ctx.status.map_or(-1, i64::from),
                ip: ctx.ip,
                user: ctx.user,
                geo_known: geo.is_some(),
                country: geo.map_or("", |g| g.country.as_str()),
                city: geo.and_then(|g| g.city.as_deref()).unwrap_or(""),
                lat: geo.and_then(|g| g.lat).unwrap_or(0.0),
                lon: geo.and_then(|g| g.lon).unwrap_or(0.0),
                travel_kmh,
                new_country,
                device_new,
                device_fp: device,
                profile_requests: prof.learned,
                home_country: prof.home_country().unwrap_or(""),
                records_p50: f64::from(prof.records.mean.exp_m1()),
                records_p99: f64::from(p99),
                records_hour: f64::from(prof.hourly.mean.exp_m1()),
                records: ctx.records.map_or(-1, i64::from),
                classes: ctx.classes,
                bio_available: ctx.biometric.is_some(),
                bio_enrolled: ctx
                    .biometric
                    .is_some_and(|b| b.enrollment == Enrollment::Enrolled),
                bio_score: ctx.biometric.map_or(0.0, |b| f64::from(b.score)),
                bio_confidence: ctx.biometric.map_or(0.0, |b| f64::from(b.confidence)),
                signals: w.e,
                ip_failures: f64::from(ip_failures),
                ip_users: ip_users as i64,
            };
            evaluate(&p.rules, &input)
        };

        // Fusion.
        let delta = *self.weight_delta.read();
        let mut eff = p.weights;
        for (wt, d) in eff.iter_mut().zip(delta) {
            *wt = (*wt + d).max(0.0);
        }
        let mut contrib = [0.0f32; SIGNAL_COUNT];
        let mut z = cfg.fusion.bias + prof.offset;
        z += contributions(&eff, &w.e, &mut contrib);
        let mut extra: Vec<Reason> = Vec::new();
        for &i in &outcome.matched {
            let r = &p.rules[i];
            z += r.factor;
            extra.push(Reason {
                signal: Cow::Owned(format!("rule:{}", r.name)),
                value: 1.0,
                evidence: 1.0,
                contribution: r.factor,
                detail: None,
            });
        }
        for sig in ctx.external {
            match cfg.external.get(sig.name) {
                Some(ec) if sig.score.is_finite() => {
                    let c = ec.weight * unit(sig.score);
                    z += c;
                    extra.push(Reason {
                        signal: Cow::Owned(format!("external:{}", sig.name)),
                        value: f64::from(sig.score),
                        evidence: unit(sig.score),
                        contribution: c,
                        detail: None,
                    });
                }
                _ => w.missing.push(Cow::Owned(format!("external:{}", sig.name))),
            }
        }
        let route_cfg = p
            .routes
            .iter()
            .find(|(m, _, _)| m.matches(ctx.route, ctx.method));
        if let Some((_, r, _)) = route_cfg
            && r.bias != 0.0
        {
            z += r.bias;
            extra.push(Reason {
                signal: Cow::Owned(format!("route:{}", r.path)),
                value: 1.0,
                evidence: 1.0,
                contribution: r.bias,
                detail: None,
            });
        }
        for (name, c, _) in &p.classes {
            if c.bias != 0.0 && ctx.classes.iter().any(|x| x == name) {
                z += c.bias;
                extra.push(Reason {
                    signal: Cow::Owned(format!("class:{name}")),
                    value: 1.0,
                    evidence: 1.0,
                    contribution: c.bias,
                    detail: None,
                });
            }
        }
        let risk = unit(sigmoid(z));

        // Level and tier from thresholds, overrides and floors.
        let thresholds = route_cfg
            .and_then(|(_, _, lv)| lv.as_ref())
            .unwrap_or(&p.levels);
        let mut level = level_for(risk, thresholds);
        let mut tier = if risk >= cfg.tiers.high_risk {
            Tier::HighRisk
        } else if risk >= cfg.tiers.suspicious {
            Tier::Suspicious
        } else {
            Tier::Normal
        };
        // Escalation: stay up for the cooldown, then step down gradually.
        let mut held = false;
        let (hold_level, hold_tier) = match prof.hold {
            Some(h) => {
                let elapsed = (t - h.since).max(0);
                let cd = i64::from(cfg.escalation.cooldown_secs);
                if elapsed < cd {
                    (h.level, h.tier)
                } else {
                    let steps =
                        1 + ((elapsed - cd) / i64::from(cfg.escalation.step_down_secs)) as usize;
                    (h.level.lowered(steps), h.tier.lowered(steps))
                }
            }
            None => (MaskLevel::None, Tier::Normal),
        };
        if prof.hold.is_some() && hold_level == MaskLevel::None && hold_tier == Tier::Normal {
            prof.hold = None;
        }
        let escalating = level > hold_level || tier > hold_tier;
        let reaffirming = level >= hold_level
            && tier >= hold_tier
            && (level > MaskLevel::None || tier > Tier::Normal);
        if escalating || reaffirming {
            prof.hold = Some(Hold {
                level: level.max(hold_level),
                tier: tier.max(hold_tier),
                since: t,
            });
        }
        if hold_level > level || hold_tier > tier {
            held = true;
            level = level.max(hold_level);
            tier = tier.max(hold_tier);
        }
        // Static floors (not held: they come back by themselves).
        if let Some((_, r, _)) = route_cfg {
            level = level.max(r.min_level.unwrap_or_default());
            tier = tier.max(r.min_tier.unwrap_or_default());
        }
        for (name, c, lv) in &p.classes {
            if ctx.classes.iter().any(|x| x == name) {
                level = level.max(c.min_level.unwrap_or_default());
                tier = tier.max(c.min_tier.unwrap_or_default());
                if let Some(lv) = lv {
                    level = level.max(level_for(risk, lv));
                }
            }
        }

        // Learn: live state always, the baseline only from genuine-looking requests.
        if let Some((lat, lon)) = geo.and_then(|g| g.lat.zip(g.lon))
            && prof.last_geo.is_none_or(|l| l.at <= t)
        {
            prof.last_geo = Some(LastSeen { lat, lon, at: t });
        }
        prof.last_at = Some(prof.last_at.map_or(t, |l| l.max(t)));
        if let Some(tz) = ctx.tz
            && prof.tz.as_deref() != Some(tz.name())
        {
            prof.tz = Some(tz.name().to_owned());
        }
        let learn = risk < cfg.signals.learn_below || (prof.learned as f32) < warm;
        if learn {
            prof.learned += 1;
            prof.hist_add(how);
            if let Some(g) = geo {
                prof.countries.add(&g.country, CAP_COUNTRIES);
            }
            prof.devices.add(&device, CAP_DEVICES);
            prof.apps.add(&app, CAP_APPS);
            prof.routes.add(&route, CAP_ROUTES);
            for c in ctx.classes {
                prof.classes.add(&fnv1a(&[c.as_bytes()]), CAP_CLASSES);
            }
            if ctx.records.is_some() {
                prof.records.update(lr, 0.02);
                prof.hourly.update(lh, 0.02);
            }
            prof.rate_base.update(rate_now, 0.02);
        }
        let offset = prof.offset;
        drop(guard);
        if learn {
            self.learn_population(&fv, cfg);
        }

        // Explain.
        let mut reasons: Vec<Reason> = Vec::with_capacity(8);
        for i in 0..SIGNAL_COUNT {
            if contrib[i] > 0.05 {
                reasons.push(Reason {
                    signal: Cow::Borrowed(SIGNAL_NAMES[i]),
                    value: w.raw[i],
                    evidence: w.e[i],
                    contribution: contrib[i],
                    detail: match i {
                        NEW_COUNTRY => geo.map(|g| g.country.clone()),
                        BIOMETRIC => bio_detail.clone(),
                        _ => None,
                    },
                });
            }
        }
        if offset.abs() > 0.05 {
            reasons.push(Reason {
                signal: Cow::Borrowed("feedback_offset"),
                value: f64::from(offset),
                evidence: 0.0,
                contribution: offset,
                detail: None,
            });
        }
        reasons.extend(extra);
        reasons.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        reasons.truncate(5);

        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.remember(Pending {
            id,
            user: ctx.user.to_owned(),
            evidence: w.e,
            risk,
            labelled: false,
        });
        Decision {
            id,
            user: ctx.user.to_owned(),
            ts: now,
            risk,
            level,
            tier,
            reasons,
            missing: w.missing,
            held,
            rule_errors: outcome
                .errors
                .iter()
                .filter_map(|i| p.rules.get(*i).map(|r| r.name.to_string()))
                .collect(),
            policy_version: cfg.version.clone(),
        }
    }

    /// A maximal decision for the impossible case where the profile table
    /// misbehaves: fail closed.
    fn fail_closed(
        &self,
        ctx: &RequestContext<'_>,
        now: DateTime<Utc>,
        p: &CompiledPolicy,
    ) -> Decision {
        Decision {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            user: ctx.user.to_owned(),
            ts: now,
            risk: 1.0,
            level: MaskLevel::Block,
            tier: Tier::HighRisk,
            reasons: Vec::new(),
            missing: vec![Cow::Borrowed("profile_table")],
            held: false,
            rule_errors: Vec::new(),
            policy_version: p.source.version.clone(),
        }
    }

    fn touch_ip(&self, ip: IpAddr, user: u64, is_fail: bool, t: i64, cfg: &Policy) -> (f32, usize) {
        let key = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let mut map = self.ips[shard_of(&key, SHARDS)].lock();
        let window = i64::from(cfg.signals.auth_window_secs);
        let cap = (cfg.signals.max_tracked_ips / SHARDS).max(16);
        if map.len() >= cap && !map.contains_key(&ip) {
            // Forget quiet addresses first; if all are busy, start over rather
            // than grow without bound (an attacker could spray addresses).
            map.retain(|_, s| t - s.last <= window);
            if map.len() >= cap {
                map.clear();
            }
        }
        let s = map.entry(ip).or_default();
        let half = cfg.signals.auth_window_secs as f32 / 2.0;
        let fails = s.failures.add(t, half, if is_fail { 1.0 } else { 0.0 });
        s.requests.add(t, half, 1.0);
        let users = s.touch_user(user, t, window);
        (fails, users)
    }

    fn learn_population(&self, fv: &[f32; POPULATION_DIM], cfg: &Policy) {
        let pc = &cfg.population;
        let (n, due) = {
            let mut win = self.window.lock();
            win.push(fv);
            let n = self.learned_total.fetch_add(1, Ordering::Relaxed) + 1;
            let due = win.len() >= pc.min_samples
                && (n == pc.min_samples as u64
                    || (pc.retrain_every > 0 && n.is_multiple_of(pc.retrain_every)));
            (n, due)
        };
        if !due {
            return;
        }
        let data = self.window.lock().snapshot();
        let fc = ForestConfig {
            n_trees: pc.n_trees,
            sample_size: pc.sample_size,
            max_depth: None,
            seed: pc.seed ^ n,
        };
        if self.options.background_retrain {
            if self.retraining.swap(true, Ordering::AcqRel) {
                return; // one retrain at a time
            }
            let slot = Arc::clone(&self.forest);
            let flag = Arc::clone(&self.retraining);
            std::thread::spawn(move || {
                if let Ok(f) = IsolationForest::fit(&data, POPULATION_DIM, &fc) {
                    slot.store(f);
                }
                flag.store(false, Ordering::Release);
            });
        } else if let Ok(f) = IsolationForest::fit(&data, POPULATION_DIM, &fc) {
            self.forest.store(f);
        }
    }

    fn remember(&self, p: Pending) {
        let mut q = self.pending.lock();
        while q.len() >= self.options.feedback_memory.max(1) {
            q.pop_front();
        }
        q.push_back(p);
    }

    /// Applies a security system's label to a past decision: one step of
    /// logistic-regression gradient descent on that user's offset and on the
    /// global weights (kept ≥ 0). A confirmed false positive therefore
    /// lowers the same user's next risk for the same behavior.
    pub fn feedback(
        &self,
        decision_id: u64,
        label: Label,
    ) -> Result<FeedbackOutcome, FeedbackError> {
        let (user, evidence, risk) = {
            let mut q = self.pending.lock();
            // Ids are increasing: binary search the retained window.
            let idx = q
                .binary_search_by_key(&decision_id, |p| p.id)
                .map_err(|_| FeedbackError::UnknownDecision(decision_id))?;
            let Some(p) = q.get_mut(idx) else {
                return Err(FeedbackError::UnknownDecision(decision_id));
            };
            if p.labelled {
                return Err(FeedbackError::AlreadyLabelled(decision_id));
            }
            p.labelled = true;
            (p.user.clone(), p.evidence, p.risk)
        };
        let policy = self.policy.load();
        let f = &policy.source.fusion;
        let y = match label {
            Label::ConfirmedFraud => 1.0,
            Label::ConfirmedGenuine => 0.0,
        };
        let grad = risk - y;
        let mut max_change = 0.0f32;
        {
            let mut d = self.weight_delta.write();
            for i in 0..SIGNAL_COUNT {
                let before = d[i];
                let next = before - f.learning_rate * grad * evidence[i];
                // Keep the effective weight ≥ 0: risk must grow with evidence.
                d[i] = next.max(-policy.weights[i]);
                max_change = max_change.max((d[i] - before).abs());
            }
        }
        let mut shard = self.shards[shard_of(user.as_bytes(), SHARDS)].lock();
        let prof = shard.entry(user).or_default();
        prof.offset = (prof.offset - f.user_learning_rate * grad)
            .clamp(-f.max_user_offset, f.max_user_offset);
        Ok(FeedbackOutcome {
            user_offset: prof.offset,
            max_weight_change: max_change,
        })
    }

    /// Serializes profiles, learned weights and the population model (for
    /// the store). Transient per-IP counters and pending feedback are not kept.
    pub fn export_state(&self) -> Result<Vec<u8>, StateError> {
        let mut profiles = Vec::new();
        for s in &self.shards {
            let g = s.lock();
            profiles.extend(g.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        profiles.sort_by(|a, b| a.0.cmp(&b.0));
        let state = StateBytes {
            format: STATE_FORMAT,
            profiles,
            weight_delta: self.weight_delta.read().to_vec(),
            forest: self.forest.load().map(|f| (*f).clone()),
            next_id: self.next_id.load(Ordering::Relaxed),
        };
        postcard::to_stdvec(&state).map_err(|e| StateError::Encode(e.to_string()))
    }

    /// Replaces profiles, learned weights and the model with exported bytes.
    /// On error nothing is changed.
    pub fn import_state(&self, bytes: &[u8]) -> Result<usize, StateError> {
        let state: StateBytes =
            postcard::from_bytes(bytes).map_err(|e| StateError::Decode(e.to_string()))?;
        if state.format != STATE_FORMAT {
            return Err(StateError::Version {
                found: state.format,
                expected: STATE_FORMAT,
            });
        }
        if state.weight_delta.len() != SIGNAL_COUNT
            || state.weight_delta.iter().any(|v| !v.is_finite())
        {
            return Err(StateError::Decode("weight table is malformed".into()));
        }
        if let Some(f) = &state.forest
            && f.dim() != POPULATION_DIM
        {
            return Err(StateError::Decode(format!(
                "population model has {} features, expected {POPULATION_DIM}",
                f.dim()
            )));
        }
        let n = state.profiles.len();
        for s in &self.shards {
            s.lock().clear();
        }
        for (user, prof) in state.profiles {
            self.shards[shard_of(user.as_bytes(), SHARDS)]
                .lock()
                .insert(user, prof);
        }
        let mut d = self.weight_delta.write();
        for (i, v) in state.weight_delta.iter().enumerate() {
            d[i] = *v;
        }
        if let Some(f) = state.forest {
            self.forest.store(f);
        }
        self.next_id.fetch_max(state.next_id, Ordering::Relaxed);
        Ok(n)
    }
}
