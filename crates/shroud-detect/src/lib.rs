//! Per-user behavioral profiles and anomaly detectors (keystroke and mouse
//! dynamics), plus the population models they are normalized against.
//!
//! Inputs are neutral types the gateway converts telemetry into:
//! [`keystroke::Keystroke`] (press/release ms, a [`shroud_telemetry::Zone`]
//! or a full key code) and [`mouse::PointerSample`] (t, x, y, kind, button).
//!
//! * Keystrokes: [`keystroke::KeyExtractor`] turns a window into sparse
//!   per-slot statistics (hold per key, DD/UD/UU per digraph, DD per trigraph,
//!   rhythm); [`keyverify::KeyModel`] (population model + learned fusion,
//!   trained on OTHER users) enrolls, scores and adapts a
//!   [`keyverify::KeyUser`].
//! * Mouse: [`mouse::Segmenter`] streams samples into actions with features;
//!   [`mousemodel::MouseProfile`] scores windows of actions against a
//!   [`mousemodel::MousePopulation`].
//! * [`calib`]: per-user calibration to an anomaly in `[0, 1]`, enrollment
//!   state, drift budget and sequence-aware [`calib::SessionScore`].
//!
//! ```
//! use shroud_detect::calib::{EnrollmentState, SessionScore, Verdict};
//! use shroud_detect::keystroke::{ExtractCounts, KeyExtractor, KeyId, KeyWindow, Keystroke};
//! use shroud_detect::keyverify::{KeyModel, KeyUser};
//! use shroud_telemetry::Zone;
//!
//! // A toy typist: `speed` scales every latency.
//! fn window(speed: f64, seed: usize) -> KeyWindow {
//!     let zones = [Zone::L3, Zone::R2, Zone::Space, Zone::L5, Zone::R4, Zone::L1];
//!     let keys: Vec<Keystroke> = (0..40)
//!         .map(|i| {
//!             let t = i as f64 * 180.0 * speed + ((i * 7 + seed) % 5) as f64 * 9.0;
//!             Keystroke { press_ms: t, release_ms: Some(t + 90.0 * speed), key: KeyId::Zone(zones[(i * 5 + seed) % 6]) }
//!         })
//!         .collect();
//!     KeyExtractor::default().extract(&keys, &mut ExtractCounts::default())
//! }
//! // The background model is trained on other users (here 12 toy typists).
//! let others: Vec<Vec<KeyWindow>> =
//!     (0..12).map(|u| (0..6).map(|s| window(0.6 + 0.08 * u as f64, s)).collect()).collect();
//! let refs: Vec<Vec<&KeyWindow>> = others.iter().map(|w| w.iter().collect()).collect();
//! let model = KeyModel::train(&refs, 3).unwrap();
//!
//! let mut alice = KeyUser::default();
//! assert!(matches!(model.state(&alice), EnrollmentState::NeedsEnrollment { .. }));
//! for s in 0..6 {
//!     model.enroll(&mut alice, &window(1.0, s));
//! }
//! let score = model.score(&alice, &window(1.0, 9));
//! assert!((0.0..=1.0).contains(&score.anomaly));
//! let mut session = SessionScore::default();
//! let (verdict, _risk) = session.push(score.anomaly, score.confidence, true);
//! assert_ne!(verdict, Verdict::NoVerdict);
//! ```

pub mod calib;
pub mod keymodel;
pub mod keystroke;
pub mod keyverify;
pub mod mouse;
pub mod mousemodel;
pub mod profile;
pub mod stats;
