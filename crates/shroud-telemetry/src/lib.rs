//! Behavioral telemetry: the versioned event schema sent by the browser collector, its validation, and feature extraction.
//!
//! (Skeleton: filled in by its issue.)
