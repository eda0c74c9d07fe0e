//! The registry's wire format: the token and lookup requests as they go out, and the JSON replies
//! as they come back (`schemas/enterprise/`). Parsing is lenient where the real system is known
//! to vary (one-or-many representatives, numbers or strings, nulls, unknown keys ignored) and
//! strict where the meaning would change (status, codes, names).

use base64::Engine as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::auth::{AccessToken, ClientAuth};
use super::{CallContext, Settings, errors};
use crate::AdapterError;

/// Path of the lookup, below the base URL.
pub const LOOKUP_PATH: &str = "/apiCSDLDKDN/1.0/chiTietDoanhNghiep";

pub use crate::reply::Reply;

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749 Appendix B).
pub fn form_urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The token request: `POST {token_url}`, `grant_type=client_credentials`, client authentication
/// by HTTP Basic or by form fields (never both).
pub fn build_token_request(
    http: &reqwest::Client,
    settings: &Settings,
) -> Result<reqwest::Request, AdapterError> {
    let mut body = String::from("grant_type=client_credentials");
    if let Some(scope) = settings.scope.as_deref().filter(|s| !s.is_empty()) {
        body.push_str("&scope=");
        body.push_str(&form_urlencode(scope));
    }
    let mut rb = http
        .post(&settings.token_url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json");
    match settings.client_auth {
        ClientAuth::Basic => {
            let pair = format!(
                "{}:{}",
                form_urlencode(&settings.client_id),
                form_urlencode(&settings.client_secret)
            );
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            );
            let mut hv = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                AdapterError::new(
                    crate::ErrorKind::Invalid,
                    crate::Origin::Internal,
                    "enterprise client credentials cannot go in a header",
                )
            })?;
            hv.set_sensitive(true);
            rb = rb.header(reqwest::header::AUTHORIZATION, hv);
        }
        ClientAuth::Form => {
            body.push_str("&client_id=");
            body.push_str(&form_urlencode(&settings.client_id));
            body.push_str("&client_secret=");
            body.push_str(&form_urlencode(&settings.client_secret));
        }
    }
    rb.body(body).build().map_err(|_| {
        AdapterError::new(
            crate::ErrorKind::Invalid,
            crate::Origin::Internal,
            "the token request could not be built (check enterprise.token_url)",
        )
    })
}

/// The lookup: `GET {base}/apiCSDLDKDN/1.0/chiTietDoanhNghiep?msdn={code}` with the bearer token.
pub fn build_lookup_request(
    http: &reqwest::Client,
    settings: &Settings,
    enterprise_code: &str,
    token: &AccessToken,
    ctx: &CallContext,
) -> Result<reqwest::Request, AdapterError> {
    let url = format!("{}{LOOKUP_PATH}", settings.base_url.trim_end_matches('/'));
    let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.secret()))
        .map_err(|_| {
            errors::protocol("the token endpoint issued a token that cannot go in a header")
        })?;
    auth.set_sensitive(true);
    let mut rb = http
        .get(url)
        .query(&[("msdn", enterprise_code)])
        .header(reqwest::header::AUTHORIZATION, auth)
        .header(reqwest::header::ACCEPT, "application/json");
    if !ctx.request_id.is_empty() {
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&ctx.request_id) {
            rb = rb.header("x-request-id", v);
        }
    }
    rb.build().map_err(|_| {
        AdapterError::new(
            crate::ErrorKind::Invalid,
            crate::Origin::Internal,
            "the lookup request could not be built (check enterprise.base_url)",
        )
    })
}

/// A successful token reply (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenReply {
    /// The token (secret).
    pub access_token: String,
    /// Lifetime in seconds (300 when the endpoint does not say).
    pub expires_in: u64,
}

/// Parses a 200 token reply; the token type must be `Bearer`.
pub fn parse_token_reply(reply: &Reply) -> Result<TokenReply, AdapterError> {
    let v: Value = serde_json::from_slice(&reply.body)
        .map_err(|_| errors::protocol("the token reply is not JSON"))?;
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| errors::protocol("the token reply has no access_token"))?;
    let token_type = v.get("token_type").and_then(Value::as_str).unwrap_or("");
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(errors::protocol("the token reply is not a bearer token"));
    }
    let expires_in = match v.get("expires_in") {
        None | Some(Value::Null) => 300,
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.is_finite())
                    .map(|f| f as u64)
            })
            .unwrap_or(0),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| errors::protocol("the token reply's expires_in is not a number"))?,
        Some(_) => {
            return Err(errors::protocol(
                "the token reply's expires_in is not a number",
            ));
        }
    };
    Ok(TokenReply {
        access_token: token.to_owned(),
        expires_in,
    })
}

// ------------------------------------------------------------------ lookup reply

/// `{"data": {...}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct LookupReply {
    /// The envelope.
    #[serde(alias = "Data", alias = "DATA")]
    pub data: Envelope,
}

/// `{"Status", "DataCount", "Data", "ErrorCode"?, "Message"?}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    /// `1` found, `0` not found, `-1` refused (number or numeric string).
    #[serde(rename = "Status", default, deserialize_with = "lenient_i64")]
    pub status: Option<i64>,
    /// Records in `Data` (0 or 1).
    #[serde(rename = "DataCount", default, deserialize_with = "lenient_i64")]
    pub data_count: Option<i64>,
    /// The enterprise, or null.
    #[serde(rename = "Data", default)]
    pub data: Option<WireEnterprise>,
    /// `MSDN_MISSING` / `MSDN_INVALID` on a refusal.
    #[serde(rename = "ErrorCode", default, deserialize_with = "lenient_string")]
    pub error_code: Option<String>,
}

/// `Data`: the enterprise.
#[derive(Debug, Clone, Deserialize)]
pub struct WireEnterprise {
    /// Codes, names, status, type, dates, capital.
    #[serde(rename = "MainInformation")]
    pub main: MainInformation,
    /// The head office (spelled `HOAdress` by the real system; `HOAddress` accepted too).
    #[serde(rename = "HOAdress", alias = "HOAddress", default)]
    pub address: Option<HoAdress>,
    /// One object, an array, or null.
    #[serde(rename = "Representatives", default)]
    pub representatives: Option<OneOrMany<WireRepresentative>>,
    /// Business lines (the key may be absent).
    #[serde(rename = "BusinessActivities", default)]
    pub business_activities: Option<OneOrMany<WireBusinessActivity>>,
}

/// `MainInformation`.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct MainInformation {
    #[serde(rename = "ENTERPRISE_ID", default, deserialize_with = "lenient_string")]
    pub enterprise_id: Option<String>,
    #[serde(
        rename = "ENTERPRISE_CODE",
        default,
        deserialize_with = "lenient_string"
    )]
    pub enterprise_code: Option<String>,
    #[serde(
        rename = "ENTERPRISE_GDT_CODE",
        default,
        deserialize_with = "lenient_string"
    )]
    pub enterprise_gdt_code: Option<String>,
    #[serde(rename = "NAME", default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(rename = "NAME_F", default, deserialize_with = "lenient_string")]
    pub name_f: Option<String>,
    #[serde(rename = "SHORT_NAME", default, deserialize_with = "lenient_string")]
    pub short_name: Option<String>,
    #[serde(
        rename = "ENTERPRISE_STATUS_ID",
        default,
        deserialize_with = "lenient_string"
    )]
    pub status_id: Option<String>,
    #[serde(
        rename = "ENTERPRISE_STATUS_NAME",
        default,
        deserialize_with = "lenient_string"
    )]
    pub status_name: Option<String>,
    #[serde(
        rename = "ENTERPRISE_TYPE_ID",
        default,
        deserialize_with = "lenient_string"
    )]
    pub type_id: Option<String>,
    #[serde(
        rename = "ENTERPRISE_TYPE_NAME",
        default,
        deserialize_with = "lenient_string"
    )]
    pub type_name: Option<String>,
    #[serde(rename = "FOUNDING_DATE", default, deserialize_with = "lenient_string")]
    pub founding_date: Option<String>,
    #[serde(
        rename = "LAST_AMEND_DATE",
        default,
        deserialize_with = "lenient_string"
    )]
    pub last_amend_date: Option<String>,
    /// A JSON number (or numeric string), VND.
    #[serde(rename = "CAPITAL_AMOUNT", default)]
    pub capital_amount: Option<Value>,
    /// A JSON integer (or numeric string).
    #[serde(rename = "NUMBER_CHANGES", default)]
    pub number_changes: Option<Value>,
}

/// `HOAdress`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct HoAdress {
    #[serde(rename = "CityID", default, deserialize_with = "lenient_string")]
    pub city_id: Option<String>,
    #[serde(rename = "CityName", default, deserialize_with = "lenient_string")]
    pub city_name: Option<String>,
    #[serde(rename = "DistrictID", default, deserialize_with = "lenient_string")]
    pub district_id: Option<String>,
    #[serde(rename = "DistrictName", default, deserialize_with = "lenient_string")]
    pub district_name: Option<String>,
    #[serde(rename = "WardID", default, deserialize_with = "lenient_string")]
    pub ward_id: Option<String>,
    #[serde(rename = "WardName", default, deserialize_with = "lenient_string")]
    pub ward_name: Option<String>,
    #[serde(rename = "StreetNumber", default, deserialize_with = "lenient_string")]
    pub street_number: Option<String>,
    #[serde(
        rename = "AddressFullText",
        default,
        deserialize_with = "lenient_string"
    )]
    pub full_text: Option<String>,
}

/// One element of `Representatives`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct WireRepresentative {
    #[serde(rename = "FULL_NAME", default, deserialize_with = "lenient_string")]
    pub full_name: Option<String>,
    #[serde(rename = "GENDER_ID", default, deserialize_with = "lenient_string")]
    pub gender_id: Option<String>,
    #[serde(rename = "PERS_DOC_NO", default, deserialize_with = "lenient_string")]
    pub pers_doc_no: Option<String>,
    #[serde(rename = "PERS_DOC_NAME", default, deserialize_with = "lenient_string")]
    pub pers_doc_name: Option<String>,
    #[serde(rename = "DATE_OF_BIRTH", default, deserialize_with = "lenient_string")]
    pub date_of_birth: Option<String>,
    #[serde(
        rename = "NATIONALITY_NAME",
        default,
        deserialize_with = "lenient_string"
    )]
    pub nationality_name: Option<String>,
    #[serde(rename = "POSITION_NAME", default, deserialize_with = "lenient_string")]
    pub position_name: Option<String>,
}

/// One element of `BusinessActivities`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct WireBusinessActivity {
    #[serde(rename = "CODE", default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// `"1"` / `"0"` (also `1` / `0`, `true` / `false`).
    #[serde(rename = "IS_MAIN", default)]
    pub is_main: Option<Value>,
    #[serde(rename = "NAME", default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
}

/// An object when there is one, an array when there are several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// Several (or an array of one).
    Many(Vec<T>),
    /// One, as an object.
    One(T),
}

impl<T> OneOrMany<T> {
    /// Always a list.
    pub fn into_vec(self) -> Vec<T> {
        match self {
            Self::Many(v) => v,
            Self::One(t) => vec![t],
        }
    }
}

/// A string, a number written as a string, or null (→ `None`; an empty string too).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(if b { "1" } else { "0" }.to_owned())),
        Some(_) => Err(serde::de::Error::custom("expected a string")),
    }
}

/// An integer, an integer written as a string, or null.
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expected an integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected an integer")),
        Some(_) => Err(serde::de::Error::custom("expected an integer")),
    }
}

/// Reads a lookup reply: the enterprise, or the error it stands for.
pub fn parse_lookup_reply(reply: &Reply) -> Result<WireEnterprise, AdapterError> {
    match reply.status {
        200 => {
            if !reply.is_json() {
                return Err(errors::protocol(
                    "the registry's reply is not JSON (content type)",
                ));
            }
            let r: LookupReply = serde_json::from_slice(&reply.body).map_err(|_| {
                errors::protocol("the registry's reply does not follow the contract")
            })?;
            match (r.data.status, r.data.data) {
                (Some(1), Some(d)) => Ok(d),
                (Some(1), None) => {
                    Err(errors::protocol("the registry said found but sent no data"))
                }
                (Some(0), _) => Err(errors::not_found()),
                (Some(-1), _) => Err(errors::invalid_code(r.data.error_code.as_deref())),
                (None, Some(d)) if r.data.data_count.unwrap_or(1) >= 1 => Ok(d),
                (None, None) if r.data.data_count == Some(0) => Err(errors::not_found()),
                _ => Err(errors::protocol(
                    "the registry's reply has an unknown Status",
                )),
            }
        }
        400 => {
            // The registry's refusal: the envelope with Status -1 and an ErrorCode.
            match serde_json::from_slice::<LookupReply>(&reply.body) {
                Ok(r) if r.data.status == Some(-1) || r.data.error_code.is_some() => {
                    Err(errors::invalid_code(r.data.error_code.as_deref()))
                }
                _ => Err(errors::from_status(400, &reply.body)),
            }
        }
        s => Err(errors::from_status(s, &reply.body)),
    }
}
