//! The atomically swappable model slot and the window of recent vectors a
//! background retrain learns from.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use arc_swap::ArcSwapOption;

use crate::{ForestConfig, ForestError, IsolationForest};

/// The current model, readable lock-free from many threads while a new one
/// is trained and swapped in.
///
/// ```
/// use std::sync::Arc;
/// use shroud_forest::{ForestConfig, RecentWindow, SharedForest};
///
/// let shared = Arc::new(SharedForest::new());
/// assert!(shared.score(&[0.0, 0.0]).is_none()); // no model yet: caller decides
/// let mut window = RecentWindow::new(2, 1000);
/// for i in 0..500 { window.push(&[i as f32 % 7.0, 1.0]); }
/// let generation = shared
///     .spawn_retrain(window.snapshot(), 2, ForestConfig::default())
///     .join()
///     .unwrap()?;
/// assert_eq!(generation, 1);
/// assert!(shared.score(&[3.0, 1.0]).is_some());
/// # Ok::<(), shroud_forest::ForestError>(())
/// ```
#[derive(Debug, Default)]
pub struct SharedForest {
    current: ArcSwapOption<IsolationForest>,
    generation: AtomicU64,
}

impl SharedForest {
    /// An empty slot: [`score`](Self::score) returns `None` until a model is stored.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current model, if any (a cheap reference-count bump).
    pub fn load(&self) -> Option<Arc<IsolationForest>> {
        self.current.load_full()
    }

    /// Replaces the model atomically; returns the new generation number
    /// (1 for the first model). Readers see the old or the new model, never a mix.
    pub fn store(&self, forest: IsolationForest) -> u64 {
        self.current.store(Some(Arc::new(forest)));
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// How many models have been stored so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Scores with the current model without taking a reference count.
    /// `None` when no model is loaded yet.
    pub fn score(&self, x: &[f32]) -> Option<Result<f32, ForestError>> {
        let guard = self.current.load();
        guard.as_ref().map(|f| f.score(x))
    }

    /// Trains on `data` (row-major, `dim` columns) on a new thread and swaps
    /// the result in when done. The join handle yields the new generation,
    /// or the training error (the old model then stays in place).
    pub fn spawn_retrain(
        self: &Arc<Self>,
        data: Vec<f32>,
        dim: usize,
        config: ForestConfig,
    ) -> JoinHandle<Result<u64, ForestError>> {
        let slot = Arc::clone(self);
        std::thread::spawn(move || {
            let forest = IsolationForest::fit(&data, dim, &config)?;
            Ok(slot.store(forest))
        })
    }
}

/// A fixed-capacity ring of the most recent feature vectors: the "recent
/// traffic" a retrain learns from. Pushing never allocates once full.
#[derive(Debug, Clone)]
pub struct RecentWindow {
    dim: usize,
    capacity: usize,
    data: Vec<f32>,
    next: usize,
    len: usize,
    total: u64,
}

impl RecentWindow {
    /// A window of up to `capacity` vectors of `dim` values (both at least 1).
    pub fn new(dim: usize, capacity: usize) -> Self {
        let dim = dim.max(1);
        let capacity = capacity.max(1);
        Self {
            dim,
            capacity,
            data: Vec::with_capacity(dim * capacity.min(4096)),
            next: 0,
            len: 0,
            total: 0,
        }
    }

    /// Adds a vector, replacing the oldest when full. Vectors of the wrong
    /// length or with non-finite values are ignored (returns `false`) so bad
    /// traffic cannot poison training.
    pub fn push(&mut self, x: &[f32]) -> bool {
        if x.len() != self.dim || x.iter().any(|v| !v.is_finite()) {
            return false;
        }
        if self.len < self.capacity {
            self.data.extend_from_slice(x);
            self.len += 1;
        } else {
            let at = self.next * self.dim;
            if let Some(slot) = self.data.get_mut(at..at + self.dim) {
                slot.copy_from_slice(x);
            }
        }
        self.next = (self.next + 1) % self.capacity;
        self.total += 1;
        true
    }

    /// Number of vectors held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Vectors pushed since creation (including those since overwritten).
    pub fn total_pushed(&self) -> u64 {
        self.total
    }

    /// Vector length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// A row-major copy of the held vectors (order does not matter to training).
    pub fn snapshot(&self) -> Vec<f32> {
        self.data.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn window_keeps_the_most_recent_vectors() {
        let mut w = RecentWindow::new(1, 3);
        for i in 0..5 {
            assert!(w.push(&[i as f32]));
        }
        assert!(!w.push(&[1.0, 2.0]));
        assert!(!w.push(&[f32::NAN]));
        let mut s = w.snapshot();
        s.sort_by(f32::total_cmp);
        assert_eq!(s, vec![2.0, 3.0, 4.0]);
        assert_eq!(w.total_pushed(), 5);
    }

    #[test]
    fn swap_is_visible_and_failed_retrain_keeps_old_model() {
        let shared = Arc::new(SharedForest::new());
        assert!(shared.load().is_none());
        let g = shared
            .spawn_retrain(vec![0.0, 1.0, 2.0, 3.0], 1, ForestConfig::default())
            .join()
            .unwrap()
            .unwrap();
        assert_eq!(g, 1);
        let before = shared.load().unwrap();
        let err = shared
            .spawn_retrain(vec![], 1, ForestConfig::default())
            .join()
            .unwrap();
        assert_eq!(err, Err(ForestError::Empty));
        assert_eq!(shared.generation(), 1);
        assert!(Arc::ptr_eq(&before, &shared.load().unwrap()));
    }

    #[test]
    fn readers_score_while_a_writer_swaps() {
        let shared = Arc::new(SharedForest::new());
        shared.store(IsolationForest::fit(&[0.0, 1.0, 2.0], 1, &ForestConfig::default()).unwrap());
        let reader = {
            let s = Arc::clone(&shared);
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let v = s.score(&[1.0]).unwrap().unwrap();
                    assert!((0.0..=1.0).contains(&v));
                }
            })
        };
        for i in 0..20 {
            let data: Vec<f32> = (0..50).map(|k| (k * (i + 1)) as f32).collect();
            shared.store(IsolationForest::fit(&data, 1, &ForestConfig::default()).unwrap());
        }
        reader.join().unwrap();
        assert_eq!(shared.generation(), 21);
    }
}
