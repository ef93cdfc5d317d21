//! The vocabulary every Shroud crate shares: the masking ladder ([`Level`]) and
//! the routing tiers ([`Tier`]).
//!
//! The masking engine, the risk/policy engine and the gateway all speak about
//! the same six levels and three tiers. Keeping one definition here means a
//! decision crosses crate boundaries without conversions that could drift
//! apart (a renamed or reordered variant in one copy would silently weaken
//! masking in another).
//!
//! ```
//! use shroud_types::{Level, Tier};
//!
//! // The ladder is ordered, so "never lower than" is just `max`.
//! let decided = Level::Redact.max("tokenize".parse::<Level>().unwrap());
//! assert_eq!(decided, Level::Tokenize);
//! assert_eq!(Level::Block.lowered(2), Level::Tokenize);
//! assert_eq!("high_risk".parse::<Tier>().unwrap(), Tier::HighRisk);
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A rung of the masking ladder. Ordered: `None < Redact < Substitute < Tokenize < Encrypt < Block`,
/// so a policy can only ever raise (`max`) the level the risk engine asked for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Pass the data through unchanged.
    #[default]
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

    /// Position on the ladder (0 = none).
    pub fn rank(self) -> usize {
        self as usize
    }

    /// The level `steps` below this one, stopping at `none`.
    pub fn lowered(self, steps: usize) -> Level {
        Self::ALL[self.rank().saturating_sub(steps)]
    }

    /// The lowercase name used in policies, configs, headers, logs and metrics.
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

/// The upstream pool a request is routed to, lowest risk first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Trusted traffic: the fast pool.
    #[default]
    Normal,
    /// Doubtful traffic: stricter rate limits, optional step-up challenge.
    Suspicious,
    /// Likely hostile traffic: the sandbox / analysis pool, plus a security alert.
    HighRisk,
}

impl Tier {
    /// All tiers, lowest first.
    pub const ALL: [Tier; 3] = [Tier::Normal, Tier::Suspicious, Tier::HighRisk];

    /// The tier `steps` below this one, stopping at `normal`.
    pub fn lowered(self, steps: usize) -> Tier {
        Self::ALL[(self as usize).saturating_sub(steps)]
    }

    /// The snake_case name used in configs, JSON, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Normal => "normal",
            Tier::Suspicious => "suspicious",
            Tier::HighRisk => "high_risk",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown tier name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown routing tier `{0}` (expected one of: normal, suspicious, high_risk)")]
pub struct ParseTierError(pub String);

impl FromStr for Tier {
    type Err = ParseTierError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseTierError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn ladder_is_ordered_and_round_trips() {
        for w in Level::ALL.windows(2) {
            assert!(w[0] < w[1]);
        }
        for l in Level::ALL {
            assert_eq!(l.as_str().parse::<Level>().unwrap(), l);
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(json, format!("\"{}\"", l.as_str()));
            assert_eq!(serde_json::from_str::<Level>(&json).unwrap(), l);
        }
        assert_eq!(" Redact ".parse::<Level>().unwrap(), Level::Redact);
        let err = "secret".parse::<Level>().unwrap_err();
        assert!(err.to_string().contains("`secret`"));
        assert_eq!(Level::None.lowered(3), Level::None);
    }

    #[test]
    fn tiers_are_ordered_and_round_trip() {
        for w in Tier::ALL.windows(2) {
            assert!(w[0] < w[1]);
        }
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>().unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<Tier>(&json).unwrap(), t);
        }
        assert_eq!(Tier::HighRisk.lowered(5), Tier::Normal);
        assert!("sandbox".parse::<Tier>().is_err());
    }
}
