//! Content detectors: find sensitive spans inside a string value, with real validation
//! (Luhn + IIN, SSN rules, IBAN mod-97, IP parsing, JWT header decoding, key prefixes +
//! entropy) rather than bare patterns. A one-pass prefilter over the string decides which
//! detectors can possibly match, so ordinary text costs about one table lookup per byte.

pub mod card;
pub mod iban;
pub mod keys;
pub mod ssn;
mod text;

use serde::{Deserialize, Serialize};

pub use keys::{KeyHint, hint_for_key};
pub use text::{find_in_text, parse_date};

use crate::class::Kind;

/// A sensitive span inside a string value (byte offsets into the unescaped string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    /// Start offset (inclusive).
    pub start: usize,
    /// End offset (exclusive).
    pub end: usize,
    /// What was found.
    pub kind: Kind,
}

/// Which content detectors are on. All are on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Detectors {
    /// Payment card numbers.
    pub card: bool,
    /// US social security numbers.
    pub ssn: bool,
    /// Email addresses.
    pub email: bool,
    /// Phone numbers.
    pub phone: bool,
    /// IBANs.
    pub iban: bool,
    /// IPv4 and IPv6 addresses.
    pub ip: bool,
    /// Dates of birth under date-of-birth keys.
    pub dob: bool,
    /// JSON web tokens.
    pub jwt: bool,
    /// API keys with known prefixes, PEM private keys.
    pub api_key: bool,
    /// Long high-entropy strings that look like generated secrets.
    pub entropy: bool,
    /// Values under secret-like keys (password, token, api_key, ...).
    pub secret_keys: bool,
    /// Person names under name-like keys.
    pub name: bool,
    /// Postal addresses under address-like keys.
    pub address: bool,
    /// Health data under health-like keys (diagnosis, medication, mrn, ...).
    pub phi_keys: bool,
    /// Images embedded as base64 `data:image/...` URIs.
    pub image: bool,
}

impl Default for Detectors {
    fn default() -> Self {
        Detectors::all(true)
    }
}

impl Detectors {
    /// Every detector on (`true`) or off (`false`).
    pub fn all(on: bool) -> Self {
        Detectors {
            card: on,
            ssn: on,
            email: on,
            phone: on,
            iban: on,
            ip: on,
            dob: on,
            jwt: on,
            api_key: on,
            entropy: on,
            secret_keys: on,
            name: on,
            address: on,
            phi_keys: on,
            image: on,
        }
    }

    /// True when any detector that looks at string content is on.
    pub fn any_content(&self) -> bool {
        self.card
            || self.ssn
            || self.email
            || self.phone
            || self.iban
            || self.ip
            || self.jwt
            || self.api_key
            || self.entropy
            || self.image
    }

    /// True when any key-name based detector is on.
    pub fn any_key(&self) -> bool {
        self.dob
            || self.secret_keys
            || self.name
            || self.address
            || self.phi_keys
            || self.ssn
            || self.phone
    }
}
