//! Canonical enterprise record: what `GET /v1/enterprises/{enterprise_code}` answers, whatever
//! registry stands behind it. English snake_case; dates as `"YYYY-MM-DD"`; money in whole VND.

use serde::{Deserialize, Serialize};

/// An enterprise (or a branch) as registered in the national business registration database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterpriseRecord {
    /// The enterprise code (MST): 10 digits, or 10 digits `-` 3 digits for a branch.
    pub enterprise_code: String,
    /// The tax code (the same as the enterprise code for enterprises registered since 2010).
    pub tax_code: String,
    /// The registry's internal id of the record.
    pub registry_id: String,
    /// The Vietnamese name, as registered (upper case).
    pub name: String,
    /// The foreign-language name, when registered.
    pub foreign_name: Option<String>,
    /// The abbreviated name, when registered.
    pub short_name: Option<String>,
    /// The registration status (e.g. `1` operating), with the registry's name for it.
    pub status: CodeName,
    /// The legal form (e.g. `2` single-member LLC, `4` joint-stock company, `9` branch).
    #[serde(rename = "type")]
    pub enterprise_type: CodeName,
    /// Date of first registration, `YYYY-MM-DD`.
    pub founding_date: String,
    /// Date of the last registered change, `YYYY-MM-DD`, when there was one.
    pub last_amended_date: Option<String>,
    /// Charter capital in VND (0 for branches).
    pub capital_vnd: u64,
    /// How many changes have been registered.
    pub amendment_count: u32,
    /// The head office address.
    pub address: EnterpriseAddress,
    /// Legal representatives: always a list (possibly empty).
    pub representatives: Vec<Representative>,
    /// Registered business lines (VSIC codes), the main one marked.
    pub business_lines: Vec<BusinessLine>,
}

/// A registry code with its Vietnamese name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeName {
    /// The registry's code.
    pub code: String,
    /// The registry's (Vietnamese) name for it.
    pub name: String,
}

/// A head office address with the (pre-2025, three-level) administrative codes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterpriseAddress {
    /// Province code (2 digits).
    pub province_code: Option<String>,
    /// Province name.
    pub province_name: Option<String>,
    /// District code (3 digits).
    pub district_code: Option<String>,
    /// District name.
    pub district_name: Option<String>,
    /// Ward / commune code (5 digits).
    pub ward_code: Option<String>,
    /// Ward / commune name.
    pub ward_name: Option<String>,
    /// House number and street.
    pub street: Option<String>,
    /// The whole address as one line of text.
    pub full_text: String,
}

/// Sex of a representative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Male (registry code `1`).
    Male,
    /// Female (registry code `2`).
    Female,
}

/// A legal representative of the enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Representative {
    /// Full name with diacritics.
    pub full_name: String,
    /// Sex, when the registry gives a known code.
    pub sex: Option<Sex>,
    /// Number of the identity document.
    pub document_number: Option<String>,
    /// Kind of the identity document, as the registry names it (e.g. "Căn cước công dân").
    pub document_type: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Nationality, as the registry names it.
    pub nationality: Option<String>,
    /// Position in the enterprise (e.g. "Giám đốc").
    pub position: Option<String>,
}

/// A registered business line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessLine {
    /// VSIC 2018 code (4 or 5 digits).
    pub code: String,
    /// VSIC name.
    pub name: String,
    /// Whether this is the main business line.
    pub main: bool,
}
