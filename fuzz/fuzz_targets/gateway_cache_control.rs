//! Fuzzes the response cache's reading of upstream `Cache-Control` and
//! `Vary` headers: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut h = http::HeaderMap::new();
    let mid = data.len() / 2;
    if let Ok(v) = http::HeaderValue::from_bytes(&data[..mid]) {
        h.insert(http::header::CACHE_CONTROL, v);
    }
    if let Ok(v) = http::HeaderValue::from_bytes(&data[mid..]) {
        h.insert(http::header::VARY, v);
    }
    let _ = shroud_gateway::layer::cache::cacheable_for(&h);
});
