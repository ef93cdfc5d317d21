//! Decision latency: all context signals, 20 CEL rules, the population model
//! and fusion for one request on a trained engine. Criterion gives the mean;
//! a second pass times 100 000 single calls and prints p50/p99/p99.9.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use shroud_policy::{CompiledPolicy, Engine, EngineOptions, Geo, RequestContext};

fn policy_with_20_rules() -> String {
    let conds = [
        "request.hour >= 22 || request.hour < 6",
        "geo.country != profile.home_country",
        "app in [\"legacy-export\"]",
        "records > 100 * profile.records_p99",
        "\"ssn\" in classes",
        "request.method == \"DELETE\"",
        "request.route.startsWith(\"/api/admin\")",
        "device.new && records > 1000",
        "geo.travel_kmh > 2000.0",
        "ip.users > 20",
        "ip.failures > 10.0",
        "request.weekend && records > 500",
        "signals.volume > 0.8 && signals.time > 0.5",
        "!biometric.available && records > 5000",
        "classes.exists(c, c == \"card\")",
        "request.status == 401",
        "profile.requests < 10 && records > 100",
        "geo.country in [\"KP\", \"IR\"]",
        "request.app == \"hr\" && request.hour > 20",
        "size(classes) > 4",
    ];
    let mut s = String::from(
        "version = \"bench\"\n[population]\nmin_samples = 500\nretrain_every = 100000\n",
    );
    for (i, c) in conds.iter().enumerate() {
        s.push_str(&format!(
            "[[rules]]\nname = \"r{i}\"\ncondition = '{c}'\nfactor = 1.0\n"
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let policy = CompiledPolicy::from_toml(&policy_with_20_rules()).unwrap();
    assert_eq!(policy.rule_names().count(), 20);
    let engine = Engine::with_options(
        policy,
        EngineOptions {
            background_retrain: false,
            ..EngineOptions::default()
        },
    );
    let geo = Geo {
        country: "DE".into(),
        city: Some("Berlin".into()),
        lat: Some(52.5),
        lon: Some(13.4),
    };
    let classes = ["email", "name"];
    let users: Vec<String> = (0..200).map(|i| format!("user{i}")).collect();
    let start = Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap();
    fn mk(u: &str, rec: u32) -> RequestContext<'_> {
        RequestContext {
            user: u,
            ip: Some("203.0.113.9".parse().unwrap()),
            geo: None,
            tz: Some(chrono_tz::Europe::Berlin),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
            client_hints: "",
            app: "crm",
            route: "/api/customers/17",
            method: "GET",
            status: Some(200),
            records: Some(rec),
            classes: &[],
            biometric: None,
            external: &[],
        }
    }
    // Train: 200 users × 30 requests so profiles and the forest exist.
    let mut t = start;
    for k in 0..30 {
        for u in &users {
            let mut ctx = mk(u, 1 + (k % 20));
            ctx.geo = Some(&geo);
            ctx.classes = &classes;
            engine.decide(&ctx, t);
            t += Duration::seconds(3);
        }
    }
    let mut i = 0usize;
    c.bench_function("decide_20_rules_trained_profile", |b| {
        b.iter(|| {
            i += 1;
            let mut ctx = mk(&users[i % users.len()], 5 + (i % 30) as u32);
            ctx.geo = Some(&geo);
            ctx.classes = &classes;
            black_box(engine.decide(black_box(&ctx), t + Duration::milliseconds(i as i64)))
        })
    });
    // Tail latency of single calls.
    let mut samples = Vec::with_capacity(100_000);
    for j in 0..100_000usize {
        let mut ctx = mk(&users[j % users.len()], 5 + (j % 30) as u32);
        ctx.geo = Some(&geo);
        ctx.classes = &classes;
        let now = t + Duration::milliseconds((i + j) as i64);
        let t0 = Instant::now();
        black_box(engine.decide(&ctx, now));
        samples.push(t0.elapsed().as_nanos() as u64);
    }
    samples.sort_unstable();
    let q = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0;
    println!(
        "decide_20_rules single-call latency over {} calls: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs",
        samples.len(),
        q(0.5),
        q(0.99),
        q(0.999)
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
