//! Conversion of a validated batch into the detectors' time-ordered streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use shroud_telemetry::streams::{PointerKind, TouchPhase};
use shroud_telemetry::{FocusState, Limits, Streams, Zone, parse};

const ORIGIN: f64 = 1_763_779_200_000.0;

fn streams(events: serde_json::Value) -> Streams {
    let b = json!({"v":1,"session":"s","seq":0,"dropped":3,"clock":{"origin":ORIGIN,"sent":10_000},"events":events});
    let now = UNIX_EPOCH + Duration::from_millis(ORIGIN as u64 + 10_000);
    Streams::from_batch(&parse(b.to_string().as_bytes(), &Limits::default(), now).unwrap())
}

#[test]
fn keystrokes_pair_by_zone_first_in_first_out_with_absolute_times() {
    let s = streams(json!([
        {"t": 5, "k": "ku", "z": "SP"},
        {"t": 10, "k": "kd", "z": "L3"},
        {"t": 20, "k": "kd", "z": "L3"},
        {"t": 25, "k": "kd", "z": "MO"},
        {"t": 30, "k": "kd", "z": "MO", "r": true},
        {"t": 40, "k": "ku", "z": "L3"},
        {"t": 60, "k": "ku", "z": "L3"},
        {"t": 70, "k": "kd", "z": "R2"}
    ]));
    assert_eq!(s.orphan_key_ups, 1);
    let k: Vec<_> = s
        .keystrokes
        .iter()
        .map(|k| (k.zone, k.down_ms - ORIGIN, k.hold_ms(), k.repeats))
        .collect();
    assert_eq!(
        k,
        vec![
            (Zone::L3, 10.0, Some(30.0), 0),
            (Zone::L3, 20.0, Some(40.0), 0),
            (Zone::Modifier, 25.0, None, 1),
            (Zone::R2, 70.0, None, 0),
        ]
    );
    assert_eq!(s.complete_keystrokes().count(), 2);
    assert_eq!(s.dropped, 3);
    assert_eq!(s.start_ms, ORIGIN + 5.0);
    assert_eq!(s.end_ms, ORIGIN + 70.0);
}

#[test]
fn pointer_wheel_scroll_touch_streams() {
    let s = streams(json!([
        {"t": 1, "k": "mm", "x": 1, "y": 2},
        {"t": 2, "k": "md", "x": 1, "y": 2, "b": 0},
        {"t": 3, "k": "mm", "x": 5, "y": 6, "b": 1},
        {"t": 4, "k": "mu", "x": 5, "y": 6, "b": 0},
        {"t": 5, "k": "wh", "dx": 0, "dy": 100, "m": 0},
        {"t": 6, "k": "sc", "sx": 0, "sy": 100},
        {"t": 7, "k": "ts", "id": 3, "x": 1, "y": 1, "p": 0.4, "rx": 9},
        {"t": 8, "k": "tm", "id": 3, "x": 2, "y": 2},
        {"t": 9, "k": "te", "id": 3, "x": 2, "y": 2}
    ]));
    let kinds: Vec<_> = s
        .pointer
        .iter()
        .map(|p| (p.kind, p.button, p.buttons))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (PointerKind::Move, None, None),
            (PointerKind::Down, Some(0), None),
            (PointerKind::Move, None, Some(1)),
            (PointerKind::Up, Some(0), None)
        ]
    );
    assert!(s.pointer.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
    assert_eq!(s.wheel[0].dy, 100.0);
    assert_eq!(s.scroll[0].sy, 100.0);
    let phases: Vec<_> = s.touch.iter().map(|t| t.phase).collect();
    assert_eq!(
        phases,
        vec![TouchPhase::Start, TouchPhase::Move, TouchPhase::End]
    );
    assert_eq!(s.touch[0].pressure, Some(0.4));
    assert_eq!(s.touch[0].rx, Some(9.0));
}

#[test]
fn clipboard_focus_and_dwell_summaries() {
    let s = streams(json!([
        {"t": 0, "k": "cb", "op": "copy"},
        {"t": 1, "k": "cb", "op": "paste"},
        {"t": 2, "k": "cb", "op": "paste"},
        {"t": 100, "k": "fc", "s": "hidden"},
        {"t": 400, "k": "fc", "s": "visible"},
        {"t": 500, "k": "fc", "s": "win_blur"},
        {"t": 600, "k": "dw", "el": "ssn", "ms": 250},
        {"t": 700, "k": "dw", "el": "card", "ms": 100},
        {"t": 800, "k": "dw", "el": "ssn", "ms": 50},
        {"t": 900, "k": "fc", "s": "field_focus", "el": "login"}
    ]));
    assert_eq!(
        (s.clipboard.copy, s.clipboard.cut, s.clipboard.paste),
        (1, 0, 2)
    );
    assert_eq!(s.focus_summary.hidden_ms, 300.0);
    assert_eq!(
        s.focus_summary.blurred_ms, 400.0,
        "still blurred at the batch end"
    );
    assert_eq!(s.focus_summary.count(FocusState::Hidden), 1);
    assert_eq!(s.focus.len(), 4);
    assert_eq!(s.focus[3].el.as_deref(), Some("login"));
    let d: Vec<_> = s
        .dwell
        .iter()
        .map(|d| (d.el.as_str(), d.total_ms, d.count))
        .collect();
    assert_eq!(d, vec![("card", 100.0, 1), ("ssn", 300.0, 2)]);
}
