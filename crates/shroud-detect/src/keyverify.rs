//! The keystroke verifier the gateway calls: a trained [`KeyModel`]
//! (population model + fusion scorer + calibration prior) and a per-user
//! [`KeyUser`] (profile, calibration, drift budget), with `enroll`, `score`
//! and `update`.

use crate::calib::{CalibPrior, Calibration, DriftBudget, EnrollmentState};
use crate::keymodel::{Comparison, KeyPopulation, KeyProfile, ModelConfig, compare};
use crate::keystroke::{KeyWindow, slot_name};
use crate::profile::{CodecError, KeyProfileCodec};
use crate::stats::{Ewma, Logistic};
use serde::{Deserialize, Serialize};

/// Policy of enrollment and adaptation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaptConfig {
    /// Windows needed before a verdict is given.
    pub min_windows: u32,
    /// Keystrokes a window needs to count for enrollment or adaptation.
    pub min_keystrokes: u32,
    /// Only windows with an anomaly below this update the baseline.
    pub accept_below: f64,
    /// Only windows with at least this confidence update the baseline.
    pub min_confidence: f64,
    /// Updates allowed per day.
    pub max_updates_per_day: u32,
    /// Largest move of a slot mean per update, in population within-user sd.
    pub max_step_sd: f32,
    /// Largest total distance of a slot mean from its enrollment anchor, in
    /// population within-user sd.
    pub max_total_drift_sd: f32,
}

impl Default for AdaptConfig {
    fn default() -> Self {
        Self {
            min_windows: 5,
            min_keystrokes: 20,
            accept_below: 0.3,
            min_confidence: 0.5,
            max_updates_per_day: 10,
            max_step_sd: 0.03,
            max_total_drift_sd: 0.6,
        }
    }
}

/// Everything learned from OTHER users, shared by all profiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyModel {
    /// Version of this model layout.
    pub version: u16,
    /// Background model.
    pub population: KeyPopulation,
    /// Learned fusion of the per-group statistics (`None`: PLDA score only).
    pub fusion: Option<Logistic>,
    /// Calibration prior for users with few genuine scores.
    pub prior: CalibPrior,
    /// Statistical model tuning.
    pub cfg: ModelConfig,
    /// Enrollment/adaptation policy.
    pub adapt: AdaptConfig,
}

/// A per-user keystroke state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyUser {
    /// Baseline.
    pub profile: KeyProfile,
    /// Calibration of this user's genuine scores.
    pub calib: Calibration,
    /// Adaptation budget.
    pub budget: DriftBudget,
}

/// Result of scoring one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowScore {
    /// Anomaly in `[0, 1]`; 0.5 is the user's own threshold. 0 while not enrolled.
    pub anomaly: f64,
    /// Confidence in `[0, 1]` (window size and profile coverage).
    pub confidence: f64,
    /// Uncalibrated detector score (higher = more anomalous).
    pub raw: f64,
    /// Features that pushed hardest towards "someone else": (name, weight).
    pub top_features: Vec<(String, f64)>,
    /// Enrollment state of the profile.
    pub state: EnrollmentState,
}

/// Outcome of an adaptation attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The baseline moved (bounded).
    Applied,
    /// Not judged genuine enough.
    Rejected,
    /// The day's drift budget is spent.
    BudgetExhausted,
    /// Window too small to learn from.
    TooSmall,
}

/// Errors of model (de)serialization and training.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Bad bytes.
    #[error("keystroke model: {0}")]
    Codec(String),
    /// Not enough training data.
    #[error("keystroke model training: {0}")]
    Training(&'static str),
}

/// Current [`KeyModel`] layout version.
pub const KEY_MODEL_VERSION: u16 = 1;

impl KeyModel {
    /// Trains a model on other users' windows (`users[i]` = one user's windows
    /// in time order): population statistics, then a fusion scorer on
    /// same-user / different-user pairs with `enroll` enrollment windows.
    pub fn train(users: &[Vec<&KeyWindow>], enroll: usize) -> Result<Self, ModelError> {
        let cfg = ModelConfig::default();
        let population = KeyPopulation::build(users, 3);
        let (x, y) = pair_features(users, &population, enroll, &cfg);
        if y.iter().all(|&b| b) || y.iter().all(|&b| !b) {
            return Err(ModelError::Training(
                "need at least two users with more than `enroll` windows",
            ));
        }
        let fusion =
            Logistic::fit(&x, &y, 1e-3, 300).ok_or(ModelError::Training("no training pairs"))?;
        let mut g = crate::stats::Moments::default();
        for (r, &lab) in x.iter().zip(&y) {
            if lab {
                g.push(-fusion.logit(r));
            }
        }
        let prior = CalibPrior {
            mean: g.mean,
            sd: g.sd().max(1e-6),
            ..CalibPrior::default()
        };
        Ok(Self {
            version: KEY_MODEL_VERSION,
            population,
            fusion: Some(fusion),
            prior,
            cfg,
            adapt: AdaptConfig::default(),
        })
    }

    /// Serializes the model (postcard).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        postcard::to_stdvec(self).map_err(|e| ModelError::Codec(e.to_string()))
    }

    /// Deserializes a model, checking its version.
    pub fn from_bytes(b: &[u8]) -> Result<Self, ModelError> {
        let m: Self = postcard::from_bytes(b).map_err(|e| ModelError::Codec(e.to_string()))?;
        if m.version != KEY_MODEL_VERSION {
            return Err(ModelError::Codec(format!(
                "model version {} (this build reads {KEY_MODEL_VERSION})",
                m.version
            )));
        }
        Ok(m)
    }

    /// Raw score of a window against a profile and the comparison behind it.
    pub fn raw(&self, w: &KeyWindow, p: &KeyProfile) -> (f64, Comparison) {
        let c = compare(w, p, &self.population, &self.cfg);
        let raw = match &self.fusion {
            Some(f) => {
                let mut buf = Vec::with_capacity(40);
                c.features_into(&mut buf);
                -f.logit(&buf)
            }
            None => f64::from(c.plda()),
        };
        (raw, c)
    }

    /// Enrollment state of a user.
    pub fn state(&self, u: &KeyUser) -> EnrollmentState {
        if u.profile.windows >= self.adapt.min_windows {
            EnrollmentState::Enrolled
        } else {
            EnrollmentState::NeedsEnrollment {
                have: u.profile.windows,
                need: self.adapt.min_windows,
            }
        }
    }

    /// Adds an enrollment window (trusted: e.g. right after a strong login).
    /// The window is first scored against the profile so far, which feeds
    /// the user's genuine-score calibration. Returns false if the window was
    /// too small to use.
    pub fn enroll(&self, u: &mut KeyUser, w: &KeyWindow) -> bool {
        if w.keystrokes < self.adapt.min_keystrokes {
            return false;
        }
        if u.profile.windows >= 2 {
            let (raw, _) = self.raw(w, &u.profile);
            u.calib.observe(raw);
        }
        u.profile.add_window(w, &self.cfg);
        u.profile.prune(&self.cfg);
        true
    }

    /// Scores a window.
    pub fn score(&self, u: &KeyUser, w: &KeyWindow) -> WindowScore {
        let state = self.state(u);
        let (raw, c) = self.raw(w, &u.profile);
        let coverage = f64::from(c.known / c.slots.max(1.0));
        let size = 1.0 - (-f64::from(w.keystrokes) / 25.0).exp();
        let enrolled = matches!(state, EnrollmentState::Enrolled);
        let confidence = if enrolled {
            (size * (0.5 + 0.5 * coverage)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let anomaly = if enrolled {
            u.calib.anomaly(raw, &self.prior)
        } else {
            0.0
        };
        let top_features = c
            .top
            .iter()
            .filter(|(_, v)| *v > 0.0)
            .map(|(s, v)| (slot_name(*s), f64::from(*v)))
            .collect();
        WindowScore {
            anomaly,
            confidence,
            raw,
            top_features,
            state,
        }
    }

    /// Adapts the baseline with a window that was scored `s` on `day`: only
    /// windows judged genuine, at most `max_updates_per_day` a day, each slot
    /// moving at most `max_step_sd` per update and never further than
    /// `max_total_drift_sd` from its enrollment anchor.
    pub fn update(
        &self,
        u: &mut KeyUser,
        w: &KeyWindow,
        s: &WindowScore,
        day: u32,
    ) -> UpdateOutcome {
        let a = &self.adapt;
        if !matches!(s.state, EnrollmentState::Enrolled) || w.keystrokes < a.min_keystrokes {
            return UpdateOutcome::TooSmall;
        }
        if s.anomaly >= a.accept_below || s.confidence < a.min_confidence {
            return UpdateOutcome::Rejected;
        }
        if !u.budget.take(day, a.max_updates_per_day) {
            return UpdateOutcome::BudgetExhausted;
        }
        u.calib.observe(s.raw);
        let mut pi = 0;
        for ws in &w.slots {
            while pi < u.profile.slots.len() && u.profile.slots[pi].slot < ws.slot {
                pi += 1;
            }
            let Some(ps) = u.profile.slots.get_mut(pi).filter(|p| p.slot == ws.slot) else {
                continue;
            };
            let Some(pop) = self.population.get(ws.slot) else {
                continue;
            };
            let psd = pop.w.sqrt();
            let alpha = (ws.n / (ps.n + ws.n)).clamp(0.01, 0.2);
            let mut e = Ewma::new(f64::from(ps.mean), f64::from(ps.var.max(1e-6)));
            e.update(f64::from(ws.mean), f64::from(alpha), 2.5);
            let step = (e.mean as f32 - ps.mean).clamp(-a.max_step_sd * psd, a.max_step_sd * psd);
            let lim = a.max_total_drift_sd * psd;
            ps.mean = (ps.mean + step).clamp(ps.anchor - lim, ps.anchor + lim);
            ps.var = (e.var as f32).clamp(0.25 * pop.w, 4.0 * pop.w);
            ps.n = (ps.n + ws.n).min(self.cfg.max_n);
        }
        u.profile.windows = u.profile.windows.saturating_add(1);
        u.profile.keystrokes += u64::from(w.keystrokes);
        UpdateOutcome::Applied
    }
}

impl KeyUser {
    /// Serializes the user's state (profile + calibration + budget),
    /// versioned; typically 2–6 KiB.
    pub fn to_bytes(&self) -> Vec<u8> {
        let tail = postcard::to_stdvec(&(self.calib, self.budget)).unwrap_or_default();
        let mut out = KeyProfileCodec::encode(&self.profile);
        let len = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let mut framed = len.to_le_bytes().to_vec();
        framed.append(&mut out);
        framed.extend_from_slice(&tail);
        framed
    }

    /// Reads what [`KeyUser::to_bytes`] wrote.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CodecError> {
        let (len, rest) = b
            .split_first_chunk::<4>()
            .ok_or(CodecError::Malformed("truncated header".into()))?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(CodecError::Malformed("truncated profile".into()));
        }
        let profile = KeyProfileCodec::decode(&rest[..len])?;
        let (calib, budget): (Calibration, DriftBudget) =
            postcard::from_bytes(&rest[len..]).map_err(|e| CodecError::Malformed(e.to_string()))?;
        Ok(Self {
            profile,
            calib,
            budget,
        })
    }
}

/// Same-user / different-user comparison features for fusion training:
/// each user's first `enroll` windows form a profile, compared with their own
/// later windows and with up to 15 windows of other users.
pub fn pair_features(
    users: &[Vec<&KeyWindow>],
    pop: &KeyPopulation,
    enroll: usize,
    cfg: &ModelConfig,
) -> (Vec<Vec<f64>>, Vec<bool>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let n = users.len();
    for (ui, u) in users.iter().enumerate() {
        if u.len() <= enroll || n < 2 {
            continue;
        }
        let prof = KeyProfile::enroll(&u[..enroll], cfg);
        for w in &u[enroll..] {
            x.push(compare(w, &prof, pop, cfg).features());
            y.push(true);
        }
        for k in 0..15usize {
            let h = mix((ui as u64) << 32 | k as u64);
            let oi = (h % n as u64) as usize;
            if oi == ui || users[oi].is_empty() {
                continue;
            }
            let o = &users[oi];
            let w = o[((h >> 32) % o.len() as u64) as usize];
            x.push(compare(w, &prof, pop, cfg).features());
            y.push(false);
        }
    }
    (x, y)
}

/// A deterministic 64-bit mixer (splitmix64) for reproducible sampling.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
