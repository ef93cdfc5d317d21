//! Fuzz target for the JSON path of the masking engine: any bytes, any level, JSON and NDJSON,
//! then unmask of the output. The only acceptable outcomes are `Ok` or a clean `Err`; on `Ok`
//! the output must itself be valid input to the rewriter.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use shroud_mask::{KeyRing, Level, MaskContext, Masker, MemoryVault, Policy, TokenVault};

fn masker() -> &'static Masker {
    static M: OnceLock<Masker> = OnceLock::new();
    M.get_or_init(|| {
        let policy = Policy::from_toml(
            "[[selectors]]\npath = \"$..ssn\"\n[[selectors]]\nkey = \"*card*\"\nclass = \"pci\"\nredact = \"remove\"\n[limits]\nmax_depth = 64\n",
            "fuzz",
        )
        .unwrap_or_default();
        let keys = KeyRing::new(&[("k1", [5; 32])]).ok();
        let vault: Arc<dyn TokenVault> = Arc::new(MemoryVault::new());
        Masker::new(policy, keys, Some(vault))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let level = Level::ALL[(sel as usize) % Level::ALL.len()];
    let ctx = MaskContext::default();
    let m = masker();
    let out = if sel & 0x80 != 0 { m.mask_ndjson(body, level, &ctx) } else { m.mask_json(body, level, &ctx) };
    if let Ok(out) = out {
        if sel & 0x80 == 0 && level != Level::None {
            assert!(m.mask_json(&out.body, Level::Redact, &ctx).is_ok(), "masked output is not valid JSON");
            let _ = m.unmask_json(&out.body, &ctx);
        }
    }
});
