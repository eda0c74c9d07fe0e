//! Credential generation for `lienthong keys new`: random API keys and OAuth2 client secrets,
//! and the SHA-256 hash lines that go into the config (the config never holds the credential).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// What kind of credential to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CredentialKind {
    /// An API key, sent as `Authorization: Bearer <key>`.
    ApiKey,
    /// An OAuth2 client secret, for `POST /oauth/token`.
    ClientSecret,
}

/// A new random credential (256 bits) with a recognisable prefix.
pub fn generate(kind: CredentialKind) -> String {
    let bytes: [u8; 32] = rand::random();
    let prefix = match kind {
        CredentialKind::ApiKey => "ltk_",
        CredentialKind::ClientSecret => "lts_",
    };
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Lowercase hex SHA-256 of a credential, as the config stores it.
pub fn sha256_hex(credential: &str) -> String {
    hex::encode(Sha256::digest(credential.as_bytes()))
}

/// The config line for a credential's hash.
pub fn config_line(kind: CredentialKind, credential: &str) -> String {
    let hash = sha256_hex(credential);
    match kind {
        CredentialKind::ApiKey => format!("api_keys_sha256 = [\"{hash}\"]"),
        CredentialKind::ClientSecret => format!("client_secret_sha256 = \"{hash}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_lines_match() {
        let a = generate(CredentialKind::ApiKey);
        let b = generate(CredentialKind::ApiKey);
        assert_ne!(a, b);
        assert!(a.starts_with("ltk_") && a.len() == 4 + 43);
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(config_line(CredentialKind::ClientSecret, "abc").contains("ba7816bf"));
    }
}
