//! Mock of the notary and certification records service. No national API is public: the SOAP 1.1
//! contract is ours, in `schemas/notary/` (README, WSDL, XSD, golden messages).
//!
//! `POST /notary` with operations `TraCuuVanBan` (look up a notarised document or certified copy
//! by number and office code) and `XacThucVanBan` (verify a document's SHA-256); WSDL at
//! `GET /notary?wsdl`. Callers authenticate with a WS-Security UsernameToken (PasswordText);
//! every refusal is a SOAP Fault in HTTP 500 with a numeric detail code.

mod fault;
pub mod records;
mod reply;
mod request;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderMap, Uri};

use crate::control::Vocabulary;
use crate::data::Dataset;
use crate::soap::{self, Service, xml_file};
use crate::{FaultRule, MockControl, StartedSystem};

use fault::Refusal;
use records::Registry;
use request::Operation;

/// The system's short name.
pub const NAME: &str = "notary";
/// The SOAP endpoint's path.
pub const PATH: &str = "/notary";
/// Our namespace for the service's messages.
pub const NOTARY_NS: &str = "http://congchung.lienthong.vn/2026/notary";
/// The WSDL, served at `GET /notary?wsdl`.
pub const WSDL: &str = include_str!("../../../schemas/notary/notary.wsdl");
/// The schema, served at `GET /notary.xsd`.
pub const XSD: &str = include_str!("../../../schemas/notary/notary.xsd");
/// The address written in the WSDL file, replaced by the address the caller used when served.
pub const WSDL_ADDRESS: &str = "http://localhost:8080/notary";

const SERVICE: Service = Service {
    name: NAME,
    path: PATH,
    title: "notary",
    wsdl: WSDL,
    wsdl_address: WSDL_ADDRESS,
    operation: soap::classify::<Operation>,
};

/// Settings from the mocks config file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `wsse:Username` (default `lienthong`).
    pub username: String,
    /// `wsse:Password`, PasswordText (default `demo-notary-secret`).
    pub password: String,
    /// Start-up fault rules.
    pub faults: Vec<FaultRule>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            username: "lienthong".to_owned(),
            password: "demo-notary-secret".to_owned(),
            faults: Vec::new(),
        }
    }
}

struct Shared {
    settings: Settings,
    registry: Registry,
}

/// The operation names fault rules and stubs may name, and the scenario keys.
pub const VOCABULARY: Vocabulary = Vocabulary {
    operations: &["TraCuuVanBan", "XacThucVanBan", "wsdl", "xsd"],
    scenario_keys: &[],
    check_scenario: None,
    reply_format: crate::control::ReplyFormat::Soap { ns: NOTARY_NS },
};

/// The system's routes, wrapped with the shared journal, faults and `/__admin` API. The documents
/// are generated from `data` ([`Registry::standard`]).
pub fn router(settings: &Settings, data: Arc<Dataset>, control: Arc<MockControl>) -> Router {
    control.describe(VOCABULARY);
    let shared = Arc::new(Shared {
        settings: settings.clone(),
        registry: Registry::standard(&data),
    });
    let routes = Router::new()
        .route(PATH, get(describe).post(soap))
        .route("/notary.xsd", get(|| async { xml_file(XSD) }))
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
        ("wsse:Username".to_owned(), settings.username.clone()),
        (
            "wsse:Password (PasswordText)".to_owned(),
            settings.password.clone(),
        ),
    ];
    SERVICE.start(control, routes, addr, credentials).await
}

async fn describe(headers: HeaderMap, uri: Uri, RawQuery(query): RawQuery) -> Response {
    SERVICE.describe(&headers, &uri, query.as_deref())
}

async fn soap(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = soap::body(body).map_err(Refusal::from);
    soap::respond(body.and_then(|body| handle(&shared, &headers, &body)))
}

fn handle(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<String, Refusal> {
    soap::check_content_type(headers)?;
    let query = request::parse(body, headers, &shared.settings)?;
    let doc = shared.registry.get(&query.office, &query.number);
    match query.op {
        Operation::Lookup => Ok(reply::lookup(&query, doc.ok_or(Refusal::NotFound)?)),
        Operation::Verify => Ok(reply::verify(&query, doc)),
    }
}
