//! Versioned, compact binary serialization of profiles (postcard, with slot
//! ids delta-encoded and statistics quantized), so a user's keystroke or mouse
//! profile fits the store's budget of 8 KiB per modality.

use crate::keymodel::{KeyProfile, ProfileSlot};
use serde::{Deserialize, Serialize};

/// Current version of the keystroke profile encoding.
pub const KEY_PROFILE_VERSION: u16 = 1;

/// Why a stored profile could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The bytes are not a profile of a known layout.
    #[error("profile bytes are malformed: {0}")]
    Malformed(String),
    /// The profile was written by a newer or unknown encoder.
    #[error("profile version {found} is not supported (this build reads version {supported})")]
    Version {
        /// Version found in the bytes.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// A decoded field is out of range.
    #[error("profile field {field} is invalid: {why}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// Reason.
        why: &'static str,
    },
}

#[derive(Serialize, Deserialize)]
struct WireSlot {
    /// Slot id minus the previous slot id (ids are sorted).
    delta: u32,
    /// Effective count, rounded up, capped at 255.
    n: u8,
    /// Mean ×1000.
    mean: i16,
    /// Standard deviation ×2000.
    sd: u16,
    /// (Anchor − mean) ×1000.
    anchor_off: i16,
}

#[derive(Serialize, Deserialize)]
struct WireKeyProfile {
    version: u16,
    windows: u32,
    keystrokes: u64,
    slots: Vec<WireSlot>,
}

/// Encoder/decoder of [`KeyProfile`].
pub struct KeyProfileCodec;

fn q16(x: f32, scale: f32) -> i16 {
    (x * scale)
        .round()
        .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

impl KeyProfileCodec {
    /// Encodes a profile (lossy: means to 1e-3, deviations to 5e-4).
    pub fn encode(p: &KeyProfile) -> Vec<u8> {
        let mut prev = 0u32;
        let slots = p
            .slots
            .iter()
            .map(|s| {
                let d = s.slot - prev;
                prev = s.slot;
                WireSlot {
                    delta: d,
                    n: s.n.ceil().clamp(0.0, 255.0) as u8,
                    mean: q16(s.mean, 1000.0),
                    sd: (s.var.max(0.0).sqrt() * 2000.0).round().clamp(0.0, 65535.0) as u16,
                    anchor_off: q16(s.anchor - s.mean, 1000.0),
                }
            })
            .collect();
        let w = WireKeyProfile {
            version: KEY_PROFILE_VERSION,
            windows: p.windows,
            keystrokes: p.keystrokes,
            slots,
        };
        postcard::to_stdvec(&w).unwrap_or_default()
    }

    /// Decodes a profile, checking the version and the slot order.
    pub fn decode(bytes: &[u8]) -> Result<KeyProfile, CodecError> {
        // The version is the first field: read it alone first so a newer
        // layout is reported as a version error, not as garbage.
        let (version, _) = postcard::take_from_bytes::<u16>(bytes)
            .map_err(|e| CodecError::Malformed(e.to_string()))?;
        if version != KEY_PROFILE_VERSION {
            return Err(CodecError::Version {
                found: version,
                supported: KEY_PROFILE_VERSION,
            });
        }
        let w: WireKeyProfile =
            postcard::from_bytes(bytes).map_err(|e| CodecError::Malformed(e.to_string()))?;
        let mut slot = 0u32;
        let mut out = Vec::with_capacity(w.slots.len());
        for (i, s) in w.slots.iter().enumerate() {
            if i > 0 && s.delta == 0 {
                return Err(CodecError::Invalid {
                    field: "slots",
                    why: "slot ids not strictly increasing",
                });
            }
            slot = slot.checked_add(s.delta).ok_or(CodecError::Invalid {
                field: "slots",
                why: "slot id overflow",
            })?;
            let mean = f32::from(s.mean) / 1000.0;
            let sd = f32::from(s.sd) / 2000.0;
            out.push(ProfileSlot {
                slot,
                n: f32::from(s.n),
                mean,
                var: sd * sd,
                anchor: mean + f32::from(s.anchor_off) / 1000.0,
            });
        }
        Ok(KeyProfile {
            slots: out,
            windows: w.windows,
            keystrokes: w.keystrokes,
        })
    }
}
