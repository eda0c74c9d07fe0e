//! Record and playback: a proxy that forwards every request to a real (staging) system and saves
//! each exchange, one JSON file per distinct request, masking the personal-data fields it is told
//! to; and a server that answers from those files.
//!
//! A file is named from the method, the path and a hash of the normalised, masked request body
//! (`POST-api-v1-payment-3f9a1c2b.json`), so recording the same request again replaces its file
//! and the names stay the same from one recording run to the next. Playback matches a request on
//! method, path and that normalised body — masks applied first, so the masked fields (and any
//! other field masked because it changes on every call, such as a request ID or a timestamp) do
//! not stop a match. An unmatched request is answered 404 naming the closest recording.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::control::{MAX_BODY, MockControl};
use crate::{RunningMock, StartedSystem};

/// What replaces a masked value.
pub const MASK: &str = "***";

/// Request headers kept in a recording (others may carry credentials).
const KEPT_REQUEST_HEADERS: [&str; 2] = ["content-type", "soapaction"];
/// Response headers kept and played back.
const KEPT_RESPONSE_HEADERS: [&str; 4] = [
    "content-type",
    "retry-after",
    "location",
    "www-authenticate",
];

/// One saved exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The fields masked in this exchange's request and response.
    #[serde(default)]
    pub masked: Vec<String>,
    /// The request.
    pub request: Saved,
    /// The response.
    pub response: Saved,
}

/// A request or response as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// Request method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Request query (masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Response status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The headers kept (lower-case names).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// The body (masked; lossy UTF-8).
    pub body: String,
}

/// Why recording or playback could not start.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The upstream URL is not an absolute http(s) URL.
    #[error("the upstream must be an http:// or https:// URL, not `{0}`")]
    Upstream(String),
    /// The directory could not be read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// A recording is not a valid exchange.
    #[error("{0}: not a recording: {1}")]
    Invalid(PathBuf, String),
    /// The directory holds no recording.
    #[error("{0}: no recording (*.json) found")]
    Empty(PathBuf),
    /// The port could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

struct Recorder {
    upstream: String,
    dir: PathBuf,
    masks: BTreeSet<String>,
    client: reqwest::Client,
}

/// Starts a recording proxy on `addr` forwarding to `upstream` and saving into `dir` (created if
/// needed), masking the values of the fields named in `masks`.
pub async fn record(
    upstream: &str,
    dir: &Path,
    masks: &[String],
    addr: SocketAddr,
) -> Result<StartedSystem, RecordingError> {
    let parsed =
        http::Uri::try_from(upstream).map_err(|_| RecordingError::Upstream(upstream.to_owned()))?;
    if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
        return Err(RecordingError::Upstream(upstream.to_owned()));
    }
    std::fs::create_dir_all(dir).map_err(|e| RecordingError::Io(dir.to_owned(), e))?;
    // The process-wide provider, if none is installed yet (the recorder may reach HTTPS staging).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| RecordingError::Upstream(format!("{upstream} ({e})")))?;
    let recorder = Arc::new(Recorder {
        upstream: upstream.trim_end_matches('/').to_owned(),
        dir: dir.to_owned(),
        masks: masks.iter().cloned().collect(),
        client,
    });
    let control = MockControl::new("record", Vec::new(), 0);
    let router = control.wrap(
        Router::new().fallback(forward).with_state(recorder),
        |_, _| None,
    );
    let mock = spawn(router, addr).await?;
    Ok(StartedSystem {
        name: "record",
        credentials: vec![
            ("forwards to".to_owned(), upstream.to_owned()),
            ("saves into".to_owned(), dir.display().to_string()),
        ],
        mock,
        control,
    })
}

async fn spawn(router: Router, addr: SocketAddr) -> Result<RunningMock, RecordingError> {
    crate::spawn(router, addr)
        .await
        .map_err(|e| RecordingError::Bind(addr, e))
}

async fn forward(State(r): State<Arc<Recorder>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = r
        .client
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", r.upstream),
        )
        .body(body.clone());
    for (k, v) in &parts.headers {
        if !is_hop_by_hop(k) && k != header::HOST && k != header::CONTENT_LENGTH {
            out = out.header(k, v);
        }
    }
    let answer = match out.send().await {
        Ok(a) => a,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("recording proxy: the upstream did not answer: {e}"),
            )
                .into_response();
        }
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let Ok(answer_body) = answer.bytes().await else {
        return (
            StatusCode::BAD_GATEWAY,
            "recording proxy: the upstream's body was cut",
        )
            .into_response();
    };
    let exchange = Exchange {
        masked: r.masks.iter().cloned().collect(),
        request: Saved {
            method: Some(parts.method.to_string()),
            path: Some(parts.uri.path().to_owned()),
            query: parts.uri.query().map(|q| mask_form(q, &r.masks)),
            status: None,
            headers: kept(&parts.headers, &KEPT_REQUEST_HEADERS),
            body: mask_body(&body, &r.masks),
        },
        response: Saved {
            method: None,
            path: None,
            query: None,
            status: Some(status.as_u16()),
            headers: kept(&headers, &KEPT_RESPONSE_HEADERS),
            body: mask_body(&answer_body, &r.masks),
        },
    };
    let file = r.dir.join(file_name(&exchange.request));
    match serde_json::to_vec_pretty(&exchange) {
        Ok(json) => {
            if let Err(e) = std::fs::write(&file, json) {
                tracing::warn!(file = %file.display(), error = %e, "recording not saved");
            }
        }
        Err(e) => tracing::warn!(error = %e, "recording not saved"),
    }
    let mut resp = (status, answer_body).into_response();
    for (k, v) in &headers {
        if !is_hop_by_hop(k) && k != header::CONTENT_LENGTH {
            resp.headers_mut().append(k.clone(), v.clone());
        }
    }
    resp
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
    )
}

fn kept(headers: &HeaderMap, names: &[&str]) -> std::collections::BTreeMap<String, String> {
    names
        .iter()
        .filter_map(|n| {
            let v = headers.get(*n)?.to_str().ok()?;
            Some(((*n).to_owned(), v.to_owned()))
        })
        .collect()
}

/// `METHOD-path-segments-hash8.json`: stable for the same (masked, normalised) request.
fn file_name(req: &Saved) -> String {
    let method = req.method.as_deref().unwrap_or("GET");
    let path = req.path.as_deref().unwrap_or("/");
    let slug: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(60).collect();
    let key = match_key(req);
    let hash = hex::encode(&Sha256::digest(key.as_bytes())[..4]);
    if slug.is_empty() {
        format!("{method}-{hash}.json")
    } else {
        format!("{method}-{slug}-{hash}.json")
    }
}

/// What playback compares: method, path, sorted query and normalised body.
fn match_key(req: &Saved) -> String {
    format!(
        "{} {}?{}\n{}",
        req.method.as_deref().unwrap_or("GET"),
        req.path.as_deref().unwrap_or("/"),
        normalise_form(req.query.as_deref().unwrap_or("")),
        normalise(&req.body)
    )
}

/// A body in a form that ignores what does not change its meaning: JSON re-serialised with
/// sorted keys, XML without the whitespace between elements, forms with sorted parameters.
fn normalise(body: &str) -> String {
    let t = body.trim();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Value>(t) {
            return v.to_string();
        }
    }
    if t.starts_with('<') {
        let mut out = String::with_capacity(t.len());
        for (i, piece) in t.split('<').enumerate() {
            if i > 0 {
                out.push('<');
            }
            match piece.split_once('>') {
                Some((tag, text)) => {
                    out.push_str(tag);
                    out.push('>');
                    out.push_str(text.trim());
                }
                None => out.push_str(piece.trim()),
            }
        }
        return out;
    }
    if t.contains('=') && !t.contains(char::is_whitespace) {
        return normalise_form(t);
    }
    t.to_owned()
}

fn normalise_form(q: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The body as text with the masked fields' values replaced: JSON members, XML elements (by
/// local name) or form parameters.
pub fn mask_body(body: &[u8], masks: &BTreeSet<String>) -> String {
    let text = String::from_utf8_lossy(body).into_owned();
    if masks.is_empty() {
        return text;
    }
    let t = text.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(mut v) = serde_json::from_str::<Value>(&text) {
            mask_json(&mut v, masks);
            return serde_json::to_string(&v).unwrap_or(text);
        }
    }
    if t.starts_with('<') {
        return mask_xml(&text, masks);
    }
    if text.contains('=') && !text.trim().contains(char::is_whitespace) {
        return mask_form(&text, masks);
    }
    text
}

fn mask_json(v: &mut Value, masks: &BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if masks.contains(k) && !v.is_object() && !v.is_array() {
                    *v = Value::String(MASK.to_owned());
                } else {
                    mask_json(v, masks);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| mask_json(i, masks)),
        _ => {}
    }
}

/// Replaces the text directly inside every element whose local name is masked.
fn mask_xml(text: &str, masks: &BTreeSet<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|c| open + c) else {
            break;
        };
        out.push_str(&rest[..=close]);
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        let local = name.rsplit(':').next().unwrap_or(name);
        let opening = !tag.starts_with(['/', '?', '!']) && !tag.ends_with('/');
        if opening && masks.contains(local) {
            let end = rest.find('<').unwrap_or(rest.len());
            if !rest[..end].trim().is_empty() {
                out.push_str(MASK);
                rest = &rest[end..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn mask_form(q: &str, masks: &BTreeSet<String>) -> String {
    if masks.is_empty() {
        return q.to_owned();
    }
    let pairs = form_urlencoded::parse(q.as_bytes()).map(|(k, v)| {
        let v = if masks.contains(k.as_ref()) {
            MASK.into()
        } else {
            v
        };
        (k, v)
    });
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

struct Player {
    /// (file name, match key, exchange), in file name order.
    recordings: Vec<(String, String, Exchange)>,
    masks: BTreeSet<String>,
}

/// Starts a server on `addr` answering from the recordings in `dir`.
pub async fn playback(dir: &Path, addr: SocketAddr) -> Result<StartedSystem, RecordingError> {
    let mut recordings = Vec::new();
    let mut masks = BTreeSet::new();
    let entries = std::fs::read_dir(dir).map_err(|e| RecordingError::Io(dir.to_owned(), e))?;
    for entry in entries {
        let path = entry
            .map_err(|e| RecordingError::Io(dir.to_owned(), e))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read(&path).map_err(|e| RecordingError::Io(path.clone(), e))?;
        let exchange: Exchange = serde_json::from_slice(&text)
            .map_err(|e| RecordingError::Invalid(path.clone(), e.to_string()))?;
        masks.extend(exchange.masked.iter().cloned());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        recordings.push((name, match_key(&exchange.request), exchange));
    }
    if recordings.is_empty() {
        return Err(RecordingError::Empty(dir.to_owned()));
    }
    recordings.sort_by(|a, b| a.0.cmp(&b.0));
    let count = recordings.len();
    let player = Arc::new(Player { recordings, masks });
    let control = MockControl::new("playback", Vec::new(), 0);
    let router = control.wrap(Router::new().fallback(play).with_state(player), |_, _| None);
    let mock = spawn(router, addr).await?;
    Ok(StartedSystem {
        name: "playback",
        credentials: vec![(
            "serves".to_owned(),
            format!("{count} recordings from {}", dir.display()),
        )],
        mock,
        control,
    })
}

async fn play(
    State(p): State<Arc<Player>>,
    method: Method,
    uri: http::Uri,
    body: Bytes,
) -> Response {
    let asked = Saved {
        method: Some(method.to_string()),
        path: Some(uri.path().to_owned()),
        query: uri.query().map(|q| mask_form(q, &p.masks)),
        status: None,
        headers: Default::default(),
        body: mask_body(&body, &p.masks),
    };
    let key = match_key(&asked);
    if let Some((_, _, e)) = p.recordings.iter().find(|(_, k, _)| *k == key) {
        let status = e
            .response
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        let mut resp = (status, e.response.body.clone()).into_response();
        for (k, v) in &e.response.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
                resp.headers_mut().insert(k, v);
            }
        }
        return resp;
    }
    let closest = p
        .recordings
        .iter()
        .max_by_key(|(_, k, e)| {
            (
                e.request.method.as_deref() == asked.method.as_deref(),
                e.request.path.as_deref() == asked.path.as_deref(),
                shared_ends(k, &key),
            )
        })
        .map(|(name, _, _)| name.clone());
    let detail = format!(
        "no recording of {method} {} with this body; the closest is {}",
        uri.path(),
        closest.as_deref().unwrap_or("none"),
    );
    crate::control::problem_response(
        StatusCode::NOT_FOUND,
        "no_recording",
        &detail,
        serde_json::json!({ "closest": closest }),
    )
}

/// How many characters two keys share at their start and at their end: a cheap closeness.
fn shared_ends(a: &str, b: &str) -> usize {
    let prefix = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let suffix = a
        .bytes()
        .rev()
        .zip(b.bytes().rev())
        .take_while(|(x, y)| x == y)
        .count();
    prefix + suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masks(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn masks_json_members_xml_elements_and_form_parameters() {
        let m = masks(&["SoDinhDanh", "ho_ten"]);
        assert_eq!(
            mask_body(
                r#"{"a": {"ho_ten": "Nguyễn Văn A", "x": 1}, "SoDinhDanh": "001099000001"}"#
                    .as_bytes(),
                &m
            ),
            r#"{"SoDinhDanh":"***","a":{"ho_ten":"***","x":1}}"#
        );
        assert_eq!(
            mask_body(b"<a:R xmlns:a=\"u\"><a:SoDinhDanh>001099000001</a:SoDinhDanh><a:SoDinhDanhCu/><a:X>1</a:X></a:R>", &m),
            "<a:R xmlns:a=\"u\"><a:SoDinhDanh>***</a:SoDinhDanh><a:SoDinhDanhCu/><a:X>1</a:X></a:R>"
        );
        assert_eq!(mask_body(b"ho_ten=A+B&n=1", &m), "ho_ten=***&n=1");
    }

    #[test]
    fn names_are_stable_and_ignore_formatting() {
        let req = |body: &str| Saved {
            method: Some("POST".into()),
            path: Some("/api/v1/payment".into()),
            query: None,
            status: None,
            headers: Default::default(),
            body: body.into(),
        };
        let a = file_name(&req(r#"{"b": 1, "a": 2}"#));
        assert_eq!(a, file_name(&req("{\"a\":2,\n \"b\":1}")));
        assert_ne!(a, file_name(&req(r#"{"a": 3, "b": 1}"#)));
        assert!(
            a.starts_with("POST-api-v1-payment-") && a.ends_with(".json"),
            "{a}"
        );
        assert_eq!(normalise("<a>\n  <b> x </b>\n</a>"), "<a><b>x</b></a>");
    }
}
