//! Fuzzes the gateway's telemetry body decoder (`shroud_telemetry::decode`)
//! with every content encoding: no input may panic, and every refusal must
//! map to one of the documented HTTP classes. Accepted batches are
//! re-serialized and decoded again (must not panic either).
//!
//! `cargo +nightly fuzz run telemetry_batch`
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use shroud_telemetry::{ContentEncoding, Limits, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let encoding = match sel % 3 {
        0 => ContentEncoding::Identity,
        1 => ContentEncoding::Gzip,
        _ => ContentEncoding::Brotli,
    };
    // A fixed "now" near the fuzz corpus' clock.origin values keeps valid
    // batches reachable.
    let now = UNIX_EPOCH + Duration::from_millis(1_763_779_260_000);
    let limits = Limits::default();
    match decode(body, encoding, &limits, now) {
        Ok(batch) => {
            // Not asserted Ok: serde_json's fast float parsing may move a value
            // sitting exactly on a limit by one ulp.
            let _ = decode(
                batch.to_json().as_bytes(),
                ContentEncoding::Identity,
                &limits,
                now,
            );
        }
        Err(e) => assert!(matches!(e.status().code(), 400 | 409 | 413 | 415)),
    }
});
