//! Checking evidence as anyone would, with a standard JOSE library (`jsonwebtoken`) and the
//! published JWK Set: the signature under the key its `kid` names, then `res` against the body.
//! This is `lienthong evidence verify`; portals may do the same in any language.

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};

use super::{Claims, TYP};

/// Evidence that holds: who signed it and what it says.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The key that signed it.
    pub kid: String,
    /// Its algorithm.
    pub alg: String,
    /// The payload.
    pub claims: Claims,
}

/// What does not hold, named for the person checking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Not a compact JWS, or a header that is not evidence's.
    #[error("the evidence is not a compact JWS of lienthong evidence: {0}")]
    Malformed(String),
    /// Its `kid` is not in the JWK Set.
    #[error("unknown kid `{0}`: no key of the JWK Set has it")]
    UnknownKid(String),
    /// The key and the header disagree on the algorithm.
    #[error("the header's alg `{alg}` does not fit the key `{kid}`")]
    Algorithm {
        /// The header's `alg`.
        alg: String,
        /// The key's `kid`.
        kid: String,
    },
    /// The signature does not verify (the payload or header was changed, or another key signed).
    #[error("signature: it does not verify under key `{0}`")]
    Signature(String),
    /// The body is not the one signed.
    #[error("res mismatch: the body's SHA-256 is {body}, the evidence says {claimed}")]
    ResMismatch {
        /// SHA-256 of the body given.
        body: String,
        /// `res` in the evidence.
        claimed: String,
    },
}

/// The JWK Set cannot be used, so nothing could be checked.
#[derive(Debug, thiserror::Error)]
#[error("the JWK Set cannot be read: {0}")]
pub struct JwksError(String);

/// Verifies `evidence` (a compact JWS; surrounding whitespace and a `Lienthong-Evidence:` prefix
/// are ignored) against the JWK Set `jwks` and the response body `body`.
pub fn verify(
    jwks: &[u8],
    evidence: &str,
    body: &[u8],
) -> Result<Result<Verified, Failure>, JwksError> {
    let set: JwkSet = serde_json::from_slice(jwks).map_err(|e| JwksError(e.to_string()))?;
    Ok(check(&set, evidence, body))
}

fn check(set: &JwkSet, evidence: &str, body: &[u8]) -> Result<Verified, Failure> {
    let mut token = evidence.trim();
    if let Some((name, value)) = token.split_once(':')
        && name.trim().eq_ignore_ascii_case(super::HEADER)
    {
        token = value.trim();
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| Failure::Malformed(e.to_string()))?;
    if header.typ.as_deref() != Some(TYP) {
        return Err(Failure::Malformed(format!("its typ is not `{TYP}`")));
    }
    let kid = header
        .kid
        .ok_or_else(|| Failure::Malformed("its header has no kid".into()))?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| Failure::UnknownKid(kid.clone()))?;
    let alg = header.alg;
    // The key's type, and its `alg` when it states one, must fit the header's `alg`.
    let fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA) => {
            matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::EdDSA))
        }
        (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256) => {
            matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::ES256))
        }
        _ => false,
    };
    if !fits {
        return Err(Failure::Algorithm {
            alg: format!("{alg:?}"),
            kid,
        });
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Failure::Algorithm {
        alg: format!("{alg:?}"),
        kid: kid.clone(),
    })?;
    // Evidence does not expire and has no audience: only the signature is checked here.
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Failure::Signature(kid.clone()),
            _ => Failure::Malformed(e.to_string()),
        })?
        .claims;
    let actual = hex::encode(Sha256::digest(body));
    if !actual.eq_ignore_ascii_case(&claims.res) {
        return Err(Failure::ResMismatch {
            body: actual,
            claimed: claims.res,
        });
    }
    Ok(Verified {
        kid,
        alg: format!("{alg:?}"),
        claims,
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::evidence::keys::{KeySet, PublicKey, SigningKey};
    use crate::evidence::{EvidenceConfig, Facts, Issuer, Source};

    fn signed(issuer: &Issuer, body: &[u8]) -> String {
        let source = Source::now(Some("m-1".into()));
        let facts = Facts {
            request_id: "r-1",
            client: "portal",
            service: "notary",
            operation: "lookup",
            dossier: None,
            official: None,
            upstream: "notary",
            source: Some(&source),
            cache: None,
            request_hash: "00",
        };
        issuer.sign(&facts, 200, body).unwrap().evidence
    }

    fn issuer_with(pem: &str) -> Issuer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, pem).unwrap();
        let config = EvidenceConfig {
            signing_key: Some(
                serde_json::from_value(serde_json::json!(format!("file:{}", path.display())))
                    .unwrap(),
            ),
            ..EvidenceConfig::default()
        };
        Issuer::build(&config, &[0; 32]).unwrap()
    }

    #[test]
    fn evidence_of_either_algorithm_verifies_and_a_changed_byte_does_not() {
        for pem in [
            crate::evidence::keys::tests::ED25519_PEM,
            crate::evidence::keys::tests::P256_PEM,
        ] {
            let issuer = issuer_with(pem);
            let jwks = issuer.keys().jwks().as_bytes();
            let body = br#"{"valid":true}"#;
            let jws = signed(&issuer, body);
            let ok = verify(jwks, &format!("Lienthong-Evidence: {jws}\n"), body)
                .unwrap()
                .unwrap();
            assert_eq!(ok.claims.jti, "r-1");
            assert_eq!(ok.kid, issuer.keys().signing().public().kid);

            let e = verify(jwks, &jws, br#"{"valid":false}"#)
                .unwrap()
                .unwrap_err();
            assert!(matches!(e, Failure::ResMismatch { .. }), "{e}");
            assert!(e.to_string().starts_with("res mismatch"), "{e}");

            // A changed payload (another `res`) fails the signature.
            let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
            let mut payload: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
            payload["res"] = hex::encode(Sha256::digest(b"{}")).into();
            parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
            let e = verify(jwks, &parts.join("."), b"{}").unwrap().unwrap_err();
            assert!(matches!(e, Failure::Signature(_)), "{e}");
        }
    }

    /// ES256 signatures are the fixed `R || S` of RFC 7518 §3.4, checked here with `ring`
    /// directly, independently of the JOSE library.
    #[test]
    fn es256_signatures_are_fixed_size_r_and_s() {
        let issuer = issuer_with(crate::evidence::keys::tests::P256_PEM);
        let jws = signed(&issuer, b"x");
        let (input, signature) = jws.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert_eq!(signature.len(), 64);
        let jwk = &issuer.keys().signing().public().jwk;
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(input.as_bytes(), &signature)
            .unwrap();
    }

    #[test]
    fn an_unknown_kid_a_foreign_token_and_garbage_are_named() {
        let issuer = issuer_with(crate::evidence::keys::tests::ED25519_PEM);
        let jws = signed(&issuer, b"x");
        let other = KeySet::new(SigningKey::from_seed(&[9; 32]), Vec::<PublicKey>::new());
        let e = verify(other.jwks().as_bytes(), &jws, b"x")
            .unwrap()
            .unwrap_err();
        assert_eq!(
            e,
            Failure::UnknownKid(issuer.keys().signing().public().kid.clone())
        );
        assert!(e.to_string().contains("unknown kid"), "{e}");

        let e = verify(issuer.keys().jwks().as_bytes(), "not.a.jws", b"x")
            .unwrap()
            .unwrap_err();
        assert!(matches!(e, Failure::Malformed(_)), "{e}");

        // An access token of the gateway (HS256, typ JWT) is not evidence.
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({ "sub": "x" }),
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        let e = verify(issuer.keys().jwks().as_bytes(), &token, b"x")
            .unwrap()
            .unwrap_err();
        assert!(matches!(e, Failure::Malformed(_)), "{e}");

        assert!(verify(b"{}", &jws, b"x").is_err(), "not a JWK Set");
    }
}
