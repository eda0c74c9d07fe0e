//! API2:2023 Broken Authentication: callers prove who they are, and with `[officials]`, so do the
//! officials on whose behalf personal data is read: a signed, short-lived assertion from the
//! portal's sign-in, not a header the calling system fills in as it likes.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

use crate::common::{self, problem};

const OFFICIAL: &str = "046185000123";
const ISSUER: &str = "https://sso.portal.test";

/// An Ed25519 key of the portal's identity provider: its signing key and its JWK.
fn provider_key(kid: &str) -> (EncodingKey, serde_json::Value) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let jwk = json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(pair.public_key_raw()),
    });
    (EncodingKey::from_ed_der(&pair.serialize_der()), jwk)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn assertion(key: &EncodingKey, kid: &str, claims: serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    encode(&header, &claims, key).unwrap()
}

fn claims(sub: &str, lifetime: u64) -> serde_json::Value {
    json!({ "iss": ISSUER, "aud": "lienthong", "sub": sub, "iat": now(), "exp": now() + lifetime })
}

/// With `[officials]`, a personal-data call needs a valid assertion whose subject is the official
/// named in `X-User-Id`; every way an assertion can be wrong is refused, before any upstream call.
#[tokio::test]
async fn officials_prove_themselves_with_a_signed_short_lived_assertion() {
    let (key, jwk) = provider_key("k1");
    let (other_key, _) = provider_key("k1");
    let jwks_dir = tempfile::tempdir().unwrap();
    let jwks = jwks_dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({ "keys": [jwk] }).to_string()).unwrap();
    let h = common::start(&format!(
        "\n[officials]\nissuer = \"{ISSUER}\"\njwks = \"file:{}\"\n",
        jwks.display()
    ))
    .await;
    let call = |assertion: Option<String>| {
        let mut req = h
            .get("/v1/proxy/dossiers/dossiers/HS-1", "portal-key")
            .header("x-user-id", OFFICIAL)
            .header("x-dossier-id", "HS-1");
        if let Some(a) = assertion {
            req = req.header("x-official-assertion", a);
        }
        req.send()
    };

    let resp = call(Some(assertion(&key, "k1", claims(OFFICIAL, 60))))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let hs256 = encode(
        &Header::new(Algorithm::HS256),
        &claims(OFFICIAL, 60),
        &EncodingKey::from_secret(b"anyone-can-make-this"),
    )
    .unwrap();
    let mut expired = claims(OFFICIAL, 60);
    expired["iat"] = json!(now() - 200);
    expired["exp"] = json!(now() - 100);
    let mut foreign = claims(OFFICIAL, 60);
    foreign["iss"] = json!("https://elsewhere.test");
    let mut other_audience = claims(OFFICIAL, 60);
    other_audience["aud"] = json!("another-gateway");
    for (what, assertion) in [
        ("missing", None),
        ("not a JWT", Some("not-a-jwt".to_owned())),
        ("a shared secret", Some(hs256)),
        (
            "another official",
            Some(assertion(&key, "k1", claims("079201000111", 60))),
        ),
        ("expired", Some(assertion(&key, "k1", expired))),
        (
            "a day long",
            Some(assertion(&key, "k1", claims(OFFICIAL, 86_400))),
        ),
        ("another issuer", Some(assertion(&key, "k1", foreign))),
        (
            "another audience",
            Some(assertion(&key, "k1", other_audience)),
        ),
        (
            "a forged key",
            Some(assertion(&other_key, "k1", claims(OFFICIAL, 60))),
        ),
        (
            "an unknown key",
            Some(assertion(&key, "k2", claims(OFFICIAL, 60))),
        ),
    ] {
        let body = problem(call(assertion).await.unwrap(), 422, "validation_failed").await;
        assert_eq!(
            body["errors"][0]["field"], "X-Official-Assertion",
            "{what}: {body}"
        );
    }
    let records = h.gw.store.audit_records(0, 100).await.unwrap();
    assert_eq!(records.len(), 1, "only the proven call reached the data");
}

/// The keys can come from the identity provider's URL, fetched at start.
#[tokio::test]
async fn the_providers_keys_are_fetched_from_its_url() {
    let (key, jwk) = provider_key("url-key");
    let body = json!({ "keys": [jwk] }).to_string();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    let idp = lienthong_mocks::spawn(app, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let h = common::start(&format!(
        "\n[officials]\nissuer = \"{ISSUER}\"\njwks = \"{}/.well-known/jwks.json\"\n",
        idp.url()
    ))
    .await;
    let resp = h
        .get("/v1/proxy/dossiers/dossiers/HS-1", "portal-key")
        .header("x-user-id", OFFICIAL)
        .header("x-dossier-id", "HS-1")
        .header(
            "x-official-assertion",
            assertion(&key, "url-key", claims(OFFICIAL, 60)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
