//! The gateway's shared state: the live [`Runtime`] built from the config (swapped atomically on
//! reload), the store, the suspended-client set and the metrics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::auth::jwt::TokenService;
use crate::cluster::Cluster;
use crate::config::{Config, ConfigError, Role};
use crate::proxy::Service;
use crate::ratelimit::{ClientLimiter, SharedSettings};
use crate::store::Store;
use crate::telemetry::metrics::Metrics;

/// What a client may call within one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOps {
    /// Every operation of the service.
    All,
    /// Only these operations.
    Some(HashSet<String>),
}

/// A configured client, ready for per-request checks.
pub struct ClientEntry {
    /// Client id.
    pub id: Arc<str>,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// SHA-256 of the OAuth2 client secret.
    pub secret_sha256: Option<[u8; 32]>,
    /// Allowed operations per service name.
    pub allow: HashMap<String, AllowedOps>,
    /// Rate limiter, when the client has a limit.
    pub limiter: Option<Arc<ClientLimiter>>,
}

impl ClientEntry {
    /// Whether this client may call `operation` of `service` (deny by default).
    pub fn may_call(&self, service: &str, operation: &str) -> bool {
        match self.allow.get(service) {
            Some(AllowedOps::All) => true,
            Some(AllowedOps::Some(ops)) => ops.contains(operation),
            None => false,
        }
    }
}

/// Everything derived from one config. Immutable; a reload builds a new one.
pub struct Runtime {
    /// The config it was built from.
    pub config: Config,
    /// Clients by id.
    pub clients: HashMap<String, Arc<ClientEntry>>,
    /// Credential lookup tables.
    pub credentials: crate::auth::CredentialIndex,
    /// Access-token issuer and verifier.
    pub tokens: TokenService,
    /// Pass-through services by name.
    pub services: BTreeMap<String, Arc<Service>>,
    /// The notary records service, if configured.
    pub notary: Option<Arc<crate::registry::notary::NotaryService>>,
    /// The enterprise registry service, if configured.
    pub enterprise: Option<Arc<crate::registry::enterprise::EnterpriseService>>,
    /// The population database service, if configured.
    pub population: Option<Arc<crate::registry::population::PopulationService>>,
    /// Keyed hash of citizen IDs for the audit trail.
    pub audit_key: crate::audit::SubjectKey,
    /// Fee payments, if configured.
    pub payments: Option<Arc<crate::payments::PaymentsService>>,
    /// Shipments by public postal service, if configured.
    pub shipments: Option<Arc<crate::shipments::ShipmentsService>>,
}

/// Where the config comes from, for reloads.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A file, read again on reload.
    File(PathBuf),
    /// Built in code (demo mode, tests): reload re-validates the same config.
    Fixed(Box<Config>),
}

/// A runtime build failure (a secret that cannot be read, a CA bundle that cannot be parsed…).
pub type BuildError = ConfigError;

impl Runtime {
    /// Builds a runtime from a validated config, keeping the previous runtime's rate-limiter state
    /// for clients whose quota did not change.
    pub fn build(
        config: Config,
        previous: Option<&Runtime>,
        ephemeral_key: &[u8],
    ) -> Result<Runtime, BuildError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: key.to_owned(),
            reason,
        };
        let mut keys = Vec::new();
        match &config.auth.token_signing_key {
            Some(k) => keys.push(
                k.resolve()
                    .map_err(|e| invalid("auth.token_signing_key", e))?,
            ),
            None => keys.push(ephemeral_key.to_vec()),
        }
        for (i, k) in config.auth.previous_signing_keys.iter().enumerate() {
            keys.push(
                k.resolve()
                    .map_err(|e| invalid(&format!("auth.previous_signing_keys[{i}]"), e))?,
            );
        }
        let tokens = TokenService::new(
            keys,
            &config.auth.issuer,
            Duration::from_secs(config.auth.token_lifetime_s),
        )
        .map_err(|e| invalid("auth.token_signing_key", e))?;

        let mut services = BTreeMap::new();
        let mut population = None;
        let mut enterprise = None;
        let mut notary = None;
        let mut payments = None;
        let mut shipments = None;
        for (name, svc) in &config.services {
            match svc.kind {
                crate::config::ServiceKind::Passthrough => {
                    let built = Service::build(name, svc)
                        .map_err(|e| invalid(&format!("services.{name}"), e))?;
                    services.insert(name.clone(), Arc::new(built));
                }
                crate::config::ServiceKind::Notary => {
                    let built = crate::registry::notary::NotaryService::build(name, svc)?;
                    notary = Some(Arc::new(built));
                }
                crate::config::ServiceKind::Enterprise => {
                    let built = crate::registry::enterprise::EnterpriseService::build(name, svc)?;
                    enterprise = Some(Arc::new(built));
                }
                crate::config::ServiceKind::Population => {
                    let built = crate::registry::population::PopulationService::build(name, svc)?;
                    population = Some(Arc::new(built));
                }
                crate::config::ServiceKind::Payments => {
                    let cfg = config
                        .payments
                        .as_ref()
                        .ok_or_else(|| invalid("payments", "required".into()))?;
                    let built = crate::payments::PaymentsService::build(name, svc, cfg)?;
                    payments = Some(Arc::new(built));
                }
                crate::config::ServiceKind::Shipments => {
                    let cfg = config
                        .shipments
                        .as_ref()
                        .ok_or_else(|| invalid("shipments", "required".into()))?;
                    let built = crate::shipments::ShipmentsService::build(name, svc, cfg)?;
                    shipments = Some(Arc::new(built));
                }
            }
        }
        let audit_key = match &config.audit.subject_key {
            Some(k) => crate::audit::SubjectKey::new(
                k.resolve().map_err(|e| invalid("audit.subject_key", e))?,
            ),
            None => crate::audit::SubjectKey::new(ephemeral_key.to_vec()),
        };

        let mut clients = HashMap::new();
        for c in &config.clients {
            let limiter = c.rate_limit.map(|rl| {
                // Client ids are configured names (letters, digits, `-_.`), never personal data.
                let shared = config.redis.as_ref().map(|r| SharedSettings {
                    key: format!("{}ratelimit:{}", r.key_prefix, c.id),
                    replicas: r.replicas,
                });
                previous
                    .and_then(|p| p.clients.get(&c.id))
                    .and_then(|old| old.limiter.clone())
                    .filter(|old| old.config() == rl && old.shared_settings() == shared.as_ref())
                    .unwrap_or_else(|| Arc::new(ClientLimiter::new(rl, shared)))
            });
            let mut allow: HashMap<String, AllowedOps> = HashMap::new();
            for rule in &c.allow {
                let entry = allow
                    .entry(rule.service.clone())
                    .or_insert_with(|| AllowedOps::Some(HashSet::new()));
                if rule.operations.iter().any(|o| o == "*") {
                    *entry = AllowedOps::All;
                } else if let AllowedOps::Some(set) = entry {
                    set.extend(rule.operations.iter().cloned());
                }
            }
            clients.insert(
                c.id.clone(),
                Arc::new(ClientEntry {
                    id: Arc::from(c.id.as_str()),
                    name: c.name.clone(),
                    role: c.role,
                    secret_sha256: c
                        .client_secret_sha256
                        .as_deref()
                        .and_then(crate::config::parse_sha256_hex),
                    allow,
                    limiter,
                }),
            );
        }
        let credentials = crate::auth::CredentialIndex::build(&config);
        Ok(Runtime {
            config,
            clients,
            credentials,
            tokens,
            services,
            population,
            enterprise,
            notary,
            audit_key,
            payments,
            shipments,
        })
    }
}

/// The gateway: shared by every request and background task.
pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    /// Durable state.
    pub store: Arc<dyn Store>,
    suspended: ArcSwap<HashSet<String>>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Redis shared with the other replicas, when `[redis]` is configured.
    pub cluster: Option<Arc<Cluster>>,
    source: ConfigSource,
    /// Signs tokens when the config names no key; lives as long as the process.
    ephemeral_key: Vec<u8>,
    reload_lock: tokio::sync::Mutex<()>,
    /// When the gateway started.
    pub started: Instant,
}

impl Gateway {
    /// Builds the gateway from a validated config and an opened store, loading the suspended set.
    pub async fn new(
        config: Config,
        source: ConfigSource,
        store: Arc<dyn Store>,
    ) -> Result<Arc<Gateway>, anyhow::Error> {
        let ephemeral_key: Vec<u8> = (0..48).map(|_| rand::random::<u8>()).collect();
        if config.auth.token_signing_key.is_none() {
            tracing::warn!(
                "auth.token_signing_key is not set: access tokens are signed with a random key and die with this process"
            );
        }
        let metrics = Arc::new(Metrics::new());
        let cluster = match &config.redis {
            Some(redis) => {
                let cluster = Cluster::new(redis, metrics.clone())?;
                // Connect now so that the first requests already share limits; if Redis does not
                // answer, the gateway starts anyway and the background probe keeps trying.
                cluster.probe().await;
                crate::cluster::events::catch_up(&cluster, store.as_ref()).await?;
                Some(cluster)
            }
            None => None,
        };
        let runtime = Runtime::build(config, None, &ephemeral_key)?;
        let suspended: HashSet<String> = store.suspended_clients().await?.into_iter().collect();
        let gw = Arc::new(Gateway {
            runtime: ArcSwap::from_pointee(runtime),
            store,
            suspended: ArcSwap::from_pointee(suspended),
            metrics,
            cluster,
            source,
            ephemeral_key,
            reload_lock: tokio::sync::Mutex::new(()),
            started: Instant::now(),
        });
        crate::cluster::events::start(&gw).await;
        Ok(gw)
    }

    /// The live runtime. Cheap; hold it for the length of one request.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Whether a client is suspended right now.
    pub fn is_suspended(&self, client_id: &str) -> bool {
        self.suspended.load().contains(client_id)
    }

    /// Replaces the in-memory suspended set (after a store change).
    pub fn set_suspended_local(&self, client_id: &str, suspended: bool) {
        self.suspended.rcu(|cur| {
            let mut next = HashSet::clone(cur);
            if suspended {
                next.insert(client_id.to_owned());
            } else {
                next.remove(client_id);
            }
            next
        });
    }

    /// Reads the suspended set from the store again (it may have been changed by another replica).
    /// Returns whether it changed.
    pub async fn refresh_suspensions(&self) -> Result<bool, crate::store::StoreError> {
        let fresh: HashSet<String> = self.store.suspended_clients().await?.into_iter().collect();
        if **self.suspended.load() == fresh {
            return Ok(false);
        }
        self.suspended.store(Arc::new(fresh));
        Ok(true)
    }

    /// Drops every cached registry reply held in this process (a shared tier is purged by the purge
    /// generation, see [`crate::cluster::events::record`]). Returns the names of the services whose
    /// cache was purged.
    pub fn purge_caches(&self) -> Vec<String> {
        let runtime = self.runtime();
        let mut purged = Vec::new();
        if let Some(e) = &runtime.enterprise
            && e.purge()
        {
            purged.push(e.name.to_string());
        }
        if let Some(p) = &runtime.population
            && p.purge()
        {
            purged.push(p.name.to_string());
        }
        purged
    }

    /// Re-reads and validates the config and swaps it in atomically. On any error the running config
    /// stays and the error says why. Returns notes on settings that need a restart to change.
    pub async fn reload(&self) -> Result<Vec<String>, ConfigError> {
        let _guard = self.reload_lock.lock().await;
        let config = match &self.source {
            ConfigSource::File(path) => Config::load(path)?,
            ConfigSource::Fixed(c) => {
                c.validate()?;
                (**c).clone()
            }
        };
        let current = self.runtime.load_full();
        let mut notes = Vec::new();
        if config.listeners != current.config.listeners {
            notes.push("listeners changed: restart to apply".to_owned());
        }
        if config.store != current.config.store {
            notes.push("store changed: restart to apply".to_owned());
        }
        if config.telemetry != current.config.telemetry {
            notes.push("telemetry changed: restart to apply".to_owned());
        }
        let mut config = config;
        if config.redis != current.config.redis {
            // The connection, the key prefix and the replica count go together: all or nothing.
            notes.push("redis changed: restart to apply".to_owned());
            config.redis = current.config.redis.clone();
        }
        let runtime = Runtime::build(config, Some(&current), &self.ephemeral_key)?;
        self.runtime.store(Arc::new(runtime));
        Ok(notes)
    }
}
