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
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, Method, StatusCode, Uri, header};

use crate::control::xml_escape;
use crate::data::Dataset;
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

const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

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

/// The system's routes, wrapped with the shared journal, faults and `/__admin` API. The documents
/// are generated from `data` ([`Registry::standard`]).
pub fn router(settings: &Settings, data: Arc<Dataset>, control: Arc<MockControl>) -> Router {
    let shared = Arc::new(Shared {
        settings: settings.clone(),
        registry: Registry::standard(&data),
    });
    let routes = Router::new()
        .route(PATH, get(describe).post(soap))
        .route(
            "/notary.xsd",
            get(|| async { ([(header::CONTENT_TYPE, CONTENT_TYPE)], XSD).into_response() }),
        )
        .with_state(shared);
    control.wrap(routes, classify)
}

/// Starts the mock on `addr`.
pub async fn start(
    settings: &Settings,
    data: Arc<Dataset>,
    seed: u64,
    addr: SocketAddr,
) -> std::io::Result<StartedSystem> {
    let control = MockControl::new_soap(NAME, settings.faults.clone(), seed, fault::injected_fault);
    let mock = crate::spawn(router(settings, data, control.clone()), addr).await?;
    let endpoint = format!("{}{}", mock.url(), PATH);
    Ok(StartedSystem {
        name: NAME,
        credentials: vec![
            ("SOAP endpoint".to_owned(), endpoint.clone()),
            ("WSDL".to_owned(), format!("{endpoint}?wsdl")),
            ("wsse:Username".to_owned(), settings.username.clone()),
            (
                "wsse:Password (PasswordText)".to_owned(),
                settings.password.clone(),
            ),
        ],
        mock,
        control,
    })
}

fn classify(parts: &http::request::Parts, body: &[u8]) -> Option<String> {
    let path = parts.uri.path();
    match parts.method {
        Method::POST if path == PATH => request::classify(body).map(str::to_owned),
        Method::GET if path == PATH => Some("wsdl".to_owned()),
        Method::GET if path.ends_with(".xsd") => Some("xsd".to_owned()),
        _ => None,
    }
}

/// `GET /notary?wsdl` serves the WSDL (its address rewritten to the one the caller used); a bare
/// `GET` answers a short HTML page.
async fn describe(headers: HeaderMap, uri: Uri, RawQuery(query): RawQuery) -> Response {
    if query.is_some_and(|q| q.eq_ignore_ascii_case("wsdl")) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| uri.authority().map(|a| a.as_str().to_owned()));
        let address = host
            .map(|h| xml_escape(&format!("http://{h}{PATH}")))
            .unwrap_or_else(|| WSDL_ADDRESS.to_owned());
        return (
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            WSDL.replace(WSDL_ADDRESS, &address),
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><body><h1>notary</h1><p>SOAP 1.1 endpoint. WSDL: <a href=\"?wsdl\">?wsdl</a></p></body></html>",
    )
        .into_response()
}

/// `text/xml`, in UTF-8 when a charset is given.
fn content_type_ok(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("text/xml") {
        return false;
    }
    parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    })
}

async fn soap(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&shared, &headers, &body) {
        Ok(xml) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], xml).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

fn handle(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<String, Refusal> {
    if !content_type_ok(headers) {
        return Err(Refusal::UnsupportedMediaType);
    }
    let query = request::parse(body, headers, &shared.settings)?;
    let doc = shared.registry.get(&query.office, &query.number);
    match query.op {
        Operation::Lookup => Ok(reply::lookup(&query, doc.ok_or(Refusal::NotFound)?)),
        Operation::Verify => Ok(reply::verify(&query, doc)),
    }
}
