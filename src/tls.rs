//! TLS with rustls (ring provider): server configs for HTTPS listeners, with optional client
//! certificate verification, and client configs for HTTPS upstreams, with an optional client
//! certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{ClientAuthMode, TlsConfig, UpstreamConfig};

/// The crypto provider used everywhere.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: bad PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(certs)
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| format!("{}: unusable CA certificate: {e}", path.display()))?;
    }
    Ok(roots)
}

/// Builds the rustls server config of an HTTPS listener (ALPN h2 and http/1.1).
pub fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, String> {
    let certs = load_certs(&tls.cert)?;
    let key_pem = tls.key.resolve()?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("tls.key: no usable PEM private key: {e}"))?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let roots = Arc::new(load_roots(ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = match tls.client_auth {
                ClientAuthMode::Optional => verifier.allow_unauthenticated(),
                ClientAuthMode::Required => verifier,
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("tls.client_ca: {e}"))?,
            )
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls: certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client config for HTTPS peers with public certificates and no client certificate (e.g. the
/// portal's webhook).
pub fn public_client_config() -> Result<ClientConfig, String> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth())
}

/// Builds the rustls client config for an HTTPS upstream: its own CA bundle (`ca_bundle`) or the
/// public web roots, and the client certificate (`client_cert`, `client_key`) when one is
/// configured. A failure names the service key at fault.
pub fn upstream_client_config(
    service: &UpstreamConfig,
) -> Result<ClientConfig, (&'static str, String)> {
    let roots = match &service.ca_bundle {
        Some(path) => load_roots(path).map_err(|e| ("ca_bundle", e))?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ("ca_bundle", e.to_string()))?
        .with_root_certificates(roots);
    match (&service.client_cert, &service.client_key) {
        (Some(cert), Some(key)) => {
            let chain = load_certs(cert).map_err(|e| ("client_cert", e))?;
            let pem = key.resolve().map_err(|e| ("client_key", e))?;
            let key = PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| ("client_key", format!("no usable PEM private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ("client_key", format!("does not fit client_cert: {e}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}
