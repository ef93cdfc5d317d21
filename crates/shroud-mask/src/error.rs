//! [`MaskError`]: every way masking can fail, each saying where (line, column) or which limit.

use crate::vault::VaultError;

/// Why a document could not be masked (or unmasked).
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// The input is not valid JSON.
    #[error("invalid JSON at line {line}, column {column}: {reason}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column (in bytes).
        column: usize,
        /// What was wrong.
        reason: String,
    },
    /// The input exceeds a configured limit.
    #[error(
        "{what} exceeds the limit of {limit} (at line {line}, column {column}); raise `limits.{setting}` in the policy to allow it"
    )]
    Limit {
        /// What is too large.
        what: &'static str,
        /// The limit in force.
        limit: usize,
        /// The policy setting that controls it.
        setting: &'static str,
        /// 1-based line where it was exceeded.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The level needs a token vault and the masker has none.
    #[error("level `tokenize` needs a token vault, and none was configured")]
    NoVault,
    /// The level needs keys (a key file or environment variable) and the masker has none.
    #[error(
        "level `encrypt` (and unmasking encrypted values) needs keys: give a key file or key environment variable"
    )]
    NoKeys,
    /// The token vault failed (masking fails closed: no output).
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Tokens kept colliding in the vault.
    #[error("could not store a unique token after {0} attempts")]
    TokenConflict(usize),
    /// An image could not be decoded or re-encoded (fails closed).
    #[error("image: {0}")]
    Image(String),
    /// An encrypted value could not be decrypted.
    #[error("cannot decrypt `{value}`: {reason}")]
    Decrypt {
        /// The start of the offending value.
        value: String,
        /// Why.
        reason: String,
    },
}

/// 1-based (line, column) of byte offset `pos` in `input`.
pub(crate) fn line_col(input: &[u8], pos: usize) -> (usize, usize) {
    let pos = pos.min(input.len());
    let before = &input[..pos];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |p| p + 1);
    (line, pos - line_start + 1)
}
