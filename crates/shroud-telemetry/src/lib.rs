//! Behavioral telemetry: the versioned event schema sent by the browser
//! collector (see `docs/telemetry.md`), its decoding and validation, replay
//! protection, and conversion into time-ordered streams for the detectors.
//!
//! The collector never sends which key was pressed, only its [`Zone`]: the
//! finger region of the physical key (or a class such as space or backspace).
//!
//! ```
//! use shroud_telemetry::{decode, ContentEncoding, Limits, SeqTracker, Streams, Zone};
//! use std::time::{Duration, Instant, UNIX_EPOCH};
//!
//! assert_eq!(Zone::from_dom_code("KeyE"), Zone::L3);
//! assert_eq!("SP".parse::<Zone>().unwrap(), Zone::Space);
//!
//! let body = br#"{"v":1,"session":"s1","seq":0,"clock":{"origin":1763779200000,"sent":90},
//!   "events":[{"t":10,"k":"kd","z":"L3"},{"t":80.5,"k":"ku","z":"L3"}]}"#;
//! let now = UNIX_EPOCH + Duration::from_millis(1_763_779_200_100);
//! let batch = decode(body, ContentEncoding::Identity, &Limits::default(), now).unwrap();
//!
//! let mut seen = SeqTracker::default();
//! seen.accept("user-1", &batch.session, batch.seq, Instant::now()).unwrap();
//! assert_eq!(seen.accept("user-1", &batch.session, batch.seq, Instant::now()).unwrap_err().status().code(), 409);
//!
//! let streams = Streams::from_batch(&batch);
//! assert_eq!(streams.keystrokes[0].hold_ms(), Some(70.5));
//! ```

pub mod batch;
pub mod decode;
pub mod error;
pub mod limits;
pub mod replay;
pub mod streams;
pub mod zone;

pub use batch::{
    Batch, ClipboardOp, Clock, DeltaMode, Event, EventKind, FocusState, SCHEMA_VERSION, Touch,
    Viewport, ZoneMode,
};
pub use decode::{ContentEncoding, decode, decompress, parse, validate};
pub use error::{Invalid, ReplayReason, Status, TelemetryError};
pub use limits::Limits;
pub use replay::{SeqTracker, SeqTrackerConfig};
pub use streams::Streams;
pub use zone::{UnknownZone, Zone};
