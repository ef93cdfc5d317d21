//! End-to-end keystroke tests on synthetic typists: genuine vs impostor
//! separation, enrollment state, compact serialization, and resistance to
//! baseline poisoning by slow drift.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Typist;
use proptest::prelude::*;
use shroud_detect::calib::EnrollmentState;
use shroud_detect::keystroke::KeyWindow;
use shroud_detect::keyverify::{KeyModel, KeyUser, UpdateOutcome};

fn model() -> KeyModel {
    // Background: 30 typists that are never the ones verified below.
    let wins: Vec<Vec<KeyWindow>> = (0..30)
        .map(|i| Typist::new(1000 + i).windows(77 + i, 8, 50))
        .collect();
    let refs: Vec<Vec<&KeyWindow>> = wins.iter().map(|w| w.iter().collect()).collect();
    KeyModel::train(&refs, 4).unwrap()
}

fn enrolled(m: &KeyModel, t: &Typist, seed: u64) -> KeyUser {
    let mut u = KeyUser::default();
    for w in t.windows(seed, 8, 50) {
        assert!(m.enroll(&mut u, &w));
    }
    u
}

#[test]
fn own_fresh_samples_score_low_others_high() {
    let m = model();
    let (a, b) = (Typist::new(1), Typist::new(2));
    let u = enrolled(&m, &a, 10);
    let own: Vec<f64> = a
        .windows(11, 20, 50)
        .iter()
        .map(|w| m.score(&u, w).anomaly)
        .collect();
    let other: Vec<f64> = b
        .windows(12, 20, 50)
        .iter()
        .map(|w| m.score(&u, w).anomaly)
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&own) < 0.3, "own {own:?}");
    assert!(mean(&other) > 0.7, "other {other:?}");
    let s = m.score(&u, &b.windows(13, 1, 50)[0]);
    assert!(!s.top_features.is_empty() && s.confidence > 0.5);
}

#[test]
fn no_verdict_before_enrollment_and_tiny_windows_are_refused() {
    let m = model();
    let a = Typist::new(3);
    let mut u = KeyUser::default();
    let ws = a.windows(5, 3, 50);
    for w in &ws {
        m.enroll(&mut u, w);
    }
    let s = m.score(&u, &ws[0]);
    assert_eq!(
        s.state,
        EnrollmentState::NeedsEnrollment { have: 3, need: 5 }
    );
    assert_eq!((s.anomaly, s.confidence), (0.0, 0.0));
    let tiny = a.windows(6, 1, 5);
    assert!(!m.enroll(&mut u, &tiny[0]));
}

#[test]
fn profile_round_trips_compactly() {
    let m = model();
    let u = enrolled(&m, &Typist::new(4), 20);
    let bytes = u.to_bytes();
    assert!(bytes.len() <= 8192, "{} bytes", bytes.len());
    let back = KeyUser::from_bytes(&bytes).unwrap();
    assert_eq!(back.profile.slots.len(), u.profile.slots.len());
    let w = &Typist::new(4).windows(21, 1, 50)[0];
    let (s1, s2) = (m.score(&u, w).anomaly, m.score(&back, w).anomaly);
    assert!((s1 - s2).abs() < 0.02, "{s1} vs {s2}");
    assert!(KeyUser::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    let mut wrong = bytes.clone();
    wrong[4] = 9; // version field of the profile
    assert!(KeyUser::from_bytes(&wrong).is_err());
    assert!(KeyModel::from_bytes(&m.to_bytes().unwrap()).is_ok());
}

#[test]
fn impostor_cannot_walk_the_baseline_by_slow_drift() {
    let m = model();
    let (a, b) = (Typist::new(7), Typist::new(8));
    let mut u = enrolled(&m, &a, 30);
    let before: Vec<f64> = b
        .windows(31, 20, 50)
        .iter()
        .map(|w| m.score(&u, w).anomaly)
        .collect();
    let mut applied = 0;
    // 120 days, 20 windows a day, each day a little closer to the impostor.
    for day in 0..120u32 {
        let mix = (f64::from(day) / 60.0).min(1.0);
        let t = a.blend(&b, mix);
        for w in t.windows(1000 + u64::from(day), 20, 50) {
            let s = m.score(&u, &w);
            if m.update(&mut u, &w, &s, day) == UpdateOutcome::Applied {
                applied += 1;
            }
        }
    }
    assert!(applied > 0, "genuine-looking windows must still adapt");
    assert!(applied <= 120 * m.adapt.max_updates_per_day as usize);
    let after: Vec<f64> = b
        .windows(32, 20, 50)
        .iter()
        .map(|w| m.score(&u, w).anomaly)
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&after) > 0.7,
        "impostor walked the baseline: before {} after {}",
        mean(&before),
        mean(&after)
    );
    // Every slot stays within the bounded distance of its enrollment anchor.
    for s in &u.profile.slots {
        if let Some(p) = m.population.get(s.slot) {
            assert!((s.mean - s.anchor).abs() <= m.adapt.max_total_drift_sd * p.w.sqrt() + 1e-4);
        }
    }
    // The genuine user is still recognised.
    let own: Vec<f64> = a
        .windows(33, 20, 50)
        .iter()
        .map(|w| m.score(&u, w).anomaly)
        .collect();
    assert!(mean(&own) < 0.5, "{own:?}");
}

#[test]
fn genuine_adaptation_follows_small_change() {
    let m = model();
    let a = Typist::new(9);
    let mut u = enrolled(&m, &a, 40);
    let mut outcomes = Vec::new();
    for day in 0..3u32 {
        for w in a.windows(50 + u64::from(day), 15, 50) {
            let s = m.score(&u, &w);
            outcomes.push(m.update(&mut u, &w, &s, day));
        }
    }
    let applied = outcomes
        .iter()
        .filter(|o| **o == UpdateOutcome::Applied)
        .count();
    assert!(applied >= 20, "{outcomes:?}");
    assert!(outcomes.contains(&UpdateOutcome::BudgetExhausted));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn window_scores_are_bounded(seed in 0u64..10_000, n in 0usize..80, shift in -200f64..400.0) {
        let m = model_cached();
        let a = Typist::new(11);
        let u = enrolled_cached();
        let mut r = common::Rng(seed);
        let mut keys = Typist::new(seed).window(&mut r, n);
        for k in &mut keys { k.press_ms += shift * (k.press_ms / 1000.0).sin(); }
        let w = shroud_detect::keystroke::KeyExtractor::default().extract(&keys, &mut Default::default());
        let s = m.score(u, &w);
        prop_assert!((0.0..=1.0).contains(&s.anomaly));
        prop_assert!((0.0..=1.0).contains(&s.confidence));
        prop_assert!(s.raw.is_finite());
        let _ = a;
    }
}

fn model_cached() -> &'static KeyModel {
    static M: std::sync::OnceLock<KeyModel> = std::sync::OnceLock::new();
    M.get_or_init(model)
}

fn enrolled_cached() -> &'static KeyUser {
    static U: std::sync::OnceLock<KeyUser> = std::sync::OnceLock::new();
    U.get_or_init(|| enrolled(model_cached(), &Typist::new(11), 60))
}
