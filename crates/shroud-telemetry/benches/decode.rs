//! Throughput of decode + validate (events per second) on a realistic mixed
//! batch, identity and gzip, at the default 5000-event limit and at a typical
//! 200-event batch.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shroud_telemetry::{ContentEncoding, Limits, decode};

const ORIGIN: f64 = 1_763_779_200_000.0;

/// A batch shaped like real traffic: mostly pointer moves, typing bursts,
/// some wheel/scroll and focus events.
fn batch_json(n: usize) -> String {
    let zones = ["L3", "R2", "SP", "L5", "R4", "BS", "MO", "L1"];
    let mut ev = Vec::with_capacity(n);
    let mut t = 10.0f64;
    let mut i = 0;
    while ev.len() < n {
        t += 7.31;
        let e = match i % 10 {
            0..=4 => format!(
                r#"{{"t":{t:.1},"k":"mm","x":{:.1},"y":{:.1}}}"#,
                100.0 + i as f64 * 0.7,
                300.5 - i as f64 * 0.3
            ),
            5 => format!(
                r#"{{"t":{t:.1},"k":"kd","z":"{}"}}"#,
                zones[i % zones.len()]
            ),
            6 => format!(
                r#"{{"t":{t:.1},"k":"ku","z":"{}"}}"#,
                zones[(i - 1) % zones.len()]
            ),
            7 => format!(r#"{{"t":{t:.1},"k":"wh","dx":0,"dy":-53.5,"m":0,"x":400,"y":300}}"#),
            8 => format!(r#"{{"t":{t:.1},"k":"sc","sx":0,"sy":{}}}"#, i * 3),
            _ => format!(r#"{{"t":{t:.1},"k":"md","x":512,"y":301.5,"b":0}}"#),
        };
        ev.push(e);
        i += 1;
    }
    format!(
        r#"{{"v":1,"session":"bench-session","seq":3,"clock":{{"origin":{ORIGIN},"sent":{:.1}}},"viewport":{{"w":1440,"h":900,"dpr":2}},"events":[{}]}}"#,
        t + 5.0,
        ev.join(",")
    )
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let now = UNIX_EPOCH + Duration::from_millis(ORIGIN as u64 + 60_000);
    let _: SystemTime = now;
    let mut g = c.benchmark_group("decode_validate");
    for n in [200usize, 5000] {
        let json = batch_json(n);
        let gz = gzip(json.as_bytes());
        assert!(gz.len() <= limits.max_body_bytes);
        assert_eq!(
            decode(json.as_bytes(), ContentEncoding::Identity, &limits, now)
                .unwrap()
                .events
                .len(),
            n
        );
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("identity/{n}_events"), |b| {
            b.iter(|| decode(json.as_bytes(), ContentEncoding::Identity, &limits, now).unwrap())
        });
        g.bench_function(format!("gzip/{n}_events"), |b| {
            b.iter(|| decode(&gz, ContentEncoding::Gzip, &limits, now).unwrap())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
