//! Per-user behavioral profiles and anomaly detectors (keystroke and mouse dynamics), plus the population models.
//!
//! (Skeleton: filled in by its issue.)
