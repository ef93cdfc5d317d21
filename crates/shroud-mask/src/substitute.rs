//! `substitute`: realistic synthetic values of the same kind and format, derived from an HMAC
//! of (key, scope, kind, value) so the same input always gets the same alias, and re-derived
//! until the alias differs from the input. Cards come out Luhn-valid in test ranges, IBANs with
//! correct check digits, IPs in private/documentation ranges, emails at reserved domains.

use crate::class::Kind;
use crate::detect::card::luhn_check_digit;
use crate::detect::iban::check_digits;
use crate::detect::parse_date;
use crate::keys::hmac;

/// A deterministic byte stream: HMAC(key, seed, counter) blocks. Hand-rolled (ten lines) rather
/// than a seeded `StdRng` because aliases must stay stable across `rand` upgrades.
pub(crate) struct Drbg {
    key: [u8; 32],
    block: [u8; 32],
    used: usize,
    ctr: u64,
}

impl Drbg {
    pub(crate) fn new(key: &[u8; 32], parts: &[&[u8]]) -> Drbg {
        Drbg {
            key: hmac(key, parts),
            block: [0; 32],
            used: 32,
            ctr: 0,
        }
    }
    fn byte(&mut self) -> u8 {
        if self.used == 32 {
            self.block = hmac(&self.key, &[&self.ctr.to_le_bytes()]);
            self.ctr += 1;
            self.used = 0;
        }
        self.used += 1;
        self.block[self.used - 1]
    }
    /// Uniform-enough integer in `0..n` (n > 0); bias below 2^-16.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let v = u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()]);
        (v as usize) % n.max(1)
    }
    fn digit(&mut self) -> u8 {
        b'0' + self.below(10) as u8
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

const FIRST: &[&str] = &[
    "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Harper",
    "Rowan", "Emery", "Reese", "Parker", "Sage", "Dakota", "Skyler", "Blair", "Marlowe", "Ellis",
    "Noor", "Kenji", "Amara", "Mateo", "Ingrid", "Tomas", "Leila", "Dmitri", "Priya", "Oskar",
];
const LAST: &[&str] = &[
    "Ashford",
    "Brightwell",
    "Calloway",
    "Dunmore",
    "Everhart",
    "Fairbanks",
    "Greenleaf",
    "Holloway",
    "Ivers",
    "Kingsley",
    "Lockwood",
    "Merriweather",
    "Northcott",
    "Oakridge",
    "Pemberton",
    "Quill",
    "Ravenscroft",
    "Stanhope",
    "Thornbury",
    "Underwood",
    "Vance",
    "Whitcombe",
    "Yardley",
    "Zeller",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Varga",
    "Castell",
];
const STREETS: &[&str] = &[
    "Maple", "Cedar", "Willow", "Juniper", "Linden", "Harbor", "Meadow", "Orchard", "Summit",
    "Birch", "Hawthorn", "Lakeview", "Mill", "Prospect", "Ridge", "Sycamore",
];
const SUFFIXES: &[&str] = &[
    "Street", "Avenue", "Road", "Lane", "Drive", "Court", "Way", "Place",
];
const CITIES: &[&str] = &[
    "Fairview",
    "Riverton",
    "Lakewood",
    "Brookfield",
    "Ashland",
    "Clearwater",
    "Westbury",
    "Oakdale",
];
const DOMAINS: &[&str] = &["example.com", "example.net", "example.org"];

/// The alias of `text` (a value of `kind`) under `key` and `scope`; never equal to `text`.
pub(crate) fn substitute(key: &[u8; 32], scope: &str, kind: Kind, text: &str) -> String {
    for attempt in 0u32..8 {
        let mut r = Drbg::new(
            key,
            &[
                scope.as_bytes(),
                kind.as_str().as_bytes(),
                text.as_bytes(),
                &attempt.to_le_bytes(),
            ],
        );
        let alias = generate(&mut r, kind, text);
        if alias != text && !alias.is_empty() {
            return alias;
        }
    }
    // Eight collisions in a row cannot happen for any kind with more than a handful of outputs;
    // keep the guarantee anyway.
    let mut r = Drbg::new(key, &[scope.as_bytes(), b"fallback", text.as_bytes()]);
    let mut alias = shape(&mut r, text);
    if alias == text {
        alias.push('0');
    }
    alias
}

fn generate(r: &mut Drbg, kind: Kind, text: &str) -> String {
    match kind {
        Kind::Card => card(r, text),
        Kind::Ssn => ssn(r, text),
        Kind::Email => {
            let f = r.pick(FIRST).to_lowercase();
            let l = r.pick(LAST).to_lowercase();
            format!("{f}.{l}{}@{}", r.below(100), r.pick(DOMAINS))
        }
        Kind::Phone => phone(r, text),
        Kind::Iban => iban(r, text),
        Kind::Ipv4 => format!("10.{}.{}.{}", r.below(256), r.below(256), 1 + r.below(254)),
        Kind::Ipv6 => {
            let groups: Vec<String> = (0..6).map(|_| format!("{:x}", r.below(0x10000))).collect();
            format!("2001:db8:{}", groups.join(":"))
        }
        Kind::Dob => dob(r, text),
        Kind::Name => {
            let words = text.split_whitespace().count();
            if words <= 1 {
                r.pick(FIRST).to_string()
            } else {
                format!("{} {}", r.pick(FIRST), r.pick(LAST))
            }
        }
        Kind::Address => {
            let t = text.trim();
            if t.bytes()
                .all(|c| c.is_ascii_digit() || c == b'-' || c == b' ')
            {
                shape(r, text)
            } else if t.contains(',') {
                format!(
                    "{} {} {}, {}",
                    1 + r.below(9899),
                    r.pick(STREETS),
                    r.pick(SUFFIXES),
                    r.pick(CITIES)
                )
            } else if t.starts_with(|c: char| c.is_ascii_digit()) {
                format!(
                    "{} {} {}",
                    1 + r.below(9899),
                    r.pick(STREETS),
                    r.pick(SUFFIXES)
                )
            } else {
                shape(r, text)
            }
        }
        Kind::Jwt => {
            use base64::Engine as _;
            let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let sub: String = (0..12)
                .map(|_| char::from(b'a' + r.below(26) as u8))
                .collect();
            let sig: Vec<u8> = (0..32).map(|_| r.below(256) as u8).collect();
            format!(
                "{}.{}.{}",
                e.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
                e.encode(format!(r#"{{"sub":"{sub}"}}"#)),
                e.encode(sig)
            )
        }
        Kind::ApiKey => {
            // Keep a known prefix (up to the last '_' or '-' in the first 12 chars) so the alias
            // still reads as that provider's key.
            let head = text
                .char_indices()
                .take(12)
                .filter(|(_, c)| *c == '_' || *c == '-')
                .map(|(i, _)| i + 1)
                .last()
                .unwrap_or(0);
            let head = if head == 0 && (text.starts_with("AKIA") || text.starts_with("AIza")) {
                4
            } else {
                head
            };
            format!("{}{}", &text[..head], shape(r, &text[head..]))
        }
        Kind::Secret | Kind::Generic | Kind::Image => shape(r, text),
    }
}

/// Same character classes, new characters: digits stay digits, letters keep case, the rest stays.
pub(crate) fn shape(r: &mut Drbg, text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from(r.digit()),
            'a'..='z' => char::from(b'a' + r.below(26) as u8),
            'A'..='Z' => char::from(b'A' + r.below(26) as u8),
            c if c.is_alphabetic() => char::from(b'a' + r.below(26) as u8),
            c => c,
        })
        .collect()
}

/// Writes `digits` back into the positions of the digits of `template`.
fn refill(template: &str, digits: &[u8]) -> String {
    let mut it = digits.iter();
    template
        .bytes()
        .map(|c| {
            if c.is_ascii_digit() {
                it.next().copied().unwrap_or(b'0')
            } else {
                c
            }
        })
        .map(char::from)
        .collect()
}

fn card(r: &mut Drbg, text: &str) -> String {
    let n = text.bytes().filter(u8::is_ascii_digit).count();
    // Test-range issuers per length: Visa 4, Amex 37, Diners 36, Discover 6011.
    let prefix: &[u8] = match n {
        15 => b"37",
        14 => b"36",
        17 | 18 => b"6011",
        _ => b"4",
    };
    let mut d = prefix.to_vec();
    while d.len() + 1 < n {
        d.push(r.digit());
    }
    let check = luhn_check_digit(&d);
    d.push(check);
    refill(text, &d)
}

fn ssn(r: &mut Drbg, text: &str) -> String {
    let mut area = 1 + r.below(898);
    if area == 666 {
        area = 667;
    }
    let group = 1 + r.below(99);
    let serial = 1 + r.below(9999);
    let d = format!("{area:03}{group:02}{serial:04}");
    refill(text, d.as_bytes())
}

fn phone(r: &mut Drbg, text: &str) -> String {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_digit).collect();
    // Keep the country code (after '+') or the trunk '0', replace the subscriber number.
    let keep = if text.trim_start().starts_with('+') {
        if digits.first() == Some(&b'1') || digits.first() == Some(&b'7') {
            1
        } else {
            2
        }
    } else if digits.first() == Some(&b'0') || (digits.len() == 11 && digits[0] == b'1') {
        1
    } else {
        0
    };
    let mut d: Vec<u8> = digits.iter().take(keep).copied().collect();
    while d.len() < digits.len() {
        let i = d.len() - keep;
        // NANP-shaped numbers need area and exchange codes starting 2-9.
        d.push(if i == 0 || i == 3 {
            b'2' + r.below(8) as u8
        } else {
            r.digit()
        });
    }
    refill(text, &d)
}

fn iban(r: &mut Drbg, text: &str) -> String {
    let compact: Vec<u8> = text
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if compact.len() < 5 {
        return shape(r, text);
    }
    let cc = &compact[..2];
    let bban: Vec<u8> = compact[4..]
        .iter()
        .map(|&c| {
            if c.is_ascii_digit() {
                r.digit()
            } else {
                b'A' + r.below(26) as u8
            }
        })
        .collect();
    let check = check_digits(cc, &bban);
    let mut all = cc.to_vec();
    all.extend_from_slice(&check);
    all.extend_from_slice(&bban);
    let mut it = all.into_iter();
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                it.next().map_or(c, char::from)
            } else {
                c
            }
        })
        .collect()
}

fn dob(r: &mut Drbg, text: &str) -> String {
    let Some((y, m, d)) = parse_date(text) else {
        return shape(r, text);
    };
    // Shift by 400..3000 days: the year always changes, the age stays roughly plausible.
    let days = days_from_civil(i64::from(y), i64::from(m), i64::from(d));
    let shift = 400 + r.below(2600) as i64;
    let shifted = if r.below(2) == 0 {
        days - shift
    } else {
        days + shift
    };
    let (ny, nm, nd) = civil_from_days(shifted);
    let yy = format!("{ny:04}");
    let mm = format!("{nm:02}");
    let dd = format!("{nd:02}");
    // Rewrite in the input's layout by locating the year/month/day fields.
    let t = text.trim();
    let date_len = t.find(['T', ' ']).unwrap_or(t.len());
    let (date, rest) = t.split_at(date_len);
    let out = if date.len() == 8 && date.bytes().all(|c| c.is_ascii_digit()) {
        format!("{yy}{mm}{dd}")
    } else if let Some(sep) = date.chars().find(|c| matches!(c, '-' | '/' | '.')) {
        let parts: Vec<&str> = date.split(sep).collect();
        if parts.first().is_some_and(|p| p.len() == 4) {
            format!("{yy}{sep}{mm}{sep}{dd}")
        } else if sep == '/' {
            format!("{mm}{sep}{dd}{sep}{yy}")
        } else {
            format!("{dd}{sep}{mm}{sep}{yy}")
        }
    } else {
        return shape(r, text);
    };
    format!("{out}{rest}")
}

// Howard Hinnant's civil-calendar algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::card::is_card;
    use crate::detect::iban::is_iban;
    use crate::detect::ssn::is_ssn;

    const K: [u8; 32] = [7; 32];

    #[test]
    fn consistent_and_valid() {
        let a = substitute(&K, "s", Kind::Card, "4111 1111 1111 1111");
        assert_eq!(a, substitute(&K, "s", Kind::Card, "4111 1111 1111 1111"));
        assert_ne!(
            a,
            substitute(&K, "other", Kind::Card, "4111 1111 1111 1111")
        );
        let digits: Vec<u8> = a.bytes().filter(u8::is_ascii_digit).collect();
        assert!(is_card(&digits), "{a}");
        assert_eq!(a.len(), 19);
        let s = substitute(&K, "s", Kind::Ssn, "123-45-6789");
        assert!(
            is_ssn(&s.bytes().filter(u8::is_ascii_digit).collect::<Vec<_>>()),
            "{s}"
        );
        let i = substitute(&K, "s", Kind::Iban, "GB82 WEST 1234 5698 7654 32");
        assert!(
            is_iban(&i.bytes().filter(|c| *c != b' ').collect::<Vec<_>>()),
            "{i}"
        );
        let d = substitute(&K, "s", Kind::Dob, "1985-03-14");
        assert!(parse_date(&d).is_some() && !d.starts_with("1985"), "{d}");
        let p = substitute(&K, "s", Kind::Phone, "+1 (415) 555-0132");
        assert!(p.starts_with("+1 (") && p.len() == 17, "{p}");
        let e = substitute(&K, "s", Kind::Email, "jane@corp.io");
        assert!(
            e.ends_with(".com") || e.ends_with(".net") || e.ends_with(".org"),
            "{e}"
        );
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }

    #[test]
    fn never_equal() {
        for t in ["1", "a", "x", "Ab"] {
            assert_ne!(substitute(&K, "s", Kind::Generic, t), t);
        }
    }
}
