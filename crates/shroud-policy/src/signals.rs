//! The fixed list of fused signals and small helpers shared by the engine.
//! Each signal yields evidence in [0, 1] (0 = nothing unusual).

/// Number of fused signals.
pub const SIGNAL_COUNT: usize = 13;

/// Signal names, as used in `[fusion.weights]`, reasons and `signals.*` in rules.
pub const SIGNAL_NAMES: [&str; SIGNAL_COUNT] = [
    "time",
    "new_country",
    "impossible_travel",
    "new_device",
    "new_app",
    "new_route",
    "new_class",
    "volume",
    "hourly_volume",
    "rate",
    "auth_failures",
    "population",
    "biometric",
];

pub(crate) const TIME: usize = 0;
pub(crate) const NEW_COUNTRY: usize = 1;
pub(crate) const TRAVEL: usize = 2;
pub(crate) const NEW_DEVICE: usize = 3;
pub(crate) const NEW_APP: usize = 4;
pub(crate) const NEW_ROUTE: usize = 5;
pub(crate) const NEW_CLASS: usize = 6;
pub(crate) const VOLUME: usize = 7;
pub(crate) const HOURLY: usize = 8;
pub(crate) const RATE: usize = 9;
pub(crate) const AUTH: usize = 10;
pub(crate) const POPULATION: usize = 11;
pub(crate) const BIOMETRIC: usize = 12;

/// Length of the population model's feature vector.
pub const POPULATION_DIM: usize = 10;

/// Clamps to [0, 1], mapping NaN to 0.
pub(crate) fn unit(x: f32) -> f32 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// Logistic function.
pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The logistic fusion: `sigmoid(base + Σ max(wᵢ, 0)·clamp(eᵢ))`, writing
/// each signal's log-odds contribution into `contrib`. Monotonic
/// non-decreasing in every evidence because weights are clamped to ≥ 0.
pub fn fuse(
    base: f32,
    weights: &[f32; SIGNAL_COUNT],
    evidence: &[f32; SIGNAL_COUNT],
    contrib: &mut [f32; SIGNAL_COUNT],
) -> f32 {
    unit(sigmoid(base + contributions(weights, evidence, contrib)))
}

/// Each signal's log-odds contribution `max(wᵢ, 0)·clamp(eᵢ)` and their sum.
pub(crate) fn contributions(
    weights: &[f32; SIGNAL_COUNT],
    evidence: &[f32; SIGNAL_COUNT],
    contrib: &mut [f32; SIGNAL_COUNT],
) -> f32 {
    let mut sum = 0.0;
    for i in 0..SIGNAL_COUNT {
        contrib[i] = weights[i].max(0.0) * unit(evidence[i]);
        sum += contrib[i];
    }
    sum
}

/// FNV-1a: a stable hash for profile keys (stable across processes and
/// builds, unlike `DefaultHasher`, because profiles are persisted).
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separator so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Hash of a route with ids normalised away: query strings dropped and
/// numeric, hex or UUID-like segments replaced, so `/customers/17` and
/// `/customers/18` are the same route. Hand-written because it must not
/// allocate on the hot path.
pub(crate) fn route_hash(method: &str, route: &str) -> u64 {
    let path = route.split(['?', '#']).next().unwrap_or("");
    let mut h: u64 = fnv1a(&[method.to_ascii_uppercase().as_bytes()]);
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let is_id = seg.len() >= 2
            && seg.bytes().any(|b| b.is_ascii_digit())
            && seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
            || seg.bytes().all(|b| b.is_ascii_digit());
        let part: &[u8] = if is_id { b":id" } else { seg.as_bytes() };
        h ^= fnv1a(&[part]);
        h = h.rotate_left(7).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_normalise_ids_and_queries() {
        assert_eq!(
            route_hash("GET", "/api/customers/17"),
            route_hash("get", "/api/customers/9921?x=1")
        );
        assert_eq!(
            route_hash("GET", "/api/o/3f2a9c1e-aa00-4bbb-8ccc-0123456789ab"),
            route_hash("GET", "/api/o/1")
        );
        assert_ne!(
            route_hash("GET", "/api/customers"),
            route_hash("POST", "/api/customers")
        );
        assert_ne!(
            route_hash("GET", "/api/customers"),
            route_hash("GET", "/api/export")
        );
        // A word of hex letters only is a name, not an id.
        assert_ne!(route_hash("GET", "/api/feed"), route_hash("GET", "/api/1"));
    }

    #[test]
    fn fusion_is_monotonic_and_bounded() {
        use proptest::prelude::{ProptestConfig, prop_assert};
        proptest::proptest!(ProptestConfig::with_cases(256), |(
            base in -20.0f32..20.0,
            w in proptest::array::uniform13(0.0f32..10.0),
            e in proptest::array::uniform13(0.0f32..1.0),
            i in 0usize..SIGNAL_COUNT,
            bump in 0.0f32..1.0,
        )| {
            let mut c = [0.0; SIGNAL_COUNT];
            let r0 = fuse(base, &w, &e, &mut c);
            prop_assert!((0.0..=1.0).contains(&r0));
            let mut e2 = e;
            e2[i] = (e2[i] + bump).min(1.0);
            let r1 = fuse(base, &w, &e2, &mut c);
            prop_assert!(r1 >= r0, "evidence {i} up, risk {r0} -> {r1}");
        });
    }

    #[test]
    fn unit_and_sigmoid() {
        assert_eq!(unit(f32::NAN), 0.0);
        assert_eq!(unit(3.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-6);
    }
}
