//! The key-zone table of telemetry schema v1 (`docs/telemetry.md`, "Key zones").
//!
//! A zone is what the collector sends instead of a key: the touch-typing finger
//! region of the physical key (`KeyboardEvent.code`, layout-independent), or a
//! class for non-character keys. The table is part of the wire contract: change
//! it only together with the schema version.

use std::fmt;
use std::str::FromStr;

/// A keyboard zone or key class, as sent on the wire (`"L3"`, `"SP"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Zone {
    /// Left pinky column: `` ` 1 q a z ``.
    L5,
    /// Left ring column: `2 w s x`.
    L4,
    /// Left middle column: `3 e d c`.
    L3,
    /// Left index, outer column: `4 r f v`.
    L2,
    /// Left index, inner column: `5 t g b`.
    L1,
    /// Right index, inner column: `6 y h n`.
    R1,
    /// Right index, outer column: `7 u j m`.
    R2,
    /// Right middle column: `8 i k ,`.
    R3,
    /// Right ring column: `9 o l .`.
    R4,
    /// Right pinky and the punctuation to its right.
    R5,
    /// The space bar.
    Space,
    /// Backspace and Delete.
    Backspace,
    /// Enter (main and numpad).
    Enter,
    /// Tab.
    Tab,
    /// Shift, Control, Alt, Meta, CapsLock.
    Modifier,
    /// Arrows, Home, End, PageUp, PageDown, Insert.
    Navigation,
    /// Numpad keys other than NumpadEnter.
    Numpad,
    /// Escape, function and system keys.
    Function,
    /// Anything else (IME composition, unknown codes).
    Other,
    /// Any left-hand finger zone (`L5..=L1`), sent instead of them by a
    /// collector in `zones: "hands"` mode.
    LeftHand,
    /// Any right-hand finger zone (`R1..=R5`), sent instead of them by a
    /// collector in `zones: "hands"` mode.
    RightHand,
}

impl Zone {
    /// Every zone, in wire-code order.
    pub const ALL: [Zone; 21] = [
        Zone::L5,
        Zone::L4,
        Zone::L3,
        Zone::L2,
        Zone::L1,
        Zone::R1,
        Zone::R2,
        Zone::R3,
        Zone::R4,
        Zone::R5,
        Zone::Space,
        Zone::Backspace,
        Zone::Enter,
        Zone::Tab,
        Zone::Modifier,
        Zone::Navigation,
        Zone::Numpad,
        Zone::Function,
        Zone::Other,
        Zone::LeftHand,
        Zone::RightHand,
    ];

    /// The wire code of this zone.
    pub const fn as_str(self) -> &'static str {
        match self {
            Zone::L5 => "L5",
            Zone::L4 => "L4",
            Zone::L3 => "L3",
            Zone::L2 => "L2",
            Zone::L1 => "L1",
            Zone::R1 => "R1",
            Zone::R2 => "R2",
            Zone::R3 => "R3",
            Zone::R4 => "R4",
            Zone::R5 => "R5",
            Zone::Space => "SP",
            Zone::Backspace => "BS",
            Zone::Enter => "EN",
            Zone::Tab => "TB",
            Zone::Modifier => "MO",
            Zone::Navigation => "NV",
            Zone::Numpad => "NP",
            Zone::Function => "FN",
            Zone::Other => "OT",
            Zone::LeftHand => "LH",
            Zone::RightHand => "RH",
        }
    }

    /// A dense index in `0..Zone::ALL.len()`, for per-zone feature tables.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// True for the ten letter/digit/punctuation finger zones `L5..=R5`.
    pub const fn is_finger(self) -> bool {
        (self as u8) <= (Zone::R5 as u8)
    }

    /// True for the two coarse hand zones `LH` / `RH` of `zones: "hands"` mode.
    pub const fn is_hand(self) -> bool {
        matches!(self, Zone::LeftHand | Zone::RightHand)
    }

    /// The coarse zone a `zones: "hands"` collector sends for this zone:
    /// finger zones collapse to their hand, every other zone is unchanged.
    pub const fn to_hand(self) -> Zone {
        match self {
            Zone::L5 | Zone::L4 | Zone::L3 | Zone::L2 | Zone::L1 => Zone::LeftHand,
            Zone::R1 | Zone::R2 | Zone::R3 | Zone::R4 | Zone::R5 => Zone::RightHand,
            z => z,
        }
    }

    /// Maps a DOM `KeyboardEvent.code` (physical key) to its zone, exactly as
    /// the browser collector does. Unknown codes map to [`Zone::Other`].
    pub fn from_dom_code(code: &str) -> Zone {
        match code {
            "Backquote" | "Digit1" | "KeyQ" | "KeyA" | "KeyZ" | "IntlBackslash" => Zone::L5,
            "Digit2" | "KeyW" | "KeyS" | "KeyX" => Zone::L4,
            "Digit3" | "KeyE" | "KeyD" | "KeyC" => Zone::L3,
            "Digit4" | "KeyR" | "KeyF" | "KeyV" => Zone::L2,
            "Digit5" | "KeyT" | "KeyG" | "KeyB" => Zone::L1,
            "Digit6" | "KeyY" | "KeyH" | "KeyN" => Zone::R1,
            "Digit7" | "KeyU" | "KeyJ" | "KeyM" => Zone::R2,
            "Digit8" | "KeyI" | "KeyK" | "Comma" => Zone::R3,
            "Digit9" | "KeyO" | "KeyL" | "Period" => Zone::R4,
            "Digit0" | "Minus" | "Equal" | "KeyP" | "BracketLeft" | "BracketRight"
            | "Backslash" | "Semicolon" | "Quote" | "Slash" | "IntlRo" | "IntlYen" => Zone::R5,
            "Space" => Zone::Space,
            "Backspace" | "Delete" => Zone::Backspace,
            "Enter" | "NumpadEnter" => Zone::Enter,
            "Tab" => Zone::Tab,
            "ShiftLeft" | "ShiftRight" | "ControlLeft" | "ControlRight" | "AltLeft"
            | "AltRight" | "MetaLeft" | "MetaRight" | "CapsLock" => Zone::Modifier,
            "ArrowUp" | "ArrowDown" | "ArrowLeft" | "ArrowRight" | "Home" | "End" | "PageUp"
            | "PageDown" | "Insert" => Zone::Navigation,
            c if c.starts_with("Numpad") => Zone::Numpad,
            "Escape" => Zone::Function,
            c if c.len() >= 2
                && c.starts_with('F')
                && c[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                Zone::Function
            }
            _ => Zone::Other,
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a wire code that is not in the zone table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown key zone {0:?} (expected one of L5..L1, R1..R5, SP, BS, EN, TB, MO, NV, NP, FN, OT, LH, RH)"
)]
pub struct UnknownZone(pub String);

impl FromStr for Zone {
    type Err = UnknownZone;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Zone::ALL
            .iter()
            .copied()
            .find(|z| z.as_str() == s)
            .ok_or_else(|| UnknownZone(s.to_owned()))
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Zone;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key zone code such as \"L3\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Zone, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_round_trip_and_indices_are_dense() {
        for (i, z) in Zone::ALL.iter().enumerate() {
            assert_eq!(z.index(), i);
            assert_eq!(z.as_str().parse::<Zone>(), Ok(*z));
        }
        assert!("L6".parse::<Zone>().is_err());
    }

    #[test]
    fn physical_codes_map_to_fingers() {
        assert_eq!(Zone::from_dom_code("KeyQ"), Zone::L5);
        assert_eq!(Zone::from_dom_code("KeyP"), Zone::R5);
        assert_eq!(Zone::from_dom_code("Numpad7"), Zone::Numpad);
        assert_eq!(Zone::from_dom_code("NumpadEnter"), Zone::Enter);
        assert_eq!(Zone::from_dom_code("F12"), Zone::Function);
        assert_eq!(Zone::from_dom_code("Fn"), Zone::Other);
        assert_eq!(Zone::from_dom_code(""), Zone::Other);
        assert!(Zone::R5.is_finger() && !Zone::Space.is_finger());
        assert!(!Zone::LeftHand.is_finger() && Zone::RightHand.is_hand());
    }

    #[test]
    fn hands_mode_collapses_only_finger_zones() {
        for z in Zone::ALL {
            let h = z.to_hand();
            if z.is_finger() {
                assert!(h.is_hand());
                assert_eq!(h == Zone::LeftHand, z.as_str().starts_with('L'));
            } else {
                assert_eq!(h, z);
            }
        }
    }
}
