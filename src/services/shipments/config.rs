//! `kind = "shipments"` and the `[shipments]` table: the carrier's account and upstream guard,
//! the agencies' sender addresses, polling, the carrier's push callback and the portal's webhook.

use std::collections::HashSet;

use serde::Deserialize;

use crate::config::{ConfigError, SecretRef, UpstreamConfig, valid_name};
use crate::outbox::WebhookConfig;
use crate::resilience::breaker::BreakerConfig;
use crate::resilience::guard::GuardConfig;
use crate::resilience::limits::OutboundConfig;
use crate::resilience::retry::RetryConfig;

/// The shipments keys of a `[services.NAME]` table (its `base_url` is the carrier's order API).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentsServiceConfig {
    /// The carrier's account.
    pub vnpost: VnpostAccount,
    /// Circuit breaker of the carrier's API.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Retries of failed reads (tracking, quotes; orders are never retried).
    pub retry: Option<RetryConfig>,
    /// Concurrency and rate caps on calls to the carrier (default: none).
    pub outbound: Option<OutboundConfig>,
}

impl ShipmentsServiceConfig {
    /// Checks the section of the service at `key` (`services.NAME`).
    pub fn validate(&self, key: &str, upstream: &UpstreamConfig) -> Result<(), ConfigError> {
        GuardConfig::check(
            key,
            upstream.timeout_ms,
            self.retry.as_ref(),
            self.outbound.as_ref(),
        )
    }

    /// The guard settings of the carrier's API.
    pub fn guard(&self, upstream: &UpstreamConfig) -> GuardConfig {
        GuardConfig::new(upstream.timeout_ms, self.breaker, self.retry, self.outbound)
    }
}

/// Shipments by public postal service (regulation art. 16.2).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentsConfig {
    /// How long an `Idempotency-Key` and its response are kept, in seconds (default and minimum 86 400).
    #[serde(default = "default_idempotency_ttl_s")]
    pub idempotency_ttl_s: u64,
    /// How often open shipments are polled at the carrier, in seconds (default 300, at least 1).
    #[serde(default = "default_poll_interval_s")]
    pub poll_interval_s: u64,
    /// Shipments asked about in one carrier call (default 100, at most 100).
    #[serde(default = "default_poll_batch")]
    pub poll_batch: u32,
    /// A shipment that does not move is polled less and less often: the interval doubles after each
    /// unchanged poll, up to this many seconds (default 21 600).
    #[serde(default = "default_max_poll_backoff_s")]
    pub max_poll_backoff_s: u64,
    /// The sending agencies, with the address the carrier collects from. The first is the default.
    pub senders: Vec<SenderConfig>,
    /// Where `shipment.status_changed` events are POSTed (the portal), signed like payment events.
    /// Absent: events stay in the outbox.
    pub webhook: Option<WebhookConfig>,
    /// HMAC-SHA256 key of the carrier's push callback (`X-VNPost-Signature`) at
    /// `POST /v1/carriers/vnpost/push` (`env:NAME` or `file:PATH`, at least 16 bytes). Absent: the
    /// endpoint answers 404 and only polling tracks shipments.
    pub push_secret: Option<SecretRef>,
}

fn default_poll_interval_s() -> u64 {
    300
}
fn default_poll_batch() -> u32 {
    100
}
fn default_max_poll_backoff_s() -> u64 {
    21_600
}

/// One sending agency and the address the carrier collects from.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    /// The agency's code (shipments name it in `agency`).
    pub agency: String,
    /// Name shown to the carrier.
    pub name: String,
    /// Phone number (Vietnamese, `0` and 9 digits or `+84…`).
    pub phone: String,
    /// Street part of the address.
    pub address: String,
    /// Province code (2 digits, 63- or 34-province scheme).
    pub province_code: String,
    /// District code (3 digits; only in the 63-province scheme).
    pub district_code: Option<String>,
    /// Commune (ward) code (5 digits).
    pub commune_code: String,
}

/// The postal carrier's account. The adapter's own defaults apply to everything else
/// (`lienthong_adapters::vnpost::Settings::new`).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VnpostAccount {
    /// Account name (`TenDangNhap`).
    pub username: String,
    /// Password (`MatKhau`; `env:NAME` or `file:PATH`).
    pub password: SecretRef,
    /// The account's customer code, sent with orders and quotes.
    pub customer_code: Option<String>,
}

impl ShipmentsConfig {
    /// Checks the `[shipments]` table.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.idempotency_ttl_s < 86_400 {
            return Err(ConfigError::invalid(
                "shipments.idempotency_ttl_s",
                "keys are kept at least 24 hours (86400)",
            ));
        }
        if self.poll_interval_s == 0 {
            return Err(ConfigError::invalid(
                "shipments.poll_interval_s",
                "must be at least 1",
            ));
        }
        if self.poll_batch == 0 || self.poll_batch > 100 {
            return Err(ConfigError::invalid(
                "shipments.poll_batch",
                "must be 1 to 100 (the carrier's batch limit)",
            ));
        }
        if self.max_poll_backoff_s < self.poll_interval_s {
            return Err(ConfigError::invalid(
                "shipments.max_poll_backoff_s",
                "must not be less than poll_interval_s",
            ));
        }
        if self.senders.is_empty() {
            return Err(ConfigError::invalid(
                "shipments.senders",
                "list at least one sending agency",
            ));
        }
        let mut agencies = HashSet::new();
        for (i, sender) in self.senders.iter().enumerate() {
            let key = format!("shipments.senders[{i}]");
            if !valid_name(&sender.agency) || !agencies.insert(sender.agency.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{key}.agency"),
                    "agency codes use letters, digits, `-`, `_`, `.`, once each",
                ));
            }
            let mut errors = crate::validate::Errors::default();
            crate::validate::check_postal_party(
                &mut errors,
                &key,
                &crate::validate::PostalParty {
                    name: &sender.name,
                    phone: &sender.phone,
                    address: &sender.address,
                    province_code: &sender.province_code,
                    district_code: sender.district_code.as_deref(),
                    commune_code: &sender.commune_code,
                },
            );
            if let Some(e) = errors.0.first() {
                return Err(ConfigError::invalid(e.field.clone(), e.message.en.clone()));
            }
        }
        if let Some(w) = &self.webhook {
            w.validate("shipments.webhook")?;
        }
        Ok(())
    }
}

fn default_idempotency_ttl_s() -> u64 {
    86_400
}
