//! Signed proof of origin for what a national registry answered (regulation art. 8, 9.9): every
//! answer of the population database, the enterprise registry and the notary records carries
//! `Lienthong-Evidence: <compact JWS>`, which proves later, and to anyone holding the published
//! keys, what the registry said, when, to whom and for which dossier.
//!
//! The JWS (RFC 7515) is signed with EdDSA (Ed25519, RFC 8037) or ES256 (RFC 7518); its protected
//! header is `{"alg", "kid", "typ": "lienthong-evidence+jwt"}` and `kid` is the key's RFC 7638
//! thumbprint, found in `GET /.well-known/jwks.json`. Its payload ([`Claims`]) holds:
//!
//! - `iss` (`[evidence] issuer`), `iat` (seconds), `jti` (the request id);
//! - `client`, `service`, `operation`, `dossier` (`X-Dossier-Id`, or null);
//! - `official`: the official's id (`X-User-Id`) as a keyed hash, HMAC-SHA256 under
//!   `audit.subject_key` as the audit trail's subjects are (null without the header);
//! - `upstream` (the registry: `population`, `enterprise`, `notary`), `upstream_msg_id` (the id
//!   the gateway gave its call, `MaYeuCau`; null for the enterprise registry, whose API has none),
//!   `upstream_at` (when the registry answered, seconds) and `cache` (how the gateway's cache
//!   served it, null without a cache): a cached answer names the call that fetched it;
//! - `status` (the HTTP status of the answer);
//! - `req`: hex SHA-256 of the canonical request ([`canonical_request`]); `res`: hex SHA-256 of
//!   the exact bytes of the response body.
//!
//! No personal data is in it in clear: the citizen's or document's details appear only inside
//! `req`, a hash (pseudonymous, not anonymous: whoever holds a guess of the request can test it,
//! so the records are for admins only).
//!
//! Which answers are signed: every answer carrying what the registry said, 2xx and the 404 of a
//! record the registry does not have. Errors where it said nothing usable (502, 503, 504, 500)
//! carry no evidence.
//!
//! Only the records, keys, signing and verification live here; the store keeps the records
//! (`store::EvidenceLog`), and the registry kinds seal their answers with [`Issuer::seal`].

mod config;
pub mod keys;
pub mod verify;

use std::fmt::Write as _;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use config::EvidenceConfig;
pub use keys::{Algorithm, KeySet, PublicKey, SigningKey};

use crate::config::ConfigError;
use crate::error::{ApiError, ErrorCode, Lang};

/// The response header carrying the evidence.
pub const HEADER: &str = "lienthong-evidence";
/// The JWS `typ` (RFC 8725 §3.11: evidence is never mistaken for another kind of token).
pub const TYP: &str = "lienthong-evidence+jwt";

/// The payload of an evidence JWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The gateway (`[evidence] issuer`).
    pub iss: String,
    /// When the answer was signed, seconds since the Unix epoch.
    pub iat: i64,
    /// The request id (`X-Request-Id`).
    pub jti: String,
    /// The calling client.
    pub client: String,
    /// The service name, as configured.
    pub service: String,
    /// The operation.
    pub operation: String,
    /// `X-Dossier-Id`, when given.
    pub dossier: Option<String>,
    /// HMAC-SHA256 (hex) of `X-User-Id` under `audit.subject_key`, when given.
    pub official: Option<String>,
    /// The registry that answered: `population`, `enterprise` or `notary`.
    pub upstream: String,
    /// The message id of the registry call that fetched the answer (`MaYeuCau`); null when the
    /// registry takes none.
    pub upstream_msg_id: Option<String>,
    /// When the registry answered, seconds since the Unix epoch; null when not known.
    pub upstream_at: Option<i64>,
    /// How the gateway's cache served the answer (`hit`, `miss`, `stale`, …); null without one.
    pub cache: Option<String>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// Hex SHA-256 of the canonical request.
    pub req: String,
    /// Hex SHA-256 of the response body, byte for byte.
    pub res: String,
}

/// Where a registry answer came from: the call that fetched it. A cached answer keeps the one of
/// the call that filled the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The message id the gateway gave the call (`MaYeuCau`), when the registry takes one.
    pub message_id: Option<String>,
    /// When the registry answered, Unix ms.
    pub at_ms: i64,
}

impl Source {
    /// An answer received now, to the call with `message_id`.
    pub fn now(message_id: Option<String>) -> Source {
        Source {
            message_id,
            at_ms: now_ms(),
        }
    }
}

/// A registry answer with its [`Source`], as caches keep it. In JSON (the shared Redis tier) the
/// answer's own members stay at the top and the source is one more member, so entries written
/// before sources were kept, or read by a release that does not know them, still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sourced<V> {
    /// The answer.
    #[serde(flatten)]
    pub value: V,
    /// Where it came from; `None` for an entry written without it.
    #[serde(
        default,
        rename = "lienthong_source",
        skip_serializing_if = "Option::is_none"
    )]
    pub source: Option<Source>,
}

impl<V> Sourced<V> {
    /// `value`, just received from the call with `message_id`.
    pub fn now(value: V, message_id: Option<String>) -> Sourced<V> {
        Sourced {
            value,
            source: Some(Source::now(message_id)),
        }
    }
}

/// A registry call's result, either side marked as received now from the call with
/// `message_id`.
pub fn sourced<V, E>(
    result: Result<V, E>,
    message_id: Option<String>,
) -> Result<Sourced<V>, Sourced<E>> {
    match result {
        Ok(value) => Ok(Sourced::now(value, message_id)),
        Err(error) => Err(Sourced::now(error, message_id)),
    }
}

/// The id a registry call carries (`MaYeuCau`): the request id when it fits the registries'
/// 1 to 64 characters (a request id may have up to 128), else a fresh UUID, so that the gateway
/// always knows, and can sign, the id it sent.
pub fn message_id(request_id: &str) -> String {
    if (1..=64).contains(&request_id.chars().count()) {
        request_id.to_owned()
    } else {
        uuid::Uuid::now_v7().simple().to_string()
    }
}

/// The canonical form of a request, which `req` hashes: the method, a space, the path, a line
/// feed, then the JSON body as the gateway accepted it in RFC 8785 form (object members sorted by
/// name, no whitespace, strings escaped minimally; members whose value is null left out), or
/// nothing for a request without a body. E.g.
/// `POST /v1/citizens/verify\n{"citizen_id":"…","date_of_birth":"…","full_name":"…"}`.
///
/// The registry endpoints take only strings, so RFC 8785's number rules never apply.
pub fn canonical_request(method: &str, path: &str, body: Option<&serde_json::Value>) -> String {
    let mut out = format!("{method} {path}\n");
    if let Some(body) = body {
        write_canonical(&mut out, body);
    }
    out
}

/// Hex SHA-256 of [`canonical_request`].
pub fn request_hash(method: &str, path: &str, body: Option<&serde_json::Value>) -> String {
    hex::encode(Sha256::digest(
        canonical_request(method, path, body).as_bytes(),
    ))
}

fn write_canonical(out: &mut String, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(members) => {
            let mut names: Vec<&String> = members
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            // RFC 8785 §3.2.3: by UTF-16 code units.
            names.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, name) in names.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, &Value::String(name.clone()));
                out.push(':');
                write_canonical(out, &members[name]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        // serde_json escapes strings as RFC 8785 does (`\"`, `\\`, `\b\f\n\r\t`, other controls
        // as lowercase `\u00xx`, nothing else).
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// What the gateway knows of one registry answer, besides its body.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// The calling client.
    pub client: &'a str,
    /// The service name.
    pub service: &'a str,
    /// The operation.
    pub operation: &'a str,
    /// `X-Dossier-Id`, when given.
    pub dossier: Option<&'a str>,
    /// The official's keyed hash, when `X-User-Id` was given.
    pub official: Option<String>,
    /// The registry (its kind's name).
    pub upstream: &'a str,
    /// Where the answer came from.
    pub source: Option<&'a Source>,
    /// How the cache served it (`CacheOutcome::as_str`), when there is a cache.
    pub cache: Option<&'static str>,
    /// [`request_hash`] of the request.
    pub request_hash: &'a str,
}

/// A stored evidence record: the JWS with what an operator looks it up by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceRecord {
    /// The request id (the JWS's `jti`).
    pub request_id: String,
    /// When it was signed, Unix ms.
    pub at_ms: i64,
    /// The calling client.
    pub client_id: String,
    /// The service name.
    pub service: String,
    /// The operation.
    pub operation: String,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The signing key's id.
    pub kid: String,
    /// `req`: hex SHA-256 of the canonical request.
    pub req_sha256: String,
    /// `res`: hex SHA-256 of the response body.
    pub res_sha256: String,
    /// The compact JWS, as sent in `Lienthong-Evidence`.
    pub evidence: String,
}

/// Signing failed. Callers answer `internal`: without its evidence the answer does not leave.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The response body could not be read back to hash it.
    #[error("the response body could not be read: {0}")]
    Body(String),
    /// The signature could not be made.
    #[error("the evidence could not be signed")]
    Sign,
    /// The claims could not be serialised.
    #[error("the evidence claims could not be serialised: {0}")]
    Claims(#[from] serde_json::Error),
}

/// The gateway as a signer of evidence: its name and its keys. Built from `[evidence]`; a reload
/// builds a new one.
#[derive(Debug)]
pub struct Issuer {
    name: String,
    keys: KeySet,
}

impl Issuer {
    /// Reads the keys `config` names. Without a signing key, signs with the Ed25519 key of
    /// `seed` (made at start: the caller keeps the seed for the process's life, so a reload keeps
    /// the key). Errors name the key and the reason, never key material.
    pub fn build(config: &EvidenceConfig, seed: &[u8; 32]) -> Result<Issuer, ConfigError> {
        let signing = match &config.signing_key {
            Some(secret) => {
                let key = "evidence.signing_key";
                let bytes = secret.resolve().map_err(|e| ConfigError::invalid(key, e))?;
                SigningKey::read(&bytes).map_err(|e| ConfigError::invalid(key, e))?
            }
            None => SigningKey::from_seed(seed),
        };
        let mut previous = Vec::with_capacity(config.previous_keys.len());
        for (i, secret) in config.previous_keys.iter().enumerate() {
            let key = format!("evidence.previous_keys[{i}]");
            let bytes = secret
                .resolve()
                .map_err(|e| ConfigError::invalid(&key, e))?;
            previous.push(PublicKey::read(&bytes).map_err(|e| ConfigError::invalid(&key, e))?);
        }
        Ok(Issuer {
            name: config.issuer.clone(),
            keys: KeySet::new(signing, previous),
        })
    }

    /// `iss`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Signs the evidence of an answer with status `status` and body `body`; returns the JWS and
    /// the record to keep.
    pub fn sign(
        &self,
        facts: &Facts<'_>,
        status: u16,
        body: &[u8],
    ) -> Result<EvidenceRecord, EvidenceError> {
        let at_ms = now_ms();
        let res = hex::encode(Sha256::digest(body));
        let claims = Claims {
            iss: self.name.clone(),
            iat: at_ms.div_euclid(1000),
            jti: facts.request_id.to_owned(),
            client: facts.client.to_owned(),
            service: facts.service.to_owned(),
            operation: facts.operation.to_owned(),
            dossier: facts.dossier.map(str::to_owned),
            official: facts.official.clone(),
            upstream: facts.upstream.to_owned(),
            upstream_msg_id: facts.source.and_then(|s| s.message_id.clone()),
            upstream_at: facts.source.map(|s| s.at_ms.div_euclid(1000)),
            cache: facts.cache.map(str::to_owned),
            status,
            req: facts.request_hash.to_owned(),
            res,
        };
        let payload = serde_json::to_vec(&claims)?;
        let signing = self.keys.signing();
        let evidence = signing
            .sign_compact(&payload)
            .map_err(|_| EvidenceError::Sign)?;
        Ok(EvidenceRecord {
            request_id: claims.jti,
            at_ms,
            client_id: claims.client,
            service: claims.service,
            operation: claims.operation,
            status,
            kid: signing.public().kid.clone(),
            req_sha256: claims.req,
            res_sha256: claims.res,
            evidence,
        })
    }

    /// Signs a finished answer: reads its body back (in memory: the handlers' bodies are whole),
    /// signs it and adds `Lienthong-Evidence`. Returns the answer and the record to keep.
    pub async fn seal(
        &self,
        facts: &Facts<'_>,
        resp: Response,
    ) -> Result<(Response, EvidenceRecord), EvidenceError> {
        let (mut parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| EvidenceError::Body(e.to_string()))?;
        let record = self.sign(facts, parts.status.as_u16(), &bytes)?;
        let value = HeaderValue::from_str(&record.evidence).map_err(|_| EvidenceError::Sign)?;
        parts.headers.insert(HEADER, value);
        Ok((Response::from_parts(parts, Body::from(bytes)), record))
    }
}

impl Issuer {
    /// The answer to send for a registry call's `outcome`, sealed when it carries what the
    /// registry said ([`is_provable`]): a 2xx, or the registry's 404, which is rendered here (as
    /// the edge would, in `lang`) so that its exact bytes are signed. Other errors go on to the
    /// edge unsigned. Returns the answer and the record to keep, if any.
    pub async fn seal_outcome(
        &self,
        facts: &Facts<'_>,
        outcome: Result<Response, ApiError>,
        lang: Lang,
    ) -> Result<(Response, Option<EvidenceRecord>), EvidenceError> {
        let resp = match outcome {
            Ok(resp) => resp,
            Err(e) if e.code == ErrorCode::NotFound => e.render_final(facts.request_id, lang),
            Err(e) => return Ok((e.into_response(), None)),
        };
        if !is_provable(resp.status()) {
            return Ok((resp, None));
        }
        let (resp, record) = self.seal(facts, resp).await?;
        Ok((resp, Some(record)))
    }
}

/// Milliseconds since the Unix epoch (the store keeps records by it; this module does not know
/// the store).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether an answer with this status carries evidence: a 2xx, or the 404 of a record the
/// registry does not have.
pub fn is_provable(status: http::StatusCode) -> bool {
    status.is_success() || status == http::StatusCode::NOT_FOUND
}

/// The payload of a compact JWS, decoded but not verified (for showing a stored record).
pub fn unverified_claims(jws: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let payload = jws.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn issuer() -> Issuer {
        Issuer::build(&EvidenceConfig::default(), &[7; 32]).unwrap()
    }

    fn facts<'a>(source: &'a Source, request_hash: &'a str) -> Facts<'a> {
        Facts {
            request_id: "req-1",
            client: "portal",
            service: "population",
            operation: "verify",
            dossier: Some("HS-1"),
            official: Some("ab".repeat(32)),
            upstream: "population",
            source: Some(source),
            cache: Some("hit"),
            request_hash,
        }
    }

    #[test]
    fn the_canonical_request_sorts_members_and_leaves_out_nulls() {
        let body = json!({
            "full_name": "Nguyễn Văn An\n\"x\"",
            "citizen_id": "046090001234",
            "sha256": null,
            "b": { "z": 1, "a": [true, null] },
        });
        assert_eq!(
            canonical_request("POST", "/v1/citizens/verify", Some(&body)),
            "POST /v1/citizens/verify\n{\"b\":{\"a\":[true,null],\"z\":1},\"citizen_id\":\"046090001234\",\"full_name\":\"Nguyễn Văn An\\n\\\"x\\\"\"}"
        );
        assert_eq!(
            canonical_request("GET", "/v1/enterprises/0100233488", None),
            "GET /v1/enterprises/0100233488\n"
        );
        // RFC 8785 §3.2.3: UTF-16 order puts U+10000 (a surrogate pair, 0xD800…) before U+FFFD.
        let body = json!({ "\u{fffd}": "a", "\u{10000}": "b", "\u{1}": "c" });
        assert_eq!(
            canonical_request("POST", "/p", Some(&body)),
            "POST /p\n{\"\\u0001\":\"c\",\"\u{10000}\":\"b\",\"\u{fffd}\":\"a\"}"
        );
        assert_eq!(
            request_hash("GET", "/x", None),
            hex::encode(Sha256::digest(b"GET /x\n"))
        );
    }

    #[test]
    fn message_ids_fit_the_registries() {
        assert_eq!(message_id("0190abcd-1"), "0190abcd-1");
        let long = "a".repeat(65);
        let id = message_id(&long);
        assert_ne!(id, long);
        assert_eq!(id.len(), 32);
    }

    #[test]
    fn a_sourced_answer_reads_entries_written_without_a_source_and_the_other_way_round() {
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        struct Record {
            code: String,
            #[serde(rename = "type")]
            kind: u32,
        }
        let record = Record {
            code: "0100233488".into(),
            kind: 2,
        };
        let old = serde_json::to_string(&record).unwrap();
        let read: Sourced<std::sync::Arc<Record>> = serde_json::from_str(&old).unwrap();
        assert_eq!((*read.value).clone(), record);
        assert_eq!(read.source, None);

        let new = Sourced::now(std::sync::Arc::new(record.clone()), Some("m-1".into()));
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
        let back: Sourced<std::sync::Arc<Record>> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, new);
    }

    #[test]
    fn signed_claims_carry_the_facts_and_the_hashes_and_no_more() {
        let source = Source {
            message_id: Some("req-0".into()),
            at_ms: 1_767_225_600_999,
        };
        let issuer = issuer();
        let record = issuer
            .sign(
                &facts(&source, "cd".repeat(32).as_str()),
                200,
                b"{\"match\":true}",
            )
            .unwrap();
        let claims = unverified_claims(&record.evidence).unwrap();
        let names: Vec<&str> = claims
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "iss",
            "iat",
            "jti",
            "client",
            "service",
            "operation",
            "dossier",
            "official",
            "upstream",
            "upstream_msg_id",
            "upstream_at",
            "cache",
            "status",
            "req",
            "res",
        ];
        let mut names = names;
        names.sort_unstable();
        expected.sort_unstable();
        assert_eq!(names, expected);
        assert_eq!(claims["iss"], "lienthong");
        assert_eq!(claims["jti"], "req-1");
        assert_eq!(claims["upstream_msg_id"], "req-0");
        assert_eq!(claims["upstream_at"], 1_767_225_600);
        assert_eq!(
            claims["res"],
            hex::encode(Sha256::digest(b"{\"match\":true}"))
        );
        assert_eq!(record.res_sha256, claims["res"]);
        assert_eq!(record.kid, issuer.keys().signing().public().kid);
        let header = record.evidence.split('.').next().unwrap();
        let header: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            header,
            json!({ "alg": "EdDSA", "kid": record.kid, "typ": TYP })
        );
    }

    /// The cost of sealing one answer (claims, SHA-256 of a 2 KiB body, signature, base64), per
    /// algorithm. Hand-run, best in release:
    /// `cargo test --release --lib evidence::tests::sealing_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn sealing_cost() {
        const N: u32 = 2_000;
        let source = Source::now(Some("0190abcd".into()));
        let hash = "cd".repeat(32);
        let body = vec![b'x'; 2048];
        for (name, pem) in [
            ("EdDSA", keys::tests::ED25519_PEM),
            ("ES256", keys::tests::P256_PEM),
        ] {
            let issuer = Issuer {
                name: "lienthong".into(),
                keys: KeySet::new(SigningKey::read(pem.as_bytes()).unwrap(), Vec::new()),
            };
            let facts = facts(&source, &hash);
            let started = std::time::Instant::now();
            for _ in 0..N {
                std::hint::black_box(issuer.sign(&facts, 200, &body).unwrap());
            }
            let each = started.elapsed() / N;
            println!("{name}: {each:?} per sealed answer ({N} answers)");
        }
    }

    #[test]
    fn the_key_made_at_start_is_the_same_for_the_same_seed() {
        let a = issuer();
        let b = issuer();
        assert_eq!(a.keys().jwks(), b.keys().jwks());
        let c = Issuer::build(&EvidenceConfig::default(), &[8; 32]).unwrap();
        assert_ne!(a.keys().jwks(), c.keys().jwks());
    }

    #[test]
    fn key_files_are_checked_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let reference: SecretRef =
            serde_json::from_value(json!(format!("file:{}", bad.display()))).unwrap();
        let config = EvidenceConfig {
            signing_key: Some(reference.clone()),
            ..EvidenceConfig::default()
        };
        let e = Issuer::build(&config, &[0; 32]).unwrap_err().to_string();
        assert!(e.contains("`evidence.signing_key`"), "{e}");
        let config = EvidenceConfig {
            previous_keys: vec![reference],
            ..EvidenceConfig::default()
        };
        let e = Issuer::build(&config, &[0; 32]).unwrap_err().to_string();
        assert!(e.contains("`evidence.previous_keys[0]`"), "{e}");
    }

    use crate::config::SecretRef;
}
