//! Payment card numbers: 13–19 digits (single spaces or dashes between groups allowed),
//! a known issuer (IIN) range for the length, and a valid Luhn check digit.

/// True when `digits` (ASCII digits only) passes the Luhn check.
pub fn luhn_valid(digits: &[u8]) -> bool {
    luhn_sum(digits).is_multiple_of(10)
}

/// Luhn sum of the digits as they are (the last digit is the check digit).
pub(crate) fn luhn_sum(digits: &[u8]) -> u32 {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d.wrapping_sub(b'0'));
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum
}

/// The check digit that makes `body` (all digits but the last) Luhn-valid.
pub(crate) fn luhn_check_digit(body: &[u8]) -> u8 {
    // Append a 0 and see how far the sum is from a multiple of ten.
    let mut with_zero = body.to_vec();
    with_zero.push(b'0');
    let s = luhn_sum(&with_zero);
    b'0' + ((10 - s % 10) % 10) as u8
}

fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
}

/// True when the number belongs to a known issuer range of that length.
pub fn known_iin(digits: &[u8]) -> bool {
    let len = digits.len();
    if !(12..=19).contains(&len) {
        return false;
    }
    let p1 = prefix_num(digits, 1);
    let p2 = prefix_num(digits, 2);
    let p3 = prefix_num(digits, 3);
    let p4 = prefix_num(digits, 4);
    let p6 = prefix_num(digits, 6);
    match p1 {
        // Visa
        4 => matches!(len, 13 | 16 | 19),
        // Mastercard 51–55 and 2221–2720
        5 if (51..=55).contains(&p2) => len == 16,
        2 if (2221..=2720).contains(&p4) => len == 16,
        // Amex
        3 if p2 == 34 || p2 == 37 => len == 15,
        // JCB
        3 if (3528..=3589).contains(&p4) => (16..=19).contains(&len),
        // Diners Club
        3 if (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 => {
            (14..=19).contains(&len)
        }
        // Discover, UnionPay, RuPay, Maestro (6)
        6 if p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 => (16..=19).contains(&len),
        6 if (622126..=622925).contains(&p6) || p2 == 62 => (16..=19).contains(&len),
        6 if p2 == 60 || p2 == 63 || p2 == 67 => (12..=19).contains(&len),
        // Maestro 50, 56–58
        5 if p2 == 50 || (56..=58).contains(&p2) => (12..=19).contains(&len),
        _ => false,
    }
}

/// True when `digits` is a plausible card number: known IIN for its length and Luhn-valid.
pub fn is_card(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && known_iin(digits) && luhn_valid(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_cards() {
        for c in [
            "4111111111111111",
            "4242424242424242",
            "5555555555554444",
            "2223003122003222",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
            "36227206271667",
            "6200000000000005",
        ] {
            assert!(is_card(c.as_bytes()), "{c}");
        }
    }

    #[test]
    fn invalid_cards() {
        for c in [
            "4111111111111112", // Luhn
            "1234567812345670", // Luhn ok, no issuer starts with 1
            "9111111111111111",
            "411111111111",     // too short
            "37828224631000",   // Amex with 14 digits
            "5555555555554440", // Luhn
        ] {
            assert!(!is_card(c.as_bytes()), "{c}");
        }
        assert_eq!(luhn_check_digit(b"411111111111111"), b'1');
    }
}
