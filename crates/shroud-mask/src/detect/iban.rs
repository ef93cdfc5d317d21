//! IBANs: a country code with its registered length, two check digits, and the ISO 13616
//! mod-97 check (the whole number, rearranged, is 1 modulo 97).

/// Registered IBAN lengths of the countries we recognise.
const LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VG", 24),
    (b"XK", 20),
];

/// The registered length for a country code, if we know it.
pub fn country_length(cc: &[u8]) -> Option<usize> {
    LENGTHS
        .iter()
        .find(|(c, _)| c.as_slice() == cc)
        .map(|(_, l)| *l)
}

/// The IBAN's value modulo 97 after moving the first four characters to the end.
pub(crate) fn mod97(iban: &[u8]) -> Option<u32> {
    let mut rem = 0u32;
    let rearranged = iban[4..].iter().chain(iban[..4].iter());
    for &c in rearranged {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    Some(rem)
}

/// True when `compact` (no spaces, upper case) is a valid IBAN.
pub fn is_iban(compact: &[u8]) -> bool {
    if compact.len() < 15 || compact.len() > 34 {
        return false;
    }
    if !compact[..2].iter().all(u8::is_ascii_uppercase)
        || !compact[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    if country_length(&compact[..2]) != Some(compact.len()) {
        return false;
    }
    mod97(compact) == Some(1)
}

/// Check digits that make `cc` + `bban` a valid IBAN.
pub(crate) fn check_digits(cc: &[u8], bban: &[u8]) -> [u8; 2] {
    let mut tmp = Vec::with_capacity(bban.len() + 4);
    tmp.extend_from_slice(cc);
    tmp.extend_from_slice(b"00");
    tmp.extend_from_slice(bban);
    let r = mod97(&tmp).unwrap_or(0);
    let check = 98 - r;
    [b'0' + (check / 10) as u8, b'0' + (check % 10) as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid() {
        assert!(is_iban(b"GB82WEST12345698765432"));
        assert!(is_iban(b"DE89370400440532013000"));
        assert!(is_iban(b"FR1420041010050500013M02606"));
        assert!(!is_iban(b"GB82WEST12345698765433"));
        assert!(!is_iban(b"DE8937040044053201300"));
        assert!(!is_iban(b"XX89370400440532013000"));
        assert_eq!(&check_digits(b"DE", b"370400440532013000"), b"89");
    }
}
