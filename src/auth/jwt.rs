//! Access tokens: short-lived HS256 JWTs issued by `POST /oauth/token` and verified locally on every
//! request. Only HS256 is accepted, whatever a token's header claims, so `alg=none` and algorithm
//! confusion are impossible.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a token was refused. Callers see one `unauthenticated` problem; the kind goes to metrics.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Past its `exp`.
    #[error("token expired")]
    Expired,
    /// Bad structure, unknown key, wrong algorithm, bad signature, wrong issuer or audience.
    #[error("token invalid")]
    Invalid,
}

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// The client id.
    pub sub: String,
    /// Audience (the issuer: tokens are for this gateway only).
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Not before, seconds since the epoch.
    pub nbf: u64,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Unique token id.
    pub jti: String,
    /// The services the token is limited to, space-separated (RFC 6749 §3.3); absent, the token
    /// carries all of the client's rights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// Issues and verifies access tokens with the current key; verifies with previous keys too.
pub struct TokenService {
    keys: Vec<SigningKey>,
    issuer: String,
    lifetime: Duration,
    validation: Validation,
}

/// The shortest signing key accepted, in bytes (RFC 7518 §3.2 asks for at least the hash size).
pub const MIN_KEY_BYTES: usize = 32;

impl TokenService {
    /// Builds the service. `keys[0]` signs; every key verifies.
    pub fn new(keys: Vec<Vec<u8>>, issuer: &str, lifetime: Duration) -> Result<Self, String> {
        if keys.is_empty() {
            return Err("no signing key".into());
        }
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if k.len() < MIN_KEY_BYTES {
                return Err(format!(
                    "a token signing key must be at least {MIN_KEY_BYTES} bytes"
                ));
            }
            let kid = hex::encode(&Sha256::digest(&k)[..8]);
            out.push(SigningKey {
                kid,
                encoding: EncodingKey::from_secret(&k),
                decoding: DecodingKey::from_secret(&k),
            });
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Ok(Self {
            keys: out,
            issuer: issuer.to_owned(),
            lifetime,
            validation,
        })
    }

    /// Token lifetime.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Issues a token for a client, valid from `now` for the configured lifetime, limited to
    /// `scope` (space-separated service names) when given.
    pub fn issue(
        &self,
        client_id: &str,
        scope: Option<&str>,
        now: SystemTime,
    ) -> Result<String, TokenError> {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| TokenError::Invalid)?
            .as_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: client_id.to_owned(),
            aud: self.issuer.clone(),
            iat,
            nbf: iat,
            exp: iat + self.lifetime.as_secs(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            scope: scope.map(str::to_owned),
        };
        let key = &self.keys[0];
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(|_| TokenError::Invalid)
    }

    /// Verifies a token's algorithm, signature, issuer, audience and times.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let candidates: Vec<&SigningKey> = match &header.kid {
            Some(kid) => self.keys.iter().filter(|k| &k.kid == kid).collect(),
            None => self.keys.iter().collect(),
        };
        let mut result = Err(TokenError::Invalid);
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                    result = Err(TokenError::Expired)
                }
                Err(_) => {}
            }
        }
        result
    }
}

/// True when a bearer credential has the shape of a JWT (three base64url parts), as opposed to an API key.
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3 && credential.starts_with("ey")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn service() -> TokenService {
        TokenService::new(vec![vec![7u8; 32]], "lienthong", Duration::from_secs(900)).unwrap()
    }

    #[test]
    fn issued_token_verifies() {
        let s = service();
        let t = s.issue("portal", None, SystemTime::now()).unwrap();
        assert!(looks_like_jwt(&t));
        assert_eq!(s.verify(&t).unwrap().sub, "portal");
    }

    #[test]
    fn expired_token_is_refused_as_expired() {
        let s = service();
        let t = s
            .issue(
                "portal",
                None,
                SystemTime::now() - Duration::from_secs(3600),
            )
            .unwrap();
        assert_eq!(s.verify(&t), Err(TokenError::Expired));
    }

    #[test]
    fn alg_none_and_tampering_are_refused() {
        let s = service();
        let t = s.issue("portal", None, SystemTime::now()).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            s.verify(&format!("{none_header}.{}.", parts[1])),
            Err(TokenError::Invalid)
        );
        let forged = URL_SAFE_NO_PAD.encode(
            format!(r#"{{"iss":"lienthong","sub":"admin","aud":"lienthong","iat":1,"nbf":1,"exp":{},"jti":"x"}}"#, u64::MAX / 2)
                .as_bytes(),
        );
        assert_eq!(
            s.verify(&format!("{}.{forged}.{}", parts[0], parts[2])),
            Err(TokenError::Invalid)
        );
        let other =
            TokenService::new(vec![vec![8u8; 32]], "lienthong", Duration::from_secs(900)).unwrap();
        assert_eq!(other.verify(&t), Err(TokenError::Invalid));
    }

    #[test]
    fn previous_key_still_verifies_during_rotation() {
        let old = service();
        let t = old.issue("portal", None, SystemTime::now()).unwrap();
        let rotated = TokenService::new(
            vec![vec![9u8; 32], vec![7u8; 32]],
            "lienthong",
            Duration::from_secs(900),
        )
        .unwrap();
        assert_eq!(rotated.verify(&t).unwrap().sub, "portal");
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(TokenService::new(vec![vec![1u8; 16]], "x", Duration::from_secs(1)).is_err());
    }
}
