//! The scanning of one string value: a prefilter pass, then the detectors whose trigger
//! characters are present, then overlap resolution (earliest, then longest, wins).

use std::net::Ipv6Addr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::card::is_card;
use super::iban::{country_length, is_iban};
use super::keys::KeyHint;
use super::ssn::is_ssn;
use super::{Detectors, Finding};
use crate::class::Kind;

// Byte classes for the prefilter and for word scanning.
const DIGIT: u8 = 1;
const AT: u8 = 2;
const COLON: u8 = 4;
const WORD: u8 = 8; // characters of API keys / base64 / JWT words
const DOT: u8 = 16;

const fn build_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut v = 0;
        if c.is_ascii_digit() {
            v |= DIGIT | WORD;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'-' || c == b'+' || c == b'/' || c == b'='
        {
            v |= WORD;
        }
        if c == b'@' {
            v |= AT;
        }
        if c == b':' {
            v |= COLON;
        }
        if c == b'.' {
            v |= DOT | WORD;
        }
        t[i] = v;
        i += 1;
    }
    t
}
static TABLE: [u8; 256] = build_table();

/// What the prefilter saw in a string.
#[derive(Default)]
struct Pre {
    digits: usize,
    at: bool,
    colons: usize,
    dots: usize,
    longest_word: usize,
}

fn prefilter(s: &[u8]) -> Pre {
    let mut p = Pre::default();
    let mut run = 0usize;
    for &b in s {
        let c = TABLE[b as usize];
        p.digits += usize::from(c & DIGIT != 0);
        p.colons += usize::from(c & COLON != 0);
        p.dots += usize::from(c & DOT != 0);
        p.at |= c & AT != 0;
        if c & WORD != 0 {
            run += 1;
        } else {
            p.longest_word = p.longest_word.max(run);
            run = 0;
        }
    }
    p.longest_word = p.longest_word.max(run);
    p
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Adds the findings in `s` (a whole string value) to `out`, sorted and non-overlapping.
pub fn find_in_text(s: &str, hint: KeyHint, det: &Detectors, out: &mut Vec<Finding>) {
    let start_len = out.len();
    let b = s.as_bytes();
    // Whole-value findings decided by the key name.
    let trimmed = trim_span(b);
    if let Some((ts, te)) = trimmed {
        let whole = |kind| Finding {
            start: ts,
            end: te,
            kind,
        };
        let val = &b[ts..te];
        match hint {
            KeyHint::Secret if det.secret_keys => {
                out.push(whole(Kind::Secret));
                return;
            }
            KeyHint::Name
                if det.name && val.iter().any(u8::is_ascii_alphabetic)
                    || hint == KeyHint::Name && det.name && !val.is_ascii() =>
            {
                out.push(whole(Kind::Name));
                return;
            }
            KeyHint::Address
                if det.address && val.iter().any(|c| c.is_ascii_alphanumeric())
                    || hint == KeyHint::Address && det.address && !val.is_ascii() =>
            {
                out.push(whole(Kind::Address));
                return;
            }
            KeyHint::Phi if det.phi_keys => {
                out.push(whole(Kind::Generic));
                return;
            }
            KeyHint::Dob if det.dob && parse_date(&s[ts..te]).is_some() => {
                out.push(whole(Kind::Dob));
                return;
            }
            _ => {}
        }
    } else {
        return;
    }
    if det.image && b.len() > 11 && b[..11].eq_ignore_ascii_case(b"data:image/") {
        out.push(Finding {
            start: 0,
            end: b.len(),
            kind: Kind::Image,
        });
        return;
    }
    if b.len() < 6 {
        return;
    }
    let pre = prefilter(b);
    if pre.digits >= 7 && (det.card || det.ssn || det.phone) {
        numeric(b, hint, det, out);
    }
    if det.iban && pre.digits >= 10 {
        ibans(b, out);
    }
    if det.email && pre.at {
        emails(b, out);
    }
    if det.ip && pre.dots >= 3 && pre.digits >= 4 {
        ipv4s(b, out);
    }
    if det.ip && pre.colons >= 2 {
        ipv6s(b, out);
    }
    if pre.longest_word >= 16 && (det.jwt || det.api_key || det.entropy) {
        words(b, det, out);
    }
    if det.api_key && pre.longest_word >= 5 && memchr::memmem::find(b, b"-----BEGIN ").is_some() {
        pem(b, out);
    }
    resolve(&mut out[start_len..]);
    // Drop the findings that `resolve` marked as overlapping (linear, however many there are).
    let mut keep = start_len;
    for i in start_len..out.len() {
        if !(out[i].end == 0 && out[i].start == usize::MAX) {
            out[keep] = out[i];
            keep += 1;
        }
    }
    out.truncate(keep);
}

fn trim_span(b: &[u8]) -> Option<(usize, usize)> {
    let s = b.iter().position(|c| !c.is_ascii_whitespace())?;
    let e = b.iter().rposition(|c| !c.is_ascii_whitespace())? + 1;
    Some((s, e))
}

/// Sorts by start, longest first, and marks overlapped findings with an impossible span.
fn resolve(f: &mut [Finding]) {
    f.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut last_end = 0;
    for x in f.iter_mut() {
        if x.start < last_end {
            x.start = usize::MAX;
            x.end = 0;
        } else {
            last_end = x.end;
        }
    }
}

/// A run of digits with separators: the groups (offset ranges of digit runs) and separators.
struct Run {
    start: usize,
    end: usize,
    plus: bool,
    groups: Vec<(usize, usize)>,
}

fn numeric(b: &[u8], hint: KeyHint, det: &Detectors, out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let starts = c.is_ascii_digit()
            || ((c == b'+' || c == b'(') && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        if !starts || (i > 0 && (is_alnum(b[i - 1]) || b[i - 1] == b'.' || b[i - 1] == b'+')) {
            i += 1;
            continue;
        }
        let run = scan_run(b, i);
        let total: usize = run.groups.iter().map(|(s, e)| e - s).sum();
        let next = run.end.max(i + 1);
        if total >= 7 && !(b.get(run.end).is_some_and(|&c| is_alnum(c))) {
            classify_run(b, &run, hint, det, out);
        }
        i = next;
    }
}

fn scan_run(b: &[u8], start: usize) -> Run {
    let mut i = start;
    let mut plus = false;
    if b[i] == b'+' {
        plus = true;
        i += 1;
    }
    let mut groups = Vec::new();
    let mut end = i;
    loop {
        // optional "(" before a group
        let mut j = i;
        if j < b.len() && b[j] == b'(' {
            j += 1;
        }
        let gs = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == gs {
            break;
        }
        groups.push((gs, j));
        end = j;
        if j < b.len() && b[j] == b')' {
            j += 1;
            end = j;
        }
        // one separator (or ") " already consumed)
        if j < b.len() && matches!(b[j], b' ' | b'-' | b'.' | b'/') {
            j += 1;
        }
        if groups.len() > 12 || j >= b.len() || !(b[j].is_ascii_digit() || b[j] == b'(') {
            break;
        }
        i = j;
    }
    Run {
        start,
        end,
        plus,
        groups,
    }
}

/// Tries the whole run, then shorter sub-runs of whole groups (longest first), so
/// "order 12345 415-555-0132" still finds the phone number.
fn classify_run(b: &[u8], run: &Run, hint: KeyHint, det: &Detectors, out: &mut Vec<Finding>) {
    let n = run.groups.len();
    let mut first = 0;
    while first < n {
        let mut found = None;
        for last in (first..n).rev() {
            let gs = &run.groups[first..=last];
            let total: usize = gs.iter().map(|(s, e)| e - s).sum();
            if total < 7 {
                break;
            }
            let start = if first == 0 { run.start } else { gs[0].0 };
            let plus = first == 0 && run.plus;
            let end = gs[gs.len() - 1].1;
            if let Some(kind) = classify(b, start, end, plus, gs, total, hint, det) {
                let end = if b.get(end) == Some(&b')') {
                    end + 1
                } else {
                    end
                };
                let start = if start > 0 && b[start - 1] == b'(' && b.get(start) != Some(&b'(') {
                    start - 1
                } else {
                    start
                };
                found = Some((Finding { start, end, kind }, last));
                break;
            }
        }
        match found {
            Some((f, last)) => {
                out.push(f);
                first = last + 1;
            }
            None => first += 1,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn classify(
    b: &[u8],
    start: usize,
    end: usize,
    plus: bool,
    groups: &[(usize, usize)],
    total: usize,
    hint: KeyHint,
    det: &Detectors,
) -> Option<Kind> {
    let mut digits = [0u8; 24];
    if total > digits.len() {
        return None;
    }
    let mut n = 0;
    for &(s, e) in groups {
        digits[n..n + (e - s)].copy_from_slice(&b[s..e]);
        n += e - s;
    }
    let d = &digits[..n];
    let text = &b[start..end];
    let seps_ok_card = text
        .iter()
        .all(|c| c.is_ascii_digit() || *c == b' ' || *c == b'-');
    if det.card && !plus && seps_ok_card && is_card(d) {
        return Some(Kind::Card);
    }
    if det.ssn && !plus && n == 9 && is_ssn(d) {
        let formatted = groups.len() == 3
            && groups[0].1 - groups[0].0 == 3
            && groups[1].1 - groups[1].0 == 2
            && text
                .iter()
                .all(|c| c.is_ascii_digit() || *c == b'-' || *c == b' ');
        if formatted || (groups.len() == 1 && hint == KeyHint::Ssn) {
            return Some(Kind::Ssn);
        }
    }
    if det.phone && is_phone(d, plus, groups, text, hint) {
        return Some(Kind::Phone);
    }
    None
}

fn is_phone(d: &[u8], plus: bool, groups: &[(usize, usize)], text: &[u8], hint: KeyHint) -> bool {
    // Dotted runs of short groups are versions or IPs, slashes are dates.
    if text.contains(&b'/') {
        return false;
    }
    if plus {
        return (8..=15).contains(&d.len()) && d[0] != b'0';
    }
    let separated = groups.len() > 1;
    let nanp =
        |x: &[u8]| x.len() == 10 && (b'2'..=b'9').contains(&x[0]) && (b'2'..=b'9').contains(&x[3]);
    let grouped_334 = groups.len() >= 3 && {
        let l: Vec<usize> = groups.iter().map(|(s, e)| e - s).collect();
        l.ends_with(&[3, 3, 4])
    };
    if d.len() == 10 && nanp(d) && (grouped_334 || (!separated && hint == KeyHint::Phone)) {
        return true;
    }
    if d.len() == 11 && d[0] == b'1' && nanp(&d[1..]) && grouped_334 {
        return true;
    }
    // National formats with a trunk prefix: 020 7946 0958, 07700 900123, 01 23 45 67 89.
    if d[0] == b'0'
        && (10..=11).contains(&d.len())
        && d[1] != b'0'
        && (separated || hint == KeyHint::Phone)
    {
        let longest = groups.iter().map(|(s, e)| e - s).max().unwrap_or(0);
        return longest <= 7 && !text.contains(&b'.') || groups.len() >= 4;
    }
    false
}

fn ibans(b: &[u8], out: &mut Vec<Finding>) {
    let mut i = 0;
    while i + 15 <= b.len() {
        let c = b[i];
        if !c.is_ascii_alphabetic() || (i > 0 && is_alnum(b[i - 1])) {
            i += 1;
            continue;
        }
        if !(b[i + 1].is_ascii_alphabetic()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit())
        {
            i += 1;
            continue;
        }
        let cc = [c.to_ascii_uppercase(), b[i + 1].to_ascii_uppercase()];
        let Some(len) = country_length(&cc) else {
            i += 1;
            continue;
        };
        let mut compact = Vec::with_capacity(len);
        let mut j = i;
        while j < b.len() && compact.len() < len {
            if is_alnum(b[j]) {
                compact.push(b[j].to_ascii_uppercase());
                j += 1;
            } else if b[j] == b' '
                && j + 1 < b.len()
                && is_alnum(b[j + 1])
                && compact.len() % 4 == 0
            {
                j += 1;
            } else {
                break;
            }
        }
        if compact.len() == len && !(j < b.len() && is_alnum(b[j])) && is_iban(&compact) {
            out.push(Finding {
                start: i,
                end: j,
                kind: Kind::Iban,
            });
            i = j;
        } else {
            i += 1;
        }
    }
}

fn emails(b: &[u8], out: &mut Vec<Finding>) {
    let local_ok = |c: u8| is_alnum(c) || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'');
    for at in memchr::memchr_iter(b'@', b) {
        let mut s = at;
        while s > 0 && local_ok(b[s - 1]) && at - s < 64 {
            s -= 1;
        }
        while s < at && b[s] == b'.' {
            s += 1;
        }
        if s == at || b[at - 1] == b'.' {
            continue;
        }
        // Domain: labels of [A-Za-z0-9-] separated by single dots, last label alphabetic >= 2.
        let mut e = at + 1;
        let mut label_start = e;
        let mut labels = 0;
        let mut last_label = (0, 0);
        while e < b.len() {
            let c = b[e];
            if is_alnum(c) || c == b'-' {
                e += 1;
            } else if c == b'.' && e > label_start && e + 1 < b.len() && is_alnum(b[e + 1]) {
                labels += 1;
                last_label = (label_start, e);
                e += 1;
                label_start = e;
            } else {
                break;
            }
        }
        if e > label_start {
            labels += 1;
            last_label = (label_start, e);
        }
        let tld = &b[last_label.0..last_label.1];
        if labels >= 2 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic) {
            out.push(Finding {
                start: s,
                end: e,
                kind: Kind::Email,
            });
        }
    }
}

fn ipv4s(b: &[u8], out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && (is_alnum(b[i - 1]) || b[i - 1] == b'.')) {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut octets = 0;
        let mut ok = true;
        while octets < 4 {
            let s = j;
            while j < b.len() && b[j].is_ascii_digit() && j - s < 4 {
                j += 1;
            }
            let part = &b[s..j];
            if part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
                ok = false;
                break;
            }
            let v: u32 = part.iter().fold(0, |a, d| a * 10 + u32::from(d - b'0'));
            if v > 255 {
                ok = false;
                break;
            }
            octets += 1;
            if octets < 4 {
                if j < b.len() && b[j] == b'.' {
                    j += 1;
                } else {
                    ok = false;
                    break;
                }
            }
        }
        let tail_ok = !(j < b.len()
            && (is_alnum(b[j]) || (b[j] == b'.' && b.get(j + 1).is_some_and(u8::is_ascii_digit))));
        if ok && tail_ok {
            out.push(Finding {
                start: i,
                end: j,
                kind: Kind::Ipv4,
            });
            i = j;
        } else {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
}

fn ipv6s(b: &[u8], out: &mut Vec<Finding>) {
    let ok = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let mut i = 0;
    while i < b.len() {
        if !ok(b[i]) || (i > 0 && (is_alnum(b[i - 1]) || b[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && ok(b[j]) && j - i < 46 {
            j += 1;
        }
        // Trailing dots belong to the sentence.
        let mut e = j;
        while e > i && b[e - 1] == b'.' {
            e -= 1;
        }
        let cand = &b[i..e];
        let colons = cand.iter().filter(|&&c| c == b':').count();
        let hex = cand.iter().filter(|c| c.is_ascii_hexdigit()).count();
        if colons >= 2
            && hex >= 3
            && !(j < b.len() && is_alnum(b[j]))
            && std::str::from_utf8(cand)
                .ok()
                .and_then(|s| s.parse::<Ipv6Addr>().ok())
                .is_some()
        {
            {
                out.push(Finding {
                    start: i,
                    end: e,
                    kind: Kind::Ipv6,
                });
            }
        }
        i = j.max(i + 1);
    }
}

/// Known credential prefixes and the shortest total length a real one has.
const KEY_PREFIXES: &[(&[u8], usize)] = &[
    (b"sk_live_", 24),
    (b"sk_test_", 24),
    (b"rk_live_", 24),
    (b"rk_test_", 24),
    (b"whsec_", 24),
    (b"AKIA", 20),
    (b"ASIA", 20),
    (b"ghp_", 40),
    (b"gho_", 40),
    (b"ghu_", 40),
    (b"ghs_", 40),
    (b"ghr_", 40),
    (b"github_pat_", 50),
    (b"glpat-", 24),
    (b"xoxb-", 24),
    (b"xoxp-", 24),
    (b"xoxa-", 24),
    (b"xoxs-", 24),
    (b"AIza", 39),
    (b"sk-ant-", 40),
    (b"sk-proj-", 40),
    (b"sk-", 32),
    (b"SG.", 60),
    (b"npm_", 36),
    (b"pypi-", 50),
    (b"shpat_", 38),
    (b"sq0atp-", 29),
    (b"hf_", 34),
    (b"dop_v1_", 64),
];

fn entropy(s: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &c in s {
        counts[c as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn words(b: &[u8], det: &Detectors, out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < b.len() {
        if TABLE[b[i] as usize] & WORD == 0 || b[i] == b'=' {
            i += 1;
            continue;
        }
        let s = i;
        // `=` is base64 padding at the end of a word, but `key=value` splits.
        let inner_eq =
            |i: usize| b[i] == b'=' && b.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric());
        while i < b.len() && TABLE[b[i] as usize] & WORD != 0 && !inner_eq(i) {
            i += 1;
        }
        let mut e = i;
        while e > s && matches!(b[e - 1], b'.' | b'-' | b'/') {
            e -= 1;
        }
        let w = &b[s..e];
        if w.len() < 16 {
            continue;
        }
        if det.jwt && w.starts_with(b"eyJ") && is_jwt(w) {
            out.push(Finding {
                start: s,
                end: e,
                kind: Kind::Jwt,
            });
            continue;
        }
        if det.api_key
            && let Some((p, min)) = KEY_PREFIXES.iter().find(|(p, _)| w.starts_with(p))
        {
            {
                let rest = &w[p.len()..];
                let strong =
                    rest.len() >= 12 && entropy(rest) >= 3.0 && rest.iter().any(u8::is_ascii_digit)
                        || p.starts_with(b"AKIA")
                            && rest
                                .iter()
                                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                if w.len() >= *min && strong {
                    out.push(Finding {
                        start: s,
                        end: e,
                        kind: Kind::ApiKey,
                    });
                    continue;
                }
            }
        }
        if det.entropy && w.len() >= 24 {
            let (mut up, mut low, mut dig) = (false, false, false);
            for c in w {
                up |= c.is_ascii_uppercase();
                low |= c.is_ascii_lowercase();
                dig |= c.is_ascii_digit();
            }
            if up && low && dig && !w.contains(&b'.') && entropy(w) >= 4.2 {
                out.push(Finding {
                    start: s,
                    end: e,
                    kind: Kind::Secret,
                });
            }
        }
    }
}

fn is_jwt(w: &[u8]) -> bool {
    let mut parts = w.split(|&c| c == b'.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let b64 = |x: &[u8]| x.iter().all(|c| is_alnum(*c) || *c == b'-' || *c == b'_');
    if p.is_empty() || !b64(h) || !b64(p) || !b64(sig) {
        return false;
    }
    match URL_SAFE_NO_PAD.decode(h) {
        Ok(json) => {
            json.first() == Some(&b'{') && memchr::memmem::find(&json, b"\"alg\"").is_some()
        }
        Err(_) => false,
    }
}

fn pem(b: &[u8], out: &mut Vec<Finding>) {
    let mut from = 0;
    while let Some(p) = memchr::memmem::find(&b[from..], b"-----BEGIN ") {
        let s = from + p;
        let Some(hdr_end) = memchr::memmem::find(&b[s + 11..], b"-----").map(|x| s + 11 + x) else {
            return;
        };
        let label = &b[s + 11..hdr_end];
        if !label.ends_with(b"PRIVATE KEY") {
            from = hdr_end;
            continue;
        }
        let end = memchr::memmem::find(&b[hdr_end..], b"-----END ")
            .and_then(|x| {
                let e0 = hdr_end + x + 9;
                memchr::memmem::find(&b[e0..], b"-----").map(|y| e0 + y + 5)
            })
            .unwrap_or(b.len());
        out.push(Finding {
            start: s,
            end,
            kind: Kind::ApiKey,
        });
        from = end;
        if from >= b.len() {
            return;
        }
    }
}

/// Parses a date in a common format (`YYYY-MM-DD`, `YYYY/MM/DD`, `MM/DD/YYYY`, `DD.MM.YYYY`,
/// `YYYYMMDD`, optionally followed by a `T...` time); returns (year, month, day).
pub fn parse_date(s: &str) -> Option<(u16, u8, u8)> {
    let s = s.trim();
    let date = s.split(['T', ' ']).next()?;
    let b = date.as_bytes();
    let num = |x: &[u8]| -> Option<u16> {
        if x.is_empty() || x.len() > 4 || !x.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(x.iter().fold(0u16, |a, d| a * 10 + u16::from(d - b'0')))
    };
    let (y, m, d) = if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        (num(&b[..4])?, num(&b[4..6])?, num(&b[6..])?)
    } else {
        let sep = *b.iter().find(|c| matches!(c, b'-' | b'/' | b'.'))?;
        let parts: Vec<&[u8]> = b.split(|&c| c == sep).collect();
        if parts.len() != 3 {
            return None;
        }
        if parts[0].len() == 4 {
            (num(parts[0])?, num(parts[1])?, num(parts[2])?)
        } else if parts[2].len() == 4 && sep == b'/' {
            (num(parts[2])?, num(parts[0])?, num(parts[1])?)
        } else if parts[2].len() == 4 {
            (num(parts[2])?, num(parts[1])?, num(parts[0])?)
        } else {
            return None;
        }
    };
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if !(1800..=2200).contains(&y) || d == 0 || d > days {
        return None;
    }
    Some((y, m as u8, d as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str, hint: KeyHint) -> Vec<(Kind, String)> {
        let mut out = Vec::new();
        find_in_text(s, hint, &Detectors::default(), &mut out);
        out.iter()
            .map(|f| (f.kind, s[f.start..f.end].to_string()))
            .collect()
    }

    fn one(s: &str) -> Vec<(Kind, String)> {
        find(s, KeyHint::None)
    }

    #[test]
    fn cards_in_text() {
        assert_eq!(
            one("pay with 4111 1111 1111 1111 today"),
            vec![(Kind::Card, "4111 1111 1111 1111".into())]
        );
        assert_eq!(
            one("4111-1111-1111-1111"),
            vec![(Kind::Card, "4111-1111-1111-1111".into())]
        );
        assert!(one("order 4111111111111112 shipped").is_empty());
        assert!(one("id 1234567812345670").is_empty());
    }

    #[test]
    fn ssns() {
        assert_eq!(
            one("ssn 123-45-6789."),
            vec![(Kind::Ssn, "123-45-6789".into())]
        );
        assert!(one("ssn 666-45-6789").is_empty());
        assert!(one("ref 123456789").is_empty());
        assert_eq!(
            find("123456789", KeyHint::Ssn),
            vec![(Kind::Ssn, "123456789".into())]
        );
    }

    #[test]
    fn phones() {
        assert_eq!(
            one("call +44 20 7946 0958 now"),
            vec![(Kind::Phone, "+44 20 7946 0958".into())]
        );
        assert_eq!(
            one("call (415) 555-0132."),
            vec![(Kind::Phone, "(415) 555-0132".into())]
        );
        assert_eq!(
            one("order 12345 415-555-0132"),
            vec![(Kind::Phone, "415-555-0132".into())]
        );
        assert_eq!(
            one("tel 020 7946 0958"),
            vec![(Kind::Phone, "020 7946 0958".into())]
        );
        assert_eq!(
            one("+14155550132"),
            vec![(Kind::Phone, "+14155550132".into())]
        );
        assert!(one("total 1234567 units").is_empty());
        assert!(one("on 2024-01-15 and 15/01/2024").is_empty());
        assert!(
            one("call 115-555-0132").is_empty(),
            "area code cannot start with 1"
        );
        assert_eq!(
            find("4155550132", KeyHint::Phone),
            vec![(Kind::Phone, "4155550132".into())]
        );
    }

    #[test]
    fn emails_found() {
        assert_eq!(
            one("write to jane.doe+x@mail.example.co.uk."),
            vec![(Kind::Email, "jane.doe+x@mail.example.co.uk".into())]
        );
        assert!(one("not an email: a@b, @foo, x@localhost").is_empty());
    }

    #[test]
    fn ibans_found() {
        assert_eq!(
            one("IBAN GB82 WEST 1234 5698 7654 32 thanks"),
            vec![(Kind::Iban, "GB82 WEST 1234 5698 7654 32".into())]
        );
        assert_eq!(
            one("DE89370400440532013000"),
            vec![(Kind::Iban, "DE89370400440532013000".into())]
        );
        assert!(
            one("GB82 WEST 1234 5698 7654 33")
                .iter()
                .all(|(k, _)| *k != Kind::Iban)
        );
    }

    #[test]
    fn ips() {
        assert_eq!(
            one("from 192.168.1.20, ok"),
            vec![(Kind::Ipv4, "192.168.1.20".into())]
        );
        assert!(one("version 1.2.3.4.5 or 256.1.1.1 or 01.2.3.4").is_empty());
        assert_eq!(
            one("src 2001:db8::8a2e:370:7334."),
            vec![(Kind::Ipv6, "2001:db8::8a2e:370:7334".into())]
        );
        assert!(one("at 12:30:45 sharp").is_empty());
    }

    #[test]
    fn jwts_and_keys() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(
            one(&format!("Bearer {jwt}")),
            vec![(Kind::Jwt, jwt.to_string())]
        );
        assert!(
            one("eyJub3QiOiJqd3QifQ.eyJzdWIiOiIxIn0.abc").is_empty(),
            "header without alg"
        );
        assert_eq!(
            one("key=sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
            vec![(Kind::ApiKey, "sk_live_4eC39HqLyjWDarjtT1zdp7dc".into())]
        );
        assert_eq!(
            one("AKIAIOSFODNN7EXAMPLE is aws"),
            vec![(Kind::ApiKey, "AKIAIOSFODNN7EXAMPLE".into())]
        );
        assert!(
            one("sk_live_aaaaaaaaaaaaaaaaaaaaaaaa").is_empty(),
            "no entropy"
        );
        assert_eq!(
            one("tok Zx9Qw3Er7Ty1Ui5Op2As8Df4Gh6Jk0L done"),
            vec![(Kind::Secret, "Zx9Qw3Er7Ty1Ui5Op2As8Df4Gh6Jk0L".into())]
        );
        assert!(one("uuid 123e4567-e89b-12d3-a456-426614174000 and sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08").iter().all(|(k, _)| *k != Kind::Secret));
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----";
        assert_eq!(one(pem), vec![(Kind::ApiKey, pem.to_string())]);
    }

    #[test]
    fn key_hints() {
        assert_eq!(
            find("Jane Doe", KeyHint::Name),
            vec![(Kind::Name, "Jane Doe".into())]
        );
        assert_eq!(
            find("1984-02-29", KeyHint::Dob),
            vec![(Kind::Dob, "1984-02-29".into())]
        );
        assert!(find("1983-02-29", KeyHint::Dob).is_empty());
        assert!(find("1984-02-29", KeyHint::None).is_empty());
        assert_eq!(
            find("hunter2", KeyHint::Secret),
            vec![(Kind::Secret, "hunter2".into())]
        );
        assert!(find("   ", KeyHint::Name).is_empty());
        assert_eq!(parse_date("03/14/1985"), Some((1985, 3, 14)));
        assert_eq!(parse_date("14.03.1985"), Some((1985, 3, 14)));
    }
}
