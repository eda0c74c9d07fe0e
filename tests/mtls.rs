//! Client certificates over a real TLS listener: mapped by subject, fingerprint or SAN; unknown
//! certificates refused; other credentials still work where certificates are optional.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pki::{Leaf, Pki, ca, client_tls, leaf, leaf_with};
use rcgen::Issuer;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn client(pki: &Pki, identity: Option<&Leaf>) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_backend_preconfigured(client_tls(pki, identity))
        .build()
        .unwrap()
}

#[tokio::test]
async fn client_certificates_identify_clients() {
    common::install_crypto();
    let (pki, ca_params, ca_key) = ca();
    let issuer = Issuer::new(ca_params, ca_key);
    let server = leaf(&issuer, &["localhost", "127.0.0.1"], "lienthong");
    let by_subject = leaf(&issuer, &[], "portal-cert");
    let by_fingerprint = leaf(&issuer, &[], "some-agency");
    let by_san = leaf(&issuer, &["agency.example"], "agency");
    let stranger = leaf(&issuer, &[], "stranger");
    let expired = leaf_with(&issuer, &[], "portal-cert", |p| {
        p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
        p.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    });
    let (rogue_pki, rogue_params, rogue_key) = ca();
    let rogue = leaf(&Issuer::new(rogue_params, rogue_key), &[], "portal-cert");
    drop(rogue_pki);

    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("token.key"), common::TOKEN_KEY).unwrap();
    std::fs::write(p.join("server.crt"), &server.cert_pem).unwrap();
    std::fs::write(p.join("server.key"), &server.key_pem).unwrap();
    std::fs::write(p.join("ca.crt"), &pki.ca_pem).unwrap();
    let fingerprint = hex::encode(Sha256::digest(&by_fingerprint.der));
    let extra = format!(
        r#"
[[clients]]
id = "by-subject"
certificates = [{{ subject = "CN=portal-cert, O=So TTTT" }}]
[[clients]]
id = "by-fingerprint"
certificates = [{{ sha256 = "{fingerprint}" }}]
[[clients]]
id = "by-san"
certificates = [{{ san = "dns:agency.example" }}]
"#
    );
    let text = common::config_text(&upstream.url(), p, &extra).replacen(
        "plain_http = true",
        &format!(
            "tls = {{ cert = \"{d}/server.crt\", key = \"file:{d}/server.key\", client_ca = \"{d}/ca.crt\", client_auth = \"optional\" }}",
            d = p.display()
        ),
        1,
    );
    let config_path = p.join("lienthong.toml");
    std::fs::write(&config_path, text).unwrap();
    let h = common::start_with(upstream, dir, config_path).await;
    let url = h.url("/v1/services").replace("127.0.0.1", "localhost");

    for (leaf, expected) in [
        (&by_subject, "by-subject"),
        (&by_fingerprint, "by-fingerprint"),
        (&by_san, "by-san"),
    ] {
        let resp = client(&pki, Some(leaf)).get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{expected}");
        assert_eq!(resp.json::<Value>().await.unwrap()["client_id"], expected);
    }
    // Signed by our CA but mapped to no client.
    let resp = client(&pki, Some(&stranger))
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // No certificate: other credentials still work because certificates are optional here.
    assert_eq!(
        client(&pki, None).get(&url).send().await.unwrap().status(),
        401
    );
    assert_eq!(
        client(&pki, None)
            .get(&url)
            .bearer_auth("portal-key")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A certificate from another CA, or an expired one, fails the handshake whatever its subject says.
    assert!(client(&pki, Some(&rogue)).get(&url).send().await.is_err());
    assert!(client(&pki, Some(&expired)).get(&url).send().await.is_err());
}
