//! Reachability: the message endpoint answers a JSON refusal to an empty object.

use super::{Client, errors};
use crate::AdapterError;

/// Ok when the endpoint answers JSON.
pub async fn check(client: &Client) -> Result<(), AdapterError> {
    let resp = client
        .http_client()
        .post(&client.settings().api_url)
        .json(&serde_json::json!({}))
        .send()
        .await
        .map_err(|e| errors::from_transport(&e))?;
    let reply = crate::reply::Reply::read(resp, 64 * 1024).await?;
    if reply.status >= 500 {
        return Err(errors::from_status(reply.status));
    }
    serde_json::from_slice::<serde_json::Value>(&reply.body)
        .map(|_| ())
        .map_err(|_| errors::protocol("the platform did not answer JSON"))
}
