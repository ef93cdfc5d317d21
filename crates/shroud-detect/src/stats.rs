//! Small robust-statistics toolbox shared by the detectors: running moments,
//! an exponentially weighted mean/variance with outlier clipping, median/MAD,
//! a hand-rolled logistic regression, and the evaluation metrics (EER, ROC AUC,
//! DET points).
//!
//! Hand-written because each piece is a few lines and the scoring hot path must
//! not allocate; pulling a linear-algebra crate for a diagonal model would cost
//! more than it saves.

use serde::{Deserialize, Serialize};

/// Running count, mean and sum of squared deviations (Welford).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Number of values.
    pub n: f64,
    /// Mean of the values.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// Adds one value.
    pub fn push(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }

    /// Merges another set of moments into this one (Chan et al.).
    pub fn merge(&mut self, o: &Moments) {
        if o.n <= 0.0 {
            return;
        }
        if self.n <= 0.0 {
            *self = *o;
            return;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        self.mean += d * o.n / n;
        self.m2 += o.m2 + d * d * self.n * o.n / n;
        self.n = n;
    }

    /// Population variance (0 when fewer than two values).
    pub fn var(&self) -> f64 {
        if self.n > 1.0 { self.m2 / self.n } else { 0.0 }
    }

    /// Standard deviation (population).
    pub fn sd(&self) -> f64 {
        self.var().sqrt()
    }
}

/// Exponentially weighted mean and variance whose updates are clipped to a band
/// around the current mean, so one outlier cannot drag the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    /// Current mean.
    pub mean: f64,
    /// Current variance.
    pub var: f64,
}

impl Ewma {
    /// Starts at a mean and a variance.
    pub fn new(mean: f64, var: f64) -> Self {
        Self {
            mean,
            var: var.max(0.0),
        }
    }

    /// Updates with `x` at weight `alpha` in `[0, 1]`; `x` is first clipped to
    /// `mean ± clip·sd` (no clipping while the variance is still zero).
    pub fn update(&mut self, x: f64, alpha: f64, clip: f64) {
        let alpha = alpha.clamp(0.0, 1.0);
        let sd = self.var.sqrt();
        let x = if sd > 0.0 {
            x.clamp(self.mean - clip * sd, self.mean + clip * sd)
        } else {
            x
        };
        let d = x - self.mean;
        self.mean += alpha * d;
        // West's incremental EW variance: stays >= 0 for alpha in [0, 1].
        self.var = (1.0 - alpha) * (self.var + alpha * d * d);
    }
}

/// Median of a slice (sorted copy); `None` when empty or when a value is NaN.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() || xs.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    })
}

/// Median absolute deviation scaled to a normal standard deviation (×1.4826).
pub fn mad_sd(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    let dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    median(&dev).map(|d| 1.4826 * d)
}

/// Logistic function.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Equal-error rate from genuine and impostor scores, where a HIGHER score
/// means MORE anomalous (impostor-like). Returns `None` when either side is
/// empty. The EER is taken at the threshold where false accepts and false
/// rejects cross, averaging the two rates at the crossing.
pub fn eer(genuine: &[f64], impostor: &[f64]) -> Option<f64> {
    let pts = det_points(genuine, impostor)?;
    // pts: (far, frr) as the threshold rises; far falls, frr rises.
    let mut best = f64::INFINITY;
    let mut val = 0.5;
    for &(far, frr) in &pts {
        let gap = (far - frr).abs();
        if gap < best {
            best = gap;
            val = 0.5 * (far + frr);
        }
    }
    Some(val)
}

/// (false-accept rate, false-reject rate) for every distinct threshold, with a
/// sample accepted as genuine when its score is `<=` the threshold.
pub fn det_points(genuine: &[f64], impostor: &[f64]) -> Option<Vec<(f64, f64)>> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = genuine
        .iter()
        .map(|&s| (s, true))
        .chain(impostor.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (ng, ni) = (genuine.len() as f64, impostor.len() as f64);
    // Threshold below everything: nobody accepted.
    let mut pts = vec![(0.0, 1.0)];
    let (mut acc_g, mut acc_i) = (0.0, 0.0);
    let mut i = 0;
    while i < all.len() {
        let t = all[i].0;
        while i < all.len() && all[i].0.total_cmp(&t).is_eq() {
            if all[i].1 {
                acc_g += 1.0;
            } else {
                acc_i += 1.0;
            }
            i += 1;
        }
        pts.push((acc_i / ni, 1.0 - acc_g / ng));
    }
    Some(pts)
}

/// ROC AUC: probability that a random impostor scores higher (more anomalous)
/// than a random genuine sample, ties counting one half.
pub fn auc(genuine: &[f64], impostor: &[f64]) -> Option<f64> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = genuine
        .iter()
        .map(|&s| (s, true))
        .chain(impostor.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann-Whitney U with mid-ranks.
    let mut rank_sum_imp = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0.total_cmp(&all[i].0).is_eq() {
            j += 1;
        }
        let mid = (i + j + 1) as f64 / 2.0;
        for item in &all[i..j] {
            if !item.1 {
                rank_sum_imp += mid;
            }
        }
        i = j;
    }
    let (ng, ni) = (genuine.len() as f64, impostor.len() as f64);
    Some((rank_sum_imp - ni * (ni + 1.0) / 2.0) / (ng * ni))
}

/// L2-regularized logistic regression on standardized features, trained by
/// full-batch gradient descent with Nesterov-free momentum. Small and
/// deterministic: it fuses a few dozen detector statistics, it is not a general
/// ML library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    /// Per-feature mean used for standardization.
    pub mean: Vec<f64>,
    /// Per-feature scale used for standardization.
    pub scale: Vec<f64>,
    /// Weights on the standardized features.
    pub w: Vec<f64>,
    /// Intercept.
    pub b: f64,
}

impl Logistic {
    /// Fits on rows `x` with labels `y` (true = positive class).
    /// `l2` is the ridge penalty, `epochs` the number of full passes.
    pub fn fit(x: &[Vec<f64>], y: &[bool], l2: f64, epochs: usize) -> Option<Self> {
        let d = x.first()?.len();
        if x.len() != y.len() || x.iter().any(|r| r.len() != d) {
            return None;
        }
        let n = x.len() as f64;
        let mut mean = vec![0.0; d];
        let mut scale = vec![0.0; d];
        for r in x {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v / n;
            }
        }
        for r in x {
            for ((s, v), m) in scale.iter_mut().zip(r).zip(&mean) {
                *s += (v - m) * (v - m) / n;
            }
        }
        for s in &mut scale {
            *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
        }
        // Class balance: weight each class to half the total.
        let npos = y.iter().filter(|&&b| b).count().max(1) as f64;
        let nneg = (y.len() as f64 - npos).max(1.0);
        let (wp, wn) = (0.5 * n / npos, 0.5 * n / nneg);
        let z: Vec<Vec<f64>> = x
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&mean)
                    .zip(&scale)
                    .map(|((v, m), s)| (v - m) / s)
                    .collect()
            })
            .collect();
        let mut w = vec![0.0; d];
        let mut b = 0.0;
        let mut vw = vec![0.0; d];
        let mut vb = 0.0;
        let lr = 0.5;
        for _ in 0..epochs {
            let mut gw = vec![0.0; d];
            let mut gb = 0.0;
            for (r, &lab) in z.iter().zip(y) {
                let p = sigmoid(b + r.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>());
                let (t, cw) = if lab { (1.0, wp) } else { (0.0, wn) };
                let g = cw * (p - t) / n;
                for (gi, ri) in gw.iter_mut().zip(r) {
                    *gi += g * ri;
                }
                gb += g;
            }
            for i in 0..d {
                gw[i] += l2 * w[i];
                vw[i] = 0.9 * vw[i] - lr * gw[i];
                w[i] += vw[i];
            }
            vb = 0.9 * vb - lr * gb;
            b += vb;
        }
        Some(Self { mean, scale, w, b })
    }

    /// Logit (log-odds of the positive class) of one feature row.
    pub fn logit(&self, x: &[f64]) -> f64 {
        self.b
            + x.iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.w)
                .map(|(((v, m), s), w)| (v - m) / s * w)
                .sum::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn eer_and_auc_on_known_sets() {
        let g = [0.1, 0.2, 0.3, 0.4];
        let i = [0.5, 0.6, 0.7, 0.8];
        assert_eq!(eer(&g, &i), Some(0.0));
        assert_eq!(auc(&g, &i), Some(1.0));
        assert_eq!(auc(&i, &g), Some(0.0));
        let same = [0.5, 0.5];
        assert_eq!(auc(&same, &same), Some(0.5));
        assert!(eer(&[], &i).is_none());
        let e = eer(&[0.1, 0.6], &[0.5, 0.9]).unwrap();
        assert!((e - 0.5).abs() < 1e-9, "{e}");
    }

    #[test]
    fn logistic_separates_a_linear_problem() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let a = (i as f64 * 0.37).sin() * 3.0;
            let b = (i as f64 * 0.11).cos();
            x.push(vec![a, b]);
            y.push(a + 0.2 * b > 0.0);
        }
        let m = Logistic::fit(&x, &y, 1e-4, 300).unwrap();
        let correct = x
            .iter()
            .zip(&y)
            .filter(|(r, l)| (m.logit(r) > 0.0) == **l)
            .count();
        assert!(correct >= 190, "{correct}");
    }

    proptest! {
        #[test]
        fn moments_merge_equals_sequential(a in prop::collection::vec(-1e3f64..1e3, 0..40),
                                           b in prop::collection::vec(-1e3f64..1e3, 0..40)) {
            let mut s = Moments::default();
            for x in a.iter().chain(&b) { s.push(*x); }
            let mut m1 = Moments::default();
            for x in &a { m1.push(*x); }
            let mut m2 = Moments::default();
            for x in &b { m2.push(*x); }
            m1.merge(&m2);
            prop_assert!((s.n - m1.n).abs() < 1e-9);
            prop_assert!((s.mean - m1.mean).abs() < 1e-6);
            prop_assert!((s.m2 - m1.m2).abs() < 1e-3 * (1.0 + s.m2));
        }

        #[test]
        fn ewma_variance_nonnegative_and_mean_within_hull(
            start in -100f64..100.0, xs in prop::collection::vec(-100f64..100.0, 1..50),
            alpha in 0f64..1.0, clip in 0.5f64..5.0) {
            let mut e = Ewma::new(start, 1.0);
            let lo = xs.iter().copied().fold(start, f64::min) - 5.0;
            let hi = xs.iter().copied().fold(start, f64::max) + 5.0;
            for x in &xs {
                e.update(*x, alpha, clip);
                prop_assert!(e.var >= 0.0);
                prop_assert!(e.mean >= lo && e.mean <= hi);
            }
        }

        #[test]
        fn ewma_is_translation_equivariant(start in -10f64..10.0, shift in -50f64..50.0,
                                           xs in prop::collection::vec(-10f64..10.0, 1..30)) {
            let mut a = Ewma::new(start, 2.0);
            let mut b = Ewma::new(start + shift, 2.0);
            for x in &xs {
                a.update(*x, 0.1, 3.0);
                b.update(*x + shift, 0.1, 3.0);
            }
            prop_assert!((a.mean + shift - b.mean).abs() < 1e-6);
            prop_assert!((a.var - b.var).abs() < 1e-6);
        }

        #[test]
        fn mad_is_scale_equivariant(xs in prop::collection::vec(-100f64..100.0, 1..40), k in 0.1f64..10.0) {
            let a = mad_sd(&xs).unwrap();
            let scaled: Vec<f64> = xs.iter().map(|x| x * k).collect();
            let b = mad_sd(&scaled).unwrap();
            prop_assert!((a * k - b).abs() < 1e-6 * (1.0 + b));
        }

        #[test]
        fn eer_and_auc_in_unit_interval(g in prop::collection::vec(-5f64..5.0, 1..30),
                                        i in prop::collection::vec(-5f64..5.0, 1..30)) {
            let e = eer(&g, &i).unwrap();
            let a = auc(&g, &i).unwrap();
            prop_assert!((0.0..=1.0).contains(&e));
            prop_assert!((0.0..=1.0).contains(&a));
        }
    }
}
