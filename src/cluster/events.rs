//! Change propagation between replicas over Redis pub/sub, on the channel `<prefix>events`.
//!
//! The replica where an operator acts (suspend, resume, reload, cache purge) does the work, then
//! publishes one small message; every other replica's subscriber repeats the effect: it reloads
//! the suspended set from the shared store, reloads its own config file, or purges its caches.
//! Messages name no client and carry no data: the store stays the one source of truth, so a lost
//! message costs at most one poll interval for suspensions (the store is polled as a safety net).

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Cluster, PROBE_INTERVAL};
use crate::gateway::Gateway;

/// How often the suspended set is read again from the store, whatever Redis does.
pub const SUSPENSION_POLL: Duration = Duration::from_secs(2);

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
}

impl ChangeEvent {
    /// Lower-case name, as on the wire and in the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspensions => "suspensions",
            Self::Reload => "reload",
            Self::CachePurge => "cache_purge",
        }
    }
}

/// One message on the events channel.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    /// The publishing replica (its own messages are ignored).
    from: String,
    event: ChangeEvent,
}

/// Tells the other replicas about a change made here. Without `[redis]` there is no one to tell.
/// A failure is logged: suspensions still reach the others through the store poll.
pub async fn publish(gw: &Gateway, event: ChangeEvent) {
    let Some(cluster) = &gw.cluster else {
        return;
    };
    let message = Message {
        from: cluster.instance().to_owned(),
        event,
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
            "could not tell the other replicas about a change; suspensions reach them through the store poll, reloads and purges must be repeated on each"
        ),
    }
}

/// Starts the background work of a replicated gateway: the Redis probe, the events subscriber and
/// the suspension poll. The first subscription is made before this returns (when Redis answers), so
/// a replica that serves also hears the others. Each task ends once the gateway is dropped.
pub async fn start(gw: &Arc<Gateway>) {
    let Some(cluster) = gw.cluster.clone() else {
        return;
    };
    let first = if cluster.is_available() {
        subscribe(&cluster).await.ok()
    } else {
        None
    };
    tokio::spawn(probe_loop(Arc::downgrade(&cluster)));
    tokio::spawn(subscribe_loop(Arc::downgrade(gw), cluster, first));
    tokio::spawn(poll_loop(Arc::downgrade(gw)));
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

async fn poll_loop(gw: Weak<Gateway>) {
    loop {
        tokio::time::sleep(SUSPENSION_POLL).await;
        let Some(gw) = gw.upgrade() else {
            return;
        };
        refresh_suspensions(&gw, "store poll").await;
    }
}

async fn subscribe_loop(
    gw: Weak<Gateway>,
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
                match gw.upgrade() {
                    Some(gw) => refresh_suspensions(&gw, "resubscribed").await,
                    None => return,
                }
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    let Some(gw) = gw.upgrade() else {
                        return;
                    };
                    handle(&gw, &cluster, msg.get_payload_bytes()).await;
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
        if gw.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

async fn handle(gw: &Gateway, cluster: &Cluster, payload: &[u8]) {
    let Ok(message) = serde_json::from_slice::<Message>(payload) else {
        tracing::debug!("ignored an unreadable change event");
        return;
    };
    if message.from == cluster.instance() {
        return;
    }
    gw.metrics.cluster_event(message.event.as_str());
    match message.event {
        ChangeEvent::Suspensions => refresh_suspensions(gw, "change event").await,
        ChangeEvent::Reload => {
            let result = gw.reload().await;
            gw.metrics.reload(result.is_ok());
            match result {
                Ok(notes) => tracing::info!(
                    notes = %notes.join("; "),
                    "config reloaded after a reload on another replica"
                ),
                Err(e) => tracing::warn!(
                    error = %e,
                    "config reload asked by another replica refused; the running config stays"
                ),
            }
        }
        ChangeEvent::CachePurge => {
            let purged = gw.purge_caches();
            tracing::info!(
                purged = %purged.join(", "),
                "caches purged after a purge on another replica"
            );
        }
    }
}

async fn refresh_suspensions(gw: &Gateway, why: &'static str) {
    match gw.refresh_suspensions().await {
        Ok(true) => tracing::info!(source = why, "suspended clients updated from the store"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the suspended clients from the store"),
    }
}
