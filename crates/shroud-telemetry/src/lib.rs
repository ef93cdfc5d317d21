//! Behavioral telemetry: the versioned event schema sent by the browser
//! collector (see `docs/telemetry.md`), its validation, and the key-zone table.
//!
//! The collector never sends which key was pressed, only its [`Zone`]: the
//! finger region of the physical key (or a class such as space or backspace).
//!
//! ```
//! use shroud_telemetry::Zone;
//!
//! assert_eq!(Zone::from_dom_code("KeyE"), Zone::L3);
//! assert_eq!("SP".parse::<Zone>().unwrap(), Zone::Space);
//! assert_eq!(Zone::L3.as_str(), "L3");
//! ```

pub mod zone;

pub use zone::{UnknownZone, Zone};
