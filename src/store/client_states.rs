//! Client suspensions and the admin audit table (regulation art. 23.3): what operators did to
//! which client, and when.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;

/// One row of the admin audit table: who did what to whom, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AdminAuditRecord {
    /// Sequence number.
    pub id: i64,
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// The admin client that acted.
    pub actor: String,
    /// `suspend`, `resume` or `reload`.
    pub action: String,
    /// The client acted on, if any.
    pub target: Option<String>,
    /// The operator's stated reason, or the outcome of a reload.
    pub detail: Option<String>,
    /// The request that did it.
    pub request_id: String,
}

/// An admin action to record.
#[derive(Debug, Clone)]
pub struct AdminAction<'a> {
    /// The admin client that acted.
    pub actor: &'a str,
    /// `suspend`, `resume` or `reload`.
    pub action: &'a str,
    /// The client acted on.
    pub target: Option<&'a str>,
    /// Reason or outcome.
    pub detail: Option<&'a str>,
    /// Request id.
    pub request_id: &'a str,
}

/// Client state and the admin audit: which clients are suspended (persistently, so a suspension
/// survives restarts and holds on every replica), and the record of every admin action.
#[async_trait]
pub trait ClientStates: Send + Sync {
    /// Ids of suspended clients.
    async fn suspended_clients(&self) -> Result<Vec<String>, StoreError>;
    /// Sets a client's suspension and records the action in the admin audit table, in one
    /// transaction. Returns whether the state changed.
    async fn set_suspended(
        &self,
        client_id: &str,
        suspended: bool,
        action: &AdminAction<'_>,
    ) -> Result<bool, StoreError>;
    /// Records an admin action that changes no client state (e.g. a reload).
    async fn record_admin_action(&self, action: &AdminAction<'_>) -> Result<(), StoreError>;
    /// The latest admin audit records, newest first.
    async fn admin_audit(&self, limit: u32) -> Result<Vec<AdminAuditRecord>, StoreError>;
}
