//! Canonical citizen types: what the portal sends to `POST /v1/citizens/verify` and
//! `POST /v1/citizens/lookup`, and what it gets back, whatever population register answers.
//!
//! Field names are English snake_case; values are normalised (dates `YYYY-MM-DD`, codes as
//! strings, enumerations as lower-case English words). Absent values are `null`, never `""`.

use serde::{Deserialize, Serialize};

/// The body of both citizen endpoints: who the caller is asking about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitizenQuery {
    /// The 12-digit personal id (CCCD), or an old 9-digit id (CMND).
    pub citizen_id: String,
    /// The full name as the citizen writes it, with diacritics (`Nguyễn Văn An`).
    pub full_name: String,
    /// `YYYY-MM-DD`, or `YYYY` when only the year of birth is known.
    pub date_of_birth: String,
}

/// The answer of `POST /v1/citizens/verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitizenMatch {
    /// Whether a citizen with exactly these details exists (JSON field `match`).
    #[serde(rename = "match")]
    pub matched: bool,
}

/// A citizen's record as the population register holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitizenRecord {
    /// The 12-digit personal id.
    pub citizen_id: String,
    /// The old 9-digit id, when the citizen had one.
    pub old_id: Option<String>,
    /// The full name with diacritics: family, middle and given names joined by single spaces.
    pub full_name: String,
    /// Family name (`Nguyễn`).
    pub family_name: String,
    /// Middle name(s) (`Văn`), when there is one.
    pub middle_name: Option<String>,
    /// Given name (`An`).
    pub given_name: String,
    /// Sex as registered.
    pub sex: Sex,
    /// `YYYY-MM-DD`, or `YYYY` when the register holds only the year of birth.
    pub date_of_birth: String,
    /// Ethnic group (official code of the 54 groups and its name).
    pub ethnicity: Option<CodeName>,
    /// Religion (code and name).
    pub religion: Option<CodeName>,
    /// Nationality, ISO 3166 alpha-2 (`VN`).
    pub nationality: Option<String>,
    /// Marital status: code `1`–`4` and name `single`, `married`, `divorced` or `widowed`.
    pub marital_status: Option<CodeName>,
    /// Blood group (`A`, `B`, `AB`, `O`), when known.
    pub blood_group: Option<String>,
    /// Whether the citizen is alive, deceased or missing.
    pub status: Option<CitizenStatus>,
    /// The four registered addresses.
    pub addresses: Addresses,
    /// The household the citizen belongs to.
    pub household: Option<Household>,
    /// Father, when registered.
    pub father: Option<Relative>,
    /// Mother, when registered.
    pub mother: Option<Relative>,
    /// Spouse, when married.
    pub spouse: Option<Relative>,
    /// Legal representative (a parent while the citizen is a minor).
    pub representative: Option<Relative>,
}

/// A code with its human-readable name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeName {
    /// The register's code (`01`).
    pub code: String,
    /// Its name (`Kinh`).
    pub name: String,
}

/// Sex as registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Male.
    Male,
    /// Female.
    Female,
}

/// Whether the citizen is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CitizenStatus {
    /// Alive.
    Alive,
    /// Deceased.
    Deceased,
    /// Declared missing.
    Missing,
}

/// The four addresses of a citizen; each is `null` when the register holds none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addresses {
    /// Where the birth was registered.
    pub birth_registration: Option<Address>,
    /// Home town (quê quán).
    pub hometown: Option<Address>,
    /// Permanent residence (thường trú).
    pub permanent: Option<Address>,
    /// Current residence (nơi ở hiện tại).
    pub current: Option<Address>,
}

/// Which administrative scheme an address is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressScheme {
    /// Before the 2025 reform: province, district and ward codes of the 63-province list.
    ThreeLevel,
    /// After 1 July 2025: one code of the commune-level administrative unit.
    TwoLevel,
}

/// An address in either administrative scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// `three_level` (province, district, ward codes) or `two_level` (`admin_unit_code`).
    pub scheme: AddressScheme,
    /// Province code of the old scheme (`46`); `null` in the two-level scheme.
    pub province_code: Option<String>,
    /// District code of the old scheme (`474`); `null` in the two-level scheme.
    pub district_code: Option<String>,
    /// Ward or commune code of the old scheme (`19807`); `null` in the two-level scheme.
    pub ward_code: Option<String>,
    /// Code of the commune-level unit after the reform; `null` in the three-level scheme.
    pub admin_unit_code: Option<String>,
    /// House number, street, village… as free text, when given.
    pub detail: Option<String>,
    /// Country, ISO 3166 alpha-2 (`VN`).
    pub country: Option<String>,
}

/// The household the citizen is registered in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Household {
    /// Household book number.
    pub number: Option<String>,
    /// The citizen's relation to the head of household (`Chủ hộ`, `Vợ`, `Con`…).
    pub head_relation: Option<String>,
    /// The head of household's personal id, when known.
    pub head_id: Option<String>,
    /// The head of household's full name, when known.
    pub head_name: Option<String>,
    /// The head of household's old id, when known.
    pub head_old_id: Option<String>,
}

/// A relative (father, mother, spouse, legal representative).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relative {
    /// Full name with diacritics.
    pub full_name: String,
    /// Personal id, when known.
    pub citizen_id: Option<String>,
    /// Old id, when known.
    pub old_id: Option<String>,
    /// Nationality, ISO 3166 alpha-2, when known.
    pub nationality: Option<String>,
}
