//! Masking engine: classifies sensitive fields and values in JSON/NDJSON (and images) and masks
//! them at a level of the masking ladder `none < redact < substitute < tokenize < encrypt < block`.
//!
//! Build one [`Masker`] from a [`Policy`] (TOML, or the built-in default with every detector on),
//! optional [`KeyRing`] and optional [`TokenVault`], share it in an `Arc`, and call
//! [`Masker::mask_json`] per response. Classification uses policy selectors (JSONPath-like paths,
//! key-name globs), key-name hints and content detectors with real validation; only the matched
//! span of free text is replaced. A streaming rewriter copies every other byte through untouched.
//!
//! ```
//! use shroud_mask::{Level, MaskContext, Masker, Policy};
//!
//! let masker = Masker::new(Policy::default(), None, None);
//! let doc = br#"{"name":"Jane Doe","card":"4111 1111 1111 1111","note":"mail jane@corp.example"}"#;
//! let out = masker.mask_json(doc, Level::Redact, &MaskContext::default()).unwrap();
//! assert_eq!(
//!     String::from_utf8(out.body).unwrap(),
//!     r#"{"name":"[NAME]","card":"**** **** **** 1111","note":"mail ***@corp.example"}"#
//! );
//! assert_eq!(out.summary.total, 3);
//! ```

pub mod class;
mod crypto;
pub mod detect;
mod error;
mod image;
mod keys;
pub mod level;
mod masker;
pub mod policy;
mod scan;
mod substitute;
pub mod vault;

pub use class::{DataClass, Kind};
pub use error::MaskError;
pub use keys::{KeyError, KeyRing};
pub use level::{Level, ParseLevelError};
pub use masker::{AlertEvent, MaskContext, MaskOutput, Masker, Summary, UnmaskOutput};
pub use policy::{Limits, Policy, PolicyError};
pub use vault::{MemoryVault, RedbVault, TokenEntry, TokenVault, VaultError};
