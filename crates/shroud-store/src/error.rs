//! The typed errors every store operation returns.
//!
//! The gateway fails closed on any of them; the variants exist so that it can say *why*
//! (metrics label via [`StoreError::kind`], a clear log line via `Display`) and decide
//! whether a retry can help ([`StoreError::is_transient`]).

use std::time::Duration;

/// Result alias used throughout the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in a store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend did not answer within the configured operation timeout.
    #[error("store operation `{op}` on {backend} timed out after {after:?}")]
    Timeout {
        /// The operation, e.g. `get_profile`.
        op: &'static str,
        /// Backend name (`redb`, `redis`, `redis-cluster`).
        backend: &'static str,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The backend could not be reached or refused the operation (connection refused,
    /// cluster down, file I/O error, ...).
    #[error("store backend {backend} unavailable during `{op}`: {reason}")]
    Unavailable {
        /// The operation.
        op: &'static str,
        /// Backend name.
        backend: &'static str,
        /// What the backend said.
        reason: String,
    },
    /// Stored bytes do not have the expected shape (truncated blob, wrong type under a key,
    /// unknown format byte). Never returned for a wrong key or tampered ciphertext: that is
    /// [`StoreError::Decrypt`].
    #[error("corrupt record in store ({what}): {detail}")]
    Corrupt {
        /// What was being read, e.g. `profile`.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A sealed blob failed authentication: tampered bytes, a blob moved to another key or
    /// user, or a key that does not match the key id.
    #[error(
        "sealed {what} failed authentication with key id {key_id} (tampered, moved, or wrong key)"
    )]
    Decrypt {
        /// What was being read.
        what: &'static str,
        /// Key id named by the blob.
        key_id: u32,
    },
    /// A sealed blob names a key id the key ring does not hold (a retired key was removed
    /// from the key file too early).
    #[error("sealed {what} uses key id {key_id}, which is not in the key ring")]
    UnknownKeyId {
        /// What was being read.
        what: &'static str,
        /// The key id.
        key_id: u32,
    },
    /// A conditional profile write found another revision than expected.
    #[error("profile revision conflict: expected {expected}, found {found}")]
    Conflict {
        /// The revision the caller expected (0 = no profile yet).
        expected: u64,
        /// The revision actually stored (0 = none).
        found: u64,
    },
    /// The candidate token is already mapped to another value in this scope; the caller
    /// should retry with another candidate.
    #[error("token collision in vault scope: the candidate token already maps to another value")]
    TokenCollision,
    /// The caller passed an argument the store refuses.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending argument.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The key ring or store configuration is unusable.
    #[error("store configuration: {0}")]
    Config(String),
}

impl StoreError {
    /// A short stable label for metrics (`timeout`, `unavailable`, `corrupt`, `decrypt`,
    /// `unknown_key`, `conflict`, `token_collision`, `invalid_input`, `config`).
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Timeout { .. } => "timeout",
            StoreError::Unavailable { .. } => "unavailable",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::Decrypt { .. } => "decrypt",
            StoreError::UnknownKeyId { .. } => "unknown_key",
            StoreError::Conflict { .. } => "conflict",
            StoreError::TokenCollision => "token_collision",
            StoreError::InvalidInput { .. } => "invalid_input",
            StoreError::Config(_) => "config",
        }
    }

    /// Whether retrying the same call later may succeed (timeouts and outages, or a
    /// revision conflict after re-reading). Integrity errors are never transient.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Timeout { .. }
                | StoreError::Unavailable { .. }
                | StoreError::Conflict { .. }
        )
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        StoreError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> Self {
        StoreError::Corrupt {
            what,
            detail: detail.into(),
        }
    }
}
