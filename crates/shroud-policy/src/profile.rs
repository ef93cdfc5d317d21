//! Per-user access-pattern profiles (the adaptive baseline) and the
//! transient per-IP counters behind the credential-stuffing signal.
//!
//! A profile is a few hundred bytes: a 168-bucket hour-of-week histogram of
//! `u16` (halved when it grows, so old habits fade), small capped
//! count lists of countries, devices, apps, routes and data classes (hashed),
//! exponentially weighted means/variances of log records per request and per
//! hour, and decaying activity counters. The baseline only learns from
//! requests judged genuine (see `signals.learn_below`).

use serde::{Deserialize, Serialize};

use crate::types::{MaskLevel, Tier};

/// A counter that halves every `half_life` seconds (exact exponential decay,
/// so irregular request times need no buckets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Decaying {
    value: f32,
    at: i64,
}

impl Decaying {
    /// The value at `now` (never decays backwards in time: clock skew safe).
    pub(crate) fn get(&self, now: i64, half_life: f32) -> f32 {
        let dt = (now - self.at).max(0) as f32;
        self.value * (-dt / half_life).exp2()
    }

    pub(crate) fn add(&mut self, now: i64, half_life: f32, amount: f32) -> f32 {
        let v = self.get(now, half_life) + amount;
        self.value = v;
        self.at = self.at.max(now);
        v
    }
}

/// An exponentially weighted mean and variance whose step starts at 1/n,
/// so the first observations form a plain average before it turns adaptive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ewm {
    pub mean: f32,
    pub var: f32,
    pub n: u32,
}

impl Ewm {
    pub(crate) fn update(&mut self, x: f32, min_alpha: f32) {
        self.n = self.n.saturating_add(1);
        let alpha = (1.0 / self.n as f32).max(min_alpha);
        let d = x - self.mean;
        self.mean += alpha * d;
        self.var = (1.0 - alpha) * (self.var + alpha * d * d);
    }

    /// Standard score of `x`, with a floor on the deviation so a user with
    /// perfectly regular history is not flagged for tiny changes.
    pub(crate) fn z(&self, x: f32, min_sd: f32) -> f32 {
        (x - self.mean) / self.var.sqrt().max(min_sd)
    }
}

/// A capped list of (key, count); when full, the least-used entry is replaced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CountSet<K> {
    items: Vec<(K, u32)>,
}

impl<K: PartialEq + Clone> CountSet<K> {
    pub(crate) fn count(&self, k: &K) -> u32 {
        self.items
            .iter()
            .find(|(x, _)| x == k)
            .map_or(0, |(_, c)| *c)
    }

    pub(crate) fn add(&mut self, k: &K, cap: usize) {
        if let Some((_, c)) = self.items.iter_mut().find(|(x, _)| x == k) {
            *c = c.saturating_add(1);
            return;
        }
        if self.items.len() < cap {
            self.items.push((k.clone(), 1));
        } else if let Some(min) = self.items.iter_mut().min_by_key(|(_, c)| *c) {
            *min = (k.clone(), 1);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn top(&self) -> Option<&K> {
        self.items.iter().max_by_key(|(_, c)| *c).map(|(k, _)| k)
    }
}

/// Where and when the user was last seen (for impossible travel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LastSeen {
    pub lat: f64,
    pub lon: f64,
    pub at: i64,
}

/// The escalation a user is held at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Hold {
    pub level: MaskLevel,
    pub tier: Tier,
    pub since: i64,
}

/// One user's (or API key's) learned access pattern and live counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    /// Requests learned into the baseline.
    pub(crate) learned: u64,
    /// Requests seen, genuine or not.
    pub(crate) seen: u64,
    pub(crate) hist: Vec<u16>,
    pub(crate) hist_total: u32,
    pub(crate) countries: CountSet<String>,
    pub(crate) devices: CountSet<u64>,
    pub(crate) apps: CountSet<u64>,
    pub(crate) routes: CountSet<u64>,
    pub(crate) classes: CountSet<u64>,
    pub(crate) records: Ewm,
    pub(crate) hourly: Ewm,
    pub(crate) rate_base: Ewm,
    pub(crate) tz: Option<String>,
    pub(crate) last_geo: Option<LastSeen>,
    pub(crate) last_at: Option<i64>,
    pub(crate) rate: Decaying,
    pub(crate) volume: Decaying,
    pub(crate) failures: Decaying,
    /// Log-odds offset learned from feedback on this user's decisions.
    pub(crate) offset: f32,
    pub(crate) hold: Option<Hold>,
}

/// Half-lives of the live counters (seconds).
pub(crate) const RATE_HALF_LIFE: f32 = 60.0;
pub(crate) const VOLUME_HALF_LIFE: f32 = 1800.0;
pub(crate) const FAIL_HALF_LIFE: f32 = 900.0;

const HIST_HALVE_AT: u32 = 4096;
pub(crate) const CAP_COUNTRIES: usize = 16;
pub(crate) const CAP_DEVICES: usize = 8;
pub(crate) const CAP_APPS: usize = 16;
pub(crate) const CAP_ROUTES: usize = 64;
pub(crate) const CAP_CLASSES: usize = 32;

impl UserProfile {
    /// Requests learned into the baseline.
    pub fn learned(&self) -> u64 {
        self.learned
    }

    /// Most frequent country, if any.
    pub fn home_country(&self) -> Option<&str> {
        self.countries.top().map(String::as_str)
    }

    pub(crate) fn hist_add(&mut self, how: usize) {
        if self.hist.len() != 168 {
            self.hist = vec![0; 168];
            self.hist_total = 0;
        }
        if let Some(b) = self.hist.get_mut(how) {
            *b = b.saturating_add(1);
            self.hist_total += 1;
        }
        if self.hist_total >= HIST_HALVE_AT {
            // Halving keeps the shape but lets new habits overtake old ones.
            self.hist_total = 0;
            for b in &mut self.hist {
                *b /= 2;
                self.hist_total += u32::from(*b);
            }
        }
    }

    /// Evidence in [0, 1] that `how` (hour of week, Monday 00h = 0) is
    /// unusual for this user, or `None` without history.
    pub(crate) fn time_evidence(&self, how: usize) -> Option<f32> {
        if self.hist_total == 0 || self.hist.len() != 168 {
            return None;
        }
        let total = self.hist_total as f32;
        let hour = how % 24;
        let day = how / 24;
        let hod = |h: usize| -> f32 {
            (0..7)
                .map(|d| f32::from(self.hist[d * 24 + h % 24]))
                .sum::<f32>()
        };
        // Neighbouring hours count half: 21:55 and 22:05 are the same habit.
        let smoothed = hod(hour) + 0.5 * (hod(hour + 23) + hod(hour + 1));
        let hour_ratio = smoothed / (2.0 * total) * 24.0;
        let e_hour = (1.0 - hour_ratio / 0.5).clamp(0.0, 1.0);
        let day_count: f32 = (0..24).map(|h| f32::from(self.hist[day * 24 + h])).sum();
        let day_ratio = day_count / total * 7.0;
        let e_day = (1.0 - day_ratio / 0.3).clamp(0.0, 1.0);
        Some(e_hour.max(0.8 * e_day))
    }
}

/// Live counters of one source address.
#[derive(Debug, Clone, Default)]
pub(crate) struct IpStats {
    pub failures: Decaying,
    pub requests: Decaying,
    /// Recent distinct users: (user hash, last seen).
    pub users: Vec<(u64, i64)>,
    pub last: i64,
}

pub(crate) const IP_USERS_CAP: usize = 64;

impl IpStats {
    /// Records a request by `user` and returns the distinct users seen
    /// within `window` seconds.
    pub(crate) fn touch_user(&mut self, user: u64, now: i64, window: i64) -> usize {
        self.users.retain(|(_, t)| now - *t <= window);
        if let Some(e) = self.users.iter_mut().find(|(u, _)| *u == user) {
            e.1 = e.1.max(now);
        } else if self.users.len() < IP_USERS_CAP {
            self.users.push((user, now));
        } else if let Some(oldest) = self.users.iter_mut().min_by_key(|(_, t)| *t) {
            *oldest = (user, now);
        }
        self.last = self.last.max(now);
        self.users.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn decaying_counter_halves_and_ignores_time_going_backwards() {
        let mut d = Decaying::default();
        d.add(1000, 60.0, 8.0);
        assert!((d.get(1060, 60.0) - 4.0).abs() < 1e-4);
        // A request stamped earlier (clock skew) neither inflates nor breaks it.
        assert!((d.get(900, 60.0) - 8.0).abs() < 1e-4);
        d.add(900, 60.0, 1.0);
        assert!((d.get(1000, 60.0) - 9.0).abs() < 1e-4);
    }

    #[test]
    fn ewm_starts_as_a_mean_and_scores_outliers() {
        let mut e = Ewm::default();
        for x in [1.0, 2.0, 3.0] {
            e.update(x, 0.05);
        }
        assert!((e.mean - 2.0).abs() < 1e-5);
        assert!(e.z(10.0, 0.5) > 5.0);
        assert!(e.z(2.0, 0.5).abs() < 1e-5);
    }

    #[test]
    fn count_set_caps_and_replaces_least_used() {
        let mut s = CountSet::default();
        for _ in 0..3 {
            s.add(&1u64, 2);
        }
        s.add(&2u64, 2);
        s.add(&3u64, 2);
        assert_eq!(s.len(), 2);
        assert_eq!(s.count(&1), 3);
        assert_eq!(s.count(&2), 0);
        assert_eq!(s.count(&3), 1);
        assert_eq!(s.top(), Some(&1));
    }

    #[test]
    fn time_evidence_needs_history_and_flags_off_hours() {
        let mut p = UserProfile::default();
        assert_eq!(p.time_evidence(10), None);
        // Weekdays 9..17.
        for _ in 0..20 {
            for d in 0..5 {
                for h in 9..17 {
                    p.hist_add(d * 24 + h);
                }
            }
        }
        assert_eq!(p.time_evidence(24 + 11), Some(0.0));
        assert!(p.time_evidence(24 + 3).unwrap() > 0.99);
        // Saturday at 11: the hour is usual, the day is not.
        assert!(p.time_evidence(5 * 24 + 11).unwrap() >= 0.79);
    }

    #[test]
    fn histogram_halves_instead_of_saturating() {
        let mut p = UserProfile::default();
        for _ in 0..10_000 {
            p.hist_add(5);
        }
        assert!(p.hist_total < HIST_HALVE_AT);
        assert!(p.time_evidence(5).unwrap() < 0.01);
    }

    #[test]
    fn ip_stats_count_distinct_recent_users() {
        let mut s = IpStats::default();
        assert_eq!(s.touch_user(1, 0, 600), 1);
        assert_eq!(s.touch_user(1, 10, 600), 1);
        assert_eq!(s.touch_user(2, 20, 600), 2);
        assert_eq!(s.touch_user(3, 1000, 600), 1);
    }
}
