//! The [`Masker`]: built once from a policy, keys and an optional vault; immutable, `Send + Sync`,
//! shared in an `Arc`. Per call it walks the document with the streaming rewriter
//! ([`crate::scan`]), classifies values by selectors, key names and content detectors, applies
//! the technique of each finding's class at the requested level, and stores new tokens in the
//! vault with one batched call (fail closed: a vault error means no output).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::class::{DataClass, Kind};
use crate::crypto::{self, TAG_JSON, TAG_STR};
use crate::detect::{Finding, KeyHint, find_in_text, hint_for_key};
use crate::error::MaskError;
use crate::keys::KeyRing;
use crate::level::Level;
use crate::policy::{Policy, RedactMode, Target};
use crate::scan::{Action, Handler, WalkLimits, push_json_string, walk};
use crate::substitute::substitute;
use crate::vault::{TokenEntry, TokenVault};

/// Per-request context.
#[derive(Debug, Clone)]
pub struct MaskContext {
    /// Partition for consistency, tokens and erasure (a tenant, user or session id).
    pub scope: String,
    /// Echoed in the block document and the alert.
    pub request_id: Option<String>,
}

impl Default for MaskContext {
    fn default() -> Self {
        MaskContext {
            scope: "default".into(),
            request_id: None,
        }
    }
}

impl MaskContext {
    /// A context with the given scope.
    pub fn scope(scope: impl Into<String>) -> Self {
        MaskContext {
            scope: scope.into(),
            request_id: None,
        }
    }
}

/// Counts of findings (never the values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Findings per data class.
    pub classes: BTreeMap<DataClass, u64>,
    /// Findings per kind.
    pub kinds: BTreeMap<Kind, u64>,
    /// All findings.
    pub total: u64,
}

/// Raised when a response is blocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertEvent {
    /// The scope of the request.
    pub scope: String,
    /// The request id, if given.
    pub request_id: Option<String>,
    /// The level that was requested.
    pub level: Level,
    /// Why it was blocked.
    pub reason: String,
    /// What the withheld document contained.
    pub summary: Summary,
}

/// The result of masking one document (or NDJSON body, or image).
#[derive(Debug, Clone)]
pub struct MaskOutput {
    /// The masked bytes (for `block`: the error document).
    pub body: Vec<u8>,
    /// What was found.
    pub summary: Summary,
    /// Set when the response was blocked (by the level or by a class mapped to `block`).
    pub alert: Option<AlertEvent>,
    /// Content type of `body` when it changed (images).
    pub content_type: Option<String>,
}

impl MaskOutput {
    /// True when the response was blocked.
    pub fn is_blocked(&self) -> bool {
        self.alert.is_some()
    }
}

/// The result of unmasking.
#[derive(Debug, Clone)]
pub struct UnmaskOutput {
    /// The restored bytes.
    pub body: Vec<u8>,
    /// Values restored.
    pub restored: u64,
    /// Token-shaped values with no vault entry (expired, erased, or not tokens at all).
    pub unresolved: u64,
}

/// The masking engine. Cheap to share: wrap it in an `Arc`.
pub struct Masker {
    policy: Policy,
    keys: Option<KeyRing>,
    /// Used for substitution/tokens when no keys were given: consistent for this masker's life.
    ephemeral: KeyRing,
    vault: Option<Arc<dyn TokenVault>>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("keys", &self.keys)
            .field("vault", &self.vault.is_some())
            .finish()
    }
}

/// FNV-1a: key strings are short and hashed per member, SipHash is needlessly slow here.
#[derive(Default)]
struct Fnv(u64);
impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}
type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

const NO_SEL: u16 = u16::MAX;

#[derive(Clone, Copy)]
struct KeyInfo {
    glob: u16,
    hint: KeyHint,
}

#[derive(Clone, Copy)]
struct Ctx {
    sel: u16,
    /// Whether the selection started at this very value (for member removal).
    sel_here: bool,
    hint: KeyHint,
    s0: u32,
    s1: u32,
}

struct Run<'m> {
    m: &'m Masker,
    level: Level,
    scope: &'m str,
    states: Vec<(u16, u16)>,
    cache: FnvMap<String, KeyInfo>,
    buf: Vec<Finding>,
    classes: [u64; 6],
    kinds: [u64; 15],
    blocked: bool,
    pending: Vec<TokenEntry>,
    pending_set: HashSet<String>,
    attempts: &'m HashMap<Vec<u8>, u32>,
    content: bool,
    key_hints: bool,
    has_paths: bool,
    has_globs: bool,
}

enum Val<'a> {
    Str(&'a str),
    /// Raw JSON scalar (number, true, false, null).
    Raw(&'a str),
}

impl Masker {
    /// Builds a masker. `keys` are needed for `encrypt` (and make `substitute`/deterministic
    /// tokens stable across restarts); `vault` is needed for `tokenize`.
    pub fn new(
        policy: Policy,
        keys: Option<KeyRing>,
        vault: Option<Arc<dyn TokenVault>>,
    ) -> Masker {
        Masker {
            policy,
            keys,
            ephemeral: KeyRing::ephemeral(),
            vault,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The id of the active key, if keys were given (put it next to encrypted output if useful).
    pub fn key_id(&self) -> Option<&str> {
        self.keys.as_ref().map(KeyRing::active_id)
    }

    fn ring(&self) -> &KeyRing {
        self.keys.as_ref().unwrap_or(&self.ephemeral)
    }

    fn limits(&self) -> WalkLimits {
        WalkLimits {
            max_depth: self.policy.limits.max_depth,
            max_string_bytes: self.policy.limits.max_string_bytes,
        }
    }

    fn check_size(&self, input: &[u8]) -> Result<(), MaskError> {
        if input.len() > self.policy.limits.max_bytes {
            return Err(MaskError::Limit {
                what: "document size",
                limit: self.policy.limits.max_bytes,
                setting: "max_bytes",
                line: 1,
                column: 1,
            });
        }
        Ok(())
    }

    fn passthrough(&self, level: Level) -> bool {
        level == Level::None
            && DataClass::ALL
                .iter()
                .all(|c| self.policy.technique(*c, Level::None) == Level::None)
    }

    /// Masks one JSON document at `level`.
    pub fn mask_json(
        &self,
        input: &[u8],
        level: Level,
        ctx: &MaskContext,
    ) -> Result<MaskOutput, MaskError> {
        self.check_size(input)?;
        if self.passthrough(level) {
            return Ok(MaskOutput {
                body: input.to_vec(),
                summary: Summary::default(),
                alert: None,
                content_type: None,
            });
        }
        self.mask_docs(&[(input, 0)], level, ctx, false)
    }

    /// Masks NDJSON (one document per line; blank lines kept; errors give the line in the body).
    pub fn mask_ndjson(
        &self,
        input: &[u8],
        level: Level,
        ctx: &MaskContext,
    ) -> Result<MaskOutput, MaskError> {
        self.check_size(input)?;
        if self.passthrough(level) {
            return Ok(MaskOutput {
                body: input.to_vec(),
                summary: Summary::default(),
                alert: None,
                content_type: None,
            });
        }
        let lines: Vec<(&[u8], usize)> = input
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, l)| (l, i))
            .collect();
        self.mask_docs(&lines, level, ctx, true)
    }

    fn mask_docs(
        &self,
        docs: &[(&[u8], usize)],
        level: Level,
        ctx: &MaskContext,
        ndjson: bool,
    ) -> Result<MaskOutput, MaskError> {
        let mut attempts: HashMap<Vec<u8>, u32> = HashMap::new();
        for round in 0..8 {
            let mut run = Run::new(self, level, &ctx.scope, &attempts);
            let mut body = Vec::with_capacity(docs.iter().map(|(d, _)| d.len() + 1).sum());
            for (i, (doc, line)) in docs.iter().enumerate() {
                if ndjson {
                    if i > 0 {
                        body.push(b'\n');
                    }
                    let trimmed = doc.strip_suffix(b"\r").unwrap_or(doc);
                    if trimmed.iter().all(u8::is_ascii_whitespace) {
                        body.extend_from_slice(doc);
                        continue;
                    }
                }
                let out = walk(doc, self.limits(), &mut run, *line)?;
                body.extend_from_slice(&out);
            }
            let summary = run.summary();
            if run.blocked || level == Level::Block {
                return Ok(self.blocked(level, ctx, summary));
            }
            if run.pending.is_empty() {
                return Ok(MaskOutput {
                    body,
                    summary,
                    alert: None,
                    content_type: None,
                });
            }
            let vault = self.vault.as_ref().ok_or(MaskError::NoVault)?;
            let stored = vault.put_many(&ctx.scope, &run.pending, self.policy.tokenize.ttl)?;
            let mut conflict = false;
            for (entry, ok) in run.pending.iter().zip(stored) {
                if !ok {
                    conflict = true;
                    *attempts.entry(entry.value.clone()).or_insert(0) += 1;
                }
            }
            if !conflict {
                return Ok(MaskOutput {
                    body,
                    summary,
                    alert: None,
                    content_type: None,
                });
            }
            let _ = round;
        }
        Err(MaskError::TokenConflict(8))
    }

    fn blocked(&self, level: Level, ctx: &MaskContext, summary: Summary) -> MaskOutput {
        let reason = if level == Level::Block {
            "masking level is block".to_string()
        } else {
            let classes: Vec<&str> = DataClass::ALL
                .iter()
                .filter(|c| {
                    self.policy.technique(**c, level) == Level::Block
                        && summary.classes.contains_key(c)
                })
                .map(|c| c.as_str())
                .collect();
            format!(
                "policy blocks class {} at level {level}",
                classes.join(", ")
            )
        };
        let doc = serde_json::json!({
            "error": {
                "code": "blocked",
                "message": "This response was withheld by the data protection policy.",
                "request_id": ctx.request_id,
            }
        });
        let body = serde_json::to_vec(&doc)
            .unwrap_or_else(|_| b"{\"error\":{\"code\":\"blocked\"}}".to_vec());
        MaskOutput {
            body,
            alert: Some(AlertEvent {
                scope: ctx.scope.clone(),
                request_id: ctx.request_id.clone(),
                level,
                reason,
                summary: summary.clone(),
            }),
            summary,
            content_type: Some("application/json".into()),
        }
    }

    /// Masks an image body (`image/*`): at `substitute` and up it is pixelated and stripped of all
    /// metadata; `redact` and up below that blocks nothing but still strips by re-encoding;
    /// `block` returns the error document.
    pub fn mask_image(
        &self,
        bytes: &[u8],
        content_type: &str,
        level: Level,
        ctx: &MaskContext,
    ) -> Result<MaskOutput, MaskError> {
        let mut summary = Summary::default();
        *summary.classes.entry(DataClass::Pii).or_default() += 1;
        *summary.kinds.entry(Kind::Image).or_default() += 1;
        summary.total = 1;
        let tech = self.policy.technique(DataClass::Pii, level);
        match tech {
            Level::None => Ok(MaskOutput {
                body: bytes.to_vec(),
                summary,
                alert: None,
                content_type: Some(content_type.to_string()),
            }),
            Level::Block => Ok(self.blocked(level, ctx, summary)),
            _ => {
                let (body, ct) = crate::image::pixelate(bytes, &self.policy.limits)?;
                Ok(MaskOutput {
                    body,
                    summary,
                    alert: None,
                    content_type: Some(ct.to_string()),
                })
            }
        }
    }

    /// Reverses `tokenize` (needs the vault) and `encrypt` (needs the keys) in a JSON document.
    pub fn unmask_json(&self, input: &[u8], ctx: &MaskContext) -> Result<UnmaskOutput, MaskError> {
        self.unmask_docs(&[(input, 0)], ctx, false)
    }

    /// [`Masker::unmask_json`] for NDJSON.
    pub fn unmask_ndjson(
        &self,
        input: &[u8],
        ctx: &MaskContext,
    ) -> Result<UnmaskOutput, MaskError> {
        let lines: Vec<(&[u8], usize)> = input
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, l)| (l, i))
            .collect();
        self.unmask_docs(&lines, ctx, true)
    }

    fn unmask_docs(
        &self,
        docs: &[(&[u8], usize)],
        ctx: &MaskContext,
        ndjson: bool,
    ) -> Result<UnmaskOutput, MaskError> {
        let mut u = Unmask {
            m: self,
            scope: &ctx.scope,
            restored: 0,
            unresolved: 0,
        };
        let mut body = Vec::new();
        for (i, (doc, line)) in docs.iter().enumerate() {
            if ndjson {
                if i > 0 {
                    body.push(b'\n');
                }
                if doc.iter().all(u8::is_ascii_whitespace) {
                    body.extend_from_slice(doc);
                    continue;
                }
            }
            body.extend_from_slice(&walk(doc, self.limits(), &mut u, *line)?);
        }
        Ok(UnmaskOutput {
            body,
            restored: u.restored,
            unresolved: u.unresolved,
        })
    }
}

impl<'m> Run<'m> {
    fn new(
        m: &'m Masker,
        level: Level,
        scope: &'m str,
        attempts: &'m HashMap<Vec<u8>, u32>,
    ) -> Self {
        let d = &m.policy.detectors;
        Run {
            m,
            level,
            scope,
            states: Vec::new(),
            cache: FnvMap::default(),
            buf: Vec::new(),
            classes: [0; 6],
            kinds: [0; 15],
            blocked: false,
            pending: Vec::new(),
            pending_set: HashSet::new(),
            attempts,
            content: d.any_content(),
            key_hints: d.any_key(),
            has_paths: m
                .policy
                .selectors
                .iter()
                .any(|s| matches!(s.target, Target::Path(_))),
            has_globs: m
                .policy
                .selectors
                .iter()
                .any(|s| matches!(s.target, Target::Key(_))),
        }
    }

    fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in DataClass::ALL {
            if self.classes[c.index()] > 0 {
                s.classes.insert(c, self.classes[c.index()]);
            }
        }
        for (i, k) in Kind::ALL.iter().enumerate() {
            if self.kinds[i] > 0 {
                s.kinds.insert(*k, self.kinds[i]);
            }
        }
        s.total = self.kinds.iter().sum();
        s
    }

    fn count(&mut self, class: DataClass, kind: Kind) {
        self.classes[class.index()] += 1;
        if let Some(i) = Kind::ALL.iter().position(|k| *k == kind) {
            self.kinds[i] += 1;
        }
    }

    fn key_info(&mut self, key: &str) -> KeyInfo {
        if let Some(i) = self.cache.get(key) {
            return *i;
        }
        let mut glob = NO_SEL;
        if self.has_globs {
            for (i, s) in self.m.policy.selectors.iter().enumerate() {
                if let Target::Key(p) = &s.target
                    && crate::policy::glob_match(p.as_bytes(), key.as_bytes())
                {
                    {
                        glob = i as u16;
                        break;
                    }
                }
            }
        }
        let hint = if self.key_hints {
            hint_for_key(key.as_bytes())
        } else {
            KeyHint::None
        };
        let info = KeyInfo { glob, hint };
        if self.cache.len() < 4096 {
            self.cache.insert(key.to_string(), info);
        }
        info
    }

    /// Advances the path states of `parent` over one step; returns the child range and a hit.
    fn descend(&mut self, parent: &Ctx, key: Option<&str>, idx: usize) -> (u32, u32, u16) {
        let start = self.states.len();
        let mut hit = NO_SEL;
        for i in parent.s0 as usize..parent.s1 as usize {
            let (sel, p) = self.states[i];
            let Target::Path(steps) = &self.m.policy.selectors[sel as usize].target else {
                continue;
            };
            let step = &steps[p as usize];
            let matched = match key {
                Some(k) => step.matches_key(k),
                None => step.matches_index(idx),
            };
            if step.deep && !self.states[start..].contains(&(sel, p)) {
                self.states.push((sel, p));
            }
            if matched {
                if p as usize + 1 == steps.len() {
                    if hit == NO_SEL {
                        hit = sel;
                    }
                } else if !self.states[start..].contains(&(sel, p + 1)) {
                    self.states.push((sel, p + 1));
                }
            }
        }
        (start as u32, self.states.len() as u32, hit)
    }

    fn redact_mode(&self, class: DataClass, sel: u16) -> RedactMode {
        if sel != NO_SEL
            && let Some(m) = self.m.policy.selectors[sel as usize].redact
        {
            {
                return m;
            }
        }
        self.m.policy.classes[class.index()].redact
    }

    fn class_of(kind: Kind, hint: KeyHint) -> DataClass {
        if hint == KeyHint::Phi {
            DataClass::Phi
        } else {
            kind.default_class()
        }
    }

    /// The replacement text of a whole value or a span; `None` = keep.
    fn replace(
        &mut self,
        class: DataClass,
        kind: Kind,
        val: &Val<'_>,
        sel: u16,
        whole: bool,
    ) -> Result<Option<Rep>, MaskError> {
        self.count(class, kind);
        let tech = self.m.policy.technique(class, self.level);
        let (text, tag) = match val {
            Val::Str(s) => (*s, TAG_STR),
            Val::Raw(s) => (*s, TAG_JSON),
        };
        let raw = tag == TAG_JSON;
        Ok(Some(match tech {
            Level::None => return Ok(None),
            Level::Block => {
                self.blocked = true;
                return Ok(None);
            }
            Level::Redact => match self.redact_mode(class, sel) {
                RedactMode::Remove if whole => Rep::Remove,
                _ if raw => Rep::Raw("null".into()),
                RedactMode::Partial => Rep::Text(self.partial(class, kind, text)),
                _ => Rep::Text(kind.placeholder().into()),
            },
            Level::Substitute => {
                if raw {
                    if text.bytes().any(|c| c.is_ascii_digit()) {
                        Rep::Raw(substitute_number(self.m.ring(), self.scope, text))
                    } else {
                        Rep::Raw("null".into())
                    }
                } else if kind == Kind::Image {
                    Rep::Text(self.image_uri(text))
                } else {
                    Rep::Text(substitute(
                        &self.m.ring().active().subst,
                        self.scope,
                        kind,
                        text,
                    ))
                }
            }
            Level::Tokenize => Rep::Text(self.tokenize(kind, text, tag)?),
            Level::Encrypt => {
                let keys = self.m.keys.as_ref().ok_or(MaskError::NoKeys)?;
                let opts = self.m.policy.encrypt;
                let fpe_kind = matches!(kind, Kind::Card | Kind::Ssn | Kind::Phone | Kind::Iban)
                    || (kind == Kind::Generic && text.bytes().any(|c| c.is_ascii_digit()));
                match crypto::fpe_alphabet(text)
                    .filter(|_| whole && !raw && opts.format_preserving && fpe_kind)
                {
                    Some(class) => Rep::Text(
                        crypto::fpe_encrypt(keys, self.scope, text, class).unwrap_or_else(|_| {
                            crypto::siv_encrypt(keys, self.scope, tag, text, opts.deterministic)
                        }),
                    ),
                    None => Rep::Text(crypto::siv_encrypt(
                        keys,
                        self.scope,
                        tag,
                        text,
                        opts.deterministic,
                    )),
                }
            }
        }))
    }

    fn partial(&self, class: DataClass, kind: Kind, text: &str) -> String {
        let keep = self.m.policy.classes[class.index()].keep_last;
        let keep_last = |n: usize| -> String {
            let total = text.chars().filter(char::is_ascii_alphanumeric).count();
            let mut seen = 0;
            text.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        seen += 1;
                        if seen + n > total { c } else { '*' }
                    } else {
                        c
                    }
                })
                .collect()
        };
        match kind {
            Kind::Card | Kind::Ssn | Kind::Iban => keep_last(keep.unwrap_or(4)),
            Kind::Phone => keep_last(keep.unwrap_or(2)),
            Kind::Email if self.m.policy.email_keep_domain => match text.rsplit_once('@') {
                Some((_, domain)) => format!("***@{domain}"),
                None => Kind::Email.placeholder().into(),
            },
            _ => kind.placeholder().into(),
        }
    }

    fn image_uri(&self, uri: &str) -> String {
        // data:image/png;base64,....
        let Some((meta, data)) = uri.split_once(',') else {
            return Kind::Image.placeholder().into();
        };
        if !meta.ends_with(";base64") {
            return Kind::Image.placeholder().into();
        }
        let Ok(bytes) = STANDARD.decode(data.trim()) else {
            return Kind::Image.placeholder().into();
        };
        match crate::image::pixelate(&bytes, &self.m.policy.limits) {
            Ok((out, ct)) => format!("data:{ct};base64,{}", STANDARD.encode(out)),
            // Fail closed: an image we cannot re-encode is not passed through.
            Err(_) => Kind::Image.placeholder().into(),
        }
    }

    fn tokenize(&mut self, kind: Kind, text: &str, tag: u8) -> Result<String, MaskError> {
        if self.m.vault.is_none() {
            return Err(MaskError::NoVault);
        }
        let opts = self.m.policy.tokenize;
        let mut value = Vec::with_capacity(text.len() + 1);
        value.push(tag);
        value.extend_from_slice(text.as_bytes());
        let attempt = self.attempts.get(&value).copied().unwrap_or(0);
        let key = self.m.ring().active();
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        let fp_ok = opts.format_preserving
            && tag == TAG_STR
            && text
                .bytes()
                .all(|c| c.is_ascii_digit() || c == b' ' || c == b'-');
        let token = if fp_ok && kind == Kind::Card && (12..=19).contains(&digits) {
            crypto::card_token(
                key,
                opts.deterministic,
                self.scope,
                text,
                opts.keep_last,
                attempt,
            )
        } else if fp_ok && kind == Kind::Ssn && digits == 9 {
            crypto::ssn_token(
                key,
                opts.deterministic,
                self.scope,
                text,
                opts.keep_last,
                attempt,
            )
        } else {
            crypto::opaque_token(key, opts.deterministic, self.scope, &value, attempt)
        };
        if self.pending_set.insert(token.clone()) {
            self.pending.push(TokenEntry {
                token: token.clone(),
                value,
            });
        }
        Ok(token)
    }

    fn whole(
        &mut self,
        class: DataClass,
        kind: Kind,
        val: Val<'_>,
        sel: u16,
    ) -> Result<Action, MaskError> {
        Ok(match self.replace(class, kind, &val, sel, true)? {
            None => Action::Keep,
            Some(Rep::Remove) => Action::Remove,
            Some(Rep::Raw(r)) => Action::Replace(r.into_bytes()),
            Some(Rep::Text(t)) => {
                let mut out = Vec::with_capacity(t.len() + 2);
                push_json_string(&mut out, &t);
                Action::Replace(out)
            }
        })
    }

    /// The kind of a selected value without a declared kind: what the detectors say it is when
    /// one finding covers it, else generic.
    fn infer_kind(&mut self, text: &str, hint: KeyHint) -> Kind {
        self.buf.clear();
        let mut all = self.m.policy.detectors;
        all.entropy = false;
        find_in_text(text, hint, &all, &mut self.buf);
        match self.buf.as_slice() {
            [f] if text.trim().len() == f.end - f.start => f.kind,
            _ => Kind::Generic,
        }
    }
}

enum Rep {
    Text(String),
    Raw(String),
    Remove,
}

fn substitute_number(ring: &KeyRing, scope: &str, raw: &str) -> String {
    // Same shape: sign, decimal point and exponent kept, digits replaced, no leading zero.
    let mut r = crate::substitute::Drbg::new(
        &ring.active().subst,
        &[scope.as_bytes(), b"number", raw.as_bytes()],
    );
    let mut out = String::with_capacity(raw.len());
    let mut first = true;
    for (attempt, _) in (0..4).enumerate() {
        out.clear();
        first = true;
        for c in raw.chars() {
            if c.is_ascii_digit() {
                let d = if first && raw.len() > 1 && !raw.starts_with("0") && !raw.starts_with("-0")
                {
                    1 + r.below(9)
                } else {
                    r.below(10)
                };
                first = false;
                out.push(char::from(b'0' + d as u8));
            } else {
                if matches!(c, 'e' | 'E' | '.') {
                    first = false;
                }
                out.push(c);
            }
        }
        if out != raw || attempt == 3 {
            break;
        }
    }
    let _ = first;
    if out == raw {
        // Single-digit numbers can collide; shift by one.
        out = out.replace(|c: char| c.is_ascii_digit(), "").to_string()
            + if raw.ends_with('7') { "3" } else { "7" };
        if !out.ends_with(|c: char| c.is_ascii_digit()) || out.starts_with('.') {
            out = "7".into();
        }
    }
    out
}

impl Handler for Run<'_> {
    type Ctx = Ctx;

    fn root(&mut self) -> Ctx {
        self.states.clear();
        let mut sel = NO_SEL;
        for (i, s) in self.m.policy.selectors.iter().enumerate() {
            if let Target::Path(steps) = &s.target {
                if steps.is_empty() {
                    sel = sel.min(i as u16);
                } else {
                    self.states.push((i as u16, 0));
                }
            }
        }
        Ctx {
            sel,
            sel_here: sel != NO_SEL,
            hint: KeyHint::None,
            s0: 0,
            s1: self.states.len() as u32,
        }
    }

    fn key(&mut self, parent: &Ctx, key: &str) -> (Ctx, bool) {
        let info = if self.has_globs || self.key_hints {
            self.key_info(key)
        } else {
            KeyInfo {
                glob: NO_SEL,
                hint: KeyHint::None,
            }
        };
        let (s0, s1, hit) = if parent.s0 < parent.s1 && self.has_paths {
            self.descend(parent, Some(key), 0)
        } else {
            (self.states.len() as u32, self.states.len() as u32, NO_SEL)
        };
        let mut ctx = Ctx {
            sel: parent.sel,
            sel_here: false,
            hint: KeyHint::None,
            s0,
            s1,
        };
        if ctx.sel == NO_SEL {
            let new = if hit != NO_SEL { hit } else { info.glob };
            if new != NO_SEL {
                ctx.sel = new;
                ctx.sel_here = true;
            }
        }
        ctx.hint = if info.hint != KeyHint::None {
            info.hint
        } else if parent.hint == KeyHint::Address && crate::detect::keys::address_exempt(key) {
            KeyHint::None
        } else if parent.hint.inherited() {
            parent.hint
        } else {
            KeyHint::None
        };
        let mut remove = false;
        if ctx.sel_here {
            let s = &self.m.policy.selectors[ctx.sel as usize];
            let class = s.class;
            let tech = self.m.policy.technique(class, self.level);
            if tech == Level::Redact && self.redact_mode(class, ctx.sel) == RedactMode::Remove {
                remove = true;
                self.count(class, s.kind.unwrap_or(Kind::Generic));
            }
        }
        (ctx, remove)
    }

    fn index(&mut self, parent: &Ctx, idx: usize) -> Ctx {
        let (s0, s1, hit) = if parent.s0 < parent.s1 {
            self.descend(parent, None, idx)
        } else {
            (self.states.len() as u32, self.states.len() as u32, NO_SEL)
        };
        let mut ctx = Ctx {
            sel: parent.sel,
            sel_here: false,
            hint: if parent.hint.inherited() || parent.hint != KeyHint::None {
                parent.hint
            } else {
                KeyHint::None
            },
            s0,
            s1,
        };
        if ctx.sel == NO_SEL && hit != NO_SEL {
            ctx.sel = hit;
            ctx.sel_here = true;
        }
        ctx
    }

    fn exit(&mut self, ctx: &Ctx) {
        if (ctx.s0 as usize) < self.states.len() {
            self.states.truncate(ctx.s0 as usize);
        }
    }

    fn string(&mut self, ctx: &Ctx, text: &str) -> Result<Action, MaskError> {
        if ctx.sel != NO_SEL {
            let s = &self.m.policy.selectors[ctx.sel as usize];
            let (class, declared) = (s.class, s.kind);
            let kind = match declared {
                Some(k) => k,
                None => self.infer_kind(text, ctx.hint),
            };
            if text.is_empty() {
                return Ok(Action::Keep);
            }
            return self.whole(class, kind, Val::Str(text), ctx.sel);
        }
        if !self.content && ctx.hint == KeyHint::None {
            return Ok(Action::Keep);
        }
        let mut found = std::mem::take(&mut self.buf);
        found.clear();
        find_in_text(text, ctx.hint, &self.m.policy.detectors, &mut found);
        let result = self.apply_findings(ctx, text, &found);
        self.buf = found;
        result
    }

    fn scalar(&mut self, ctx: &Ctx, raw: &str) -> Result<Action, MaskError> {
        if ctx.sel != NO_SEL {
            let s = &self.m.policy.selectors[ctx.sel as usize];
            let (class, kind) = (s.class, s.kind.unwrap_or(Kind::Generic));
            return self.whole(class, kind, Val::Raw(raw), ctx.sel);
        }
        // Numbers under secret/name/PHI-like keys are still that data (a PIN, an MRN).
        if matches!(
            ctx.hint,
            KeyHint::Secret | KeyHint::Phi | KeyHint::Ssn | KeyHint::Phone
        ) && raw.bytes().any(|c| c.is_ascii_digit())
        {
            let d = &self.m.policy.detectors;
            let kind = match ctx.hint {
                KeyHint::Secret if d.secret_keys => Kind::Secret,
                KeyHint::Phi if d.phi_keys => Kind::Generic,
                KeyHint::Ssn if d.ssn && crate::detect::ssn::is_ssn(raw.as_bytes()) => Kind::Ssn,
                KeyHint::Phone if d.phone && raw.len() >= 7 => Kind::Phone,
                _ => return Ok(Action::Keep),
            };
            return self.whole(Self::class_of(kind, ctx.hint), kind, Val::Raw(raw), NO_SEL);
        }
        Ok(Action::Keep)
    }
}

impl Run<'_> {
    fn apply_findings(
        &mut self,
        ctx: &Ctx,
        text: &str,
        found: &[Finding],
    ) -> Result<Action, MaskError> {
        match found {
            [] => Ok(Action::Keep),
            [f] if text.trim().len() == f.end - f.start => {
                let class = Self::class_of(f.kind, ctx.hint);
                self.whole(class, f.kind, Val::Str(text), NO_SEL)
            }
            _ => {
                let mut out = String::with_capacity(text.len() + 16);
                let mut last = 0;
                let mut changed = false;
                for f in found {
                    let (Some(before), Some(span)) =
                        (text.get(last..f.start), text.get(f.start..f.end))
                    else {
                        continue;
                    };
                    out.push_str(before);
                    let class = Self::class_of(f.kind, ctx.hint);
                    match self.replace(class, f.kind, &Val::Str(span), NO_SEL, false)? {
                        Some(Rep::Text(t)) => {
                            out.push_str(&t);
                            changed = true;
                        }
                        Some(Rep::Raw(_) | Rep::Remove) => {
                            out.push_str(f.kind.placeholder());
                            changed = true;
                        }
                        None => out.push_str(span),
                    }
                    last = f.end;
                }
                out.push_str(text.get(last..).unwrap_or(""));
                if !changed {
                    return Ok(Action::Keep);
                }
                let mut json = Vec::with_capacity(out.len() + 2);
                push_json_string(&mut json, &out);
                Ok(Action::Replace(json))
            }
        }
    }
}

/// The unmasking walk.
struct Unmask<'m> {
    m: &'m Masker,
    scope: &'m str,
    restored: u64,
    unresolved: u64,
}

impl Unmask<'_> {
    fn lookup(&mut self, token: &str) -> Result<Option<(u8, String)>, MaskError> {
        let Some(v) = self.m.vault.as_ref() else {
            self.unresolved += 1;
            return Ok(None);
        };
        match v.get(self.scope, token)? {
            Some(bytes) if !bytes.is_empty() => {
                self.restored += 1;
                Ok(Some((
                    bytes[0],
                    String::from_utf8_lossy(&bytes[1..]).into_owned(),
                )))
            }
            _ => {
                self.unresolved += 1;
                Ok(None)
            }
        }
    }

    /// Restores a whole value: (tag, text) or None when it is not masked.
    fn whole(&mut self, text: &str) -> Result<Option<(u8, String)>, MaskError> {
        if text.starts_with("fpe.") {
            let keys = self.m.keys.as_ref().ok_or(MaskError::NoKeys)?;
            self.restored += 1;
            return crypto::fpe_decrypt(keys, self.scope, text).map(|t| Some((TAG_STR, t)));
        }
        if text.starts_with("enc.") && !text.contains(char::is_whitespace) {
            let keys = self.m.keys.as_ref().ok_or(MaskError::NoKeys)?;
            self.restored += 1;
            return crypto::siv_decrypt(keys, self.scope, text).map(Some);
        }
        if crypto::is_opaque_token(text.as_bytes()) || crypto::is_fp_token(text) {
            return self.lookup(text);
        }
        Ok(None)
    }

    fn spans(&mut self, text: &str) -> Result<Option<String>, MaskError> {
        let b = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut i = 0;
        let mut changed = false;
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
        while i < b.len() {
            let boundary = i == 0 || !word(b[i - 1]);
            if boundary
                && b[i..].starts_with(b"tok_")
                && i + 30 <= b.len()
                && crypto::is_opaque_token(&b[i..i + 30])
                && b.get(i + 30).is_none_or(|c| !word(*c))
            {
                if let Some((_, t)) = self.lookup(&text[i..i + 30])? {
                    out.push_str(&text[last..i]);
                    out.push_str(&t);
                    last = i + 30;
                    changed = true;
                }
                i += 30;
                continue;
            }
            if boundary && b[i..].starts_with(b"enc.") {
                let mut j = i + 4;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j < b.len() && b[j] == b'.' {
                    j += 1;
                    while j < b.len()
                        && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'-')
                    {
                        j += 1;
                    }
                    let keys = self.m.keys.as_ref().ok_or(MaskError::NoKeys)?;
                    let (_, t) = crypto::siv_decrypt(keys, self.scope, &text[i..j])?;
                    self.restored += 1;
                    out.push_str(&text[last..i]);
                    out.push_str(&t);
                    last = j;
                    changed = true;
                    i = j;
                    continue;
                }
            }
            if boundary && b[i].is_ascii_digit() {
                // Card- or SSN-shaped run: maybe a format-preserving token.
                let mut j = i;
                while j < b.len()
                    && (b[j].is_ascii_digit()
                        || ((b[j] == b' ' || b[j] == b'-')
                            && b.get(j + 1).is_some_and(u8::is_ascii_digit)))
                {
                    j += 1;
                }
                let cand = &text[i..j];
                if b.get(j).is_none_or(|c| !word(*c))
                    && crypto::is_fp_token(cand)
                    && let Some((_, t)) = self.lookup(cand)?
                {
                    {
                        out.push_str(&text[last..i]);
                        out.push_str(&t);
                        last = j;
                        changed = true;
                    }
                }
                i = j.max(i + 1);
                continue;
            }
            i += 1;
        }
        if !changed {
            return Ok(None);
        }
        out.push_str(&text[last..]);
        Ok(Some(out))
    }
}

impl Handler for Unmask<'_> {
    type Ctx = ();
    fn root(&mut self) {}
    fn key(&mut self, _: &(), _: &str) -> ((), bool) {
        ((), false)
    }
    fn index(&mut self, _: &(), _: usize) {}
    fn exit(&mut self, _: &()) {}

    fn string(&mut self, _: &(), text: &str) -> Result<Action, MaskError> {
        let b = text.as_bytes();
        let maybe = memchr::memmem::find(b, b"tok_").is_some()
            || memchr::memmem::find(b, b"enc.").is_some()
            || b.starts_with(b"fpe.")
            || b.iter().filter(|c| c.is_ascii_digit()).count() >= 9;
        if !maybe {
            return Ok(Action::Keep);
        }
        if let Some((tag, t)) = self.whole(text)? {
            if tag == TAG_JSON {
                return Ok(Action::Replace(t.into_bytes()));
            }
            let mut out = Vec::new();
            push_json_string(&mut out, &t);
            return Ok(Action::Replace(out));
        }
        match self.spans(text)? {
            Some(t) => {
                let mut out = Vec::new();
                push_json_string(&mut out, &t);
                Ok(Action::Replace(out))
            }
            None => Ok(Action::Keep),
        }
    }

    fn scalar(&mut self, _: &(), _: &str) -> Result<Action, MaskError> {
        Ok(Action::Keep)
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Masker>();
}
