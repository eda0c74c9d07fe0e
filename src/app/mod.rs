//! The composition root: the only code that names every service kind. It reads the config
//! ([`config`]), builds the live runtime from it ([`runtime`]), assembles the router with every
//! route tagged for the edge's guard ([`router`]), runs reloads and cache purges (here and, with
//! Redis, on every replica), starts the background workers ([`workers`]), watches the upstreams
//! and keeps their incidents and maintenance windows ([`incidents`]), and serves the operator
//! endpoints ([`admin`], [`ops`]) and the operator console ([`console`]).
//!
//! Nothing below this module imports it: the edge, the kinds and the shared machinery receive
//! small handles ([`crate::services::ServiceState`], [`crate::edge::guard::GuardState`],
//! [`crate::auth::AuthState`]) cut from the [`Gateway`] here.

pub mod admin;
pub mod config;
pub mod console;
pub mod demo;
pub mod docs;
pub mod inbox;
pub mod incidents;
pub mod lint;
pub mod ops;
pub mod problems;
pub mod router;
pub mod runtime;
pub mod workers;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use arc_swap::ArcSwap;

use crate::audit::SubjectKey;
use crate::audit::checkpoint::CheckpointWriter;
use crate::auth::{AuthState, Callers, Suspensions};
use crate::cluster::Cluster;
use crate::cluster::events::{self, ChangeEvent, Replica};
use crate::config::ConfigError;
use crate::edge::EdgeSettings;
use crate::edge::guard::{GuardState, Targets};
use crate::edge::maintenance::MaintenanceBoard;
use crate::evidence::Issuer;
use crate::officials::OfficialVerifier;
use crate::refusals::CallbackRefusals;
use crate::services::ServiceState;
use crate::store::{Store, StoreError};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::usage::UsageTally;

pub use config::{Config, KindConfig, ServiceConfig};
pub use router::{App, router, router_for};
pub use runtime::Runtime;

/// Where the config comes from, for reloads.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A file, read again on reload.
    File(PathBuf),
    /// Built in code (demo mode, tests): reload re-validates the same config.
    Fixed(Box<Config>),
}

/// The live parts of a runtime that the edge, the kinds and the token endpoint read, each
/// swapped on reload.
struct LiveCells {
    callers: Arc<ArcSwap<Callers>>,
    targets: Arc<ArcSwap<Targets>>,
    edge: Arc<ArcSwap<EdgeSettings>>,
    audit_key: Arc<ArcSwap<SubjectKey>>,
    officials: Arc<ArcSwap<Option<Arc<OfficialVerifier>>>>,
    refusals: Arc<ArcSwap<CallbackRefusals>>,
    evidence: Arc<ArcSwap<Issuer>>,
}

impl LiveCells {
    fn new(runtime: &Runtime) -> Self {
        Self {
            callers: Arc::new(ArcSwap::new(runtime.callers.clone())),
            targets: Arc::new(ArcSwap::new(runtime.targets.clone())),
            edge: Arc::new(ArcSwap::new(runtime.edge.clone())),
            audit_key: Arc::new(ArcSwap::new(runtime.audit_key.clone())),
            officials: Arc::new(ArcSwap::from_pointee(runtime.officials.clone())),
            refusals: Arc::new(ArcSwap::new(runtime.refusals.clone())),
            evidence: Arc::new(ArcSwap::new(runtime.evidence.clone())),
        }
    }

    fn store(&self, runtime: &Runtime) {
        self.callers.store(runtime.callers.clone());
        self.targets.store(runtime.targets.clone());
        self.edge.store(runtime.edge.clone());
        self.audit_key.store(runtime.audit_key.clone());
        self.officials.store(Arc::new(runtime.officials.clone()));
        self.refusals.store(runtime.refusals.clone());
        self.evidence.store(runtime.evidence.clone());
    }
}

/// With Redis, makes every registry upstream's outbound rate cap the whole deployment's (one
/// Redis key per service, shared by the replicas; see `resilience::limits`).
fn share_outbound_rates(runtime: &Runtime, cluster: Option<&Arc<Cluster>>) {
    let Some(cluster) = cluster else {
        return;
    };
    for service in runtime.services.values() {
        if let Some(guard) = service.upstream_guard() {
            guard.share_with(cluster);
        }
    }
}

/// The gateway: shared by every request and background task.
pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    cells: LiveCells,
    /// Durable state.
    pub store: Arc<dyn Store>,
    suspensions: Arc<Suspensions>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Usage counted by the edge and not yet added into the store (see [`Gateway::flush_usage`]).
    pub usage: Arc<UsageTally>,
    /// Redis shared with the other replicas, when `[redis]` is configured.
    pub cluster: Option<Arc<Cluster>>,
    source: ConfigSource,
    /// Signs tokens when the config names no key; lives as long as the process.
    ephemeral_key: Vec<u8>,
    reload_lock: tokio::sync::Mutex<()>,
    /// Where signed checkpoints of the audit chain go (`[audit] checkpoint_file`), opened at start.
    audit_checkpoints: Option<Arc<Mutex<CheckpointWriter>>>,
    /// When the gateway started.
    pub started: Instant,
    /// What the probes said of each upstream, in this process.
    watch: crate::incidents::watch::Watch,
    /// The services an operator paused, read from the store.
    pub maintenance: Arc<MaintenanceBoard>,
    /// The incidents open now and those closed lately, as last read from the store.
    recent_incidents: ArcSwap<Vec<crate::store::Incident>>,
    /// Demo mode's webhook inbox (`/v1/demo/*`), opened before the routers are made.
    demo_inbox: std::sync::OnceLock<Arc<inbox::Inbox>>,
    /// The operator console's sessions in this process.
    pub console: console::Sessions,
}

/// Opens the configured store, appending audit records keyed with `[audit] chain_key`: how a
/// gateway opens its store.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, anyhow::Error> {
    let keys = runtime::chain_keys(&config.audit)?;
    crate::store::open_keyed(&config.store, keys)
        .await
        .context("opening the store")
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
        // Demo mode (a fixed config) signs with a key made at start on purpose.
        if config.evidence.signing_key.is_none() && matches!(source, ConfigSource::File(_)) {
            tracing::warn!(
                "evidence.signing_key is not set: registry answers are signed with a key made at start, which the JWK Set forgets when this process stops"
            );
        }
        let metrics = Arc::new(Metrics::new());
        let cluster = match &config.redis {
            Some(redis) => {
                let cluster = Cluster::new(redis, metrics.clone())?;
                // Connect now so that the first requests already share limits; if Redis does not
                // answer, the gateway starts anyway and the background probe keeps trying.
                cluster.probe().await;
                events::catch_up(&cluster, store.as_ref()).await?;
                Some(cluster)
            }
            None => None,
        };
        let runtime = Runtime::build(config, None, &ephemeral_key)?;
        runtime.fetch_official_keys().await;
        share_outbound_rates(&runtime, cluster.as_ref());
        let audit_checkpoints = audit_chain_at_start(&runtime, store.as_ref()).await?;
        if audit_checkpoints.is_some() {
            metrics.audit_checkpoints(std::time::Duration::from_secs(
                runtime.config.audit.checkpoint_interval_s,
            ));
        }
        let suspended = store.suspended_clients().await?;
        let maintenance = MaintenanceBoard::default();
        maintenance.replace(store.maintenances(crate::store::now_ms()).await?);
        let gw = Arc::new(Gateway {
            cells: LiveCells::new(&runtime),
            runtime: ArcSwap::from_pointee(runtime),
            store,
            suspensions: Arc::new(Suspensions::new(suspended)),
            metrics,
            usage: Arc::new(UsageTally::new()),
            cluster,
            source,
            ephemeral_key,
            reload_lock: tokio::sync::Mutex::new(()),
            audit_checkpoints,
            started: Instant::now(),
            watch: Default::default(),
            maintenance: Arc::new(maintenance),
            recent_incidents: Default::default(),
            demo_inbox: std::sync::OnceLock::new(),
            console: Default::default(),
        });
        if let Some(cluster) = gw.cluster.clone() {
            let replica: Arc<dyn Replica> = gw.clone();
            events::start(cluster, Arc::downgrade(&replica)).await;
        }
        Ok(gw)
    }

    /// Opens demo mode's webhook inbox: the public routers made after this serve `/v1/demo/inbox`
    /// and `/v1/demo/events`.
    pub fn open_demo_inbox(&self) -> Arc<inbox::Inbox> {
        self.demo_inbox.get_or_init(Default::default).clone()
    }

    /// Demo mode's webhook inbox, when open.
    pub fn demo_inbox(&self) -> Option<Arc<inbox::Inbox>> {
        self.demo_inbox.get().cloned()
    }

    /// The live runtime. Cheap; hold it for the length of one request.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Whether a client is suspended right now.
    pub fn is_suspended(&self, client_id: &str) -> bool {
        self.suspensions.contains(client_id)
    }

    /// Marks a client suspended or not here (after the store changed).
    pub fn set_suspended_local(&self, client_id: &str, suspended: bool) {
        self.suspensions.set(client_id, suspended);
    }

    /// Reads the suspended set from the store again (it may have been changed by another replica).
    /// Returns whether it changed.
    pub async fn refresh_suspensions(&self) -> Result<bool, StoreError> {
        let fresh = self.store.suspended_clients().await?;
        Ok(self.suspensions.replace(fresh))
    }

    /// Drops every cached registry reply held in this process (a shared tier is purged by the purge
    /// generation, see [`events::record`]). Returns the names of the services whose cache was
    /// purged.
    pub fn purge_caches(&self) -> Vec<String> {
        self.runtime()
            .services
            .iter()
            .filter(|(_, s)| s.purge_caches())
            .map(|(name, _)| name.clone())
            .collect()
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
        let chain = |a: &crate::config::AuditConfig| {
            (
                a.chain_key.clone(),
                a.checkpoint_file.clone(),
                a.checkpoint_interval_s,
            )
        };
        if chain(&config.audit) != chain(&current.config.audit) {
            notes.push(
                "audit.chain_key, checkpoint_file or checkpoint_interval_s changed: restart to apply"
                    .to_owned(),
            );
        }
        let mut config = config;
        if config.redis != current.config.redis {
            // The connection, the key prefix and the replica count go together: all or nothing.
            notes.push("redis changed: restart to apply".to_owned());
            config.redis = current.config.redis.clone();
        }
        let runtime = Runtime::build(config, Some(&current), &self.ephemeral_key)?;
        runtime.fetch_official_keys().await;
        share_outbound_rates(&runtime, self.cluster.as_ref());
        self.cells.store(&runtime);
        self.runtime.store(Arc::new(runtime));
        Ok(notes)
    }

    /// Reloads, counts, logs and audits the outcome, and tells the other replicas. Shared by the
    /// admin endpoint and SIGHUP.
    pub async fn reload_and_record(
        &self,
        actor: &str,
        request_id: &str,
    ) -> Result<Vec<String>, String> {
        admin::reload_and_record(self, actor, request_id).await
    }

    /// Records a change made here and tells the other replicas (see [`events::announce`]).
    pub async fn announce(&self, event: ChangeEvent) {
        events::announce(self.cluster.as_deref(), self.store.as_ref(), event).await;
    }

    /// What the token endpoint and the guard read of the callers.
    pub fn auth_state(&self) -> AuthState {
        AuthState {
            callers: self.cells.callers.clone(),
            suspensions: self.suspensions.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// What the edge's guard reads.
    pub fn guard_state(&self) -> GuardState {
        GuardState {
            auth: self.auth_state(),
            targets: self.cells.targets.clone(),
            cluster: self.cluster.clone(),
            maintenance: self.maintenance.clone(),
        }
    }

    /// The handles the kinds' handlers and workers take.
    pub fn service_state(&self) -> ServiceState {
        ServiceState {
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            cluster: self.cluster.clone(),
            audit_key: self.cells.audit_key.clone(),
            officials: self.cells.officials.clone(),
            refusals: self.cells.refusals.clone(),
            evidence: self.cells.evidence.clone(),
        }
    }

    /// The live edge settings.
    pub fn edge_settings(&self) -> Arc<ArcSwap<EdgeSettings>> {
        self.cells.edge.clone()
    }
}

/// Checks the audit chain's keys against the store and opens the checkpoint file: the store must
/// append with the configured chain key, a chain keyed with a key the config does not hold (none,
/// or a newer one) cannot go on, and a checkpoint file that cannot be written stops the start.
/// Warns when the chain is unprotected.
async fn audit_chain_at_start(
    runtime: &Runtime,
    store: &dyn Store,
) -> Result<Option<Arc<Mutex<CheckpointWriter>>>, anyhow::Error> {
    let audit = &runtime.config.audit;
    let key = runtime.chain_keys.current();
    if store.chain_key_id() != key.map(|k| k.id()) {
        anyhow::bail!(
            "the store was not opened with the configured `audit.chain_key` (open it with `app::open_store`)"
        );
    }
    if let Some(head) = store.audit_head().await? {
        let newest = store.audit_records(head.id - 1, 1).await?;
        if let Some(head_key) = newest.first().and_then(|r| r.key_id.as_deref())
            && !runtime.chain_keys.knows(head_key)
        {
            anyhow::bail!(
                "the audit chain is keyed (record {} with key id {head_key}) with a key this config does not hold: set that key as `audit.chain_key` (or a newer one, with it in `audit.retired_chain_keys`) to go on appending to it",
                head.id
            );
        }
    }
    let Some(key) = key else {
        tracing::warn!(
            "audit.chain_key is not set: the personal-data audit chain is unkeyed, and whoever can write the database can rewrite it undetected"
        );
        return Ok(None);
    };
    let Some(path) = &audit.checkpoint_file else {
        tracing::warn!(
            "audit.checkpoint_file is not set: a deleted tail of the personal-data audit chain goes unnoticed"
        );
        return Ok(None);
    };
    let writer = CheckpointWriter::open(path, key.clone())
        .with_context(|| format!("`audit.checkpoint_file`: cannot write {}", path.display()))?;
    Ok(Some(Arc::new(Mutex::new(writer))))
}

#[async_trait::async_trait]
impl Replica for Gateway {
    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    async fn refresh_suspensions(&self) -> Result<bool, StoreError> {
        Gateway::refresh_suspensions(self).await
    }

    async fn reload(&self) -> Result<Vec<String>, String> {
        let result = Gateway::reload(self).await.map_err(|e| e.to_string());
        self.metrics.reload(result.is_ok());
        result
    }

    fn purge_caches(&self) -> Vec<String> {
        Gateway::purge_caches(self)
    }

    async fn refresh_maintenance(&self) -> Result<(), StoreError> {
        let windows = self.store.maintenances(crate::store::now_ms()).await?;
        self.maintenance.replace(windows);
        Ok(())
    }
}
