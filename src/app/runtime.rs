//! Everything built from one config: the callers, every service of every kind, the guard's view
//! of them, the edge's settings and the audit key. Immutable; a reload builds a new one.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::config::{Config, KindConfig, ServiceConfig};
use crate::audit::SubjectKey;
use crate::auth::Callers;
use crate::config::ConfigError;
use crate::edge::EdgeSettings;
use crate::edge::guard::Targets;
use crate::evidence::Issuer;
use crate::services::enterprise::EnterpriseService;
use crate::services::notary::NotaryService;
use crate::services::passthrough::PassthroughService;
use crate::services::payments::PaymentsService;
use crate::services::population::PopulationService;
use crate::services::shipments::ShipmentsService;
use crate::services::{Lookup, Service};

/// Everything derived from one config.
pub struct Runtime {
    /// The config it was built from.
    pub config: Config,
    /// Clients, credentials, tokens.
    pub callers: Arc<Callers>,
    /// Every service by name.
    pub services: BTreeMap<String, Arc<dyn Service>>,
    /// The services as the edge's guard sees them.
    pub targets: Arc<Targets>,
    /// Limits and the access-log switch.
    pub edge: Arc<EdgeSettings>,
    /// Keyed hash of citizen IDs for the audit trail.
    pub audit_key: Arc<SubjectKey>,
    /// The signer of registry answers' evidence, with the keys the JWK Set publishes.
    pub evidence: Arc<Issuer>,
}

/// A runtime build failure (a secret that cannot be read, a CA bundle that cannot be parsed…).
pub type BuildError = ConfigError;

/// Builds the service of one `[services.NAME]` table.
fn build_service(
    name: &str,
    service: &ServiceConfig,
    config: &Config,
) -> Result<Arc<dyn Service>, BuildError> {
    let upstream = &service.upstream;
    let required = |table: &str| ConfigError::invalid(table, "required");
    Ok(match &service.kind {
        KindConfig::Passthrough(p) => Arc::new(PassthroughService::build(name, upstream, p)?),
        KindConfig::Population(p) => Arc::new(PopulationService::build(name, upstream, p)?),
        KindConfig::Enterprise(e) => Arc::new(EnterpriseService::build(name, upstream, e)?),
        KindConfig::Notary(n) => Arc::new(NotaryService::build(name, upstream, n)?),
        KindConfig::Payments(_) => {
            let settings = config
                .payments
                .as_ref()
                .ok_or_else(|| required("payments"))?;
            Arc::new(PaymentsService::build(name, upstream, settings)?)
        }
        KindConfig::Shipments(s) => {
            let settings = config
                .shipments
                .as_ref()
                .ok_or_else(|| required("shipments"))?;
            Arc::new(ShipmentsService::build(name, upstream, s, settings)?)
        }
    })
}

impl Runtime {
    /// Builds a runtime from a validated config, keeping the previous runtime's rate-limiter state
    /// for clients whose quota did not change.
    pub fn build(
        config: Config,
        previous: Option<&Runtime>,
        ephemeral_key: &[u8],
    ) -> Result<Runtime, BuildError> {
        let callers = Callers::build(
            &config.auth,
            &config.clients,
            config.redis.as_ref(),
            previous.map(|p| p.callers.as_ref()),
            ephemeral_key,
        )?;
        let mut services = BTreeMap::new();
        let mut targets = Targets::default();
        for (name, service) in &config.services {
            let built = build_service(name, service, &config)?;
            targets.insert(built.clone());
            services.insert(name.clone(), built);
        }
        let audit_key = match &config.audit.subject_key {
            Some(k) => SubjectKey::new(
                k.resolve()
                    .map_err(|e| ConfigError::invalid("audit.subject_key", e))?,
            ),
            None => SubjectKey::new(ephemeral_key.to_vec()),
        };
        // Without `evidence.signing_key`, an Ed25519 key made from the process's ephemeral key:
        // the same through reloads, gone with the process.
        let seed: [u8; 32] = Sha256::new()
            .chain_update(b"lienthong evidence key\0")
            .chain_update(ephemeral_key)
            .finalize()
            .into();
        let evidence = Issuer::build(&config.evidence, &seed)?;
        Ok(Runtime {
            edge: Arc::new(EdgeSettings {
                limits: config.limits.clone(),
                access_log: config.telemetry.access_log,
            }),
            config,
            callers: Arc::new(callers),
            services,
            targets: Arc::new(targets),
            audit_key: Arc::new(audit_key),
            evidence: Arc::new(evidence),
        })
    }

    /// The first service of a kind, as a type-erased handle.
    pub fn of_kind(&self, kind: &str) -> Option<Arc<dyn Any + Send + Sync>> {
        self.services
            .values()
            .find(|s| s.info().kind == kind)
            .map(|s| Arc::clone(s) as Arc<dyn Any + Send + Sync>)
    }
}

/// A worker's lookup of its kind's live service in the gateway's live runtime.
pub fn lookup<T: Send + Sync + 'static>(gw: &Arc<super::Gateway>, kind: &'static str) -> Lookup<T> {
    let gw = Arc::downgrade(gw);
    Lookup::new(move || gw.upgrade().and_then(|gw| gw.runtime().of_kind(kind)))
}
