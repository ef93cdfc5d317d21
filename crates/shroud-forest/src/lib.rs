//! An isolation forest (Liu, Ting & Zhou, 2008) over fixed-length `f32`
//! feature vectors, built for scoring on a request's hot path.
//!
//! * [`IsolationForest::fit`] trains on a row-major matrix with per-tree
//!   subsampling (the paper's ψ = 256 by default), seeded for reproducibility.
//! * [`IsolationForest::score`] walks every tree without allocating: the trees
//!   are flat pre-order node arrays, each leaf already holds its depth plus the
//!   average-path correction `c(size)`, so scoring is a handful of compares.
//! * The model is `serde`-serializable; deserializing validates the node
//!   arrays (children in bounds and after their parent), so a corrupt or
//!   hostile model file cannot make scoring panic or loop.
//! * [`SharedForest`] holds the current model behind an atomic pointer
//!   (`arc-swap`) so a background thread can retrain on recent traffic
//!   ([`RecentWindow`]) and swap the new model in while readers keep scoring.
//!
//! The crate knows nothing about requests or biometrics: callers decide what
//! the features are.
//!
//! ```
//! use shroud_forest::{ForestConfig, IsolationForest};
//!
//! // 200 points near the origin in 2-D, row-major.
//! let mut data = Vec::new();
//! for i in 0..200 {
//!     let t = i as f32 * 0.1;
//!     data.push(t.sin() * 0.5);
//!     data.push(t.cos() * 0.5);
//! }
//! let forest = IsolationForest::fit(&data, 2, &ForestConfig::default())?;
//! let inlier = forest.score(&[0.1, 0.2])?;
//! let outlier = forest.score(&[8.0, -9.0])?;
//! assert!(outlier > inlier);
//! assert!((0.0..=1.0).contains(&outlier));
//! # Ok::<(), shroud_forest::ForestError>(())
//! ```

mod shared;

pub use shared::{RecentWindow, SharedForest};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Errors from training, scoring or loading a forest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForestError {
    /// Training data had no rows.
    #[error("training data is empty")]
    Empty,
    /// The feature dimension is zero, or the data length is not a multiple of it.
    #[error("data length {len} is not a positive multiple of dimension {dim}")]
    BadShape {
        /// Length of the flat data slice.
        len: usize,
        /// Declared dimension.
        dim: usize,
    },
    /// A vector given to [`IsolationForest::score`] has the wrong length.
    #[error("feature vector has {got} values, the model expects {expected}")]
    DimensionMismatch {
        /// The model's dimension.
        expected: usize,
        /// The vector's length.
        got: usize,
    },
    /// A value is NaN or infinite.
    #[error("value at row {row}, feature {feature} is not finite")]
    NonFinite {
        /// Row index (0 for a scored vector).
        row: usize,
        /// Feature index.
        feature: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid forest configuration: {0}")]
    InvalidConfig(&'static str),
    /// A deserialized model is structurally invalid.
    #[error("invalid model: {0}")]
    InvalidModel(String),
}

/// Training parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForestConfig {
    /// Number of trees (the paper's t; 100 is the usual default).
    pub n_trees: usize,
    /// Rows drawn without replacement per tree (ψ); capped at the data size.
    pub sample_size: usize,
    /// Maximum depth; `None` means the paper's `ceil(log2(ψ))`.
    pub max_depth: Option<usize>,
    /// Seed of the random generator, so training is reproducible.
    pub seed: u64,
}

impl Default for ForestConfig {
    fn default() -> Self {
        Self {
            n_trees: 100,
            sample_size: 256,
            max_depth: None,
            seed: 0x5eed_f0e5,
        }
    }
}

/// Marks a leaf in [`Node::feature`].
const LEAF: u32 = u32::MAX;

/// One node of a flattened tree. Internal nodes: the left child is the next
/// node (pre-order), `right` is the index of the right child. Leaves: `value`
/// is the path length credited to a point ending here (depth + c(size)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Node {
    feature: u32,
    value: f32,
    right: u32,
}

/// A trained isolation forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawForest")]
pub struct IsolationForest {
    dim: usize,
    sample_size: usize,
    /// c(ψ): the normaliser of the average path length.
    norm: f32,
    trees: Vec<Vec<Node>>,
}

/// The unvalidated wire form of [`IsolationForest`].
#[derive(Deserialize)]
struct RawForest {
    dim: usize,
    sample_size: usize,
    norm: f32,
    trees: Vec<Vec<Node>>,
}

impl TryFrom<RawForest> for IsolationForest {
    type Error = ForestError;

    fn try_from(raw: RawForest) -> Result<Self, Self::Error> {
        let bad = |m: String| Err(ForestError::InvalidModel(m));
        if raw.dim == 0 || raw.trees.is_empty() || raw.sample_size == 0 {
            return bad("dimension, tree count and sample size must be positive".into());
        }
        if !(raw.norm.is_finite() && raw.norm > 0.0) {
            return bad("normaliser must be a positive finite number".into());
        }
        for (t, tree) in raw.trees.iter().enumerate() {
            if tree.is_empty() {
                return bad(format!("tree {t} has no nodes"));
            }
            for (i, node) in tree.iter().enumerate() {
                if !node.value.is_finite() {
                    return bad(format!("tree {t} node {i} has a non-finite value"));
                }
                if node.feature == LEAF {
                    continue;
                }
                // Children strictly after the parent: walks always terminate.
                let right = node.right as usize;
                if node.feature as usize >= raw.dim
                    || i + 1 >= tree.len()
                    || right <= i + 1
                    || right >= tree.len()
                {
                    return bad(format!("tree {t} node {i} has an invalid split"));
                }
            }
        }
        Ok(Self {
            dim: raw.dim,
            sample_size: raw.sample_size,
            norm: raw.norm,
            trees: raw.trees,
        })
    }
}

/// Average path length of an unsuccessful binary-search-tree search among
/// `n` points: the paper's c(n), used both as the leaf correction and the
/// normaliser.
fn c_factor(n: usize) -> f32 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            let harmonic = (n - 1.0).ln() + 0.577_215_664_901_532_9;
            (2.0 * harmonic - 2.0 * (n - 1.0) / n) as f32
        }
    }
}

impl IsolationForest {
    /// Trains a forest on `data`, a row-major matrix with `dim` columns.
    ///
    /// Each tree sees `min(sample_size, rows)` rows drawn without replacement.
    /// Errors on empty or ragged data, non-finite values and a zero tree count.
    pub fn fit(data: &[f32], dim: usize, config: &ForestConfig) -> Result<Self, ForestError> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(ForestError::BadShape {
                len: data.len(),
                dim,
            });
        }
        let rows = data.len() / dim;
        if rows == 0 {
            return Err(ForestError::Empty);
        }
        if config.n_trees == 0 {
            return Err(ForestError::InvalidConfig("n_trees must be at least 1"));
        }
        if config.sample_size < 2 {
            return Err(ForestError::InvalidConfig("sample_size must be at least 2"));
        }
        if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
            return Err(ForestError::NonFinite {
                row: pos / dim,
                feature: pos % dim,
            });
        }
        let psi = config.sample_size.min(rows);
        let max_depth = config
            .max_depth
            .unwrap_or_else(|| (psi.max(2) as f64).log2().ceil() as usize);
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut trees = Vec::with_capacity(config.n_trees);
        for _ in 0..config.n_trees {
            let mut idx: Vec<usize> = rand::seq::index::sample(&mut rng, rows, psi).into_vec();
            let mut nodes = Vec::with_capacity(2 * psi);
            build(data, dim, &mut idx, 0, max_depth, &mut rng, &mut nodes);
            trees.push(nodes);
        }
        Ok(Self {
            dim,
            sample_size: psi,
            norm: c_factor(psi).max(f32::MIN_POSITIVE),
            trees,
        })
    }

    /// Anomaly score in [0, 1] of one vector: `2^(-E[h(x)] / c(ψ))`. About 0.5
    /// or less is ordinary; close to 1 means isolated in few splits.
    ///
    /// Allocation-free. Errors when the length is wrong or a value is not finite.
    pub fn score(&self, x: &[f32]) -> Result<f32, ForestError> {
        if x.len() != self.dim {
            return Err(ForestError::DimensionMismatch {
                expected: self.dim,
                got: x.len(),
            });
        }
        if let Some(feature) = x.iter().position(|v| !v.is_finite()) {
            return Err(ForestError::NonFinite { row: 0, feature });
        }
        let mut total = 0.0f32;
        for tree in &self.trees {
            total += path_length(tree, x);
        }
        let mean = total / self.trees.len() as f32;
        Ok((-mean / self.norm).exp2().clamp(0.0, 1.0))
    }

    /// Number of features the model expects.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Rows each tree was trained on.
    pub fn sample_size(&self) -> usize {
        self.sample_size
    }
}

fn path_length(tree: &[Node], x: &[f32]) -> f32 {
    let mut i = 0usize;
    // Validation guarantees children come after parents and stay in bounds,
    // so this loop terminates; `get` keeps it panic-free regardless.
    while let Some(node) = tree.get(i) {
        if node.feature == LEAF {
            return node.value;
        }
        let v = x.get(node.feature as usize).copied().unwrap_or(0.0);
        i = if v < node.value {
            i + 1
        } else {
            node.right as usize
        };
    }
    0.0
}

/// Builds the subtree for `idx` in pre-order into `nodes`.
fn build(
    data: &[f32],
    dim: usize,
    idx: &mut [usize],
    depth: usize,
    max_depth: usize,
    rng: &mut StdRng,
    nodes: &mut Vec<Node>,
) {
    let leaf = |nodes: &mut Vec<Node>, n: usize| {
        nodes.push(Node {
            feature: LEAF,
            value: depth as f32 + c_factor(n),
            right: 0,
        })
    };
    if idx.len() <= 1 || depth >= max_depth {
        leaf(nodes, idx.len());
        return;
    }
    // Pick a random feature that still varies in this node; trying the
    // features from a random start avoids a biased scan while guaranteeing
    // a split whenever any feature varies.
    let start = rng.random_range(0..dim);
    let mut split = None;
    for k in 0..dim {
        let f = (start + k) % dim;
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &r in idx.iter() {
            let v = data[r * dim + f];
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi > lo {
            split = Some((f, lo, hi));
            break;
        }
    }
    let Some((f, lo, hi)) = split else {
        leaf(nodes, idx.len());
        return;
    };
    let mut thr = rng.random_range(lo..hi);
    if thr <= lo {
        // Keep at least the minimum on the left so both sides are non-empty.
        thr = lo + (hi - lo) * 0.5;
    }
    // Partition: values < thr to the front.
    let mut mid = 0;
    for j in 0..idx.len() {
        if data[idx[j] * dim + f] < thr {
            idx.swap(j, mid);
            mid += 1;
        }
    }
    let me = nodes.len();
    nodes.push(Node {
        feature: f as u32,
        value: thr,
        right: 0,
    });
    let (left, right) = idx.split_at_mut(mid);
    build(data, dim, left, depth + 1, max_depth, rng, nodes);
    let right_at = nodes.len() as u32;
    if let Some(n) = nodes.get_mut(me) {
        n.right = right_at;
    }
    build(data, dim, right, depth + 1, max_depth, rng, nodes);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::{prop_assert, proptest};

    fn cluster(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n * 3).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    #[test]
    fn outliers_score_higher_than_inliers() {
        let data = cluster(1000, 1);
        let f = IsolationForest::fit(&data, 3, &ForestConfig::default()).unwrap();
        let inlier = f.score(&[0.0, 0.1, -0.1]).unwrap();
        let outlier = f.score(&[5.0, 5.0, -5.0]).unwrap();
        assert!(outlier > 0.6, "outlier {outlier}");
        assert!(inlier < 0.5, "inlier {inlier}");
    }

    #[test]
    fn training_is_reproducible_with_a_seed() {
        let data = cluster(300, 2);
        let a = IsolationForest::fit(&data, 3, &ForestConfig::default()).unwrap();
        let b = IsolationForest::fit(&data, 3, &ForestConfig::default()).unwrap();
        assert_eq!(a, b);
        let c = IsolationForest::fit(
            &data,
            3,
            &ForestConfig {
                seed: 7,
                ..ForestConfig::default()
            },
        )
        .unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn bad_input_is_rejected_with_a_clear_error() {
        let cfg = ForestConfig::default();
        assert_eq!(IsolationForest::fit(&[], 3, &cfg), Err(ForestError::Empty));
        assert!(matches!(
            IsolationForest::fit(&[1.0; 5], 3, &cfg),
            Err(ForestError::BadShape { len: 5, dim: 3 })
        ));
        assert!(matches!(
            IsolationForest::fit(&[1.0; 3], 0, &cfg),
            Err(ForestError::BadShape { .. })
        ));
        assert_eq!(
            IsolationForest::fit(&[1.0, 2.0, f32::NAN, 4.0], 2, &cfg),
            Err(ForestError::NonFinite { row: 1, feature: 0 })
        );
        let zero = ForestConfig {
            n_trees: 0,
            ..cfg.clone()
        };
        assert!(matches!(
            IsolationForest::fit(&[1.0; 4], 2, &zero),
            Err(ForestError::InvalidConfig(_))
        ));
        let f = IsolationForest::fit(&cluster(50, 3), 3, &cfg).unwrap();
        assert_eq!(
            f.score(&[1.0, 2.0]),
            Err(ForestError::DimensionMismatch {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(
            f.score(&[1.0, f32::INFINITY, 0.0]),
            Err(ForestError::NonFinite { row: 0, feature: 1 })
        );
    }

    #[test]
    fn constant_data_gives_a_valid_model() {
        let f = IsolationForest::fit(&[2.0; 40], 2, &ForestConfig::default()).unwrap();
        let s = f.score(&[2.0, 2.0]).unwrap();
        assert!((0.0..=1.0).contains(&s));
        // A single row also trains (one leaf per tree).
        let one = IsolationForest::fit(&[1.0, 1.0], 2, &ForestConfig::default()).unwrap();
        assert!((0.0..=1.0).contains(&one.score(&[9.0, 9.0]).unwrap()));
    }

    #[test]
    fn serde_round_trip_and_corrupt_models_are_rejected() {
        let f = IsolationForest::fit(&cluster(100, 4), 3, &ForestConfig::default()).unwrap();
        let json = serde_json::to_string(&f).unwrap();
        let back: IsolationForest = serde_json::from_str(&json).unwrap();
        assert_eq!(f, back);
        // A right child pointing backwards would loop forever: rejected.
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let tree = &mut v["trees"][0];
        let idx = tree
            .as_array()
            .unwrap()
            .iter()
            .position(|n| n["feature"] != u32::MAX)
            .unwrap();
        tree[idx]["right"] = serde_json::json!(0);
        let err = serde_json::from_value::<IsolationForest>(v).unwrap_err();
        assert!(err.to_string().contains("invalid split"), "{err}");
    }

    proptest! {
        #[test]
        fn scores_are_always_in_unit_interval(
            x in proptest::collection::vec(-1e6f32..1e6, 3),
            seed in 0u64..50,
        ) {
            let f = IsolationForest::fit(&cluster(64, seed), 3, &ForestConfig { n_trees: 10, seed, ..ForestConfig::default() }).unwrap();
            let s = f.score(&x).unwrap();
            prop_assert!((0.0..=1.0).contains(&s));
        }
    }
}
