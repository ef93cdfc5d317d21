//! The key ring: AES-256-GCM-SIV sealing keys (rotatable, identified by key id) and the
//! separate HMAC-SHA256 pseudonymization key that turns user ids, tokens and values into
//! the opaque names used in storage keys.
//!
//! Key file format (also accepted verbatim from an environment variable; `;` may stand
//! for a newline so it fits on one line):
//!
//! ```text
//! # lines starting with '#' are comments
//! pseudonym <64 hex chars>          # exactly one; changing it orphans all stored data
//! seal 1 <64 hex chars>             # one or more; ids are 1..=u32::MAX
//! seal 2 <64 hex chars> current     # the key new writes use (default: highest id)
//! ```
//!
//! Sealed blob layout: `b'S' | 0x01 | key id (u32 BE) | nonce (12) | ciphertext+tag`.
//! The associated data is a domain label, the header, and the *logical storage key* the
//! blob lives under, so a blob copied under another user's (or token's) key fails
//! authentication instead of decrypting as someone else's data.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};

const MAGIC: u8 = b'S';
const FORMAT: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 2 + 4 + NONCE_LEN;
const AAD_LABEL: &[u8] = b"shroud-store/seal/1\0";

/// Default environment variable holding the key ring text.
pub const KEYS_ENV: &str = "SHROUD_STORE_KEYS";

/// Sealing and pseudonymization keys. Cheap to share behind the [`crate::Store`]'s `Arc`.
pub struct KeyRing {
    current: u32,
    ciphers: BTreeMap<u32, Aes256GcmSiv>,
    pseudonym: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for KeyRing {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("key_ids", &self.ciphers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn parse_key(hex_text: &str, line: usize) -> Result<Zeroizing<[u8; 32]>> {
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_text, key.as_mut_slice()).map_err(|e| {
        StoreError::Config(format!(
            "key ring line {line}: key must be 64 hex characters (32 bytes): {e}"
        ))
    })?;
    Ok(key)
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Config(format!("operating system random source failed: {e}")))?;
    Ok(buf)
}

impl KeyRing {
    /// Parses key ring text (see the module docs for the format).
    pub fn parse(text: &str) -> Result<Self> {
        let mut pseudonym = None;
        let mut ciphers = BTreeMap::new();
        let mut current = None;
        for (idx, raw) in text.split(['\n', ';']).enumerate() {
            let line_no = idx + 1;
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["pseudonym", key] => {
                    if pseudonym.is_some() {
                        return Err(StoreError::Config(format!(
                            "key ring line {line_no}: a second `pseudonym` key (exactly one allowed)"
                        )));
                    }
                    pseudonym = Some(parse_key(key, line_no)?);
                }
                ["seal", id, key, rest @ ..] => {
                    let id: u32 = id.parse().ok().filter(|&i| i > 0).ok_or_else(|| {
                        StoreError::Config(format!(
                            "key ring line {line_no}: seal key id `{id}` must be an integer in 1..=4294967295"
                        ))
                    })?;
                    let key = parse_key(key, line_no)?;
                    let cipher = Aes256GcmSiv::new_from_slice(key.as_slice()).map_err(|_| {
                        StoreError::Config(format!("key ring line {line_no}: bad key length"))
                    })?;
                    if ciphers.insert(id, cipher).is_some() {
                        return Err(StoreError::Config(format!(
                            "key ring line {line_no}: seal key id {id} appears twice"
                        )));
                    }
                    match rest {
                        [] => {}
                        ["current"] => {
                            if current.replace(id).is_some() {
                                return Err(StoreError::Config(format!(
                                    "key ring line {line_no}: more than one key marked `current`"
                                )));
                            }
                        }
                        other => {
                            return Err(StoreError::Config(format!(
                                "key ring line {line_no}: unexpected trailing `{}` (only `current` allowed)",
                                other.join(" ")
                            )));
                        }
                    }
                }
                _ => {
                    return Err(StoreError::Config(format!(
                        "key ring line {line_no}: expected `pseudonym <hex>` or `seal <id> <hex> [current]`"
                    )));
                }
            }
        }
        let pseudonym = pseudonym
            .ok_or_else(|| StoreError::Config("key ring has no `pseudonym` key".into()))?;
        let current = match current {
            Some(id) => id,
            None => *ciphers
                .keys()
                .next_back()
                .ok_or_else(|| StoreError::Config("key ring has no `seal` key".into()))?,
        };
        Ok(KeyRing {
            current,
            ciphers,
            pseudonym,
        })
    }

    /// Reads and parses a key file. Warns (via `tracing`) when the file is readable by
    /// group or others.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            StoreError::Config(format!("cannot read key file {}: {e}", path.display()))
        })?);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(
                    path = %path.display(),
                    "store key file is readable by group/others; chmod 600 it"
                );
            }
        }
        Self::parse(&text)
            .map_err(|e| StoreError::Config(format!("key file {}: {e}", path.display())))
    }

    /// Reads the key ring text from an environment variable (e.g. [`KEYS_ENV`]).
    pub fn from_env(var: &str) -> Result<Self> {
        let text = Zeroizing::new(std::env::var(var).map_err(|e| {
            StoreError::Config(format!("environment variable {var} not usable: {e}"))
        })?);
        Self::parse(&text).map_err(|e| StoreError::Config(format!("${var}: {e}")))
    }

    /// Produces the text of a fresh key file (one pseudonym key, seal key 1), for
    /// `shroud demo` and first-time setup.
    pub fn generate_text() -> Result<String> {
        let p = Zeroizing::new(random_bytes::<32>()?);
        let s = Zeroizing::new(random_bytes::<32>()?);
        Ok(format!(
            "# Shroud store keys. Keep secret (chmod 600). Never change `pseudonym`.\n\
             pseudonym {}\nseal 1 {} current\n",
            hex::encode(p.as_slice()),
            hex::encode(s.as_slice())
        ))
    }

    /// Text for a key file equal to `existing` plus a new seal key that becomes current:
    /// the rotation step. Old keys stay so existing blobs still open.
    pub fn rotate_text(existing: &str) -> Result<String> {
        let ring = Self::parse(existing)?;
        let next = ring
            .ciphers
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| StoreError::Config("seal key ids exhausted".into()))?;
        let s = Zeroizing::new(random_bytes::<32>()?);
        let mut out = String::new();
        for line in existing.split(['\n', ';']) {
            // Drop the old `current` marker: the new key takes it.
            let trimmed = line.trim_end();
            let kept = trimmed.strip_suffix(" current").unwrap_or(trimmed);
            if !kept.trim().is_empty() {
                out.push_str(kept);
                out.push('\n');
            }
        }
        out.push_str(&format!(
            "seal {next} {} current\n",
            hex::encode(s.as_slice())
        ));
        Ok(out)
    }

    /// Id of the key new writes are sealed with.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// All seal key ids this ring can open.
    pub fn key_ids(&self) -> Vec<u32> {
        self.ciphers.keys().copied().collect()
    }

    fn aad(header: &[u8], context: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(AAD_LABEL.len() + header.len() + context.len());
        aad.extend_from_slice(AAD_LABEL);
        aad.extend_from_slice(header);
        aad.extend_from_slice(context);
        aad
    }

    /// Encrypts `plaintext` under the current key, bound to `context` (the logical key
    /// the blob will be stored under).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let cipher = self
            .ciphers
            .get(&self.current)
            .ok_or_else(|| StoreError::Config("current seal key missing".into()))?;
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut header = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        header.push(MAGIC);
        header.push(FORMAT);
        header.extend_from_slice(&self.current.to_be_bytes());
        header.extend_from_slice(&nonce_bytes);
        let aad = Self::aad(&header, context);
        let nonce = Nonce::from(nonce_bytes);
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Config("AES-GCM-SIV encryption failed".into()))?;
        header.extend_from_slice(&ct);
        Ok(header)
    }

    /// Decrypts a blob produced by [`KeyRing::seal`] with the same `context`. `what`
    /// names the record in errors.
    pub fn open(&self, what: &'static str, context: &[u8], blob: &[u8]) -> Result<Vec<u8>> {
        if blob.len() < HEADER_LEN + TAG_LEN {
            return Err(StoreError::corrupt(
                what,
                format!(
                    "sealed blob is {} bytes, shorter than the {} byte minimum",
                    blob.len(),
                    HEADER_LEN + TAG_LEN
                ),
            ));
        }
        if blob[0] != MAGIC || blob[1] != FORMAT {
            return Err(StoreError::corrupt(
                what,
                format!(
                    "unknown sealed blob format {:#04x}/{:#04x}",
                    blob[0], blob[1]
                ),
            ));
        }
        let key_id = u32::from_be_bytes([blob[2], blob[3], blob[4], blob[5]]);
        let cipher = self
            .ciphers
            .get(&key_id)
            .ok_or(StoreError::UnknownKeyId { what, key_id })?;
        let (header, ct) = blob.split_at(HEADER_LEN);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&header[6..]);
        let aad = Self::aad(header, context);
        cipher
            .decrypt(&Nonce::from(nonce_bytes), Payload { msg: ct, aad: &aad })
            .map_err(|_| StoreError::Decrypt { what, key_id })
    }

    /// Keyed hash of `input` under the pseudonymization key, domain-separated by
    /// `domain`; 128 bits, hex encoded (32 chars). 128 bits keep storage keys short while
    /// making an accidental collision (2^64 ids) irrelevant.
    pub(crate) fn pseudonym(&self, domain: &str, parts: &[&[u8]]) -> String {
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(self.pseudonym.as_slice()) {
            Ok(mac) => mac,
            // HMAC accepts keys of any length; this arm cannot be reached with a 32-byte key.
            Err(_) => return String::new(),
        };
        mac.update(b"shroud-store/pseudonym/1\0");
        mac.update(domain.as_bytes());
        for part in parts {
            // Length-prefix each part so ("ab","c") and ("a","bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let out = mac.finalize().into_bytes();
        hex::encode(&out[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    const P: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn ring(text: &str) -> KeyRing {
        KeyRing::parse(text).unwrap()
    }

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let r = ring(&format!("pseudonym {P}\nseal 1 {K1}"));
        let blob = r.seal(b"{u:a}:p:mouse", b"hello").unwrap();
        assert_eq!(r.open("t", b"{u:a}:p:mouse", &blob).unwrap(), b"hello");
        // Moving the blob under another user's key must fail authentication.
        assert!(matches!(
            r.open("t", b"{u:b}:p:mouse", &blob),
            Err(StoreError::Decrypt { key_id: 1, .. })
        ));
        // Two seals of the same plaintext differ (random nonce).
        assert_ne!(blob, r.seal(b"{u:a}:p:mouse", b"hello").unwrap());
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let r = ring(&format!("pseudonym {P}\nseal 7 {K1}"));
        let blob = r.seal(b"ctx", b"some profile bytes").unwrap();
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut bad = blob.clone();
                bad[i] ^= 1 << bit;
                let res = r.open("t", b"ctx", &bad);
                assert!(res.is_err(), "flip at byte {i} bit {bit} went unnoticed");
            }
        }
    }

    #[test]
    fn rotation_keeps_old_keys_readable() {
        let old = ring(&format!("pseudonym {P}\nseal 1 {K1}"));
        let blob = old.seal(b"c", b"v1").unwrap();
        let new = ring(&format!("pseudonym {P}\nseal 1 {K1}\nseal 2 {K2}"));
        assert_eq!(new.current_key_id(), 2);
        assert_eq!(new.open("t", b"c", &blob).unwrap(), b"v1");
        let blob2 = new.seal(b"c", b"v2").unwrap();
        assert_eq!(u32::from_be_bytes(blob2[2..6].try_into().unwrap()), 2);
        // The old ring cannot read blobs of a key it does not have.
        assert!(matches!(
            old.open("t", b"c", &blob2),
            Err(StoreError::UnknownKeyId { key_id: 2, .. })
        ));
        // Explicit `current` overrides "highest id".
        let pinned = ring(&format!("pseudonym {P}\nseal 1 {K1} current;seal 2 {K2}"));
        assert_eq!(pinned.current_key_id(), 1);
    }

    #[test]
    fn rotate_text_adds_a_current_key() {
        let text = KeyRing::generate_text().unwrap();
        let r1 = KeyRing::parse(&text).unwrap();
        let rotated = KeyRing::rotate_text(&text).unwrap();
        let r2 = KeyRing::parse(&rotated).unwrap();
        assert_eq!(r2.key_ids(), vec![1, 2]);
        assert_eq!(r2.current_key_id(), 2);
        // Same pseudonym key: storage names do not move.
        assert_eq!(
            r1.pseudonym("u", &[b"alice"]),
            r2.pseudonym("u", &[b"alice"])
        );
    }

    #[test]
    fn pseudonyms_are_keyed_domain_separated_and_unambiguous() {
        let a = ring(&format!("pseudonym {P}\nseal 1 {K1}"));
        let b = ring(&format!("pseudonym {K2}\nseal 1 {K1}"));
        let pa = a.pseudonym("user", &[b"alice"]);
        assert_eq!(pa.len(), 32);
        assert!(!pa.contains("alice"));
        assert_eq!(pa, a.pseudonym("user", &[b"alice"]));
        assert_ne!(
            pa,
            b.pseudonym("user", &[b"alice"]),
            "must depend on the key"
        );
        assert_ne!(
            pa,
            a.pseudonym("token", &[b"alice"]),
            "must depend on the domain"
        );
        assert_ne!(
            a.pseudonym("v", &[b"ab", b"c"]),
            a.pseudonym("v", &[b"a", b"bc"])
        );
    }

    #[test]
    fn bad_key_files_give_clear_errors() {
        let cases = [
            ("", "no `pseudonym`"),
            (&format!("pseudonym {P}") as &str, "no `seal`"),
            (&format!("pseudonym {P}\nseal 0 {K1}"), "must be an integer"),
            (&format!("pseudonym {P}\nseal 1 abc"), "64 hex"),
            (
                &format!("pseudonym {P}\nseal 1 {K1}\nseal 1 {K2}"),
                "appears twice",
            ),
            (&format!("pseudonym {P}\nseal 1 {K1} now"), "trailing"),
            ("bogus line", "expected `pseudonym"),
        ];
        for (text, needle) in cases {
            let err = KeyRing::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?} -> {err}");
        }
        let dbg = format!("{:?}", ring(&format!("pseudonym {P}\nseal 1 {K1}")));
        assert!(!dbg.contains("1111"), "Debug must not print keys: {dbg}");
    }

    #[test]
    fn truncated_and_foreign_blobs_are_corrupt_not_garbage() {
        let r = ring(&format!("pseudonym {P}\nseal 1 {K1}"));
        assert!(matches!(
            r.open("t", b"c", b"short"),
            Err(StoreError::Corrupt { .. })
        ));
        let mut blob = r.seal(b"c", b"x").unwrap();
        blob[0] = b'X';
        assert!(matches!(
            r.open("t", b"c", &blob),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
