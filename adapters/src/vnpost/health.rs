//! A cheap readiness check: a usable `h-token` (from the cache, or fetched now). It proves the
//! carrier is reachable and accepts our account whenever the cached token is due.

use super::Client;
use crate::AdapterError;

/// Ok when the client holds, or can obtain, a valid `h-token`.
pub async fn check(client: &Client) -> Result<(), AdapterError> {
    client.token(None).await.map(|_| ())
}
