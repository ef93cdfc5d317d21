//! The same workloads as `benches/mask.rs`, timed in CPU time of this thread
//! (`/proc/thread-self/schedstat`, nanoseconds on CPU) instead of wall time, so the figure
//! stays meaningful on a machine shared with other jobs: MB per CPU-second = MB/s per core.
//!
//! Run: `cargo bench -p shroud-mask --bench mask_cpu`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use shroud_mask::{Level, MaskContext, Masker, Policy};

#[path = "mask.rs"]
#[allow(unused)]
mod gen_doc;

fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn measure(name: &str, bytes: usize, mut f: impl FnMut()) {
    f(); // warm up
    let (c0, w0) = (cpu_ns(), Instant::now());
    let mut n = 0u64;
    while w0.elapsed() < Duration::from_secs(4) || n < 5 {
        f();
        n += 1;
    }
    let cpu = (cpu_ns() - c0) as f64 / 1e9;
    let wall = w0.elapsed().as_secs_f64();
    let mb = (bytes as f64 * n as f64) / 1e6;
    println!(
        "| {name:<28} | {n:>5} | {:>9.1} | {:>9.1} |",
        mb / cpu,
        mb / wall
    );
}

fn main() {
    let doc = gen_doc::document(1 << 20);
    println!("document: {} bytes", doc.len());
    println!("| workload                     | iters | MB/CPU-s  | MB/wall-s |");
    println!("|------------------------------|-------|-----------|-----------|");
    measure("serde_json_value_roundtrip", doc.len(), || {
        let v: serde_json::Value = serde_json::from_slice(black_box(&doc)).unwrap();
        black_box(serde_json::to_vec(&v).unwrap());
    });
    let ctx = MaskContext::default();
    let sel = Masker::new(
        Policy::selectors_only(gen_doc::SELECTORS, "bench").unwrap(),
        None,
        None,
    );
    measure("selectors_only_redact", doc.len(), || {
        black_box(sel.mask_json(black_box(&doc), Level::Redact, &ctx).unwrap());
    });
    let all = Masker::new(Policy::default(), None, None);
    measure("all_detectors_redact", doc.len(), || {
        black_box(all.mask_json(black_box(&doc), Level::Redact, &ctx).unwrap());
    });
    measure("all_detectors_substitute", doc.len(), || {
        black_box(
            all.mask_json(black_box(&doc), Level::Substitute, &ctx)
                .unwrap(),
        );
    });
}
