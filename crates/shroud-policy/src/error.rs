//! Error types of the crate.

/// A policy that cannot be loaded, with the field or rule at fault.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The TOML itself is malformed or has a field of the wrong type.
    #[error("policy TOML: {0}")]
    Toml(String),
    /// A field has a value outside its allowed range.
    #[error("policy field `{field}`: {reason}")]
    Invalid {
        /// Dotted path of the field, e.g. `levels.block`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CEL rule does not parse, does not evaluate to a bool, or refers to
    /// something that does not exist.
    #[error("rule `{rule}`: {reason}")]
    Rule {
        /// The rule's name.
        rule: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Feedback that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackError {
    /// The decision id is unknown or too old to be remembered.
    #[error("decision {0} is unknown or no longer retained")]
    UnknownDecision(u64),
    /// The decision already received a label.
    #[error("decision {0} was already labelled")]
    AlreadyLabelled(u64),
}

/// Engine state bytes that cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The bytes do not decode.
    #[error("state does not decode: {0}")]
    Decode(String),
    /// The bytes come from an incompatible format version.
    #[error("state format version {found} is not supported (expected {expected})")]
    Version {
        /// Version in the bytes.
        found: u32,
        /// Version this build writes.
        expected: u32,
    },
    /// Encoding failed.
    #[error("state does not encode: {0}")]
    Encode(String),
}
