//! Caller identity: who is calling, proved by an access token, an API key or a client certificate;
//! what each configured client may call; and which clients are suspended.
//!
//! The edge's guard ([`crate::edge::guard`]) identifies the caller of every `/v1` route with
//! [`identify`]; the token endpoint issues the access tokens.

pub mod jwt;
pub mod token_endpoint;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::Request;
use http::header;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{
    AuthConfig, ClientConfig, ConfigError, MIN_OWN_KEY_BYTES, MIN_PARTNER_KEY_BYTES, RedisConfig,
    Role, SecretRef, parse_sha256_hex,
};
use crate::ratelimit::{ClientLimiter, SharedSettings};
use crate::server::{ConnInfo, PeerCertificate};
use crate::telemetry::metrics::Metrics;
use jwt::TokenService;

/// The scope token that gives an admin client's access token the admin operations; a token asked
/// with a scope that lacks it cannot use them. Not a service name (`:` is not allowed in one).
pub const ADMIN_SCOPE: &str = "lienthong:admin";

/// The operations of one service a client may call.
#[derive(Debug, Clone, Default)]
pub struct AllowedOps {
    /// `*`: every operation, except those a service grants only by name (refunds).
    pub all: bool,
    /// The operations named in the client's rules.
    pub named: HashSet<String>,
}

/// A configured client, ready for per-request checks.
pub struct ClientEntry {
    /// Client id.
    pub id: Arc<str>,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// SHA-256 of the OAuth2 client secret.
    pub secret_sha256: Option<[u8; 32]>,
    /// Allowed operations per service name.
    pub allow: HashMap<String, AllowedOps>,
    /// Rate limiter, when the client has a limit.
    pub limiter: Option<Arc<ClientLimiter>>,
    /// A bank's code and signature secret (`role = "bank"`).
    pub bank: Option<BankCaller>,
}

/// What identifies a partner bank beyond its credential.
pub struct BankCaller {
    /// The bank's code (`bank_code`).
    pub code: String,
    /// The key of its `Lienthong-Signature`.
    pub signature_secret: Vec<u8>,
}

impl ClientEntry {
    /// Whether this client may call `operation` of `service` (deny by default).
    pub fn may_call(&self, service: &str, operation: &str) -> bool {
        self.allow
            .get(service)
            .is_some_and(|ops| ops.all || ops.named.contains(operation))
    }

    /// Whether this client's rules name `operation` of `service` (a `*` does not count): the
    /// test of an operation a service grants only by name.
    pub fn names_operation(&self, service: &str, operation: &str) -> bool {
        self.allow
            .get(service)
            .is_some_and(|ops| ops.named.contains(operation))
    }

    /// The entry of a configured client. Its rate limiter is `previous`'s when the quota did not
    /// change, so a reload does not hand a client a fresh burst.
    fn build(
        c: &ClientConfig,
        redis: Option<&RedisConfig>,
        previous: Option<&ClientEntry>,
        bank: Option<BankCaller>,
    ) -> ClientEntry {
        let limiter = c.rate_limit.map(|rl| {
            // Client ids are configured names (letters, digits, `-_.`), never personal data.
            let shared = redis.map(|r| SharedSettings {
                key: format!("{}ratelimit:{}", r.key_prefix, c.id),
                replicas: r.replicas,
            });
            previous
                .and_then(|old| old.limiter.clone())
                .filter(|old| old.config() == rl && old.shared_settings() == shared.as_ref())
                .unwrap_or_else(|| Arc::new(ClientLimiter::new(rl, shared)))
        });
        let mut allow: HashMap<String, AllowedOps> = HashMap::new();
        for rule in &c.allow {
            let entry = allow.entry(rule.service.clone()).or_default();
            for op in &rule.operations {
                if op == "*" {
                    entry.all = true;
                } else {
                    entry.named.insert(op.clone());
                }
            }
        }
        ClientEntry {
            id: Arc::from(c.id.as_str()),
            name: c.name.clone(),
            role: c.role,
            secret_sha256: c.client_secret_sha256.as_deref().and_then(parse_sha256_hex),
            allow,
            limiter,
            bank,
        }
    }
}

/// Everything needed to recognise callers, built from one config: the clients, the credential
/// lookup tables and the token issuer. A reload builds a new one.
pub struct Callers {
    /// Clients by id.
    pub clients: HashMap<String, Arc<ClientEntry>>,
    /// Credential lookup tables.
    pub credentials: CredentialIndex,
    /// Access-token issuer and verifier.
    pub tokens: TokenService,
    /// Failed client authentications at the token endpoint, per client id and per source.
    /// Kept across reloads while `auth.token_failures` is unchanged.
    pub token_failures: Arc<token_endpoint::TokenFailures>,
}

impl Callers {
    /// Builds the callers of a config. `ephemeral_key` signs tokens (and nothing else) when the
    /// config names no signing key; `previous` keeps the rate-limiter state of unchanged quotas.
    pub fn build(
        auth: &AuthConfig,
        clients: &[ClientConfig],
        redis: Option<&RedisConfig>,
        previous: Option<&Callers>,
        ephemeral_key: &[u8],
    ) -> Result<Callers, ConfigError> {
        let resolve = |key: String, secret: &SecretRef| secret.resolve_key(&key, MIN_OWN_KEY_BYTES);
        let mut keys = vec![match &auth.token_signing_key {
            Some(k) => resolve("auth.token_signing_key".into(), k)?,
            None => ephemeral_key.to_vec(),
        }];
        for (i, k) in auth.previous_signing_keys.iter().enumerate() {
            keys.push(resolve(format!("auth.previous_signing_keys[{i}]"), k)?);
        }
        let tokens = TokenService::new(
            keys,
            &auth.issuer,
            Duration::from_secs(auth.token_lifetime_s),
        )
        .map_err(|e| ConfigError::invalid("auth.token_signing_key", e))?;
        let mut entries = HashMap::new();
        for (i, c) in clients.iter().enumerate() {
            let old = previous.and_then(|p| p.clients.get(&c.id)).map(Arc::as_ref);
            let bank = match (&c.bank_code, &c.signature_secret) {
                (Some(code), Some(secret)) => Some(BankCaller {
                    code: code.clone(),
                    signature_secret: secret.resolve_key(
                        &format!("clients[{i}].signature_secret"),
                        MIN_PARTNER_KEY_BYTES,
                    )?,
                }),
                _ => None,
            };
            entries.insert(
                c.id.clone(),
                Arc::new(ClientEntry::build(c, redis, old, bank)),
            );
        }
        Ok(Callers {
            clients: entries,
            credentials: CredentialIndex::build(clients),
            tokens,
            token_failures: previous
                .map(|p| p.token_failures.clone())
                .filter(|t| t.config() == auth.token_failures)
                .unwrap_or_else(|| {
                    Arc::new(token_endpoint::TokenFailures::new(auth.token_failures))
                }),
        })
    }
}

/// The suspended clients (regulation art. 23.3), as last read from the store: shared by every
/// request, replaced when an admin suspends or resumes a client here or on another replica.
#[derive(Default)]
pub struct Suspensions(ArcSwap<HashSet<String>>);

impl Suspensions {
    /// A set holding these client ids.
    pub fn new(ids: impl IntoIterator<Item = String>) -> Self {
        Self(ArcSwap::from_pointee(ids.into_iter().collect()))
    }

    /// Whether a client is suspended right now.
    pub fn contains(&self, client_id: &str) -> bool {
        self.0.load().contains(client_id)
    }

    /// Marks one client suspended or not (after the store changed).
    pub fn set(&self, client_id: &str, suspended: bool) {
        self.0.rcu(|cur| {
            let mut next = HashSet::clone(cur);
            if suspended {
                next.insert(client_id.to_owned());
            } else {
                next.remove(client_id);
            }
            next
        });
    }

    /// Replaces the whole set (read again from the store); returns whether it changed.
    pub fn replace(&self, ids: impl IntoIterator<Item = String>) -> bool {
        let fresh: HashSet<String> = ids.into_iter().collect();
        if **self.0.load() == fresh {
            return false;
        }
        self.0.store(Arc::new(fresh));
        true
    }
}

/// What the token endpoint and the edge's guard read to recognise callers: the live callers
/// (swapped on reload), the suspensions and the metrics of failures.
#[derive(Clone)]
pub struct AuthState {
    /// The callers of the config in force.
    pub callers: Arc<ArcSwap<Callers>>,
    /// Suspended clients.
    pub suspensions: Arc<Suspensions>,
    /// Metrics (authentication failures).
    pub metrics: Arc<Metrics>,
}

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
        self.client.may_call(service, operation) && self.in_scope(service)
    }

    /// Whether this caller may call an operation its service grants only by name: an admin
    /// client, or one whose rules name it (within the token's scope, if any).
    pub fn may_call_by_name(&self, service: &str, operation: &str) -> bool {
        (self.client.role == Role::Admin || self.client.names_operation(service, operation))
            && self.in_scope(service)
    }

    /// Whether the token's scope, if it has one, includes `service`.
    fn in_scope(&self, service: &str) -> bool {
        self.scope
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
    pub fn build(clients: &[ClientConfig]) -> Self {
        let mut idx = CredentialIndex::default();
        for c in clients {
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
pub fn identify(callers: &Callers, req: &Request) -> Result<Identity, AuthFailure> {
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
            let claims = callers.tokens.verify(credential).map_err(|e| match e {
                jwt::TokenError::Expired => AuthFailure::ExpiredToken,
                jwt::TokenError::Invalid => AuthFailure::InvalidToken,
            })?;
            let scope = claims
                .scope
                .map(|s| s.split(' ').map(str::to_owned).collect::<Arc<[String]>>());
            (claims.sub, AuthMethod::Token, scope)
        } else {
            let id = callers
                .credentials
                .client_for_api_key(credential)
                .ok_or(AuthFailure::UnknownKey)?;
            (id.to_owned(), AuthMethod::ApiKey, None)
        };
        let client = callers
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
        let id = callers
            .credentials
            .client_for_certificate(cert)
            .ok_or(AuthFailure::UnknownCertificate)?;
        let client = callers.clients.get(id).ok_or(AuthFailure::UnknownClient)?;
        return Ok(Identity {
            client: client.clone(),
            method: AuthMethod::Certificate,
            scope: None,
        });
    }
    Err(AuthFailure::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(allow: &str) -> ClientEntry {
        let c: ClientConfig = toml::from_str(&format!("id = \"c\"\nallow = {allow}")).unwrap();
        ClientEntry::build(&c, None, None, None)
    }

    #[test]
    fn a_star_grants_every_operation_but_names_none() {
        let star = client(r#"[{ service = "payments", operations = ["*"] }]"#);
        assert!(star.may_call("payments", "create") && star.may_call("payments", "refund"));
        assert!(
            !star.names_operation("payments", "refund"),
            "paying is not refunding"
        );
        let named = client(
            r#"[{ service = "payments", operations = ["*"] }, { service = "payments", operations = ["refund"] }]"#,
        );
        assert!(named.names_operation("payments", "refund"));
        assert!(!named.names_operation("shipments", "refund"));
        let narrow = client(r#"[{ service = "payments", operations = ["read"] }]"#);
        assert!(narrow.may_call("payments", "read") && !narrow.may_call("payments", "create"));
    }
}
