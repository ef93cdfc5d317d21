//! The errors of decoding, validating and replay-checking a batch, and how each
//! maps to the HTTP answer of `POST /v1/telemetry` (`docs/telemetry.md`).

use std::fmt;

/// A schema violation: which event (if any), which field path, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Index of the offending event in `events`, when the error is inside one.
    pub event: Option<usize>,
    /// JSON path of the offending field (`"events[12].t"`, `"clock.origin"`),
    /// or `None` when the body is not a JSON object at all.
    pub field: Option<String>,
    /// Why it was rejected, in words.
    pub reason: String,
}

impl Invalid {
    pub(crate) fn at(
        event: Option<usize>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Invalid {
            event,
            field: Some(field.into()),
            reason: reason.into(),
        }
    }

    pub(crate) fn event(i: usize, field: &str, reason: impl Into<String>) -> Self {
        Invalid::at(Some(i), format!("events[{i}].{field}"), reason)
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// Why a `(session, seq)` pair was refused by the [`SeqTracker`](crate::SeqTracker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayReason {
    /// This exact sequence number was accepted before.
    Duplicate,
    /// The sequence number is older than the tracker's window below the
    /// highest accepted one, so it cannot be told apart from a replay.
    TooOld,
}

/// The HTTP answer class of an error, for the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 400: the batch breaks the schema; nothing from it is kept.
    BadRequest,
    /// 409: replay of an already accepted `(session, seq)`; collectors treat it as delivered.
    Conflict,
    /// 413: body too large, compressed or decompressed.
    PayloadTooLarge,
    /// 415: a `Content-Encoding` other than identity, gzip, br.
    UnsupportedMediaType,
}

impl Status {
    /// The numeric HTTP status code.
    pub const fn code(self) -> u16 {
        match self {
            Status::BadRequest => 400,
            Status::Conflict => 409,
            Status::PayloadTooLarge => 413,
            Status::UnsupportedMediaType => 415,
        }
    }
}

/// Everything that can make the gateway refuse a telemetry batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TelemetryError {
    /// The body as received exceeds [`Limits::max_body_bytes`](crate::Limits::max_body_bytes).
    #[error("body too large: {size} bytes, limit is {limit}")]
    BodyTooLarge {
        /// Received size in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Decompression produced more than [`Limits::max_decompressed_bytes`](crate::Limits::max_decompressed_bytes).
    #[error("decompressed body too large: more than {limit} bytes")]
    DecompressedTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A `Content-Encoding` this endpoint does not accept.
    #[error("unsupported content encoding {0:?} (expected identity, gzip or br)")]
    UnsupportedEncoding(String),
    /// The compressed body could not be decompressed.
    #[error("{encoding} body is corrupt: {reason}")]
    CorruptEncoding {
        /// `"gzip"` or `"br"`.
        encoding: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// The JSON breaks the schema.
    #[error("{0}")]
    Invalid(Invalid),
    /// The `(session, seq)` pair was accepted before (or is too old to tell).
    #[error("replay: seq {seq} of this session {}", match reason { ReplayReason::Duplicate => "was already accepted", ReplayReason::TooOld => "is older than the replay window" })]
    Replay {
        /// The refused sequence number.
        seq: u64,
        /// Duplicate or too old.
        reason: ReplayReason,
    },
}

impl From<Invalid> for TelemetryError {
    fn from(e: Invalid) -> Self {
        TelemetryError::Invalid(e)
    }
}

impl TelemetryError {
    /// The HTTP status the gateway answers with.
    pub fn status(&self) -> Status {
        match self {
            TelemetryError::BodyTooLarge { .. } | TelemetryError::DecompressedTooLarge { .. } => {
                Status::PayloadTooLarge
            }
            TelemetryError::UnsupportedEncoding(_) => Status::UnsupportedMediaType,
            TelemetryError::CorruptEncoding { .. } | TelemetryError::Invalid(_) => {
                Status::BadRequest
            }
            TelemetryError::Replay { .. } => Status::Conflict,
        }
    }

    /// Index of the offending event, for schema errors inside an event.
    pub fn event(&self) -> Option<usize> {
        match self {
            TelemetryError::Invalid(i) => i.event,
            _ => None,
        }
    }

    /// JSON path of the offending field, for schema errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            TelemetryError::Invalid(i) => i.field.as_deref(),
            TelemetryError::Replay { .. } => Some("seq"),
            _ => None,
        }
    }

    /// The JSON body of the error answer, as documented:
    /// `{"error": "...", "event": <index or null>, "field": "<path>" or null}`.
    pub fn response_body(&self) -> serde_json::Value {
        let error = match self {
            TelemetryError::Invalid(i) => i.reason.clone(),
            other => other.to_string(),
        };
        serde_json::json!({ "error": error, "event": self.event(), "field": self.field() })
    }
}
