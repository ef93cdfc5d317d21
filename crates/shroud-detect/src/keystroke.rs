//! Keystroke input types and feature extraction.
//!
//! A window of keystrokes (press/release times and a key id) becomes a sparse,
//! sorted list of feature slots with sufficient statistics (count, mean, sum of
//! squared deviations). A slot is a timing kind on a key, key pair or key
//! triple — hold per key, down-down / up-down / up-up latency per digraph,
//! down-down latency per trigraph — or a window-level rhythm statistic (speed,
//! correction rate, rollover rate, pause rate). Times enter as logarithms
//! (hold, DD, trigraph) or as tenths of a second (UD, UU, which can be
//! negative when keys overlap).
//!
//! Key ids are either a privacy-preserving [`Zone`] (what the browser sends) or
//! a full key code (only to measure what the zones cost in accuracy).

use shroud_telemetry::Zone;

/// Which key was pressed: a zone (what the collector sends) or, for offline
/// evaluation only, a full key code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyId {
    /// A key zone from the telemetry schema.
    Zone(Zone),
    /// A full key code (e.g. a JS `keyCode`); values above 479 are folded.
    Code(u16),
}

impl KeyId {
    /// Dense 9-bit index used inside slot ids: zones `0..19`, codes `32..512`.
    pub fn index(self) -> u32 {
        match self {
            KeyId::Zone(z) => z.index() as u32,
            KeyId::Code(c) => 32 + u32::from(c.min(479)),
        }
    }

    fn is_backspace(self) -> bool {
        match self {
            KeyId::Zone(z) => z == Zone::Backspace,
            KeyId::Code(c) => c == 8 || c == 46,
        }
    }
}

/// One keystroke: press time, release time (missing when the collector lost
/// the key-up) and the key, times in milliseconds on any monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keystroke {
    /// Press time, ms.
    pub press_ms: f64,
    /// Release time, ms, if known.
    pub release_ms: Option<f64>,
    /// Key id.
    pub key: KeyId,
}

/// Maps a legacy JS `keyCode` (US layout, as in the Aalto 136M data set) to
/// the physical `KeyboardEvent.code` it comes from, so offline data goes
/// through exactly the zone table the browser collector uses.
pub fn dom_code_of_js_keycode(code: u16) -> Option<&'static str> {
    const LETTERS: [&str; 26] = [
        "KeyA", "KeyB", "KeyC", "KeyD", "KeyE", "KeyF", "KeyG", "KeyH", "KeyI", "KeyJ", "KeyK",
        "KeyL", "KeyM", "KeyN", "KeyO", "KeyP", "KeyQ", "KeyR", "KeyS", "KeyT", "KeyU", "KeyV",
        "KeyW", "KeyX", "KeyY", "KeyZ",
    ];
    const DIGITS: [&str; 10] = [
        "Digit0", "Digit1", "Digit2", "Digit3", "Digit4", "Digit5", "Digit6", "Digit7", "Digit8",
        "Digit9",
    ];
    Some(match code {
        65..=90 => LETTERS[usize::from(code - 65)],
        48..=57 => DIGITS[usize::from(code - 48)],
        96..=105 => "Numpad0",
        106..=111 => "NumpadMultiply",
        112..=135 => "F1",
        8 => "Backspace",
        46 => "Delete",
        9 => "Tab",
        13 => "Enter",
        16 => "ShiftLeft",
        17 => "ControlLeft",
        18 => "AltLeft",
        20 => "CapsLock",
        91 | 92 | 93 | 224 => "MetaLeft",
        27 => "Escape",
        32 => "Space",
        33 => "PageUp",
        34 => "PageDown",
        35 => "End",
        36 => "Home",
        37 => "ArrowLeft",
        38 => "ArrowUp",
        39 => "ArrowRight",
        40 => "ArrowDown",
        45 => "Insert",
        186 | 59 => "Semicolon",
        187 | 61 => "Equal",
        188 => "Comma",
        189 | 173 => "Minus",
        190 => "Period",
        191 => "Slash",
        192 => "Backquote",
        219 => "BracketLeft",
        220 => "Backslash",
        221 => "BracketRight",
        222 => "Quote",
        226 => "IntlBackslash",
        _ => return None,
    })
}

/// Zone of a legacy JS `keyCode`; unknown codes map to [`Zone::Other`].
pub fn zone_of_js_keycode(code: u16) -> Zone {
    dom_code_of_js_keycode(code).map_or(Zone::Other, Zone::from_dom_code)
}

/// Kind of a feature slot (top 4 bits of a slot id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SlotKind {
    /// Hold time of a key, log ms.
    Hold = 0,
    /// Down-down latency of a digraph, log ms.
    DownDown = 1,
    /// Up-down latency (flight) of a digraph, tenths of a second.
    UpDown = 2,
    /// Up-up latency of a digraph, tenths of a second.
    UpUp = 3,
    /// Down-down latency across a trigraph, log ms.
    Trigraph = 4,
    /// A window-level rhythm statistic (see [`Global`]).
    Global = 15,
}

/// Number of slot kinds that the detectors report separately.
pub const KIND_GROUPS: usize = 6;

impl SlotKind {
    /// Kind of a slot id.
    pub fn of(slot: u32) -> SlotKind {
        match slot >> 27 {
            0 => SlotKind::Hold,
            1 => SlotKind::DownDown,
            2 => SlotKind::UpDown,
            3 => SlotKind::UpUp,
            4 => SlotKind::Trigraph,
            _ => SlotKind::Global,
        }
    }

    /// Dense group index `0..KIND_GROUPS`.
    pub fn group(self) -> usize {
        match self {
            SlotKind::Hold => 0,
            SlotKind::DownDown => 1,
            SlotKind::UpDown => 2,
            SlotKind::UpUp => 3,
            SlotKind::Trigraph => 4,
            SlotKind::Global => 5,
        }
    }

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            SlotKind::Hold => "hold",
            SlotKind::DownDown => "dd",
            SlotKind::UpDown => "ud",
            SlotKind::UpUp => "uu",
            SlotKind::Trigraph => "tri",
            SlotKind::Global => "rhythm",
        }
    }
}

/// Window-level rhythm statistics (slot ids of kind [`SlotKind::Global`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Global {
    /// Median down-down latency, log ms (typing speed).
    MedianDd = 0,
    /// Median hold time, log ms.
    MedianHold = 1,
    /// Fraction of keystrokes that are corrections (backspace/delete).
    CorrectionRate = 2,
    /// Fraction of digraphs whose second key goes down before the first is up.
    RolloverRate = 3,
    /// Fraction of gaps that are pauses (longer than the pause threshold).
    PauseRate = 4,
    /// Inter-quartile range of log down-down latencies (rhythm regularity).
    DdSpread = 5,
}

const GLOBALS: [Global; 6] = [
    Global::MedianDd,
    Global::MedianHold,
    Global::CorrectionRate,
    Global::RolloverRate,
    Global::PauseRate,
    Global::DdSpread,
];

impl Global {
    fn name(self) -> &'static str {
        match self {
            Global::MedianDd => "speed",
            Global::MedianHold => "median hold",
            Global::CorrectionRate => "correction rate",
            Global::RolloverRate => "rollover rate",
            Global::PauseRate => "pause rate",
            Global::DdSpread => "rhythm spread",
        }
    }
}

const fn slot1(kind: u32, a: u32) -> u32 {
    (kind << 27) | (a << 18)
}
const fn slot2(kind: u32, a: u32, b: u32) -> u32 {
    (kind << 27) | (a << 18) | (b << 9)
}
const fn slot3(kind: u32, a: u32, b: u32, c: u32) -> u32 {
    (kind << 27) | (a << 18) | (b << 9) | c
}

/// Human-readable name of a slot, e.g. `dd L3>SP`.
pub fn slot_name(slot: u32) -> String {
    let kind = SlotKind::of(slot);
    let key = |i: u32| -> String {
        if i < 32 {
            Zone::ALL
                .get(i as usize)
                .map_or_else(|| format!("z{i}"), |z| z.as_str().to_owned())
        } else {
            format!("k{}", i - 32)
        }
    };
    let (a, b, c) = ((slot >> 18) & 511, (slot >> 9) & 511, slot & 511);
    match kind {
        SlotKind::Hold => format!("hold {}", key(a)),
        SlotKind::DownDown | SlotKind::UpDown | SlotKind::UpUp => {
            format!("{} {}>{}", kind.name(), key(a), key(b))
        }
        SlotKind::Trigraph => format!("tri {}>{}>{}", key(a), key(b), key(c)),
        SlotKind::Global => GLOBALS
            .iter()
            .find(|g| **g as u32 == slot & 0x07ff_ffff)
            .map_or_else(|| "rhythm".to_owned(), |g| g.name().to_owned()),
    }
}

/// Sufficient statistics of one slot within a window or a profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlotStat {
    /// Slot id.
    pub slot: u32,
    /// Number of values.
    pub n: f32,
    /// Mean value.
    pub mean: f32,
    /// Sum of squared deviations from the mean.
    pub m2: f32,
}

/// Extraction limits (outlier cleaning at the source). All times in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExtractConfig {
    /// A gap between presses longer than this is a pause: it breaks digraphs.
    pub pause_ms: f64,
    /// Hold times outside `(min_hold_ms, max_hold_ms]` are discarded.
    pub max_hold_ms: f64,
    /// See `max_hold_ms`.
    pub min_hold_ms: f64,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        Self {
            pause_ms: 1500.0,
            max_hold_ms: 1500.0,
            min_hold_ms: 5.0,
        }
    }
}

/// Counts of what extraction dropped (for quirk reports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractCounts {
    /// Keystrokes with no usable release time.
    pub missing_release: u64,
    /// Hold times outside the configured bounds.
    pub bad_hold: u64,
    /// Gaps counted as pauses.
    pub pauses: u64,
}

/// The features of one window of keystrokes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyWindow {
    /// Sorted by slot id, one entry per slot present.
    pub slots: Vec<SlotStat>,
    /// Number of keystrokes the window was built from.
    pub keystrokes: u32,
}

/// Reusable extractor: keeps its scratch buffers so extraction does not
/// allocate once warmed up.
#[derive(Debug, Default, Clone)]
pub struct KeyExtractor {
    cfg: ExtractConfig,
    pairs: Vec<(u32, f32)>,
    dd: Vec<f32>,
    holds: Vec<f32>,
    order: Vec<u32>,
}

fn quantile_sorted(v: &[f32], q: f32) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let pos = q * (v.len() - 1) as f32;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let f = pos - lo as f32;
    v[lo] * (1.0 - f) + v[hi.min(v.len() - 1)] * f
}

impl KeyExtractor {
    /// A new extractor with the given limits.
    pub fn new(cfg: ExtractConfig) -> Self {
        Self {
            cfg,
            ..Self::default()
        }
    }

    /// Extracts the features of one window. Keystrokes need not be sorted;
    /// non-finite times are skipped. `counts` accumulates what was dropped.
    pub fn extract(&mut self, keys: &[Keystroke], counts: &mut ExtractCounts) -> KeyWindow {
        let mut out = KeyWindow::default();
        self.extract_into(keys, counts, &mut out);
        out
    }

    /// Like [`KeyExtractor::extract`], reusing `out`'s allocation.
    pub fn extract_into(
        &mut self,
        keys: &[Keystroke],
        counts: &mut ExtractCounts,
        out: &mut KeyWindow,
    ) {
        let cfg = self.cfg;
        self.pairs.clear();
        self.dd.clear();
        self.holds.clear();
        self.order.clear();
        out.slots.clear();
        self.order
            .extend((0..keys.len() as u32).filter(|&i| keys[i as usize].press_ms.is_finite()));
        let sorted = self
            .order
            .windows(2)
            .all(|w| keys[w[0] as usize].press_ms <= keys[w[1] as usize].press_ms);
        if !sorted {
            self.order.sort_by(|&a, &b| {
                keys[a as usize]
                    .press_ms
                    .total_cmp(&keys[b as usize].press_ms)
            });
        }
        out.keystrokes = self.order.len() as u32;
        let hold_of = |k: &Keystroke| -> Option<f64> {
            let r = k.release_ms.filter(|r| r.is_finite())?;
            let h = r - k.press_ms;
            (h > cfg.min_hold_ms && h <= cfg.max_hold_ms).then_some(h)
        };
        let mut corrections = 0u32;
        let mut rollovers = 0u32;
        let mut digraphs = 0u32;
        let mut gaps = 0u32;
        let mut pauses = 0u32;
        for (j, &ix) in self.order.iter().enumerate() {
            let k = &keys[ix as usize];
            let a = k.key.index();
            if k.key.is_backspace() {
                corrections += 1;
            }
            let h = hold_of(k);
            match (k.release_ms, h) {
                (None, _) => counts.missing_release += 1,
                (Some(_), None) => counts.bad_hold += 1,
                (Some(_), Some(h)) => {
                    let lh = h.ln() as f32;
                    self.pairs.push((slot1(0, a), lh));
                    self.holds.push(lh);
                }
            }
            if j == 0 {
                continue;
            }
            let p = &keys[self.order[j - 1] as usize];
            let dd = k.press_ms - p.press_ms;
            gaps += 1;
            if dd > cfg.pause_ms {
                pauses += 1;
                counts.pauses += 1;
                continue;
            }
            let b = p.key.index();
            let ldd = dd.max(1.0).ln() as f32;
            self.pairs.push((slot2(1, b, a), ldd));
            self.dd.push(ldd);
            digraphs += 1;
            let ph = hold_of(p);
            if let Some(ph) = ph {
                let ud = dd - ph;
                if ud < 0.0 {
                    rollovers += 1;
                }
                self.pairs
                    .push((slot2(2, b, a), (ud / 100.0).clamp(-10.0, 15.0) as f32));
                if let Some(h) = h {
                    let uu = dd + h - ph;
                    self.pairs
                        .push((slot2(3, b, a), (uu / 100.0).clamp(-10.0, 15.0) as f32));
                }
            }
            if j >= 2 {
                let pp = &keys[self.order[j - 2] as usize];
                let d1 = p.press_ms - pp.press_ms;
                if d1 <= cfg.pause_ms {
                    let c = pp.key.index();
                    let t = (k.press_ms - pp.press_ms).max(1.0).ln() as f32;
                    self.pairs.push((slot3(4, c, b, a), t));
                }
            }
        }
        let n = out.keystrokes.max(1) as f32;
        if !self.dd.is_empty() {
            self.dd.sort_by(f32::total_cmp);
            self.pairs.push((
                slot1(15, 0) | Global::MedianDd as u32,
                quantile_sorted(&self.dd, 0.5),
            ));
            let iqr = quantile_sorted(&self.dd, 0.75) - quantile_sorted(&self.dd, 0.25);
            self.pairs
                .push((slot1(15, 0) | Global::DdSpread as u32, iqr));
        }
        if !self.holds.is_empty() {
            self.holds.sort_by(f32::total_cmp);
            self.pairs.push((
                slot1(15, 0) | Global::MedianHold as u32,
                quantile_sorted(&self.holds, 0.5),
            ));
        }
        if out.keystrokes >= 2 {
            self.pairs.push((
                slot1(15, 0) | Global::CorrectionRate as u32,
                corrections as f32 / n,
            ));
            self.pairs.push((
                slot1(15, 0) | Global::PauseRate as u32,
                pauses as f32 / gaps.max(1) as f32,
            ));
        }
        if digraphs > 0 {
            self.pairs.push((
                slot1(15, 0) | Global::RolloverRate as u32,
                rollovers as f32 / digraphs as f32,
            ));
        }
        self.pairs.sort_unstable_by_key(|p| p.0);
        let mut i = 0;
        while i < self.pairs.len() {
            let slot = self.pairs[i].0;
            let (mut cnt, mut mean, mut m2) = (0f32, 0f32, 0f32);
            while i < self.pairs.len() && self.pairs[i].0 == slot {
                let x = self.pairs[i].1;
                cnt += 1.0;
                let d = x - mean;
                mean += d / cnt;
                m2 += d * (x - mean);
                i += 1;
            }
            out.slots.push(SlotStat {
                slot,
                n: cnt,
                mean,
                m2,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(p: f64, r: f64, z: Zone) -> Keystroke {
        Keystroke {
            press_ms: p,
            release_ms: Some(r),
            key: KeyId::Zone(z),
        }
    }

    #[test]
    fn digraph_and_hold_slots_are_extracted() {
        let keys = [
            ks(0.0, 100.0, Zone::L3),
            ks(150.0, 230.0, Zone::Space),
            ks(300.0, 380.0, Zone::L3),
        ];
        let mut c = ExtractCounts::default();
        let w = KeyExtractor::default().extract(&keys, &mut c);
        assert_eq!(w.keystrokes, 3);
        let hold_l3 = w
            .slots
            .iter()
            .find(|s| s.slot == slot1(0, Zone::L3.index() as u32))
            .unwrap();
        assert_eq!(hold_l3.n, 2.0);
        assert!((hold_l3.mean - 100f32.ln().mul_add(0.5, 80f32.ln() * 0.5)).abs() < 1e-4);
        let dd = slot2(1, Zone::L3.index() as u32, Zone::Space.index() as u32);
        let s = w.slots.iter().find(|s| s.slot == dd).unwrap();
        assert!((s.mean - 150f32.ln()).abs() < 1e-5);
        let ud = slot2(2, Zone::L3.index() as u32, Zone::Space.index() as u32);
        let s = w.slots.iter().find(|s| s.slot == ud).unwrap();
        assert!((s.mean - 0.5).abs() < 1e-5);
        assert!(w.slots.windows(2).all(|p| p[0].slot < p[1].slot));
        assert_eq!(slot_name(dd), "dd L3>SP");
    }

    #[test]
    fn unsorted_input_missing_release_and_pauses_are_handled() {
        let keys = [
            ks(5000.0, 5100.0, Zone::L1),
            Keystroke {
                press_ms: 0.0,
                release_ms: None,
                key: KeyId::Code(65),
            },
            ks(200.0, 100.0, Zone::R1),
            Keystroke {
                press_ms: f64::NAN,
                release_ms: None,
                key: KeyId::Code(1),
            },
        ];
        let mut c = ExtractCounts::default();
        let w = KeyExtractor::default().extract(&keys, &mut c);
        assert_eq!(w.keystrokes, 3);
        assert_eq!(c.missing_release, 1);
        assert_eq!(c.bad_hold, 1);
        assert_eq!(c.pauses, 1);
        assert!(w.slots.iter().all(|s| s.mean.is_finite()));
    }

    #[test]
    fn js_keycodes_map_to_the_collector_zones() {
        assert_eq!(zone_of_js_keycode(69), Zone::L3); // e
        assert_eq!(zone_of_js_keycode(80), Zone::R5); // p
        assert_eq!(zone_of_js_keycode(32), Zone::Space);
        assert_eq!(zone_of_js_keycode(8), Zone::Backspace);
        assert_eq!(zone_of_js_keycode(16), Zone::Modifier);
        assert_eq!(zone_of_js_keycode(188), Zone::R3); // ,
        assert_eq!(zone_of_js_keycode(0), Zone::Other);
        assert_eq!(zone_of_js_keycode(229), Zone::Other);
    }

    #[test]
    fn empty_window_is_empty() {
        let w = KeyExtractor::default().extract(&[], &mut ExtractCounts::default());
        assert!(w.slots.is_empty());
        assert_eq!(w.keystrokes, 0);
    }
}
