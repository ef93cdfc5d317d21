//! Fuzzes what the gateway does with upstream bodies before masking:
//! content-encoding names, gzip/br decoding with a size limit, and body
//! classification (with JSON sniffing). None may panic; decoding never
//! returns more than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_gateway::transform::{Coding, classify, coding_of, decode};

fuzz_target!(|data: &[u8]| {
    let (head, body) = data.split_at(data.len().min(16));
    let name = String::from_utf8_lossy(head);
    let _ = coding_of(Some(&name));
    let _ = classify(Some(&name), body, true);
    for c in [Coding::Identity, Coding::Gzip, Coding::Br] {
        if let Ok(out) = decode(c, body, 64 * 1024) {
            assert!(out.len() <= 64 * 1024);
        }
    }
});
