//! Self-made synthetic fixtures: typists and mouse users with their own
//! timing habits, generated deterministically (no shared data in tests).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use shroud_detect::keystroke::{ExtractCounts, KeyExtractor, KeyId, KeyWindow, Keystroke};
use shroud_detect::mouse::{Button, MouseAction, PointerKind, PointerSample, Segmenter};
use shroud_telemetry::Zone;

/// Deterministic generator (splitmix64 + Box-Muller).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn unif(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unif().max(1e-12);
        let u2 = self.unif();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

const ZONES: usize = 13;

/// A synthetic typist: log-mean hold per zone and log-mean latency per zone
/// digraph, with a common noise level.
#[derive(Clone)]
pub struct Typist {
    pub hold: Vec<f64>,
    pub dd: Vec<f64>,
    pub noise: f64,
}

impl Typist {
    pub fn new(seed: u64) -> Self {
        let mut r = Rng(seed);
        let speed = r.normal() * 0.25;
        let hold = (0..ZONES)
            .map(|_| (100f64).ln() + 0.2 * r.normal())
            .collect();
        let dd = (0..ZONES * ZONES)
            .map(|_| (200f64).ln() + speed + 0.25 * r.normal())
            .collect();
        Self {
            hold,
            dd,
            noise: 0.12,
        }
    }

    /// A typist `mix` of the way from `self` to `other` (log-linear).
    pub fn blend(&self, other: &Typist, mix: f64) -> Typist {
        let l = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x + mix * (y - x)).collect();
        Typist {
            hold: l(&self.hold, &other.hold),
            dd: l(&self.dd, &other.dd),
            noise: self.noise,
        }
    }

    /// One window of `n` keystrokes over the 13 finger/space zones.
    pub fn window(&self, r: &mut Rng, n: usize) -> Vec<Keystroke> {
        let mut t = 1000.0;
        let mut prev: Option<usize> = None;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let z = (r.next_u64() % ZONES as u64) as usize;
            if let Some(p) = prev {
                t += (self.dd[p * ZONES + z] + self.noise * r.normal()).exp();
            }
            let h = (self.hold[z] + self.noise * r.normal()).exp();
            out.push(Keystroke {
                press_ms: t,
                release_ms: Some(t + h),
                key: KeyId::Zone(Zone::ALL[z]),
            });
            prev = Some(z);
        }
        out
    }

    pub fn windows(&self, seed: u64, count: usize, n: usize) -> Vec<KeyWindow> {
        let mut r = Rng(seed);
        let mut ex = KeyExtractor::default();
        (0..count)
            .map(|_| ex.extract(&self.window(&mut r, n), &mut ExtractCounts::default()))
            .collect()
    }
}

/// A synthetic mouse user: preferred speed, curvature and click hold.
pub struct MouseUser {
    pub speed: f64,
    pub curve: f64,
    pub hold: f64,
}

impl MouseUser {
    pub fn new(seed: u64) -> Self {
        let mut r = Rng(seed);
        Self {
            speed: 0.5 + r.unif() * 1.5,
            curve: r.unif() * 0.6,
            hold: 60.0 + r.unif() * 120.0,
        }
    }

    /// Raw samples of `n` point-and-click actions.
    pub fn samples(&self, seed: u64, n: usize) -> Vec<PointerSample> {
        let mut r = Rng(seed);
        let mut out = Vec::new();
        let mut t = 0.0;
        let (mut x, mut y) = (500.0, 400.0);
        for _ in 0..n {
            let (tx, ty) = (100.0 + r.unif() * 1000.0, 100.0 + r.unif() * 700.0);
            let steps = 15 + (r.next_u64() % 15) as usize;
            let (sx, sy) = (x, y);
            for k in 1..=steps {
                let f = k as f64 / steps as f64;
                let bow = self.curve * (f * std::f64::consts::PI).sin() * 100.0;
                x = sx + (tx - sx) * f + bow + r.normal();
                y = sy + (ty - sy) * f - bow + r.normal();
                t += 16.0 / self.speed * (1.0 + 0.1 * r.normal().abs());
                out.push(PointerSample {
                    t_ms: t,
                    x,
                    y,
                    kind: PointerKind::Move,
                    button: Button::None,
                });
            }
            t += 50.0;
            out.push(PointerSample {
                t_ms: t,
                x,
                y,
                kind: PointerKind::Down,
                button: Button::Left,
            });
            t += self.hold * (1.0 + 0.1 * r.normal());
            out.push(PointerSample {
                t_ms: t,
                x,
                y,
                kind: PointerKind::Up,
                button: Button::Left,
            });
            t += 2000.0;
        }
        out
    }

    pub fn actions(&self, seed: u64, n: usize) -> Vec<MouseAction> {
        let mut seg = Segmenter::default();
        let mut acts = Vec::new();
        let mut emit = |a: MouseAction| acts.push(a);
        for s in self.samples(seed, n) {
            seg.push(s, &mut emit);
        }
        seg.finish(&mut emit);
        acts
    }
}
