//! `kind = "payments"` and the `[payments]` table: the providers and their merchants, the
//! timings of orders, and the portal's webhook.

use std::collections::HashSet;

use serde::Deserialize;

use crate::config::{ConfigError, SecretRef, check_cidrs, check_http_url, valid_name};
use crate::outbox::WebhookConfig;

/// The payments keys of a `[services.NAME]` table: none beyond the common ones. Its `base_url`
/// is the gateway's own public URL, under which providers send citizens back; the rest is in
/// `[payments]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentsServiceConfig {}

/// Fee payments (regulation art. 7.3, 11.2, 15).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentsConfig {
    /// How long a citizen has to pay an order, in seconds (default 900). Unpaid after that → `expired`.
    #[serde(default = "default_order_ttl_s")]
    pub order_ttl_s: u64,
    /// Query the provider about orders still pending this many seconds after creation (default 300):
    /// the bank's notification may never come.
    #[serde(default = "default_query_after_s")]
    pub query_after_s: u64,
    /// How often the query-and-expire job runs, in seconds (default 60).
    #[serde(default = "default_sweep_interval_s")]
    pub sweep_interval_s: u64,
    /// How long an `Idempotency-Key` and its response are kept, in seconds (default and minimum 86 400).
    #[serde(default = "default_idempotency_ttl_s")]
    pub idempotency_ttl_s: u64,
    /// VNPay (merchant API 2.1.0).
    pub vnpay: Option<VnpayConfig>,
    /// The national payment platform.
    pub payment_platform: Option<PaymentPlatformConfig>,
    /// VietQR transfers to the agencies' receiving accounts.
    pub vietqr: Option<super::vietqr::VietQrConfig>,
    /// Where payment events are POSTed (the portal). Absent: events stay in the outbox.
    pub webhook: Option<WebhookConfig>,
}

fn default_order_ttl_s() -> u64 {
    900
}
fn default_query_after_s() -> u64 {
    300
}
fn default_sweep_interval_s() -> u64 {
    60
}
fn default_idempotency_ttl_s() -> u64 {
    86_400
}

/// VNPay settings.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VnpayConfig {
    /// The pay page, e.g. `https://sandbox.vnpayment.vn/paymentv2/vpcpay.html`.
    pub pay_url: String,
    /// The merchant web API (`querydr`), e.g. `https://sandbox.vnpayment.vn/merchant_webapi/api/transaction`.
    pub api_url: String,
    /// When not empty, IPNs are accepted only from these addresses or CIDR blocks (the signature is
    /// checked either way).
    #[serde(default)]
    pub ipn_allowed_ips: Vec<String>,
    /// One merchant (`vnp_TmnCode`) per agency. The first is the default.
    pub merchants: Vec<VnpayMerchant>,
}

/// One VNPay merchant.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VnpayMerchant {
    /// The agency's code (orders name it in `agency`).
    pub agency: String,
    /// `vnp_TmnCode` (8 characters).
    pub tmn_code: String,
    /// The agency's name as its receipts show it (default: the agency's code).
    #[serde(default)]
    pub agency_name: Option<String>,
    /// `vnp_HashSecret` (`env:NAME` or `file:PATH`).
    pub hash_secret: SecretRef,
}

/// National payment platform settings.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentPlatformConfig {
    /// The message endpoint, e.g. `https://thanhtoan.dichvucong.gov.vn/api/v1/payment`.
    pub api_url: String,
    /// When not empty, callbacks are accepted only from these addresses or CIDR blocks.
    #[serde(default)]
    pub callback_allowed_ips: Vec<String>,
    /// One partner (`MaDoiTac`) per agency. The first is the default.
    pub merchants: Vec<PaymentPlatformMerchant>,
}

/// One partner of the national payment platform.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentPlatformMerchant {
    /// The agency's code.
    pub agency: String,
    /// `MaDoiTac`.
    pub ma_doi_tac: String,
    /// The agency's name as its receipts show it (default: the agency's code).
    #[serde(default)]
    pub agency_name: Option<String>,
    /// The hash key of `MaXacThuc` (`env:NAME` or `file:PATH`).
    pub hash_key: SecretRef,
}

impl PaymentsConfig {
    /// Checks the `[payments]` table.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.order_ttl_s == 0 || self.sweep_interval_s == 0 {
            return Err(ConfigError::invalid(
                "payments.order_ttl_s",
                "order_ttl_s and sweep_interval_s must be greater than 0",
            ));
        }
        if self.idempotency_ttl_s < 86_400 {
            return Err(ConfigError::invalid(
                "payments.idempotency_ttl_s",
                "keys are kept at least 24 hours (86400)",
            ));
        }
        if self.vnpay.is_none() && self.payment_platform.is_none() && self.vietqr.is_none() {
            return Err(ConfigError::invalid(
                "payments",
                "configure at least one provider: `vnpay`, `payment_platform` or `vietqr`",
            ));
        }
        if let Some(v) = &self.vietqr {
            v.validate()?;
        }
        if let Some(v) = &self.vnpay {
            check_http_url("payments.vnpay.pay_url", &v.pay_url)?;
            check_http_url("payments.vnpay.api_url", &v.api_url)?;
            check_cidrs("payments.vnpay.ipn_allowed_ips", &v.ipn_allowed_ips)?;
            if v.merchants.is_empty() {
                return Err(ConfigError::invalid(
                    "payments.vnpay.merchants",
                    "list at least one merchant",
                ));
            }
            let mut agencies = HashSet::new();
            let mut codes = HashSet::new();
            for (i, m) in v.merchants.iter().enumerate() {
                if m.tmn_code.len() != 8 || !m.tmn_code.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(ConfigError::invalid(
                        format!("payments.vnpay.merchants[{i}].tmn_code"),
                        "vnp_TmnCode is 8 letters or digits",
                    ));
                }
                // A notification names its merchant: one code under two agencies (two secrets)
                // would leave the gateway to guess whose order and whose key it is.
                if !codes.insert(m.tmn_code.as_str()) {
                    return Err(ConfigError::invalid(
                        format!("payments.vnpay.merchants[{i}].tmn_code"),
                        format!("`{}` is already another agency's merchant", m.tmn_code),
                    ));
                }
                check_agency_name(&format!("payments.vnpay.merchants[{i}]"), &m.agency_name)?;
                if !valid_name(&m.agency) || !agencies.insert(m.agency.as_str()) {
                    return Err(ConfigError::invalid(
                        format!("payments.vnpay.merchants[{i}].agency"),
                        "agency codes use letters, digits, `-`, `_`, `.`, once per provider",
                    ));
                }
            }
        }
        if let Some(p) = &self.payment_platform {
            check_http_url("payments.payment_platform.api_url", &p.api_url)?;
            check_cidrs(
                "payments.payment_platform.callback_allowed_ips",
                &p.callback_allowed_ips,
            )?;
            if p.merchants.is_empty() {
                return Err(ConfigError::invalid(
                    "payments.payment_platform.merchants",
                    "list at least one merchant",
                ));
            }
            let mut agencies = HashSet::new();
            let mut partners = HashSet::new();
            for (i, m) in p.merchants.iter().enumerate() {
                check_agency_name(
                    &format!("payments.payment_platform.merchants[{i}]"),
                    &m.agency_name,
                )?;
                if m.ma_doi_tac.is_empty() || m.ma_doi_tac.len() > 64 {
                    return Err(ConfigError::invalid(
                        format!("payments.payment_platform.merchants[{i}].ma_doi_tac"),
                        "must be 1 to 64 characters",
                    ));
                }
                if !partners.insert(m.ma_doi_tac.as_str()) {
                    return Err(ConfigError::invalid(
                        format!("payments.payment_platform.merchants[{i}].ma_doi_tac"),
                        format!(
                            "`{}` is already another agency's partner code",
                            m.ma_doi_tac
                        ),
                    ));
                }
                if !valid_name(&m.agency) || !agencies.insert(m.agency.as_str()) {
                    return Err(ConfigError::invalid(
                        format!("payments.payment_platform.merchants[{i}].agency"),
                        "agency codes use letters, digits, `-`, `_`, `.`, once per provider",
                    ));
                }
            }
        }
        if let Some(w) = &self.webhook {
            w.validate("payments.webhook")?;
        }
        Ok(())
    }
}

/// Checks a merchant's `agency_name`: 1 to 255 characters, none a control character.
fn check_agency_name(merchant: &str, name: &Option<String>) -> Result<(), ConfigError> {
    match name {
        Some(n)
            if n.trim().is_empty()
                || n.chars().count() > 255
                || n.chars().any(char::is_control) =>
        {
            Err(ConfigError::invalid(
                format!("{merchant}.agency_name"),
                "must be 1 to 255 characters, no control characters",
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_agency_name;

    #[test]
    fn an_agency_name_is_refused_naming_its_key() {
        let key = "payments.vnpay.merchants[0]";
        assert!(check_agency_name(key, &None).is_ok());
        assert!(check_agency_name(key, &Some("Sở Tư pháp".into())).is_ok());
        for bad in ["", "  ", "Sở\nTư pháp"] {
            let e = check_agency_name(key, &Some(bad.into())).unwrap_err();
            assert!(
                e.to_string()
                    .contains("payments.vnpay.merchants[0].agency_name"),
                "{e}"
            );
        }
        assert!(check_agency_name(key, &Some("x".repeat(256))).is_err());
    }
}
