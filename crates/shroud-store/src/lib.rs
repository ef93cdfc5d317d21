//! Storage for profiles, the token vault, decision cache and rate-limit state: embedded redb and Redis (single node and cluster).
//!
//! (Skeleton: filled in by its issue.)
