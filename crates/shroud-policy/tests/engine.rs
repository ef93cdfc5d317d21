//! End-to-end behavior of the engine: each signal's normal and edge cases,
//! rules, overrides, escalation, feedback, hot reload and state round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use shroud_policy::*;

fn berlin() -> Geo {
    Geo {
        country: "DE".into(),
        city: Some("Berlin".into()),
        lat: Some(52.52),
        lon: Some(13.40),
    }
}

fn tokyo() -> Geo {
    Geo {
        country: "JP".into(),
        city: Some("Tokyo".into()),
        lat: Some(35.68),
        lon: Some(139.69),
    }
}

/// Monday 2026-11-02 00:00 UTC.
fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
}

fn ctx<'a>(
    user: &'a str,
    geo: &'a Geo,
    records: u32,
    classes: &'a [&'a str],
) -> RequestContext<'a> {
    RequestContext {
        user,
        ip: Some("203.0.113.7".parse().unwrap()),
        geo: Some(geo),
        tz: Some(chrono_tz::Europe::Berlin),
        user_agent: "Mozilla/5.0 Firefox/133",
        client_hints: "",
        app: "crm",
        route: "/api/customers/12",
        method: "GET",
        status: Some(200),
        records: Some(records),
        classes,
        biometric: None,
        external: &[],
    }
}

/// Three weeks of office-hours use from Berlin: 08–16 UTC (09–17 local), weekdays.
fn trained(engine: &Engine, user: &str) -> DateTime<Utc> {
    let geo = berlin();
    let mut last = monday();
    for day in 0..21 {
        if day % 7 >= 5 {
            continue;
        }
        for k in 0..12 {
            let t = monday() + Duration::days(day) + Duration::hours(8) + Duration::minutes(40 * k);
            let rec = 1 + (k as u32 * 7) % 20;
            engine.decide(&ctx(user, &geo, rec, &["email"]), t);
            last = t;
        }
    }
    last
}

fn engine_with(toml: &str) -> Engine {
    Engine::with_options(
        CompiledPolicy::from_toml(toml).unwrap(),
        EngineOptions {
            background_retrain: false,
            ..EngineOptions::default()
        },
    )
}

fn engine() -> Engine {
    engine_with("version = \"t1\"")
}

fn has_reason(d: &Decision, s: &str) -> bool {
    d.reasons.iter().any(|r| r.signal == s)
}

#[test]
fn no_history_is_visible_and_not_zero_risk() {
    let e = engine();
    let g = berlin();
    let d = e.decide(&ctx("new", &g, 5, &[]), monday() + Duration::hours(10));
    assert!(d.missing.iter().any(|m| m == "profile_history"));
    assert!(d.missing.iter().any(|m| m == "biometric:no_telemetry"));
    assert!(d.risk > 0.05, "unknown user must not look safe: {}", d.risk);
    assert!((0.0..=1.0).contains(&d.risk));
}

#[test]
fn usual_behavior_scores_low_after_training() {
    let e = engine();
    let last = trained(&e, "alice");
    let g = berlin();
    let t = last + Duration::days(3) - Duration::hours(2); // a weekday morning
    let d = e.decide(&ctx("alice", &g, 8, &["email"]), t);
    assert!(!d.missing.iter().any(|m| m == "profile_history"));
    assert_eq!(d.tier, Tier::Normal, "{d:?}");
    assert_eq!(d.level, MaskLevel::None, "{d:?}");
    assert!(d.risk < 0.2, "{d:?}");
}

#[test]
fn new_country_and_impossible_travel() {
    let e = engine();
    let last = trained(&e, "bob");
    let tk = tokyo();
    let d = e.decide(
        &ctx("bob", &tk, 8, &["email"]),
        last + Duration::minutes(30),
    );
    assert!(has_reason(&d, "impossible_travel"), "{d:?}");
    assert!(has_reason(&d, "new_country"), "{d:?}");
    let travel = d
        .reasons
        .iter()
        .find(|r| r.signal == "impossible_travel")
        .unwrap();
    assert!(travel.value > 10_000.0, "km/h {}", travel.value);
    assert!(d.tier >= Tier::Suspicious, "{d:?}");

    // Slow enough travel (a day later) is not impossible, but the country is still new.
    let e = engine();
    let last = trained(&e, "bob");
    let d = e.decide(&ctx("bob", &tk, 8, &["email"]), last + Duration::hours(30));
    assert!(!has_reason(&d, "impossible_travel"), "{d:?}");
    assert!(has_reason(&d, "new_country"), "{d:?}");
}

#[test]
fn clock_skew_does_not_panic_or_invent_travel_speed() {
    let e = engine();
    let last = trained(&e, "carol");
    let g = berlin();
    // A request stamped an hour before the previous one, same place.
    let d = e.decide(&ctx("carol", &g, 5, &["email"]), last - Duration::hours(1));
    assert!(!has_reason(&d, "impossible_travel"), "{d:?}");
    // Far away and stamped in the past: speed uses the one-minute floor, not a division by ≤ 0.
    let tk = tokyo();
    let d = e.decide(&ctx("carol", &tk, 5, &["email"]), last - Duration::hours(2));
    let r = d
        .reasons
        .iter()
        .find(|r| r.signal == "impossible_travel")
        .unwrap();
    assert!(r.value.is_finite() && r.value > 0.0);
}

#[test]
fn unknown_ip_means_missing_geo_not_zero_risk() {
    let e = engine_with(
        "version = \"g\"\n[[geo.networks]]\ncidr = \"198.51.100.0/24\"\ncountry = \"DE\"\nlat = 52.5\nlon = 13.4",
    );
    let mut c = RequestContext {
        user: "dan",
        ip: Some("192.0.2.99".parse().unwrap()),
        route: "/x",
        method: "GET",
        records: Some(1),
        ..Default::default()
    };
    let d = e.decide(&c, monday());
    assert!(d.missing.iter().any(|m| m == "geo"), "{d:?}");
    // A table hit resolves the location.
    c.ip = Some("198.51.100.4".parse().unwrap());
    let d = e.decide(&c, monday() + Duration::minutes(1));
    assert!(!d.missing.iter().any(|m| m == "geo"), "{d:?}");
    // No address at all.
    c.ip = None;
    let d = e.decide(&c, monday() + Duration::minutes(2));
    assert!(d.missing.iter().any(|m| m == "geo"));
}

#[test]
fn off_hours_bulk_export_is_high_risk() {
    let e = engine();
    let last = trained(&e, "erin");
    let g = berlin();
    let night = last + Duration::days(3) - Duration::hours(10); // ~02:00 local
    let mut c = ctx("erin", &g, 40_000, &["email", "ssn"]);
    c.route = "/api/export/customers";
    let d = e.decide(&c, night);
    for s in ["volume", "time", "new_route", "new_class"] {
        assert!(
            has_reason(&d, s) || d.reasons.len() == 5,
            "{s} missing in {d:?}"
        );
    }
    assert!(has_reason(&d, "volume"));
    assert_eq!(d.tier, Tier::HighRisk, "{d:?}");
    assert!(d.level >= MaskLevel::Encrypt, "{d:?}");
}

#[test]
fn credential_stuffing_from_one_address_raises_auth_signal() {
    let e = engine();
    let g = berlin();
    let mut d = None;
    for i in 0..40 {
        let user = format!("victim{i}");
        let mut c = ctx(&user, &g, 0, &[]);
        c.route = "/login";
        c.method = "POST";
        c.status = Some(401);
        c.ip = Some("198.51.100.66".parse().unwrap());
        d = Some(e.decide(&c, monday() + Duration::seconds(2 * i)));
    }
    let d = d.unwrap();
    let auth = d
        .reasons
        .iter()
        .find(|r| r.signal == "auth_failures")
        .expect("auth reason");
    assert!(auth.evidence > 0.9, "{auth:?}");
    assert!(d.tier >= Tier::Suspicious, "{d:?}");
}

#[test]
fn new_device_is_flagged_for_a_known_user() {
    let e = engine();
    let last = trained(&e, "fay");
    let g = berlin();
    let mut c = ctx("fay", &g, 5, &["email"]);
    c.user_agent = "curl/8.0";
    let d = e.decide(&c, last + Duration::days(3) - Duration::hours(2));
    let r = d
        .reasons
        .iter()
        .find(|r| r.signal == "new_device")
        .expect("device");
    assert_eq!(r.evidence, 1.0);
}

#[test]
fn biometrics_enrolled_missing_and_not_enrolled() {
    let e = engine();
    let last = trained(&e, "gus");
    let g = berlin();
    let t = last + Duration::days(3) - Duration::hours(2);
    let feats = [BiometricFeature {
        name: "digraph_latency",
        deviation: 4.2,
    }];
    let mut c = ctx("gus", &g, 5, &["email"]);
    c.biometric = Some(BiometricEvidence {
        score: 0.95,
        confidence: 1.0,
        enrollment: Enrollment::Enrolled,
        top_features: &feats,
    });
    let bad = e.decide(&c, t);
    let r = bad
        .reasons
        .iter()
        .find(|r| r.signal == "biometric")
        .unwrap();
    assert_eq!(r.detail.as_deref(), Some("digraph_latency"));
    c.biometric = Some(BiometricEvidence {
        score: 0.02,
        confidence: 1.0,
        enrollment: Enrollment::Enrolled,
        top_features: &[],
    });
    let good = e.decide(&c, t + Duration::minutes(1));
    c.biometric = Some(BiometricEvidence {
        score: 0.0,
        confidence: 1.0,
        enrollment: Enrollment::NotEnrolled,
        top_features: &[],
    });
    let not_enrolled = e.decide(&c, t + Duration::minutes(2));
    assert!(
        not_enrolled
            .missing
            .iter()
            .any(|m| m == "biometric:not_enrolled")
    );
    // Not enrolled sits between a genuine and an impostor verdict: never "zero risk".
    assert!(
        good.risk < not_enrolled.risk,
        "{} {}",
        good.risk,
        not_enrolled.risk
    );
    assert!(not_enrolled.risk < bad.risk);
}

#[test]
fn rules_route_and_class_overrides_and_external_signals() {
    let e = engine_with(
        r#"
version = "ovr"
[[rules]]
name = "night"
condition = "request.hour >= 22 || request.hour < 6"
factor = 2.0
[[rules]]
name = "never"
condition = "false"
factor = 9.0
[[routes]]
path = "/api/admin/*"
min_level = "tokenize"
min_tier = "suspicious"
[classes.ssn]
min_level = "redact"
bias = 1.0
[external.posture]
weight = 3.0
"#,
    );
    let last = trained(&e, "hal");
    let g = berlin();
    let day = last + Duration::days(3) - Duration::hours(2);
    let mut c = ctx("hal", &g, 5, &["email"]);
    c.route = "/api/admin/users";
    let d = e.decide(&c, day);
    assert!(
        d.level >= MaskLevel::Tokenize && d.tier >= Tier::Suspicious,
        "{d:?}"
    );
    let c2 = ctx("hal", &g, 5, &["ssn"]);
    let d = e.decide(&c2, day + Duration::minutes(1));
    assert!(d.level >= MaskLevel::Redact, "{d:?}");
    assert!(has_reason(&d, "class:ssn"), "{d:?}");
    let night = day - Duration::hours(10);
    let d = e.decide(&ctx("hal", &g, 5, &["email"]), night);
    assert!(has_reason(&d, "rule:night"), "{d:?}");
    assert!(!has_reason(&d, "rule:never"));
    let ext = [
        ExternalSignal {
            name: "posture",
            score: 1.0,
        },
        ExternalSignal {
            name: "unconfigured",
            score: 1.0,
        },
    ];
    let mut c3 = ctx("hal", &g, 5, &["email"]);
    c3.external = &ext;
    let d = e.decide(&c3, day + Duration::minutes(5));
    assert!(has_reason(&d, "external:posture"), "{d:?}");
    assert!(d.missing.iter().any(|m| m == "external:unconfigured"));
}

#[test]
fn escalation_holds_for_cooldown_then_steps_down() {
    let e =
        engine_with("version = \"esc\"\n[escalation]\ncooldown_secs = 600\nstep_down_secs = 60");
    let last = trained(&e, "ivy");
    let g = berlin();
    let t0 = last + Duration::days(3) - Duration::hours(2);
    let mut bad = ctx("ivy", &g, 50_000, &["email", "ssn"]);
    bad.route = "/api/export/all";
    let hot = e.decide(&bad, t0);
    assert!(hot.level >= MaskLevel::Encrypt, "{hot:?}");
    let calm = ctx("ivy", &g, 5, &["email"]);
    let during = e.decide(&calm, t0 + Duration::seconds(300));
    assert!(
        during.held && during.level == hot.level && during.tier == hot.tier,
        "{during:?}"
    );
    let after = e.decide(&calm, t0 + Duration::seconds(600 + 60 + 1));
    assert!(
        after.level < hot.level && after.level > MaskLevel::None,
        "{after:?}"
    );
    let much_later = e.decide(&calm, t0 + Duration::seconds(600 + 60 * 10));
    assert_eq!(much_later.level, MaskLevel::None, "{much_later:?}");
    assert!(!much_later.held);
}

#[test]
fn confirmed_false_positive_lowers_same_users_next_score() {
    let e = engine();
    let last = trained(&e, "jay");
    let tk = tokyo();
    let t = last + Duration::days(2);
    let first = e.decide(&ctx("jay", &tk, 8, &["email"]), t);
    assert!(first.risk > 0.3, "{first:?}");
    let out = e.feedback(first.id, Label::ConfirmedGenuine).unwrap();
    assert!(out.user_offset < 0.0);
    // Same behavior again (after the escalation hold has expired).
    let again = e.decide(&ctx("jay", &tk, 8, &["email"]), t + Duration::days(1));
    assert!(again.risk < first.risk, "{} -> {}", first.risk, again.risk);
    assert!(has_reason(&again, "feedback_offset") || again.reasons.len() == 5);
    assert_eq!(
        e.feedback(first.id, Label::ConfirmedGenuine),
        Err(FeedbackError::AlreadyLabelled(first.id))
    );
    assert_eq!(
        e.feedback(999_999, Label::ConfirmedFraud),
        Err(FeedbackError::UnknownDecision(999_999))
    );
    // Confirmed fraud pushes the other way.
    let later = e.decide(&ctx("jay", &tk, 8, &["email"]), t + Duration::days(2));
    let out = e.feedback(later.id, Label::ConfirmedFraud).unwrap();
    let raised = e.decide(&ctx("jay", &tk, 8, &["email"]), t + Duration::days(3));
    assert!(out.user_offset > -4.0);
    assert!(
        raised.risk > later.risk || raised.risk > 0.99,
        "{} -> {}",
        later.risk,
        raised.risk
    );
}

#[test]
fn hot_reload_swaps_version_and_bad_policy_keeps_old() {
    let e = engine();
    let g = berlin();
    assert_eq!(
        e.decide(&ctx("k", &g, 1, &[]), monday()).policy_version,
        "t1"
    );
    e.reload_toml("version = \"t2\"").unwrap();
    assert_eq!(
        e.decide(&ctx("k", &g, 1, &[]), monday()).policy_version,
        "t2"
    );
    let err = e
        .reload_toml("version = \"t3\"\n[[rules]]\nname = \"broken\"\ncondition = \"request.hour >\"\nfactor = 1.0")
        .unwrap_err();
    assert!(err.to_string().contains("rule `broken`"), "{err}");
    assert_eq!(e.policy().version(), "t2");
}

#[test]
fn state_round_trip_reproduces_decisions() {
    let a = engine();
    let last = trained(&a, "lee");
    let bytes = a.export_state().unwrap();
    let b = engine();
    assert_eq!(b.import_state(&bytes).unwrap(), 1);
    let g = berlin();
    let t = last + Duration::days(1);
    let da = a.decide(&ctx("lee", &g, 300, &["email"]), t);
    let db = b.decide(&ctx("lee", &g, 300, &["email"]), t);
    assert_eq!(da.risk, db.risk);
    assert_eq!(da.reasons, db.reasons);
    assert!(b.import_state(b"garbage").is_err());
    assert!(b.forget("lee"));
    assert!(b.profile("lee").is_none());
}

#[test]
fn population_model_trains_and_scores() {
    let e = engine_with(
        "version = \"pop\"\n[population]\nmin_samples = 100\nretrain_every = 1000\nn_trees = 20",
    );
    let g = berlin();
    let first = e.decide(&ctx("m", &g, 5, &[]), monday());
    assert!(first.missing.iter().any(|m| m == "population_model"));
    trained(&e, "m");
    assert!(e.population_model().generation() >= 1);
    let d = e.decide(&ctx("m", &g, 5, &["email"]), monday() + Duration::days(30));
    assert!(!d.missing.iter().any(|m| m == "population_model"), "{d:?}");
}

#[test]
fn decisions_serialize_for_the_audit_log() {
    let e = engine();
    let g = berlin();
    let d = e.decide(&ctx("n", &g, 5, &["email"]), monday());
    let json = serde_json::to_string(&d).unwrap();
    assert!(json.contains("\"tier\":\"") && json.contains("\"level\":\""));
    let back: Decision = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Risk stays in [0, 1] and never falls when only the record count grows.
    #[test]
    fn risk_bounded_and_monotonic_in_volume(
        small in 0u32..500,
        extra in 0u32..100_000,
        minutes in 0i64..(7 * 24 * 60),
        ua in "[a-z]{0,8}",
    ) {
        let base = engine();
        trained(&base, "p");
        let state = base.export_state().unwrap();
        let a = engine();
        a.import_state(&state).unwrap();
        let b = engine();
        b.import_state(&state).unwrap();
        let g = berlin();
        let t = monday() + Duration::days(21) + Duration::minutes(minutes);
        let mut c1 = ctx("p", &g, small, &["email"]);
        c1.user_agent = &ua;
        let mut c2 = c1.clone();
        c2.records = Some(small + extra);
        let d1 = a.decide(&c1, t);
        let d2 = b.decide(&c2, t);
        prop_assert!((0.0..=1.0).contains(&d1.risk) && (0.0..=1.0).contains(&d2.risk));
        prop_assert!(d2.risk >= d1.risk, "{} records {} -> {} records {}", small, d1.risk, small + extra, d2.risk);
        prop_assert!(d2.level >= d1.level);
    }
}
