//! Criterion benchmark of isolation-forest scoring (the per-request cost) and training.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shroud_forest::{ForestConfig, IsolationForest};
use std::hint::black_box;

const DIM: usize = 12;

fn data(rows: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(42);
    (0..rows * DIM)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect()
}

fn bench(c: &mut Criterion) {
    let train = data(20_000);
    let forest = IsolationForest::fit(&train, DIM, &ForestConfig::default()).unwrap();
    let probes = data(1024);
    let mut i = 0usize;
    c.bench_function("forest_score_100_trees_dim12", |b| {
        b.iter(|| {
            i = (i + 1) % 1024;
            black_box(
                forest
                    .score(black_box(&probes[i * DIM..(i + 1) * DIM]))
                    .unwrap(),
            )
        })
    });
    c.bench_function("forest_fit_100_trees_psi256_20k_rows", |b| {
        b.iter(|| black_box(IsolationForest::fit(&train, DIM, &ForestConfig::default()).unwrap()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
