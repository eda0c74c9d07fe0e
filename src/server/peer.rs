//! Client certificates (mTLS): what the gateway reads from a verified peer certificate, and how a
//! configured [`CertificateMatch`](crate::config::CertificateMatch) is compared with it.
//!
//! rustls has already verified the chain against `client_ca` when this runs; here we only identify.

use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The identifying parts of a verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// SHA-256 of the DER encoding.
    pub sha256: [u8; 32],
    /// Subject attributes as (short name, value), e.g. `("CN", "portal")`.
    pub subject: Vec<(String, String)>,
    /// Subject alternative names as `dns:…`, `uri:…`, `email:…`.
    pub sans: Vec<String>,
}

impl PeerCertificate {
    /// Reads a DER certificate. `None` when it cannot be parsed.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let sha256: [u8; 32] = Sha256::digest(der).into();
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut subject = Vec::new();
        for rdn in cert.subject().iter() {
            for attr in rdn.iter() {
                let oid = attr.attr_type().to_id_string();
                let name = short_name(&oid).map(str::to_owned).unwrap_or(oid);
                if let Ok(value) = attr.as_str() {
                    subject.push((name, value.to_owned()));
                }
            }
        }
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(d) => sans.push(format!("dns:{}", d.to_ascii_lowercase())),
                    GeneralName::URI(u) => sans.push(format!("uri:{u}")),
                    GeneralName::RFC822Name(e) => {
                        sans.push(format!("email:{}", e.to_ascii_lowercase()))
                    }
                    _ => {}
                }
            }
        }
        Some(Self {
            sha256,
            subject,
            sans,
        })
    }

    /// True when every `ATTR=value` pair of `pattern` (comma-separated, any order, attribute names
    /// case-insensitive) is in the subject.
    pub fn subject_matches(&self, pattern: &str) -> bool {
        let wanted = parse_dn(pattern);
        !wanted.is_empty()
            && wanted.iter().all(|(k, v)| {
                self.subject
                    .iter()
                    .any(|(sk, sv)| sk.eq_ignore_ascii_case(k) && sv == v)
            })
    }

    /// True when the certificate carries this SAN (`dns:` and `email:` compared case-insensitively).
    pub fn has_san(&self, san: &str) -> bool {
        let san = if san.starts_with("uri:") {
            san.to_owned()
        } else {
            san.to_ascii_lowercase()
        };
        self.sans.contains(&san)
    }
}

/// Splits `CN=a, O=b` into pairs. Backslash escapes a comma inside a value.
fn parse_dn(s: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.97" => "organizationIdentifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> PeerCertificate {
        let mut params = rcgen::CertificateParams::new(vec!["portal.example".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "portal");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "So TTTT, Hue");
        let key = rcgen::KeyPair::generate().unwrap();
        let c = params.self_signed(&key).unwrap();
        PeerCertificate::from_der(c.der()).unwrap()
    }

    #[test]
    fn subject_matching_is_by_attribute_set() {
        let c = cert();
        assert!(c.subject_matches("CN=portal"));
        assert!(c.subject_matches("o=So TTTT\\, Hue, CN=portal"));
        assert!(!c.subject_matches("CN=portal2"));
        assert!(!c.subject_matches(""));
    }

    #[test]
    fn san_matching() {
        let c = cert();
        assert!(c.has_san("dns:Portal.Example"));
        assert!(!c.has_san("dns:other.example"));
    }
}
