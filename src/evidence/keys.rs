//! The evidence keys: the one that signs, the earlier ones still published, and the JWK Set that
//! publishes them all (RFC 7517; Ed25519 as an `OKP` key, RFC 8037; P-256 as an `EC` key,
//! RFC 7518 §6.2).
//!
//! A key is read from PKCS#8 (RFC 5958), PEM or DER, as `openssl genpkey -algorithm ed25519` or
//! `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes it. Its `kid` is its
//! RFC 7638 JWK thumbprint, so it needs no configuring and cannot be mistyped: the same key has the
//! same `kid` on every replica and after every restart. Signing uses `ring` with the key parsed
//! once (parsing a PKCS#8 key costs about as much as a signature), and ES256 signatures are the
//! fixed-size `R || S` JWS requires (RFC 7518 §3.4), not DER.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use rustls_pki_types::pem::{PemObject, SectionKind};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A JWS algorithm evidence may be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// ECDSA on P-256 with SHA-256 (RFC 7518 §3.4).
    ES256,
}

impl Algorithm {
    /// The `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
        }
    }
}

/// `SubjectPublicKeyInfo` of an Ed25519 key, before its 32 bytes (RFC 8410 §4).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// `SubjectPublicKeyInfo` of a P-256 key, before its 65-byte uncompressed point (RFC 5480).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A public key as published: its algorithm, `kid` and JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The algorithm it verifies.
    pub alg: Algorithm,
    /// Its RFC 7638 thumbprint (base64url SHA-256).
    pub kid: String,
    /// Its JWK, with `kid`, `alg` and `use`.
    pub jwk: Map<String, Value>,
}

impl PublicKey {
    /// The key from its raw public bytes: 32 for Ed25519, the 65-byte uncompressed point
    /// (`0x04 || X || Y`) for P-256.
    fn from_raw(alg: Algorithm, raw: &[u8]) -> Result<PublicKey, String> {
        // The RFC 7638 members, in lexicographic order, without whitespace.
        let (thumbprint_input, mut jwk) = match alg {
            Algorithm::EdDSA => {
                if raw.len() != 32 {
                    return Err("an Ed25519 public key is 32 bytes".into());
                }
                let x = URL_SAFE_NO_PAD.encode(raw);
                let input = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
                let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": x });
                (input, jwk)
            }
            Algorithm::ES256 => {
                if raw.len() != 65 || raw[0] != 0x04 {
                    return Err("a P-256 public key is a 65-byte uncompressed point".into());
                }
                let x = URL_SAFE_NO_PAD.encode(&raw[1..33]);
                let y = URL_SAFE_NO_PAD.encode(&raw[33..]);
                let input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
                let jwk = json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y });
                (input, jwk)
            }
        };
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
        let Value::Object(members) = &mut jwk else {
            unreachable!("built as an object above")
        };
        members.insert("kid".into(), kid.clone().into());
        members.insert("alg".into(), alg.as_str().into());
        members.insert("use".into(), "sig".into());
        Ok(PublicKey {
            alg,
            kid,
            jwk: std::mem::take(members),
        })
    }

    /// A public key from a file's bytes: a PKCS#8 private key (its public half is taken) or a
    /// `SubjectPublicKeyInfo` public key, PEM or DER, Ed25519 or P-256.
    pub fn read(bytes: &[u8]) -> Result<PublicKey, String> {
        match material(bytes)? {
            Material::Private(der) => SigningKey::from_pkcs8(&der).map(|k| k.public),
            Material::Public(der) => {
                if let Some(raw) = der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
                    PublicKey::from_raw(Algorithm::EdDSA, raw)
                } else if let Some(raw) = der.strip_prefix(&P256_SPKI_PREFIX[..]) {
                    PublicKey::from_raw(Algorithm::ES256, raw)
                } else {
                    Err(UNSUPPORTED.into())
                }
            }
        }
    }
}

const UNSUPPORTED: &str =
    "not an Ed25519 or P-256 key (RSA, P-384 and other curves are not supported)";

/// What a key file holds.
enum Material {
    /// PKCS#8 DER.
    Private(Vec<u8>),
    /// `SubjectPublicKeyInfo` DER.
    Public(Vec<u8>),
}

/// Reads a key file: PEM (`PRIVATE KEY` or `PUBLIC KEY`) or DER. Errors never quote the file.
fn material(bytes: &[u8]) -> Result<Material, String> {
    if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        // DER: the two public key forms read are fixed prefixes; anything else is taken for
        // PKCS#8 and refused there if it is not.
        return Ok(
            if bytes.starts_with(&ED25519_SPKI_PREFIX) || bytes.starts_with(&P256_SPKI_PREFIX) {
                Material::Public(bytes.to_vec())
            } else {
                Material::Private(bytes.to_vec())
            },
        );
    }
    match <(SectionKind, Vec<u8>)>::from_pem_slice(bytes) {
        Ok((SectionKind::PrivateKey, der)) => Ok(Material::Private(der)),
        Ok((SectionKind::PublicKey, der)) => Ok(Material::Public(der)),
        Ok((SectionKind::EcPrivateKey, _)) => Err(
            "an `EC PRIVATE KEY` (SEC1) file: convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt`"
                .into(),
        ),
        Ok((SectionKind::RsaPrivateKey, _)) => Err(UNSUPPORTED.into()),
        Ok(_) | Err(_) => Err(
            "no unencrypted `PRIVATE KEY` (PKCS#8) or `PUBLIC KEY` PEM section in it".into(),
        ),
    }
}

/// The key pair behind a [`SigningKey`].
enum Pair {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
}

/// The private key that signs evidence, parsed once.
pub struct SigningKey {
    public: PublicKey,
    pair: Pair,
    rng: SystemRandom,
    /// The base64url JWS protected header, the same for every signature of this key.
    header_b64: String,
}

impl std::fmt::Debug for SigningKey {
    // The private half is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.public.alg)
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn new(pair: Pair) -> Result<SigningKey, String> {
        let public = match &pair {
            Pair::Ed25519(p) => PublicKey::from_raw(Algorithm::EdDSA, p.public_key().as_ref())?,
            Pair::P256(p) => PublicKey::from_raw(Algorithm::ES256, p.public_key().as_ref())?,
        };
        let header = json!({
            "alg": public.alg.as_str(),
            "kid": public.kid,
            "typ": super::TYP,
        });
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        Ok(SigningKey {
            public,
            pair,
            rng: SystemRandom::new(),
            header_b64,
        })
    }

    /// A key from PKCS#8 DER: Ed25519 (v1 as OpenSSL writes it, or v2) or P-256.
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, String> {
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return SigningKey::new(Pair::Ed25519(pair));
        }
        match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
        {
            Ok(pair) => SigningKey::new(Pair::P256(pair)),
            Err(_) => Err(format!("not a PKCS#8 private key, or {UNSUPPORTED}")),
        }
    }

    /// A signing key from a file's bytes (PKCS#8, PEM or DER).
    pub fn read(bytes: &[u8]) -> Result<SigningKey, String> {
        match material(bytes)? {
            Material::Private(der) => SigningKey::from_pkcs8(&der),
            Material::Public(_) => Err("a public key cannot sign: give the private key".into()),
        }
    }

    /// An Ed25519 key from a 32-byte seed (the key made at start when none is configured).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .unwrap_or_else(|_| unreachable!("any 32 bytes are an Ed25519 seed"));
        SigningKey::new(Pair::Ed25519(pair))
            .unwrap_or_else(|_| unreachable!("an Ed25519 public key is 32 bytes"))
    }

    /// Its public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The raw signature of `message`: 64 bytes, Ed25519 or P-256 `R || S`.
    pub fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
        Ok(match &self.pair {
            Pair::Ed25519(p) => p.sign(message).as_ref().to_vec(),
            Pair::P256(p) => p.sign(&self.rng, message)?.as_ref().to_vec(),
        })
    }

    /// The compact JWS (RFC 7515 §7.1) of `payload` under this key's header
    /// (`{"alg","kid","typ"}`).
    pub fn sign_compact(&self, payload: &[u8]) -> Result<String, ring::error::Unspecified> {
        let mut jws = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 100);
        jws.push_str(&self.header_b64);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut jws);
        let signature = self.sign_raw(jws.as_bytes())?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
        Ok(jws)
    }
}

/// The signing key and the earlier keys still published, with their JWK Set rendered once.
#[derive(Debug)]
pub struct KeySet {
    signing: SigningKey,
    published: Vec<PublicKey>,
    jwks: String,
}

impl KeySet {
    /// The set signing with `signing` and publishing it first, then `previous` (a key listed
    /// twice, or the signing key listed again, is published once).
    pub fn new(signing: SigningKey, previous: Vec<PublicKey>) -> KeySet {
        let mut published = vec![signing.public.clone()];
        for key in previous {
            if !published.iter().any(|p| p.kid == key.kid) {
                published.push(key);
            }
        }
        let keys: Vec<&Map<String, Value>> = published.iter().map(|k| &k.jwk).collect();
        let jwks = json!({ "keys": keys }).to_string();
        KeySet {
            signing,
            published,
            jwks,
        }
    }

    /// The key that signs.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// Every published key, the signing key first.
    pub fn published(&self) -> &[PublicKey] {
        &self.published
    }

    /// The JWK Set document (`{"keys":[…]}`).
    pub fn jwks(&self) -> &str {
        &self.jwks
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // Throwaway keys made for these tests with `openssl genpkey` (OpenSSL 3.0), as an operator
    // would make them: Ed25519 in PKCS#8 v1 (no public key inside), P-256 in PKCS#8.
    pub(crate) const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJQoMgcn2l40OfT4GD3oC7GqibuZZ3yG7gQ1wuo29I5e
-----END PRIVATE KEY-----
";
    const ED25519_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEARRd62G9PdBGEnIir6LXEqWECVU4TtqrGVDxYEN+369c=
-----END PUBLIC KEY-----
";
    pub(crate) const P256_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgD7Pxf7yFXfuLH29e
08ltbrL8bNgxlLEKYuqqinZMTd+hRANCAATcPsoVY1A30RemV0hywtwErrKTtgnu
zRGfMHavelCNx1LPYluAc7lMzedQqjP0P0cgC8As5lUohAsPhh1zOD9h
-----END PRIVATE KEY-----
";
    const P256_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3D7KFWNQN9EXpldIcsLcBK6yk7YJ
7s0RnzB2r3pQjcdSz2JbgHO5TM3nUKoz9D9HIAvALOZVKIQLD4Ydczg/YQ==
-----END PUBLIC KEY-----
";
    const P256_SEC1_PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIA+z8X+8hV37ix9vXtPJbW6y/GzYMZSxCmLqqop2TE3foAoGCCqGSM49
AwEHoUQDQgAE3D7KFWNQN9EXpldIcsLcBK6yk7YJ7s0RnzB2r3pQjcdSz2JbgHO5
TM3nUKoz9D9HIAvALOZVKIQLD4Ydczg/YQ==
-----END EC PRIVATE KEY-----
";

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }

    /// RFC 8037 Appendix A: the key's JWK (A.2), its thumbprint (A.3) and the JWS of the example
    /// payload (A.4, deterministic for Ed25519), byte for byte.
    #[test]
    fn ed25519_follows_the_rfc_8037_examples() {
        let seed: [u8; 32] = b64("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .try_into()
            .unwrap();
        let key = SigningKey::from_seed(&seed);
        assert_eq!(
            key.public().jwk["x"],
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        assert_eq!(
            key.public().kid,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        let signature = key
            .sign_raw(b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc")
            .unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(signature),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }

    #[test]
    fn openssl_keys_are_read_and_their_public_files_match() {
        for (private, public, alg) in [
            (ED25519_PEM, ED25519_PUBLIC_PEM, Algorithm::EdDSA),
            (P256_PEM, P256_PUBLIC_PEM, Algorithm::ES256),
        ] {
            let key = SigningKey::read(private.as_bytes()).unwrap();
            assert_eq!(key.public().alg, alg);
            let from_public = PublicKey::read(public.as_bytes()).unwrap();
            assert_eq!(&from_public, key.public(), "{alg:?}");
            assert_eq!(&PublicKey::read(private.as_bytes()).unwrap(), key.public());
            // DER reads as PEM does.
            let der = <(SectionKind, Vec<u8>)>::from_pem_slice(private.as_bytes())
                .unwrap()
                .1;
            assert_eq!(SigningKey::read(&der).unwrap().public(), key.public());
            let der = <(SectionKind, Vec<u8>)>::from_pem_slice(public.as_bytes())
                .unwrap()
                .1;
            assert_eq!(&PublicKey::read(&der).unwrap(), key.public());
        }
        let ec = PublicKey::read(P256_PUBLIC_PEM.as_bytes()).unwrap();
        assert_eq!(ec.jwk["kty"], "EC");
        assert_eq!(ec.jwk["crv"], "P-256");
        assert_eq!(b64(ec.jwk["x"].as_str().unwrap()).len(), 32);
        assert_eq!(b64(ec.jwk["y"].as_str().unwrap()).len(), 32);
        assert_eq!(ec.jwk["alg"], "ES256");
        assert_eq!(ec.jwk["use"], "sig");
    }

    #[test]
    fn unusable_key_files_are_refused_with_a_reason_that_does_not_quote_them() {
        for (bytes, says) in [
            (P256_SEC1_PEM.as_bytes(), "openssl pkcs8 -topk8"),
            (ED25519_PUBLIC_PEM.as_bytes(), "cannot sign"),
            (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".as_slice(),
                "PKCS#8",
            ),
            (b"not a key at all".as_slice(), "not a PKCS#8 private key"),
        ] {
            let e = SigningKey::read(bytes).unwrap_err();
            assert!(e.contains(says), "{e}");
            assert!(!e.contains("MHcCAQEE") && !e.contains("MCow"), "{e}");
        }
    }

    #[test]
    fn the_set_publishes_the_signing_key_first_and_each_key_once() {
        let signing = SigningKey::read(ED25519_PEM.as_bytes()).unwrap();
        let old = PublicKey::read(P256_PUBLIC_PEM.as_bytes()).unwrap();
        let set = KeySet::new(
            signing,
            vec![
                old.clone(),
                old.clone(),
                PublicKey::read(ED25519_PEM.as_bytes()).unwrap(),
            ],
        );
        let jwks: Value = serde_json::from_str(set.jwks()).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(
            kids,
            [set.signing().public().kid.as_str(), old.kid.as_str()]
        );
        // The standard JOSE library reads the set.
        let parsed: jsonwebtoken::jwk::JwkSet = serde_json::from_str(set.jwks()).unwrap();
        assert_eq!(parsed.keys.len(), 2);
    }
}
