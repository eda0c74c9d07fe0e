//! Signed evidence of registry answers (regulation art. 9.9): every answer of the population
//! database, the enterprise registry and the notary records carries `Lienthong-Evidence`, which
//! verifies against `/.well-known/jwks.json` and the body's exact bytes. The real router against
//! the mocks; `lienthong evidence verify` as a portal's developer would run it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::Harness;
use lienthong::evidence::EvidenceRecord;
use lienthong::evidence::verify::{Failure, verify};
use lienthong::keys::sha256_hex;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CLERK: &str = "046185000123";
const AUDIT_KEY: &[u8] = b"audit-key-0123456789abcdef0123456789";

struct Setup {
    h: Harness,
    population: lienthong_mocks::StartedSystem,
    _enterprise: lienthong_mocks::StartedSystem,
    _notary: lienthong_mocks::StartedSystem,
}

/// A new key pair for evidence, written as `NAME.pem` (PKCS#8) and `NAME.pub.pem` (SPKI) in `dir`.
fn key_files(dir: &Path, name: &str, alg: &'static rcgen::SignatureAlgorithm) {
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), key.serialize_pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.pub.pem")), key.public_key_pem()).unwrap();
}

/// The `[evidence]` table signing with `signing` and publishing `previous` (key file names in
/// `dir`).
fn evidence_table(dir: &Path, signing: &str, previous: &[&str]) -> String {
    let d = dir.display();
    let previous: Vec<String> = previous
        .iter()
        .map(|p| format!("\"file:{d}/{p}\""))
        .collect();
    format!(
        "[evidence]\nissuer = \"lienthong.test\"\nsigning_key = \"file:{d}/{signing}\"\nprevious_keys = [{}]\nretention_days = 30\n",
        previous.join(", ")
    )
}

/// The config of [`setup`], its `[evidence]` table replaced.
fn config_with(s: &Setup, evidence: &str) -> String {
    let text = std::fs::read_to_string(&s.h.config_path).unwrap();
    let start = text.find("[evidence]").unwrap();
    format!("{}{evidence}", &text[..start])
}

/// A gateway with the three registries (the population verify cache on), a client `clerk` that
/// may call them all, and evidence signed with a new Ed25519 key `a`.
async fn setup() -> Setup {
    common::install_crypto();
    let data = Arc::new(lienthong_mocks::data::Dataset::generate(42, 50, 20));
    let at = || "127.0.0.1:0".parse().unwrap();
    let population =
        lienthong_mocks::population::start(&Default::default(), data.clone(), 42, at())
            .await
            .unwrap();
    let enterprise =
        lienthong_mocks::enterprise::start(&Default::default(), data.clone(), 42, at())
            .await
            .unwrap();
    let notary = lienthong_mocks::notary::start(&Default::default(), data, 42, at())
        .await
        .unwrap();
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("token.key"), common::TOKEN_KEY).unwrap();
    std::fs::write(p.join("c06.secret"), "demo-c06-secret").unwrap();
    std::fs::write(p.join("c06.apikey"), "demo-c06-apikey").unwrap();
    std::fs::write(p.join("notary.password"), "demo-notary-secret").unwrap();
    std::fs::write(p.join("ngsp.secret"), "demo-ngsp-secret").unwrap();
    std::fs::write(p.join("audit.key"), AUDIT_KEY).unwrap();
    key_files(p, "a", &rcgen::PKCS_ED25519);
    let d = p.display();
    let extra = format!(
        r#"
[[clients]]
id = "clerk"
api_keys_sha256 = ["{clerk}"]
allow = [
  {{ service = "population", operations = ["*"] }},
  {{ service = "notary", operations = ["*"] }},
  {{ service = "enterprise", operations = ["*"] }},
]

[services.population]
kind = "population"
base_url = "{population}/dancuquocgia"
personal_data = true
population = {{ username = "lienthong", secret = "file:{d}/c06.secret", api_key = "file:{d}/c06.apikey", service_unit_code = "46001", unit_code = "46001", account = "lienthong.hue" }}
cache = {{ ttl_s = 300 }}

[services.notary]
kind = "notary"
base_url = "{notary}/notary"
personal_data = true
notary = {{ username = "lienthong", password = "file:{d}/notary.password" }}

[services.enterprise]
kind = "enterprise"
base_url = "{enterprise}"
timeout_ms = 2000
cache = {{ ttl_s = 3600 }}
enterprise = {{ client_id = "demo-ngsp-key", client_secret = "file:{d}/ngsp.secret" }}

[audit]
subject_key = "file:{d}/audit.key"

{evidence}"#,
        clerk = sha256_hex("clerk-key"),
        population = population.mock.url(),
        notary = notary.mock.url(),
        enterprise = enterprise.mock.url(),
        evidence = evidence_table(p, "a.pem", &[]),
    );
    let text = common::config_text(&upstream.url(), p, &extra);
    let path = p.join("lienthong.toml");
    std::fs::write(&path, text).unwrap();
    let h = common::start_with(upstream, dir, path).await;
    Setup {
        h,
        population,
        _enterprise: enterprise,
        _notary: notary,
    }
}

/// A registry answer as the portal keeps it.
struct Answer {
    status: u16,
    request_id: String,
    body: Vec<u8>,
    evidence: Option<String>,
}

impl Answer {
    fn evidence(&self) -> &str {
        self.evidence
            .as_deref()
            .expect("a Lienthong-Evidence header")
    }
}

async fn answer(resp: reqwest::Response) -> Answer {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (request_id, evidence) = (
        header("x-request-id").unwrap(),
        header("lienthong-evidence"),
    );
    Answer {
        status: resp.status().as_u16(),
        request_id,
        evidence,
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

async fn post(h: &Harness, path: &str, body: &Value) -> Answer {
    let resp = h
        .post(path, "clerk-key")
        .header("x-user-id", CLERK)
        .header("x-dossier-id", "HS-2026-0042")
        .json(body)
        .send()
        .await
        .unwrap();
    answer(resp).await
}

async fn get(h: &Harness, path: &str) -> Answer {
    answer(h.get(path, "clerk-key").send().await.unwrap()).await
}

/// The published JWK Set, fetched as anyone would: no credentials.
async fn jwks(h: &Harness) -> Vec<u8> {
    let resp = h
        .http
        .get(h.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/jwk-set+json");
    resp.bytes().await.unwrap().to_vec()
}

fn hex_sha256(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// The claims of `a`'s evidence, checked against the published keys and its body.
async fn verified(h: &Harness, a: &Answer) -> Value {
    let ok = verify(&jwks(h).await, a.evidence(), &a.body)
        .unwrap()
        .unwrap_or_else(|f| panic!("{f}"));
    serde_json::to_value(ok.claims).unwrap()
}

fn citizen(id: &str) -> Value {
    json!({ "citizen_id": id, "full_name": "Nguyễn Văn An", "date_of_birth": "1990-03-15" })
}

#[tokio::test]
async fn every_registry_answer_carries_evidence_that_verifies_against_the_published_keys() {
    let s = setup().await;
    let h = &s.h;
    let official = lienthong::audit::SubjectKey::new(AUDIT_KEY.to_vec()).subject(CLERK);

    // The portal's own computation of `req`: its JSON body with sorted members, after the method
    // and the path.
    let an = citizen("046090001234");
    let verify_req = hex_sha256(
        "POST /v1/citizens/verify\n{\"citizen_id\":\"046090001234\",\"date_of_birth\":\"1990-03-15\",\"full_name\":\"Nguyễn Văn An\"}",
    );
    let first = post(h, "/v1/citizens/verify", &an).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, br#"{"match":true}"#);
    let claims = verified(h, &first).await;
    assert_eq!(
        claims,
        json!({
            "iss": "lienthong.test",
            "iat": claims["iat"],
            "jti": first.request_id,
            "client": "clerk",
            "service": "population",
            "operation": "verify",
            "dossier": "HS-2026-0042",
            "official": official,
            "upstream": "population",
            "upstream_msg_id": first.request_id,
            "upstream_at": claims["upstream_at"],
            "cache": "miss",
            "status": 200,
            "req": verify_req,
            "res": hex_sha256(&first.body),
        })
    );
    let payload = lienthong::evidence::unverified_claims(first.evidence())
        .unwrap()
        .to_string();
    for personal in ["046090001234", "Nguyễn", "1990-03-15", CLERK] {
        assert!(!payload.contains(personal), "{personal} in {payload}");
    }

    // A cached answer names the call that fetched it, not one that never happened.
    let again = post(h, "/v1/citizens/verify", &an).await;
    assert_ne!(again.request_id, first.request_id);
    let cached = verified(h, &again).await;
    assert_eq!(cached["cache"], "hit");
    assert_eq!(cached["jti"], again.request_id);
    assert_eq!(cached["upstream_msg_id"], first.request_id);
    assert_eq!(cached["upstream_at"], claims["upstream_at"]);
    assert_eq!(cached["req"], verify_req);

    let record = post(h, "/v1/citizens/lookup", &an).await;
    assert_eq!(record.status, 200);
    let c = verified(h, &record).await;
    assert_eq!(
        (c["operation"].as_str(), c["cache"].as_str()),
        (Some("lookup"), None)
    );
    assert_eq!(c["upstream_msg_id"], record.request_id);

    // A request id longer than the registries' 64 characters (`MaYeuCau`) is the caller's
    // mistake: refused before any upstream call, and nothing is signed.
    let long_id = "r".repeat(100);
    let resp = h
        .post("/v1/citizens/lookup", "clerk-key")
        .header("x-user-id", CLERK)
        .header("x-dossier-id", "HS-2026-0042")
        .header("x-request-id", &long_id)
        .json(&an)
        .send()
        .await
        .unwrap();
    let long = answer(resp).await;
    assert_eq!(long.status, 422);
    assert_eq!(long.evidence, None);
    let problem: Value = serde_json::from_slice(&long.body).unwrap();
    assert_eq!(problem["errors"][0]["field"], "X-Request-Id", "{problem}");

    // "Not in the register" is an answer of the registry worth proving too.
    let unknown = post(h, "/v1/citizens/lookup", &citizen("046090009999")).await;
    assert_eq!(unknown.status, 404);
    let c = verified(h, &unknown).await;
    assert_eq!(c["status"], 404);
    let problem: Value = serde_json::from_slice(&unknown.body).unwrap();
    assert_eq!(problem["code"], "not_found");
    assert_eq!(problem["request_id"], unknown.request_id);

    let document = json!({ "document_number": "123/2026/HĐMB", "office_code": "46001" });
    let notary = post(h, "/v1/notary/documents/lookup", &document).await;
    assert_eq!(notary.status, 200);
    let c = verified(h, &notary).await;
    assert_eq!(
        (c["upstream"].as_str(), c["upstream_msg_id"].as_str()),
        (Some("notary"), Some(notary.request_id.as_str()))
    );
    assert_eq!(
        c["req"],
        hex_sha256(
            "POST /v1/notary/documents/lookup\n{\"document_number\":\"123/2026/HĐMB\",\"office_code\":\"46001\"}"
        )
    );
    let good = hex_sha256("46001|123/2026/HĐMB");
    let checked = post(
        h,
        "/v1/notary/documents/verify",
        &json!({ "document_number": "123/2026/HĐMB", "office_code": "46001", "sha256": good }),
    )
    .await;
    assert_eq!(verified(h, &checked).await["operation"], "verify");

    // The enterprise registry takes no message id of ours: the evidence says so.
    let enterprise = get(h, "/v1/enterprises/0100233488").await;
    assert_eq!(enterprise.status, 200);
    let c = verified(h, &enterprise).await;
    assert_eq!(c["upstream"], "enterprise");
    assert_eq!(c["upstream_msg_id"], Value::Null);
    assert_eq!(
        (c["dossier"].clone(), c["official"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(c["req"], hex_sha256("GET /v1/enterprises/0100233488\n"));
    assert_eq!(c["cache"], "miss");
    let hit = get(h, "/v1/enterprises/0100233488").await;
    let hit_claims = verified(h, &hit).await;
    assert_eq!(hit_claims["cache"], "hit");
    assert_eq!(hit_claims["upstream_at"], c["upstream_at"]);
    let missing = get(h, "/v1/enterprises/0101243150").await;
    assert_eq!(
        (
            missing.status,
            verified(h, &missing).await["status"].clone()
        ),
        (404, json!(404))
    );

    // The representatives in full are personal data: signed too, naming the official (keyed)
    // and the dossier; one evidence record for the answer, whatever the number of people in it.
    let resp = h
        .get("/v1/enterprises/0100233488/representatives", "clerk-key")
        .header("x-user-id", CLERK)
        .header("x-dossier-id", "HS-2026-0042")
        .send()
        .await
        .unwrap();
    let full = answer(resp).await;
    assert_eq!(full.status, 200);
    let c = verified(h, &full).await;
    assert_eq!(
        (c["operation"].as_str(), c["dossier"].as_str()),
        (Some("lookup_representatives"), Some("HS-2026-0042"))
    );
    assert!(c["official"].is_string() && c["official"] != CLERK, "{c}");
    assert_eq!(
        c["req"],
        hex_sha256("GET /v1/enterprises/0100233488/representatives\n")
    );
    let path = format!("/v1/admin/evidence/{}", full.request_id);
    let kept: Value = h
        .get(&path, "ops-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kept["records"].as_array().map(Vec::len), Some(1), "{kept}");

    // Answers in which the registry said nothing usable carry no evidence.
    let invalid = post(h, "/v1/citizens/lookup", &citizen("12")).await;
    assert_eq!((invalid.status, invalid.evidence.as_deref()), (422, None));
    let url = format!("{}/__admin/faults", s.population.mock.url());
    let rule = json!({ "kind": "status", "status": 500, "times": 1 });
    assert!(
        h.http
            .post(url)
            .json(&rule)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let failed = post(h, "/v1/citizens/lookup", &an).await;
    assert!(failed.status >= 500, "{}", failed.status);
    assert_eq!(failed.evidence, None);

    // Every sealed answer was recorded, the record holding exactly the header sent.
    for a in [
        &first,
        &again,
        &record,
        &unknown,
        &notary,
        &checked,
        &enterprise,
        &hit,
        &missing,
    ] {
        let kept = h.gw.store.evidence_of_request(&a.request_id).await.unwrap();
        assert_eq!(kept.len(), 1, "{}", a.request_id);
        assert_eq!(kept[0].evidence, a.evidence());
        assert_eq!(kept[0].res_sha256, hex_sha256(&a.body));
    }
}

/// What `lienthong evidence verify` prints and exits with. The child is awaited, not waited
/// for: the gateway it fetches the JWK Set from runs on this test's runtime.
async fn evidence_verify(dir: &Path, jwks: &str, body: &[u8], evidence: &str) -> (i32, String) {
    std::fs::write(dir.join("body"), body).unwrap();
    std::fs::write(dir.join("evidence"), evidence).unwrap();
    let out = tokio::process::Command::new(common::process::BIN)
        .args(["evidence", "verify", "--jwks", jwks, "--body"])
        .arg(dir.join("body"))
        .arg("--evidence")
        .arg(dir.join("evidence"))
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap(), text)
}

#[tokio::test]
async fn evidence_verify_holds_for_the_body_sent_and_names_what_fails_otherwise() {
    let s = setup().await;
    let h = &s.h;
    let a = get(h, "/v1/enterprises/0100233488").await;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let url = h.url("/.well-known/jwks.json");

    let (code, out) = evidence_verify(w, &url, &a.body, a.evidence()).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("evidence holds") && out.contains(&a.request_id),
        "{out}"
    );

    // One byte changed in the body: `res` no longer matches.
    let mut changed = a.body.clone();
    let at = changed.len() / 2;
    changed[at] ^= 0x01;
    let (code, out) = evidence_verify(w, &url, &changed, a.evidence()).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("res mismatch"), "{out}");

    // A JWK Set file without the signing key: the kid is named.
    key_files(w, "other", &rcgen::PKCS_ED25519);
    let other =
        lienthong::evidence::PublicKey::read(&std::fs::read(w.join("other.pub.pem")).unwrap())
            .unwrap();
    std::fs::write(
        w.join("other.jwks"),
        json!({ "keys": [other.jwk] }).to_string(),
    )
    .unwrap();
    let jwks_file = w.join("other.jwks").display().to_string();
    let (code, out) = evidence_verify(w, &jwks_file, &a.body, a.evidence()).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unknown kid"), "{out}");

    // A changed payload: the signature.
    let mut parts: Vec<&str> = a.evidence().split('.').collect();
    let mut forged = lienthong::evidence::unverified_claims(a.evidence()).unwrap();
    forged["status"] = json!(201);
    let forged = base64_url(forged.to_string().as_bytes());
    parts[1] = &forged;
    let (code, out) = evidence_verify(w, &url, &a.body, &parts.join(".")).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signature"), "{out}");

    // Nothing to check against: exit 2.
    let (code, out) = evidence_verify(
        w,
        &w.join("missing.jwks").display().to_string(),
        &a.body,
        a.evidence(),
    )
    .await;
    assert_eq!(code, 2, "{out}");
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn a_rotated_key_is_still_published_and_verifies_the_evidence_it_signed() {
    let s = setup().await;
    let h = &s.h;
    let before = get(h, "/v1/enterprises/0100233488").await;
    let old_kid = verified(h, &before).await;
    let old =
        h.gw.store
            .evidence_of_request(&before.request_id)
            .await
            .unwrap()[0]
            .clone();

    // Rotate to a P-256 key, the old one published from its public key file only.
    let dir = s.h.dir.path();
    key_files(dir, "b", &rcgen::PKCS_ECDSA_P256_SHA256);
    std::fs::write(
        &h.config_path,
        config_with(&s, &evidence_table(dir, "b.pem", &["a.pub.pem"])),
    )
    .unwrap();
    h.admin("/v1/admin/reload").await;
    let set: Value = serde_json::from_slice(&jwks(h).await).unwrap();
    let published: Vec<(&str, &str)> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["alg"].as_str().unwrap()))
        .collect();
    assert_eq!(published.len(), 2);
    assert_eq!(
        published[1],
        (old.kid.as_str(), "EdDSA"),
        "the old key stays published"
    );
    assert_eq!(published[0].1, "ES256", "the new key signs");

    let after = get(h, "/v1/enterprises/0100233488").await;
    let claims = verified(h, &after).await;
    assert_eq!(claims["iss"], old_kid["iss"]);
    let new_kid = &h
        .gw
        .store
        .evidence_of_request(&after.request_id)
        .await
        .unwrap()[0]
        .kid;
    assert_eq!(new_kid, published[0].0);
    verified(h, &before).await;

    // Once the old key is no longer published, its evidence cannot be checked: the kid says why.
    std::fs::write(
        &h.config_path,
        config_with(&s, &evidence_table(dir, "b.pem", &[])),
    )
    .unwrap();
    h.admin("/v1/admin/reload").await;
    let failure = verify(&jwks(h).await, before.evidence(), &before.body)
        .unwrap()
        .unwrap_err();
    assert_eq!(failure, Failure::UnknownKid(old.kid));
}

#[tokio::test]
async fn admins_read_the_evidence_of_a_request_back() {
    let s = setup().await;
    let h = &s.h;
    let a = post(h, "/v1/citizens/verify", &citizen("046090001234")).await;
    let path = format!("/v1/admin/evidence/{}", a.request_id);

    let resp = h.get(&path, "ops-key").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let found: Value = resp.json().await.unwrap();
    assert_eq!(found["request_id"], a.request_id);
    let records = found["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["evidence"], a.evidence());
    assert_eq!(r["client_id"], "clerk");
    assert_eq!(
        (r["service"].as_str(), r["operation"].as_str()),
        (Some("population"), Some("verify"))
    );
    assert_eq!(r["status"], 200);
    assert_eq!(r["res_sha256"], hex_sha256(&a.body));
    assert_eq!(r["claims"]["jti"], a.request_id);
    assert_eq!(r["claims"]["upstream_msg_id"], a.request_id);

    let resp = h.get(&path, "clerk-key").send().await.unwrap();
    common::problem(resp, 403, "forbidden").await;
    let resp = h
        .get("/v1/admin/evidence/never-signed", "ops-key")
        .send()
        .await
        .unwrap();
    common::problem(resp, 404, "not_found").await;
}

/// Records older than `evidence.retention_days` (30 here) go at a purge, younger ones stay (the
/// hourly schedule is tested on a paused clock in `app::workers`).
#[tokio::test]
async fn evidence_past_its_retention_is_purged_and_younger_evidence_stays() {
    let s = setup().await;
    let store = s.h.gw.store.clone();
    let day = 86_400_000;
    let now = lienthong::store::now_ms();
    let record = |request_id: &str, at_ms: i64| EvidenceRecord {
        request_id: request_id.into(),
        at_ms,
        client_id: "clerk".into(),
        service: "population".into(),
        operation: "verify".into(),
        status: 200,
        kid: "k".into(),
        req_sha256: "0".repeat(64),
        res_sha256: "0".repeat(64),
        evidence: "h.p.s".into(),
    };
    store
        .append_evidence(&record("old", now - 31 * day))
        .await
        .unwrap();
    store
        .append_evidence(&record("young", now - 29 * day))
        .await
        .unwrap();
    let fresh = get(&s.h, "/v1/enterprises/0100233488").await;

    assert_eq!(s.h.gw.purge_evidence().await, 1);
    assert!(store.evidence_of_request("old").await.unwrap().is_empty());
    assert_eq!(store.evidence_of_request("young").await.unwrap().len(), 1);
    assert_eq!(
        store
            .evidence_of_request(&fresh.request_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn demo_mode_signs_with_a_key_made_at_start_that_reloads_keep() {
    common::install_crypto();
    let mocks = lienthong_mocks::set::MocksConfig {
        ports: lienthong_mocks::set::Ports::any(),
        ..Default::default()
    };
    let set = lienthong_mocks::set::MockSet::start(&mocks).await.unwrap();
    let config = common::demo_config(&set);
    assert!(config.evidence.signing_key.is_none());
    let start = |config: lienthong::app::Config| async move {
        let store = lienthong::app::open_store(&config).await.unwrap();
        let source = lienthong::app::ConfigSource::Fixed(Box::new(config.clone()));
        lienthong::app::Gateway::new(config, source, store)
            .await
            .unwrap()
    };
    let gw = start(config.clone()).await;
    let listeners = lienthong::server::bind_all(&config.listeners)
        .await
        .unwrap();
    let server = lienthong::server::RunningServer::start(
        listeners,
        lienthong::router(gw.clone()),
        lienthong::server::ConnSettings::from_limits(&config.limits),
    );
    let base = format!("http://{}", server.addrs[0]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let jwks = || async {
        http.get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    };
    let resp = http
        .get(format!("{base}/v1/enterprises/0314409058"))
        .bearer_auth(lienthong::app::demo::PORTAL_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let evidence = resp.headers()["lienthong-evidence"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = resp.bytes().await.unwrap();
    let set_before = jwks().await;
    let ok = verify(&set_before, &evidence, &body).unwrap().unwrap();
    assert_eq!(
        (ok.alg.as_str(), ok.claims.iss.as_str()),
        ("EdDSA", "lienthong")
    );

    let resp = http
        .post(format!("{base}/v1/admin/reload"))
        .bearer_auth(lienthong::app::demo::ADMIN_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        jwks().await,
        set_before,
        "a reload keeps the key made at start"
    );
    verify(&jwks().await, &evidence, &body).unwrap().unwrap();

    // Another start makes another key.
    let other = start(config).await;
    assert_ne!(
        other.runtime().evidence.keys().signing().public().kid,
        ok.kid
    );
    server.shutdown().await;
}
