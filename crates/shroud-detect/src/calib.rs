//! Per-user calibration of raw detector scores into an anomaly score in
//! `[0, 1]`, enrollment state, the daily drift budget of adaptation, and
//! sequence-aware session scoring (evidence accumulates across windows).

use crate::stats::{Ewma, sigmoid};
use serde::{Deserialize, Serialize};

/// Whether a profile can give verdicts yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnrollmentState {
    /// Not enough samples: no verdict is given.
    NeedsEnrollment {
        /// Windows enrolled so far.
        have: u32,
        /// Windows needed.
        need: u32,
    },
    /// Enrolled: scores are meaningful.
    Enrolled,
}

/// Distribution of a user's own genuine raw scores, learned prequentially
/// during enrollment (each window scored before it is added) and refreshed by
/// accepted windows, shrunk towards the population's genuine distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Running genuine raw-score statistics.
    pub genuine: Ewma,
    /// Number of genuine scores seen.
    pub count: u32,
}

/// Population-level calibration defaults (learned with the population model).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibPrior {
    /// Mean genuine raw score over the population.
    pub mean: f64,
    /// Standard deviation of genuine raw scores over the population.
    pub sd: f64,
    /// Pseudo-count of the prior.
    pub weight: f64,
    /// Threshold in user-sd units above the user's genuine mean where the
    /// anomaly score reaches 0.5.
    pub threshold_sd: f64,
    /// Steepness of the logistic map around the threshold.
    pub slope: f64,
}

impl Default for CalibPrior {
    fn default() -> Self {
        Self {
            mean: 0.0,
            sd: 1.0,
            weight: 3.0,
            threshold_sd: 2.0,
            slope: 1.5,
        }
    }
}

impl Calibration {
    /// Empty calibration.
    pub fn new() -> Self {
        Self {
            genuine: Ewma::new(0.0, 0.0),
            count: 0,
        }
    }

    /// Records a genuine raw score. Early scores get equal weight; later ones
    /// an exponential weight of `1/50`, so the threshold follows slow change.
    pub fn observe(&mut self, raw: f64) {
        if !raw.is_finite() {
            return;
        }
        self.count = self.count.saturating_add(1);
        let alpha = (1.0 / f64::from(self.count)).max(0.02);
        self.genuine.update(raw, alpha, 4.0);
    }

    /// The user's calibrated genuine mean and sd (shrunk to the prior).
    pub fn genuine_stats(&self, prior: &CalibPrior) -> (f64, f64) {
        let n = f64::from(self.count);
        let w = prior.weight;
        let mean = (n * self.genuine.mean + w * prior.mean) / (n + w);
        let var = (n * self.genuine.var + w * prior.sd * prior.sd) / (n + w);
        (mean, var.max(1e-12).sqrt())
    }

    /// Maps a raw score (higher = more anomalous) to an anomaly in `[0, 1]`,
    /// 0.5 at the user's own threshold. Monotonic in `raw`.
    pub fn anomaly(&self, raw: f64, prior: &CalibPrior) -> f64 {
        if raw.is_nan() {
            return 1.0;
        }
        let (m, sd) = self.genuine_stats(prior);
        let z = (raw - m) / sd;
        sigmoid(prior.slope * (z - prior.threshold_sd)).clamp(0.0, 1.0)
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Self::new()
    }
}

/// Bounds how much adaptation may move a profile per day.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DriftBudget {
    /// Day number (e.g. days since the epoch) of the counter.
    pub day: u32,
    /// Updates applied that day.
    pub updates: u32,
}

impl DriftBudget {
    /// Takes one update from the budget of `day`; false when exhausted.
    pub fn take(&mut self, day: u32, max_per_day: u32) -> bool {
        if day != self.day {
            self.day = day;
            self.updates = 0;
        }
        if self.updates >= max_per_day {
            return false;
        }
        self.updates += 1;
        true
    }
}

/// Session verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// No profile yet: no opinion.
    NoVerdict,
    /// Behavior consistent with the user.
    Genuine,
    /// Evidence accumulated that someone else is typing / moving the mouse.
    Anomalous,
}

/// Sequence-aware session scoring: a one-sided CUSUM over window anomaly
/// scores weighted by confidence. One odd window does not flip the verdict,
/// several in a row do; genuine windows drain the evidence again.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SessionScore {
    /// Accumulated evidence.
    pub evidence: f64,
    /// Reference value subtracted from each anomaly (CUSUM `k`).
    pub reference: f64,
    /// Evidence at which the verdict becomes anomalous (CUSUM `h`).
    pub threshold: f64,
    /// Windows seen.
    pub windows: u32,
    /// Current verdict.
    pub verdict: Verdict,
}

impl Default for SessionScore {
    fn default() -> Self {
        Self {
            evidence: 0.0,
            reference: 0.5,
            threshold: 1.0,
            windows: 0,
            verdict: Verdict::NoVerdict,
        }
    }
}

impl SessionScore {
    /// Adds one window; returns the session verdict and a session risk in
    /// `[0, 1]` (evidence relative to the threshold).
    pub fn push(&mut self, anomaly: f64, confidence: f64, enrolled: bool) -> (Verdict, f64) {
        if !enrolled {
            self.verdict = Verdict::NoVerdict;
            return (self.verdict, 0.0);
        }
        let a = if anomaly.is_finite() {
            anomaly.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let c = if confidence.is_finite() {
            confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.evidence = (self.evidence + c * (a - self.reference)).clamp(0.0, 4.0 * self.threshold);
        self.windows += 1;
        self.verdict = if self.evidence >= self.threshold {
            Verdict::Anomalous
        } else {
            Verdict::Genuine
        };
        (self.verdict, (self.evidence / self.threshold).min(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_odd_window_does_not_flip_three_do() {
        let mut s = SessionScore::default();
        assert_eq!(s.push(0.1, 1.0, true).0, Verdict::Genuine);
        assert_eq!(s.push(0.99, 1.0, true).0, Verdict::Genuine);
        assert_eq!(s.push(0.1, 1.0, true).0, Verdict::Genuine);
        assert_eq!(s.push(0.9, 1.0, true).0, Verdict::Genuine);
        assert_eq!(s.push(0.9, 1.0, true).0, Verdict::Genuine);
        assert_eq!(s.push(0.9, 1.0, true).0, Verdict::Anomalous);
        // Genuine windows drain it back.
        for _ in 0..4 {
            s.push(0.05, 1.0, true);
        }
        assert_eq!(s.verdict, Verdict::Genuine);
        assert_eq!(s.push(0.9, 1.0, false).0, Verdict::NoVerdict);
    }

    #[test]
    fn drift_budget_resets_daily() {
        let mut b = DriftBudget::default();
        assert!(b.take(1, 2) && b.take(1, 2));
        assert!(!b.take(1, 2));
        assert!(b.take(2, 2));
    }

    proptest! {
        #[test]
        fn anomaly_in_unit_interval_and_monotonic(gs in prop::collection::vec(-3f64..3.0, 0..30),
                                                   a in -100f64..100.0, d in 0f64..50.0) {
            let mut c = Calibration::new();
            for g in &gs { c.observe(*g); }
            let p = CalibPrior::default();
            let x = c.anomaly(a, &p);
            let y = c.anomaly(a + d, &p);
            prop_assert!((0.0..=1.0).contains(&x));
            prop_assert!(y >= x);
        }

        #[test]
        fn session_evidence_bounded(xs in prop::collection::vec((0f64..1.0, 0f64..1.0), 0..100)) {
            let mut s = SessionScore::default();
            for (a, c) in xs {
                let (_, r) = s.push(a, c, true);
                prop_assert!((0.0..=1.0).contains(&r));
                prop_assert!(s.evidence >= 0.0);
            }
        }
    }
}
