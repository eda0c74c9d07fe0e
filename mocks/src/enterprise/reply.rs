//! The `chiTietDoanhNghiep` reply, in the registry's own shape (see `schemas/enterprise/`).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::data::{Date, Enterprise, Representative};

/// `Status` of a reply that found the enterprise.
pub(super) const STATUS_FOUND: i64 = 1;
/// `Status` of a reply that found nothing (still HTTP 200).
pub(super) const STATUS_NOT_FOUND: i64 = 0;
/// `Status` of a refused request (HTTP 400).
pub(super) const STATUS_ERROR: i64 = -1;

/// Dates as the registry writes them: `yyyy-MM-ddT00:00:00`, no zone.
fn date(d: &Date) -> String {
    format!("{:04}-{:02}-{:02}T00:00:00", d.year, d.month, d.day)
}

/// An empty text becomes `null`, as the registry sends absent columns.
fn text_or_null(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::from(s)
    }
}

fn representative(r: &Representative) -> Value {
    json!({
        "FULL_NAME": r.full_name,
        "GENDER_ID": r.gender_id.to_string(),
        "PERS_DOC_NO": r.doc_no,
        "PERS_DOC_NAME": r.doc_name,
        "DATE_OF_BIRTH": date(&r.date_of_birth),
        "NATIONALITY_NAME": r.nationality,
        "POSITION_NAME": r.position,
    })
}

/// The reply for a known enterprise.
pub(super) fn found(e: &Enterprise) -> Value {
    let representatives = match e.representatives.as_slice() {
        [] => Value::Null,
        // The real quirk: one representative is an object, several are an array.
        [one] => representative(one),
        many => Value::Array(many.iter().map(representative).collect()),
    };
    let activities: Vec<Value> = e
        .business_lines
        .iter()
        .map(|b| {
            json!({
                "CODE": b.code,
                "IS_MAIN": if b.is_main { "1" } else { "0" },
                "NAME": b.name,
            })
        })
        .collect();
    let a = &e.address;
    json!({
        "data": {
            "Status": STATUS_FOUND,
            "DataCount": 1,
            "Data": {
                "MainInformation": {
                    "ENTERPRISE_ID": e.id,
                    "ENTERPRISE_CODE": e.code,
                    "ENTERPRISE_GDT_CODE": e.gdt_code,
                    "NAME": e.name,
                    "NAME_F": e.name_foreign,
                    "SHORT_NAME": e.short_name,
                    "ENTERPRISE_STATUS_ID": e.status_id,
                    "ENTERPRISE_STATUS_NAME": e.status_name,
                    "ENTERPRISE_TYPE_ID": e.type_id,
                    "ENTERPRISE_TYPE_NAME": e.type_name,
                    "FOUNDING_DATE": date(&e.founding_date),
                    "LAST_AMEND_DATE": e.last_amend_date.as_ref().map(date),
                    "CAPITAL_AMOUNT": e.capital_vnd,
                    "NUMBER_CHANGES": e.number_changes,
                },
                "HOAdress": {
                    "CityID": text_or_null(&a.province_code),
                    "CityName": text_or_null(&a.province_name),
                    "DistrictID": text_or_null(&a.district_code),
                    "DistrictName": text_or_null(&a.district_name),
                    "WardID": text_or_null(&a.ward_code),
                    "WardName": text_or_null(&a.ward_name),
                    "StreetNumber": text_or_null(&a.detail),
                    "AddressFullText": a.full_text(),
                },
                "Representatives": representatives,
                "BusinessActivities": activities,
            }
        }
    })
}

/// The reply for a well-formed code that is not registered: HTTP 200, `Status` 0, `Data` null.
pub(super) fn not_found() -> Value {
    json!({ "data": { "Status": STATUS_NOT_FOUND, "DataCount": 0, "Data": Value::Null } })
}

/// A 200 JSON reply.
pub(super) fn json_ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

/// The back end's refusal of a missing or malformed `msdn`: HTTP 400, same envelope, `Status` -1.
pub(super) fn bad_request(code: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({
            "data": {
                "Status": STATUS_ERROR,
                "DataCount": 0,
                "Data": Value::Null,
                "ErrorCode": code,
                "Message": message,
            }
        })
        .to_string(),
    )
        .into_response()
}

/// At most 32 characters of caller input, for error messages.
pub(super) fn clip(s: &str) -> String {
    s.chars().take(32).collect()
}
