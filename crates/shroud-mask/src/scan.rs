//! The streaming JSON rewriter: one pass over the input bytes that validates the grammar,
//! tracks where it is (via a [`Handler`] that sees every key, index and scalar), and copies
//! every untouched byte range to the output with one `memcpy`, splicing in only replaced values.
//!
//! Hand-written because no maintained crate does this: `serde_json` (tree or visitor) and
//! `simd-json`/`sonic-rs` parse into values or tapes and re-serialize, losing the byte-exact
//! passthrough and costing an allocation per value; `struson`/`jiter` read tokens but do not
//! rewrite in place. Here the untouched 99% of a response is never decoded, never re-encoded,
//! and the output is byte-identical outside replaced values (whitespace and key order kept).
//! It never panics: every index is checked, depth is bounded before recursion, errors carry
//! line and column (computed only when an error happens).

use std::borrow::Cow;

use crate::error::{MaskError, line_col};

/// What to do with a scalar value.
pub(crate) enum Action {
    /// Copy it through unchanged.
    Keep,
    /// Replace it with this JSON text (already quoted/escaped as needed).
    Replace(Vec<u8>),
    /// Remove the object member (in arrays and at the top level: `null`).
    Remove,
}

/// The decisions the walker asks for; `Ctx` is the handler's per-value context (path state).
pub(crate) trait Handler {
    type Ctx: Copy;
    fn root(&mut self) -> Self::Ctx;
    /// Context of the value under `key`; `true` = remove the whole member without looking inside.
    fn key(&mut self, parent: &Self::Ctx, key: &str) -> (Self::Ctx, bool);
    /// Context of array element `idx`.
    fn index(&mut self, parent: &Self::Ctx, idx: usize) -> Self::Ctx;
    /// Called once the value of a context has been walked.
    fn exit(&mut self, ctx: &Self::Ctx);
    fn string(&mut self, ctx: &Self::Ctx, text: &str) -> Result<Action, MaskError>;
    /// Numbers, `true`, `false`, `null` (raw text).
    fn scalar(&mut self, ctx: &Self::Ctx, raw: &str) -> Result<Action, MaskError>;
}

/// Limits enforced while walking.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalkLimits {
    pub max_depth: usize,
    pub max_string_bytes: usize,
}

pub(crate) struct Walker<'a, H: Handler> {
    input: &'a [u8],
    /// The same bytes, validated once as UTF-8: strings are sliced from it at their (ASCII)
    /// quotes, which needs no further validation per string.
    src: &'a str,
    pos: usize,
    out: Vec<u8>,
    copied: usize,
    limits: WalkLimits,
    h: &'a mut H,
    /// Line offset added to error positions (NDJSON lines).
    line_offset: usize,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Walks `input` (one JSON document) and returns the rewritten bytes.
pub(crate) fn walk<H: Handler>(
    input: &[u8],
    limits: WalkLimits,
    h: &mut H,
    line_offset: usize,
) -> Result<Vec<u8>, MaskError> {
    let src = match std::str::from_utf8(input) {
        Ok(s) => s,
        Err(e) => {
            let (line, column) = line_col(input, e.valid_up_to());
            let reason = "invalid UTF-8".to_string();
            return Err(MaskError::Syntax {
                line: line + line_offset,
                column,
                reason,
            });
        }
    };
    let mut w = Walker {
        input,
        src,
        pos: 0,
        out: Vec::new(),
        copied: 0,
        limits,
        h,
        line_offset,
    };
    w.out.reserve(input.len() + input.len() / 16);
    if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        w.pos = 3;
    }
    w.ws();
    if w.pos >= input.len() {
        return Err(w.err("empty document: expected a JSON value"));
    }
    let ctx = w.h.root();
    let remove = w.value(&ctx, 0, true)?;
    w.h.exit(&ctx);
    if remove {
        w.out.clear();
        w.out.extend_from_slice(b"null");
        w.copied = w.pos;
    }
    w.ws();
    if w.pos < input.len() {
        return Err(w.err("unexpected characters after the JSON value"));
    }
    w.flush(input.len());
    Ok(w.out)
}

impl<H: Handler> Walker<'_, H> {
    fn err(&self, reason: &str) -> MaskError {
        self.err_at(self.pos, reason)
    }

    fn err_at(&self, pos: usize, reason: &str) -> MaskError {
        let (line, column) = line_col(self.input, pos);
        MaskError::Syntax {
            line: line + self.line_offset,
            column,
            reason: reason.to_string(),
        }
    }

    fn limit(&self, what: &'static str, limit: usize, setting: &'static str) -> MaskError {
        let (line, column) = line_col(self.input, self.pos);
        MaskError::Limit {
            what,
            limit,
            setting,
            line: line + self.line_offset,
            column,
        }
    }

    fn flush(&mut self, to: usize) {
        if to > self.copied {
            self.out.extend_from_slice(&self.input[self.copied..to]);
            self.copied = to;
        }
    }

    fn ws(&mut self) {
        while self.pos < self.input.len() && is_ws(self.input[self.pos]) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Walks one value; returns `true` when the handler asked to remove it.
    fn value(&mut self, ctx: &H::Ctx, depth: usize, live: bool) -> Result<bool, MaskError> {
        match self.peek() {
            Some(b'{') => self.object(ctx, depth + 1, live).map(|()| false),
            Some(b'[') => self.array(ctx, depth + 1, live).map(|()| false),
            Some(b'"') => {
                let start = self.pos;
                let escaped = self.string()?;
                if !live {
                    return Ok(false);
                }
                let src = self.src;
                let text: Cow<'_, str> = if escaped {
                    Cow::Owned(self.unescape(start)?)
                } else {
                    match src.get(start + 1..self.pos - 1) {
                        Some(s) => Cow::Borrowed(s),
                        None => return Err(self.err_at(start, "invalid UTF-8")),
                    }
                };
                let end = self.pos;
                let action = self.h.string(ctx, &text)?;
                self.apply(action, start, end)
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.number()?;
                self.scalar_done(ctx, start, live)
            }
            Some(b't') => self.literal(b"true", ctx, live),
            Some(b'f') => self.literal(b"false", ctx, live),
            Some(b'n') => self.literal(b"null", ctx, live),
            Some(_) => Err(self.err("expected a JSON value")),
            None => Err(self.err("unexpected end of input: expected a JSON value")),
        }
    }

    fn apply(&mut self, action: Action, start: usize, end: usize) -> Result<bool, MaskError> {
        match action {
            Action::Keep => Ok(false),
            Action::Remove => Ok(true),
            Action::Replace(bytes) => {
                self.flush(start);
                self.out.extend_from_slice(&bytes);
                self.copied = end;
                Ok(false)
            }
        }
    }

    fn literal(&mut self, lit: &'static [u8], ctx: &H::Ctx, live: bool) -> Result<bool, MaskError> {
        if self.input.get(self.pos..self.pos + lit.len()) != Some(lit) {
            return Err(self.err("invalid literal (expected true, false or null)"));
        }
        let start = self.pos;
        self.pos += lit.len();
        self.scalar_done(ctx, start, live)
    }

    fn scalar_done(&mut self, ctx: &H::Ctx, start: usize, live: bool) -> Result<bool, MaskError> {
        if !live {
            return Ok(false);
        }
        let end = self.pos;
        let src = self.src;
        let raw = src
            .get(start..end)
            .ok_or_else(|| self.err_at(start, "invalid UTF-8"))?;
        let action = self.h.scalar(ctx, raw)?;
        self.apply(action, start, end)
    }

    fn number(&mut self) -> Result<(), MaskError> {
        let b = self.input;
        let digits = |p: &mut usize| {
            let s = *p;
            while *p < b.len() && b[*p].is_ascii_digit() {
                *p += 1;
            }
            *p - s
        };
        let mut p = self.pos;
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        match b.get(p) {
            Some(b'0') => p += 1,
            Some(b'1'..=b'9') => {
                digits(&mut p);
            }
            _ => return Err(self.err_at(p, "invalid number: expected a digit")),
        }
        if b.get(p) == Some(&b'.') {
            p += 1;
            if digits(&mut p) == 0 {
                return Err(self.err_at(p, "invalid number: expected a digit after '.'"));
            }
        }
        if matches!(b.get(p), Some(b'e' | b'E')) {
            p += 1;
            if matches!(b.get(p), Some(b'+' | b'-')) {
                p += 1;
            }
            if digits(&mut p) == 0 {
                return Err(self.err_at(p, "invalid number: expected a digit in the exponent"));
            }
        }
        if p - self.pos > self.limits.max_string_bytes {
            return Err(self.limit(
                "number length",
                self.limits.max_string_bytes,
                "max_string_bytes",
            ));
        }
        self.pos = p;
        Ok(())
    }

    /// Scans a string starting at the opening quote; leaves `pos` after the closing quote.
    /// Returns whether it contains escapes.
    fn string(&mut self) -> Result<bool, MaskError> {
        let b = self.input;
        let start = self.pos;
        let mut i = self.pos + 1;
        let mut escaped = false;
        loop {
            let Some(off) = memchr::memchr2(b'"', b'\\', &b[i..]) else {
                return Err(self.err_at(start, "unterminated string"));
            };
            let chunk = &b[i..i + off];
            if chunk.iter().fold(false, |a, &c| a | (c < 0x20)) {
                let bad = chunk.iter().position(|&c| c < 0x20).unwrap_or(0);
                return Err(self.err_at(
                    i + bad,
                    "control character inside a string (must be escaped)",
                ));
            }
            i += off;
            if i - start > self.limits.max_string_bytes {
                self.pos = start;
                return Err(self.limit(
                    "string length",
                    self.limits.max_string_bytes,
                    "max_string_bytes",
                ));
            }
            if b[i] == b'"' {
                self.pos = i + 1;
                return Ok(escaped);
            }
            escaped = true;
            match b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = b
                        .get(i + 2..i + 6)
                        .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                    if hex.is_none() {
                        return Err(self.err_at(i, "invalid \\u escape (expected 4 hex digits)"));
                    }
                    i += 6;
                }
                _ => return Err(self.err_at(i, "invalid escape in string")),
            }
        }
    }

    /// Decodes the (already validated) string starting at `start`.
    fn unescape(&self, start: usize) -> Result<String, MaskError> {
        let b = &self.input[start + 1..self.pos - 1];
        let mut s = String::with_capacity(b.len());
        let mut i = 0;
        let hex4 = |i: usize| -> u32 {
            b.get(i..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .unwrap_or(0xFFFF_FFFF)
        };
        while i < b.len() {
            let Some(off) = memchr::memchr(b'\\', &b[i..]) else {
                s.push_str(
                    std::str::from_utf8(&b[i..])
                        .map_err(|_| self.err_at(start, "invalid UTF-8"))?,
                );
                break;
            };
            s.push_str(
                std::str::from_utf8(&b[i..i + off])
                    .map_err(|_| self.err_at(start, "invalid UTF-8"))?,
            );
            i += off;
            let c = b.get(i + 1).copied().unwrap_or(b'?');
            i += 2;
            match c {
                b'"' => s.push('"'),
                b'\\' => s.push('\\'),
                b'/' => s.push('/'),
                b'b' => s.push('\u{8}'),
                b'f' => s.push('\u{c}'),
                b'n' => s.push('\n'),
                b'r' => s.push('\r'),
                b't' => s.push('\t'),
                _ => {
                    let hi = hex4(i);
                    i += 4;
                    let code = if (0xD800..0xDC00).contains(&hi) {
                        if b.get(i..i + 2) != Some(b"\\u") {
                            return Err(self.err_at(start + 1 + i, "lone surrogate in \\u escape"));
                        }
                        let lo = hex4(i + 2);
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(
                                self.err_at(start + 1 + i, "invalid surrogate pair in \\u escape")
                            );
                        }
                        i += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        hi
                    };
                    match char::from_u32(code) {
                        Some(ch) => s.push(ch),
                        None => {
                            return Err(
                                self.err_at(start + 1 + i, "invalid \\u escape (lone surrogate)")
                            );
                        }
                    }
                }
            }
        }
        Ok(s)
    }

    fn enter(&self, depth: usize) -> Result<(), MaskError> {
        if depth > self.limits.max_depth {
            return Err(self.limit("nesting depth", self.limits.max_depth, "max_depth"));
        }
        Ok(())
    }

    fn object(&mut self, ctx: &H::Ctx, depth: usize, live: bool) -> Result<(), MaskError> {
        self.enter(depth)?;
        self.pos += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut comma_before: Option<usize> = None;
        let mut skip_comma = false;
        loop {
            self.ws();
            let member_start = self.pos;
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let escaped = self.string()?;
            let key_end = self.pos;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':' after the key"));
            }
            self.pos += 1;
            self.ws();
            let remove = if live {
                let key: Cow<'_, str> = if escaped {
                    Cow::Owned(self.unescape_range(member_start, key_end)?)
                } else {
                    let src = self.src;
                    Cow::Borrowed(
                        src.get(member_start + 1..key_end - 1)
                            .ok_or_else(|| self.err_at(member_start, "invalid UTF-8"))?,
                    )
                };
                let (cctx, remove_whole) = self.h.key(ctx, &key);
                let removed = if remove_whole {
                    self.value(&cctx, depth, false)?;
                    true
                } else {
                    self.value(&cctx, depth, true)?
                };
                self.h.exit(&cctx);
                removed
            } else {
                self.value(ctx, depth, false)?
            };
            if remove {
                let value_end = self.pos;
                match comma_before {
                    Some(c) if c >= self.copied => {
                        self.flush(c);
                        self.copied = value_end;
                    }
                    _ => {
                        self.flush(member_start);
                        self.copied = value_end;
                        skip_comma = true;
                    }
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    if skip_comma {
                        self.ws();
                        self.copied = self.pos;
                        skip_comma = false;
                        comma_before = None;
                    } else {
                        comma_before = Some(self.pos - 1);
                    }
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}' in object")),
            }
        }
    }

    fn unescape_range(&mut self, start: usize, end: usize) -> Result<String, MaskError> {
        let saved = self.pos;
        self.pos = end;
        let r = self.unescape(start);
        self.pos = saved;
        r
    }

    fn array(&mut self, ctx: &H::Ctx, depth: usize, live: bool) -> Result<(), MaskError> {
        self.enter(depth)?;
        self.pos += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        let mut idx = 0usize;
        loop {
            self.ws();
            if live {
                let cctx = self.h.index(ctx, idx);
                let start = self.pos;
                let remove = self.value(&cctx, depth, true)?;
                self.h.exit(&cctx);
                if remove {
                    self.flush(start);
                    self.out.extend_from_slice(b"null");
                    self.copied = self.pos;
                }
            } else {
                self.value(ctx, depth, false)?;
            }
            idx += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']' in array")),
            }
        }
    }
}

/// Appends `s` as a JSON string literal (with quotes) to `out`.
pub(crate) fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut last = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: Option<&[u8]> = match c {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&b[last..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
        }
        last = i + 1;
    }
    out.extend_from_slice(&b[last..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removes members named "x", replaces strings "s" with "S", keeps the rest.
    struct T;
    impl Handler for T {
        type Ctx = bool;
        fn root(&mut self) -> bool {
            false
        }
        fn key(&mut self, _: &bool, key: &str) -> (bool, bool) {
            (key == "x", false)
        }
        fn index(&mut self, _: &bool, _: usize) -> bool {
            false
        }
        fn exit(&mut self, _: &bool) {}
        fn string(&mut self, rm: &bool, text: &str) -> Result<Action, MaskError> {
            Ok(if *rm {
                Action::Remove
            } else if text == "s" {
                Action::Replace(b"\"S\"".to_vec())
            } else {
                Action::Keep
            })
        }
        fn scalar(&mut self, rm: &bool, _: &str) -> Result<Action, MaskError> {
            Ok(if *rm { Action::Remove } else { Action::Keep })
        }
    }

    fn run(s: &str) -> Result<String, MaskError> {
        let l = WalkLimits {
            max_depth: 8,
            max_string_bytes: 64,
        };
        walk(s.as_bytes(), l, &mut T, 0).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn passthrough_and_replace() {
        let doc =
            "{ \"a\" : [1, -2.5e3, true, null, \"s\", \"t\\u00e9\"],\n \"b\": {\"c\": \"s\"} }";
        assert_eq!(run(doc).unwrap(), doc.replace("\"s\"", "\"S\""));
    }

    #[test]
    fn removal_keeps_valid_json() {
        for (i, o) in [
            (r#"{"x":1,"a":2}"#, r#"{"a":2}"#),
            (r#"{"a":1,"x":2}"#, r#"{"a":1}"#),
            (r#"{"x":1,"x":"2"}"#, r#"{}"#),
            (r#"{"a":1,"x":2,"b":3}"#, r#"{"a":1,"b":3}"#),
            (r#"{"x":1, "a":2, "x":3}"#, r#"{"a":2}"#),
        ] {
            assert_eq!(run(i).unwrap(), o);
        }
    }

    #[test]
    fn errors_have_positions() {
        let e = run("{\"a\":\n  tru}").unwrap_err().to_string();
        assert!(e.contains("line 2, column 3"), "{e}");
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "\"\\x\"",
            "01",
            "1.",
            "[1] x",
            "\"\u{1}\"",
            "\"\\ud800\"",
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
        assert!(
            run("[[[[[[[[[[1]]]]]]]]]]")
                .unwrap_err()
                .to_string()
                .contains("nesting depth")
        );
        assert!(
            run(&format!("\"{}\"", "a".repeat(100)))
                .unwrap_err()
                .to_string()
                .contains("string length")
        );
    }

    #[test]
    fn escapes_round_trip() {
        let mut out = Vec::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}é");
        let v: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, "a\"b\\c\nd\u{1}é");
    }
}
