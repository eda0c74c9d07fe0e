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
