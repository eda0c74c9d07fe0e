//! Everything built from one config: the callers, every service of every kind, the guard's view
//! of them, the edge's settings and the audit keys. Immutable; a reload builds a new one.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::config::{Config, KindConfig, ServiceConfig};
use crate::audit::{ChainKey, ChainKeys, SubjectKey};
use crate::auth::Callers;
use crate::config::{AuditConfig, ConfigError, MIN_OWN_KEY_BYTES};
use crate::edge::EdgeSettings;
use crate::edge::guard::Targets;
use crate::evidence::Issuer;
use crate::incidents::notify::Notifier;
use crate::officials::OfficialVerifier;
use crate::refusals::CallbackRefusals;
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
    /// The verifier of officials' assertions, with `[officials]`.
    pub officials: Option<Arc<OfficialVerifier>>,
    /// The per-source limit and sampling of refused provider callbacks.
    pub refusals: Arc<CallbackRefusals>,
    /// The audit chain's keys, read and checked (the store and the checkpoints take theirs at
    /// start: a change needs a restart).
    pub chain_keys: ChainKeys,
    /// The signer of registry answers' evidence, with the keys the JWK Set publishes.
    pub evidence: Arc<Issuer>,
    /// How operators hear of incidents (`[notify]`).
    pub notifier: Arc<Notifier>,
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
            Some(k) => SubjectKey::new(k.resolve_key("audit.subject_key", MIN_OWN_KEY_BYTES)?),
            None => SubjectKey::new(ephemeral_key.to_vec()),
        };
        let officials = config
            .officials
            .as_ref()
            .map(|o| OfficialVerifier::build(o, &config.auth.issuer).map(Arc::new))
            .transpose()?;
        // A source over its limit stays so across a reload that does not change the limit.
        let refusals = previous
            .map(|p| p.refusals.clone())
            .filter(|r| r.config() == config.limits.refused_callbacks)
            .unwrap_or_else(|| Arc::new(CallbackRefusals::new(config.limits.refused_callbacks)));
        let chain_keys = chain_keys(&config.audit)?;
        // Without `evidence.signing_key`, an Ed25519 key made from the process's ephemeral key:
        // the same through reloads, gone with the process.
        let seed: [u8; 32] = Sha256::new()
            .chain_update(b"lienthong evidence key\0")
            .chain_update(ephemeral_key)
            .finalize()
            .into();
        let evidence = Issuer::build(&config.evidence, &seed)?;
        let notifier = Arc::new(Notifier::build(&config.notify)?);
        Ok(Runtime {
            notifier,
            officials,
            refusals,
            chain_keys,
            edge: Arc::new(EdgeSettings {
                limits: config.limits.clone(),
                access_log: config.telemetry.access_log,
                proxies: crate::server::TrustedProxies::new(&config.proxies.trusted),
            }),
            config,
            callers: Arc::new(callers),
            services,
            targets: Arc::new(targets),
            audit_key: Arc::new(audit_key),
            evidence: Arc::new(evidence),
        })
    }

    /// Fetches the officials' keys when they come from a URL; a failure is logged, and calls that
    /// need them answer 503 until a refresh succeeds.
    pub async fn fetch_official_keys(&self) {
        if let Some(verifier) = &self.officials
            && let Err(e) = verifier.refresh().await
        {
            tracing::warn!(error = %e, "the officials' keys could not be fetched; personal-data calls wait for them");
        }
    }

    /// The first service of a kind, as a type-erased handle.
    pub fn of_kind(&self, kind: &str) -> Option<Arc<dyn Any + Send + Sync>> {
        self.services
            .values()
            .find(|s| s.info().kind == kind)
            .map(|s| Arc::clone(s) as Arc<dyn Any + Send + Sync>)
    }
}

/// Reads `[audit] chain_key` and `retired_chain_keys`: each at least 32 bytes, no two the same.
pub fn chain_keys(audit: &AuditConfig) -> Result<ChainKeys, ConfigError> {
    let read = |key: String, secret: &crate::config::SecretRef| {
        secret
            .resolve()
            .and_then(ChainKey::new)
            .map(Arc::new)
            .map_err(|e| ConfigError::invalid(key, e))
    };
    let current = match &audit.chain_key {
        Some(k) => Some(read("audit.chain_key".to_owned(), k)?),
        None => None,
    };
    let mut retired: Vec<Arc<ChainKey>> = Vec::new();
    for (i, k) in audit.retired_chain_keys.iter().enumerate() {
        let key = format!("audit.retired_chain_keys[{i}]");
        let k = read(key.clone(), k)?;
        if current
            .iter()
            .chain(&retired)
            .any(|other| other.id() == k.id())
        {
            return Err(ConfigError::invalid(
                key,
                "the same key as another chain key",
            ));
        }
        retired.push(k);
    }
    Ok(ChainKeys::new(retired, current))
}

/// A worker's lookup of its kind's live service in the gateway's live runtime.
pub fn lookup<T: Send + Sync + 'static>(gw: &Arc<super::Gateway>, kind: &'static str) -> Lookup<T> {
    let gw = Arc::downgrade(gw);
    Lookup::new(move || gw.upgrade().and_then(|gw| gw.runtime().of_kind(kind)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::demo::{DemoUpstreams, config as demo_config};
    use crate::config::SecretRef;
    use crate::outbox::WebhookConfig;

    fn demo() -> Config {
        let any = "127.0.0.1:9".parse().unwrap_or_else(|_| unreachable!());
        demo_config(
            8080,
            DemoUpstreams {
                catalogue: any,
                population: any,
                enterprise: any,
                notary: any,
                vnpay: any,
                payment_platform: any,
                vnpost: any,
            },
        )
    }

    fn refusal(config: Config) -> String {
        match Runtime::build(config, None, &[7; 32]) {
            Ok(_) => "built".into(),
            Err(e) => e.to_string(),
        }
    }

    fn short(n: usize) -> SecretRef {
        SecretRef::inline(vec![b'k'; n])
    }

    /// Spoils the key named `key` of a demo config.
    fn spoil(c: &mut Config, key: &str) {
        let payments = c.payments.as_mut();
        match key {
            "payments.vnpay.merchants[0].hash_secret" => {
                if let Some(v) = payments.and_then(|p| p.vnpay.as_mut()) {
                    v.merchants[0].hash_secret = short(0);
                }
            }
            "payments.payment_platform.merchants[0].hash_key" => {
                if let Some(p) = payments.and_then(|p| p.payment_platform.as_mut()) {
                    p.merchants[0].hash_key = short(15);
                }
            }
            "payments.webhook.secret" => {
                if let Some(p) = payments {
                    p.webhook = Some(WebhookConfig {
                        url: "https://portal.example/hook".into(),
                        secret: short(31),
                        timeout_ms: 1000,
                        give_up_after_s: 60,
                        poll_interval_ms: 1000,
                    });
                }
            }
            "shipments.push_secret" => {
                if let Some(s) = c.shipments.as_mut() {
                    s.push_secret = Some(short(15));
                }
            }
            "audit.subject_key" => c.audit.subject_key = Some(short(31)),
            "auth.token_signing_key" => c.auth.token_signing_key = Some(short(31)),
            _ => c.auth.previous_signing_keys = vec![short(3)],
        }
    }

    /// An empty or short signing key is refused, naming the key and never its value: with an
    /// empty VNPay hash secret anyone could sign an IPN that marks a fee paid.
    #[test]
    fn empty_or_short_signing_keys_are_refused() {
        assert_eq!(refusal(demo()), "built");
        for key in [
            "payments.vnpay.merchants[0].hash_secret",
            "payments.payment_platform.merchants[0].hash_key",
            "payments.webhook.secret",
            "shipments.push_secret",
            "audit.subject_key",
            "auth.token_signing_key",
            "auth.previous_signing_keys[0]",
        ] {
            let mut config = demo();
            spoil(&mut config, key);
            let e = refusal(config);
            assert!(
                e.contains(&format!("`{key}`")) && e.contains("at least"),
                "{key}: {e}"
            );
            assert!(!e.contains("kkk"), "the value is never shown: {e}");
        }
    }
}
