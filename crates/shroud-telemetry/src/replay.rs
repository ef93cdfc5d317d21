//! Replay protection for the gateway: which `(session, seq)` pairs were
//! already accepted, in bounded memory.
//!
//! Each session keeps a sliding window (like IPsec's anti-replay window) of
//! the last [`WINDOW`] sequence numbers below the highest accepted one, so
//! batches that arrive out of order (a retry overtaken by a newer batch) are
//! still accepted once, and a session costs a few dozen bytes whatever its
//! length. Sessions are keyed by a keyed hash of the authenticated principal
//! and the session id (so one user cannot burn another user's sequence
//! numbers) and are forgotten least-recently-used first when `max_sessions`
//! is reached, or after `ttl` without traffic.
//!
//! What a forgotten session means: a replay of one of its batches would be
//! accepted again. Keep `ttl` above the clock-skew limit (default 25 h vs
//! 24 h) so that old batches are refused by the clock rule once the tracker
//! forgets them, and watch [`SeqTracker::evicted_for_capacity`]: a non-zero
//! value means `max_sessions` is too small for the traffic.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::error::{ReplayReason, TelemetryError};

/// How many sequence numbers below the highest accepted one are remembered
/// per session; older ones are refused as [`ReplayReason::TooOld`]. The
/// collector keeps far fewer batches in flight (`maxQueuedBatches`, default 32).
pub const WINDOW: u64 = 256;

/// Sizing of a [`SeqTracker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqTrackerConfig {
    /// Most sessions remembered at once (about 100 bytes each). Default 100 000.
    pub max_sessions: usize,
    /// A session without accepted batches for this long is forgotten. Default 25 h.
    pub ttl: Duration,
}

impl Default for SeqTrackerConfig {
    fn default() -> Self {
        SeqTrackerConfig {
            max_sessions: 100_000,
            ttl: Duration::from_secs(25 * 3600),
        }
    }
}

#[derive(Debug, Clone)]
struct Window {
    high: u64,
    /// Bit `o` set = `high - o` was accepted.
    bits: [u64; 4],
    last_seen: Instant,
}

impl Window {
    fn new(seq: u64, now: Instant) -> Self {
        Window {
            high: seq,
            bits: [1, 0, 0, 0],
            last_seen: now,
        }
    }

    fn test(&self, seq: u64) -> Result<(), ReplayReason> {
        if seq > self.high {
            return Ok(());
        }
        let off = self.high - seq;
        if off >= WINDOW {
            return Err(ReplayReason::TooOld);
        }
        let word = self.bits[(off / 64) as usize];
        if (word >> (off % 64)) & 1 == 1 {
            Err(ReplayReason::Duplicate)
        } else {
            Ok(())
        }
    }

    fn set(&mut self, seq: u64) {
        if seq > self.high {
            self.shift(seq - self.high);
            self.high = seq;
        }
        let off = self.high - seq;
        if off < WINDOW {
            self.bits[(off / 64) as usize] |= 1 << (off % 64);
        }
    }

    fn clear(&mut self, seq: u64) {
        if seq <= self.high && self.high - seq < WINDOW {
            let off = self.high - seq;
            self.bits[(off / 64) as usize] &= !(1 << (off % 64));
        }
    }

    /// Moves every remembered offset `n` further from `high`.
    fn shift(&mut self, n: u64) {
        if n >= WINDOW {
            self.bits = [0; 4];
            return;
        }
        let (words, bits) = ((n / 64) as usize, (n % 64) as u32);
        let old = self.bits;
        for i in (0..4usize).rev() {
            let lo = i.checked_sub(words).map_or(0, |s| old[s]);
            let carry = if bits == 0 {
                0
            } else {
                i.checked_sub(words + 1)
                    .map_or(0, |s| old[s] >> (64 - bits))
            };
            self.bits[i] = (lo << bits) | carry;
        }
    }
}

/// Remembers accepted `(principal, session, seq)` triples in bounded memory.
///
/// Not internally synchronized: a gateway shares it behind a mutex (every
/// operation is O(1) and allocation-free once warm).
///
/// Use [`accept`](Self::accept) when a batch is about to be queued; if the
/// queueing then fails (for instance the pipeline answers 429), call
/// [`release`](Self::release) so the collector's retry is not refused as a
/// replay.
#[derive(Debug)]
pub struct SeqTracker {
    ttl: Duration,
    map: LruCache<u64, Window>,
    hasher: RandomState,
    evicted_for_capacity: u64,
    expired: u64,
}

impl Default for SeqTracker {
    fn default() -> Self {
        SeqTracker::new(SeqTrackerConfig::default())
    }
}

impl SeqTracker {
    /// An empty tracker (`max_sessions` 0 is taken as 1).
    pub fn new(config: SeqTrackerConfig) -> Self {
        let cap = NonZeroUsize::new(config.max_sessions).unwrap_or(NonZeroUsize::MIN);
        SeqTracker {
            ttl: config.ttl,
            map: LruCache::new(cap),
            hasher: RandomState::new(),
            evicted_for_capacity: 0,
            expired: 0,
        }
    }

    fn key(&self, principal: &str, session: &str) -> u64 {
        // A keyed 64-bit hash instead of the strings: bounded size per session,
        // and with random keys a client cannot craft collisions.
        let mut h = self.hasher.build_hasher();
        principal.hash(&mut h);
        session.hash(&mut h);
        h.finish()
    }

    fn live(&self, w: &Window, now: Instant) -> bool {
        now.saturating_duration_since(w.last_seen) <= self.ttl
    }

    /// Would `seq` be accepted now? Changes nothing.
    pub fn check(
        &self,
        principal: &str,
        session: &str,
        seq: u64,
        now: Instant,
    ) -> Result<(), TelemetryError> {
        match self.map.peek(&self.key(principal, session)) {
            Some(w) if self.live(w, now) => w
                .test(seq)
                .map_err(|reason| TelemetryError::Replay { seq, reason }),
            _ => Ok(()),
        }
    }

    /// Accepts `seq` for this session if it was not accepted before (and is
    /// within the window), remembering it; otherwise a
    /// [`TelemetryError::Replay`] (HTTP 409).
    pub fn accept(
        &mut self,
        principal: &str,
        session: &str,
        seq: u64,
        now: Instant,
    ) -> Result<(), TelemetryError> {
        let key = self.key(principal, session);
        self.purge_expired(now, 4);
        let ttl = self.ttl;
        if let Some(w) = self.map.get_mut(&key) {
            if now.saturating_duration_since(w.last_seen) > ttl {
                *w = Window::new(seq, now);
                return Ok(());
            }
            w.last_seen = w.last_seen.max(now);
            w.test(seq)
                .map_err(|reason| TelemetryError::Replay { seq, reason })?;
            w.set(seq);
            return Ok(());
        }
        if self.map.len() == self.map.cap().get() {
            self.evicted_for_capacity += 1;
        }
        self.map.push(key, Window::new(seq, now));
        Ok(())
    }

    /// Forgets that `seq` was accepted (the batch could not be queued after
    /// all), so its retry is accepted.
    pub fn release(&mut self, principal: &str, session: &str, seq: u64) {
        let key = self.key(principal, session);
        if let Some(w) = self.map.peek_mut(&key) {
            w.clear(seq);
        }
    }

    /// Forgets up to `max` sessions idle for longer than the TTL (oldest
    /// first); [`accept`](Self::accept) does a few on every call. Returns how
    /// many were forgotten.
    pub fn purge_expired(&mut self, now: Instant, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            match self.map.peek_lru() {
                Some((_, w)) if !self.live(w, now) => {
                    self.map.pop_lru();
                    self.expired += 1;
                    n += 1;
                }
                _ => break,
            }
        }
        n
    }

    /// Sessions currently remembered.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no session is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sessions forgotten early because `max_sessions` was reached (their
    /// replays are no longer detected): a metric to alert on.
    pub fn evicted_for_capacity(&self) -> u64 {
        self.evicted_for_capacity
    }

    /// Sessions forgotten after their TTL.
    pub fn expired(&self) -> u64 {
        self.expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn duplicate_is_a_replay_and_maps_to_409() {
        let mut s = SeqTracker::default();
        let now = t0();
        s.accept("u", "s", 0, now).unwrap();
        s.accept("u", "s", 1, now).unwrap();
        let e = s.accept("u", "s", 0, now).unwrap_err();
        assert_eq!(
            e,
            TelemetryError::Replay {
                seq: 0,
                reason: ReplayReason::Duplicate
            }
        );
        assert_eq!(e.status().code(), 409);
        assert!(s.check("u", "s", 1, now).is_err());
        assert!(s.check("u", "s", 2, now).is_ok());
    }

    #[test]
    fn out_of_order_within_window_is_accepted_once() {
        let mut s = SeqTracker::default();
        let now = t0();
        for seq in [5u64, 3, 9, 4, 0, 200, 6] {
            s.accept("u", "s", seq, now).unwrap();
        }
        for seq in [5u64, 3, 9, 4, 0, 200, 6] {
            assert!(s.accept("u", "s", seq, now).is_err(), "seq {seq} replayed");
        }
        s.accept("u", "s", 7, now).unwrap();
    }

    #[test]
    fn older_than_window_is_refused_as_too_old() {
        let mut s = SeqTracker::default();
        let now = t0();
        s.accept("u", "s", 1000, now).unwrap();
        let e = s.accept("u", "s", 1000 - WINDOW, now).unwrap_err();
        assert_eq!(
            e,
            TelemetryError::Replay {
                seq: 1000 - WINDOW,
                reason: ReplayReason::TooOld
            }
        );
        s.accept("u", "s", 1000 - WINDOW + 1, now).unwrap();
    }

    #[test]
    fn window_shift_keeps_bits_across_words() {
        let mut s = SeqTracker::default();
        let now = t0();
        for seq in 0..300u64 {
            s.accept("u", "s", seq * 3, now).unwrap();
        }
        let high = 299 * 3;
        for seq in (high + 1 - WINDOW)..=high {
            let r = s.check("u", "s", seq, now);
            assert_eq!(r.is_err(), seq % 3 == 0, "seq {seq}");
        }
    }

    #[test]
    fn sessions_and_principals_are_separate() {
        let mut s = SeqTracker::default();
        let now = t0();
        s.accept("u", "a", 0, now).unwrap();
        s.accept("u", "b", 0, now).unwrap();
        s.accept("v", "a", 0, now).unwrap();
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn release_lets_a_retry_through() {
        let mut s = SeqTracker::default();
        let now = t0();
        s.accept("u", "s", 4, now).unwrap();
        s.release("u", "s", 4);
        s.accept("u", "s", 4, now).unwrap();
        assert!(s.accept("u", "s", 4, now).is_err());
    }

    #[test]
    fn memory_is_bounded_by_evicting_least_recent_sessions() {
        let mut s = SeqTracker::new(SeqTrackerConfig {
            max_sessions: 10,
            ttl: Duration::from_secs(3600),
        });
        let now = t0();
        for i in 0..25 {
            s.accept("u", &format!("s{i}"), 0, now).unwrap();
        }
        assert_eq!(s.len(), 10);
        assert_eq!(s.evicted_for_capacity(), 15);
        // The newest sessions are still protected.
        assert!(s.accept("u", "s24", 0, now).is_err());
    }

    #[test]
    fn idle_sessions_expire() {
        let mut s = SeqTracker::new(SeqTrackerConfig {
            max_sessions: 10,
            ttl: Duration::from_secs(60),
        });
        let now = t0();
        s.accept("u", "old", 0, now).unwrap();
        let later = now + Duration::from_secs(61);
        assert!(s.check("u", "old", 0, later).is_ok());
        s.accept("u", "new", 0, later).unwrap();
        assert_eq!(s.expired(), 1);
        assert_eq!(s.len(), 1);
    }
}
