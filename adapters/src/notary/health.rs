//! A cheap readiness check: `GET {endpoint}?wsdl` answers a WSDL. It proves the service is up;
//! it does not prove our credentials (the contract has no operation that would, for free).

use super::{Client, errors, wire};
use crate::AdapterError;

/// Ok when the endpoint serves its WSDL.
pub async fn check(client: &Client) -> Result<(), AdapterError> {
    let settings = client.settings();
    let url = format!("{}?wsdl", settings.endpoint_url);
    let resp = client
        .http_client()
        .get(url)
        .header(reqwest::header::ACCEPT, "text/xml")
        .send()
        .await
        .map_err(|e| errors::from_transport(&e))?;
    let reply = wire::Reply::read(resp, settings.max_reply_bytes).await?;
    if reply.status != 200 {
        return Err(errors::from_status(reply.status));
    }
    let root = wire::parse_xml(&reply.body).map_err(|e| errors::protocol(e.to_string()))?;
    if root.is(wire::WSDL_NS, "definitions") {
        Ok(())
    } else {
        Err(errors::protocol("the endpoint's ?wsdl is not a WSDL"))
    }
}
