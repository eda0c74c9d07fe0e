//! Change propagation between replicas over Redis pub/sub, on the channel `<prefix>events`, with
//! the store as the record that outlasts a lost message.
//!
//! The replica where an operator acts (suspend, resume, reload, cache purge) does the work, then
//! publishes one small message; every other replica's subscriber repeats the effect: it reloads
//! the suspended set or the maintenance windows from the shared store, reloads its own config
//! file, or purges its caches.
//! Messages name no client and carry no data: the store stays the one source of truth. Suspensions
//! are in the store already; a reload or a purge is counted there too (a generation per kind, see
//! [`record`]), and each replica polls the store every [`STORE_POLL`] and applies what it has not
//! applied yet. So a change made while Redis is away, or whose message was lost, reaches every
//! replica within one poll, and a change is applied once however it arrives.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Cluster, PROBE_INTERVAL};
use crate::store::{Store, StoreError};

/// What a replica does when it learns of a change made on another: the composition root
/// implements it over the live gateway.
#[async_trait::async_trait]
pub trait Replica: Send + Sync + 'static {
    /// The store the replicas share.
    fn store(&self) -> &dyn Store;
    /// Reads the suspended set from the store again; returns whether it changed.
    async fn refresh_suspensions(&self) -> Result<bool, StoreError>;
    /// Reloads this replica's own config; the notes on what needs a restart, or why not.
    async fn reload(&self) -> Result<Vec<String>, String>;
    /// Drops every reply cached in this process; the names of the services purged.
    fn purge_caches(&self) -> Vec<String>;
    /// Reads the maintenance windows from the store again (they are also read every second).
    async fn refresh_maintenance(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// How often the suspended set and the recorded changes are read again from the store, whatever
/// Redis does.
pub const STORE_POLL: Duration = Duration::from_secs(2);

/// A change made on one replica that the others must apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeEvent {
    /// A client was suspended or resumed: read the suspended set from the store again.
    Suspensions,
    /// The config was reloaded: reload this replica's own config.
    Reload,
    /// Cached registry replies were purged: purge this replica's caches.
    CachePurge,
    /// A service's maintenance began or ended: read the windows from the store again.
    Maintenance,
}

impl ChangeEvent {
    /// Lower-case name, as on the wire, in the store and in the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspensions => "suspensions",
            Self::Reload => "reload",
            Self::CachePurge => "cache_purge",
            Self::Maintenance => "maintenance",
        }
    }

    /// The change recorded in the store under `kind` (suspensions are not: the store holds the
    /// suspended set itself). Kinds of a newer release are unknown here, and skipped.
    fn recorded(kind: &str) -> Option<ChangeEvent> {
        match kind {
            "reload" => Some(Self::Reload),
            "cache_purge" => Some(Self::CachePurge),
            _ => None,
        }
    }
}

/// The generation of each recorded kind of change that this replica has applied (or made). The
/// cache-purge generation is also part of every shared cache key, so a purge moves every replica
/// to new keys.
#[derive(Debug, Default)]
pub struct AppliedChanges {
    reload: AtomicI64,
    cache_purge: AtomicI64,
}

impl AppliedChanges {
    fn slot(&self, event: ChangeEvent) -> Option<&AtomicI64> {
        match event {
            ChangeEvent::Suspensions | ChangeEvent::Maintenance => None,
            ChangeEvent::Reload => Some(&self.reload),
            ChangeEvent::CachePurge => Some(&self.cache_purge),
        }
    }

    /// The latest generation of `event` applied here (0 before the first).
    pub fn generation(&self, event: ChangeEvent) -> i64 {
        self.slot(event)
            .map_or(0, |slot| slot.load(Ordering::Acquire))
    }

    /// Marks `event` applied up to `generation`. Returns whether that is news here: whoever gets
    /// `true` applies the change, so that it is applied once, by message or by poll.
    pub fn advance(&self, event: ChangeEvent, generation: i64) -> bool {
        self.slot(event)
            .is_some_and(|slot| slot.fetch_max(generation, Ordering::AcqRel) < generation)
    }
}

/// One message on the events channel.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    /// The publishing replica (its own messages are ignored).
    from: String,
    event: ChangeEvent,
    /// The change's generation in the store, when it was recorded there (reloads and purges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<i64>,
}

/// Records a reload or a purge made here in the store, so that replicas that miss its message
/// still apply it at their next poll, and marks it applied here. Returns its generation; `None`
/// without `[redis]` (no other replica to tell) and for suspensions (the store holds them).
pub async fn record(
    cluster: Option<&Cluster>,
    store: &dyn Store,
    event: ChangeEvent,
) -> Result<Option<i64>, StoreError> {
    let Some(cluster) = cluster else {
        return Ok(None);
    };
    if ChangeEvent::recorded(event.as_str()).is_none() {
        return Ok(None);
    }
    let generation = store.record_cluster_change(event.as_str()).await?;
    cluster.changes().advance(event, generation);
    Ok(Some(generation))
}

/// [`record`]s a change made here, then [`publish`]es it. A change the store could not record is
/// still published (logged: a replica that misses the message then misses the change).
pub async fn announce(cluster: Option<&Cluster>, store: &dyn Store, event: ChangeEvent) {
    let generation = record(cluster, store, event).await.unwrap_or_else(|e| {
        tracing::warn!(
            event = event.as_str(),
            error = %e,
            "could not record a change in the store; only replicas that hear it over Redis apply it"
        );
        None
    });
    publish(cluster, event, generation).await;
}

/// Tells the other replicas about a change made here (with its `generation` when [`record`]ed).
/// Without `[redis]` there is no one to tell. A failure is logged: the others still apply the
/// change through the store poll.
pub async fn publish(cluster: Option<&Cluster>, event: ChangeEvent, generation: Option<i64>) {
    let Some(cluster) = cluster else {
        return;
    };
    let message = Message {
        from: cluster.instance().to_owned(),
        event,
        generation,
    };
    let Ok(payload) = serde_json::to_string(&message) else {
        return;
    };
    let sent = async {
        let mut conn = cluster.connection()?;
        cluster
            .call(
                redis::cmd("PUBLISH")
                    .arg(cluster.key("events"))
                    .arg(payload)
                    .query_async::<i64>(&mut conn),
            )
            .await
    }
    .await;
    match sent {
        Ok(receivers) => {
            tracing::debug!(event = event.as_str(), receivers, "change event published")
        }
        Err(e) => tracing::warn!(
            event = event.as_str(),
            error = %e,
            "could not tell the other replicas about a change over Redis; they apply it from the store within one poll"
        ),
    }
}

/// Marks every change recorded in the store so far as applied: a replica that starts has the
/// current config and empty caches.
pub async fn catch_up(cluster: &Cluster, store: &dyn Store) -> Result<(), StoreError> {
    for (kind, generation) in store.cluster_changes().await? {
        if let Some(event) = ChangeEvent::recorded(&kind) {
            cluster.changes().advance(event, generation);
        }
    }
    Ok(())
}

/// Starts the background work of a replicated gateway: the Redis probe, the events subscriber and
/// the store poll. The first subscription is made before this returns (when Redis answers), so
/// a replica that serves also hears the others. Each task ends once the gateway is dropped.
pub async fn start(cluster: Arc<Cluster>, replica: Weak<dyn Replica>) {
    let first = if cluster.is_available() {
        subscribe(&cluster).await.ok()
    } else {
        None
    };
    tokio::spawn(probe_loop(Arc::downgrade(&cluster)));
    tokio::spawn(subscribe_loop(replica.clone(), cluster.clone(), first));
    tokio::spawn(poll_loop(replica, cluster));
}

async fn subscribe(cluster: &Cluster) -> Result<redis::aio::PubSub, super::ClusterError> {
    let mut pubsub = cluster.pubsub().await?;
    pubsub.subscribe(cluster.key("events")).await?;
    Ok(pubsub)
}

async fn probe_loop(cluster: Weak<Cluster>) {
    loop {
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        if !cluster.is_available() {
            cluster.probe().await;
        }
        drop(cluster);
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

async fn poll_loop(replica: Weak<dyn Replica>, cluster: Arc<Cluster>) {
    loop {
        tokio::time::sleep(STORE_POLL).await;
        let Some(replica) = replica.upgrade() else {
            return;
        };
        refresh_suspensions(replica.as_ref(), "store poll").await;
        apply_recorded_changes(replica.as_ref(), &cluster).await;
    }
}

/// Applies the reloads and purges other replicas recorded in the store that this one has not
/// applied yet (their message was lost, or Redis was away).
async fn apply_recorded_changes(replica: &dyn Replica, cluster: &Cluster) {
    let recorded = match replica.store().cluster_changes().await {
        Ok(recorded) => recorded,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the recorded changes from the store");
            return;
        }
    };
    for (kind, generation) in recorded {
        if let Some(event) = ChangeEvent::recorded(&kind)
            && cluster.changes().advance(event, generation)
        {
            apply(replica, event, "store").await;
            // Counted once applied, so whoever reads the counter sees the change in effect.
            cluster.metrics().cluster_change_from_store(event.as_str());
        }
    }
}

async fn subscribe_loop(
    replica: Weak<dyn Replica>,
    cluster: Arc<Cluster>,
    mut first: Option<redis::aio::PubSub>,
) {
    let mut was_subscribed = true;
    loop {
        let subscribed = match first.take() {
            Some(pubsub) => Ok(pubsub),
            None => subscribe(&cluster).await,
        };
        match subscribed {
            Ok(mut pubsub) => {
                tracing::info!("subscribed to change events from the other replicas");
                was_subscribed = true;
                // Changes made while this replica was not listening.
                match replica.upgrade() {
                    Some(replica) => {
                        refresh_suspensions(replica.as_ref(), "resubscribed").await;
                        apply_recorded_changes(replica.as_ref(), &cluster).await;
                    }
                    None => return,
                }
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    let Some(replica) = replica.upgrade() else {
                        return;
                    };
                    handle(replica.as_ref(), &cluster, msg.get_payload_bytes()).await;
                }
                tracing::warn!("change-event subscription lost; reconnecting");
            }
            Err(e) => {
                if was_subscribed {
                    tracing::warn!(error = %e, "cannot subscribe to change events; retrying");
                    was_subscribed = false;
                }
            }
        }
        if replica.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

async fn handle(replica: &dyn Replica, cluster: &Cluster, payload: &[u8]) {
    let Ok(message) = serde_json::from_slice::<Message>(payload) else {
        tracing::debug!("ignored an unreadable change event");
        return;
    };
    if message.from == cluster.instance() {
        return;
    }
    // A recorded change this replica already applied (from the store poll) is not applied twice.
    let news = message
        .generation
        .is_none_or(|generation| cluster.changes().advance(message.event, generation));
    if news {
        apply(replica, message.event, "change event").await;
    }
    // Counted once handled, whichever way it was applied.
    cluster.metrics().cluster_event(message.event.as_str());
}

/// Repeats here a change made on another replica; `source` says how it came (for the log).
async fn apply(replica: &dyn Replica, event: ChangeEvent, source: &'static str) {
    match event {
        ChangeEvent::Suspensions => refresh_suspensions(replica, source).await,
        ChangeEvent::Maintenance => {
            if let Err(e) = replica.refresh_maintenance().await {
                tracing::warn!(source, error = %e, "could not read the maintenance windows");
            }
        }
        ChangeEvent::Reload => {
            let result = replica.reload().await;
            match result {
                Ok(notes) => tracing::info!(
                    source,
                    notes = %notes.join("; "),
                    "config reloaded after a reload on another replica"
                ),
                Err(e) => tracing::warn!(
                    source,
                    error = %e,
                    "config reload asked by another replica refused; the running config stays"
                ),
            }
        }
        ChangeEvent::CachePurge => {
            let purged = replica.purge_caches();
            tracing::info!(
                source,
                purged = %purged.join(", "),
                "caches purged after a purge on another replica"
            );
        }
    }
}

async fn refresh_suspensions(replica: &dyn Replica, why: &'static str) {
    match replica.refresh_suspensions().await {
        Ok(true) => tracing::info!(source = why, "suspended clients updated from the store"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the suspended clients from the store"),
    }
}
