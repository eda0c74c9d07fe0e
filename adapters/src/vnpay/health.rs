//! A cheap reachability check: the merchant API answers an empty JSON object with a JSON refusal
//! (03). It proves VNPay is up; only a real `querydr` proves our secret.

use super::Client;
use crate::AdapterError;

/// Ok when the merchant API answers JSON.
pub async fn check(client: &Client) -> Result<(), AdapterError> {
    crate::reply::answers_json(client.http_client(), &client.settings().api_url).await
}
