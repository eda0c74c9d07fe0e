//! The carrier's signed push callback, `POST /v1/carriers/vnpost/push` (`schemas/vnpost/README.md`
//! §9): `X-VNPost-Signature: hex(HMAC-SHA256(push_secret, raw body))`, checked over the exact bytes
//! before the body is parsed. Repeats are harmless (a change is recorded once); a push older than
//! what we know is acknowledged and ignored. An order we do not know (yet: the push can overtake
//! our own record of the creation) is answered 404, so the carrier tries again.
//!
//! The push is unauthenticated until its signature is checked: bad ones are counted and limited
//! per source address ([`crate::refusals`]); past the limit the source is answered 429 with
//! `Retry-After`, and nothing is logged for it.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use lienthong_adapters::canonical::shipment::TrackingEvent;
use lienthong_adapters::vnpost::translate;
use serde::Deserialize;
use sha2::Sha256;

use crate::error::{ApiError, ErrorCode};
use crate::refusals::{CallbackRefusals, Refusal};
use crate::server::ClientAddr;
use crate::services::Live;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;

use super::{CARRIER, Observation, ShipmentsService, apply_observation};

/// The push body (fields we use).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Push {
    order_id: String,
    order_status_id: u16,
    #[serde(default)]
    order_status_name: Option<String>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    post_office: Option<String>,
}

/// Whether `signature` (lower- or upper-case hex) is the HMAC-SHA256 of `body` under `key`.
pub fn verify(key: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// `POST /v1/carriers/vnpost/push`.
pub async fn vnpost_push(
    svc: Option<Live<ShipmentsService>>,
    State(store): State<Arc<dyn Store>>,
    State(refusals): State<Arc<CallbackRefusals>>,
    State(metrics): State<Arc<Metrics>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // In-process calls without the edge have no client: they come from loopback.
    let source = client.map_or(std::net::IpAddr::from([127, 0, 0, 1]), |Extension(c)| c.ip);
    let refuse = || match refusals.refuse(&metrics, "vnpost", "bad_signature", source) {
        Refusal::Limited(wait) => {
            ApiError::new(ErrorCode::RateLimited).with_retry_after(wait.as_secs().max(1))
        }
        Refusal::Refused { .. } => {
            tracing::warn!("carrier push refused: bad signature");
            ApiError::unauthenticated(false)
        }
    };
    match handle(svc, store.as_ref(), &headers, &body, refuse).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(
    svc: Option<Live<ShipmentsService>>,
    store: &dyn Store,
    headers: &HeaderMap,
    body: &[u8],
    refuse: impl FnOnce() -> ApiError,
) -> Result<Response, ApiError> {
    let svc = svc.filter(|s| s.push_secret.is_some()).ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có dịch vụ nhận thông báo trạng thái từ bưu chính.",
            "No carrier push callback is configured.",
        )
    })?;
    let key = svc.push_secret.as_deref().unwrap_or_default();
    let signature = headers
        .get("x-vnpost-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify(key, body, signature) {
        return Err(refuse());
    }
    let push: Push = crate::extract::parse_json(body)?;
    let rec = store
        .shipment_by_carrier_order(CARRIER, &push.order_id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound).with_detail(
                "Không có đơn hàng này.",
                "No shipment has this carrier order.",
            )
        })?;
    let current = u16::try_from(rec.carrier_status).unwrap_or(0);
    let newer = translate::progress_rank(push.order_status_id) > translate::progress_rank(current);
    if rec.open && newer {
        let name = push.order_status_name.unwrap_or_default();
        let history = translate::normalise(push.order_status_id)
            .map(|status| {
                vec![TrackingEvent {
                    carrier_status: push.order_status_id,
                    carrier_status_name: name.clone(),
                    status,
                    at: push.time.as_deref().and_then(translate::local_time_rfc3339),
                    post_office: push.post_office,
                }]
            })
            .unwrap_or_default();
        let obs = Observation {
            carrier_status: push.order_status_id,
            carrier_status_name: name,
            history,
            source: "push",
        };
        apply_observation(store, &svc, &rec, &obs)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    Ok(Json(serde_json::json!({ "received": true })).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_hmac_sha256_hex_of_the_body() {
        // Python: hmac.new(b"k" * 16, b"{}", hashlib.sha256).hexdigest()
        let key = [b'k'; 16];
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&key).unwrap();
        hmac::Mac::update(&mut mac, b"{}");
        let sig = hex::encode(hmac::Mac::finalize(mac).into_bytes());
        assert!(super::verify(&key, b"{}", &sig));
        assert!(super::verify(&key, b"{}", &sig.to_uppercase()));
        assert!(!super::verify(&key, b"{} ", &sig));
        assert!(!super::verify(&key, b"{}", "zz"));
    }
}

/// Property tests of the push parser: the signature check and the body reader never panic, only
/// the signature of the exact body verifies, and a body that is no push is a 400.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::{Push, verify};

    const KEY: &[u8] = b"push-secret-0123";
    const PUSH: &str = r#"{"OrderId":"LT1","OrderStatusId":5,"OrderStatusName":"Đang giao",
        "Time":"2026-11-28T22:50:46","PostOffice":"Huế"}"#;

    fn sign(body: &[u8]) -> String {
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(KEY).unwrap();
        hmac::Mac::update(&mut mac, body);
        hex::encode(hmac::Mac::finalize(mac).into_bytes())
    }

    #[test]
    fn the_example_push_is_read() {
        let push: Push = crate::extract::parse_json(PUSH.as_bytes()).unwrap();
        assert_eq!((push.order_id.as_str(), push.order_status_id), ("LT1", 5));
    }

    proptest! {
        #[test]
        fn only_the_signature_of_the_exact_body_verifies(
            body in prop::collection::vec(any::<u8>(), 0..256),
            other in prop::collection::vec(any::<u8>(), 0..256),
            signature in "[0-9a-fA-F ]{0,70}|.{0,70}",
        ) {
            prop_assert!(verify(KEY, &body, &sign(&body)));
            prop_assert!(verify(KEY, &body, &sign(&body).to_uppercase()));
            prop_assert_eq!(verify(KEY, &body, &sign(&other)), body == other);
            let right = signature.trim().eq_ignore_ascii_case(&sign(&body));
            prop_assert_eq!(verify(KEY, &body, &signature), right);
        }

        #[test]
        fn bodies_that_are_no_push_are_a_400(
            body in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..256),
                (0..PUSH.len(), prop::collection::vec(any::<u8>(), 0..8), 0..8usize)
                    .prop_map(|(at, insert, cut)| {
                        let mut b = PUSH.as_bytes().to_vec();
                        let end = (at + cut).min(b.len());
                        b.splice(at..end, insert);
                        b
                    }),
            ],
        ) {
            if let Err(e) = crate::extract::parse_json::<Push>(&body) {
                prop_assert_eq!(e.code.status().as_u16(), 400);
            }
        }
    }
}
