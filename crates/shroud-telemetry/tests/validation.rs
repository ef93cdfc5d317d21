//! One test per rule of `docs/telemetry.md`: every violation is refused with
//! the documented HTTP class, the offending event index and field path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use shroud_telemetry::{
    ContentEncoding, EventKind, Limits, Status, TelemetryError, Zone, ZoneMode, decode, parse,
};

const ORIGIN: f64 = 1_763_779_200_000.0;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ORIGIN as u64 + 60_000)
}

fn base() -> Value {
    json!({
        "v": 1,
        "session": "b3f1c2e0-6d8f-4d1c-9b7a-2f0c9c1d8e11",
        "seq": 7,
        "clock": { "origin": ORIGIN, "sent": 48211.7 },
        "viewport": { "w": 1440, "h": 900, "dpr": 2 },
        "events": [
            { "t": 48002.1, "k": "kd", "z": "L3" },
            { "t": 48090.4, "k": "ku", "z": "L3" },
            { "t": 48101.0, "k": "mm", "x": 512.5, "y": 300 },
            { "t": 48130.9, "k": "md", "x": 514, "y": 301, "b": 0 }
        ]
    })
}

fn run(v: &Value) -> Result<shroud_telemetry::Batch, TelemetryError> {
    parse(v.to_string().as_bytes(), &Limits::default(), now())
}

/// Asserts a 400 naming `event` and `field`, with `why` in the reason.
fn rejects(v: &Value, event: Option<usize>, field: &str, why: &str) {
    let e = run(v).expect_err("should be rejected");
    assert_eq!(e.status(), Status::BadRequest, "{e}");
    assert_eq!(e.event(), event, "{e}");
    assert_eq!(e.field(), Some(field), "{e}");
    assert!(e.to_string().contains(why), "{e:?} should mention {why:?}");
    let body = e.response_body();
    assert_eq!(body["field"], field);
    assert_eq!(body["event"], event.map_or(Value::Null, |i| json!(i)));
}

fn with_event(i: usize, ev: Value) -> Value {
    let mut b = base();
    b["events"][i] = ev;
    b
}

#[test]
fn the_documented_example_is_valid() {
    let b = run(&base()).unwrap();
    assert_eq!(b.seq, 7);
    assert_eq!(b.events.len(), 4);
    assert_eq!(
        b.events[0].kind,
        EventKind::KeyDown {
            zone: Zone::L3,
            repeat: false
        }
    );
    assert_eq!(b.zones, ZoneMode::Fine);
}

#[test]
fn every_event_kind_parses_and_round_trips() {
    let mut b = base();
    b["clock"]["sent"] = json!(50_000);
    b["events"] = json!([
        { "t": 1, "k": "kd", "z": "SP", "r": true },
        { "t": 2, "k": "ku", "z": "SP" },
        { "t": 3, "k": "mm", "x": 1, "y": 2, "b": 1 },
        { "t": 4, "k": "md", "x": 1, "y": 2, "b": 2 },
        { "t": 5, "k": "mu", "x": 1, "y": 2, "b": 2 },
        { "t": 6, "k": "wh", "dx": 0, "dy": -100, "m": 0, "x": 3, "y": 4 },
        { "t": 7, "k": "sc", "sx": 0, "sy": 2400 },
        { "t": 8, "k": "ts", "id": 0, "x": 10, "y": 20, "p": 0.5, "rx": 11, "ry": 12 },
        { "t": 9, "k": "tm", "id": 0, "x": 11, "y": 21 },
        { "t": 10, "k": "te", "id": 0, "x": 12, "y": 22 },
        { "t": 11, "k": "cb", "op": "paste" },
        { "t": 12, "k": "fc", "s": "field_focus", "el": "login.pw" },
        { "t": 13, "k": "dw", "el": "ssn-card", "ms": 1500 }
    ]);
    let parsed = run(&b).unwrap();
    assert_eq!(parsed.events.len(), 13);
    let again: Value = serde_json::from_str(&parsed.to_json()).unwrap();
    let reparsed = run(&again).unwrap();
    assert_eq!(parsed, reparsed);
}

#[test]
fn version_must_be_1() {
    let mut b = base();
    b["v"] = json!(2);
    rejects(&b, None, "v", "unsupported schema version 2");
}

#[test]
fn missing_top_level_fields_are_named() {
    for f in ["v", "session", "seq", "clock", "events"] {
        let mut b = base();
        b.as_object_mut().unwrap().remove(f);
        rejects(&b, None, f, "missing field");
    }
    let mut b = base();
    b["clock"].as_object_mut().unwrap().remove("sent");
    rejects(&b, None, "clock.sent", "missing field");
}

#[test]
fn unknown_and_duplicate_fields_are_errors() {
    let mut b = base();
    b["extra"] = json!(1);
    rejects(&b, None, "extra", "unknown field");
    let mut b = base();
    b["clock"]["tz"] = json!(1);
    rejects(&b, None, "clock.tz", "unknown field");
    rejects(
        &with_event(
            2,
            json!({"t": 48101.0, "k": "mm", "x": 1, "y": 2, "key": "a"}),
        ),
        Some(2),
        "events[2].key",
        "unknown field",
    );
    let dup = br#"{"v":1,"v":1,"session":"s","seq":0,"clock":{"origin":1763779200000,"sent":1},"events":[{"t":0,"k":"sc","sx":0,"sy":0}]}"#;
    let e = parse(dup, &Limits::default(), now()).unwrap_err();
    assert_eq!(e.field(), Some("v"));
    let dup = br#"{"v":1,"session":"s","seq":0,"clock":{"origin":1763779200000,"sent":1},"events":[{"t":0,"t":0,"k":"sc","sx":0,"sy":0}]}"#;
    let e = parse(dup, &Limits::default(), now()).unwrap_err();
    assert_eq!((e.event(), e.field()), (Some(0), Some("events[0].t")));
}

#[test]
fn unknown_kind_and_zone_and_enum_values() {
    rejects(
        &with_event(1, json!({"t": 48090.4, "k": "kp", "z": "L3"})),
        Some(1),
        "events[1].k",
        "unknown event kind \"kp\"",
    );
    rejects(
        &with_event(1, json!({"t": 48090.4, "k": "ku", "z": "Q"})),
        Some(1),
        "events[1].z",
        "unknown key zone \"Q\"",
    );
    rejects(
        &with_event(3, json!({"t": 48130.9, "k": "cb", "op": "print"})),
        Some(3),
        "events[3].op",
        "unknown clipboard operation",
    );
    rejects(
        &with_event(3, json!({"t": 48130.9, "k": "fc", "s": "maybe"})),
        Some(3),
        "events[3].s",
        "unknown focus state",
    );
    rejects(
        &with_event(
            3,
            json!({"t": 48130.9, "k": "wh", "dx": 0, "dy": 1, "m": 3}),
        ),
        Some(3),
        "events[3].m",
        "not a delta mode",
    );
    rejects(
        &with_event(3, json!({"t": 48130.9, "k": "md", "x": 0, "y": 1, "b": 6})),
        Some(3),
        "events[3].b",
        "out of range 0..=5",
    );
    rejects(
        &with_event(2, json!({"t": 48101.0, "k": "mm", "x": 0, "y": 1, "b": 32})),
        Some(2),
        "events[2].b",
        "out of range 0..=31",
    );
}

#[test]
fn fields_must_belong_to_the_kind_and_required_ones_be_present() {
    rejects(
        &with_event(0, json!({"t": 48002.1, "k": "kd", "z": "L3", "x": 4})),
        Some(0),
        "events[0].x",
        "not allowed in a \"kd\" event",
    );
    rejects(
        &with_event(3, json!({"t": 48130.9, "k": "md", "x": 1, "y": 2})),
        Some(3),
        "events[3].b",
        "missing field",
    );
    rejects(
        &with_event(0, json!({"k": "kd", "z": "L3"})),
        Some(0),
        "events[0].t",
        "missing field",
    );
    rejects(
        &with_event(0, json!({"t": 48002.1, "z": "L3"})),
        Some(0),
        "events[0].k",
        "missing field",
    );
    rejects(
        &with_event(3, json!({"t": 48130.9, "k": "dw", "el": "x"})),
        Some(3),
        "events[3].ms",
        "missing field",
    );
}

#[test]
fn wrong_types_name_the_field() {
    rejects(
        &with_event(2, json!({"t": 48101.0, "k": "mm", "x": "512", "y": 300})),
        Some(2),
        "events[2].x",
        "invalid type",
    );
    rejects(
        &with_event(2, json!("mm")),
        Some(2),
        "events[2]",
        "invalid type",
    );
    let mut b = base();
    b["seq"] = json!(-1);
    rejects(&b, None, "seq", "invalid value");
    let mut b = base();
    b["clock"]["origin"] = json!("now");
    rejects(&b, None, "clock.origin", "invalid type");
}

#[test]
fn timestamps_must_be_ordered_finite_and_not_after_sent() {
    rejects(
        &with_event(2, json!({"t": 48000.0, "k": "mm", "x": 1, "y": 2})),
        Some(2),
        "events[2].t",
        "before the previous event",
    );
    rejects(
        &with_event(3, json!({"t": 49300.0, "k": "mm", "x": 1, "y": 2})),
        Some(3),
        "events[3].t",
        "after clock.sent",
    );
    rejects(
        &with_event(0, json!({"t": -1, "k": "kd", "z": "L3"})),
        Some(0),
        "events[0].t",
        "not a finite time",
    );
    // Equal timestamps are fine (non-decreasing).
    let b = with_event(2, json!({"t": 48090.4, "k": "mm", "x": 1, "y": 2}));
    run(&b).unwrap();
    // 1e400 is not a finite f64.
    let s = base().to_string().replace("48002.1", "1e400");
    let e = parse(s.as_bytes(), &Limits::default(), now()).unwrap_err();
    assert_eq!(e.field(), Some("events[0].t"), "{e}");
}

#[test]
fn batch_span_is_limited() {
    let mut b = base();
    b["clock"]["sent"] = json!(2_000_000);
    b["events"] = json!([
        { "t": 0, "k": "sc", "sx": 0, "sy": 0 },
        { "t": 899_000, "k": "sc", "sx": 0, "sy": 1 },
        { "t": 900_001, "k": "sc", "sx": 0, "sy": 2 }
    ]);
    rejects(&b, Some(2), "events[2].t", "limit is 900000 ms");
}

#[test]
fn clock_skew_is_limited_by_send_time_not_page_age() {
    let mut b = base();
    b["clock"]["origin"] = json!(ORIGIN + 25.0 * 3_600_000.0);
    rejects(&b, None, "clock.origin", "too far from server time");
    let mut b = base();
    b["clock"]["origin"] = json!(ORIGIN - 25.0 * 3_600_000.0);
    rejects(&b, None, "clock.origin", "behind server time");
    // A tab open for three days: old origin, large `sent`, but sent now.
    let mut b = base();
    let age = 3.0 * 86_400_000.0;
    b["clock"] = json!({ "origin": ORIGIN - age, "sent": age + 48211.7 });
    for (i, t) in [age + 48002.1, age + 48090.4, age + 48101.0, age + 48130.9]
        .into_iter()
        .enumerate()
    {
        b["events"][i]["t"] = json!(t);
    }
    run(&b).unwrap();
    let tight = Limits {
        max_clock_skew_ms: 1000.0,
        ..Limits::default()
    };
    let e = parse(base().to_string().as_bytes(), &tight, now()).unwrap_err();
    assert_eq!(e.field(), Some("clock.origin"));
}

#[test]
fn coordinates_pressure_radius_and_dwell_ranges() {
    rejects(
        &with_event(2, json!({"t": 48101.0, "k": "mm", "x": 100_001, "y": 0})),
        Some(2),
        "events[2].x",
        "out of range",
    );
    rejects(
        &with_event(2, json!({"t": 48101.0, "k": "mm", "x": 0, "y": -100_001})),
        Some(2),
        "events[2].y",
        "out of range",
    );
    rejects(
        &with_event(
            3,
            json!({"t": 48130.9, "k": "ts", "id": 1, "x": 0, "y": 0, "p": 1.01}),
        ),
        Some(3),
        "events[3].p",
        "out of range",
    );
    rejects(
        &with_event(
            3,
            json!({"t": 48130.9, "k": "tm", "id": 1, "x": 0, "y": 0, "rx": -1}),
        ),
        Some(3),
        "events[3].rx",
        "out of range",
    );
    rejects(
        &with_event(
            3,
            json!({"t": 48130.9, "k": "te", "id": 1, "x": 0, "y": 0, "ry": 10_001}),
        ),
        Some(3),
        "events[3].ry",
        "out of range",
    );
    rejects(
        &with_event(
            3,
            json!({"t": 48130.9, "k": "wh", "dx": 1e6, "dy": 0, "m": 0}),
        ),
        Some(3),
        "events[3].dx",
        "out of range",
    );
    rejects(
        &with_event(3, json!({"t": 48130.9, "k": "sc", "sx": 0, "sy": 1e9})),
        Some(3),
        "events[3].sy",
        "out of range",
    );
    rejects(
        &with_event(
            3,
            json!({"t": 48130.9, "k": "dw", "el": "card", "ms": 86_400_001}),
        ),
        Some(3),
        "events[3].ms",
        "out of range",
    );
    // Scroll offsets of long pages are fine beyond the viewport bound.
    run(&with_event(
        3,
        json!({"t": 48130.9, "k": "sc", "sx": 0, "sy": 2_500_000}),
    ))
    .unwrap();
}

#[test]
fn labels_session_user_and_viewport() {
    rejects(
        &with_event(
            3,
            json!({"t": 48130.9, "k": "dw", "el": "ssn card", "ms": 1}),
        ),
        Some(3),
        "events[3].el",
        "not 1..=64 chars",
    );
    rejects(
        &with_event(
            3,
            json!({"t": 48130.9, "k": "fc", "s": "field_focus", "el": ""}),
        ),
        Some(3),
        "events[3].el",
        "not 1..=64 chars",
    );
    let mut b = base();
    b["session"] = json!("a/b");
    rejects(&b, None, "session", "[A-Za-z0-9._:-]");
    let mut b = base();
    b["session"] = json!("x".repeat(129));
    rejects(&b, None, "session", "1..=128");
    let mut b = base();
    b["user"] = json!("bob\n");
    rejects(&b, None, "user", "control characters");
    let mut b = base();
    b["viewport"]["dpr"] = json!(0);
    rejects(&b, None, "viewport.dpr", "out of range");
    let mut b = base();
    b["viewport"]["w"] = json!(200_000);
    rejects(&b, None, "viewport.w", "out of range");
    let mut b = base();
    b["seq"] = json!(9_007_199_254_740_993u64);
    rejects(&b, None, "seq", "above 2^53");
}

#[test]
fn zone_mode_must_match_the_zones_used() {
    rejects(
        &with_event(0, json!({"t": 48002.1, "k": "kd", "z": "LH"})),
        Some(0),
        "events[0].z",
        "hand zone LH",
    );
    let mut b = base();
    b["zones"] = json!("hands");
    rejects(&b, Some(0), "events[0].z", "finger zone L3");
    b["events"][0]["z"] = json!("LH");
    b["events"][1]["z"] = json!("LH");
    let parsed = run(&b).unwrap();
    assert_eq!(parsed.zones, ZoneMode::Hands);
    b["zones"] = json!("coarse");
    rejects(&b, None, "zones", "unknown zone mode");
}

#[test]
fn event_count_limits() {
    let mut b = base();
    b["events"] = json!([]);
    rejects(&b, None, "events", "no events");
    let limits = Limits {
        max_events: 3,
        ..Limits::default()
    };
    let e = parse(base().to_string().as_bytes(), &limits, now()).unwrap_err();
    assert_eq!(e.to_string(), "events: 4 events, limit is 3");
    assert_eq!(e.status().code(), 400);
    let limits = Limits {
        max_events: 4,
        ..Limits::default()
    };
    parse(base().to_string().as_bytes(), &limits, now()).unwrap();
}

#[test]
fn nesting_depth_is_limited_before_parsing() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = parse(deep.as_bytes(), &Limits::default(), now()).unwrap_err();
    assert!(e.to_string().contains("nesting deeper than 8"), "{e}");
    assert_eq!(e.status().code(), 400);
    // Brackets inside strings do not count.
    let mut b = base();
    b["user"] = json!("[[[[[[[[[[[[");
    run(&b).unwrap();
}

#[test]
fn not_json_or_trailing_garbage() {
    for body in [&b"not json"[..], b"", b"[]", b"{\"v\":1", b"\xff\xfe"] {
        let e = parse(body, &Limits::default(), now()).unwrap_err();
        assert_eq!(e.status().code(), 400, "{e}");
    }
    let mut s = base().to_string();
    s.push_str(" {}");
    let e = parse(s.as_bytes(), &Limits::default(), now()).unwrap_err();
    assert!(e.to_string().contains("trailing"), "{e}");
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn brotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
        w.write_all(b).unwrap();
    }
    out
}

#[test]
fn gzip_and_brotli_bodies_decode() {
    let json = base().to_string();
    let l = Limits::default();
    assert_eq!(
        decode(&gzip(json.as_bytes()), ContentEncoding::Gzip, &l, now())
            .unwrap()
            .events
            .len(),
        4
    );
    assert_eq!(
        decode(&brotli(json.as_bytes()), ContentEncoding::Brotli, &l, now())
            .unwrap()
            .events
            .len(),
        4
    );
    let e = decode(b"\x1f\x8b garbage", ContentEncoding::Gzip, &l, now()).unwrap_err();
    assert_eq!(e.status().code(), 400);
    let e = decode(b"garbage", ContentEncoding::Brotli, &l, now()).unwrap_err();
    assert_eq!(e.status().code(), 400);
}

#[test]
fn content_encoding_header() {
    assert_eq!(
        ContentEncoding::from_header(None).unwrap(),
        ContentEncoding::Identity
    );
    assert_eq!(
        ContentEncoding::from_header(Some("GZIP")).unwrap(),
        ContentEncoding::Gzip
    );
    assert_eq!(
        ContentEncoding::from_header(Some("x-gzip")).unwrap(),
        ContentEncoding::Gzip
    );
    assert_eq!(
        ContentEncoding::from_header(Some(" br ")).unwrap(),
        ContentEncoding::Brotli
    );
    let e = ContentEncoding::from_header(Some("deflate")).unwrap_err();
    assert_eq!(e.status(), Status::UnsupportedMediaType);
    assert_eq!(e.status().code(), 415);
    assert!(ContentEncoding::from_header(Some("gzip, br")).is_err());
}

#[test]
fn body_size_limits_and_decompression_bombs() {
    let l = Limits::default();
    let big = vec![b' '; l.max_body_bytes + 1];
    let e = decode(&big, ContentEncoding::Identity, &l, now()).unwrap_err();
    assert_eq!(
        e,
        TelemetryError::BodyTooLarge {
            size: l.max_body_bytes + 1,
            limit: l.max_body_bytes
        }
    );
    assert_eq!(e.status().code(), 413);
    // 64 MiB of zeros gzip to ~64 KiB: refused once 2 MiB are out, without inflating the rest.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < l.max_body_bytes);
    let e = decode(&bomb, ContentEncoding::Gzip, &l, now()).unwrap_err();
    assert_eq!(
        e,
        TelemetryError::DecompressedTooLarge {
            limit: l.max_decompressed_bytes
        }
    );
    assert_eq!(e.status(), Status::PayloadTooLarge);
    let bomb = brotli(&vec![b'a'; 64 << 20]);
    let e = decode(&bomb, ContentEncoding::Brotli, &l, now()).unwrap_err();
    assert_eq!(e.status().code(), 413);
    // Exactly at the limit is fine for the decompressor.
    let small = Limits {
        max_decompressed_bytes: 10,
        ..Limits::default()
    };
    assert_eq!(
        shroud_telemetry::decompress(&gzip(b"0123456789"), ContentEncoding::Gzip, 10)
            .unwrap()
            .len(),
        10
    );
    assert!(decode(&gzip(b"0123456789a"), ContentEncoding::Gzip, &small, now()).is_err());
}

#[test]
fn error_bodies_follow_the_documented_shape() {
    let e = run(&with_event(2, json!({"t": 1.0, "k": "mm", "x": 1, "y": 2}))).unwrap_err();
    let body = e.response_body();
    assert_eq!(body["event"], 2);
    assert_eq!(body["field"], "events[2].t");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("before the previous event")
    );
    let e = TelemetryError::DecompressedTooLarge { limit: 5 };
    assert_eq!(
        e.response_body()["error"],
        "decompressed body too large: more than 5 bytes"
    );
    assert_eq!(e.response_body()["event"], Value::Null);
}
