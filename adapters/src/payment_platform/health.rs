//! Reachability: the message endpoint answers a JSON refusal to an empty object.

use super::Client;
use crate::AdapterError;

/// Ok when the message endpoint answers JSON.
pub async fn check(client: &Client) -> Result<(), AdapterError> {
    crate::reply::answers_json(client.http_client(), &client.settings().api_url).await
}
