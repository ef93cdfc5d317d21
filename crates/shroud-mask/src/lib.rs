//! Masking engine: classifies sensitive fields and values in JSON/NDJSON and masks them at a level of the masking ladder.
//!
//! (Skeleton: filled in by its issue.)
