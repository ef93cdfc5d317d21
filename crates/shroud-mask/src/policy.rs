//! The masking [`Policy`]: selectors, detector switches, class → technique per level, redaction
//! and tokenization options, key references and limits. Loaded from TOML and validated on load;
//! every error names the line. [`Policy::default`] is the built-in policy: all detectors on,
//! every class masked at exactly the requested level.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::class::{DataClass, Kind};
use crate::detect::Detectors;
use crate::level::Level;

/// A policy that failed to load.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}: {reason}")]
pub struct PolicyError {
    /// File name (or `policy`).
    pub origin: String,
    /// 1-based line of the offending entry.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// How `redact` masks a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactMode {
    /// Keep a part (last digits of cards/SSNs/IBANs/phones, the domain of an email); other kinds
    /// get a placeholder such as `[NAME]`.
    Partial,
    /// Replace with a placeholder such as `[CARD]`.
    Full,
    /// Remove the object member (array elements become `null`; spans in text get a placeholder).
    Remove,
}

/// One compiled selector step of a JSONPath-like path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// `.name` / `['name']` (lower-cased; compared case-insensitively).
    Name(String),
    /// `.*` / `[*]`.
    Any,
    /// `[3]`.
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub seg: Seg,
    /// Preceded by `..` (matches at any depth below).
    pub deep: bool,
}

impl Step {
    pub(crate) fn matches_key(&self, key: &str) -> bool {
        match &self.seg {
            Seg::Name(n) => n.eq_ignore_ascii_case(key),
            Seg::Any => true,
            Seg::Index(_) => false,
        }
    }
    pub(crate) fn matches_index(&self, idx: usize) -> bool {
        match &self.seg {
            Seg::Index(i) => *i == idx,
            Seg::Any => true,
            Seg::Name(_) => false,
        }
    }
}

/// What a selector matches.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Path(Vec<Step>),
    /// Key-name glob (lower-cased pattern; `*` and `?`).
    Key(String),
}

/// A compiled selector.
#[derive(Debug, Clone)]
pub(crate) struct Selector {
    pub target: Target,
    pub class: DataClass,
    pub kind: Option<Kind>,
    pub redact: Option<RedactMode>,
}

/// Per-class rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClassRule {
    /// Technique used at each requested level (indexed by `Level as usize`), never below it.
    pub techniques: [Level; 6],
    pub redact: RedactMode,
    pub keep_last: Option<usize>,
}

/// Tokenize options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenizeOpts {
    pub deterministic: bool,
    pub format_preserving: bool,
    pub keep_last: usize,
    pub ttl: Option<Duration>,
}

/// Encrypt options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncryptOpts {
    pub deterministic: bool,
    pub format_preserving: bool,
}

/// Limits on input, each configurable under `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document (or NDJSON body) in bytes. Default 64 MiB.
    pub max_bytes: usize,
    /// Deepest nesting of objects/arrays. Default 128, at most 1000.
    pub max_depth: usize,
    /// Longest string (or number) in bytes. Default 16 MiB.
    pub max_string_bytes: usize,
    /// Largest image body (`mask_image`, data URIs) in bytes. Default 16 MiB.
    pub max_image_bytes: usize,
    /// Largest image in pixels (width × height). Default 40 million.
    pub max_image_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 20,
            max_depth: 128,
            max_string_bytes: 16 << 20,
            max_image_bytes: 16 << 20,
            max_image_pixels: 40_000_000,
        }
    }
}

/// Where keys come from (resolved by the caller, e.g. the CLI or the gateway config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRefs {
    /// A key file (see [`crate::KeyRing::from_file`]), relative to the working directory.
    pub file: Option<PathBuf>,
    /// An environment variable holding keys (see [`crate::KeyRing::from_env_value`]).
    pub env: Option<String>,
}

/// A validated masking policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) detectors: Detectors,
    pub(crate) selectors: Vec<Selector>,
    pub(crate) classes: [ClassRule; 6],
    pub(crate) tokenize: TokenizeOpts,
    pub(crate) encrypt: EncryptOpts,
    pub(crate) email_keep_domain: bool,
    pub(crate) limits: Limits,
    pub(crate) keys: KeyRefs,
}

impl Default for Policy {
    fn default() -> Self {
        let rule = ClassRule {
            techniques: Level::ALL,
            redact: RedactMode::Partial,
            keep_last: None,
        };
        Policy {
            detectors: Detectors::default(),
            selectors: Vec::new(),
            classes: [rule; 6],
            tokenize: TokenizeOpts {
                deterministic: true,
                format_preserving: true,
                keep_last: 4,
                ttl: None,
            },
            encrypt: EncryptOpts {
                deterministic: true,
                format_preserving: true,
            },
            email_keep_domain: true,
            limits: Limits::default(),
            keys: KeyRefs::default(),
        }
    }
}

// ---- the TOML shape -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    detectors: Option<Detectors>,
    #[serde(default)]
    selectors: Vec<Spanned<RawSelector>>,
    #[serde(default)]
    classes: std::collections::BTreeMap<Spanned<String>, Spanned<RawClass>>,
    #[serde(default)]
    redact: Option<RawRedact>,
    #[serde(default)]
    tokenize: Option<Spanned<RawTokenize>>,
    #[serde(default)]
    encrypt: Option<RawEncrypt>,
    #[serde(default)]
    keys: Option<RawKeys>,
    #[serde(default)]
    limits: Option<Spanned<RawLimits>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelector {
    path: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    class: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    redact: Option<RedactMode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    none: Option<Spanned<String>>,
    redact: Option<Spanned<String>>,
    substitute: Option<Spanned<String>>,
    tokenize: Option<Spanned<String>>,
    encrypt: Option<Spanned<String>>,
    redact_mode: Option<RedactMode>,
    keep_last: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedact {
    email_keep_domain: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokenize {
    mode: Option<Spanned<String>>,
    format_preserving: Option<bool>,
    keep_last: Option<usize>,
    ttl: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEncrypt {
    deterministic: Option<bool>,
    format_preserving: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    file: Option<PathBuf>,
    env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_bytes: Option<usize>,
    max_depth: Option<usize>,
    max_string_bytes: Option<usize>,
    max_image_bytes: Option<usize>,
    max_image_pixels: Option<u64>,
}

/// Parses a duration like `90s`, `15m`, `12h`, `30d`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("invalid duration `{s}` (expected e.g. 90s, 15m, 12h, 30d)"))?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("invalid duration unit in `{s}` (use s, m, h or d)")),
    };
    if n == 0 {
        return Err("duration must be positive".into());
    }
    Ok(Duration::from_secs(n.saturating_mul(mul)))
}

/// Parses a JSONPath-like selector: `$`, `.name`, `['name']`, `.*`, `[*]`, `[N]`, `..name`.
pub(crate) fn parse_path(p: &str) -> Result<Vec<Step>, String> {
    let b = p.trim();
    let Some(mut rest) = b.strip_prefix('$') else {
        return Err(format!("path `{p}` must start with `$`"));
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let mut deep = false;
        if let Some(r) = rest.strip_prefix("..") {
            deep = true;
            rest = r;
            if rest.starts_with('[') {
                // `..[*]` style: fall through to the bracket branch.
            }
        } else if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else if !rest.starts_with('[') {
            return Err(format!("path `{p}`: expected `.`, `..` or `[` at `{rest}`"));
        }
        if let Some(r) = rest.strip_prefix('[') {
            let Some(close) = r.find(']') else {
                return Err(format!("path `{p}`: missing `]`"));
            };
            let inner = r[..close].trim();
            rest = &r[close + 1..];
            let seg = if inner == "*" {
                Seg::Any
            } else if let Ok(i) = inner.parse::<usize>() {
                Seg::Index(i)
            } else if inner.len() >= 2
                && ((inner.starts_with('\'') && inner.ends_with('\''))
                    || (inner.starts_with('"') && inner.ends_with('"')))
            {
                Seg::Name(inner[1..inner.len() - 1].to_lowercase())
            } else {
                return Err(format!(
                    "path `{p}`: `[{inner}]` must be `[*]`, `[N]` or `['name']`"
                ));
            };
            steps.push(Step { seg, deep });
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            if name.is_empty() {
                return Err(format!("path `{p}`: empty name"));
            }
            let seg = if name == "*" {
                Seg::Any
            } else {
                Seg::Name(name.to_lowercase())
            };
            steps.push(Step { seg, deep });
        }
    }
    Ok(steps)
}

/// Case-insensitive glob match (`*` any run, `?` one character); `pat` is lower case.
pub(crate) fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let (mut star, mut mark) = (usize::MAX, 0);
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == s[i].to_ascii_lowercase()) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = p;
            mark = i;
            p += 1;
        } else if star != usize::MAX {
            p = star + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

impl Policy {
    /// Parses and validates a TOML policy; `origin` names it in errors (usually the file name).
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let line_of = |span: std::ops::Range<usize>| {
            text[..span.start.min(text.len())].matches('\n').count() + 1
        };
        let err = |span: std::ops::Range<usize>, reason: String| PolicyError {
            origin: origin.into(),
            line: line_of(span),
            reason,
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError {
            origin: origin.into(),
            line: e.span().map_or(1, line_of),
            reason: e.message().trim().to_string(),
        })?;
        let mut p = Policy::default();
        if let Some(d) = raw.detectors {
            p.detectors = d;
        }
        for sel in &raw.selectors {
            let span = sel.span();
            let s = sel.get_ref();
            let target = match (&s.path, &s.key) {
                (Some(path), None) => {
                    Target::Path(parse_path(path.get_ref()).map_err(|r| err(path.span(), r))?)
                }
                (None, Some(key)) => {
                    let k = key.get_ref().trim().to_lowercase();
                    if k.is_empty() || k.bytes().all(|c| c == b'*') {
                        return Err(err(
                            key.span(),
                            format!("key pattern `{}` would match every key", key.get_ref()),
                        ));
                    }
                    Target::Key(k)
                }
                _ => {
                    return Err(err(
                        span,
                        "a selector needs exactly one of `path` or `key`".into(),
                    ));
                }
            };
            let kind = match &s.kind {
                Some(k) => Some(Kind::from_str(k.get_ref()).map_err(|r| err(k.span(), r))?),
                None => None,
            };
            let class = match &s.class {
                Some(c) => DataClass::from_str(c.get_ref()).map_err(|r| err(c.span(), r))?,
                None => kind.map_or(DataClass::Confidential, Kind::default_class),
            };
            p.selectors.push(Selector {
                target,
                class,
                kind,
                redact: s.redact,
            });
        }
        for (name, rule) in &raw.classes {
            let class = DataClass::from_str(name.get_ref()).map_err(|r| err(name.span(), r))?;
            let r = rule.get_ref();
            let mut cr = p.classes[class.index()];
            for (lvl, v) in [
                (Level::None, &r.none),
                (Level::Redact, &r.redact),
                (Level::Substitute, &r.substitute),
                (Level::Tokenize, &r.tokenize),
                (Level::Encrypt, &r.encrypt),
            ] {
                if let Some(v) = v {
                    let t =
                        Level::from_str(v.get_ref()).map_err(|e| err(v.span(), e.to_string()))?;
                    if t < lvl {
                        return Err(err(
                            v.span(),
                            format!(
                                "classes.{}.{lvl} = \"{t}\" would weaken the level; a class may only be masked more strongly",
                                class
                            ),
                        ));
                    }
                    cr.techniques[lvl as usize] = t;
                }
            }
            if let Some(m) = r.redact_mode {
                cr.redact = m;
            }
            if let Some(k) = r.keep_last {
                if k > 8 {
                    return Err(err(
                        rule.span(),
                        format!(
                            "classes.{class}.keep_last = {k}: at most 8 characters may be kept"
                        ),
                    ));
                }
                cr.keep_last = Some(k);
            }
            // Stronger levels must stay at least as strong as weaker ones' techniques.
            for i in 1..6 {
                if cr.techniques[i] < cr.techniques[i - 1] {
                    cr.techniques[i] = cr.techniques[i - 1];
                }
            }
            p.classes[class.index()] = cr;
        }
        if let Some(r) = raw.redact
            && let Some(d) = r.email_keep_domain
        {
            {
                p.email_keep_domain = d;
            }
        }
        if let Some(t) = &raw.tokenize {
            let span = t.span();
            let t = t.get_ref();
            if let Some(m) = &t.mode {
                p.tokenize.deterministic = match m.get_ref().as_str() {
                    "deterministic" => true,
                    "random" => false,
                    other => {
                        return Err(err(
                            m.span(),
                            format!(
                                "tokenize.mode `{other}`: expected `deterministic` or `random`"
                            ),
                        ));
                    }
                };
            }
            if let Some(f) = t.format_preserving {
                p.tokenize.format_preserving = f;
            }
            if let Some(k) = t.keep_last {
                if k != 0 && k != 4 {
                    return Err(err(
                        span,
                        format!("tokenize.keep_last = {k}: only 0 or 4 are supported"),
                    ));
                }
                p.tokenize.keep_last = k;
            }
            if let Some(ttl) = &t.ttl {
                p.tokenize.ttl =
                    Some(parse_duration(ttl.get_ref()).map_err(|r| err(ttl.span(), r))?);
            }
        }
        if let Some(e) = raw.encrypt {
            if let Some(d) = e.deterministic {
                p.encrypt.deterministic = d;
            }
            if let Some(f) = e.format_preserving {
                p.encrypt.format_preserving = f;
            }
        }
        if let Some(k) = raw.keys {
            p.keys = KeyRefs {
                file: k.file,
                env: k.env,
            };
        }
        if let Some(l) = &raw.limits {
            let span = l.span();
            let l = l.get_ref();
            let pos = |v: Option<usize>, name: &str, cur: usize| -> Result<usize, PolicyError> {
                match v {
                    Some(0) => Err(err(span.clone(), format!("limits.{name} must be positive"))),
                    Some(v) => Ok(v),
                    None => Ok(cur),
                }
            };
            p.limits.max_bytes = pos(l.max_bytes, "max_bytes", p.limits.max_bytes)?;
            p.limits.max_depth = pos(l.max_depth, "max_depth", p.limits.max_depth)?;
            if p.limits.max_depth > 1000 {
                return Err(err(
                    span,
                    "limits.max_depth may be at most 1000 (deeper recursion risks the stack)"
                        .into(),
                ));
            }
            p.limits.max_string_bytes = pos(
                l.max_string_bytes,
                "max_string_bytes",
                p.limits.max_string_bytes,
            )?;
            p.limits.max_image_bytes = pos(
                l.max_image_bytes,
                "max_image_bytes",
                p.limits.max_image_bytes,
            )?;
            if let Some(px) = l.max_image_pixels {
                p.limits.max_image_pixels = px.max(1);
            }
        }
        Ok(p)
    }

    /// Reads and validates a policy file.
    pub fn from_file(path: &std::path::Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            origin: path.display().to_string(),
            line: 0,
            reason: format!("cannot read: {e}"),
        })?;
        Policy::from_toml(&text, &path.display().to_string())
    }

    /// The built-in policy with only the given selectors and no content detectors: the
    /// "selectors only" configuration.
    pub fn selectors_only(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let mut p = Policy::from_toml(text, origin)?;
        p.detectors = Detectors::all(false);
        Ok(p)
    }

    /// The technique used for `class` when `level` is requested (never below `level`).
    pub fn technique(&self, class: DataClass, level: Level) -> Level {
        self.classes[class.index()].techniques[level as usize].max(level)
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the limits (e.g. from the gateway's configuration).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Where this policy says keys come from.
    pub fn key_refs(&self) -> &KeyRefs {
        &self.keys
    }

    /// The detector switches.
    pub fn detectors(&self) -> &Detectors {
        &self.detectors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("$.a[*].b").unwrap().len(), 3);
        assert_eq!(
            parse_path("$..ssn").unwrap(),
            vec![Step {
                seg: Seg::Name("ssn".into()),
                deep: true
            }]
        );
        assert_eq!(
            parse_path("$['X y'][2]").unwrap()[1],
            Step {
                seg: Seg::Index(2),
                deep: false
            }
        );
        assert!(parse_path("a.b").is_err());
        assert!(parse_path("$.a[").is_err());
        assert!(parse_path("$.a[x]").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*card*", b"CreditCardNumber"));
        assert!(glob_match(b"ssn", b"SSN"));
        assert!(!glob_match(b"ssn", b"ssn2"));
        assert!(glob_match(b"a?c*", b"abcdef"));
        assert!(!glob_match(b"*card", b"cards"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = Policy::from_toml(
            "[classes.pci]\nredact = \"redact\"\ntokenize = \"substitute\"\n",
            "p.toml",
        )
        .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.to_string().contains("weaken"), "{e}");
        let e = Policy::from_toml("\n[[selectors]]\npath = \"customers\"\n", "p").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = Policy::from_toml("[detectors]\ncard = true\nbogus = 1\n", "p").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = Policy::from_toml("[tokenize]\nttl = \"3 weeks\"\n", "p").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = Policy::from_toml("[limits]\nmax_depth = 0\n", "p").unwrap_err();
        assert!(e.to_string().contains("max_depth"), "{e}");
    }

    #[test]
    fn strengthen_only() {
        let p = Policy::from_toml(
            "[classes.secret]\nnone = \"redact\"\nsubstitute = \"encrypt\"\n",
            "p",
        )
        .unwrap();
        assert_eq!(p.technique(DataClass::Secret, Level::None), Level::Redact);
        assert_eq!(
            p.technique(DataClass::Secret, Level::Substitute),
            Level::Encrypt
        );
        assert_eq!(
            p.technique(DataClass::Secret, Level::Tokenize),
            Level::Encrypt
        );
        assert_eq!(
            p.technique(DataClass::Pii, Level::Tokenize),
            Level::Tokenize
        );
        assert_eq!(p.technique(DataClass::Pii, Level::Block), Level::Block);
    }
}
