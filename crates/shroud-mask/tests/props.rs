//! Property tests of the masking invariants: nothing sensitive survives any level from redact up,
//! structure and non-sensitive values are untouched, tokenize/encrypt round-trip exactly, and
//! substitution is consistent and format-valid.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};
use shroud_mask::detect::{card::is_card, ssn::is_ssn};
use shroud_mask::{KeyRing, Level, MaskContext, Masker, MemoryVault, Policy, TokenVault};

#[derive(Debug, Clone)]
struct Person {
    name: String,
    email_local: String,
    card: String,
    ssn: String,
    phone: String,
    word: String,
    count: u32,
}

fn luhn_fix(mut d: Vec<u8>) -> Vec<u8> {
    // Set the last digit so the number passes Luhn.
    let n = d.len();
    for c in b'0'..=b'9' {
        d[n - 1] = c;
        if shroud_mask::detect::card::luhn_valid(&d) {
            break;
        }
    }
    d
}

fn person() -> impl Strategy<Value = Person> {
    (
        "[A-Z][a-z]{5,8}",
        "[A-Z][a-z]{5,8}",
        "[a-z]{6,10}",
        proptest::collection::vec(0u8..10, 14),
        (1u16..900, 1u8..100, 1u16..10000),
        (2u8..10, 0u8..10, 0u8..10, 2u8..10, 0u16..1000, 0u16..10000),
        "[a-z]{3,5}",
        any::<u32>(),
    )
        .prop_filter("valid ssn area", |(_, _, _, _, (a, _, _), _, _, _)| {
            *a != 666
        })
        .prop_map(
            |(f, l, local, digits, (a, g, s), (p1, p2, p3, e1, e2, sub), word, count)| {
                let mut d = vec![b'4'];
                d.extend(digits.iter().map(|x| b'0' + x));
                d.push(b'0');
                let d = luhn_fix(d);
                let card = format!(
                    "{} {} {} {}",
                    std::str::from_utf8(&d[0..4]).unwrap(),
                    std::str::from_utf8(&d[4..8]).unwrap(),
                    std::str::from_utf8(&d[8..12]).unwrap(),
                    std::str::from_utf8(&d[12..16]).unwrap()
                );
                Person {
                    name: format!("{f} {l}"),
                    email_local: local,
                    card,
                    ssn: format!("{a:03}-{g:02}-{s:04}"),
                    phone: format!("({p1}{p2}{p3}) {e1}{:02}-{sub:04}", e2 % 100),
                    word,
                    count,
                }
            },
        )
}

fn doc(people: &[Person]) -> Value {
    json!({
        "people": people.iter().map(|p| json!({
            "name": p.name,
            "email": format!("{}@corp.example", p.email_local),
            "card": p.card,
            "ssn": p.ssn,
            "memo": format!("{} called from {} about card {}", p.word, p.phone, p.card),
            "word": p.word,
            "count": p.count,
            "tags": [p.word, p.count],
        })).collect::<Vec<_>>(),
        "total": people.len(),
    })
}

/// Strings that must not appear in masked output: whole values minus the parts redaction keeps
/// on purpose (last 4 of card and SSN, last 2 of phone, the email domain), and every 6-letter
/// window of names and email local parts.
fn forbidden(p: &Person) -> Vec<String> {
    let mut f = vec![
        p.card[..p.card.len() - 4].to_string(),
        p.ssn[..7].to_string(),
        p.phone[..p.phone.len() - 2].to_string(),
    ];
    for part in p.name.split(' ').chain([p.email_local.as_str()]) {
        for i in 0..=part.len().saturating_sub(6) {
            f.push(part[i..(i + 6).min(part.len())].to_string());
        }
    }
    f
}

fn masker() -> Masker {
    let vault: Arc<dyn TokenVault> = Arc::new(MemoryVault::new());
    Masker::new(
        Policy::default(),
        Some(KeyRing::new(&[("k1", [3; 32])]).unwrap()),
        Some(vault),
    )
}

fn strip_sensitive(v: &Value) -> Value {
    let mut v = v.clone();
    for p in v["people"].as_array_mut().unwrap() {
        let o = p.as_object_mut().unwrap();
        for k in ["name", "email", "card", "ssn", "memo"] {
            o.insert(k.into(), Value::Null);
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn nothing_sensitive_survives(people in proptest::collection::vec(person(), 1..4), pretty in any::<bool>()) {
        let m = masker();
        let d = doc(&people);
        let input = if pretty { serde_json::to_vec_pretty(&d).unwrap() } else { serde_json::to_vec(&d).unwrap() };
        for level in [Level::Redact, Level::Substitute, Level::Tokenize, Level::Encrypt] {
            let out = m.mask_json(&input, level, &MaskContext::scope("p")).unwrap();
            let text = String::from_utf8(out.body.clone()).unwrap();
            for p in &people {
                for f in forbidden(p) {
                    prop_assert!(!text.contains(&f), "{level}: `{f}` survived in {text}");
                }
            }
            // Structure and non-sensitive values unchanged.
            let v: Value = serde_json::from_slice(&out.body).unwrap();
            prop_assert_eq!(strip_sensitive(&v), strip_sensitive(&d));
            // At least the five sensitive fields per person were found.
            prop_assert!(out.summary.total >= 5 * people.len() as u64);
        }
    }

    #[test]
    fn tokenize_and_encrypt_round_trip(people in proptest::collection::vec(person(), 1..4), pretty in any::<bool>()) {
        let m = masker();
        let d = doc(&people);
        let input = if pretty { serde_json::to_vec_pretty(&d).unwrap() } else { serde_json::to_vec(&d).unwrap() };
        for level in [Level::Tokenize, Level::Encrypt] {
            let out = m.mask_json(&input, level, &MaskContext::scope("p")).unwrap();
            prop_assert_ne!(&out.body, &input);
            let back = m.unmask_json(&out.body, &MaskContext::scope("p")).unwrap();
            prop_assert_eq!(String::from_utf8(back.body).unwrap(), String::from_utf8(input.clone()).unwrap());
        }
    }

    #[test]
    fn substitution_consistent_and_format_valid(people in proptest::collection::vec(person(), 1..4)) {
        let m = masker();
        let input = serde_json::to_vec(&doc(&people)).unwrap();
        let a = m.mask_json(&input, Level::Substitute, &MaskContext::scope("p")).unwrap();
        let b = m.mask_json(&input, Level::Substitute, &MaskContext::scope("p")).unwrap();
        prop_assert_eq!(&a.body, &b.body);
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        for (out, p) in v["people"].as_array().unwrap().iter().zip(&people) {
            let card = out["card"].as_str().unwrap();
            let digits: Vec<u8> = card.bytes().filter(u8::is_ascii_digit).collect();
            prop_assert!(is_card(&digits) && card != p.card && card.len() == p.card.len(), "{card}");
            let ssn = out["ssn"].as_str().unwrap();
            let sd: Vec<u8> = ssn.bytes().filter(u8::is_ascii_digit).collect();
            prop_assert!(is_ssn(&sd) && ssn != p.ssn && ssn.len() == 11, "{ssn}");
            let email = out["email"].as_str().unwrap();
            prop_assert!(email.contains('@') && (email.ends_with("example.com") || email.ends_with("example.net") || email.ends_with("example.org")));
            let name = out["name"].as_str().unwrap();
            prop_assert!(name != p.name && name.split(' ').count() == 2);
            // The card inside free text gets the same alias as the card field.
            prop_assert!(out["memo"].as_str().unwrap().contains(card));
        }
    }

    #[test]
    fn arbitrary_json_never_panics(s in "\\PC{0,64}") {
        let m = masker();
        let _ = m.mask_json(s.as_bytes(), Level::Substitute, &MaskContext::default());
    }
}
