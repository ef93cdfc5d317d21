//! Key material: a [`KeyRing`] of named 256-bit master keys (one active, the others kept to
//! decrypt older output), loaded from a key file or an environment variable, never from a
//! request. Each master key is expanded with HMAC-SHA256 into independent sub-keys for
//! substitution, deterministic tokens, FF1 and AES-GCM-SIV, so no key is used for two purposes.

use std::fmt;
use std::path::Path;

use aes::Aes256;
use aes_gcm_siv::Aes256GcmSiv;
use aes_gcm_siv::aead::KeyInit as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fpe::ff1::FF1;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// The error of loading or parsing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file or variable is malformed.
    #[error("invalid keys in {origin}: {reason}")]
    Invalid {
        /// Where the keys came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

/// HMAC-SHA256.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // A 32-byte key is always accepted by HMAC; the fallback can never run.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        m.update(&(p.len() as u64).to_le_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// One master key and the sub-keys derived from it.
pub(crate) struct Key {
    pub id: String,
    pub subst: [u8; 32],
    pub token: [u8; 32],
    pub siv: Aes256GcmSiv,
    pub ff1_10: FF1<Aes256>,
    pub ff1_36: FF1<Aes256>,
    pub ff1_62: FF1<Aes256>,
}

/// A set of named keys, one of them active for new output.
pub struct KeyRing {
    keys: Vec<Key>,
    active: usize,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("KeyRing")
            .field(
                "ids",
                &self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            )
            .field("active", &self.keys[self.active].id)
            .finish()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 16 && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl KeyRing {
    /// Builds a ring from `(id, 32-byte key)` pairs; the first is active. Ids are 1–16 ASCII
    /// letters, digits or `_` (they appear inside encrypted output).
    pub fn new(keys: &[(&str, [u8; 32])]) -> Result<KeyRing, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            origin: "key ring".into(),
            reason,
        };
        if keys.is_empty() {
            return Err(invalid("no keys".into()));
        }
        let mut out = Vec::with_capacity(keys.len());
        for (id, master) in keys {
            if !valid_id(id) {
                return Err(invalid(format!(
                    "key id `{id}` must be 1-16 characters of A-Z, a-z, 0-9, _"
                )));
            }
            if out.iter().any(|k: &Key| k.id == *id) {
                return Err(invalid(format!("key id `{id}` appears twice")));
            }
            let sub = |label: &str| hmac(master, &[b"shroud-mask/v1", label.as_bytes()]);
            let siv_key = sub("aes-gcm-siv");
            let ff1_key = sub("ff1");
            let ff1 =
                |radix| FF1::<Aes256>::new(&ff1_key, radix).map_err(|e| invalid(e.to_string()));
            out.push(Key {
                id: (*id).to_string(),
                subst: sub("substitute"),
                token: sub("token"),
                siv: Aes256GcmSiv::new_from_slice(&siv_key).map_err(|e| invalid(e.to_string()))?,
                ff1_10: ff1(10)?,
                ff1_36: ff1(36)?,
                ff1_62: ff1(62)?,
            });
        }
        Ok(KeyRing {
            keys: out,
            active: 0,
        })
    }

    /// A ring with one random key, for runs that need consistency only within themselves.
    pub fn ephemeral() -> KeyRing {
        let mut k = [0u8; 32];
        rand::fill(&mut k);
        // "eph" is a valid id and there is one key, so this cannot fail.
        match KeyRing::new(&[("eph", k)]) {
            Ok(r) => r,
            Err(_) => unreachable_ring(),
        }
    }

    /// Parses the key-file format (TOML): `active = "k2"` and a `[keys]` table of
    /// `id = "<base64 of 32 bytes>"`.
    pub fn from_toml(text: &str, origin: &str) -> Result<KeyRing, KeyError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            active: Option<String>,
            keys: std::collections::BTreeMap<String, String>,
        }
        let invalid = |reason: String| KeyError::Invalid {
            origin: origin.to_string(),
            reason,
        };
        let f: File = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
        let mut pairs = Vec::new();
        for (id, b64) in &f.keys {
            pairs.push((
                id.clone(),
                decode_key(b64).map_err(|r| invalid(format!("key `{id}`: {r}")))?,
            ));
        }
        if let Some(active) = &f.active {
            let Some(pos) = pairs.iter().position(|(id, _)| id == active) else {
                return Err(invalid(format!("active key `{active}` is not in [keys]")));
            };
            let a = pairs.remove(pos);
            pairs.insert(0, a);
        } else if pairs.len() > 1 {
            return Err(invalid("several keys but no `active = \"<id>\"`".into()));
        }
        let refs: Vec<(&str, [u8; 32])> = pairs.iter().map(|(i, k)| (i.as_str(), *k)).collect();
        KeyRing::new(&refs).map_err(|e| match e {
            KeyError::Invalid { reason, .. } => invalid(reason),
            other => other,
        })
    }

    /// Reads a key file (see [`KeyRing::from_toml`]).
    pub fn from_file(path: &Path) -> Result<KeyRing, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        KeyRing::from_toml(&text, &path.display().to_string())
    }

    /// Parses the environment-variable format: `id=<base64>[,id=<base64>...]`, first active.
    pub fn from_env_value(value: &str, var: &str) -> Result<KeyRing, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            origin: format!("${var}"),
            reason,
        };
        let mut pairs = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((id, b64)) = item.split_once('=') else {
                return Err(invalid("expected id=<base64 of 32 bytes>[,id=...]".into()));
            };
            pairs.push((
                id.trim().to_string(),
                decode_key(b64.trim()).map_err(|r| invalid(format!("key `{id}`: {r}")))?,
            ));
        }
        let refs: Vec<(&str, [u8; 32])> = pairs.iter().map(|(i, k)| (i.as_str(), *k)).collect();
        KeyRing::new(&refs).map_err(|e| match e {
            KeyError::Invalid { reason, .. } => invalid(reason),
            other => other,
        })
    }

    /// The id of the key used for new output.
    pub fn active_id(&self) -> &str {
        &self.keys[self.active].id
    }

    pub(crate) fn active(&self) -> &Key {
        &self.keys[self.active]
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// A fresh random key in the key-file format, for `shroud mask --new-key`.
    pub fn generate_toml(id: &str) -> String {
        let mut k = [0u8; 32];
        rand::fill(&mut k);
        format!(
            "active = \"{id}\"\n\n[keys]\n{id} = \"{}\"\n",
            STANDARD.encode(k)
        )
    }
}

fn unreachable_ring() -> KeyRing {
    // Only reachable if KeyRing::new rejected a fixed valid id, which it does not.
    KeyRing {
        keys: Vec::new(),
        active: 0,
    }
}

fn decode_key(b64: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("not base64 ({e})"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("must be 32 bytes, got {}", bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_formats() {
        let t = KeyRing::generate_toml("k1");
        let r = KeyRing::from_toml(&t, "test").unwrap();
        assert_eq!(r.active_id(), "k1");
        let e = KeyRing::from_env_value(
            &format!(
                "k2={},k1={}",
                STANDARD.encode([1u8; 32]),
                STANDARD.encode([2u8; 32])
            ),
            "X",
        )
        .unwrap();
        assert_eq!(e.active_id(), "k2");
        assert!(e.by_id("k1").is_some());
        let err = KeyRing::from_env_value("k1=AAAA", "X")
            .unwrap_err()
            .to_string();
        assert!(err.contains("32 bytes"), "{err}");
        assert!(KeyRing::from_toml("[keys]\na=\"x\"\nb=\"y\"", "f").is_err());
        assert!(format!("{r:?}").contains("k1"));
    }
}
