//! The masking ladder: [`Level`], ordered from showing everything to showing nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A rung of the masking ladder. Ordered: `None < Redact < Substitute < Tokenize < Encrypt < Block`,
/// so a policy can only ever raise (`max`) the level the risk engine asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Pass the data through unchanged.
    None,
    /// Mask fully, partially (keep last digits, an email's domain) or remove the field.
    Redact,
    /// Replace with consistent, realistic synthetic values of the same kind and format.
    Substitute,
    /// Replace with reversible tokens kept in a token vault.
    Tokenize,
    /// Encrypt (FF1 format-preserving for identifiers, AES-GCM-SIV otherwise).
    Encrypt,
    /// Return no data at all: a structured error document and an alert.
    Block,
}

impl Level {
    /// All levels, weakest first.
    pub const ALL: [Level; 6] = [
        Level::None,
        Level::Redact,
        Level::Substitute,
        Level::Tokenize,
        Level::Encrypt,
        Level::Block,
    ];

    /// The lowercase name used in policies, on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Redact => "redact",
            Level::Substitute => "substitute",
            Level::Tokenize => "tokenize",
            Level::Encrypt => "encrypt",
            Level::Block => "block",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown level name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown masking level `{0}` (expected one of: none, redact, substitute, tokenize, encrypt, block)"
)]
pub struct ParseLevelError(pub String);

impl FromStr for Level {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseLevelError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_and_parsed() {
        assert!(Level::None < Level::Redact && Level::Encrypt < Level::Block);
        assert_eq!("Tokenize".parse::<Level>(), Ok(Level::Tokenize));
        let err = "hide".parse::<Level>().unwrap_err().to_string();
        assert!(err.contains("`hide`") && err.contains("redact"));
        assert_eq!(
            serde_json::to_string(&Level::Substitute).unwrap(),
            "\"substitute\""
        );
    }
}
