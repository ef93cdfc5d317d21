//! Neutral, time-ordered streams built from a validated batch, for the
//! biometric detectors: keystrokes paired into press/release, pointer, wheel,
//! scroll and touch samples, and clipboard, focus and dwell summaries. Times
//! are absolute epoch milliseconds (`clock.origin + t`), so batches of one
//! session line up.

use crate::Zone;
use crate::batch::{Batch, ClipboardOp, DeltaMode, EventKind, FocusState, ZoneMode};

/// One key press: its zone, when it went down and (if the release is in the
/// same batch) up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keystroke {
    /// The zone of the key.
    pub zone: Zone,
    /// Epoch ms of the key down.
    pub down_ms: f64,
    /// Epoch ms of the matching key up, if it is in this batch.
    pub up_ms: Option<f64>,
    /// Auto-repeat key downs while it was held.
    pub repeats: u32,
}

impl Keystroke {
    /// Hold (dwell) time in ms, when the release is known.
    pub fn hold_ms(&self) -> Option<f64> {
        self.up_ms.map(|u| u - self.down_ms)
    }
}

/// What a pointer sample is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PointerKind {
    /// `mm`.
    Move,
    /// `md`.
    Down,
    /// `mu`.
    Up,
}

/// A pointer sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointerSample {
    /// Epoch ms.
    pub t_ms: f64,
    /// CSS px.
    pub x: f64,
    /// CSS px.
    pub y: f64,
    /// Move, down or up.
    pub kind: PointerKind,
    /// The button of a down/up.
    pub button: Option<u8>,
    /// The buttons held during a move, when sent.
    pub buttons: Option<u8>,
}

/// A wheel sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WheelSample {
    /// Epoch ms.
    pub t_ms: f64,
    /// Horizontal delta.
    pub dx: f64,
    /// Vertical delta.
    pub dy: f64,
    /// Unit of the deltas.
    pub mode: DeltaMode,
}

/// A scroll-position sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScrollSample {
    /// Epoch ms.
    pub t_ms: f64,
    /// Horizontal offset, CSS px.
    pub sx: f64,
    /// Vertical offset, CSS px.
    pub sy: f64,
}

/// Phase of a touch sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TouchPhase {
    /// `ts`.
    Start,
    /// `tm`.
    Move,
    /// `te`.
    End,
}

/// A touch sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TouchSample {
    /// Epoch ms.
    pub t_ms: f64,
    /// Touch identifier (one finger's track).
    pub id: i64,
    /// Phase.
    pub phase: TouchPhase,
    /// CSS px.
    pub x: f64,
    /// CSS px.
    pub y: f64,
    /// Pressure in [0, 1], if the device reports it.
    pub pressure: Option<f64>,
    /// Contact radius x, px.
    pub rx: Option<f64>,
    /// Contact radius y, px.
    pub ry: Option<f64>,
}

/// Clipboard operation counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClipboardCounts {
    /// Copies.
    pub copy: u32,
    /// Cuts.
    pub cut: u32,
    /// Pastes.
    pub paste: u32,
}

/// A focus or visibility change.
#[derive(Debug, Clone, PartialEq)]
pub struct FocusChange {
    /// Epoch ms.
    pub t_ms: f64,
    /// The new state.
    pub state: FocusState,
    /// The element label, if any.
    pub el: Option<String>,
}

/// Counts of focus changes and time spent away, within the batch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FocusSummary {
    /// Changes per [`FocusState`], indexed like [`FocusState::ALL`].
    pub counts: [u32; 6],
    /// ms between a `hidden` and the next `visible` (or the batch's last event).
    pub hidden_ms: f64,
    /// ms between a `win_blur` and the next `win_focus` (or the batch's last event).
    pub blurred_ms: f64,
}

impl FocusSummary {
    /// How many changes to `state` the batch has.
    pub fn count(&self, state: FocusState) -> u32 {
        FocusState::ALL
            .iter()
            .position(|s| *s == state)
            .map_or(0, |i| self.counts[i])
    }
}

/// Total dwell on one sensitive element.
#[derive(Debug, Clone, PartialEq)]
pub struct DwellSummary {
    /// The element label.
    pub el: String,
    /// Sum of the reported visible times, ms.
    pub total_ms: f64,
    /// Number of dwell events.
    pub count: u32,
}

/// Everything the detectors consume from one batch, time-ordered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Streams {
    /// Zone granularity of the keystrokes.
    pub zones: ZoneMode,
    /// Epoch ms of the first event.
    pub start_ms: f64,
    /// Epoch ms of the last event.
    pub end_ms: f64,
    /// Events the collector reported dropped before this batch.
    pub dropped: u64,
    /// Key presses, ordered by key-down time.
    pub keystrokes: Vec<Keystroke>,
    /// Key ups whose key down is not in this batch (it was in the previous one).
    pub orphan_key_ups: u32,
    /// Pointer samples.
    pub pointer: Vec<PointerSample>,
    /// Wheel samples.
    pub wheel: Vec<WheelSample>,
    /// Scroll positions.
    pub scroll: Vec<ScrollSample>,
    /// Touch samples.
    pub touch: Vec<TouchSample>,
    /// Clipboard counts.
    pub clipboard: ClipboardCounts,
    /// Focus / visibility changes.
    pub focus: Vec<FocusChange>,
    /// Focus summary.
    pub focus_summary: FocusSummary,
    /// Dwell per element, sorted by label.
    pub dwell: Vec<DwellSummary>,
}

impl Streams {
    /// Splits a validated batch into streams. Key downs are paired with the
    /// first unmatched key up of the same zone (the collector cannot say which
    /// key of a zone it was, so overlapping presses in one zone pair first-in,
    /// first-out).
    pub fn from_batch(batch: &Batch) -> Streams {
        let origin = batch.clock.origin;
        let mut s = Streams {
            zones: batch.zones,
            dropped: batch.dropped,
            start_ms: batch.events.first().map_or(origin, |e| origin + e.t),
            end_ms: batch.events.last().map_or(origin, |e| origin + e.t),
            ..Streams::default()
        };
        // Per zone, indices into `keystrokes` still waiting for their key up, oldest first.
        let mut pending: [Vec<usize>; Zone::ALL.len()] = Default::default();
        let mut hidden_since: Option<f64> = None;
        let mut blurred_since: Option<f64> = None;
        for e in &batch.events {
            let t_ms = origin + e.t;
            match &e.kind {
                EventKind::KeyDown { zone, repeat } => {
                    let q = &mut pending[zone.index()];
                    match (repeat, q.last()) {
                        (true, Some(&k)) => s.keystrokes[k].repeats += 1,
                        _ => {
                            q.push(s.keystrokes.len());
                            s.keystrokes.push(Keystroke {
                                zone: *zone,
                                down_ms: t_ms,
                                up_ms: None,
                                repeats: 0,
                            });
                        }
                    }
                }
                EventKind::KeyUp { zone } => {
                    let q = &mut pending[zone.index()];
                    if q.is_empty() {
                        s.orphan_key_ups += 1;
                    } else {
                        let k = q.remove(0);
                        s.keystrokes[k].up_ms = Some(t_ms);
                    }
                }
                EventKind::PointerMove { x, y, buttons } => s.pointer.push(PointerSample {
                    t_ms,
                    x: *x,
                    y: *y,
                    kind: PointerKind::Move,
                    button: None,
                    buttons: *buttons,
                }),
                EventKind::PointerDown { x, y, button } | EventKind::PointerUp { x, y, button } => {
                    let kind = if matches!(e.kind, EventKind::PointerDown { .. }) {
                        PointerKind::Down
                    } else {
                        PointerKind::Up
                    };
                    s.pointer.push(PointerSample {
                        t_ms,
                        x: *x,
                        y: *y,
                        kind,
                        button: Some(*button),
                        buttons: None,
                    });
                }
                EventKind::Wheel { dx, dy, mode, .. } => s.wheel.push(WheelSample {
                    t_ms,
                    dx: *dx,
                    dy: *dy,
                    mode: *mode,
                }),
                EventKind::Scroll { sx, sy } => s.scroll.push(ScrollSample {
                    t_ms,
                    sx: *sx,
                    sy: *sy,
                }),
                EventKind::TouchStart(tc) | EventKind::TouchMove(tc) | EventKind::TouchEnd(tc) => {
                    let phase = match e.kind {
                        EventKind::TouchStart(_) => TouchPhase::Start,
                        EventKind::TouchMove(_) => TouchPhase::Move,
                        _ => TouchPhase::End,
                    };
                    s.touch.push(TouchSample {
                        t_ms,
                        id: tc.id,
                        phase,
                        x: tc.x,
                        y: tc.y,
                        pressure: tc.pressure,
                        rx: tc.rx,
                        ry: tc.ry,
                    });
                }
                EventKind::Clipboard { op } => match op {
                    ClipboardOp::Copy => s.clipboard.copy += 1,
                    ClipboardOp::Cut => s.clipboard.cut += 1,
                    ClipboardOp::Paste => s.clipboard.paste += 1,
                },
                EventKind::Focus { state, el } => {
                    if let Some(i) = FocusState::ALL.iter().position(|x| x == state) {
                        s.focus_summary.counts[i] += 1;
                    }
                    match state {
                        FocusState::Hidden => {
                            hidden_since.get_or_insert(t_ms);
                        }
                        FocusState::Visible => {
                            if let Some(h) = hidden_since.take() {
                                s.focus_summary.hidden_ms += t_ms - h;
                            }
                        }
                        FocusState::WinBlur => {
                            blurred_since.get_or_insert(t_ms);
                        }
                        FocusState::WinFocus => {
                            if let Some(b) = blurred_since.take() {
                                s.focus_summary.blurred_ms += t_ms - b;
                            }
                        }
                        _ => {}
                    }
                    s.focus.push(FocusChange {
                        t_ms,
                        state: *state,
                        el: el.clone(),
                    });
                }
                EventKind::Dwell { el, ms } => {
                    match s.dwell.binary_search_by(|d| d.el.as_str().cmp(el)) {
                        Ok(i) => {
                            s.dwell[i].total_ms += ms;
                            s.dwell[i].count += 1;
                        }
                        Err(i) => s.dwell.insert(
                            i,
                            DwellSummary {
                                el: el.clone(),
                                total_ms: *ms,
                                count: 1,
                            },
                        ),
                    }
                }
            }
        }
        if let Some(h) = hidden_since {
            s.focus_summary.hidden_ms += s.end_ms - h;
        }
        if let Some(b) = blurred_since {
            s.focus_summary.blurred_ms += s.end_ms - b;
        }
        s
    }

    /// Key presses whose release is known, as (zone, down, up) in epoch ms.
    pub fn complete_keystrokes(&self) -> impl Iterator<Item = (Zone, f64, f64)> + '_ {
        self.keystrokes
            .iter()
            .filter_map(|k| k.up_ms.map(|u| (k.zone, k.down_ms, u)))
    }
}
