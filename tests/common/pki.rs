//! A test PKI made with rcgen: a CA and leaf certificates signed by it.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

pub struct Pki {
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
}

pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

pub fn ca() -> (Pki, CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Test CA");
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (
        Pki {
            ca_pem: cert.pem(),
            ca_der: cert.der().to_vec(),
        },
        params,
        key,
    )
}

pub fn leaf(issuer: &Issuer<'_, KeyPair>, sans: &[&str], cn: &str) -> Leaf {
    leaf_with(issuer, sans, cn, |_| {})
}

pub fn leaf_with(
    issuer: &Issuer<'_, KeyPair>,
    sans: &[&str],
    cn: &str,
    adjust: impl FnOnce(&mut CertificateParams),
) -> Leaf {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    adjust(&mut params);
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "So TTTT");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// A rustls client config trusting `pki`'s CA, presenting `identity` when given.
pub fn client_tls(pki: &Pki, identity: Option<&Leaf>) -> rustls::ClientConfig {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(pki.ca_der.clone()))
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    match identity {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![rustls_pki_types::CertificateDer::from(leaf.der.clone())],
                rustls_pki_types::PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}
