//! `kind = "payments"`: fee payments (regulation art. 7.3, 11.2, 15): payment orders, bank
//! callbacks, the ledger, receipts, portal notifications and reconciliation.
//!
//! A payment the bank confirmed must never be lost, counted twice or left unknown: every
//! confirmation goes through [`apply_outcome`], one durable transaction (state change, outbox
//! event, evidence) guarded by a conditional UPDATE, before the provider gets its answer.

pub mod api;
pub mod callbacks;
pub mod code;
pub mod collection;
mod config;
pub mod credits;
pub mod jobs;
pub mod outcome;
pub mod provider;
pub mod receipt;
pub mod reconcile;
pub mod refunds;
pub mod vietqr;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use lienthong_adapters::canonical::payment::{ProviderOutcome, parse_gmt7};
use lienthong_adapters::{payment_platform, vnpay};

pub use config::{
    PaymentPlatformConfig, PaymentPlatformMerchant, PaymentsConfig, PaymentsServiceConfig,
    VnpayConfig, VnpayMerchant,
};

use crate::auth::Identity;
use crate::config::{ConfigError, MIN_PARTNER_KEY_BYTES, SecretRef, UpstreamConfig};
use crate::edge::guard::{Kind, RouteAccess, Target, TargetInfo};
use crate::error::{ApiError, ErrorCode};
use crate::outbox::{Channel, Webhook, WebhookOwner};
use crate::render::rfc3339;
use crate::services::{Route, Service};
use crate::store::{
    Evidence, NewOutboxEvent, PaymentRecord, PaymentStatus, SettleOutcome, Settlement, Store,
    StoreError, now_ms,
};
use crate::telemetry::traces;
use provider::{Allowlist, PaymentProvider, PlatformProvider, VnpayProvider};

/// The kind, as the edge's guard names it.
pub static KIND: Kind = Kind {
    name: "payments",
    not_configured_vi: "Dịch vụ thanh toán chưa được cấu hình.",
    not_configured_en: "No payments service is configured.",
};

/// Its operations. `refund` is granted only by name (see [`refunds`]).
pub const OPERATIONS: &[&str] = &["create", "read", refunds::OPERATION];

/// The routes of the kind: the portal's API, the partner banks' collection API, and the
/// providers' callbacks (authenticated by their signature, not by a client credential).
pub fn routes() -> Vec<Route> {
    let op = |name| RouteAccess::Operation(&KIND, name);
    let public = RouteAccess::Public(&KIND);
    let bank = |name| RouteAccess::Bank(&KIND, name);
    vec![
        Route {
            path: "/v1/payments",
            handlers: post(api::create),
            access: op("create"),
            any_method: false,
        },
        Route {
            path: "/v1/payments",
            handlers: get(api::list),
            access: op("read"),
            any_method: false,
        },
        Route {
            path: "/v1/payments/{id}",
            handlers: get(api::get),
            access: op("read"),
            any_method: false,
        },
        Route {
            path: "/v1/payments/{id}/refunds",
            handlers: post(refunds::create),
            access: op(refunds::OPERATION),
            any_method: false,
        },
        Route {
            path: "/v1/payments/{id}/refunds",
            handlers: get(refunds::list),
            access: op("read"),
            any_method: false,
        },
        Route {
            path: "/v1/payments/{id}/receipt",
            handlers: get(receipt::get),
            access: op("read"),
            any_method: false,
        },
        Route {
            path: "/v1/payments/{id}/qr.svg",
            handlers: get(vietqr::qr_svg),
            access: op("read"),
            any_method: false,
        },
        Route {
            path: "/v1/payments/{id}/qr.png",
            handlers: get(vietqr::qr_png),
            access: op("read"),
            any_method: false,
        },
        Route {
            path: "/v1/collection/inquiry",
            handlers: post(collection::inquiry),
            access: bank("inquiry"),
            any_method: false,
        },
        Route {
            path: "/v1/collection/payments",
            handlers: post(collection::pay),
            access: bank("collect"),
            any_method: false,
        },
        Route {
            path: "/v1/collection/reversals",
            handlers: post(collection::reverse),
            access: bank("reverse"),
            any_method: false,
        },
        Route {
            path: "/v1/providers/bank/{bank}/credits",
            handlers: post(credits::credit),
            access: public,
            any_method: false,
        },
        Route {
            path: "/v1/providers/vnpay/ipn",
            handlers: get(callbacks::vnpay_ipn),
            access: public,
            any_method: false,
        },
        Route {
            path: "/v1/providers/vnpay/return",
            handlers: get(callbacks::vnpay_return),
            access: public,
            any_method: false,
        },
        Route {
            path: "/v1/providers/payment-platform/callback",
            handlers: post(callbacks::platform_callback),
            access: public,
            any_method: false,
        },
        Route {
            path: "/v1/providers/payment-platform/return",
            handlers: get(callbacks::platform_return),
            access: public,
            any_method: false,
        },
    ]
}

/// The configured payments service.
pub struct PaymentsService {
    info: TargetInfo,
    /// The gateway's public URL (return URLs are built under it), without a trailing slash.
    pub public_base: String,
    /// Timings.
    pub settings: PaymentsConfig,
    /// VNPay, when configured.
    pub vnpay: Option<Arc<VnpayProvider>>,
    /// The national payment platform, when configured.
    pub platform: Option<Arc<PlatformProvider>>,
    /// VietQR transfers, when configured.
    pub vietqr: Option<Arc<vietqr::VietQrProvider>>,
    /// The portal's webhook, when configured.
    pub webhook: Option<Webhook>,
}

impl PaymentsService {
    /// The name an agency's receipts show for a payment: the configured `agency_name` of its
    /// merchant, when there is one.
    pub fn agency_name(&self, p: &PaymentRecord) -> Option<&str> {
        let vnpay = self.settings.vnpay.iter().flat_map(|v| &v.merchants);
        let platform = self
            .settings
            .payment_platform
            .iter()
            .flat_map(|v| &v.merchants);
        match p.provider.as_str() {
            "vnpay" => vnpay
                .filter(|m| m.tmn_code == p.merchant)
                .find_map(|m| m.agency_name.as_deref()),
            _ => platform
                .filter(|m| m.ma_doi_tac == p.merchant)
                .find_map(|m| m.agency_name.as_deref()),
        }
    }

    /// Builds the providers' clients and reads their secrets.
    pub fn build(
        name: &str,
        upstream: &UpstreamConfig,
        cfg: &PaymentsConfig,
    ) -> Result<PaymentsService, ConfigError> {
        let invalid = |key: String, reason: String| ConfigError::Invalid { key, reason };
        let http = crate::upstream::http_client(name, upstream)?;
        let secret = |key: String, s: &SecretRef| s.resolve_key(&key, MIN_PARTNER_KEY_BYTES);
        let vnpay = match &cfg.vnpay {
            None => None,
            Some(v) => {
                let mut clients = Vec::new();
                for (i, m) in v.merchants.iter().enumerate() {
                    let settings = vnpay::Settings {
                        pay_url: v.pay_url.clone(),
                        api_url: v.api_url.clone(),
                        tmn_code: m.tmn_code.clone(),
                        hash_secret: secret(
                            format!("payments.vnpay.merchants[{i}].hash_secret"),
                            &m.hash_secret,
                        )?,
                        ip_addr: "127.0.0.1".into(),
                    };
                    let client = vnpay::Client::new(http.clone(), settings)
                        .map_err(|e| invalid("payments.vnpay".into(), e.message))?;
                    clients.push((m.agency.clone(), client));
                }
                Some(Arc::new(VnpayProvider {
                    clients,
                    allow: Allowlist::new(&v.ipn_allowed_ips),
                }))
            }
        };
        let platform = match &cfg.payment_platform {
            None => None,
            Some(p) => {
                let mut clients = Vec::new();
                for (i, m) in p.merchants.iter().enumerate() {
                    let settings = payment_platform::Settings {
                        api_url: p.api_url.clone(),
                        ma_doi_tac: m.ma_doi_tac.clone(),
                        hash_key: secret(
                            format!("payments.payment_platform.merchants[{i}].hash_key"),
                            &m.hash_key,
                        )?,
                    };
                    let client = payment_platform::Client::new(http.clone(), settings)
                        .map_err(|e| invalid("payments.payment_platform".into(), e.message))?;
                    clients.push((m.agency.clone(), client));
                }
                Some(Arc::new(PlatformProvider {
                    clients,
                    allow: Allowlist::new(&p.callback_allowed_ips),
                }))
            }
        };
        let vietqr = cfg
            .vietqr
            .as_ref()
            .map(vietqr::VietQrProvider::build)
            .transpose()?
            .map(Arc::new);
        let webhook = cfg
            .webhook
            .as_ref()
            .map(|w| Webhook::build("payments.webhook", w))
            .transpose()?;
        Ok(PaymentsService {
            info: TargetInfo {
                by_name_only: &[refunds::OPERATION],
                ..TargetInfo::new(KIND.name, name, upstream)
            },
            public_base: upstream.base_url.trim_end_matches('/').to_owned(),
            settings: cfg.clone(),
            vnpay,
            platform,
            vietqr,
            webhook,
        })
    }

    /// The service's name (access rules, logs).
    pub fn name(&self) -> &Arc<str> {
        &self.info.name
    }

    /// A provider by its stored name.
    pub fn provider(&self, name: &str) -> Option<Arc<dyn PaymentProvider>> {
        match name {
            "vnpay" => self.vnpay.clone().map(|p| p as Arc<dyn PaymentProvider>),
            "payment_platform" => self.platform.clone().map(|p| p as Arc<dyn PaymentProvider>),
            vietqr::PROVIDER => self.vietqr.clone().map(|p| p as Arc<dyn PaymentProvider>),
            _ => None,
        }
    }
}

impl Target for PaymentsService {
    fn info(&self) -> &TargetInfo {
        &self.info
    }
}

impl Service for PaymentsService {
    fn probe(&self) -> Option<crate::services::Probe<'_>> {
        if self.vnpay.is_none() && self.platform.is_none() {
            return None;
        }
        Some(Box::pin(async move {
            // Every merchant's API: one failing is the provider failing for its agency.
            for (agency, client) in self.vnpay.iter().flat_map(|p| &p.clients) {
                vnpay::health::check(client)
                    .await
                    .map_err(|e| format!("vnpay ({agency}): {e}"))?;
            }
            for (agency, client) in self.platform.iter().flat_map(|p| &p.clients) {
                payment_platform::health::check(client)
                    .await
                    .map_err(|e| format!("payment_platform ({agency}): {e}"))?;
            }
            Ok(())
        }))
    }

    fn base_path(&self) -> String {
        "/v1/payments".into()
    }

    fn operations(&self) -> Vec<&str> {
        OPERATIONS.to_vec()
    }

    fn outbox_channel(self: Arc<Self>) -> Option<Channel> {
        Some(Channel {
            prefix: "payment.",
            owner: self,
        })
    }

    fn idempotency_ttl(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.settings.idempotency_ttl_s))
    }
}

impl WebhookOwner for PaymentsService {
    fn webhook(&self) -> Option<&Webhook> {
        self.webhook.as_ref()
    }
}

/// The payment the caller may read, or 404.
pub async fn own_payment(
    store: &dyn Store,
    identity: &Identity,
    id: &str,
) -> Result<PaymentRecord, ApiError> {
    let not_found = || {
        ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có giao dịch thanh toán với mã này.",
            "No payment with this id.",
        )
    };
    if !crate::validate::is_record_id(id) {
        return Err(not_found());
    }
    match store
        .payment(id)
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        Some(p) if p.client_id == *identity.client.id => Ok(p),
        _ => Err(not_found()),
    }
}

/// What applying a provider's word did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The payment moved to this state (durably, with its event).
    Changed(PaymentStatus),
    /// It was already settled; nothing changed.
    AlreadySettled(PaymentStatus),
    /// The provider says it is still pending; nothing changed.
    StillPending,
    /// The provider's transaction number belongs to another payment.
    DuplicateTransaction,
    /// The payment vanished.
    NotFound,
}

/// A receipt number: the payment day (GMT+7) and the payment id's hex digits (unique because the
/// id is).
pub fn receipt_number(payment_id: &str, paid_at_ms: i64) -> String {
    let day = time::OffsetDateTime::from_unix_timestamp(paid_at_ms / 1000)
        .map(lienthong_adapters::canonical::payment::format_gmt7)
        .unwrap_or_default();
    let id: String = payment_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!(
        "BL{}-{}",
        day.get(..8).unwrap_or("00000000"),
        id.to_ascii_uppercase()
    )
}

/// The body of a portal event.
fn event_for(p: &PaymentRecord, s: &Settlement, event_id: &str) -> NewOutboxEvent {
    let event_type = format!("payment.{}", s.to.as_str());
    let payload = serde_json::json!({
        "id": event_id,
        "type": event_type,
        "created_at": rfc3339(s.at_ms),
        "data": {
            "payment_id": p.id,
            "dossier_id": p.dossier_id,
            "status": s.to.as_str(),
            "provider": p.provider,
            "agency": p.agency,
            "amount_vnd": p.amount_vnd,
            "provider_txn_no": s.provider_txn_no.as_ref().or(p.provider_txn_no.as_ref()),
            "paid_at": s.paid_at_ms.map(rfc3339),
            "receipt_no": s.receipt_no,
            "failure_code": s.failure_code,
            "failure_reason": s.failure_code.as_deref().map(|code| outcome::reason_json(&p.provider, code)),
        },
    });
    NewOutboxEvent {
        id: event_id.to_owned(),
        event_type,
        payload: payload.to_string(),
    }
}

/// Applies a state change (paid, failed, expired) with its portal event and evidence in one
/// durable transaction.
pub async fn settle(
    store: &dyn Store,
    p: &PaymentRecord,
    mut s: Settlement,
) -> Result<Applied, StoreError> {
    let event_id = uuid::Uuid::now_v7().to_string();
    s.event = Some(event_for(p, &s, &event_id));
    let to = s.to;
    Ok(
        match traces::store_write("ledger.settle", store.settle(&s)).await? {
            SettleOutcome::Applied => Applied::Changed(to),
            SettleOutcome::Unchanged(st) => Applied::AlreadySettled(st),
            SettleOutcome::DuplicateProviderTxn => Applied::DuplicateTransaction,
            SettleOutcome::NotFound => Applied::NotFound,
        },
    )
}

/// Applies what a provider says about a payment. `source`: `ipn`, `callback`, `query`, `reconcile`.
pub async fn apply_outcome(
    store: &dyn Store,
    p: &PaymentRecord,
    outcome: &ProviderOutcome,
    source: &str,
    note: Option<String>,
    evidence: Option<Evidence>,
) -> Result<Applied, StoreError> {
    let at_ms = now_ms();
    let base = |to: PaymentStatus| Settlement {
        payment_id: p.id.clone(),
        to,
        provider_txn_no: None,
        bank_code: None,
        paid_at_ms: None,
        failure_code: None,
        receipt_no: None,
        source: source.to_owned(),
        note: note.clone(),
        event: None,
        evidence: evidence.clone(),
        at_ms,
    };
    let s = match outcome {
        ProviderOutcome::Paid {
            transaction_no,
            bank_code,
            paid_at,
        } => {
            let paid_at_ms = paid_at
                .as_deref()
                .and_then(parse_gmt7)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .unwrap_or(at_ms);
            Settlement {
                provider_txn_no: Some(transaction_no.clone()),
                bank_code: bank_code.clone(),
                paid_at_ms: Some(paid_at_ms),
                receipt_no: Some(receipt_number(&p.id, paid_at_ms)),
                ..base(PaymentStatus::Paid)
            }
        }
        ProviderOutcome::Failed {
            code,
            transaction_no,
        } => Settlement {
            provider_txn_no: transaction_no.clone(),
            failure_code: Some(code.clone()),
            ..base(PaymentStatus::Failed)
        },
        ProviderOutcome::Pending => {
            if let Some(e) = &evidence {
                store.record_evidence(e).await?;
            }
            return Ok(Applied::StillPending);
        }
    };
    settle(store, p, s).await
}

/// Marks an unpaid order expired.
pub async fn expire(
    store: &dyn Store,
    p: &PaymentRecord,
    note: &str,
) -> Result<Applied, StoreError> {
    let s = Settlement {
        payment_id: p.id.clone(),
        to: PaymentStatus::Expired,
        provider_txn_no: None,
        bank_code: None,
        paid_at_ms: None,
        failure_code: None,
        receipt_no: None,
        source: "expiry".into(),
        note: Some(note.to_owned()),
        event: None,
        evidence: None,
        at_ms: now_ms(),
    };
    settle(store, p, s).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_numbers_carry_the_day_and_the_id() {
        let n = receipt_number("0190f3a2-7b1c-7def-8123-456789abcdef", 1_767_230_100_000);
        assert_eq!(n, "BL20260101-0190F3A27B1C7DEF8123456789ABCDEF");
    }
}
