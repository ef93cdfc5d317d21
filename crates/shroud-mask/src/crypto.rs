//! `tokenize` and `encrypt`, and their inverses for `unmask`.
//!
//! Output forms (all JSON-string safe, recognisable without the policy):
//! - `tok_<26 base32>`: a vault token (random, or HMAC-derived when deterministic).
//! - format-preserving tokens: card-shaped digits that deliberately FAIL the Luhn check (so a
//!   token is never mistaken for a card) and SSN-shaped `9xx-xx-nnnn` (area 9xx is never issued).
//! - `fpe.<key id>.<r>.<ciphertext>`: FF1 over the value's alphanumerics, separators kept in
//!   place; `<r>` is the alphabet (`d` digits, `u` upper+digits, `l` lower+digits, `m` mixed).
//! - `enc.<key id>.<base64url(nonce ‖ AES-GCM-SIV ciphertext)>`, scope as associated data.
//!
//! Vault and ciphertext payloads start with a type tag: `s` = string text, `j` = raw JSON scalar
//! (numbers, booleans, null), so unmasking restores types exactly.

use aes_gcm_siv::Nonce;
use aes_gcm_siv::aead::{Aead as _, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fpe::ff1::{FF1, FlexibleNumeralString};

use crate::detect::card::luhn_valid;
use crate::error::MaskError;
use crate::keys::{Key, KeyRing, hmac};
use crate::substitute::Drbg;

pub(crate) const TAG_STR: u8 = b's';
pub(crate) const TAG_JSON: u8 = b'j';

const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn base32(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(26);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(B32[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(B32[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Seed bytes for a token: HMAC-derived (deterministic) or random.
fn token_seed(key: &Key, deterministic: bool, scope: &str, value: &[u8], attempt: u32) -> [u8; 32] {
    if deterministic {
        hmac(
            &key.token,
            &[b"token", scope.as_bytes(), value, &attempt.to_le_bytes()],
        )
    } else {
        let mut s = [0u8; 32];
        rand::fill(&mut s);
        s
    }
}

/// An opaque `tok_` token.
pub(crate) fn opaque_token(
    key: &Key,
    deterministic: bool,
    scope: &str,
    value: &[u8],
    attempt: u32,
) -> String {
    let seed = token_seed(key, deterministic, scope, value, attempt);
    let mut b = [0u8; 16];
    b.copy_from_slice(&seed[..16]);
    format!("tok_{}", base32(&b))
}

/// True when `s` is exactly an opaque token.
pub(crate) fn is_opaque_token(s: &[u8]) -> bool {
    s.len() == 30 && s.starts_with(b"tok_") && s[4..].iter().all(|c| B32.contains(c))
}

/// A card-shaped token: same length and separators, first digit kept, last 4 kept if asked,
/// Luhn-invalid by construction.
pub(crate) fn card_token(
    key: &Key,
    deterministic: bool,
    scope: &str,
    text: &str,
    keep_last: usize,
    attempt: u32,
) -> String {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_digit).collect();
    let n = digits.len();
    let seed = token_seed(key, deterministic, scope, text.as_bytes(), attempt);
    let mut r = Drbg::new(&seed, &[b"card"]);
    let keep = if keep_last == 4 && n >= 12 { 4 } else { 0 };
    let mut d: Vec<u8> = Vec::with_capacity(n);
    for i in 0..n {
        d.push(if i == 0 && n > 0 {
            digits[0]
        } else if i >= n - keep {
            digits[i]
        } else {
            b'0' + r.below(10) as u8
        });
    }
    if n >= 2 && (luhn_valid(&d) || d == digits) {
        // Any single-digit change alters the Luhn sum, so this makes it invalid (and different).
        d[1] = b'0' + (d[1] - b'0' + 1) % 10;
        if luhn_valid(&d) {
            d[1] = b'0' + (d[1] - b'0' + 1) % 10;
        }
    }
    let mut it = d.into_iter();
    text.bytes()
        .map(|c| {
            if c.is_ascii_digit() {
                it.next().unwrap_or(c)
            } else {
                c
            }
        })
        .map(char::from)
        .collect()
}

/// An SSN-shaped token `9xx-xx-nnnn` (last four kept if asked).
pub(crate) fn ssn_token(
    key: &Key,
    deterministic: bool,
    scope: &str,
    text: &str,
    keep_last: usize,
    attempt: u32,
) -> String {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_digit).collect();
    let seed = token_seed(key, deterministic, scope, text.as_bytes(), attempt);
    let mut r = Drbg::new(&seed, &[b"ssn"]);
    let mut d = vec![b'9'];
    while d.len() < 5 {
        d.push(b'0' + r.below(10) as u8);
    }
    if keep_last == 4 && digits.len() == 9 {
        d.extend_from_slice(&digits[5..]);
    } else {
        while d.len() < 9 {
            d.push(b'0' + r.below(10) as u8);
        }
    }
    let mut it = d.into_iter();
    text.bytes()
        .map(|c| {
            if c.is_ascii_digit() {
                it.next().unwrap_or(c)
            } else {
                c
            }
        })
        .map(char::from)
        .collect()
}

/// True when `s` looks like a format-preserving token (worth a vault lookup).
pub(crate) fn is_fp_token(s: &str) -> bool {
    let d: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b' ' || c == b'-')
    {
        return false;
    }
    ((12..=19).contains(&d.len()) && !luhn_valid(&d)) || (d.len() == 9 && d[0] == b'9')
}

fn alphabet(c: u8, class: u8) -> Option<u16> {
    match (class, c) {
        (b'd', b'0'..=b'9') | (b'u' | b'l' | b'm', b'0'..=b'9') => Some(u16::from(c - b'0')),
        (b'u', b'A'..=b'Z') => Some(u16::from(c - b'A') + 10),
        (b'l', b'a'..=b'z') => Some(u16::from(c - b'a') + 10),
        (b'm', b'A'..=b'Z') => Some(u16::from(c - b'A') + 10),
        (b'm', b'a'..=b'z') => Some(u16::from(c - b'a') + 36),
        _ => None,
    }
}

fn symbol(v: u16, class: u8) -> u8 {
    let v = v as u8;
    match (class, v) {
        (_, 0..=9) => b'0' + v,
        (b'u', _) => b'A' + v - 10,
        (b'l', _) => b'a' + v - 10,
        (_, 10..=35) => b'A' + v - 10,
        _ => b'a' + v - 36,
    }
}

fn ff1_for(key: &Key, class: u8) -> &FF1<aes::Aes256> {
    match class {
        b'd' => &key.ff1_10,
        b'u' | b'l' => &key.ff1_36,
        _ => &key.ff1_62,
    }
}

/// Whether `text` is an identifier FF1 can encrypt: alphanumerics with `-`, ` `, `.`, `/`, `_`, `:`
/// separators, long enough for FF1's domain-size rule (radix^len ≥ 10^6). Returns the alphabet.
pub(crate) fn fpe_alphabet(text: &str) -> Option<u8> {
    let b = text.as_bytes();
    if b.is_empty()
        || b.len() > 256
        || !b.iter().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b' ' | b'.' | b'/' | b'_' | b':')
        })
    {
        return None;
    }
    let alnum: Vec<u8> = b
        .iter()
        .copied()
        .filter(u8::is_ascii_alphanumeric)
        .collect();
    let (up, low) = (
        alnum.iter().any(u8::is_ascii_uppercase),
        alnum.iter().any(u8::is_ascii_lowercase),
    );
    let class = match (up, low) {
        (false, false) => b'd',
        (true, false) => b'u',
        (false, true) => b'l',
        (true, true) => b'm',
    };
    let min = if class == b'd' { 6 } else { 4 };
    (alnum.len() >= min).then_some(class)
}

fn ff1_apply(
    key: &Key,
    class: u8,
    tweak: &[u8],
    text: &str,
    decrypt: bool,
) -> Result<String, String> {
    let nums: Vec<u16> = text.bytes().filter_map(|c| alphabet(c, class)).collect();
    let ff = ff1_for(key, class);
    let ns = FlexibleNumeralString::from(nums);
    let res = if decrypt {
        ff.decrypt(tweak, &ns)
    } else {
        ff.encrypt(tweak, &ns)
    }
    .map_err(|e| e.to_string())?;
    let out: Vec<u16> = res.into();
    let mut it = out.into_iter();
    Ok(text
        .bytes()
        .map(|c| {
            if alphabet(c, class).is_some() {
                it.next().map_or(c, |v| symbol(v, class))
            } else {
                c
            }
        })
        .map(char::from)
        .collect())
}

/// `fpe.<kid>.<r>.<ciphertext>` for an identifier (see [`fpe_alphabet`]).
pub(crate) fn fpe_encrypt(
    keys: &KeyRing,
    scope: &str,
    text: &str,
    class: u8,
) -> Result<String, String> {
    let key = keys.active();
    let ct = ff1_apply(key, class, scope.as_bytes(), text, false)?;
    Ok(format!("fpe.{}.{}.{}", key.id, char::from(class), ct))
}

/// `enc.<kid>.<b64url>` of tag + text.
pub(crate) fn siv_encrypt(
    keys: &KeyRing,
    scope: &str,
    tag: u8,
    text: &str,
    deterministic: bool,
) -> String {
    let key = keys.active();
    let mut pt = Vec::with_capacity(text.len() + 1);
    pt.push(tag);
    pt.extend_from_slice(text.as_bytes());
    let nonce_bytes: [u8; 12] = if deterministic {
        let h = hmac(&key.token, &[b"siv-nonce", scope.as_bytes(), &pt]);
        let mut n = [0u8; 12];
        n.copy_from_slice(&h[..12]);
        n
    } else {
        let mut n = [0u8; 12];
        rand::fill(&mut n);
        n
    };
    let nonce = Nonce::from(nonce_bytes);
    // AES-GCM-SIV only fails for messages over 2^36 bytes, far above our string limit.
    let ct = key
        .siv
        .encrypt(
            &nonce,
            Payload {
                msg: &pt,
                aad: scope.as_bytes(),
            },
        )
        .unwrap_or_default();
    let mut blob = nonce_bytes.to_vec();
    blob.extend_from_slice(&ct);
    format!("enc.{}.{}", key.id, URL_SAFE_NO_PAD.encode(blob))
}

fn decrypt_err(value: &str, reason: impl Into<String>) -> MaskError {
    MaskError::Decrypt {
        value: value.chars().take(24).collect(),
        reason: reason.into(),
    }
}

/// Decrypts an `enc.` envelope: returns (tag, text).
pub(crate) fn siv_decrypt(
    keys: &KeyRing,
    scope: &str,
    env: &str,
) -> Result<(u8, String), MaskError> {
    let rest = &env[4..];
    let (kid, b64) = rest
        .split_once('.')
        .ok_or_else(|| decrypt_err(env, "malformed envelope"))?;
    let key = keys
        .by_id(kid)
        .ok_or_else(|| decrypt_err(env, format!("unknown key id `{kid}`")))?;
    let blob = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| decrypt_err(env, "invalid base64"))?;
    if blob.len() < 12 + 16 + 1 {
        return Err(decrypt_err(env, "too short"));
    }
    let nonce = Nonce::try_from(&blob[..12]).map_err(|_| decrypt_err(env, "bad nonce"))?;
    let pt = key
        .siv
        .decrypt(
            &nonce,
            Payload {
                msg: &blob[12..],
                aad: scope.as_bytes(),
            },
        )
        .map_err(|_| {
            decrypt_err(
                env,
                "authentication failed (wrong key or scope, or tampered)",
            )
        })?;
    let tag = pt[0];
    let text = String::from_utf8(pt[1..].to_vec()).map_err(|_| decrypt_err(env, "not UTF-8"))?;
    Ok((tag, text))
}

/// Decrypts a whole `fpe.` value.
pub(crate) fn fpe_decrypt(keys: &KeyRing, scope: &str, env: &str) -> Result<String, MaskError> {
    let mut parts = env.splitn(4, '.');
    let (Some(_), Some(kid), Some(class), Some(ct)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(decrypt_err(env, "malformed envelope"));
    };
    let key = keys
        .by_id(kid)
        .ok_or_else(|| decrypt_err(env, format!("unknown key id `{kid}`")))?;
    let class = match class.as_bytes() {
        [c @ (b'd' | b'u' | b'l' | b'm')] => *c,
        _ => return Err(decrypt_err(env, "unknown alphabet")),
    };
    ff1_apply(key, class, scope.as_bytes(), ct, true).map_err(|r| decrypt_err(env, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(&[("k1", [1; 32]), ("k0", [2; 32])]).unwrap()
    }

    #[test]
    fn fpe_round_trip() {
        let r = ring();
        for t in [
            "4111 1111 1111 1111",
            "AB12-CD34",
            "abc123xyz",
            "Ab3dE5",
            "123-45-6789",
        ] {
            let c = fpe_alphabet(t).unwrap();
            let e = fpe_encrypt(&r, "s", t, c).unwrap();
            let ct = e.splitn(4, '.').nth(3).unwrap();
            assert_eq!(ct.len(), t.len());
            assert_ne!(ct, t);
            assert_eq!(fpe_decrypt(&r, "s", &e).unwrap(), t);
        }
        assert_eq!(fpe_alphabet("12345"), None);
        assert_eq!(fpe_alphabet("a b!"), None);
    }

    #[test]
    fn siv_round_trip_and_scope() {
        let r = ring();
        let e = siv_encrypt(&r, "s", TAG_STR, "hello world", true);
        assert_eq!(e, siv_encrypt(&r, "s", TAG_STR, "hello world", true));
        assert_ne!(e, siv_encrypt(&r, "s", TAG_STR, "hello world", false));
        assert_eq!(
            siv_decrypt(&r, "s", &e).unwrap(),
            (TAG_STR, "hello world".to_string())
        );
        assert!(siv_decrypt(&r, "other", &e).is_err());
    }

    #[test]
    fn fp_tokens() {
        let r = ring();
        let k = r.active();
        let t = card_token(k, true, "s", "4111 1111 1111 1111", 4, 0);
        assert!(
            t.starts_with('4') && t.ends_with("1111") && t.len() == 19,
            "{t}"
        );
        assert!(is_fp_token(&t));
        let s = ssn_token(k, true, "s", "123-45-6789", 4, 0);
        assert!(s.starts_with('9') && s.ends_with("-6789"), "{s}");
        assert!(is_fp_token(&s));
        let o = opaque_token(k, true, "s", b"x", 0);
        assert!(is_opaque_token(o.as_bytes()), "{o}");
        assert_eq!(o, opaque_token(k, true, "s", b"x", 0));
        assert_ne!(o, opaque_token(k, true, "s", b"x", 1));
    }
}
