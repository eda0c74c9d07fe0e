//! Client certificates to upstreams (mTLS southbound): a TLS front that requires a client
//! certificate signed by its CA stands before the registry and catalogue mocks; the gateway, given
//! `client_cert` / `client_key` and the front's CA in `ca_bundle`, gets through, and without a
//! certificate it does not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::pki::{Leaf, ca, leaf};
use rcgen::Issuer;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// What the TLS front saw: the common name of every client certificate it accepted, and how many
/// handshakes it refused.
#[derive(Default)]
struct Seen {
    accepted: Vec<String>,
    refused: usize,
}

/// Serves TLS on 127.0.0.1:0, requiring a client certificate signed by `ca_pem`, and forwards
/// every accepted connection to `backend`.
async fn tls_front(
    server: &Leaf,
    ca_pem: &str,
    backend: SocketAddr,
) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server.der.clone())],
            PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                let mut tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(_) => {
                        record.lock().unwrap().refused += 1;
                        return;
                    }
                };
                let peer = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
                let (_, cert) = x509_parser::parse_x509_certificate(&peer).unwrap();
                let cn = cert
                    .subject()
                    .iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                record.lock().unwrap().accepted.push(cn);
                let mut upstream = TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn the_client_certificate_gets_the_gateway_through_a_front_that_requires_one() {
    common::install_crypto();
    let (pki, ca_params, ca_key) = ca();
    let issuer = Issuer::new(ca_params, ca_key);
    let server = leaf(&issuer, &["127.0.0.1"], "registry-front");
    let gateway_cert = leaf(&issuer, &[], "lienthong-gateway");

    let registry = common::enterprise_registry(&Default::default()).await;
    let catalogue = common::catalogue_mock().await;
    let (registry_front, registry_seen) = tls_front(&server, &pki.ca_pem, registry.mock.addr).await;
    let (catalogue_front, catalogue_seen) = tls_front(&server, &pki.ca_pem, catalogue.addr).await;

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("token.key"), common::TOKEN_KEY).unwrap();
    std::fs::write(p.join("ngsp.secret"), "demo-ngsp-secret").unwrap();
    std::fs::write(p.join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(p.join("client.pem"), &gateway_cert.cert_pem).unwrap();
    std::fs::write(p.join("client.key"), &gateway_cert.key_pem).unwrap();
    let d = p.display();
    let tls_keys = format!(
        "ca_bundle = \"{d}/ca.pem\"\nclient_cert = \"{d}/client.pem\"\nclient_key = \"file:{d}/client.key\""
    );
    let extra = format!(
        r#"
[[clients]]
id = "agency"
api_keys_sha256 = ["{key}"]
allow = [
  {{ service = "enterprise", operations = ["lookup"] }},
  {{ service = "securecat", operations = ["*"] }},
  {{ service = "nocert", operations = ["*"] }},
]

[services.enterprise]
kind = "enterprise"
base_url = "https://{registry_front}"
cache = {{ ttl_s = 0 }}
enterprise = {{ client_id = "demo-ngsp-key", client_secret = "file:{d}/ngsp.secret" }}
{tls_keys}

[services.securecat]
kind = "passthrough"
base_url = "https://{catalogue_front}"
routes = [{{ operation = "list", methods = ["GET"], path = "/procedures" }}]
{tls_keys}

[services.nocert]
kind = "passthrough"
base_url = "https://{catalogue_front}"
ca_bundle = "{d}/ca.pem"
routes = [{{ operation = "list", methods = ["GET"], path = "/procedures" }}]
"#,
        key = lienthong::keys::sha256_hex("agency-key"),
    );
    let text = common::config_text(&catalogue.url(), p, &extra);
    let path = p.join("lienthong.toml");
    std::fs::write(&path, text).unwrap();
    let h = common::start_with(catalogue, dir, path).await;

    // The registry adapter (token request and lookup) over mTLS.
    let resp = h
        .get("/v1/enterprises/0100233488", "agency-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        !registry_seen.lock().unwrap().accepted.is_empty()
            && registry_seen
                .lock()
                .unwrap()
                .accepted
                .iter()
                .all(|cn| cn == "lienthong-gateway")
    );
    // A pass-through service over mTLS.
    let resp = h
        .get("/v1/proxy/securecat/procedures", "agency-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        catalogue_seen.lock().unwrap().accepted,
        ["lienthong-gateway"]
    );
    // Without a certificate the front refuses the handshake.
    let resp = h
        .get("/v1/proxy/nocert/procedures", "agency-key")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert_eq!(catalogue_seen.lock().unwrap().refused, 1);
    assert_eq!(catalogue_seen.lock().unwrap().accepted.len(), 1);
}
