//! US social security numbers: `AAA-GG-SSSS` with the SSA's structural rules (area not 000,
//! 666 or 900–999; group not 00; serial not 0000) and the publicly misused numbers excluded.

/// True when the nine digits are a structurally valid SSN.
pub fn is_ssn(d: &[u8]) -> bool {
    if d.len() != 9 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let area = (d[0] - b'0') as u16 * 100 + (d[1] - b'0') as u16 * 10 + (d[2] - b'0') as u16;
    let group = &d[3..5];
    let serial = &d[5..9];
    if area == 0 || area == 666 || area >= 900 {
        return false;
    }
    if group == b"00" || serial == b"0000" {
        return false;
    }
    // Woolworth's wallet card and the 1962 ad: widely published, never real.
    !(d == b"078051120" || d == b"219099999")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(is_ssn(b"123456789"));
        assert!(is_ssn(b"536221234"));
        for bad in [
            "000123456",
            "666123456",
            "912345678",
            "123006789",
            "123450000",
            "078051120",
            "12345678",
        ] {
            assert!(!is_ssn(bad.as_bytes()), "{bad}");
        }
    }
}
