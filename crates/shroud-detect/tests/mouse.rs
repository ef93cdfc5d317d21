//! Mouse tests on synthetic users: own sessions score lower than another
//! user's, profiles serialize compactly, and the scaled deviation grows with
//! the distance of an action from the profile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::MouseUser;
use proptest::prelude::*;
use shroud_detect::mouse::MouseAction;
use shroud_detect::mousemodel::{MouseConfig, MousePopulation, MouseProfile};

fn population() -> MousePopulation {
    let all: Vec<MouseAction> = (0..15)
        .flat_map(|i| MouseUser::new(500 + i).actions(i, 60))
        .collect();
    MousePopulation::build(all.iter())
}

#[test]
fn own_actions_score_lower_than_another_users() {
    let pop = population();
    let cfg = MouseConfig::default();
    let (a, b) = (MouseUser::new(1), MouseUser::new(2));
    let prof = MouseProfile::enroll(&pop, a.actions(10, 200).iter());
    assert!(prof.actions() >= 150);
    let mut wins = 0;
    for k in 0..10 {
        let own = prof.score(&pop, &cfg, &a.actions(100 + k, 20));
        let other = prof.score(&pop, &cfg, &b.actions(200 + k, 20));
        assert_eq!(own.actions, 20);
        if own.nb < other.nb {
            wins += 1;
        }
    }
    assert!(wins >= 9, "own window scored lower only {wins}/10 times");
    let other = prof.score(&pop, &cfg, &b.actions(300, 20));
    assert!(!other.top.is_empty());
}

#[test]
fn profile_round_trips_within_budget() {
    let pop = population();
    let prof = MouseProfile::enroll(&pop, MouseUser::new(3).actions(1, 100).iter());
    let bytes = prof.to_bytes();
    assert!(bytes.len() <= 8192, "{}", bytes.len());
    assert_eq!(MouseProfile::from_bytes(&bytes).unwrap(), prof);
    assert!(MouseProfile::from_bytes(&bytes[..10]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn scaled_deviation_is_monotonic(f in 0usize..18, d1 in 0f32..5.0, extra in 0f32..5.0) {
        let pop = population();
        let cfg = MouseConfig::default();
        let acts = MouseUser::new(4).actions(2, 80);
        let prof = MouseProfile::enroll(&pop, acts.iter());
        let mut a = acts[0];
        prop_assume!(a.f[f].is_finite());
        let (m, sd) = prof.moments[a.kind as usize][f];
        a.f[f] = m + d1 * sd;
        let s1 = prof.score(&pop, &cfg, &[a]);
        a.f[f] = m + (d1 + extra) * sd;
        let s2 = prof.score(&pop, &cfg, &[a]);
        prop_assert!(s2.manhattan >= s1.manhattan - 1e-6);
        prop_assert!(s2.gaussian >= s1.gaussian - 1e-6);
        prop_assert!(s1.nb.is_finite() && s2.nb.is_finite());
    }
}
