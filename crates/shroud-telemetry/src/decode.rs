//! Turning an untrusted request body into a validated [`Batch`]: content
//! decoding with a hard cap on the decompressed size, a nesting-depth pre-scan,
//! a single streaming parse that knows which event and field it is in (so every
//! error names them), and the semantic checks of `docs/telemetry.md`.
//!
//! Why a hand-written serde visitor rather than `#[derive(Deserialize)]`: the
//! derive cannot say *which* array element failed, buffers internally tagged
//! enums (slow), and `deny_unknown_fields` does not combine with the flat `k`
//! tag. The visitor parses straight into the typed events in one pass.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::batch::{
    Batch, ClipboardOp, Clock, DeltaMode, Event, EventKind, FocusState, SCHEMA_VERSION, Touch,
    Viewport, ZoneMode,
};
use crate::error::{Invalid, TelemetryError};
use crate::{Limits, Zone};

/// Largest integer a JavaScript number represents exactly (`2^53`).
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;
/// Bound of pointer/touch/wheel coordinates, CSS px.
pub const MAX_COORD: f64 = 100_000.0;
/// Bound of scroll offsets (`sx`, `sy`), CSS px: browsers cap layout sizes
/// near 2^25 px, far above a viewport coordinate.
pub const MAX_SCROLL: f64 = 100_000_000.0;
/// Bound of a touch contact radius, px.
pub const MAX_RADIUS: f64 = 10_000.0;
/// Bound of a dwell time, ms (24 h).
pub const MAX_DWELL_MS: f64 = 86_400_000.0;

/// The `Content-Encoding` of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncoding {
    /// No encoding (header absent or `identity`).
    Identity,
    /// `gzip` (or `x-gzip`).
    Gzip,
    /// `br` (Brotli).
    Brotli,
}

impl ContentEncoding {
    /// Reads a `Content-Encoding` header value (absent = identity). Anything
    /// other than one of identity, gzip, x-gzip, br (case-insensitive) is a 415.
    pub fn from_header(value: Option<&str>) -> Result<Self, TelemetryError> {
        let Some(v) = value else {
            return Ok(ContentEncoding::Identity);
        };
        let v = v.trim();
        if v.is_empty() || v.eq_ignore_ascii_case("identity") {
            Ok(ContentEncoding::Identity)
        } else if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") {
            Ok(ContentEncoding::Gzip)
        } else if v.eq_ignore_ascii_case("br") {
            Ok(ContentEncoding::Brotli)
        } else {
            Err(TelemetryError::UnsupportedEncoding(
                v.chars().take(64).collect(),
            ))
        }
    }
}

/// Decodes and validates one request body: size limits, decompression
/// (stopping as soon as the decompressed size passes its limit), parsing and
/// every rule of `docs/telemetry.md`. `now` is the server clock, for the
/// clock-skew rule.
///
/// ```
/// use shroud_telemetry::{decode, ContentEncoding, Limits};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let body = br#"{"v":1,"session":"s1","seq":0,"clock":{"origin":1763779200000,"sent":50},
///                 "events":[{"t":10,"k":"kd","z":"L3"},{"t":20.5,"k":"ku","z":"L3"}]}"#;
/// let now = UNIX_EPOCH + Duration::from_millis(1_763_779_200_100);
/// let batch = decode(body, ContentEncoding::Identity, &Limits::default(), now).unwrap();
/// assert_eq!(batch.events.len(), 2);
///
/// let bad = br#"{"v":1,"session":"s1","seq":0,"clock":{"origin":1763779200000,"sent":50},
///                "events":[{"t":10,"k":"kd","z":"Q"}]}"#;
/// let err = decode(bad, ContentEncoding::Identity, &Limits::default(), now).unwrap_err();
/// assert_eq!(err.status().code(), 400);
/// assert_eq!(err.field(), Some("events[0].z"));
/// ```
pub fn decode(
    body: &[u8],
    encoding: ContentEncoding,
    limits: &Limits,
    now: SystemTime,
) -> Result<Batch, TelemetryError> {
    if body.len() > limits.max_body_bytes {
        return Err(TelemetryError::BodyTooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    let json = decompress(body, encoding, limits.max_decompressed_bytes)?;
    parse(&json, limits, now)
}

/// Decompresses `body`, refusing to produce more than `limit` bytes.
pub fn decompress(
    body: &[u8],
    encoding: ContentEncoding,
    limit: usize,
) -> Result<Cow<'_, [u8]>, TelemetryError> {
    // Reading at most limit+1 bytes is what makes this bomb-safe: the decoder
    // is never asked for more, whatever the compressed stream claims.
    fn capped(
        mut r: impl Read,
        limit: usize,
        encoding: &'static str,
    ) -> Result<Vec<u8>, TelemetryError> {
        let mut out = Vec::new();
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        (&mut r)
            .take(cap)
            .read_to_end(&mut out)
            .map_err(|e| TelemetryError::CorruptEncoding {
                encoding,
                reason: e.to_string(),
            })?;
        if out.len() > limit {
            return Err(TelemetryError::DecompressedTooLarge { limit });
        }
        Ok(out)
    }
    match encoding {
        ContentEncoding::Identity => {
            if body.len() > limit {
                return Err(TelemetryError::DecompressedTooLarge { limit });
            }
            Ok(Cow::Borrowed(body))
        }
        ContentEncoding::Gzip => {
            capped(flate2::read::GzDecoder::new(body), limit, "gzip").map(Cow::Owned)
        }
        ContentEncoding::Brotli => capped(
            brotli_decompressor::Decompressor::new(body, 4096),
            limit,
            "br",
        )
        .map(Cow::Owned),
    }
}

/// Parses and validates an uncompressed JSON batch (see [`decode`]).
pub fn parse(json: &[u8], limits: &Limits, now: SystemTime) -> Result<Batch, TelemetryError> {
    if json.len() > limits.max_decompressed_bytes {
        return Err(TelemetryError::DecompressedTooLarge {
            limit: limits.max_decompressed_bytes,
        });
    }
    check_depth(json, limits.max_depth)?;
    let batch = parse_structure(json, limits)?;
    validate(&batch, limits, now)?;
    Ok(batch)
}

/// Rejects JSON nested deeper than `max` before any parsing, so hostile
/// nesting costs one linear scan and no recursion.
fn check_depth(json: &[u8], max: usize) -> Result<(), Invalid> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for (pos, &b) in json.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(Invalid {
                        event: None,
                        field: None,
                        reason: format!("JSON nesting deeper than {max} levels (at byte {pos})"),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Where the parser is, so that a serde error can be pinned to a field.
#[derive(Debug, Clone, Copy)]
enum Loc {
    Root,
    Top(&'static str),
    Sub(&'static str, &'static str),
    Event(usize, Option<&'static str>),
}

struct Ctx {
    loc: Loc,
    /// A precise error raised by our own visitor code; wins over serde's text.
    fail: Option<Invalid>,
    max_events: usize,
}

impl Ctx {
    fn fail<E: de::Error>(&mut self, inv: Invalid) -> E {
        self.fail = Some(inv);
        E::custom("rejected")
    }

    fn into_invalid(self, err: &serde_json::Error) -> Invalid {
        if let Some(f) = self.fail {
            return f;
        }
        let full = err.to_string();
        let located = |s: String| -> String {
            let suffix = format!(" at line {} column {}", err.line(), err.column());
            s.strip_suffix(&suffix).map(str::to_owned).unwrap_or(s)
        };
        match self.loc {
            Loc::Root => Invalid {
                event: None,
                field: None,
                reason: full,
            },
            Loc::Top(f) => Invalid::at(None, f, located(full)),
            Loc::Sub(a, b) => Invalid::at(None, format!("{a}.{b}"), located(full)),
            Loc::Event(i, Some(f)) => Invalid::event(i, f, located(full)),
            Loc::Event(i, None) => Invalid::at(Some(i), format!("events[{i}]"), located(full)),
        }
    }
}

fn parse_structure(json: &[u8], limits: &Limits) -> Result<Batch, Invalid> {
    let mut ctx = Ctx {
        loc: Loc::Root,
        fail: None,
        max_events: limits.max_events,
    };
    let mut de = serde_json::Deserializer::from_slice(json);
    let res = BatchSeed { ctx: &mut ctx }
        .deserialize(&mut de)
        .and_then(|b| {
            de.end()?;
            Ok(b)
        });
    match res {
        Ok(b) => Ok(b),
        Err(e) => Err(ctx.into_invalid(&e)),
    }
}

/// A map key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Field names shown in errors are cut so a hostile key cannot bloat the answer.
fn shown(name: &str) -> String {
    let mut s: String = name.chars().take(40).collect();
    if s.len() < name.len() {
        s.push('…');
    }
    s
}

struct BatchSeed<'c> {
    ctx: &'c mut Ctx,
}

impl<'de> DeserializeSeed<'de> for BatchSeed<'_> {
    type Value = Batch;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Batch, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BatchSeed<'_> {
    type Value = Batch;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a telemetry batch (JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Batch, A::Error> {
        let ctx = self.ctx;
        let mut v: Option<u64> = None;
        let mut session: Option<String> = None;
        let mut user: Option<String> = None;
        let mut seq: Option<u64> = None;
        let mut zones: Option<ZoneMode> = None;
        let mut dropped: Option<u64> = None;
        let mut clock: Option<Clock> = None;
        let mut viewport: Option<Viewport> = None;
        let mut events: Option<Vec<Event>> = None;
        macro_rules! once {
            ($slot:ident, $name:literal, $val:expr) => {{
                if $slot.is_some() {
                    return Err(ctx.fail(Invalid::at(None, $name, "duplicate field")));
                }
                ctx.loc = Loc::Top($name);
                $slot = Some($val);
            }};
        }
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.0.as_ref() {
                "v" => {
                    once!(v, "v", map.next_value::<u64>()?);
                    if v != Some(u64::from(SCHEMA_VERSION)) {
                        return Err(ctx.fail(Invalid::at(
                            None,
                            "v",
                            format!(
                                "unsupported schema version {}, expected {SCHEMA_VERSION}",
                                v.unwrap_or(0)
                            ),
                        )));
                    }
                }
                "session" => once!(session, "session", map.next_value::<String>()?),
                "user" => once!(user, "user", map.next_value::<String>()?),
                "seq" => once!(seq, "seq", map.next_value::<u64>()?),
                "dropped" => once!(dropped, "dropped", map.next_value::<u64>()?),
                "zones" => {
                    if zones.is_some() {
                        return Err(ctx.fail(Invalid::at(None, "zones", "duplicate field")));
                    }
                    ctx.loc = Loc::Top("zones");
                    let k = map.next_value::<Key<'de>>()?;
                    zones = Some(match k.0.as_ref() {
                        "fine" => ZoneMode::Fine,
                        "hands" => ZoneMode::Hands,
                        other => {
                            return Err(ctx.fail(Invalid::at(
                                None,
                                "zones",
                                format!(
                                    "unknown zone mode {:?} (expected \"fine\" or \"hands\")",
                                    shown(other)
                                ),
                            )));
                        }
                    });
                }
                "clock" => {
                    if clock.is_some() {
                        return Err(ctx.fail(Invalid::at(None, "clock", "duplicate field")));
                    }
                    ctx.loc = Loc::Top("clock");
                    let [origin, sent] = map.next_value_seed(NumObj {
                        ctx: &mut *ctx,
                        top: "clock",
                        names: ["origin", "sent"],
                    })?;
                    let origin = origin.ok_or_else(|| {
                        ctx.fail(Invalid::at(None, "clock.origin", "missing field"))
                    })?;
                    let sent = sent.ok_or_else(|| {
                        ctx.fail(Invalid::at(None, "clock.sent", "missing field"))
                    })?;
                    clock = Some(Clock { origin, sent });
                }
                "viewport" => {
                    if viewport.is_some() {
                        return Err(ctx.fail(Invalid::at(None, "viewport", "duplicate field")));
                    }
                    ctx.loc = Loc::Top("viewport");
                    let [w, h, dpr] = map.next_value_seed(NumObj {
                        ctx: &mut *ctx,
                        top: "viewport",
                        names: ["w", "h", "dpr"],
                    })?;
                    let w = w.ok_or_else(|| {
                        ctx.fail(Invalid::at(None, "viewport.w", "missing field"))
                    })?;
                    let h = h.ok_or_else(|| {
                        ctx.fail(Invalid::at(None, "viewport.h", "missing field"))
                    })?;
                    let dpr = dpr.ok_or_else(|| {
                        ctx.fail(Invalid::at(None, "viewport.dpr", "missing field"))
                    })?;
                    viewport = Some(Viewport { w, h, dpr });
                }
                "events" => {
                    if events.is_some() {
                        return Err(ctx.fail(Invalid::at(None, "events", "duplicate field")));
                    }
                    ctx.loc = Loc::Top("events");
                    events = Some(map.next_value_seed(EventsSeed { ctx: &mut *ctx })?);
                }
                other => return Err(ctx.fail(Invalid::at(None, shown(other), "unknown field"))),
            }
            ctx.loc = Loc::Root;
        }
        macro_rules! required {
            ($slot:ident, $name:literal) => {
                $slot.ok_or_else(|| ctx.fail(Invalid::at(None, $name, "missing field")))?
            };
        }
        let v = required!(v, "v");
        Ok(Batch {
            v: u32::try_from(v).unwrap_or(u32::MAX),
            session: required!(session, "session"),
            user,
            seq: required!(seq, "seq"),
            zones: zones.unwrap_or_default(),
            dropped: dropped.unwrap_or(0),
            clock: required!(clock, "clock"),
            viewport,
            events: required!(events, "events"),
        })
    }
}

/// A flat object of numbers with known field names (`clock`, `viewport`).
struct NumObj<'c, const N: usize> {
    ctx: &'c mut Ctx,
    top: &'static str,
    names: [&'static str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for NumObj<'_, N> {
    type Value = [Option<f64>; N];
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for NumObj<'_, N> {
    type Value = [Option<f64>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with fields {:?}", self.names)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = [None; N];
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let Some(idx) = self.names.iter().position(|n| *n == key.0.as_ref()) else {
                let field = format!("{}.{}", self.top, shown(&key.0));
                return Err(self.ctx.fail(Invalid::at(None, field, "unknown field")));
            };
            let name = self.names[idx];
            if out[idx].is_some() {
                return Err(self.ctx.fail(Invalid::at(
                    None,
                    format!("{}.{name}", self.top),
                    "duplicate field",
                )));
            }
            self.ctx.loc = Loc::Sub(self.top, name);
            out[idx] = Some(map.next_value::<f64>()?);
        }
        self.ctx.loc = Loc::Top(self.top);
        Ok(out)
    }
}

struct EventsSeed<'c> {
    ctx: &'c mut Ctx,
}

impl<'de> DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = Vec<Event>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Event>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed<'_> {
    type Value = Vec<Event>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Event>, A::Error> {
        let ctx = self.ctx;
        let max = ctx.max_events;
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(64).min(max));
        loop {
            let i = out.len();
            if i == max {
                // Count what is left without keeping it, so the error can say how many.
                let mut n = i;
                ctx.loc = Loc::Top("events");
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                if n > max {
                    return Err(ctx.fail(Invalid::at(
                        None,
                        "events",
                        format!("{n} events, limit is {max}"),
                    )));
                }
                break;
            }
            ctx.loc = Loc::Event(i, None);
            match seq.next_element_seed(EventSeed { ctx: &mut *ctx, i })? {
                Some(e) => out.push(e),
                None => break,
            }
        }
        Ok(out)
    }
}

struct EventSeed<'c> {
    ctx: &'c mut Ctx,
    i: usize,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = Event;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Event, D::Error> {
        d.deserialize_map(self)
    }
}

// Field bits of an event, for "present" and "allowed" masks.
const F_T: u32 = 1;
const F_K: u32 = 1 << 1;
const F_Z: u32 = 1 << 2;
const F_R: u32 = 1 << 3;
const F_X: u32 = 1 << 4;
const F_Y: u32 = 1 << 5;
const F_B: u32 = 1 << 6;
const F_DX: u32 = 1 << 7;
const F_DY: u32 = 1 << 8;
const F_M: u32 = 1 << 9;
const F_SX: u32 = 1 << 10;
const F_SY: u32 = 1 << 11;
const F_ID: u32 = 1 << 12;
const F_P: u32 = 1 << 13;
const F_RX: u32 = 1 << 14;
const F_RY: u32 = 1 << 15;
const F_OP: u32 = 1 << 16;
const F_S: u32 = 1 << 17;
const F_EL: u32 = 1 << 18;
const F_MS: u32 = 1 << 19;

const FIELDS: [(&str, u32); 20] = [
    ("t", F_T),
    ("k", F_K),
    ("z", F_Z),
    ("r", F_R),
    ("x", F_X),
    ("y", F_Y),
    ("b", F_B),
    ("dx", F_DX),
    ("dy", F_DY),
    ("m", F_M),
    ("sx", F_SX),
    ("sy", F_SY),
    ("id", F_ID),
    ("p", F_P),
    ("rx", F_RX),
    ("ry", F_RY),
    ("op", F_OP),
    ("s", F_S),
    ("el", F_EL),
    ("ms", F_MS),
];

fn field_name(bit: u32) -> &'static str {
    FIELDS
        .iter()
        .find(|(_, b)| *b == bit)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

/// Event kind codes and the fields each allows (besides `t` and `k`).
const KINDS: [(&str, u32); 13] = [
    ("kd", F_Z | F_R),
    ("ku", F_Z),
    ("mm", F_X | F_Y | F_B),
    ("md", F_X | F_Y | F_B),
    ("mu", F_X | F_Y | F_B),
    ("wh", F_DX | F_DY | F_M | F_X | F_Y),
    ("sc", F_SX | F_SY),
    ("ts", F_ID | F_X | F_Y | F_P | F_RX | F_RY),
    ("tm", F_ID | F_X | F_Y | F_P | F_RX | F_RY),
    ("te", F_ID | F_X | F_Y | F_P | F_RX | F_RY),
    ("cb", F_OP),
    ("fc", F_S | F_EL),
    ("dw", F_EL | F_MS),
];

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let (ctx, i) = (self.ctx, self.i);
        let mut present = 0u32;
        let (mut t, mut k, mut z, mut r) = (
            None::<f64>,
            None::<&'static str>,
            None::<Zone>,
            None::<bool>,
        );
        let (mut x, mut y, mut b) = (None::<f64>, None::<f64>, None::<u64>);
        let (mut dx, mut dy, mut m, mut sx, mut sy) = (
            None::<f64>,
            None::<f64>,
            None::<u64>,
            None::<f64>,
            None::<f64>,
        );
        let (mut id, mut p, mut rx, mut ry) = (None::<i64>, None::<f64>, None::<f64>, None::<f64>);
        let (mut op, mut s, mut el, mut ms) = (
            None::<ClipboardOp>,
            None::<FocusState>,
            None::<String>,
            None::<f64>,
        );
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let Some(&(name, bit)) = FIELDS.iter().find(|(n, _)| *n == key.0.as_ref()) else {
                return Err(ctx.fail(Invalid::event(i, &shown(&key.0), "unknown field")));
            };
            if present & bit != 0 {
                return Err(ctx.fail(Invalid::event(i, name, "duplicate field")));
            }
            present |= bit;
            ctx.loc = Loc::Event(i, Some(name));
            match bit {
                F_T => t = Some(map.next_value()?),
                F_K => {
                    let code = map.next_value::<Key<'de>>()?;
                    let Some(&(c, _)) = KINDS.iter().find(|(c, _)| *c == code.0.as_ref()) else {
                        let why = format!("unknown event kind {:?}", shown(&code.0));
                        return Err(ctx.fail(Invalid::event(i, "k", why)));
                    };
                    k = Some(c);
                }
                F_Z => {
                    let code = map.next_value::<Key<'de>>()?;
                    match code.0.parse::<Zone>() {
                        Ok(zone) => z = Some(zone),
                        Err(_) => {
                            let why = format!("unknown key zone {:?}", shown(&code.0));
                            return Err(ctx.fail(Invalid::event(i, "z", why)));
                        }
                    }
                }
                F_R => r = Some(map.next_value()?),
                F_X => x = Some(map.next_value()?),
                F_Y => y = Some(map.next_value()?),
                F_B => b = Some(map.next_value()?),
                F_DX => dx = Some(map.next_value()?),
                F_DY => dy = Some(map.next_value()?),
                F_M => m = Some(map.next_value()?),
                F_SX => sx = Some(map.next_value()?),
                F_SY => sy = Some(map.next_value()?),
                F_ID => id = Some(map.next_value()?),
                F_P => p = Some(map.next_value()?),
                F_RX => rx = Some(map.next_value()?),
                F_RY => ry = Some(map.next_value()?),
                F_OP => {
                    let v = map.next_value::<Key<'de>>()?;
                    op = Some(ClipboardOp::parse(&v.0).ok_or_else(|| {
                        ctx.fail(Invalid::event(
                            i,
                            "op",
                            format!(
                                "unknown clipboard operation {:?} (expected copy, cut or paste)",
                                shown(&v.0)
                            ),
                        ))
                    })?);
                }
                F_S => {
                    let v = map.next_value::<Key<'de>>()?;
                    s = Some(FocusState::parse(&v.0).ok_or_else(|| {
                        ctx.fail(Invalid::event(
                            i,
                            "s",
                            format!("unknown focus state {:?}", shown(&v.0)),
                        ))
                    })?);
                }
                F_EL => el = Some(map.next_value()?),
                _ => ms = Some(map.next_value()?),
            }
            ctx.loc = Loc::Event(i, None);
        }
        let Some(t) = t else {
            return Err(ctx.fail(Invalid::event(i, "t", "missing field")));
        };
        let Some(k) = k else {
            return Err(ctx.fail(Invalid::event(i, "k", "missing field")));
        };
        let allowed = KINDS
            .iter()
            .find(|(c, _)| *c == k)
            .map(|(_, a)| *a)
            .unwrap_or(0)
            | F_T
            | F_K;
        let extra = present & !allowed;
        if extra != 0 {
            let bit = 1u32 << extra.trailing_zeros();
            let name = field_name(bit);
            return Err(ctx.fail(Invalid::event(
                i,
                name,
                format!("field not allowed in a {k:?} event"),
            )));
        }
        macro_rules! req {
            ($v:ident) => {
                match $v {
                    Some(v) => v,
                    None => {
                        let why = format!("missing field (required in a {k:?} event)");
                        return Err(ctx.fail(Invalid::event(i, stringify!($v), why)));
                    }
                }
            };
        }
        let button = |ctx: &mut Ctx, b: u64, max: u64| -> Result<u8, A::Error> {
            match u8::try_from(b) {
                Ok(v) if b <= max => Ok(v),
                _ => Err(ctx.fail(Invalid::event(
                    i,
                    "b",
                    format!("{b} is out of range 0..={max}"),
                ))),
            }
        };
        let kind = match k {
            "kd" => EventKind::KeyDown {
                zone: req!(z),
                repeat: r.unwrap_or(false),
            },
            "ku" => EventKind::KeyUp { zone: req!(z) },
            "mm" => {
                let buttons = match b {
                    Some(b) => Some(button(ctx, b, 31)?),
                    None => None,
                };
                EventKind::PointerMove {
                    x: req!(x),
                    y: req!(y),
                    buttons,
                }
            }
            "md" | "mu" => {
                let (x, y) = (req!(x), req!(y));
                let button = button(ctx, req!(b), 5)?;
                if k == "md" {
                    EventKind::PointerDown { x, y, button }
                } else {
                    EventKind::PointerUp { x, y, button }
                }
            }
            "wh" => {
                let code = req!(m);
                let Some(mode) = DeltaMode::from_code(code) else {
                    return Err(ctx.fail(Invalid::event(
                        i,
                        "m",
                        format!("{code} is not a delta mode (0 pixel, 1 line, 2 page)"),
                    )));
                };
                EventKind::Wheel {
                    dx: req!(dx),
                    dy: req!(dy),
                    mode,
                    x,
                    y,
                }
            }
            "sc" => EventKind::Scroll {
                sx: req!(sx),
                sy: req!(sy),
            },
            "ts" | "tm" | "te" => {
                let touch = Touch {
                    id: req!(id),
                    x: req!(x),
                    y: req!(y),
                    pressure: p,
                    rx,
                    ry,
                };
                match k {
                    "ts" => EventKind::TouchStart(touch),
                    "tm" => EventKind::TouchMove(touch),
                    _ => EventKind::TouchEnd(touch),
                }
            }
            "cb" => EventKind::Clipboard { op: req!(op) },
            "fc" => EventKind::Focus { state: req!(s), el },
            _ => EventKind::Dwell {
                el: req!(el),
                ms: req!(ms),
            },
        };
        Ok(Event { t, kind })
    }
}

/// True for a site-chosen label: 1..=`max` chars of `[A-Za-z0-9._:-]`.
pub fn is_valid_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b))
}

fn epoch_ms(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(_) => 0.0,
    }
}

/// Checks every semantic rule of `docs/telemetry.md` on an already typed
/// batch (ranges, ordering, clock skew, labels, zone mode). [`decode`] calls
/// it; it is public for batches built in code.
pub fn validate(batch: &Batch, limits: &Limits, now: SystemTime) -> Result<(), Invalid> {
    let top = |f: &str, why: String| Invalid::at(None, f, why);
    if batch.v != SCHEMA_VERSION {
        return Err(top(
            "v",
            format!(
                "unsupported schema version {}, expected {SCHEMA_VERSION}",
                batch.v
            ),
        ));
    }
    if !is_valid_label(&batch.session, 128) {
        return Err(top(
            "session",
            "must be 1..=128 chars of [A-Za-z0-9._:-]".into(),
        ));
    }
    if let Some(u) = &batch.user
        && (u.is_empty() || u.chars().count() > 256 || u.chars().any(char::is_control))
    {
        return Err(top(
            "user",
            "must be 1..=256 characters without control characters".into(),
        ));
    }
    if batch.seq > MAX_SAFE_INTEGER {
        return Err(top("seq", format!("{} is above 2^53", batch.seq)));
    }
    if batch.dropped > MAX_SAFE_INTEGER {
        return Err(top("dropped", format!("{} is above 2^53", batch.dropped)));
    }
    let Clock { origin, sent } = batch.clock;
    if !(origin.is_finite() && origin > 0.0) {
        return Err(top(
            "clock.origin",
            format!("{origin} is not a positive epoch time in ms"),
        ));
    }
    if !(sent.is_finite() && sent >= 0.0) {
        return Err(top(
            "clock.sent",
            format!("{sent} is not a finite time >= 0"),
        ));
    }
    let skew = origin + sent - epoch_ms(now);
    // Written so that a NaN skew is refused too.
    if skew.is_nan() || skew.abs() > limits.max_clock_skew_ms {
        return Err(top(
            "clock.origin",
            format!(
                "send time clock.origin + clock.sent is {:.1} h {} server time, limit is {:.1} h: too far from server time",
                skew.abs() / 3_600_000.0,
                if skew > 0.0 { "ahead of" } else { "behind" },
                limits.max_clock_skew_ms / 3_600_000.0
            ),
        ));
    }
    if let Some(vp) = batch.viewport {
        for (name, v, max) in [
            ("viewport.w", vp.w, MAX_COORD),
            ("viewport.h", vp.h, MAX_COORD),
            ("viewport.dpr", vp.dpr, 16.0),
        ] {
            if !(v > 0.0 && v <= max) {
                return Err(top(name, format!("{v} is out of range (0, {max}]")));
            }
        }
    }
    let n = batch.events.len();
    if n == 0 {
        return Err(top("events", "no events (at least 1 required)".into()));
    }
    if n > limits.max_events {
        return Err(top(
            "events",
            format!("{n} events, limit is {}", limits.max_events),
        ));
    }
    let first_t = batch.events[0].t;
    let mut prev = f64::NEG_INFINITY;
    for (i, e) in batch.events.iter().enumerate() {
        let t = e.t;
        if !(t.is_finite() && t >= 0.0) {
            return Err(Invalid::event(
                i,
                "t",
                format!("{t} is not a finite time >= 0"),
            ));
        }
        if t < prev {
            return Err(Invalid::event(
                i,
                "t",
                format!("before the previous event ({t} < {prev})"),
            ));
        }
        if t > sent + limits.late_event_tolerance_ms {
            return Err(Invalid::event(
                i,
                "t",
                format!(
                    "{t} is after clock.sent ({sent}) by more than {} ms",
                    limits.late_event_tolerance_ms
                ),
            ));
        }
        if t - first_t > limits.max_span_ms {
            return Err(Invalid::event(
                i,
                "t",
                format!(
                    "batch spans {:.0} ms from its first event, limit is {:.0} ms",
                    t - first_t,
                    limits.max_span_ms
                ),
            ));
        }
        prev = t;
        validate_event(i, &e.kind, batch.zones)?;
    }
    Ok(())
}

fn in_range(i: usize, field: &str, v: f64, lo: f64, hi: f64) -> Result<(), Invalid> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(Invalid::event(
            i,
            field,
            format!("{v} is out of range [{lo}, {hi}]"),
        ))
    }
}

fn validate_event(i: usize, kind: &EventKind, mode: ZoneMode) -> Result<(), Invalid> {
    let xy = |x: f64, y: f64| -> Result<(), Invalid> {
        in_range(i, "x", x, -MAX_COORD, MAX_COORD)?;
        in_range(i, "y", y, -MAX_COORD, MAX_COORD)
    };
    match kind {
        EventKind::KeyDown { zone, .. } | EventKind::KeyUp { zone } => {
            if zone.is_finger() && mode == ZoneMode::Hands {
                return Err(Invalid::event(
                    i,
                    "z",
                    format!("finger zone {zone} in a zones=\"hands\" batch (expected LH or RH)"),
                ));
            }
            if zone.is_hand() && mode == ZoneMode::Fine {
                return Err(Invalid::event(
                    i,
                    "z",
                    format!("hand zone {zone} in a zones=\"fine\" batch (set \"zones\":\"hands\")"),
                ));
            }
        }
        EventKind::PointerMove { x, y, buttons } => {
            xy(*x, *y)?;
            if let Some(b) = buttons.filter(|b| *b > 31) {
                return Err(Invalid::event(
                    i,
                    "b",
                    format!("{b} is out of range 0..=31"),
                ));
            }
        }
        EventKind::PointerDown { x, y, button } | EventKind::PointerUp { x, y, button } => {
            xy(*x, *y)?;
            if *button > 5 {
                return Err(Invalid::event(
                    i,
                    "b",
                    format!("{button} is out of range 0..=5"),
                ));
            }
        }
        EventKind::Wheel { dx, dy, x, y, .. } => {
            in_range(i, "dx", *dx, -MAX_COORD, MAX_COORD)?;
            in_range(i, "dy", *dy, -MAX_COORD, MAX_COORD)?;
            if let Some(x) = x {
                in_range(i, "x", *x, -MAX_COORD, MAX_COORD)?;
            }
            if let Some(y) = y {
                in_range(i, "y", *y, -MAX_COORD, MAX_COORD)?;
            }
        }
        EventKind::Scroll { sx, sy } => {
            in_range(i, "sx", *sx, -MAX_SCROLL, MAX_SCROLL)?;
            in_range(i, "sy", *sy, -MAX_SCROLL, MAX_SCROLL)?;
        }
        EventKind::TouchStart(tc) | EventKind::TouchMove(tc) | EventKind::TouchEnd(tc) => {
            if tc.id.unsigned_abs() > MAX_SAFE_INTEGER {
                return Err(Invalid::event(
                    i,
                    "id",
                    format!("{} is beyond ±2^53", tc.id),
                ));
            }
            xy(tc.x, tc.y)?;
            if let Some(p) = tc.pressure {
                in_range(i, "p", p, 0.0, 1.0)?;
            }
            if let Some(r) = tc.rx {
                in_range(i, "rx", r, 0.0, MAX_RADIUS)?;
            }
            if let Some(r) = tc.ry {
                in_range(i, "ry", r, 0.0, MAX_RADIUS)?;
            }
        }
        EventKind::Clipboard { .. } => {}
        EventKind::Focus { el, .. } => {
            if let Some(el) = el.as_deref().filter(|el| !is_valid_label(el, 64)) {
                return Err(Invalid::event(
                    i,
                    "el",
                    format!("{:?} is not 1..=64 chars of [A-Za-z0-9._:-]", shown(el)),
                ));
            }
        }
        EventKind::Dwell { el, ms } => {
            if !is_valid_label(el, 64) {
                return Err(Invalid::event(
                    i,
                    "el",
                    format!("{:?} is not 1..=64 chars of [A-Za-z0-9._:-]", shown(el)),
                ));
            }
            in_range(i, "ms", *ms, 0.0, MAX_DWELL_MS)?;
        }
    }
    Ok(())
}
