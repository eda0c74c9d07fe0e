//! Caller identity: who is calling, proved by an access token, an API key or a client certificate.
//!
//! Every route under `/v1` runs [`require_client`], which identifies the caller, stops suspended
//! clients, applies the client's rate limit and leaves an [`Identity`] in the request extensions.

pub mod cert;
pub mod jwt;
pub mod token_endpoint;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::cluster::Cluster;
use crate::config::{Config, RateLimitFail, parse_sha256_hex};
use crate::error::{ApiError, ErrorCode};
use crate::gateway::{ClientEntry, Gateway, Runtime};
use crate::ratelimit::RateVerdict;
use crate::server::ConnInfo;
use crate::telemetry::LoggedClient;
use cert::PeerCertificate;

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// OAuth2 access token.
    Token,
    /// API key.
    ApiKey,
    /// Client certificate.
    Certificate,
}

/// The authenticated caller of a request.
#[derive(Clone)]
pub struct Identity {
    /// The client's configuration and limiter.
    pub client: Arc<ClientEntry>,
    /// How it authenticated.
    pub method: AuthMethod,
    /// The services an access token was limited to when it was issued (its `scope`); `None`
    /// when the credential carries all of the client's rights.
    pub scope: Option<Arc<[String]>>,
}

impl Identity {
    /// Whether this caller may call `operation` of `service`: the client's rights, narrowed to
    /// the token's scope when it has one.
    pub fn may_call(&self, service: &str, operation: &str) -> bool {
        self.client.may_call(service, operation)
            && self
                .scope
                .as_ref()
                .is_none_or(|scope| scope.iter().any(|s| s == service))
    }
}

/// Lookup tables from credentials to client ids, built once per config.
#[derive(Default)]
pub struct CredentialIndex {
    api_keys: HashMap<[u8; 32], String>,
    cert_fingerprints: HashMap<[u8; 32], String>,
    cert_subjects: Vec<(String, String)>,
    cert_sans: Vec<(String, String)>,
}

impl CredentialIndex {
    /// Indexes every client's credentials.
    pub fn build(config: &Config) -> Self {
        let mut idx = CredentialIndex::default();
        for c in &config.clients {
            for h in &c.api_keys_sha256 {
                if let Some(hash) = parse_sha256_hex(h) {
                    idx.api_keys.insert(hash, c.id.clone());
                }
            }
            for m in &c.certificates {
                if let Some(hash) = m.sha256.as_deref().and_then(parse_sha256_hex) {
                    idx.cert_fingerprints.insert(hash, c.id.clone());
                }
                if let Some(s) = &m.subject {
                    idx.cert_subjects.push((s.clone(), c.id.clone()));
                }
                if let Some(s) = &m.san {
                    idx.cert_sans.push((s.clone(), c.id.clone()));
                }
            }
        }
        idx
    }

    /// The client owning this API key. The key is hashed first, so the table lookup only ever
    /// compares hashes (which leak nothing about keys); the final comparison is constant-time.
    pub fn client_for_api_key(&self, key: &str) -> Option<&str> {
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let (stored, id) = self.api_keys.get_key_value(&hash)?;
        bool::from(stored.ct_eq(&hash)).then_some(id.as_str())
    }

    /// The client identified by a verified certificate: fingerprint first, then SAN, then subject.
    pub fn client_for_certificate(&self, cert: &PeerCertificate) -> Option<&str> {
        if let Some(id) = self.cert_fingerprints.get(&cert.sha256) {
            return Some(id);
        }
        if let Some((_, id)) = self.cert_sans.iter().find(|(san, _)| cert.has_san(san)) {
            return Some(id);
        }
        self.cert_subjects
            .iter()
            .find(|(s, _)| cert.subject_matches(s))
            .map(|(_, id)| id.as_str())
    }
}

/// Why authentication failed, for the `auth_failures_total` metric.
#[derive(Debug, Clone, Copy)]
pub enum AuthFailure {
    /// No credential at all.
    Missing,
    /// An `Authorization` header that is not `Bearer <credential>`, or more than one.
    Malformed,
    /// An `Authorization` header of another scheme (`Basic`, say).
    OtherScheme,
    /// An unknown API key.
    UnknownKey,
    /// A token that fails verification.
    InvalidToken,
    /// A token past its expiry.
    ExpiredToken,
    /// A token or certificate for a client no longer configured.
    UnknownClient,
    /// A verified certificate that maps to no client.
    UnknownCertificate,
}

impl AuthFailure {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::OtherScheme => "other_scheme",
            Self::UnknownKey => "unknown_api_key",
            Self::InvalidToken => "invalid_token",
            Self::ExpiredToken => "expired_token",
            Self::UnknownClient => "unknown_client",
            Self::UnknownCertificate => "unknown_certificate",
        }
    }
}

/// Identifies the caller of a request from its headers and connection.
pub fn identify(runtime: &Runtime, req: &Request) -> Result<Identity, AuthFailure> {
    let mut authorizations = req.headers().get_all(header::AUTHORIZATION).iter();
    if let Some(value) = authorizations.next() {
        // A singleton field (RFC 9110 §5.3): with two, each hop of a chain could pick another.
        if authorizations.next().is_some() {
            return Err(AuthFailure::Malformed);
        }
        let value = value.to_str().map_err(|_| AuthFailure::Malformed)?;
        let (scheme, credential) = value.split_once(' ').ok_or(AuthFailure::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthFailure::OtherScheme);
        }
        let credential = credential.trim();
        if credential.is_empty() {
            return Err(AuthFailure::Malformed);
        }
        let (client_id, method, scope) = if jwt::looks_like_jwt(credential) {
            let claims = runtime.tokens.verify(credential).map_err(|e| match e {
                jwt::TokenError::Expired => AuthFailure::ExpiredToken,
                jwt::TokenError::Invalid => AuthFailure::InvalidToken,
            })?;
            let scope = claims
                .scope
                .map(|s| s.split(' ').map(str::to_owned).collect::<Arc<[String]>>());
            (claims.sub, AuthMethod::Token, scope)
        } else {
            let id = runtime
                .credentials
                .client_for_api_key(credential)
                .ok_or(AuthFailure::UnknownKey)?;
            (id.to_owned(), AuthMethod::ApiKey, None)
        };
        let client = runtime
            .clients
            .get(&client_id)
            .ok_or(AuthFailure::UnknownClient)?;
        return Ok(Identity {
            client: client.clone(),
            method,
            scope,
        });
    }
    let conn = req.extensions().get::<ConnInfo>();
    if let Some(cert) = conn.and_then(|c| c.client_cert.as_deref()) {
        let id = runtime
            .credentials
            .client_for_certificate(cert)
            .ok_or(AuthFailure::UnknownCertificate)?;
        let client = runtime.clients.get(id).ok_or(AuthFailure::UnknownClient)?;
        return Ok(Identity {
            client: client.clone(),
            method: AuthMethod::Certificate,
            scope: None,
        });
    }
    Err(AuthFailure::Missing)
}

/// Middleware for authenticated routes: identity, suspension, rate limit.
pub async fn require_client(
    State(gw): State<Arc<Gateway>>,
    mut req: Request,
    next: Next,
) -> Response {
    let runtime = gw.runtime();
    let identity = match identify(&runtime, &req) {
        Ok(id) => id,
        Err(failure) => {
            gw.metrics.auth_failure(failure.as_str());
            // RFC 6750 §3.1: no error code for a caller that sent no bearer credential at all.
            let invalid_token = !matches!(
                failure,
                AuthFailure::Missing | AuthFailure::OtherScheme | AuthFailure::UnknownCertificate
            );
            return ApiError::unauthenticated(invalid_token).into_response();
        }
    };
    let client = identity.client.clone();
    let logged = LoggedClient(client.id.clone());
    if gw.is_suspended(&client.id) {
        let mut resp = ApiError::new(ErrorCode::ClientSuspended).into_response();
        resp.extensions_mut().insert(logged);
        return resp;
    }
    let decision = match &client.limiter {
        Some(limiter) => {
            let path = req.uri().path();
            let verdict = limiter
                .check(gw.cluster.as_deref(), || {
                    fail_mode(&runtime, path, gw.cluster.as_deref())
                })
                .await;
            match verdict {
                RateVerdict::Decided(d) if !d.allowed => {
                    gw.metrics.rate_limited(&client.id);
                    let mut err = ApiError::new(ErrorCode::RateLimited).with_retry_after(d.reset_s);
                    limiter.write_headers(&d, &mut err.headers);
                    let mut resp = err.into_response();
                    resp.extensions_mut().insert(logged);
                    return resp;
                }
                RateVerdict::Decided(d) => Some((limiter.clone(), d)),
                RateVerdict::Unlimited => None,
                RateVerdict::Unavailable => {
                    let mut resp = ApiError::new(ErrorCode::RateLimitUnavailable)
                        .with_retry_after(1)
                        .into_response();
                    resp.extensions_mut().insert(logged);
                    return resp;
                }
            }
        }
        None => None,
    };
    req.extensions_mut().insert(identity);
    let mut resp = next.run(req).await;
    if let Some((limiter, d)) = &decision {
        limiter.write_headers(d, resp.headers_mut());
    }
    resp.extensions_mut().insert(logged);
    resp
}

/// What the client limit does for this request while Redis is unreachable: the `rate_limit_fail`
/// of the service the path leads to, else `redis.on_unavailable`.
fn fail_mode(runtime: &Runtime, path: &str, cluster: Option<&Cluster>) -> RateLimitFail {
    let default = cluster.map_or(RateLimitFail::Local, Cluster::on_unavailable);
    let service: Option<&str> = if let Some(rest) = path.strip_prefix("/v1/proxy/") {
        rest.split('/').next()
    } else if path.starts_with("/v1/citizens/") {
        runtime.population.as_ref().map(|s| &*s.name)
    } else if path.starts_with("/v1/enterprises/") {
        runtime.enterprise.as_ref().map(|s| &*s.name)
    } else if path.starts_with("/v1/notary/") {
        runtime.notary.as_ref().map(|s| &*s.name)
    } else {
        None
    };
    service
        .and_then(|name| runtime.config.services.get(name))
        .and_then(|s| s.rate_limit_fail)
        .unwrap_or(default)
}

/// Refuses callers without the admin role.
pub fn require_admin(identity: &Identity) -> Result<(), ApiError> {
    if identity.client.role == crate::config::Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden).with_detail(
            "Chỉ tài khoản quản trị mới được thực hiện thao tác này.",
            "Only admin clients may perform this operation.",
        ))
    }
}
