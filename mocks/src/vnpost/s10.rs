//! UPU S10 item identifiers (`EL491610889VN`): two service letters, an 8-digit serial, a check
//! digit, and the country code.

/// Weights of the S10 check digit, on the 8 serial digits.
const WEIGHTS: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];

/// The check digit of an 8-digit serial: `11 - (Σ dᵢ·wᵢ mod 11)`, where 10 gives 0 and 11 gives 5.
/// `None` unless the serial is exactly 8 ASCII digits.
pub fn check_digit(serial: &str) -> Option<u8> {
    if serial.len() != 8 || !serial.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = serial
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c as u8,
    })
}

/// The identifier `{prefix}{serial:08}{check}VN`; `prefix` is two upper-case letters.
pub fn item_code(prefix: &str, serial: u32) -> String {
    let serial = format!("{:08}", serial % 100_000_000);
    let check = check_digit(&serial).unwrap_or(0);
    format!("{prefix}{serial}{check}VN")
}

/// Whether `code` is a well-formed S10 identifier with a correct check digit.
pub fn is_valid(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 13
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[11..].iter().all(u8::is_ascii_uppercase)
        && b[10].is_ascii_digit()
        && check_digit(&code[2..10]) == Some(b[10] - b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_identifiers() {
        // A real VNPost item code from public client code, and the UPU S10 standard's example.
        assert!(is_valid("EL491610889VN"));
        assert!(is_valid("RR473124829GB"));
        assert!(!is_valid("EL491610888VN"));
        assert!(!is_valid("EL49161088VN"));
        assert!(!is_valid("el491610889VN"));
        assert_eq!(check_digit("49161088"), Some(9));
        assert_eq!(check_digit("4916108"), None);
    }

    #[test]
    fn remainders_zero_and_one() {
        // Σ mod 11 = 1 → 10 → 0; Σ mod 11 = 0 → 11 → 5.
        assert_eq!(check_digit("00000000"), Some(5));
        // 8·0+6·0+4·0+2·0+3·0+5·0+9·0+7·5 = 35, 35 mod 11 = 2 → 9.
        assert_eq!(check_digit("00000005"), Some(9));
        // 2·6 = 12, 12 mod 11 = 1 → 0.
        assert_eq!(check_digit("00060000"), Some(0));
        assert_eq!(item_code("EL", 49161088), "EL491610889VN");
        for s in [0u32, 1, 99_999_999, 12_345_678] {
            assert!(is_valid(&item_code("CP", s)));
        }
    }
}
