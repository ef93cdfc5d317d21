//! Property tests: every batch generated within the schema's rules decodes
//! (identity and gzip) to the same events; no byte string, random or a
//! mutated valid batch, makes the decoder panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use shroud_telemetry::{
    Batch, ClipboardOp, Clock, ContentEncoding, DeltaMode, Event, EventKind, FocusState, Limits,
    Touch, Viewport, Zone, ZoneMode, decode,
};

const ORIGIN: f64 = 1_763_779_200_000.0;

fn coord() -> impl Strategy<Value = f64> {
    -100_000.0..=100_000.0f64
}

fn label() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,64}"
}

fn kind(mode: ZoneMode) -> impl Strategy<Value = EventKind> {
    let zone = prop::sample::select(Zone::ALL.to_vec()).prop_map(move |z| {
        if mode == ZoneMode::Hands {
            z.to_hand()
        } else if z.is_hand() {
            Zone::Other
        } else {
            z
        }
    });
    let touch = || {
        (
            any::<i32>(),
            coord(),
            coord(),
            prop::option::of(0.0..=1.0f64),
            prop::option::of(0.0..=10_000.0f64),
            prop::option::of(0.0..=10_000.0f64),
        )
            .prop_map(|(id, x, y, pressure, rx, ry)| Touch {
                id: id.into(),
                x,
                y,
                pressure,
                rx,
                ry,
            })
    };
    prop_oneof![
        (zone.clone(), any::<bool>())
            .prop_map(|(zone, repeat)| EventKind::KeyDown { zone, repeat }),
        zone.prop_map(|zone| EventKind::KeyUp { zone }),
        (coord(), coord(), prop::option::of(0u8..=31))
            .prop_map(|(x, y, buttons)| EventKind::PointerMove { x, y, buttons }),
        (coord(), coord(), 0u8..=5).prop_map(|(x, y, button)| EventKind::PointerDown {
            x,
            y,
            button
        }),
        (coord(), coord(), 0u8..=5).prop_map(|(x, y, button)| EventKind::PointerUp {
            x,
            y,
            button
        }),
        (
            coord(),
            coord(),
            0u64..=2,
            prop::option::of(coord()),
            prop::option::of(coord())
        )
            .prop_map(|(dx, dy, m, x, y)| EventKind::Wheel {
                dx,
                dy,
                mode: DeltaMode::from_code(m).unwrap(),
                x,
                y
            }),
        (-1e8..=1e8f64, -1e8..=1e8f64).prop_map(|(sx, sy)| EventKind::Scroll { sx, sy }),
        touch().prop_map(EventKind::TouchStart),
        touch().prop_map(EventKind::TouchMove),
        touch().prop_map(EventKind::TouchEnd),
        prop::sample::select(vec![
            ClipboardOp::Copy,
            ClipboardOp::Cut,
            ClipboardOp::Paste
        ])
        .prop_map(|op| EventKind::Clipboard { op }),
        (
            prop::sample::select(FocusState::ALL.to_vec()),
            prop::option::of(label())
        )
            .prop_map(|(state, el)| EventKind::Focus { state, el }),
        (label(), 0.0..=86_400_000.0f64).prop_map(|(el, ms)| EventKind::Dwell { el, ms }),
    ]
}

fn batch() -> impl Strategy<Value = Batch> {
    prop::sample::select(vec![ZoneMode::Fine, ZoneMode::Hands]).prop_flat_map(|mode| {
        (
            "[A-Za-z0-9._:-]{1,128}",
            prop::option::of("[a-zA-Z0-9 @._éü-]{1,40}"),
            0u64..=(1 << 53),
            0.0..1e9f64,
            prop::collection::vec((0.0..50.0f64, kind(mode)), 1..200),
            prop::option::of((1.0..=100_000.0f64, 1.0..=100_000.0f64, 0.1..=16.0f64)),
            0u64..1000,
        )
            .prop_map(move |(session, user, seq, start, evs, vp, dropped)| {
                let mut t = start;
                let events: Vec<Event> = evs
                    .into_iter()
                    .map(|(dt, kind)| {
                        t += dt;
                        Event { t, kind }
                    })
                    .collect();
                let sent = t + 3.0;
                Batch {
                    v: 1,
                    session,
                    user,
                    seq,
                    zones: mode,
                    dropped,
                    // The send time is "now" on the server's clock.
                    clock: Clock {
                        origin: ORIGIN - sent,
                        sent,
                    },
                    viewport: vp.map(|(w, h, dpr)| Viewport { w, h, dpr }),
                    events,
                }
            })
    })
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn valid_batches_always_decode(b in batch()) {
        let now = UNIX_EPOCH + Duration::from_millis(ORIGIN as u64);
        let json = b.to_json();
        for (body, enc) in [(json.as_bytes().to_vec(), ContentEncoding::Identity), (gzip(json.as_bytes()), ContentEncoding::Gzip)] {
            let got = decode(&body, enc, &Limits::default(), now);
            prop_assert!(got.is_ok(), "{:?}\n{}", got.err(), json);
            let got = got.unwrap();
            prop_assert_eq!(&got.session, &b.session);
            prop_assert_eq!(got.seq, b.seq);
            prop_assert_eq!(got.zones, b.zones);
            prop_assert_eq!(got.events.len(), b.events.len());
            for (x, y) in got.events.iter().zip(&b.events) {
                prop_assert!(close(x.t, y.t));
                prop_assert_eq!(x.kind.code(), y.kind.code());
                if let (EventKind::KeyDown { zone: a, .. }, EventKind::KeyDown { zone: c, .. }) = (&x.kind, &y.kind) {
                    prop_assert_eq!(a, c);
                }
            }
        }
    }

    #[test]
    fn any_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let now = UNIX_EPOCH + Duration::from_millis(ORIGIN as u64);
        for enc in [ContentEncoding::Identity, ContentEncoding::Gzip, ContentEncoding::Brotli] {
            let _ = decode(&body, enc, &Limits::default(), now);
        }
    }

    #[test]
    fn mutated_valid_batches_never_panic(b in batch(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let now = UNIX_EPOCH + Duration::from_millis(ORIGIN as u64);
        let mut json = b.to_json().into_bytes();
        for (i, byte) in flips {
            let at = i.index(json.len());
            json[at] = byte;
        }
        if let Err(e) = decode(&json, ContentEncoding::Identity, &Limits::default(), now) {
            // Every refusal maps to an HTTP class and a JSON error body.
            let code = e.status().code();
            prop_assert!(matches!(code, 400 | 413 | 415));
            prop_assert!(e.response_body()["error"].is_string());
        }
    }
}
