//! Mock of the national population database (Ministry of Public Security, C06) behind the
//! integration platform: SOAP 1.1 at `POST /dancuquocgia`, WSDL at `GET /dancuquocgia?wsdl`.
//!
//! The contract is in `schemas/population/` (README, WSDL, XSD, golden messages). Operations:
//! `TraCuuThongTinCongDan` (look up a citizen, integration code 037) and
//! `XacThucThongTinCongDan` (verify that a citizen exists, service code 033). Every request is
//! authenticated with the C06 headers (`ApiKey`, `Timestamp`, signed `Authorization`,
//! `SOAPAction`); every refusal is a SOAP Fault in HTTP 500 with a numeric detail code.

mod auth;
mod fault;
mod reply;
mod request;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderMap, Uri};

use crate::control::Vocabulary;
use crate::data::{Citizen, Dataset, REFERENCE_DATE};
use crate::soap::{self, Service, xml_file};
use crate::{FaultRule, MockControl, StartedSystem};

use fault::Refusal;
use request::{Birth, Operation, Query};

/// The system's short name.
pub const NAME: &str = "population";
/// The SOAP endpoint's path (our choice; the real path is private).
pub const PATH: &str = "/dancuquocgia";
/// The WSDL, served at `GET /dancuquocgia?wsdl`.
pub const WSDL: &str = include_str!("../../../schemas/population/population.wsdl");
/// The operations' schema (namespace `http://dancuquocgia.bca`), served at `GET /population.xsd`.
pub const XSD: &str = include_str!("../../../schemas/population/population.xsd");
/// The citizen records' schema (namespace `http://www.mic.gov.vn/dancu/1.0`), served at
/// `GET /dancu.xsd`.
pub const DANCU_XSD: &str = include_str!("../../../schemas/population/dancu.xsd");
/// The address written in the WSDL file, replaced by the address the caller used when served.
pub const WSDL_ADDRESS: &str = "http://localhost:8080/dancuquocgia";

const SERVICE: Service = Service {
    name: NAME,
    path: PATH,
    title: "dancuquocgia",
    wsdl: WSDL,
    wsdl_address: WSDL_ADDRESS,
    operation: soap::classify::<Operation>,
};

/// Settings from the mocks config file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The platform account in `Authorization` (default `lienthong`).
    pub username: String,
    /// The shared secret in the signature (default `demo-c06-secret`).
    pub secret: String,
    /// The `ApiKey` header's value (default `demo-c06-apikey`).
    pub api_key: String,
    /// Start-up fault rules.
    pub faults: Vec<FaultRule>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            username: "lienthong".to_owned(),
            secret: "demo-c06-secret".to_owned(),
            api_key: "demo-c06-apikey".to_owned(),
            faults: Vec::new(),
        }
    }
}

struct Shared {
    settings: Settings,
    data: Arc<Dataset>,
}

/// The operation names fault rules and stubs may name, and the scenario keys.
pub const VOCABULARY: Vocabulary = Vocabulary {
    operations: &[
        "TraCuuThongTinCongDan",
        "XacThucThongTinCongDan",
        "wsdl",
        "xsd",
    ],
    scenario_keys: &[],
    check_scenario: None,
    reply_format: crate::control::ReplyFormat::Soap {
        ns: request::BCA_NS,
    },
};

/// The system's routes, wrapped with the shared journal, faults and `/__admin` API.
pub fn router(settings: &Settings, data: Arc<Dataset>, control: Arc<MockControl>) -> Router {
    control.describe(VOCABULARY);
    let shared = Arc::new(Shared {
        settings: settings.clone(),
        data,
    });
    let routes = Router::new()
        .route(PATH, get(describe).post(soap))
        .route("/population.xsd", get(|| async { xml_file(XSD) }))
        .route("/dancu.xsd", get(|| async { xml_file(DANCU_XSD) }))
        .with_state(shared);
    control.wrap(routes, |parts, body| SERVICE.classify(parts, body))
}

/// Starts the mock on `addr`.
pub async fn start(
    settings: &Settings,
    data: Arc<Dataset>,
    seed: u64,
    addr: SocketAddr,
) -> std::io::Result<StartedSystem> {
    let control = soap::control::<Refusal>(NAME, settings.faults.clone(), seed);
    let routes = router(settings, data, control.clone());
    let credentials = vec![
        ("username".to_owned(), settings.username.clone()),
        ("secret".to_owned(), settings.secret.clone()),
        ("ApiKey".to_owned(), settings.api_key.clone()),
    ];
    SERVICE.start(control, routes, addr, credentials).await
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

async fn describe(headers: HeaderMap, uri: Uri, RawQuery(query): RawQuery) -> Response {
    SERVICE.describe(&headers, &uri, query.as_deref())
}

async fn soap(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = soap::body(body).map_err(Refusal::from);
    soap::respond(body.and_then(|body| handle(&shared, &headers, &uri, &body)))
}

fn handle(shared: &Shared, headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<String, Refusal> {
    auth::check(headers, uri, &shared.settings, now_ms())?;
    soap::check_content_type(headers)?;
    let query = request::parse(body)?;
    let found = find(&shared.data, &query);
    match query.op {
        Operation::Lookup => {
            let citizen = found.ok_or(Refusal::NotFound)?;
            Ok(reply::lookup(&query, citizen, &shared.data, REFERENCE_DATE))
        }
        Operation::Verify => Ok(reply::verify(&query, found.is_some())),
    }
}

/// The citizen with this id (or old id) whose name and date of birth agree with the query.
/// A citizen whose record only holds a birth year matches any date of that year.
fn find<'a>(data: &'a Dataset, q: &Query) -> Option<&'a Citizen> {
    let citizen = match (&q.personal_id, &q.old_id) {
        (Some(id), old) => {
            let c = data.citizen(id)?;
            if old.as_ref().is_some_and(|o| c.old_id.as_ref() != Some(o)) {
                return None;
            }
            c
        }
        (None, Some(old)) => data.citizen_by_old_id(old)?,
        (None, None) => return None,
    };
    // The query's name has its white space collapsed already: compare word by word.
    if !citizen
        .full_name_ascii_upper()
        .split_whitespace()
        .eq(q.name.split(' '))
    {
        return None;
    }
    let dob = &citizen.date_of_birth;
    let birth_ok = match q.birth {
        Birth::Year(y) => y == dob.year,
        Birth::Date { year, .. } if citizen.birth_year_only => year == dob.year,
        Birth::Date { year, month, day } => (year, month, day) == (dob.year, dob.month, dob.day),
    };
    birth_ok.then_some(citizen)
}
