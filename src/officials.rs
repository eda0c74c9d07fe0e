//! The official behind a personal-data call, proven rather than claimed. By default `X-User-Id`
//! names the official and the calling system vouches for it. With `[officials]`, the portal's
//! sign-in vouches instead: every personal-data call carries `X-Official-Assertion`, a short-lived
//! JWT the portal's identity provider signed (RS256/384/512, PS256/384/512, ES256/384 or EdDSA,
//! with a key of its JWKS), whose `sub` is the official's ID number; `X-User-Id` must be that
//! number. A calling system that is compromised can then no longer act in any official's name.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use crate::config::{ConfigError, check_http_url};

/// The request header carrying the assertion.
pub const ASSERTION_HEADER: &str = "x-official-assertion";

/// `[officials]`: who signs the officials' assertions, and with which keys.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficialsConfig {
    /// The assertions' `iss`: the portal's identity provider.
    pub issuer: String,
    /// Its public keys, a JWKS (RFC 7517): `file:PATH`, or an `https://` URL fetched at start,
    /// at every reload and every `refresh_s`.
    pub jwks: String,
    /// The `aud` an assertion must name (default: `auth.issuer`, the gateway's name).
    pub audience: Option<String>,
    /// The longest lifetime accepted (`exp` − `iat`), in seconds (default 300).
    #[serde(default = "default_max_age_s")]
    pub max_age_s: u64,
    /// How often a JWKS URL is fetched again, in seconds (default 300).
    #[serde(default = "default_refresh_s")]
    pub refresh_s: u64,
}

fn default_max_age_s() -> u64 {
    300
}
fn default_refresh_s() -> u64 {
    300
}

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq)]
enum KeySource {
    File(PathBuf),
    Url(String),
}

impl OfficialsConfig {
    fn source(&self) -> Result<KeySource, ConfigError> {
        if let Some(path) = self.jwks.strip_prefix("file:").filter(|p| !p.is_empty()) {
            return Ok(KeySource::File(PathBuf::from(path)));
        }
        check_http_url("officials.jwks", &self.jwks)?;
        Ok(KeySource::Url(self.jwks.clone()))
    }

    /// Checks the table.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.issuer.trim().is_empty() {
            return Err(ConfigError::invalid(
                "officials.issuer",
                "must not be empty",
            ));
        }
        self.source()?;
        if !(1..=3600).contains(&self.max_age_s) {
            return Err(ConfigError::invalid(
                "officials.max_age_s",
                "must be 1 to 3600: an assertion is short-lived",
            ));
        }
        if self.refresh_s == 0 {
            return Err(ConfigError::invalid(
                "officials.refresh_s",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Why an assertion is refused (said to the caller: nothing in it is secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// No `X-Official-Assertion` header.
    #[error("required: a signed assertion of the official from the portal's sign-in")]
    Missing,
    /// Not a JWT, or signed with an algorithm this gateway does not take.
    #[error("not a JWT signed with an asymmetric algorithm")]
    Malformed,
    /// Its `kid` names no key of the issuer.
    #[error("signed with a key the issuer does not publish")]
    UnknownKey,
    /// The signature, `iss`, `aud`, `exp`, `nbf` or `iat` do not hold.
    #[error("does not verify: {0}")]
    Invalid(String),
    /// It lives longer than `max_age_s`.
    #[error("lives longer than the {0} s allowed")]
    TooLong(u64),
    /// Its `sub` is not an ID number, or not `X-User-Id`.
    #[error("its subject is not the official named in X-User-Id")]
    OtherOfficial,
    /// The issuer's keys could not be fetched yet.
    #[error("the issuer's keys are not available")]
    KeysUnavailable,
}

impl AssertionError {
    /// The explanation in Vietnamese, for the caller's problem (the `Display` text is English).
    pub fn vietnamese(&self) -> String {
        match self {
            Self::Missing => {
                "bắt buộc: xác nhận có chữ ký của cán bộ từ lần đăng nhập cổng dịch vụ công".into()
            }
            Self::Malformed => "không phải là JWT ký bằng thuật toán bất đối xứng".into(),
            Self::UnknownKey => "được ký bằng khóa mà bên phát hành không công bố".into(),
            Self::Invalid(_) => {
                "không xác minh được: chữ ký hoặc một trong iss, aud, exp, nbf, iat không hợp lệ"
                    .into()
            }
            Self::TooLong(max) => format!("có thời hạn dài hơn {max} giây cho phép"),
            Self::OtherOfficial => "chủ thể không phải là cán bộ ghi trong X-User-Id".into(),
            Self::KeysUnavailable => "chưa lấy được khóa của bên phát hành".into(),
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    iat: u64,
}

/// Algorithms an identity provider signs with: asymmetric only (a shared secret would let the
/// gateway, or anyone holding it, sign for the provider).
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Verifies officials' assertions against the issuer's live keys.
pub struct OfficialVerifier {
    issuer: String,
    audience: String,
    max_age: u64,
    source: KeySource,
    refresh: Duration,
    keys: ArcSwap<JwkSet>,
    http: reqwest::Client,
}

impl OfficialVerifier {
    /// The verifier of `config`; the gateway's own name (`auth.issuer`) is the default audience.
    /// A key file is read now; a URL is fetched by [`Self::refresh`].
    pub fn build(config: &OfficialsConfig, gateway: &str) -> Result<Self, ConfigError> {
        config.validate()?;
        let source = config.source()?;
        let keys = match &source {
            KeySource::File(path) => {
                let text = std::fs::read(path).map_err(|e| {
                    ConfigError::invalid(
                        "officials.jwks",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                parse_jwks(&text).map_err(|e| ConfigError::invalid("officials.jwks", e))?
            }
            KeySource::Url(_) => JwkSet { keys: Vec::new() },
        };
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(
                crate::tls::public_client_config()
                    .map_err(|e| ConfigError::invalid("officials.jwks", e))?,
            )
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::invalid("officials.jwks", e.to_string()))?;
        Ok(Self {
            issuer: config.issuer.clone(),
            audience: config
                .audience
                .clone()
                .unwrap_or_else(|| gateway.to_owned()),
            max_age: config.max_age_s,
            source,
            refresh: Duration::from_secs(config.refresh_s),
            keys: ArcSwap::from_pointee(keys),
            http,
        })
    }

    /// How often [`Self::refresh`] should run (only a URL changes).
    pub fn refresh_interval(&self) -> Option<Duration> {
        matches!(self.source, KeySource::Url(_)).then_some(self.refresh)
    }

    /// Fetches the keys again from a URL (a file's were read at build). On failure the keys in
    /// hand stay.
    pub async fn refresh(&self) -> Result<(), String> {
        let KeySource::Url(url) = &self.source else {
            return Ok(());
        };
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("fetching the officials' keys: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!(
                "fetching the officials' keys: HTTP {}",
                resp.status()
            ));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("fetching the officials' keys: {e}"))?;
        let keys = parse_jwks(&body)?;
        self.keys.store(Arc::new(keys));
        Ok(())
    }

    /// The official's ID number an assertion proves.
    pub fn verify(&self, assertion: &str) -> Result<String, AssertionError> {
        let header = decode_header(assertion).map_err(|_| AssertionError::Malformed)?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(AssertionError::Malformed);
        }
        let keys = self.keys.load();
        if keys.keys.is_empty() {
            return Err(AssertionError::KeysUnavailable);
        }
        let jwk = match &header.kid {
            Some(kid) => keys.find(kid),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        }
        .ok_or(AssertionError::UnknownKey)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| AssertionError::UnknownKey)?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        let claims = decode::<Claims>(assertion, &key, &validation)
            .map_err(|e| AssertionError::Invalid(e.to_string()))?
            .claims;
        if claims.exp.saturating_sub(claims.iat) > self.max_age {
            return Err(AssertionError::TooLong(self.max_age));
        }
        Ok(claims.sub)
    }
}

fn parse_jwks(bytes: &[u8]) -> Result<JwkSet, String> {
    let keys: JwkSet =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS (RFC 7517): {e}"))?;
    if keys.keys.is_empty() {
        return Err("the JWKS holds no key".into());
    }
    Ok(keys)
}
