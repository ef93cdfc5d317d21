//! Keystroke population (background) model, per-user keystroke profiles, and
//! the detectors that compare a window with a profile.
//!
//! The statistical core is a per-slot two-covariance model (a diagonal PLDA):
//! across users a slot's user-mean is `N(mu, B)`; within a user single values
//! are `N(user_mean, W_u)`. Given the user's enrollment values and a test
//! window, the log-likelihood ratio "same user" vs "someone from the
//! population" is exact under that model, shrinks automatically towards the
//! population when the user has few samples, and is already normalized by how
//! everyone types (the background model). Simpler detectors (scaled Manhattan,
//! one-class diagonal Mahalanobis) reuse the same aligned statistics.

use crate::keystroke::{KIND_GROUPS, KeyWindow, SlotKind, SlotStat};
use crate::stats::Moments;
use serde::{Deserialize, Serialize};

/// Population statistics of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PopSlot {
    /// Slot id.
    pub slot: u32,
    /// Mean of user means.
    pub mu: f32,
    /// Within-user variance of single values.
    pub w: f32,
    /// Between-user variance of user means.
    pub b: f32,
}

/// The background model: per-slot statistics over many users (never the user
/// being verified).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyPopulation {
    /// Sorted by slot id.
    pub slots: Vec<PopSlot>,
    /// Number of users it was built from.
    pub users: u32,
}

impl KeyPopulation {
    /// Builds the model from users' windows (one inner vec per user). Slots
    /// seen for fewer than `min_users` users are left out.
    pub fn build(users: &[Vec<&KeyWindow>], min_users: usize) -> Self {
        use std::collections::BTreeMap;
        // slot -> (per-user moments of values)
        let mut per: BTreeMap<u32, Vec<Moments>> = BTreeMap::new();
        for wins in users {
            let mut mine: BTreeMap<u32, Moments> = BTreeMap::new();
            for w in wins {
                for s in &w.slots {
                    mine.entry(s.slot).or_default().merge(&to_moments(s));
                }
            }
            for (k, m) in mine {
                per.entry(k).or_default().push(m);
            }
        }
        let mut slots = Vec::with_capacity(per.len());
        for (slot, ms) in per {
            if ms.len() < min_users.max(2) {
                continue;
            }
            let (mut m2, mut dof) = (0.0, 0.0);
            let mut means = Moments::default();
            let mut inv_n = 0.0;
            for m in &ms {
                m2 += m.m2;
                dof += (m.n - 1.0).max(0.0);
                means.push(m.mean);
                inv_n += 1.0 / m.n;
            }
            let w = if dof >= 2.0 {
                m2 / dof
            } else {
                means.var().max(1e-4)
            };
            // Between-user variance: variance of user means minus the part the
            // within-user noise explains (method of moments), floored.
            let b = (means.var() - w * inv_n / ms.len() as f64)
                .max(0.05 * means.var())
                .max(1e-5);
            slots.push(PopSlot {
                slot,
                mu: means.mean as f32,
                w: w.max(1e-4) as f32,
                b: b as f32,
            });
        }
        Self {
            slots,
            users: users.len() as u32,
        }
    }

    /// Statistics of a slot.
    pub fn get(&self, slot: u32) -> Option<&PopSlot> {
        self.slots
            .binary_search_by_key(&slot, |p| p.slot)
            .ok()
            .map(|i| &self.slots[i])
    }
}

fn to_moments(s: &SlotStat) -> Moments {
    Moments {
        n: f64::from(s.n),
        mean: f64::from(s.mean),
        m2: f64::from(s.m2),
    }
}

/// A user's statistics for one slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileSlot {
    /// Slot id.
    pub slot: u32,
    /// Effective number of values (capped so adaptation keeps working).
    pub n: f32,
    /// Mean.
    pub mean: f32,
    /// Variance of single values.
    pub var: f32,
    /// Mean at enrollment: adaptation may never move `mean` further than a
    /// bounded distance from it (anti-poisoning).
    pub anchor: f32,
}

/// Tuning of the statistical model (shrinkage and caps).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Pseudo-count pulling a user's variance towards the population's.
    pub var_prior: f32,
    /// Cap of a slot's effective count in a profile.
    pub max_n: f32,
    /// Cap of |z| in the scaled-Manhattan detector.
    pub z_cap: f32,
    /// Cap of one slot's |LLR| contribution (robustness to a single outlier).
    pub llr_cap: f32,
    /// Maximum number of slots kept in a profile (compactness).
    pub max_slots: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            var_prior: 4.0,
            max_n: 250.0,
            z_cap: 3.0,
            llr_cap: 8.0,
            max_slots: 700,
        }
    }
}

/// A user's keystroke baseline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyProfile {
    /// Sorted by slot id.
    pub slots: Vec<ProfileSlot>,
    /// Number of windows enrolled (or accepted by adaptation).
    pub windows: u32,
    /// Number of keystrokes seen.
    pub keystrokes: u64,
}

impl KeyProfile {
    /// Builds a profile from enrollment windows.
    pub fn enroll(windows: &[&KeyWindow], cfg: &ModelConfig) -> Self {
        let mut p = Self::default();
        for w in windows {
            p.add_window(w, cfg);
        }
        p.prune(cfg);
        p
    }

    /// Pools one more window into the profile (enrollment: no drift bound,
    /// the anchor follows the mean).
    pub fn add_window(&mut self, w: &KeyWindow, cfg: &ModelConfig) {
        let mut merged = Vec::with_capacity(self.slots.len() + w.slots.len());
        let (mut i, mut j) = (0, 0);
        while i < self.slots.len() || j < w.slots.len() {
            let a = self.slots.get(i);
            let b = w.slots.get(j);
            match (a, b) {
                (Some(a), Some(b)) if a.slot == b.slot => {
                    let mut m = Moments {
                        n: a.n.into(),
                        mean: a.mean.into(),
                        m2: f64::from(a.var * a.n),
                    };
                    m.merge(&to_moments(b));
                    let n = (m.n as f32).min(cfg.max_n);
                    merged.push(ProfileSlot {
                        slot: a.slot,
                        n,
                        mean: m.mean as f32,
                        var: m.var() as f32,
                        anchor: m.mean as f32,
                    });
                    i += 1;
                    j += 1;
                }
                (Some(a), Some(b)) if a.slot < b.slot => {
                    merged.push(*a);
                    i += 1;
                }
                (Some(a), None) => {
                    merged.push(*a);
                    i += 1;
                }
                (_, Some(b)) => {
                    let var = if b.n > 1.0 { b.m2 / b.n } else { 0.0 };
                    merged.push(ProfileSlot {
                        slot: b.slot,
                        n: b.n.min(cfg.max_n),
                        mean: b.mean,
                        var,
                        anchor: b.mean,
                    });
                    j += 1;
                }
                (None, None) => break,
            }
        }
        self.slots = merged;
        self.windows += 1;
        self.keystrokes += u64::from(w.keystrokes);
    }

    /// Keeps at most `cfg.max_slots` slots, dropping the least observed.
    pub fn prune(&mut self, cfg: &ModelConfig) {
        if self.slots.len() <= cfg.max_slots {
            return;
        }
        let mut ns: Vec<f32> = self.slots.iter().map(|s| s.n).collect();
        ns.sort_by(|a, b| b.total_cmp(a));
        let cut = ns[cfg.max_slots - 1];
        let mut kept = 0;
        self.slots.retain(|s| {
            let keep = s.n > cut || (s.n == cut && kept < cfg.max_slots);
            if keep {
                kept += 1;
            }
            keep && kept <= cfg.max_slots
        });
    }

    fn get(&self, slot: u32) -> Option<&ProfileSlot> {
        self.slots
            .binary_search_by_key(&slot, |p| p.slot)
            .ok()
            .map(|i| &self.slots[i])
    }
}

/// Per-group aggregates of one comparison (window vs profile), the raw
/// material of every keystroke detector.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Comparison {
    /// Sum of per-slot log-likelihood ratios (same user vs population), per group.
    pub llr: [f32; KIND_GROUPS],
    /// Sum of weighted capped |z| (scaled Manhattan), per group.
    pub absz: [f32; KIND_GROUPS],
    /// Sum of weights behind `absz`, per group.
    pub weight: [f32; KIND_GROUPS],
    /// Sum of capped squared Mahalanobis terms, per group.
    pub z2: [f32; KIND_GROUPS],
    /// Number of slots compared, per group.
    pub count: [f32; KIND_GROUPS],
    /// Number of window slots the profile knows.
    pub known: f32,
    /// Number of window slots the population knows.
    pub slots: f32,
    /// The slots that pushed hardest towards "not this user": (slot, -llr).
    pub top: [(u32, f32); 3],
}

impl Comparison {
    /// Total log-likelihood ratio.
    pub fn llr_total(&self) -> f32 {
        self.llr.iter().sum()
    }

    /// Scaled-Manhattan score (higher = more anomalous).
    pub fn scaled_manhattan(&self) -> f32 {
        let w: f32 = self.weight.iter().sum();
        if w > 0.0 {
            self.absz.iter().sum::<f32>() / w
        } else {
            0.0
        }
    }

    /// One-class diagonal-Gaussian (Mahalanobis) score: mean capped squared
    /// standardized deviation of the window from the user's model.
    pub fn mahalanobis(&self) -> f32 {
        let c: f32 = self.count.iter().sum();
        if c > 0.0 {
            self.z2.iter().sum::<f32>() / c
        } else {
            0.0
        }
    }

    /// Population-normalized (PLDA) score: minus the mean per-slot LLR.
    pub fn plda(&self) -> f32 {
        -self.llr_total() / self.slots.max(1.0).sqrt()
    }

    /// Feature vector for the learned fusion scorer.
    pub fn features(&self) -> Vec<f64> {
        let mut f = Vec::with_capacity(5 * KIND_GROUPS + 4);
        self.features_into(&mut f);
        f
    }

    /// Writes the fusion features into `f` (cleared first).
    pub fn features_into(&self, f: &mut Vec<f64>) {
        f.clear();
        for g in 0..KIND_GROUPS {
            let c = self.count[g].max(1.0);
            f.push(f64::from(self.llr[g] / c.sqrt()));
            f.push(f64::from(self.llr[g] / c));
            f.push(f64::from(if self.weight[g] > 0.0 {
                self.absz[g] / self.weight[g]
            } else {
                0.0
            }));
            f.push(f64::from(self.z2[g] / c));
        }
        f.push(f64::from(self.plda()));
        f.push(f64::from(self.scaled_manhattan()));
        f.push(f64::from(self.mahalanobis()));
        f.push(f64::from((self.known / self.slots.max(1.0)).min(1.0)));
        f.push(f64::from(self.slots.max(1.0).ln()));
    }
}

/// Compares a window with a profile under a population model.
pub fn compare(
    w: &KeyWindow,
    p: &KeyProfile,
    pop: &KeyPopulation,
    cfg: &ModelConfig,
) -> Comparison {
    let mut c = Comparison::default();
    let mut pi = 0usize;
    for s in &w.slots {
        let Some(ps) = pop.get(s.slot) else { continue };
        c.slots += 1.0;
        while pi < p.slots.len() && p.slots[pi].slot < s.slot {
            pi += 1;
        }
        let user = p.slots.get(pi).filter(|u| u.slot == s.slot);
        let g = SlotKind::of(s.slot).group();
        let ns = s.n.max(1.0);
        let (np, e, vp) = user.map_or((0.0, 0.0, 0.0), |u| (u.n, u.mean, u.var));
        // User's within variance, shrunk towards the population's.
        let wu = (np * vp + cfg.var_prior * ps.w) / (np + cfg.var_prior);
        // Posterior of the user's mean.
        let prec = 1.0 / ps.b + np / wu;
        let pv = 1.0 / prec;
        let pm = (ps.mu / ps.b + np * e / wu) * pv;
        // log N(t; pm, vs) - log N(t; mu, vd) with a single logarithm.
        let (vs, vd) = (pv + wu / ns, ps.b + ps.w / ns);
        let (d1, d2) = (s.mean - pm, s.mean - ps.mu);
        let llr = (-0.5 * ((vs / vd).ln() + d1 * d1 / vs - d2 * d2 / vd))
            .clamp(-cfg.llr_cap, cfg.llr_cap);
        c.llr[g] += llr;
        c.count[g] += 1.0;
        let z2 = (s.mean - pm) * (s.mean - pm) / (pv + wu / ns);
        c.z2[g] += z2.min(16.0);
        if np > 0.0 {
            c.known += 1.0;
            let z = ((s.mean - pm) / wu.sqrt()).abs().min(cfg.z_cap);
            let wt = ns.min(5.0);
            c.absz[g] += wt * z;
            c.weight[g] += wt;
        }
        // Track the three strongest "not this user" slots.
        let contrib = -llr;
        if contrib > c.top[2].1 {
            c.top[2] = (s.slot, contrib);
            if c.top[2].1 > c.top[1].1 {
                c.top.swap(1, 2);
            }
            if c.top[1].1 > c.top[0].1 {
                c.top.swap(0, 1);
            }
        }
    }
    c
}

/// Expected value of each slot under a profile (posterior mean), for tests and
/// diagnostics.
pub fn expected(p: &KeyProfile, pop: &KeyPopulation, slot: u32, cfg: &ModelConfig) -> Option<f32> {
    let ps = pop.get(slot)?;
    let (np, e, vp) = p
        .get(slot)
        .map_or((0.0, 0.0, 0.0), |u| (u.n, u.mean, u.var));
    let wu = (np * vp + cfg.var_prior * ps.w) / (np + cfg.var_prior);
    let prec = 1.0 / ps.b + np / wu;
    Some((ps.mu / ps.b + np * e / wu) / prec)
}
