//! Criterion benches: keystroke feature extraction throughput, scoring one
//! 50-keystroke window against a profile, mouse segmentation throughput and
//! scoring a 20-action window. Run `cargo bench -p shroud-detect --bench detect`.
//! After criterion, a custom loop prints p50/p99 latencies of the two scoring
//! paths as a table (criterion reports means and confidence intervals only).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{MouseUser, Typist};
use criterion::{Criterion, Throughput, criterion_group};
use shroud_detect::keystroke::{ExtractCounts, KeyExtractor, KeyWindow};
use shroud_detect::keyverify::{KeyModel, KeyUser};
use shroud_detect::mouse::{MouseAction, Segmenter};
use shroud_detect::mousemodel::{MouseConfig, MousePopulation, MouseProfile};

fn key_setup() -> (
    KeyModel,
    KeyUser,
    Vec<KeyWindow>,
    Vec<shroud_detect::keystroke::Keystroke>,
) {
    let wins: Vec<Vec<KeyWindow>> = (0..40)
        .map(|i| Typist::new(1000 + i).windows(7 + i, 10, 50))
        .collect();
    let refs: Vec<Vec<&KeyWindow>> = wins.iter().map(|w| w.iter().collect()).collect();
    let m = KeyModel::train(&refs, 5).unwrap();
    let a = Typist::new(1);
    let mut u = KeyUser::default();
    for w in a.windows(3, 10, 50) {
        m.enroll(&mut u, &w);
    }
    let test = a.windows(4, 64, 50);
    let mut r = common::Rng(5);
    let raw = a.window(&mut r, 50);
    (m, u, test, raw)
}

fn mouse_setup() -> (
    MousePopulation,
    MouseProfile,
    Vec<MouseAction>,
    Vec<shroud_detect::mouse::PointerSample>,
) {
    let all: Vec<MouseAction> = (0..20)
        .flat_map(|i| MouseUser::new(100 + i).actions(i, 100))
        .collect();
    let pop = MousePopulation::build(all.iter());
    let u = MouseUser::new(1);
    let prof = MouseProfile::enroll(&pop, u.actions(2, 300).iter());
    let win: Vec<MouseAction> = u.actions(3, 20);
    let samples = u.samples(4, 200);
    (pop, prof, win, samples)
}

fn benches(c: &mut Criterion) {
    let (m, u, test, raw) = key_setup();
    let mut g = c.benchmark_group("keystroke");
    g.throughput(Throughput::Elements(raw.len() as u64 * 2)); // press + release events
    let mut ex = KeyExtractor::default();
    let mut out = KeyWindow::default();
    g.bench_function("extract 50 keystrokes", |b| {
        b.iter(|| ex.extract_into(black_box(&raw), &mut ExtractCounts::default(), &mut out))
    });
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("score 50-keystroke window", |b| {
        b.iter(|| {
            i = (i + 1) % test.len();
            black_box(m.score(&u, black_box(&test[i])))
        })
    });
    g.finish();
    let (pop, prof, win, samples) = mouse_setup();
    let cfg = MouseConfig::default();
    let mut g = c.benchmark_group("mouse");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.bench_function("segment + features", |b| {
        b.iter(|| {
            let mut seg = Segmenter::default();
            let mut n = 0usize;
            let mut emit = |_a: MouseAction| n += 1;
            for s in black_box(&samples) {
                seg.push(*s, &mut emit);
            }
            seg.finish(&mut emit);
            n
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("score 20-action window", |b| {
        b.iter(|| black_box(prof.score(&pop, &cfg, black_box(&win))))
    });
    g.finish();
}

fn pct(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q) as usize]
}

/// p50/p99 of single calls (each timed alone; includes timer overhead ~20 ns).
fn latency_table() {
    let (m, u, test, _) = key_setup();
    let (pop, prof, win, _) = mouse_setup();
    let cfg = MouseConfig::default();
    let n = 20_000;
    let mut k = Vec::with_capacity(n);
    let mut mo = Vec::with_capacity(n);
    for i in 0..n {
        let w = &test[i % test.len()];
        let t = Instant::now();
        black_box(m.score(&u, black_box(w)));
        k.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        black_box(prof.score(&pop, &cfg, black_box(&win)));
        mo.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!("\nsingle-call latency over {n} calls (µs)");
    println!("{:<34} {:>8} {:>8} {:>8}", "path", "p50", "p99", "max");
    for (name, v) in [
        ("keystroke: score 50-key window", k),
        ("mouse: score 20-action window", mo),
    ] {
        let max = v.iter().copied().fold(0.0, f64::max);
        println!(
            "{:<34} {:>8.2} {:>8.2} {:>8.2}",
            name,
            pct(v.clone(), 0.5),
            pct(v, 0.99),
            max
        );
    }
}

criterion_group!(group, benches);

fn main() {
    group();
    Criterion::default().configure_from_args().final_summary();
    latency_table();
}
