//! Wire → canonical: the registry's `Data` becomes an [`EnterpriseRecord`]. Dates written
//! `yyyy-MM-ddT00:00:00` become `YYYY-MM-DD`; representatives become a list whatever the wire
//! sent; the business line flagged `IS_MAIN` is marked `main`.

use serde_json::Value;

use super::errors;
use super::wire::{HoAdress, WireBusinessActivity, WireEnterprise, WireRepresentative};
use crate::AdapterError;
use crate::canonical::enterprise::{
    BusinessLine, CodeName, EnterpriseAddress, EnterpriseRecord, Representative, Sex,
};

/// The canonical record of a found enterprise.
pub fn to_canonical(w: WireEnterprise) -> Result<EnterpriseRecord, AdapterError> {
    let m = w.main;
    let enterprise_code = required(m.enterprise_code, "ENTERPRISE_CODE")?;
    let tax_code = m
        .enterprise_gdt_code
        .unwrap_or_else(|| enterprise_code.clone());
    let founding_date = date(&required(m.founding_date, "FOUNDING_DATE")?)
        .ok_or_else(|| errors::protocol("FOUNDING_DATE is not a date"))?;
    let last_amended_date = match m.last_amend_date {
        Some(s) => Some(date(&s).ok_or_else(|| errors::protocol("LAST_AMEND_DATE is not a date"))?),
        None => None,
    };
    let representatives = w
        .representatives
        .map(|r| r.into_vec())
        .unwrap_or_default()
        .into_iter()
        .filter_map(representative)
        .collect::<Result<Vec<_>, _>>()?;
    let business_lines = w
        .business_activities
        .map(|b| b.into_vec())
        .unwrap_or_default()
        .into_iter()
        .filter_map(business_line)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EnterpriseRecord {
        registry_id: m.enterprise_id.unwrap_or_default(),
        tax_code,
        name: required(m.name, "NAME")?,
        foreign_name: m.name_f,
        short_name: m.short_name,
        status: CodeName {
            code: required(m.status_id, "ENTERPRISE_STATUS_ID")?,
            name: m.status_name.unwrap_or_default(),
        },
        enterprise_type: CodeName {
            code: required(m.type_id, "ENTERPRISE_TYPE_ID")?,
            name: m.type_name.unwrap_or_default(),
        },
        founding_date,
        last_amended_date,
        capital_vnd: match m.capital_amount {
            None | Some(Value::Null) => 0,
            Some(v) => whole_number(&v)
                .ok_or_else(|| errors::protocol("CAPITAL_AMOUNT is not a whole amount of VND"))?,
        },
        amendment_count: match m.number_changes {
            None | Some(Value::Null) => 0,
            Some(v) => whole_number(&v)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| errors::protocol("NUMBER_CHANGES is not a count"))?,
        },
        address: address(w.address.unwrap_or_default()),
        representatives,
        business_lines,
        enterprise_code,
    })
}

fn required(v: Option<String>, key: &str) -> Result<String, AdapterError> {
    v.ok_or_else(|| errors::protocol(format!("{key} is missing")))
}

/// `yyyy-MM-dd` from `yyyy-MM-dd`, `yyyy-MM-ddT…` or `yyyy-MM-dd …`; `None` if not a real date.
pub fn date(s: &str) -> Option<String> {
    let s = s.trim();
    let day = s.get(..10)?;
    let rest = &s[10..];
    if !(rest.is_empty() || rest.starts_with('T') || rest.starts_with(' ')) {
        return None;
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(day, format).ok()?;
    d.format(format).ok()
}

/// A non-negative whole number from a JSON number or a numeric string (`5000000000`, `5e9`,
/// `"5000000000"`, `5000000000.0`).
pub fn whole_number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let t = s.trim();
            t.parse::<u64>().ok().or_else(|| {
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                    .map(|f| f as u64)
            })
        }
        _ => None,
    }
}

fn address(a: HoAdress) -> EnterpriseAddress {
    let full_text = a.full_text.clone().unwrap_or_else(|| {
        [
            &a.street_number,
            &a.ward_name,
            &a.district_name,
            &a.city_name,
        ]
        .iter()
        .filter_map(|p| p.as_deref())
        .collect::<Vec<_>>()
        .join(", ")
    });
    EnterpriseAddress {
        province_code: a.city_id,
        province_name: a.city_name,
        district_code: a.district_id,
        district_name: a.district_name,
        ward_code: a.ward_id,
        ward_name: a.ward_name,
        street: a.street_number,
        full_text,
    }
}

/// A representative; an entry without a name (e.g. `{}`) is skipped.
fn representative(r: WireRepresentative) -> Option<Result<Representative, AdapterError>> {
    let full_name = r.full_name?;
    let date_of_birth = match r.date_of_birth {
        Some(s) => match date(&s) {
            Some(d) => Some(d),
            None => return Some(Err(errors::protocol("DATE_OF_BIRTH is not a date"))),
        },
        None => None,
    };
    Some(Ok(Representative {
        full_name,
        sex: match r.gender_id.as_deref().map(str::trim) {
            Some("1") => Some(Sex::Male),
            Some("2") => Some(Sex::Female),
            _ => None,
        },
        document_number: r.pers_doc_no,
        document_type: r.pers_doc_name,
        date_of_birth,
        nationality: r.nationality_name,
        position: r.position_name,
    }))
}

/// A business line; an entry without a code is skipped.
fn business_line(b: WireBusinessActivity) -> Option<Result<BusinessLine, AdapterError>> {
    let code = b.code?;
    let main = match &b.is_main {
        None | Some(Value::Null) => false,
        Some(Value::Bool(x)) => *x,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => matches!(s.trim(), "1" | "true" | "True" | "TRUE" | "Y" | "y"),
        Some(_) => return Some(Err(errors::protocol("IS_MAIN is not a flag"))),
    };
    Some(Ok(BusinessLine {
        code,
        name: b.name.unwrap_or_default(),
        main,
    }))
}
