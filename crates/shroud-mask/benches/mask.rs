//! Throughput of the masking engine on a realistic ~1 MB customer document, next to a plain
//! `serde_json::Value` round trip of the same bytes (the ratio is the point).
//!
//! Run: `cargo bench -p shroud-mask --bench mask`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shroud_mask::{Level, MaskContext, Masker, Policy};

/// Deterministic xorshift so the document is identical on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "Jane", "Rahul", "Maria", "Chen", "Fatima", "Lukas", "Aisha", "Diego", "Sofia", "Kwame",
];
const LAST: &[&str] = &[
    "Doe", "Mehta", "Garcia", "Wei", "Khan", "Schmidt", "Okafor", "Silva", "Rossi", "Mensah",
];
const WORDS: &[&str] = &[
    "customer",
    "asked",
    "about",
    "the",
    "delivery",
    "of",
    "order",
    "refund",
    "was",
    "processed",
    "after",
    "checking",
    "warehouse",
    "stock",
    "and",
    "confirming",
    "address",
    "with",
    "courier",
    "package",
    "arrived",
    "damaged",
    "replacement",
    "shipped",
    "today",
    "priority",
    "ticket",
    "escalated",
    "to",
    "billing",
    "team",
    "invoice",
    "corrected",
    "subscription",
    "renewed",
    "for",
    "another",
    "year",
];
const CARDS: &[&str] = &[
    "4111 1111 1111 1111",
    "5555 5555 5555 4444",
    "378282246310005",
    "6011111111111117",
];

/// A ~`target` byte document of customer records (nested arrays, mixed free text, ~1 in 4 notes
/// mentioning a phone, email or card).
pub fn document(target: usize) -> Vec<u8> {
    let mut r = Rng(0x5eed_1234_abcd_9876);
    let mut s = String::with_capacity(target + 4096);
    s.push_str("{\"generated_at\":\"2026-11-20T09:12:44Z\",\"page\":1,\"customers\":[");
    let mut i = 0;
    while s.len() < target {
        if i > 0 {
            s.push(',');
        }
        let (f, l) = (r.pick(FIRST), r.pick(LAST));
        let area = 200 + r.below(700);
        write!(
            s,
            "{{\"id\":\"cus_{i:06x}\",\"name\":\"{f} {l}\",\"email\":\"{}.{}{}@example.com\",\"phone\":\"+1 ({area}) 555-{:04}\",\"ssn\":\"{:03}-{:02}-{:04}\",\"date_of_birth\":\"19{:02}-{:02}-{:02}\",",
            f.to_lowercase(), l.to_lowercase(), r.below(100), r.below(10000), 100 + r.below(500), 10 + r.below(89), 1000 + r.below(8999), 50 + r.below(49), 1 + r.below(12), 1 + r.below(28)
        )
        .unwrap();
        write!(s, "\"address\":{{\"street\":\"{} Market Street\",\"city\":\"Springfield\",\"zip\":\"{:05}\",\"country\":\"US\"}},", 1 + r.below(9999), r.below(99999)).unwrap();
        write!(
            s,
            "\"payment_methods\":[{{\"type\":\"card\",\"number\":\"{}\",\"expiry\":\"0{}/2{}\"}}],",
            r.pick(CARDS),
            1 + r.below(9),
            r.below(9)
        )
        .unwrap();
        s.push_str("\"orders\":[");
        for o in 0..(2 + r.below(4)) {
            if o > 0 {
                s.push(',');
            }
            write!(s, "{{\"order_id\":\"ord_{}\",\"total\":{}.{:02},\"currency\":\"USD\",\"status\":\"shipped\",\"items\":[", r.below(1_000_000), r.below(500), r.below(100)).unwrap();
            for it in 0..(1 + r.below(3)) {
                if it > 0 {
                    s.push(',');
                }
                write!(
                    s,
                    "{{\"sku\":\"SKU-{}\",\"qty\":{},\"price\":{}.99,\"title\":\"{} {}\"}}",
                    r.below(100_000),
                    1 + r.below(5),
                    r.below(200),
                    r.pick(WORDS),
                    r.pick(WORDS)
                )
                .unwrap();
            }
            s.push_str("]}");
        }
        s.push_str("],\"notes\":\"");
        for w in 0..(20 + r.below(30)) {
            if w > 0 {
                s.push(' ');
            }
            s.push_str(r.pick(WORDS));
        }
        match r.below(8) {
            0 => write!(s, " call back on {area}-555-{:04}", r.below(10000)).unwrap(),
            1 => write!(s, " reply to {}@mail.example.org", f.to_lowercase()).unwrap(),
            2 => write!(s, " card ending {}", r.pick(CARDS)).unwrap(),
            _ => {}
        }
        write!(
            s,
            ".\",\"tags\":[\"{}\",\"{}\"],\"score\":{},\"active\":true}}",
            r.pick(WORDS),
            r.pick(WORDS),
            r.below(1000)
        )
        .unwrap();
        i += 1;
    }
    s.push_str("]}");
    s.into_bytes()
}

pub const SELECTORS: &str = r#"
[[selectors]]
path = "$.customers[*].ssn"
kind = "ssn"
[[selectors]]
path = "$.customers[*].email"
kind = "email"
[[selectors]]
path = "$.customers[*].name"
kind = "name"
[[selectors]]
path = "$.customers[*].address"
kind = "address"
[[selectors]]
key = "*phone*"
kind = "phone"
[[selectors]]
key = "number"
kind = "card"
"#;

fn bench(c: &mut Criterion) {
    let doc = document(1 << 20);
    let mut g = c.benchmark_group("mask_1MB");
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.sample_size(20);
    g.measurement_time(std::time::Duration::from_secs(4));
    g.bench_function("serde_json_value_roundtrip", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(&doc)).unwrap();
            serde_json::to_vec(&v).unwrap()
        })
    });
    let ctx = MaskContext::default();
    let sel = Masker::new(
        Policy::selectors_only(SELECTORS, "bench").unwrap(),
        None,
        None,
    );
    g.bench_function("selectors_only_redact", |b| {
        b.iter(|| sel.mask_json(black_box(&doc), Level::Redact, &ctx).unwrap())
    });
    let all = Masker::new(Policy::default(), None, None);
    g.bench_function("all_detectors_redact", |b| {
        b.iter(|| all.mask_json(black_box(&doc), Level::Redact, &ctx).unwrap())
    });
    g.bench_function("all_detectors_substitute", |b| {
        b.iter(|| {
            all.mask_json(black_box(&doc), Level::Substitute, &ctx)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
