//! The `[evidence]` table.

use serde::Deserialize;

use crate::config::{ConfigError, SecretRef};

/// `[evidence]`: how registry answers are signed, and how long their records are kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceConfig {
    /// `iss` of every evidence token: the gateway's name as verifiers know it (default
    /// `lienthong`).
    pub issuer: String,
    /// The private key that signs evidence: PKCS#8 (PEM or DER), Ed25519 (EdDSA) or P-256
    /// (ES256), as `file:PATH` or `env:NAME`. Replicas share it. Absent: a key made at start,
    /// which dies with the process (demo mode; a warning otherwise).
    pub signing_key: Option<SecretRef>,
    /// Keys that signed evidence before a rotation: still published in the JWK Set, no longer
    /// used to sign. Each a PKCS#8 private key or a `PUBLIC KEY` (SubjectPublicKeyInfo), PEM or
    /// DER.
    pub previous_keys: Vec<SecretRef>,
    /// How long evidence records are kept in the store, in days (default 3650, at most 36500).
    pub retention_days: u32,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self {
            issuer: "lienthong".into(),
            signing_key: None,
            previous_keys: Vec::new(),
            retention_days: 3650,
        }
    }
}

impl EvidenceConfig {
    /// Checks the issuer and the retention (the keys are read when the gateway is built).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let issuer = &self.issuer;
        if issuer.is_empty()
            || issuer.len() > 256
            || issuer.chars().any(|c| c.is_control())
            || issuer.trim() != issuer
        {
            return Err(ConfigError::invalid(
                "evidence.issuer",
                "must be 1 to 256 characters, without control characters or surrounding spaces",
            ));
        }
        if !(1..=36_500).contains(&self.retention_days) {
            return Err(ConfigError::invalid(
                "evidence.retention_days",
                "must be between 1 and 36500 days",
            ));
        }
        Ok(())
    }

    /// The retention in milliseconds.
    pub fn retention_ms(&self) -> i64 {
        i64::from(self.retention_days) * 86_400_000
    }
}
