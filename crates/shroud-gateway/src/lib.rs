//! The risk-adaptive reverse proxy: identity, scoring, tiered routing, response masking, caching and the management API.
//!
//! (Skeleton: filled in by its issue.)
