//! The typed form of a telemetry batch (schema v1) and of every event kind.
//!
//! These types serialize to exactly the wire format of `docs/telemetry.md`;
//! untrusted bytes are turned into them only by [`decode`](crate::decode) /
//! [`parse`](crate::parse), which also enforce the limits and rules.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::Zone;

/// The only schema version this crate accepts.
pub const SCHEMA_VERSION: u32 = 1;

/// One batch as sent by the collector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Batch {
    /// Schema version, always [`SCHEMA_VERSION`].
    pub v: u32,
    /// Collector-generated random session id (one per page load).
    pub session: String,
    /// The user id as the page knows it (informational; identity comes from authentication).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Batch sequence number within the session, from 0.
    pub seq: u64,
    /// Key-zone granularity of this batch's `kd`/`ku` events.
    #[serde(skip_serializing_if = "ZoneMode::is_fine")]
    pub zones: ZoneMode,
    /// Events the collector had to drop (offline buffer full) since the
    /// previous batch it built; 0 when nothing was lost.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped: u64,
    /// The client's clock.
    pub clock: Clock,
    /// The client's viewport, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub viewport: Option<Viewport>,
    /// The events, in the order they happened.
    pub events: Vec<Event>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The client's clock reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Clock {
    /// `performance.timeOrigin`: epoch milliseconds at which event time 0 is.
    pub origin: f64,
    /// `performance.now()` when the batch was sent.
    pub sent: f64,
}

/// The client's viewport.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Viewport {
    /// Width in CSS px.
    pub w: f64,
    /// Height in CSS px.
    pub h: f64,
    /// Device pixel ratio.
    pub dpr: f64,
}

/// Key-zone granularity of a batch (`zones` field, default `fine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneMode {
    /// The 13 finger/class zones plus key classes; `LH`/`RH` are errors.
    #[default]
    Fine,
    /// Finger zones collapsed to `LH`/`RH`; `L5..R5` are errors.
    Hands,
}

impl ZoneMode {
    fn is_fine(&self) -> bool {
        *self == ZoneMode::Fine
    }

    /// The wire name (`"fine"`, `"hands"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ZoneMode::Fine => "fine",
            ZoneMode::Hands => "hands",
        }
    }
}

/// One event: when it happened and what it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Milliseconds since `clock.origin`.
    pub t: f64,
    /// The kind and its fields.
    pub kind: EventKind,
}

/// Every event kind of schema v1, with its fields (names as on the wire in
/// the docs of each variant).
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// `kd`: key down.
    KeyDown {
        /// `z`.
        zone: Zone,
        /// `r`: auto-repeat.
        repeat: bool,
    },
    /// `ku`: key up.
    KeyUp {
        /// `z`.
        zone: Zone,
    },
    /// `mm`: pointer move (mouse or pen, coalesced samples).
    PointerMove {
        /// `x`, CSS px from the viewport's left.
        x: f64,
        /// `y`, CSS px from the viewport's top.
        y: f64,
        /// `b`: pressed buttons bitmask (1 left, 2 right, 4 middle, 8 back, 16 forward).
        buttons: Option<u8>,
    },
    /// `md`: pointer button down.
    PointerDown {
        /// `x`.
        x: f64,
        /// `y`.
        y: f64,
        /// `b`: 0 left, 1 middle, 2 right, 3 back, 4 forward, 5 pen eraser.
        button: u8,
    },
    /// `mu`: pointer button up.
    PointerUp {
        /// `x`.
        x: f64,
        /// `y`.
        y: f64,
        /// `b`, as for `md`.
        button: u8,
    },
    /// `wh`: wheel.
    Wheel {
        /// `dx`.
        dx: f64,
        /// `dy`.
        dy: f64,
        /// `m`.
        mode: DeltaMode,
        /// `x`, pointer position if known.
        x: Option<f64>,
        /// `y`, pointer position if known.
        y: Option<f64>,
    },
    /// `sc`: scroll position.
    Scroll {
        /// `sx`.
        sx: f64,
        /// `sy`.
        sy: f64,
    },
    /// `ts`: touch start.
    TouchStart(Touch),
    /// `tm`: touch move.
    TouchMove(Touch),
    /// `te`: touch end.
    TouchEnd(Touch),
    /// `cb`: clipboard operation (never its content).
    Clipboard {
        /// `op`.
        op: ClipboardOp,
    },
    /// `fc`: focus or visibility change.
    Focus {
        /// `s`.
        state: FocusState,
        /// `el`: the element's `data-shroud-id`, if any.
        el: Option<String>,
    },
    /// `dw`: dwell on a `data-shroud-sensitive` element.
    Dwell {
        /// `el`: the element's `data-shroud-sensitive` value.
        el: String,
        /// `ms`: how long it was visible.
        ms: f64,
    },
}

/// The fields of a touch event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Touch {
    /// `id`: the touch identifier.
    pub id: i64,
    /// `x`.
    pub x: f64,
    /// `y`.
    pub y: f64,
    /// `p`: pressure in `[0, 1]`.
    pub pressure: Option<f64>,
    /// `rx`: contact radius, px.
    pub rx: Option<f64>,
    /// `ry`: contact radius, px.
    pub ry: Option<f64>,
}

/// Wheel delta unit (`m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeltaMode {
    /// 0.
    Pixel,
    /// 1.
    Line,
    /// 2.
    Page,
}

/// Clipboard operation (`op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClipboardOp {
    /// `copy`.
    Copy,
    /// `cut`.
    Cut,
    /// `paste`.
    Paste,
}

/// Focus / visibility state (`s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FocusState {
    /// `win_focus`: the window gained focus.
    WinFocus,
    /// `win_blur`: the window lost focus.
    WinBlur,
    /// `visible`: the page became visible.
    Visible,
    /// `hidden`: the page was hidden.
    Hidden,
    /// `field_focus`: a form field gained focus.
    FieldFocus,
    /// `field_blur`: a form field lost focus.
    FieldBlur,
}

impl DeltaMode {
    /// Wire value.
    pub const fn code(self) -> u8 {
        match self {
            DeltaMode::Pixel => 0,
            DeltaMode::Line => 1,
            DeltaMode::Page => 2,
        }
    }

    /// From the wire value.
    pub const fn from_code(c: u64) -> Option<Self> {
        match c {
            0 => Some(DeltaMode::Pixel),
            1 => Some(DeltaMode::Line),
            2 => Some(DeltaMode::Page),
            _ => None,
        }
    }
}

impl ClipboardOp {
    /// Wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClipboardOp::Copy => "copy",
            ClipboardOp::Cut => "cut",
            ClipboardOp::Paste => "paste",
        }
    }

    /// From the wire value.
    pub fn parse(s: &str) -> Option<Self> {
        [ClipboardOp::Copy, ClipboardOp::Cut, ClipboardOp::Paste]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

impl FocusState {
    /// Every state.
    pub const ALL: [FocusState; 6] = [
        FocusState::WinFocus,
        FocusState::WinBlur,
        FocusState::Visible,
        FocusState::Hidden,
        FocusState::FieldFocus,
        FocusState::FieldBlur,
    ];

    /// Wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            FocusState::WinFocus => "win_focus",
            FocusState::WinBlur => "win_blur",
            FocusState::Visible => "visible",
            FocusState::Hidden => "hidden",
            FocusState::FieldFocus => "field_focus",
            FocusState::FieldBlur => "field_blur",
        }
    }

    /// From the wire value.
    pub fn parse(s: &str) -> Option<Self> {
        FocusState::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl EventKind {
    /// The wire code `k` of this kind.
    pub const fn code(&self) -> &'static str {
        match self {
            EventKind::KeyDown { .. } => "kd",
            EventKind::KeyUp { .. } => "ku",
            EventKind::PointerMove { .. } => "mm",
            EventKind::PointerDown { .. } => "md",
            EventKind::PointerUp { .. } => "mu",
            EventKind::Wheel { .. } => "wh",
            EventKind::Scroll { .. } => "sc",
            EventKind::TouchStart(_) => "ts",
            EventKind::TouchMove(_) => "tm",
            EventKind::TouchEnd(_) => "te",
            EventKind::Clipboard { .. } => "cb",
            EventKind::Focus { .. } => "fc",
            EventKind::Dwell { .. } => "dw",
        }
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("t", &self.t)?;
        m.serialize_entry("k", self.kind.code())?;
        match &self.kind {
            EventKind::KeyDown { zone, repeat } => {
                m.serialize_entry("z", zone)?;
                if *repeat {
                    m.serialize_entry("r", &true)?;
                }
            }
            EventKind::KeyUp { zone } => m.serialize_entry("z", zone)?,
            EventKind::PointerMove { x, y, buttons } => {
                m.serialize_entry("x", x)?;
                m.serialize_entry("y", y)?;
                if let Some(b) = buttons {
                    m.serialize_entry("b", b)?;
                }
            }
            EventKind::PointerDown { x, y, button } | EventKind::PointerUp { x, y, button } => {
                m.serialize_entry("x", x)?;
                m.serialize_entry("y", y)?;
                m.serialize_entry("b", button)?;
            }
            EventKind::Wheel { dx, dy, mode, x, y } => {
                m.serialize_entry("dx", dx)?;
                m.serialize_entry("dy", dy)?;
                m.serialize_entry("m", &mode.code())?;
                if let Some(x) = x {
                    m.serialize_entry("x", x)?;
                }
                if let Some(y) = y {
                    m.serialize_entry("y", y)?;
                }
            }
            EventKind::Scroll { sx, sy } => {
                m.serialize_entry("sx", sx)?;
                m.serialize_entry("sy", sy)?;
            }
            EventKind::TouchStart(tc) | EventKind::TouchMove(tc) | EventKind::TouchEnd(tc) => {
                m.serialize_entry("id", &tc.id)?;
                m.serialize_entry("x", &tc.x)?;
                m.serialize_entry("y", &tc.y)?;
                for (name, v) in [("p", tc.pressure), ("rx", tc.rx), ("ry", tc.ry)] {
                    if let Some(v) = v {
                        m.serialize_entry(name, &v)?;
                    }
                }
            }
            EventKind::Clipboard { op } => m.serialize_entry("op", op.as_str())?,
            EventKind::Focus { state, el } => {
                m.serialize_entry("s", state.as_str())?;
                if let Some(el) = el {
                    m.serialize_entry("el", el)?;
                }
            }
            EventKind::Dwell { el, ms } => {
                m.serialize_entry("el", el)?;
                m.serialize_entry("ms", ms)?;
            }
        }
        m.end()
    }
}

impl Batch {
    /// The batch as wire JSON (identity encoding).
    pub fn to_json(&self) -> String {
        // Serializing these plain types into a String cannot fail: no maps with
        // non-string keys, no I/O. A failure would be a bug, so fall back to an
        // empty object rather than panic on a request path.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Epoch milliseconds of an event time `t` of this batch.
    pub fn absolute_ms(&self, t: f64) -> f64 {
        self.clock.origin + t
    }
}
