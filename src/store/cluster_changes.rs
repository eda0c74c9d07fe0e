//! Changes made on one replica that every other must apply (a config reload, a cache purge).

use async_trait::async_trait;

use super::StoreError;

/// Cluster changes: a generation counter per kind of change, so that a replica that missed the
/// Redis message about a reload or a cache purge still applies it on its next poll of the store.
#[async_trait]
pub trait ClusterChanges: Send + Sync {
    /// Counts one more change of `kind` (`reload`, `cache_purge`) made on this replica, for the
    /// other replicas to apply; returns its generation (1 for the first of its kind).
    async fn record_cluster_change(&self, kind: &str) -> Result<i64, StoreError>;
    /// The latest generation of each kind of change recorded so far.
    async fn cluster_changes(&self) -> Result<Vec<(String, i64)>, StoreError>;
}
