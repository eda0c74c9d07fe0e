//! A cheap readiness check: a usable access token (from the cache, or fetched now).
//! It proves the token endpoint is reachable and accepts our credentials whenever the cached
//! token is due; between refreshes it costs nothing.

use super::Client;
use crate::AdapterError;

/// Ok when the client holds, or can obtain, a valid access token.
pub async fn check(client: &Client) -> Result<(), AdapterError> {
    client
        .tokens()
        .token(client.http_client(), client.settings())
        .await
        .map(|_| ())
}
