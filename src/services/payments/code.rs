//! Payment codes: what a citizen reads out at a bank counter or types into a banking app to pay an
//! order. Ten characters from an alphabet without look-alikes (no `0`/`O`, `1`/`I`/`L`), the last a
//! check character: the sum of each character's value times its position (1 to 10) is a multiple
//! of 31, the alphabet's size, a prime (as ISBN-10 does with 11). So one mistyped character, or
//! any two characters swapped, is caught before any lookup. Shown grouped (`ABCDE-FGH2K`); read
//! back with or without the spaces and hyphens people add, in either case.

use rand::Rng;

/// The alphabet: digits 2–9 and the letters without I, L and O (31 characters).
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Characters of a code, the check character included.
pub const LEN: usize = 10;

fn value(c: u8) -> Option<usize> {
    ALPHABET.iter().position(|a| *a == c)
}

/// The check character of a 9-character `payload` (characters of [`ALPHABET`]): the value `c`
/// with `Σ position × value + 10 × c ≡ 0 (mod 31)`.
fn check_char(payload: &[u8]) -> Option<u8> {
    const N: usize = ALPHABET.len();
    // 10 × 28 = 280 ≡ 1 (mod 31): 28 is the inverse of the check character's weight.
    const INVERSE_OF_10: usize = 28;
    let mut sum = 0;
    for (i, c) in payload.iter().enumerate() {
        sum += (i + 1) * value(*c)?;
    }
    Some(ALPHABET[(N - sum % N) % N * INVERSE_OF_10 % N])
}

/// A fresh random code (`rand`'s thread generator, seeded from the OS).
pub fn generate() -> String {
    let mut rng = rand::rng();
    let mut code: Vec<u8> = (0..LEN - 1)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect();
    if let Some(c) = check_char(&code) {
        code.push(c);
    }
    String::from_utf8(code).unwrap_or_default()
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeError {
    /// Not ten characters of the alphabet.
    Format,
    /// The check character does not match: a character was misread or mistyped.
    Check,
}

/// Reads a code as a person may have written it: spaces and hyphens dropped, upper-cased, then
/// checked against the alphabet and the check character. Answers the stored form.
pub fn parse(input: &str) -> Result<String, CodeError> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let bytes = code.as_bytes();
    if bytes.len() != LEN || bytes.iter().any(|c| value(*c).is_none()) {
        return Err(CodeError::Format);
    }
    if check_char(&bytes[..LEN - 1]) != Some(bytes[LEN - 1]) {
        return Err(CodeError::Check);
    }
    Ok(code)
}

/// The code grouped for reading aloud: `ABCDE-FGH2K`.
pub fn display(code: &str) -> String {
    match code.split_at_checked(5) {
        Some((a, b)) if !b.is_empty() => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_ten_characters_of_the_alphabet_and_pass_their_check() {
        for _ in 0..1000 {
            let c = generate();
            assert_eq!(c.len(), LEN);
            assert!(!c.contains(['0', 'O', '1', 'I', 'L']), "{c}");
            assert_eq!(parse(&c), Ok(c.clone()));
        }
    }

    #[test]
    fn spacing_hyphens_and_case_are_forgiven() {
        let c = generate();
        let typed = format!(" {} ", display(&c).to_lowercase().replace('-', " - "));
        assert_eq!(parse(&typed), Ok(c));
    }

    #[test]
    fn every_single_substitution_and_every_swap_is_caught() {
        let mut c = b"XK7P2MZ9Q".to_vec();
        c.push(check_char(&c).expect("alphabet"));
        for i in 0..LEN {
            for a in ALPHABET {
                if *a == c[i] {
                    continue;
                }
                let mut wrong = c.clone();
                wrong[i] = *a;
                let wrong = String::from_utf8(wrong).expect("ascii");
                assert_eq!(parse(&wrong), Err(CodeError::Check), "{wrong}");
            }
        }
        for i in 0..LEN {
            for j in i + 1..LEN {
                if c[i] == c[j] {
                    continue;
                }
                let mut swapped = c.clone();
                swapped.swap(i, j);
                let swapped = String::from_utf8(swapped).expect("ascii");
                assert_eq!(parse(&swapped), Err(CodeError::Check), "{swapped}");
            }
        }
    }

    #[test]
    fn a_known_code_checks() {
        // Payload "23456789A": values 0..8 at positions 1..9, Σ i(i-1) = 240 ≡ 23; the check
        // value is (31 - 23) × 28 mod 31 = 7 → '9' (240 + 10 × 7 = 310 = 10 × 31).
        assert_eq!(check_char(b"23456789A"), Some(b'9'));
        assert_eq!(parse("23456-789A9"), Ok("23456789A9".into()));
        assert_eq!(parse("23456789A8"), Err(CodeError::Check));
        assert_eq!(parse("0OIL1"), Err(CodeError::Format));
        assert_eq!(display("23456789A9"), "23456-789A9");
    }
}
