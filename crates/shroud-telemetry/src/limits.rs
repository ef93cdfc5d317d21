//! The configurable limits every batch is checked against (`docs/telemetry.md`,
//! "Limits"), with the documented defaults.

/// Limits applied by [`decode`](crate::decode) and [`validate`](crate::validate).
///
/// Every field is public so a gateway can load them from its configuration;
/// [`Limits::default`] gives the defaults documented in `docs/telemetry.md`.
/// Deserializes from a configuration table where absent fields keep their
/// defaults and unknown ones are errors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted request body as received (compressed), in bytes. Default 256 KiB.
    pub max_body_bytes: usize,
    /// Largest accepted body after decompression, in bytes; decompression stops
    /// as soon as it is exceeded. Default 2 MiB.
    pub max_decompressed_bytes: usize,
    /// Largest number of events in one batch. Default 5000.
    pub max_events: usize,
    /// Deepest JSON nesting (arrays and objects) accepted. Default 8 (a valid
    /// batch nests 3 deep).
    pub max_depth: usize,
    /// How far the client's send time (`clock.origin + clock.sent`) may be from
    /// the server clock, in ms. Default 24 h.
    pub max_clock_skew_ms: f64,
    /// Largest `last t - first t` of one batch, in ms. Default 15 min.
    pub max_span_ms: f64,
    /// How far an event's `t` may be after `clock.sent`, in ms (event-loop
    /// jitter). Default 1000.
    pub late_event_tolerance_ms: f64,
}

/// One hour in milliseconds.
const HOUR_MS: f64 = 3_600_000.0;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 256 * 1024,
            max_decompressed_bytes: 2 * 1024 * 1024,
            max_events: 5000,
            max_depth: 8,
            max_clock_skew_ms: 24.0 * HOUR_MS,
            max_span_ms: 15.0 * 60_000.0,
            late_event_tolerance_ms: 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_overrides_only_what_it_names() {
        let l: Limits = serde_json::from_str(r#"{"max_events": 100}"#).unwrap();
        assert_eq!(
            l,
            Limits {
                max_events: 100,
                ..Limits::default()
            }
        );
        assert!(serde_json::from_str::<Limits>(r#"{"max_event": 100}"#).is_err());
    }
}
