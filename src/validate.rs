//! Validation of identifiers and fields before any upstream call (the registries charge, log and
//! rate-limit every call, and a malformed one must never leave the gateway).
//!
//! Rules follow the public definitions: the 12-digit personal ID `PPP G YY NNNNNN` (province of birth
//! registration, century-and-sex digit, year of birth), the 9-digit old ID, and the 10-digit tax code
//! with its weighted check digit and optional `-NNN` branch suffix.

use crate::error::{Detail, FieldError};

/// Sex as encoded in a personal ID's century digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    /// Even century digit.
    Male,
    /// Odd century digit.
    Female,
}

/// The parts of a well-formed personal ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonalId {
    /// Province code of the birth registration (1–96 in the 63-province scheme).
    pub province: u16,
    /// Sex.
    pub sex: Sex,
    /// Year of birth (century from the G digit, years from YY).
    pub birth_year: i32,
}

/// Old-scheme province codes in use (001–096 with gaps), as the ID's first three digits.
fn known_province(code: u16) -> bool {
    const CODES: [u16; 63] = [
        1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36,
        37, 38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74,
        75, 77, 79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
    ];
    CODES.contains(&code)
}

/// Parses a 12-digit personal ID. `Err` names the problem, in both languages.
pub fn parse_personal_id(id: &str) -> Result<PersonalId, Detail> {
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Detail::new(
            "phải gồm đúng 12 chữ số",
            "must be exactly 12 digits",
        ));
    }
    let d = |r: std::ops::Range<usize>| id[r].parse::<u16>().unwrap_or(0);
    let province = d(0..3);
    if !known_province(province) {
        return Err(Detail::new(
            "ba chữ số đầu không phải là mã tỉnh",
            "the first three digits are not a province code",
        ));
    }
    let g = d(3..4);
    let yy = i32::from(d(4..6));
    // G: 0/1 → 1900s, 2/3 → 2000s, 4/5 → 2100s, 6/7 → 2200s, 8/9 → 2300s; even = male.
    let century = 1900 + 100 * i32::from(g / 2);
    if century > 2100 {
        return Err(Detail::new(
            "chữ số thứ tư (thế kỷ và giới tính) không hợp lệ",
            "the century digit is out of range",
        ));
    }
    let sex = if g % 2 == 0 { Sex::Male } else { Sex::Female };
    Ok(PersonalId {
        province,
        sex,
        birth_year: century + yy,
    })
}

/// Whether an old 9-digit ID (CMND) is well formed.
pub fn is_old_id(id: &str) -> bool {
    id.len() == 9 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a tax code (`NNNNNNNNNN` or `NNNNNNNNNN-NNN`): its weighted check digit, non-zero body and
/// branch. Returns the problem, if any, in both languages.
pub fn tax_code_problem(code: &str) -> Option<Detail> {
    let wrong_check_digit = || {
        Some(Detail::new(
            "chữ số kiểm tra không đúng",
            "the check digit is wrong",
        ))
    };
    let (main, branch) = match code.split_once('-') {
        Some((m, b)) => (m, Some(b)),
        None => (code, None),
    };
    if main.len() != 10 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Detail::new(
            "phải gồm 10 chữ số, có thể kèm -NNN đối với chi nhánh",
            "must be 10 digits, optionally followed by -NNN for a branch",
        ));
    }
    if let Some(b) = branch
        && (b.len() != 3 || !b.bytes().all(|c| c.is_ascii_digit()) || b == "000")
    {
        return Some(Detail::new(
            "phần đuôi chi nhánh phải gồm 3 chữ số, khác 000",
            "a branch suffix is 3 digits other than 000",
        ));
    }
    let digits: Vec<u32> = main.bytes().map(|b| u32::from(b - b'0')).collect();
    if digits[2..9].iter().all(|d| *d == 0) {
        return Some(Detail::new(
            "các chữ số từ thứ 3 đến thứ 9 không được đều bằng 0",
            "digits 3 to 9 cannot all be zero",
        ));
    }
    const WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];
    let sum: u32 = digits[..9].iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    let rem = sum % 11;
    if rem == 0 {
        return wrong_check_digit();
    }
    let check = (10 - rem) % 10;
    if digits[9] != check {
        return wrong_check_digit();
    }
    None
}

/// A calendar date from `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD`, checking the day exists.
    pub fn parse_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        let shape = b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
        // Digits only: the integer parsers below would also take `+999-+1-+1` or `-999-01-01`.
        if b.len() != 10 || !shape {
            return None;
        }
        let year: i32 = s[0..4].parse().ok()?;
        let month: u8 = s[5..7].parse().ok()?;
        let day: u8 = s[8..10].parse().ok()?;
        let m = time::Month::try_from(month).ok()?;
        time::Date::from_calendar_date(year, m, day).ok()?;
        Some(Date { year, month, day })
    }

    /// `YYYYMMDD`.
    pub fn compact(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

/// Whether an id from a path could name a stored record (payment, shipment, outbox event): at most
/// 64 bytes and no control characters (PostgreSQL refuses a NUL in text outright). Any other id is
/// "not found" without asking the store.
pub fn is_record_id(id: &str) -> bool {
    id.len() <= 64 && !id.chars().any(char::is_control)
}

/// Helper collecting field errors.
#[derive(Default, Debug)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    /// Records one error, its message in Vietnamese and English.
    pub fn add(&mut self, field: &str, code: &str, vi: impl Into<String>, en: impl Into<String>) {
        self.0.push(FieldError::new(field, code, vi, en));
    }

    /// Records one error whose message is `why` (both languages).
    pub fn add_detail(&mut self, field: &str, code: &str, why: Detail) {
        self.0.push(FieldError {
            field: field.into(),
            code: code.into(),
            message: why,
        });
    }

    /// Records a `range` error: the amount must be positive.
    pub fn positive(&mut self, field: &str) {
        self.add(field, "range", "phải lớn hơn 0", "must be positive");
    }

    /// Records an error with this `code` unless `v` is one of `allowed`.
    pub fn one_of(&mut self, field: &str, code: &str, v: &str, allowed: &[&str]) {
        if !allowed.contains(&v) {
            let list = allowed.join(", ");
            self.add(
                field,
                code,
                format!("phải là một trong các giá trị: {list}"),
                format!("must be one of: {list}"),
            );
        }
    }

    /// Records `too_long` when a free text (a reason, a message to citizens) has more than `max`
    /// characters, and `control` when it holds a control character.
    pub fn check_note(&mut self, field: &str, v: &str, max: usize) {
        if v.chars().count() > max {
            self.add(
                field,
                "too_long",
                format!("tối đa {max} ký tự"),
                format!("at most {max} characters"),
            );
        }
        if v.chars().any(char::is_control) {
            self.add(
                field,
                "control",
                "không được chứa ký tự điều khiển",
                "no control characters",
            );
        }
    }

    /// Reads an RFC 3339 date-time as Unix milliseconds, recording `format` when it is not one
    /// and `range` when it is after `latest_ms`.
    pub fn instant_not_after(&mut self, field: &str, v: &str, latest_ms: i64) -> Option<i64> {
        let ms = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
            .ok()
            .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok());
        match ms {
            None => self.add(
                field,
                "format",
                "phải là thời điểm theo RFC 3339",
                "must be an RFC 3339 date-time",
            ),
            Some(t) if t > latest_ms => self.add(
                field,
                "range",
                "không được ở thời điểm tương lai",
                "must not be in the future",
            ),
            Some(_) => {}
        }
        ms
    }

    /// Whether any were recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when none were recorded, else the 422 `validation_failed` listing them.
    pub fn into_result(self) -> Result<(), crate::error::ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::error::ApiError::validation(self.0))
        }
    }

    /// Records a `length` error unless `v` has 1 to `max` characters, not all blank, none a
    /// control character.
    pub fn check_text(&mut self, field: &str, v: &str, max: usize) {
        if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
            self.add(
                field,
                "length",
                format!("phải có từ 1 đến {max} ký tự, không chứa ký tự điều khiển"),
                format!("must be 1 to {max} characters, no control characters"),
            );
        }
    }
}

/// The year of a date of birth as the population register writes it: a whole date `YYYY-MM-DD`,
/// or the year alone, `YYYY`, for a citizen whose day and month were never recorded (`Nam`).
pub fn birth_year(date_of_birth: &str) -> Option<i32> {
    match date_of_birth.len() {
        4 if date_of_birth.bytes().all(|b| b.is_ascii_digit()) => date_of_birth.parse().ok(),
        _ => Date::parse_iso(date_of_birth).map(|d| d.year),
    }
}

/// Checks a citizen's ID against a date of birth: the century digit and YY must agree with the year.
pub fn check_citizen_identity(errors: &mut Errors, citizen_id: &str, date_of_birth: &str) {
    let id = match parse_personal_id(citizen_id) {
        Ok(id) => Some(id),
        Err(why) => {
            errors.add_detail("citizen_id", "format", why);
            None
        }
    };
    let birth_year = birth_year(date_of_birth);
    if birth_year.is_none() {
        errors.add(
            "date_of_birth",
            "format",
            "phải là một ngày có thật, viết theo dạng YYYY-MM-DD, hoặc YYYY khi sổ đăng ký chỉ ghi năm sinh",
            "must be a real date written YYYY-MM-DD, or YYYY when the register knows only the year",
        );
    }
    if let (Some(id), Some(year)) = (id, birth_year) {
        if year != id.birth_year {
            errors.add(
                "date_of_birth",
                "mismatch",
                format!(
                    "số định danh cá nhân cho biết người này sinh năm {}",
                    id.birth_year
                ),
                format!(
                    "the personal ID says the holder was born in {}",
                    id.birth_year
                ),
            );
        }
        let today = time::OffsetDateTime::now_utc().date();
        if year > today.year() {
            errors.add(
                "date_of_birth",
                "range",
                "không được là một ngày trong tương lai",
                "is in the future",
            );
        }
    }
}

/// Checks a full name: 2–100 characters, letters, spaces, `'`, `-`, `.` only.
pub fn check_full_name(errors: &mut Errors, field: &str, name: &str) {
    let trimmed = name.trim();
    let len = trimmed.chars().count();
    if !(2..=100).contains(&len) {
        errors.add(
            field,
            "length",
            "phải có từ 2 đến 100 ký tự",
            "must be 2 to 100 characters",
        );
    } else if !trimmed
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '-' | '.'))
    {
        errors.add(
            field,
            "format",
            "chỉ được chứa chữ cái, dấu cách và các ký tự ' - .",
            "may contain only letters, spaces, ' - and .",
        );
    }
}

/// Province codes of the two-level scheme in force since 1 July 2025 (34 provinces; Huế keeps 46).
const PROVINCES_34: [u16; 34] = [
    1, 4, 8, 11, 12, 14, 15, 19, 20, 22, 24, 25, 31, 33, 37, 38, 40, 42, 44, 46, 48, 51, 52, 56,
    66, 68, 75, 79, 80, 82, 86, 91, 92, 96,
];

/// A Vietnamese phone number in national form (`0` and 9 digits, as the carrier wants it), from
/// `0…`, `84…` or `+84…` with optional spaces, dots or dashes. `None` if it is not one.
pub fn vn_phone(raw: &str) -> Option<String> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect();
    let rest = compact
        .strip_prefix("+84")
        .or_else(|| compact.strip_prefix("84").filter(|r| r.len() == 9))
        .map(|r| format!("0{r}"))
        .unwrap_or(compact);
    let ok = rest.len() == 10
        && rest.bytes().all(|b| b.is_ascii_digit())
        && rest.starts_with('0')
        // Mobile prefixes 03, 05, 07, 08, 09; landlines 02x.
        && matches!(rest.as_bytes().get(1), Some(b'2' | b'3' | b'5' | b'7' | b'8' | b'9'));
    ok.then_some(rest)
}

/// A province code as two digits (`"046"` → `"46"`), if it is a province of either scheme; the
/// bool says whether it is a province of the 34-province scheme.
pub fn province_code(raw: &str) -> Option<(String, bool)> {
    let digits = match raw.len() {
        2 => raw,
        3 => raw.strip_prefix('0')?,
        _ => return None,
    };
    let n: u16 = digits.parse().ok()?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !known_province(n) {
        return None;
    }
    Some((digits.to_owned(), PROVINCES_34.contains(&n)))
}

/// A postal address and contact to check.
#[derive(Debug, Clone, Copy)]
pub struct PostalParty<'a> {
    /// Full name.
    pub name: &'a str,
    /// Phone.
    pub phone: &'a str,
    /// Street part of the address.
    pub address: &'a str,
    /// Province code.
    pub province_code: &'a str,
    /// District code (63-province scheme), if any.
    pub district_code: Option<&'a str>,
    /// Commune (ward) code.
    pub commune_code: &'a str,
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a province code and its optional district code (fields `{prefix}.province_code`,
/// `{prefix}.district_code`; no prefix when empty). Returns the two-digit province code when valid.
pub fn check_province(
    errors: &mut Errors,
    prefix: &str,
    province: &str,
    district: Option<&str>,
) -> Option<String> {
    let field = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    match (province_code(province), district) {
        (None, _) => errors.add(
            &field("province_code"),
            "unknown",
            "không phải là mã tỉnh theo danh mục 63 tỉnh hoặc 34 tỉnh",
            "not a province code of the 63-province or the 34-province scheme",
        ),
        (Some((_, in_34)), None) if !in_34 => errors.add(
            &field("province_code"),
            "scheme",
            "tỉnh theo danh mục 63 tỉnh cũ cần kèm district_code (hoặc dùng mã tỉnh theo danh mục 34 tỉnh)",
            "a province of the old 63-province scheme needs its district_code (or use the 34-province code)",
        ),
        (Some(_), Some(d)) if !digits(d, 3) => {
            errors.add(
                &field("district_code"),
                "format",
                "phải gồm 3 chữ số",
                "must be 3 digits",
            )
        }
        (Some((code, _)), _) => return Some(code),
    }
    None
}

/// Checks a sender or receiver, naming fields under `prefix` (`receiver.phone`). Both province
/// schemes are accepted: with a district code the address is of the 63-province, three-level
/// scheme; without, of the 34-province, two-level scheme.
pub fn check_postal_party(errors: &mut Errors, prefix: &str, p: &PostalParty<'_>) {
    let field = |name: &str| format!("{prefix}.{name}");
    errors.check_text(&field("name"), p.name, 200);
    errors.check_text(&field("address"), p.address, 500);
    if vn_phone(p.phone).is_none() {
        errors.add(
            &field("phone"),
            "format",
            "phải là số điện thoại Việt Nam: số 0 và 9 chữ số (hoặc +84 và 9 chữ số)",
            "must be a Vietnamese phone number: 0 and 9 digits (or +84 and 9 digits)",
        );
    }
    check_province(errors, prefix, p.province_code, p.district_code);
    if !digits(p.commune_code, 5) {
        errors.add(
            &field("commune_code"),
            "format",
            "phải gồm 5 chữ số",
            "must be 5 digits",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_codes_follow_the_weighted_check_digit() {
        assert_eq!(tax_code_problem("0100233488"), None);
        assert_eq!(tax_code_problem("0314409058-002"), None);
        assert!(tax_code_problem("0100233480").is_some());
        assert!(tax_code_problem("0314409058-000").is_some());
        assert!(tax_code_problem("0100000000").is_some());
        assert!(tax_code_problem("010023348").is_some());
        assert!(tax_code_problem("01002334881").is_some());
        assert!(tax_code_problem("0314409058-02").is_some());
    }

    #[test]
    fn personal_ids_carry_province_sex_and_year() {
        assert_eq!(
            parse_personal_id("046090001234"),
            Ok(PersonalId {
                province: 46,
                sex: Sex::Male,
                birth_year: 1990
            })
        );
        assert_eq!(
            parse_personal_id("046305000999"),
            Ok(PersonalId {
                province: 46,
                sex: Sex::Female,
                birth_year: 2005
            })
        );
        assert!(
            parse_personal_id("003090001234").is_err(),
            "003 is not a province"
        );
        assert!(parse_personal_id("04609000123").is_err());
        assert!(parse_personal_id("04609000123a").is_err());
    }

    #[test]
    fn identity_and_birth_date_must_agree() {
        let mut e = Errors::default();
        check_citizen_identity(&mut e, "046090001234", "1990-03-15");
        assert!(e.is_empty(), "{e:?}");
        let mut e = Errors::default();
        check_citizen_identity(&mut e, "046090001234", "1991-03-15");
        assert_eq!(e.0[0].code, "mismatch");
        let mut e = Errors::default();
        check_citizen_identity(&mut e, "046090001234", "1990-02-30");
        assert_eq!(e.0[0].field, "date_of_birth");
        // The year alone, as the register gives it for some of the elderly.
        let mut e = Errors::default();
        check_citizen_identity(&mut e, "046138000555", "1938");
        assert!(e.is_empty(), "{e:?}");
        for bad in ["1939", "38", "19380", "+938"] {
            let mut e = Errors::default();
            check_citizen_identity(&mut e, "046138000555", bad);
            assert_eq!(e.0.len(), 1, "{bad}: {e:?}");
        }
        let mut e = Errors::default();
        check_full_name(&mut e, "full_name", "Nguyễn Văn An");
        check_full_name(&mut e, "full_name", "X");
        check_full_name(&mut e, "full_name", "Robert'); DROP");
        assert_eq!(e.0.len(), 2);
    }

    #[test]
    fn vietnamese_phones_are_normalised() {
        assert_eq!(
            super::vn_phone("0912 345 678").as_deref(),
            Some("0912345678")
        );
        assert_eq!(
            super::vn_phone("+84912345678").as_deref(),
            Some("0912345678")
        );
        assert_eq!(
            super::vn_phone("84912345678").as_deref(),
            Some("0912345678")
        );
        // 11-digit landlines are refused: the carrier takes 0 and 9 digits only.
        assert_eq!(super::vn_phone("0234.3822.123"), None);
        for bad in [
            "091234567",
            "1912345678",
            "0112345678",
            "09123456789",
            "09l2345678",
            "",
        ] {
            assert_eq!(super::vn_phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn both_province_schemes_are_accepted() {
        assert_eq!(super::province_code("46"), Some(("46".into(), true)));
        assert_eq!(super::province_code("046"), Some(("46".into(), true)));
        // Thừa Thiên Huế's neighbour Quảng Trị (45) merged into 44 in the new scheme.
        assert_eq!(super::province_code("45"), Some(("45".into(), false)));
        assert_eq!(super::province_code("03"), None);
        assert_eq!(super::province_code("99"), None);
        let mut e = super::Errors::default();
        let p = super::PostalParty {
            name: "Nguyễn Văn An",
            phone: "0987654321",
            address: "12 Nguyễn Huệ",
            province_code: "45",
            district_code: None,
            commune_code: "19001",
        };
        super::check_postal_party(&mut e, "receiver", &p);
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].field, "receiver.province_code");
        let mut e = super::Errors::default();
        super::check_postal_party(
            &mut e,
            "receiver",
            &super::PostalParty {
                district_code: Some("461"),
                ..p
            },
        );
        assert!(e.is_empty(), "{e:?}");
    }
}
