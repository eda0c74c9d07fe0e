//! Identifier rules (UPSTREAMS.md §7): the 12-digit personal id, the 9-digit old id (CMND) and the
//! enterprise / tax code (MST) with its check digit. Used by the generator, by `load_file` and by
//! tests of other modules.

use super::model::{Date, Sex};
use super::places;

/// Weights of the MST check digit, on digits 1–9.
const TAX_WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

/// The century-and-sex digit `G` of a personal id: 0/1 born 1900s male/female, 2/3 2000s,
/// 4/5 2100s, 6/7 2200s, 8/9 2300s. `None` for a year outside 1900–2399.
pub fn century_digit(sex: Sex, birth_year: i32) -> Option<u8> {
    if !(1900..2400).contains(&birth_year) {
        return None;
    }
    let century = u8::try_from((birth_year - 1900) / 100).ok()?;
    Some(century * 2 + u8::from(sex == Sex::Female))
}

/// A personal id `PPP G YY NNNNNN`: `province_code3` is the birth province's old code with a leading
/// zero ("046"; "46" is padded), `serial` is taken modulo 1 000 000. Years outside 1900–2399 are
/// clamped into that range (no such id exists).
pub fn personal_id(province_code3: &str, sex: Sex, birth_year: i32, serial: u32) -> String {
    let year = birth_year.clamp(1900, 2399);
    let g = century_digit(sex, year).unwrap_or(0);
    format!(
        "{:0>3}{}{:02}{:06}",
        province_code3,
        g,
        year.rem_euclid(100),
        serial % 1_000_000
    )
}

/// What a personal id says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalIdInfo {
    /// Birth province, old 2-digit code ("46").
    pub province_code: String,
    /// Sex.
    pub sex: Sex,
    /// Birth year (century from `G`, last two digits from `YY`).
    pub birth_year: i32,
    /// The six random digits.
    pub serial: u32,
}

/// Decodes a 12-digit personal id; `None` unless it is 12 ASCII digits.
pub fn parse_personal_id(id: &str) -> Option<PersonalIdInfo> {
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let d = id.as_bytes();
    let g = d[3] - b'0';
    let sex = if g % 2 == 0 { Sex::Male } else { Sex::Female };
    let yy = i32::from(d[4] - b'0') * 10 + i32::from(d[5] - b'0');
    let birth_year = 1900 + i32::from(g / 2) * 100 + yy;
    Some(PersonalIdInfo {
        province_code: id[1..3].to_owned(),
        sex,
        birth_year,
        serial: id[6..].parse().ok()?,
    })
}

/// Whether `id` is 12 digits whose `G` matches `sex` and the century of `date_of_birth`, and whose
/// `YY` are the last two digits of the birth year. The province part is not checked here
/// (see [`is_well_formed_personal_id`]).
pub fn personal_id_is_consistent(id: &str, sex: Sex, date_of_birth: &Date) -> bool {
    match parse_personal_id(id) {
        Some(info) => info.sex == sex && info.birth_year == date_of_birth.year,
        None => false,
    }
}

/// Why a personal id does not fit a sex and date of birth, in words; `None` when it fits.
pub fn personal_id_mismatch(id: &str, sex: Sex, date_of_birth: &Date) -> Option<String> {
    if let Some(problem) = personal_id_structure_problem(id) {
        return Some(problem);
    }
    let info = parse_personal_id(id)?;
    let g = id.as_bytes()[3] - b'0';
    if info.sex != sex {
        return Some(format!(
            "digit G={g} means {} but the record's sex is {}",
            sex_word(info.sex),
            sex_word(sex)
        ));
    }
    if info.birth_year != date_of_birth.year {
        let expected = century_digit(sex, date_of_birth.year)
            .map(|g| format!("G={g}, YY={:02}", date_of_birth.year.rem_euclid(100)))
            .unwrap_or_else(|| "a birth year in 1900–2399".to_owned());
        return Some(format!(
            "G={g}, YY={} mean born in {} but date_of_birth is {} (expected {expected})",
            &id[4..6],
            info.birth_year,
            date_of_birth.iso()
        ));
    }
    None
}

fn sex_word(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
    }
}

/// Why `id` is not a well-formed personal id (12 digits, `PPP` one of the 63 old province codes),
/// or `None` when it is.
pub fn personal_id_structure_problem(id: &str) -> Option<String> {
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("`{id}` is not 12 digits"));
    }
    if !id.starts_with('0') || places::province(&id[1..3]).is_none() {
        return Some(format!(
            "province part `{}` is not one of the 63 province codes",
            &id[..3]
        ));
    }
    None
}

/// Whether `id` is 12 digits starting with a known province code (`001`…`096`).
pub fn is_well_formed_personal_id(id: &str) -> bool {
    personal_id_structure_problem(id).is_none()
}

/// Whether `id` is a 9-digit old id (CMND). It has no check digit.
pub fn is_well_formed_old_id(id: &str) -> bool {
    id.len() == 9 && id.bytes().all(|b| b.is_ascii_digit())
}

/// The 10th digit of an MST from its first nine: weights 31, 29, 23, 19, 17, 13, 7, 5, 3;
/// `10 - (sum mod 11)`, where remainder 10 gives 0 and remainder 0 gives `None` (no valid code
/// starts with those nine digits). `None` too unless `first9` is nine ASCII digits.
pub fn tax_code_check_digit(first9: &str) -> Option<u8> {
    if first9.len() != 9 || !first9.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first9
        .bytes()
        .zip(TAX_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    match sum % 11 {
        0 => None,
        r => u8::try_from(10 - r).ok(),
    }
}

/// Why `code` is not a valid MST, or `None` when it is: 10 digits, or 10 digits `-` 3 digits for a
/// branch; digits 3–9 not all zero; branch not `000`; check digit right.
pub fn tax_code_problem(code: &str) -> Option<String> {
    let (main, branch) = match code.split_once('-') {
        Some((m, b)) => (m, Some(b)),
        None => (code, None),
    };
    if main.len() != 10 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!(
            "`{code}` is not 10 digits (or 10 digits-NNN for a branch)"
        ));
    }
    if let Some(b) = branch {
        if b.len() != 3 || !b.bytes().all(|c| c.is_ascii_digit()) {
            return Some(format!("branch part `{b}` of `{code}` is not 3 digits"));
        }
        if b == "000" {
            return Some(format!("branch part of `{code}` is 000"));
        }
    }
    if main[2..9].bytes().all(|b| b == b'0') {
        return Some(format!("digits 3–9 of `{code}` are all zero"));
    }
    match tax_code_check_digit(&main[..9]) {
        None => Some(format!(
            "`{code}`: no check digit exists for {} (sum ≡ 0 mod 11)",
            &main[..9]
        )),
        Some(d) if main.as_bytes()[9] - b'0' != d => Some(format!(
            "check digit of `{code}` is {} but must be {d}",
            main.as_bytes()[9] - b'0'
        )),
        Some(_) => None,
    }
}

/// Whether `code` is a valid MST: `0100233488` and `0314409058-002` are, `0100233480` is not.
pub fn is_valid_tax_code(code: &str) -> bool {
    tax_code_problem(code).is_none()
}

/// Completes nine digits into a valid 10-digit MST, or `None` when no check digit exists for them
/// or digits 3–9 are all zero.
pub fn complete_tax_code(first9: &str) -> Option<String> {
    let d = tax_code_check_digit(first9)?;
    let code = format!("{first9}{d}");
    is_valid_tax_code(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_of_known_codes() {
        assert_eq!(tax_code_check_digit("010023348"), Some(8));
        assert_eq!(tax_code_check_digit("031440905"), Some(8));
        assert!(is_valid_tax_code("0100233488"));
        assert!(is_valid_tax_code("0314409058-002"));
        assert!(!is_valid_tax_code("0100233480"));
        assert!(!is_valid_tax_code("0314409058-000"));
        assert!(!is_valid_tax_code("0314409058-02"));
        assert!(!is_valid_tax_code("010023348"));
        assert!(!is_valid_tax_code("01002334888"));
        assert!(!is_valid_tax_code("01002334a8"));
    }

    #[test]
    fn remainder_ten_gives_zero_and_zero_gives_none() {
        // Find a nine-digit prefix of each kind and check the rule on it.
        let mut saw_ten = false;
        let mut saw_zero = false;
        for n in 100_000_000u32..100_002_000 {
            let s = n.to_string();
            let sum: u32 = s
                .bytes()
                .zip(TAX_WEIGHTS)
                .map(|(b, w)| u32::from(b - b'0') * w)
                .sum();
            match sum % 11 {
                10 => {
                    saw_ten = true;
                    assert_eq!(tax_code_check_digit(&s), Some(0));
                }
                0 => {
                    saw_zero = true;
                    assert_eq!(tax_code_check_digit(&s), None);
                    for d in 0..10 {
                        assert!(!is_valid_tax_code(&format!("{s}{d}")));
                    }
                }
                r => assert_eq!(
                    tax_code_check_digit(&s),
                    Some(u8::try_from(10 - r).unwrap())
                ),
            }
        }
        assert!(saw_ten && saw_zero);
    }

    #[test]
    fn personal_id_round_trip() {
        let id = personal_id("046", Sex::Male, 1990, 1234);
        assert_eq!(id, "046090001234");
        let info = parse_personal_id(&id).unwrap();
        assert_eq!(
            (info.sex, info.birth_year, info.province_code.as_str()),
            (Sex::Male, 1990, "46")
        );
        assert_eq!(personal_id("79", Sex::Male, 2001, 111), "079201000111");
        assert_eq!(personal_id("046", Sex::Female, 2005, 999), "046305000999");
        assert!(personal_id_is_consistent(
            "046195004321",
            Sex::Female,
            &Date::new(1995, 7, 20)
        ));
        assert!(!personal_id_is_consistent(
            "046195004321",
            Sex::Male,
            &Date::new(1995, 7, 20)
        ));
        assert!(!personal_id_is_consistent(
            "046195004321",
            Sex::Female,
            &Date::new(2095, 7, 20)
        ));
        assert!(!personal_id_is_consistent(
            "079301000111",
            Sex::Male,
            &Date::new(2001, 1, 1)
        ));
        assert!(personal_id_mismatch("079301000111", Sex::Male, &Date::new(2001, 1, 1)).is_some());
        assert!(
            !is_well_formed_personal_id("003090001234"),
            "003 is no province"
        );
        assert!(is_well_formed_personal_id("096090001234"));
    }
}
