//! Mouse population model, per-user mouse profiles, and the mouse detectors.
//!
//! Each (action type, feature) is discretized on bins cut at the population's
//! quantiles. A user's profile counts their actions per bin; an action's score
//! is the naive-Bayes log-likelihood ratio "this user" vs "the population",
//! with the user's histogram smoothed towards the population's (a Dirichlet
//! prior), so few enrollment actions fall back to "no evidence" rather than
//! to noise. Two simpler detectors reuse per-feature moments: scaled
//! Manhattan and a one-class diagonal Gaussian.

use crate::mouse::{ACTION_FEATURES, ACTION_TYPES, FEATURE_NAMES, MouseAction};
use crate::stats::Moments;
use serde::{Deserialize, Serialize};

/// Bins per feature.
pub const BINS: usize = 12;

/// Background model: bin edges and bin probabilities per action type and
/// feature, plus per-type frequencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MousePopulation {
    /// `edges[t][f]`: `BINS - 1` increasing cut points.
    pub edges: Vec<Vec<Vec<f32>>>,
    /// `prob[t][f][b]`: population probability of bin `b`.
    pub prob: Vec<Vec<Vec<f32>>>,
    /// Population frequency of each action type.
    pub type_prob: Vec<f32>,
    /// Population mean and sd per type and feature.
    pub moments: Vec<Vec<(f32, f32)>>,
}

impl MousePopulation {
    /// Builds the model from many users' actions.
    // Index loops: the (type, feature) indices address several parallel tables.
    #[allow(clippy::needless_range_loop)]
    pub fn build<'a>(actions: impl Iterator<Item = &'a MouseAction> + Clone) -> Self {
        let mut edges = vec![vec![Vec::new(); ACTION_FEATURES]; ACTION_TYPES];
        let mut moments = vec![vec![(0.0, 1.0); ACTION_FEATURES]; ACTION_TYPES];
        let mut type_n = [1.0f32; ACTION_TYPES];
        for a in actions.clone() {
            type_n[a.kind as usize] += 1.0;
        }
        for t in 0..ACTION_TYPES {
            for f in 0..ACTION_FEATURES {
                let mut v: Vec<f32> = actions
                    .clone()
                    .filter(|a| a.kind as usize == t)
                    .map(|a| a.f[f])
                    .filter(|x| x.is_finite())
                    .collect();
                v.sort_by(f32::total_cmp);
                let mut m = Moments::default();
                for x in &v {
                    m.push(f64::from(*x));
                }
                moments[t][f] = (m.mean as f32, (m.sd() as f32).max(1e-3));
                let mut e: Vec<f32> = (1..BINS)
                    .map(|k| {
                        if v.is_empty() {
                            k as f32
                        } else {
                            v[(k * (v.len() - 1)) / BINS]
                        }
                    })
                    .collect();
                // Ties (discrete features) collapse bins: keep edges strictly
                // increasing so every bin is reachable.
                e.dedup();
                edges[t][f] = e;
            }
        }
        let mut pop = Self {
            edges,
            prob: Vec::new(),
            type_prob: Vec::new(),
            moments,
        };
        let mut counts = vec![vec![vec![1.0f32; BINS]; ACTION_FEATURES]; ACTION_TYPES];
        for a in actions {
            for f in 0..ACTION_FEATURES {
                if let Some(b) = pop.bin(a.kind as usize, f, a.f[f]) {
                    counts[a.kind as usize][f][b] += 1.0;
                }
            }
        }
        for t in &mut counts {
            for f in t.iter_mut() {
                let s: f32 = f.iter().sum();
                for b in f.iter_mut() {
                    *b /= s;
                }
            }
        }
        pop.prob = counts;
        let s: f32 = type_n.iter().sum();
        pop.type_prob = type_n.iter().map(|n| n / s).collect();
        pop
    }

    /// Bin of a value (`None` for NaN).
    pub fn bin(&self, t: usize, f: usize, x: f32) -> Option<usize> {
        if !x.is_finite() {
            return None;
        }
        let e = self.edges.get(t)?.get(f)?;
        Some(e.partition_point(|&c| c < x))
    }
}

/// A user's mouse baseline: per-bin counts and per-feature moments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MouseProfile {
    /// Layout version.
    pub version: u16,
    /// `counts[t][f][b]` (saturating u16: adaptation decays them).
    pub counts: Vec<Vec<Vec<u16>>>,
    /// Actions per type.
    pub type_counts: Vec<u32>,
    /// Mean and sd per type and feature.
    pub moments: Vec<Vec<(f32, f32)>>,
}

/// Detector tuning.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MouseConfig {
    /// Dirichlet pseudo-count towards the population histogram.
    pub prior: f32,
    /// Cap of one feature's |LLR| in one action.
    pub llr_cap: f32,
}

impl Default for MouseConfig {
    fn default() -> Self {
        Self {
            prior: 20.0,
            llr_cap: 1.0,
        }
    }
}

/// Per-detector window scores (higher = more anomalous) and the features that
/// drove the population-normalized score.
#[derive(Debug, Clone, PartialEq)]
pub struct MouseScores {
    /// Naive-Bayes LLR vs population, negated, per action.
    pub nb: f64,
    /// Scaled Manhattan per action.
    pub manhattan: f64,
    /// One-class diagonal Gaussian (mean capped z²) per action.
    pub gaussian: f64,
    /// Negated LLR, 10%-trimmed mean over actions (robust to odd actions).
    pub nb_trimmed: f64,
    /// Actions scored.
    pub actions: usize,
    /// (feature, summed -LLR) of the three strongest features.
    pub top: Vec<(&'static str, f64)>,
}

impl MouseProfile {
    /// Builds a profile from enrollment actions under a population model.
    #[allow(clippy::needless_range_loop)]
    pub fn enroll<'a>(
        pop: &MousePopulation,
        actions: impl Iterator<Item = &'a MouseAction>,
    ) -> Self {
        let mut counts = vec![vec![vec![0u16; BINS]; ACTION_FEATURES]; ACTION_TYPES];
        let mut type_counts = vec![0u32; ACTION_TYPES];
        let mut mom = vec![vec![Moments::default(); ACTION_FEATURES]; ACTION_TYPES];
        for a in actions {
            let t = a.kind as usize;
            type_counts[t] += 1;
            for f in 0..ACTION_FEATURES {
                if let Some(b) = pop.bin(t, f, a.f[f]) {
                    counts[t][f][b] = counts[t][f][b].saturating_add(1);
                    mom[t][f].push(f64::from(a.f[f]));
                }
            }
        }
        let moments = mom
            .iter()
            .enumerate()
            .map(|(t, v)| {
                v.iter()
                    .enumerate()
                    .map(|(f, m)| {
                        // Shrink the user's spread towards the population's.
                        let (_, psd) = pop.moments[t][f];
                        let n = m.n as f32;
                        let var = (n * m.var() as f32 + 5.0 * psd * psd) / (n + 5.0);
                        let mean = if m.n > 0.0 {
                            m.mean as f32
                        } else {
                            pop.moments[t][f].0
                        };
                        (mean, var.sqrt().max(1e-3))
                    })
                    .collect()
            })
            .collect();
        Self {
            version: 1,
            counts,
            type_counts,
            moments,
        }
    }

    /// Total enrolled actions.
    pub fn actions(&self) -> u32 {
        self.type_counts.iter().sum()
    }

    /// Scores a window of actions.
    #[allow(clippy::needless_range_loop)]
    pub fn score(
        &self,
        pop: &MousePopulation,
        cfg: &MouseConfig,
        actions: &[MouseAction],
    ) -> MouseScores {
        let mut per_feature = [0f64; ACTION_FEATURES];
        let (mut nb, mut man, mut gau) = (0f64, 0f64, 0f64);
        let mut per_action: Vec<f64> = Vec::with_capacity(actions.len());
        let total: f32 = self.type_counts.iter().sum::<u32>() as f32;
        // Per-(type, feature) totals once per call, not once per action.
        let mut totals = [[0f32; ACTION_FEATURES]; ACTION_TYPES];
        for (t, row) in totals.iter_mut().enumerate() {
            for (f, v) in row.iter_mut().enumerate() {
                *v = self.counts[t][f].iter().map(|&c| f32::from(c)).sum();
            }
        }
        for a in actions {
            let t = a.kind as usize;
            let nt: f32 = self.type_counts[t] as f32;
            // Action-type frequency term.
            let pt = (nt + cfg.prior * pop.type_prob[t]) / (total + cfg.prior);
            let mut llr = f64::from((pt / pop.type_prob[t]).ln());
            let (mut m_sum, mut g_sum, mut k) = (0f32, 0f32, 0f32);
            for f in 0..ACTION_FEATURES {
                let Some(b) = pop.bin(t, f, a.f[f]) else {
                    continue;
                };
                let pp = pop.prob[t][f][b];
                let nf = totals[t][f];
                let pu = (f32::from(self.counts[t][f][b]) + cfg.prior * pp) / (nf + cfg.prior);
                let l = (pu / pp).ln().clamp(-cfg.llr_cap, cfg.llr_cap);
                llr += f64::from(l);
                per_feature[f] -= f64::from(l);
                let (m, sd) = self.moments[t][f];
                let z = (a.f[f] - m) / sd;
                m_sum += z.abs().min(3.0);
                g_sum += (z * z).min(16.0);
                k += 1.0;
            }
            nb -= llr;
            per_action.push(-llr);
            if k > 0.0 {
                man += f64::from(m_sum / k);
                gau += f64::from(g_sum / k);
            }
        }
        let n = actions.len().max(1) as f64;
        let mut idx: Vec<usize> = (0..ACTION_FEATURES).collect();
        idx.sort_by(|&a, &b| per_feature[b].total_cmp(&per_feature[a]));
        let top = idx
            .iter()
            .take(3)
            .filter(|&&i| per_feature[i] > 0.0)
            .map(|&i| (FEATURE_NAMES[i], per_feature[i] / n))
            .collect();
        per_action.sort_by(f64::total_cmp);
        let cut = per_action.len() / 10;
        let kept = &per_action[cut..per_action.len() - cut];
        let nb_trimmed = kept.iter().sum::<f64>() / kept.len().max(1) as f64;
        MouseScores {
            nb: nb / n,
            nb_trimmed,
            manhattan: man / n,
            gaussian: gau / n,
            actions: actions.len(),
            top,
        }
    }

    /// Versioned compact encoding (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes [`MouseProfile::to_bytes`], checking version and shape.
    pub fn from_bytes(b: &[u8]) -> Result<Self, crate::profile::CodecError> {
        use crate::profile::CodecError;
        let p: Self = postcard::from_bytes(b).map_err(|e| CodecError::Malformed(e.to_string()))?;
        if p.version != 1 {
            return Err(CodecError::Version {
                found: p.version,
                supported: 1,
            });
        }
        let shape_ok = p.counts.len() == ACTION_TYPES
            && p.counts
                .iter()
                .all(|t| t.len() == ACTION_FEATURES && t.iter().all(|f| f.len() == BINS))
            && p.type_counts.len() == ACTION_TYPES
            && p.moments.len() == ACTION_TYPES
            && p.moments.iter().all(|t| t.len() == ACTION_FEATURES);
        if !shape_ok {
            return Err(CodecError::Invalid {
                field: "counts",
                why: "wrong table shape",
            });
        }
        Ok(p)
    }
}
