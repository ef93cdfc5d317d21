//! End-to-end behaviour of each rung of the ladder on a small customer document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use serde_json::Value;
use shroud_mask::{
    KeyRing, Level, MaskContext, MaskError, Masker, MemoryVault, Policy, TokenVault,
};

const DOC: &str = r#"{"customers":[{"id":"cus_1","name":"Jane Doe","email":"jane.doe@corp.example","card":"4111 1111 1111 1111","ssn":"536-22-1234","age":41,"pin":"4321","notes":"call 415-555-0132 or mail jane.doe@corp.example","tags":["vip"]}],"count":1}"#;

fn keys() -> KeyRing {
    KeyRing::new(&[("k1", [9; 32])]).unwrap()
}

fn masker(policy: Policy) -> (Masker, Arc<MemoryVault>) {
    let vault = Arc::new(MemoryVault::new());
    (
        Masker::new(
            policy,
            Some(keys()),
            Some(vault.clone() as Arc<dyn TokenVault>),
        ),
        vault,
    )
}

fn mask(m: &Masker, level: Level) -> Value {
    let out = m
        .mask_json(DOC.as_bytes(), level, &MaskContext::scope("t1"))
        .unwrap();
    serde_json::from_slice(&out.body).unwrap()
}

const SECRETS: &[&str] = &[
    "Jane Doe",
    "jane.doe",
    "4111 1111 1111 1111",
    "536-22-1234",
    "415-555-0132",
    "4321",
];

fn assert_hidden(v: &Value) {
    let s = v.to_string();
    for secret in SECRETS {
        assert!(!s.contains(secret), "{secret} leaked in {s}");
    }
}

#[test]
fn none_passes_through() {
    let (m, _) = masker(Policy::default());
    let out = m
        .mask_json(DOC.as_bytes(), Level::None, &MaskContext::default())
        .unwrap();
    assert_eq!(out.body, DOC.as_bytes());
}

#[test]
fn every_level_hides_and_keeps_structure() {
    let (m, _) = masker(Policy::default());
    for level in [
        Level::Redact,
        Level::Substitute,
        Level::Tokenize,
        Level::Encrypt,
    ] {
        let v = mask(&m, level);
        assert_hidden(&v);
        assert_eq!(v["count"], 1, "{level}");
        assert_eq!(v["customers"][0]["id"], "cus_1");
        assert_eq!(v["customers"][0]["age"], 41);
        assert_eq!(v["customers"][0]["tags"][0], "vip");
    }
}

#[test]
fn redact_keeps_configured_parts() {
    let (m, _) = masker(Policy::default());
    let v = mask(&m, Level::Redact);
    let c = &v["customers"][0];
    assert_eq!(c["card"], "**** **** **** 1111");
    assert_eq!(c["ssn"], "***-**-1234");
    assert_eq!(c["email"], "***@corp.example");
    assert_eq!(c["name"], "[NAME]");
    assert_eq!(c["pin"], "[SECRET]");
    assert_eq!(c["notes"], "call ***-***-**32 or mail ***@corp.example");
}

#[test]
fn redact_remove_drops_members() {
    let p = Policy::from_toml("[[selectors]]\npath = \"$.customers[*].ssn\"\nredact = \"remove\"\n[[selectors]]\nkey = \"*card*\"\nclass = \"pci\"\nredact = \"remove\"\n", "p").unwrap();
    let (m, _) = masker(p);
    let v = mask(&m, Level::Redact);
    let c = v["customers"][0].as_object().unwrap();
    assert!(!c.contains_key("ssn") && !c.contains_key("card"), "{v}");
    assert!(c.contains_key("email"));
}

#[test]
fn substitute_is_consistent_and_scoped() {
    let (m, _) = masker(Policy::default());
    let a = mask(&m, Level::Substitute);
    let b = mask(&m, Level::Substitute);
    assert_eq!(a, b);
    let c = &a["customers"][0];
    let card: Vec<u8> = c["card"]
        .as_str()
        .unwrap()
        .bytes()
        .filter(u8::is_ascii_digit)
        .collect();
    assert!(shroud_mask::detect::card::is_card(&card));
    // The email in free text gets the same alias as the email field.
    assert!(
        c["notes"]
            .as_str()
            .unwrap()
            .contains(c["email"].as_str().unwrap()),
        "{c}"
    );
    let other = m
        .mask_json(DOC.as_bytes(), Level::Substitute, &MaskContext::scope("t2"))
        .unwrap();
    let other: Value = serde_json::from_slice(&other.body).unwrap();
    assert_ne!(other["customers"][0]["email"], c["email"]);
}

#[test]
fn tokenize_and_encrypt_round_trip() {
    let (m, vault) = masker(Policy::default());
    for level in [Level::Tokenize, Level::Encrypt] {
        let out = m
            .mask_json(DOC.as_bytes(), level, &MaskContext::scope("t1"))
            .unwrap();
        let back = m.unmask_json(&out.body, &MaskContext::scope("t1")).unwrap();
        assert_eq!(String::from_utf8(back.body).unwrap(), DOC, "{level}");
        assert_eq!(back.unresolved, 0);
    }
    assert!(!vault.is_empty());
    let v = mask(&m, Level::Tokenize);
    let card = v["customers"][0]["card"].as_str().unwrap();
    assert!(
        card.ends_with("1111") && card.len() == 19,
        "format-preserving token: {card}"
    );
    let v = mask(&m, Level::Encrypt);
    let ssn = v["customers"][0]["ssn"].as_str().unwrap();
    assert!(
        ssn.starts_with("fpe.k1.d.") && ssn.len() == "fpe.k1.d.".len() + 11,
        "{ssn}"
    );
    // Unmasking in another scope restores nothing that is scope-bound.
    let enc = m
        .mask_json(DOC.as_bytes(), Level::Encrypt, &MaskContext::scope("t1"))
        .unwrap();
    assert!(
        m.unmask_json(&enc.body, &MaskContext::scope("t2")).is_err() || {
            let b = m.unmask_json(&enc.body, &MaskContext::scope("t2")).unwrap();
            b.body != DOC.as_bytes()
        }
    );
}

#[test]
fn erased_scope_cannot_be_unmasked() {
    let (m, vault) = masker(Policy::default());
    let out = m
        .mask_json(DOC.as_bytes(), Level::Tokenize, &MaskContext::scope("gone"))
        .unwrap();
    assert!(vault.erase_scope("gone").unwrap() > 0);
    let back = m
        .unmask_json(&out.body, &MaskContext::scope("gone"))
        .unwrap();
    assert_hidden(&serde_json::from_slice(&back.body).unwrap());
    assert!(back.unresolved > 0);
}

#[test]
fn block_level_and_block_class() {
    let (m, _) = masker(Policy::default());
    let out = m
        .mask_json(
            DOC.as_bytes(),
            Level::Block,
            &MaskContext {
                scope: "s".into(),
                request_id: Some("r1".into()),
            },
        )
        .unwrap();
    assert!(out.is_blocked());
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["error"]["code"], "blocked");
    assert_eq!(v["error"]["request_id"], "r1");
    let alert = out.alert.unwrap();
    assert!(alert.summary.total >= 6);
    let p = Policy::from_toml("[classes.pci]\nredact = \"block\"\n", "p").unwrap();
    let (m, _) = masker(p);
    let out = m
        .mask_json(DOC.as_bytes(), Level::Redact, &MaskContext::default())
        .unwrap();
    assert!(out.is_blocked());
    assert!(out.alert.unwrap().reason.contains("pci"));
}

#[test]
fn summary_counts_classes_not_values() {
    let (m, _) = masker(Policy::default());
    let out = m
        .mask_json(DOC.as_bytes(), Level::Redact, &MaskContext::default())
        .unwrap();
    let s = serde_json::to_string(&out.summary).unwrap();
    assert!(s.contains("\"pci\":1"), "{s}");
    assert!(!s.contains("4111"));
}

#[test]
fn tokenize_without_vault_and_encrypt_without_keys_fail_closed() {
    let m = Masker::new(Policy::default(), None, None);
    assert!(matches!(
        m.mask_json(DOC.as_bytes(), Level::Tokenize, &MaskContext::default()),
        Err(MaskError::NoVault)
    ));
    assert!(matches!(
        m.mask_json(DOC.as_bytes(), Level::Encrypt, &MaskContext::default()),
        Err(MaskError::NoKeys)
    ));
}

#[test]
fn ndjson_lines_and_errors() {
    let (m, _) = masker(Policy::default());
    let input = b"{\"email\":\"a.b@c.example\"}\n\n{\"n\":1}\n";
    let out = m
        .mask_ndjson(input, Level::Redact, &MaskContext::default())
        .unwrap();
    assert_eq!(
        String::from_utf8(out.body).unwrap(),
        "{\"email\":\"***@c.example\"}\n\n{\"n\":1}\n"
    );
    let err = m
        .mask_ndjson(b"{}\n{\"a\":}\n", Level::Redact, &MaskContext::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn limits_are_enforced() {
    let p = Policy::from_toml("[limits]\nmax_bytes = 10\n", "p").unwrap();
    let (m, _) = masker(p);
    let e = m
        .mask_json(DOC.as_bytes(), Level::Redact, &MaskContext::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_bytes"), "{e}");
}

#[test]
fn images_in_data_uris_are_pixelated() {
    use base64::Engine as _;
    let mut img = image::RgbImage::new(32, 32);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgb([(x * 8) as u8, (y * 8) as u8, 99]);
    }
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let uri = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png.into_inner())
    );
    let doc = format!(r#"{{"avatar":"{uri}"}}"#);
    let (m, _) = masker(Policy::default());
    let out = m
        .mask_json(doc.as_bytes(), Level::Substitute, &MaskContext::default())
        .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    let new = v["avatar"].as_str().unwrap();
    assert!(new.starts_with("data:image/png;base64,") && new != uri);
    let r = m.mask_image(
        b"garbage",
        "image/png",
        Level::Substitute,
        &MaskContext::default(),
    );
    assert!(r.is_err(), "undecodable images fail closed");
}
