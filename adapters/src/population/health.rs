//! A cheap readiness check: fetch the service's WSDL (`GET {endpoint}?wsdl`, no personal data,
//! no signature needed) and check that it is one.

use crate::error::AdapterError;

use super::errors::{from_status, protocol};
use super::wire::parse_xml;
use super::{Client, read_bounded};

/// The WSDL namespace.
pub const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";

/// `Ok` when the endpoint answers its WSDL; otherwise the failure, mapped like a call's.
pub async fn check(client: &Client) -> Result<(), AdapterError> {
    let mut url = client.endpoint().clone();
    url.set_query(Some("wsdl"));
    let resp = client
        .http()
        .get(url)
        .send()
        .await
        .map_err(|e| AdapterError::from_transport(&e))?;
    let status = resp.status().as_u16();
    let body = read_bounded(resp, client.settings().max_reply_bytes).await?;
    if status != 200 {
        return Err(from_status(status));
    }
    match parse_xml(&body) {
        Ok(root) if root.is(WSDL_NS, "definitions") => Ok(()),
        _ => Err(protocol(
            "the population database's WSDL is not a WSDL document",
        )),
    }
}
