//! Per-user behavioral profiles and anomaly detectors (keystroke and mouse
//! dynamics), plus the population models.
pub mod keymodel;
pub mod keystroke;
pub mod stats;
pub mod profile;
pub mod calib;
pub mod keyverify;
pub mod mouse;
pub mod mousemodel;
