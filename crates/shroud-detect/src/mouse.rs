//! Pointer input types, streaming segmentation of pointer samples into
//! actions (mouse move, point-and-click, drag-and-drop; after Antal &
//! Egyed-Zsigmond, IET Biometrics 2019), and per-action features.
//!
//! The segmenter is streaming: it holds only the current action's points, so
//! hours-long sessions are processed in constant memory.

/// What a pointer sample is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerKind {
    /// Movement without a button held.
    Move,
    /// Button pressed.
    Down,
    /// Button released.
    Up,
    /// Movement with a button held.
    Drag,
    /// Wheel / scroll step: `+1` down (content moves up), `-1` up, 0 unknown.
    Wheel(i8),
}

/// Which button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// No button.
    None,
    /// Primary.
    Left,
    /// Secondary.
    Right,
    /// Middle / other.
    Other,
}

/// One pointer sample: time (ms), position (px), kind and button.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointerSample {
    /// Time, ms.
    pub t_ms: f64,
    /// X, px.
    pub x: f64,
    /// Y, px.
    pub y: f64,
    /// Kind.
    pub kind: PointerKind,
    /// Button.
    pub button: Button,
}

/// Type of a segmented action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionType {
    /// Movement ended by a pause.
    Move = 0,
    /// Movement ended by a click.
    PointClick = 1,
    /// Press, drag, release.
    DragDrop = 2,
    /// A burst of wheel steps.
    Scroll = 3,
}

/// Number of action types.
pub const ACTION_TYPES: usize = 4;
/// Number of features per action.
pub const ACTION_FEATURES: usize = 22;

/// Names of the per-action features, in vector order.
pub const FEATURE_NAMES: [&str; ACTION_FEATURES] = [
    "duration",
    "distance",
    "straightness",
    "mean speed",
    "speed sd",
    "max speed",
    "mean acceleration",
    "acceleration sd",
    "mean jerk",
    "angular velocity",
    "curvature",
    "total turning",
    "max deviation",
    "points",
    "critical points",
    "direction sin",
    "direction cos",
    "time to peak speed",
    "click hold",
    "pause fraction",
    "end x",
    "end y",
];

/// One segmented action and its features (`NaN` = not applicable, e.g. click
/// hold for a plain move).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MouseAction {
    /// Type.
    pub kind: ActionType,
    /// Feature vector (see [`FEATURE_NAMES`]).
    pub f: [f32; ACTION_FEATURES],
}

/// Segmentation limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentConfig {
    /// A gap longer than this (ms) ends a move action.
    pub pause_ms: f64,
    /// Actions with fewer points are discarded.
    pub min_points: usize,
    /// Movement this long (ms) before a press still counts as its approach.
    pub approach_ms: f64,
    /// Wheel steps further apart than this (ms) start a new scroll action.
    pub scroll_gap_ms: f64,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        Self {
            pause_ms: 1000.0,
            min_points: 4,
            approach_ms: 1000.0,
            scroll_gap_ms: 500.0,
        }
    }
}

/// Counters of what the segmenter saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentCounts {
    /// Samples pushed.
    pub samples: u64,
    /// Samples with non-finite values or time going backwards (skipped).
    pub bad_samples: u64,
    /// Wheel samples.
    pub wheel: u64,
    /// Actions emitted.
    pub actions: u64,
    /// Candidate actions dropped as too short.
    pub too_short: u64,
}

/// Streaming segmenter.
#[derive(Debug, Default, Clone)]
pub struct Segmenter {
    cfg: SegmentConfig,
    pts: Vec<(f64, f64, f64)>,
    last_t: Option<f64>,
    press: Option<(f64, Button, usize)>,
    dragged: bool,
    /// Current scroll burst: (t ms, direction, x, y) of each step.
    wheel: Vec<(f64, i8, f64, f64)>,
    /// Counters.
    pub counts: SegmentCounts,
}

impl Segmenter {
    /// A segmenter with the given limits.
    pub fn new(cfg: SegmentConfig) -> Self {
        Self {
            cfg,
            ..Self::default()
        }
    }

    /// Pushes one sample; calls `emit` for each completed action.
    pub fn push(&mut self, s: PointerSample, emit: &mut impl FnMut(MouseAction)) {
        self.counts.samples += 1;
        if !(s.t_ms.is_finite() && s.x.is_finite() && s.y.is_finite())
            || self.last_t.is_some_and(|t| s.t_ms < t - 1.0)
        {
            self.counts.bad_samples += 1;
            return;
        }
        let gap = self.last_t.map_or(0.0, |t| s.t_ms - t);
        self.last_t = Some(s.t_ms);
        match s.kind {
            PointerKind::Wheel(dir) => {
                self.counts.wheel += 1;
                if self
                    .wheel
                    .last()
                    .is_some_and(|w| s.t_ms - w.0 > self.cfg.scroll_gap_ms)
                {
                    self.finish_scroll(emit);
                }
                self.wheel.push((s.t_ms, dir, s.x, s.y));
            }
            PointerKind::Move => {
                if self.press.is_none() && gap > self.cfg.pause_ms {
                    self.finish_move(emit);
                }
                self.pts.push((s.t_ms, s.x, s.y));
            }
            PointerKind::Drag => {
                if self.press.is_some() {
                    self.dragged = true;
                }
                self.pts.push((s.t_ms, s.x, s.y));
            }
            PointerKind::Down => {
                if gap > self.cfg.approach_ms {
                    self.finish_move(emit);
                }
                // The approach is the move so far; the press point starts the
                // drag part (index kept to split the two if it becomes a drag).
                if self.press.is_none() {
                    self.pts.push((s.t_ms, s.x, s.y));
                    self.press = Some((s.t_ms, s.button, self.pts.len() - 1));
                    self.dragged = false;
                }
            }
            PointerKind::Up => {
                if let Some((t0, _, start)) = self.press.take() {
                    self.pts.push((s.t_ms, s.x, s.y));
                    let hold = (s.t_ms - t0).max(0.0);
                    if self.dragged {
                        let pts = std::mem::take(&mut self.pts);
                        self.emit_action(ActionType::DragDrop, &pts[start..], hold, emit);
                    } else {
                        let pts = std::mem::take(&mut self.pts);
                        // Point-and-click: the approach up to the press.
                        self.emit_action(ActionType::PointClick, &pts[..=start], hold, emit);
                    }
                    self.dragged = false;
                }
            }
        }
    }

    fn finish_scroll(&mut self, emit: &mut impl FnMut(MouseAction)) {
        if let Some(a) = scroll_features(&self.wheel) {
            self.counts.actions += 1;
            emit(a);
        }
        self.wheel.clear();
    }

    /// Ends the stream, emitting a pending move.
    pub fn finish(&mut self, emit: &mut impl FnMut(MouseAction)) {
        self.finish_scroll(emit);
        if self.press.is_none() {
            self.finish_move(emit);
        }
        self.pts.clear();
        self.press = None;
    }

    fn finish_move(&mut self, emit: &mut impl FnMut(MouseAction)) {
        if self.press.is_some() {
            return;
        }
        let pts = std::mem::take(&mut self.pts);
        self.emit_action(ActionType::Move, &pts, f64::NAN, emit);
        self.pts = pts;
        self.pts.clear();
    }

    fn emit_action(
        &mut self,
        kind: ActionType,
        pts: &[(f64, f64, f64)],
        hold: f64,
        emit: &mut impl FnMut(MouseAction),
    ) {
        match action_features(kind, pts, hold, self.cfg.min_points) {
            Some(a) => {
                self.counts.actions += 1;
                emit(a);
            }
            None => self.counts.too_short += 1,
        }
    }
}

/// Features of a scroll burst `(t ms, direction, x, y)`: duration, steps,
/// step rate, interval spread, direction changes, share of downward steps and
/// pointer position; the movement features are `NaN`.
pub fn scroll_features(steps: &[(f64, i8, f64, f64)]) -> Option<MouseAction> {
    let (first, last) = (steps.first()?, steps.last()?);
    let dur = (last.0 - first.0).max(0.0);
    let n = steps.len() as f64;
    let mut iv = crate::stats::Moments::default();
    let mut changes = 0u32;
    for w in steps.windows(2) {
        iv.push(w[1].0 - w[0].0);
        if w[1].1 != w[0].1 {
            changes += 1;
        }
    }
    let down = steps.iter().filter(|s| s.1 > 0).count() as f64 / n;
    let l1p = |x: f64| x.max(0.0).ln_1p() as f32;
    let mut f = [f32::NAN; ACTION_FEATURES];
    f[0] = l1p(dur);
    f[3] = l1p(if dur > 0.0 { n * 1000.0 / dur } else { 0.0 });
    f[4] = l1p(iv.sd());
    f[11] = changes as f32;
    f[13] = (n as f32).ln();
    f[15] = (2.0 * down - 1.0) as f32;
    f[20] = (last.2 / 1000.0) as f32;
    f[21] = (last.3 / 1000.0) as f32;
    Some(MouseAction {
        kind: ActionType::Scroll,
        f,
    })
}

/// Features of one action from its points `(t ms, x, y)`; `None` when the
/// action has fewer than `min_points` distinct points or no duration.
pub fn action_features(
    kind: ActionType,
    pts: &[(f64, f64, f64)],
    hold_ms: f64,
    min_points: usize,
) -> Option<MouseAction> {
    // Merge samples with identical timestamps (the recorder batches them).
    let mut p: Vec<(f64, f64, f64)> = Vec::with_capacity(pts.len());
    for &q in pts {
        match p.last_mut() {
            Some(l) if q.0 - l.0 < 1.0 => {
                l.1 = q.1;
                l.2 = q.2;
            }
            _ => p.push(q),
        }
    }
    if p.len() < min_points.max(2) {
        return None;
    }
    let dur = p[p.len() - 1].0 - p[0].0;
    if dur <= 0.0 {
        return None;
    }
    let n = p.len();
    let (mut dist, mut sum_v, mut sum_v2, mut max_v) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let (mut sum_a, mut sum_a2, mut sum_j, mut sum_w, mut sum_c, mut turn) =
        (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let (mut crit, mut t_peak, mut pause_t) = (0u32, 0.0f64, 0.0f64);
    let mut prev_v: Option<f64> = None;
    let mut prev_a: Option<f64> = None;
    let mut prev_th: Option<f64> = None;
    let (mut nv, mut na, mut nj, mut nw) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for i in 1..n {
        let dt = (p[i].0 - p[i - 1].0) / 1000.0;
        let (dx, dy) = (p[i].1 - p[i - 1].1, p[i].2 - p[i - 1].2);
        let ds = dx.hypot(dy);
        dist += ds;
        if dt > 0.1 {
            pause_t += dt;
        }
        let v = ds / dt;
        sum_v += v;
        sum_v2 += v * v;
        nv += 1.0;
        if v > max_v {
            max_v = v;
            t_peak = p[i].0 - p[0].0;
        }
        if let Some(pv) = prev_v {
            let a = (v - pv) / dt;
            sum_a += a.abs();
            sum_a2 += a * a;
            na += 1.0;
            if let Some(pa) = prev_a {
                sum_j += ((a - pa) / dt).abs();
                nj += 1.0;
            }
            prev_a = Some(a);
        }
        prev_v = Some(v);
        if ds > 0.0 {
            let th = dy.atan2(dx);
            if let Some(pt) = prev_th {
                let mut d = th - pt;
                while d > std::f64::consts::PI {
                    d -= 2.0 * std::f64::consts::PI;
                }
                while d < -std::f64::consts::PI {
                    d += 2.0 * std::f64::consts::PI;
                }
                turn += d.abs();
                sum_w += d.abs() / dt;
                let c = d.abs() / ds;
                sum_c += c;
                nw += 1.0;
                if c > 0.05 {
                    crit += 1;
                }
            }
            prev_th = Some(th);
        }
    }
    let (x0, y0, x1, y1) = (p[0].1, p[0].2, p[n - 1].1, p[n - 1].2);
    let disp = (x1 - x0).hypot(y1 - y0);
    let mut dev = 0.0f64;
    if disp > 0.0 {
        for q in &p {
            let d = ((x1 - x0) * (y0 - q.2) - (x0 - q.1) * (y1 - y0)).abs() / disp;
            dev = dev.max(d);
        }
    }
    let mv = sum_v / nv.max(1.0);
    let sdv = (sum_v2 / nv.max(1.0) - mv * mv).max(0.0).sqrt();
    let ma = sum_a / na.max(1.0);
    let sda = (sum_a2 / na.max(1.0) - ma * ma).max(0.0).sqrt();
    let th = (y1 - y0).atan2(x1 - x0);
    let l1p = |x: f64| x.max(0.0).ln_1p() as f32;
    let f = [
        l1p(dur),
        l1p(dist),
        if dist > 0.0 {
            (disp / dist) as f32
        } else {
            1.0
        },
        l1p(mv),
        l1p(sdv),
        l1p(max_v),
        l1p(ma),
        l1p(sda),
        l1p(sum_j / nj.max(1.0)),
        l1p(sum_w / nw.max(1.0)),
        l1p(sum_c / nw.max(1.0)),
        turn as f32,
        l1p(dev),
        (n as f32).ln(),
        crit as f32 / (n as f32),
        if disp > 0.0 { th.sin() as f32 } else { 0.0 },
        if disp > 0.0 { th.cos() as f32 } else { 0.0 },
        (t_peak / dur) as f32,
        if hold_ms.is_finite() {
            l1p(hold_ms)
        } else {
            f32::NAN
        },
        (pause_t * 1000.0 / dur) as f32,
        // Where on the screen the action ends (screen layout and habits).
        (x1 / 1000.0) as f32,
        (y1 / 1000.0) as f32,
    ];
    Some(MouseAction { kind, f })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(t: f64, x: f64, y: f64) -> PointerSample {
        PointerSample {
            t_ms: t,
            x,
            y,
            kind: PointerKind::Move,
            button: Button::None,
        }
    }

    #[test]
    fn segments_move_click_and_drag() {
        let mut seg = Segmenter::default();
        let mut acts = Vec::new();
        let mut emit = |a: MouseAction| acts.push(a);
        for i in 0..10 {
            seg.push(mv(f64::from(i) * 16.0, f64::from(i) * 5.0, 0.0), &mut emit);
        }
        // Pause then a move-and-click.
        for i in 0..10 {
            seg.push(
                mv(3000.0 + f64::from(i) * 16.0, 50.0, f64::from(i) * 4.0),
                &mut emit,
            );
        }
        let d = |t, kind| PointerSample {
            t_ms: t,
            x: 50.0,
            y: 40.0,
            kind,
            button: Button::Left,
        };
        seg.push(d(3200.0, PointerKind::Down), &mut emit);
        seg.push(d(3290.0, PointerKind::Up), &mut emit);
        // Drag and drop.
        seg.push(d(3500.0, PointerKind::Down), &mut emit);
        for i in 0..8 {
            seg.push(
                PointerSample {
                    t_ms: 3520.0 + f64::from(i) * 16.0,
                    x: 50.0 + f64::from(i) * 10.0,
                    y: 40.0,
                    kind: PointerKind::Drag,
                    button: Button::None,
                },
                &mut emit,
            );
        }
        seg.push(d(3700.0, PointerKind::Up), &mut emit);
        seg.finish(&mut emit);
        let kinds: Vec<ActionType> = acts.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                ActionType::Move,
                ActionType::PointClick,
                ActionType::DragDrop
            ]
        );
        let straight = acts[0].f[2];
        assert!((straight - 1.0).abs() < 1e-5);
        assert!((acts[1].f[18] - 90f32.ln_1p()).abs() < 1e-4);
        assert!(acts[0].f[18].is_nan());
        assert!(acts.iter().all(|a| {
            a.f.iter()
                .enumerate()
                .all(|(i, v)| i == 18 || v.is_finite())
        }));
    }

    #[test]
    fn bad_samples_are_counted_not_fatal() {
        let mut seg = Segmenter::default();
        let mut n = 0;
        let mut emit = |_a: MouseAction| n += 1;
        seg.push(mv(f64::NAN, 0.0, 0.0), &mut emit);
        seg.push(mv(100.0, 0.0, 0.0), &mut emit);
        seg.push(mv(10.0, 0.0, 0.0), &mut emit);
        seg.finish(&mut emit);
        assert_eq!(seg.counts.bad_samples, 2);
        assert_eq!(n, 0);
    }
}
