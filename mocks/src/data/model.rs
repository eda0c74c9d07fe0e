//! The record types every mock serves: citizens, enterprises and what they are made of.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::names;

/// A calendar date. Serialised as `"YYYY-MM-DD"`; deserialised from `"YYYY-MM-DD"`, `"YYYYMMDD"`,
/// `"DD/MM/YYYY"` or `{"year":…, "month":…, "day":…}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year, e.g. 1990.
    pub year: i32,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
}

impl Date {
    /// A date from its parts, unchecked (see [`Date::is_valid`]).
    pub const fn new(year: i32, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    /// A date from its parts when they name a real calendar day.
    pub fn checked(year: i32, month: u8, day: u8) -> Option<Date> {
        let d = Date { year, month, day };
        d.is_valid().then_some(d)
    }

    /// Whether this is a real calendar day (years 1–9999).
    pub fn is_valid(&self) -> bool {
        (1..=9999).contains(&self.year)
            && (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
    }

    /// `"19900315"`: the population database's `NgayThangNam`.
    pub fn yyyymmdd(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// `"1990-03-15"`.
    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `"15/03/1990"`, as Vietnamese documents write dates.
    pub fn dd_mm_yyyy(&self) -> String {
        format!("{:02}/{:02}/{:04}", self.day, self.month, self.year)
    }

    /// Parses `"YYYY-MM-DD"`, `"YYYYMMDD"` or `"DD/MM/YYYY"`; `None` unless it is a real day.
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.trim();
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = s.get(r)?;
            if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let (y, m, d) = match b.len() {
            10 if b[4] == b'-' && b[7] == b'-' => (digits(0..4)?, digits(5..7)?, digits(8..10)?),
            10 if b[2] == b'/' && b[5] == b'/' => (digits(6..10)?, digits(3..5)?, digits(0..2)?),
            8 => (digits(0..4)?, digits(4..6)?, digits(6..8)?),
            _ => return None,
        };
        Date::checked(
            i32::try_from(y).ok()?,
            u8::try_from(m).ok()?,
            u8::try_from(d).ok()?,
        )
    }

    /// The same day as a [`time::Date`].
    pub fn to_time(&self) -> Option<time::Date> {
        let month = time::Month::try_from(self.month).ok()?;
        time::Date::from_calendar_date(self.year, month, self.day).ok()
    }

    /// Whole years between this date and `on` (a person's age on that day).
    pub fn years_until(&self, on: &Date) -> i32 {
        let mut years = on.year - self.year;
        if (on.month, on.day) < (self.month, self.day) {
            years -= 1;
        }
        years
    }
}

impl From<time::Date> for Date {
    fn from(d: time::Date) -> Self {
        Date::new(d.year(), u8::from(d.month()), d.day())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iso())
    }
}

/// Days in a month of the proleptic Gregorian calendar (0 for a month outside 1–12).
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.iso())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;
        impl<'de> Visitor<'de> for DateVisitor {
            type Value = Date;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date \"YYYY-MM-DD\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Date, E> {
                Date::parse(v).ok_or_else(|| {
                    E::custom(format!(
                        "invalid date `{v}`, expected a real day as YYYY-MM-DD"
                    ))
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Date, A::Error> {
                let (mut year, mut month, mut day) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "year" => year = Some(map.next_value::<i32>()?),
                        "month" => month = Some(map.next_value::<u8>()?),
                        "day" => day = Some(map.next_value::<u8>()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["year", "month", "day"]));
                        }
                    }
                }
                let year = year.ok_or_else(|| de::Error::missing_field("year"))?;
                let month = month.ok_or_else(|| de::Error::missing_field("month"))?;
                let day = day.ok_or_else(|| de::Error::missing_field("day"))?;
                Date::checked(year, month, day)
                    .ok_or_else(|| de::Error::custom(format!("invalid date {year}-{month}-{day}")))
            }
        }
        deserializer.deserialize_any(DateVisitor)
    }
}

/// Sex as the population database records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Nam (`GioiTinh` 1).
    #[serde(
        alias = "Male",
        alias = "M",
        alias = "m",
        alias = "nam",
        alias = "Nam",
        alias = "1"
    )]
    Male,
    /// Nữ (`GioiTinh` 2).
    #[serde(
        alias = "Female",
        alias = "F",
        alias = "f",
        alias = "nữ",
        alias = "Nữ",
        alias = "2"
    )]
    Female,
}

impl Sex {
    /// Population database `GioiTinh` code: 1 male, 2 female (also the registry's `GENDER_ID`).
    pub fn code(&self) -> u8 {
        match self {
            Sex::Male => 1,
            Sex::Female => 2,
        }
    }

    /// The sex of a `GioiTinh` / `GENDER_ID` code.
    pub fn from_code(code: u8) -> Option<Sex> {
        match code {
            1 => Some(Sex::Male),
            2 => Some(Sex::Female),
            _ => None,
        }
    }

    /// "Nam" or "Nữ".
    pub fn name_vi(&self) -> &'static str {
        match self {
            Sex::Male => "Nam",
            Sex::Female => "Nữ",
        }
    }

    /// Parses `male`/`female`, `M`/`F`, `Nam`/`Nữ` (with or without diacritics), `1`/`2`.
    pub fn parse(s: &str) -> Option<Sex> {
        match names::ascii_upper(s).as_str() {
            "MALE" | "M" | "NAM" | "1" => Some(Sex::Male),
            "FEMALE" | "F" | "NU" | "2" => Some(Sex::Female),
            _ => None,
        }
    }
}

/// A coded value with its name, e.g. ethnicity `{code:"01", name:"Kinh"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeName {
    /// The code.
    pub code: String,
    /// Its name (filled from the code table when left empty in a loaded file).
    #[serde(default)]
    pub name: String,
}

impl CodeName {
    /// A code and its name.
    pub fn new(code: &str, name: &str) -> CodeName {
        CodeName {
            code: code.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// A parent, spouse or representative as the population database names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relative {
    /// Full name with diacritics.
    pub full_name: String,
    /// 12-digit personal id, when known.
    #[serde(default)]
    pub personal_id: Option<String>,
    /// 9-digit old id (CMND), when known.
    #[serde(default)]
    pub old_id: Option<String>,
    /// Nationality code, "VN".
    #[serde(default = "default_nationality")]
    pub nationality: String,
}

/// An address in both schemes: the 63-province three-level one (province, district, ward) and the
/// 34-province two-level one (province, commune) in force from 1 July 2025.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Address {
    /// House number and street, or village: "12 Lê Lợi", "Thôn 3".
    pub detail: String,
    /// Old-scheme ward/commune code (5 digits).
    pub ward_code: String,
    /// Old-scheme ward/commune name, "Phường Phú Hội".
    pub ward_name: String,
    /// Old-scheme district code (3 digits).
    pub district_code: String,
    /// Old-scheme district name, "Thành phố Huế".
    pub district_name: String,
    /// Old-scheme province code (2 digits), "46".
    pub province_code: String,
    /// Old-scheme province name, "Tỉnh Thừa Thiên Huế".
    pub province_name: String,
    /// New-scheme province code (2 digits), "46".
    pub new_province_code: String,
    /// New-scheme province name, "Thành phố Huế".
    pub new_province_name: String,
    /// New-scheme commune/ward code (5 digits).
    pub new_commune_code: String,
    /// New-scheme commune/ward name, "Phường Thuận Hóa".
    pub new_commune_name: String,
    /// Country code, "VN".
    pub country: String,
}

impl Default for Address {
    fn default() -> Self {
        Address {
            detail: String::new(),
            ward_code: String::new(),
            ward_name: String::new(),
            district_code: String::new(),
            district_name: String::new(),
            province_code: String::new(),
            province_name: String::new(),
            new_province_code: String::new(),
            new_province_name: String::new(),
            new_commune_code: String::new(),
            new_commune_name: String::new(),
            country: default_nationality(),
        }
    }
}

impl Address {
    /// Old-scheme text: "12 Lê Lợi, Phường Phú Hội, Thành phố Huế, Tỉnh Thừa Thiên Huế".
    pub fn full_text(&self) -> String {
        join_parts(&[
            &self.detail,
            &self.ward_name,
            &self.district_name,
            &self.province_name,
        ])
    }

    /// New-scheme text: "12 Lê Lợi, Phường Thuận Hóa, Thành phố Huế".
    pub fn full_text_new(&self) -> String {
        join_parts(&[
            &self.detail,
            &self.new_commune_name,
            &self.new_province_name,
        ])
    }

    /// Whether nothing but the country is set.
    pub fn is_empty(&self) -> bool {
        self.detail.is_empty()
            && self.ward_code.is_empty()
            && self.district_code.is_empty()
            && self.province_code.is_empty()
            && self.new_province_code.is_empty()
            && self.new_commune_code.is_empty()
    }
}

fn join_parts(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The citizen's household (hộ khẩu).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Household {
    /// Household book number, 9–12 digits (`SoSoHoKhau`).
    pub number: String,
    /// Personal id of the head of household.
    pub head_id: String,
    /// Relation to the head: "Chủ hộ", "Vợ", "Chồng", "Con", "Mẹ", "Bố", "Cháu".
    pub relation_to_head: String,
}

/// A citizen of the national population database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Citizen {
    /// 12-digit personal id `PPP G YY NNNNNN`, consistent with birth province, sex and birth year.
    pub personal_id: String,
    /// 9-digit old id (CMND), when the citizen had one.
    #[serde(default)]
    pub old_id: Option<String>,
    /// Family name, "Nguyễn".
    pub family_name: String,
    /// Middle name, "Thị Thu" (may be empty).
    #[serde(default)]
    pub middle_name: String,
    /// Given name, "Hà".
    pub given_name: String,
    /// Sex.
    pub sex: Sex,
    /// Date of birth (1 January of the year when only the year is known).
    pub date_of_birth: Date,
    /// Only the birth year is known (`NgayThangNamSinh` carries `Nam` only).
    #[serde(default)]
    pub birth_year_only: bool,
    /// Ethnicity, `{code:"01", name:"Kinh"}`.
    #[serde(default = "default_ethnicity")]
    pub ethnicity: CodeName,
    /// Religion, `{code:"00", name:"Không"}`.
    #[serde(default = "default_religion")]
    pub religion: CodeName,
    /// Nationality code, "VN".
    #[serde(default = "default_nationality")]
    pub nationality: String,
    /// 1 single, 2 married, 3 divorced, 4 widowed.
    #[serde(default = "default_marital_status")]
    pub marital_status: u8,
    /// "A", "B", "AB", "O", or unknown.
    #[serde(default)]
    pub blood_group: Option<String>,
    /// Where the birth was registered (`NoiDangKyKhaiSinh`); its province is the id's `PPP`.
    #[serde(default)]
    pub birth_registration: Address,
    /// Home town (`QueQuan`).
    #[serde(default)]
    pub hometown: Address,
    /// Permanent residence (`ThuongTru`).
    #[serde(default)]
    pub permanent_address: Address,
    /// Where the citizen lives now (`NoiOHienTai`).
    #[serde(default)]
    pub current_address: Address,
    /// Father (`Cha`).
    #[serde(default)]
    pub father: Option<Relative>,
    /// Mother (`Me`).
    #[serde(default)]
    pub mother: Option<Relative>,
    /// Spouse (`VoChong`), present exactly when `marital_status` is 2.
    #[serde(default)]
    pub spouse: Option<Relative>,
    /// Household (`SoSoHoKhau`, `ChuHo`).
    #[serde(default)]
    pub household: Household,
    /// "alive" or "deceased".
    #[serde(default = "default_status")]
    pub status: String,
}

impl Citizen {
    /// "Nguyễn Thị Thu Hà".
    pub fn full_name(&self) -> String {
        join_words(&[&self.family_name, &self.middle_name, &self.given_name])
    }

    /// "NGUYEN THI THU HA": no diacritics, đ → D, as the population database compares names.
    pub fn full_name_ascii_upper(&self) -> String {
        names::ascii_upper(&self.full_name())
    }

    /// Age in whole years on `on`.
    pub fn age_on(&self, on: &Date) -> i32 {
        self.date_of_birth.years_until(on)
    }

    /// Whether the citizen is alive.
    pub fn is_alive(&self) -> bool {
        self.status != "deceased"
    }

    /// This citizen as a parent/spouse entry of another record.
    pub fn as_relative(&self) -> Relative {
        Relative {
            full_name: self.full_name(),
            personal_id: Some(self.personal_id.clone()),
            old_id: self.old_id.clone(),
            nationality: self.nationality.clone(),
        }
    }
}

fn join_words(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An enterprise (or a branch) of the national business registration database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enterprise {
    /// Internal id (`ENTERPRISE_ID`).
    #[serde(default)]
    pub id: String,
    /// Enterprise code (MST): 10 digits with a valid check digit; branches `XXXXXXXXXX-NNN`.
    pub code: String,
    /// Tax code (`ENTERPRISE_GDT_CODE`), the same as `code` for enterprises registered since 2010.
    #[serde(default)]
    pub gdt_code: String,
    /// Name, "CÔNG TY TNHH …".
    pub name: String,
    /// Foreign-language name (`NAME_F`).
    #[serde(default)]
    pub name_foreign: Option<String>,
    /// Short name.
    #[serde(default)]
    pub short_name: Option<String>,
    /// Status code, "1".
    #[serde(default = "default_status_id")]
    pub status_id: String,
    /// Status name, "Đang hoạt động".
    #[serde(default)]
    pub status_name: String,
    /// Type code.
    #[serde(default = "default_type_id")]
    pub type_id: String,
    /// Type name, "Công ty trách nhiệm hữu hạn một thành viên".
    #[serde(default)]
    pub type_name: String,
    /// Founding date.
    pub founding_date: Date,
    /// Date of the last registered change.
    #[serde(default)]
    pub last_amend_date: Option<Date>,
    /// Charter capital in VND (0 for branches).
    #[serde(default)]
    pub capital_vnd: u64,
    /// Number of registered changes.
    #[serde(default)]
    pub number_changes: u32,
    /// Head-office address (`HOAdress`).
    #[serde(default)]
    pub address: Address,
    /// Legal representatives: one for most, several for some, never none.
    pub representatives: Vec<Representative>,
    /// Business lines (VSIC), exactly one of them main.
    pub business_lines: Vec<BusinessLine>,
}

impl Enterprise {
    /// Whether this is a branch (`XXXXXXXXXX-NNN`).
    pub fn is_branch(&self) -> bool {
        self.code.contains('-')
    }

    /// The parent's 10-digit code of a branch, or the code itself.
    pub fn parent_code(&self) -> &str {
        self.code.split('-').next().unwrap_or(&self.code)
    }

    /// The main business line.
    pub fn main_business_line(&self) -> Option<&BusinessLine> {
        self.business_lines.iter().find(|b| b.is_main)
    }

    /// Whether the registry lists it as operating.
    pub fn is_active(&self) -> bool {
        self.status_id == "1"
    }
}

/// A legal representative of an enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Representative {
    /// Full name with diacritics.
    pub full_name: String,
    /// 1 male, 2 female.
    pub gender_id: u8,
    /// Identity document number: the 12-digit personal id for Vietnamese citizens.
    pub doc_no: String,
    /// Document kind, "Căn cước công dân".
    #[serde(default = "default_doc_name")]
    pub doc_name: String,
    /// Date of birth.
    pub date_of_birth: Date,
    /// Nationality, "Việt Nam".
    #[serde(default = "default_nationality_name")]
    pub nationality: String,
    /// Position, "Giám đốc", "Chủ tịch Hội đồng quản trị".
    #[serde(default = "default_position")]
    pub position: String,
}

/// A business line (VSIC 2018 code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessLine {
    /// VSIC code, 4 or 5 digits: "6201".
    pub code: String,
    /// Its name (filled from the VSIC table when left empty in a loaded file).
    #[serde(default)]
    pub name: String,
    /// Whether this is the main line.
    #[serde(default)]
    pub is_main: bool,
}

pub(crate) fn default_nationality() -> String {
    "VN".to_owned()
}
fn default_nationality_name() -> String {
    "Việt Nam".to_owned()
}
fn default_ethnicity() -> CodeName {
    CodeName::new("01", "Kinh")
}
fn default_religion() -> CodeName {
    CodeName::new("00", "Không")
}
fn default_marital_status() -> u8 {
    1
}
fn default_status() -> String {
    "alive".to_owned()
}
fn default_status_id() -> String {
    "1".to_owned()
}
fn default_type_id() -> String {
    "2".to_owned()
}
fn default_doc_name() -> String {
    "Căn cước công dân".to_owned()
}
fn default_position() -> String {
    "Giám đốc".to_owned()
}
