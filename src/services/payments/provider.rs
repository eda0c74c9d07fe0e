//! The provider seam: what the ledger needs of any payment provider. The wire formats live in the
//! adapters crate (`lienthong_adapters::vnpay`, `::payment_platform`); this file only picks the
//! merchant and hands over.

use std::net::IpAddr;

use async_trait::async_trait;
use lienthong_adapters::AdapterError;
use lienthong_adapters::canonical::payment::{
    CallbackError, Notification, PayOrder, RefundOrder, RefundOutcome, RefundReply, StatusReply,
};
use lienthong_adapters::{payment_platform, vnpay};

use crate::server::CidrSet;
use crate::store::PaymentRecord;

/// A merchant account of a provider, for one agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    /// The agency's code.
    pub agency: String,
    /// The provider's merchant code.
    pub code: String,
}

/// A payment provider.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// `vnpay` or `payment_platform` (stored with each payment).
    fn name(&self) -> &'static str;
    /// The configured merchants; the first is the default.
    fn merchants(&self) -> Vec<Merchant>;
    /// Opens an order at the provider and returns the URL the citizen pays at.
    async fn open(&self, merchant: &str, order: &PayOrder) -> Result<String, AdapterError>;
    /// Verifies a notification (a query string or a body) and reads it.
    fn verify(&self, raw: &[u8]) -> Result<Notification, CallbackError>;
    /// Asks the provider for a payment's state.
    async fn query(&self, payment: &PaymentRecord) -> Result<StatusReply, AdapterError>;
    /// Whether notifications may come from this address (always, without an allowlist).
    fn allowed_source(&self, ip: IpAddr) -> bool;
    /// Whether the provider refunds through an API (otherwise an operator sends the transfer).
    fn refunds_by_api(&self) -> bool {
        false
    }
    /// Asks the provider to refund (only when [`refunds_by_api`](Self::refunds_by_api)).
    async fn refund(
        &self,
        _payment: &PaymentRecord,
        _order: &RefundOrder,
    ) -> Result<RefundReply, AdapterError> {
        Err(lienthong_adapters::AdapterError::new(
            lienthong_adapters::ErrorKind::Invalid,
            lienthong_adapters::Origin::Internal,
            "this provider has no refund API",
        ))
    }
    /// What became of a refund whose answer was lost: sent again under the same request id,
    /// which the provider recognises (by default, it answers as the first time).
    async fn resolve_refund(
        &self,
        payment: &PaymentRecord,
        order: &RefundOrder,
    ) -> Result<RefundReply, AdapterError> {
        self.refund(payment, order).await
    }
}

/// An IP allowlist of addresses and CIDR blocks; empty allows everyone. The address it is asked
/// about is the client's as the edge found it (behind `[proxies] trusted`, the right-most
/// untrusted `X-Forwarded-For` entry), so it works behind the shipped load balancer.
#[derive(Debug, Clone, Default)]
pub struct Allowlist(CidrSet);

impl Allowlist {
    /// From config strings (validated already; invalid ones are skipped).
    pub fn new(list: &[String]) -> Allowlist {
        Allowlist(CidrSet::parse(list))
    }

    /// Whether `ip` is allowed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.contains(ip)
    }
}

/// VNPay, one client per merchant.
pub struct VnpayProvider {
    /// `(agency, client)`.
    pub clients: Vec<(String, vnpay::Client)>,
    /// IPN source allowlist.
    pub allow: Allowlist,
}

impl VnpayProvider {
    /// The client of a merchant.
    pub fn client(&self, tmn_code: &str) -> Option<&vnpay::Client> {
        self.clients
            .iter()
            .map(|(_, c)| c)
            .find(|c| c.settings().tmn_code == tmn_code)
    }

    /// The client of a payment's merchant.
    fn client_of(&self, p: &PaymentRecord) -> Result<&vnpay::Client, AdapterError> {
        self.client(&p.merchant)
            .ok_or_else(|| vnpay::errors::config("unknown VNPay merchant"))
    }

    /// Decodes and verifies a return or IPN query string.
    pub fn verify_query(&self, raw: &str) -> Result<Notification, CallbackError> {
        let params =
            vnpay::wire::parse_query(raw).map_err(|e| CallbackError::Malformed(e.to_string()))?;
        let tmn = vnpay::wire::param(&params, "vnp_TmnCode");
        // Without the merchant's secret the signature cannot be right.
        let client = self.client(tmn).ok_or(CallbackError::BadSignature)?;
        client.verify_notification(&params)
    }
}

#[async_trait]
impl PaymentProvider for VnpayProvider {
    fn name(&self) -> &'static str {
        "vnpay"
    }

    fn merchants(&self) -> Vec<Merchant> {
        self.clients
            .iter()
            .map(|(agency, c)| Merchant {
                agency: agency.clone(),
                code: c.settings().tmn_code.clone(),
            })
            .collect()
    }

    async fn open(&self, merchant: &str, order: &PayOrder) -> Result<String, AdapterError> {
        let client = self
            .client(merchant)
            .ok_or_else(|| vnpay::errors::config("unknown VNPay merchant"))?;
        Ok(client.pay_url(order))
    }

    fn verify(&self, raw: &[u8]) -> Result<Notification, CallbackError> {
        let raw = std::str::from_utf8(raw)
            .map_err(|_| CallbackError::Malformed("the query is not UTF-8".into()))?;
        self.verify_query(raw)
    }

    async fn query(&self, p: &PaymentRecord) -> Result<StatusReply, AdapterError> {
        self.client_of(p)?
            .querydr(&p.txn_ref, &p.provider_created)
            .await
    }

    fn allowed_source(&self, ip: IpAddr) -> bool {
        self.allow.allows(ip)
    }

    fn refunds_by_api(&self) -> bool {
        true
    }

    async fn refund(
        &self,
        p: &PaymentRecord,
        order: &RefundOrder,
    ) -> Result<RefundReply, AdapterError> {
        self.client_of(p)?.refund(order).await
    }

    /// Sent again: VNPay refunds it if it never arrived, or answers 94 if it did; then
    /// `querydr` tells where it stands (the payment's latest refund is this one, as one refund
    /// of a payment is pending at a time).
    async fn resolve_refund(
        &self,
        p: &PaymentRecord,
        order: &RefundOrder,
    ) -> Result<RefundReply, AdapterError> {
        let client = self.client_of(p)?;
        let again = client.refund(order).await?;
        if again.outcome != RefundOutcome::Pending {
            return Ok(again);
        }
        let progress = client
            .refund_progress(&p.txn_ref, &p.provider_created)
            .await?;
        Ok(match progress.outcome {
            // Seen (94) yet not on record: VNPay refused it; ask again later rather than guess.
            RefundOutcome::NotReceived => RefundReply {
                outcome: RefundOutcome::Pending,
                ..progress
            },
            _ => progress,
        })
    }
}

/// The national payment platform, one client per partner.
pub struct PlatformProvider {
    /// `(agency, client)`.
    pub clients: Vec<(String, payment_platform::Client)>,
    /// Callback source allowlist.
    pub allow: Allowlist,
}

impl PlatformProvider {
    /// The client of a partner.
    pub fn client(&self, ma_doi_tac: &str) -> Option<&payment_platform::Client> {
        self.clients
            .iter()
            .map(|(_, c)| c)
            .find(|c| c.settings().ma_doi_tac == ma_doi_tac)
    }

    /// The client of a payment's partner.
    fn client_of(&self, p: &PaymentRecord) -> Result<&payment_platform::Client, AdapterError> {
        self.client(&p.merchant)
            .ok_or_else(|| payment_platform::errors::config("unknown platform partner"))
    }
}

#[async_trait]
impl PaymentProvider for PlatformProvider {
    fn name(&self) -> &'static str {
        "payment_platform"
    }

    fn merchants(&self) -> Vec<Merchant> {
        self.clients
            .iter()
            .map(|(agency, c)| Merchant {
                agency: agency.clone(),
                code: c.settings().ma_doi_tac.clone(),
            })
            .collect()
    }

    async fn open(&self, merchant: &str, order: &PayOrder) -> Result<String, AdapterError> {
        let client = self
            .client(merchant)
            .ok_or_else(|| payment_platform::errors::config("unknown platform partner"))?;
        client.init(order).await
    }

    fn verify(&self, raw: &[u8]) -> Result<Notification, CallbackError> {
        let msg: serde_json::Value = serde_json::from_slice(raw)
            .map_err(|_| CallbackError::Malformed("the body is not JSON".into()))?;
        let partner = lienthong_adapters::canonical::payment::json_text(&msg, "MaDoiTac");
        let client = self.client(&partner).ok_or(CallbackError::BadSignature)?;
        client.verify_callback(&msg)
    }

    async fn query(&self, p: &PaymentRecord) -> Result<StatusReply, AdapterError> {
        self.client_of(p)?
            .get_bill(&p.txn_ref, &p.provider_created)
            .await
    }

    fn allowed_source(&self, ip: IpAddr) -> bool {
        self.allow.allows(ip)
    }

    fn refunds_by_api(&self) -> bool {
        true
    }

    async fn refund(
        &self,
        p: &PaymentRecord,
        order: &RefundOrder,
    ) -> Result<RefundReply, AdapterError> {
        self.client_of(p)?.refund(order).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_cidr_blocks() {
        let a = Allowlist::new(&["10.0.0.0/8".into(), "2001:db8::1".into()]);
        assert!(a.allows("10.2.3.4".parse().unwrap()));
        assert!(a.allows("::ffff:10.2.3.4".parse().unwrap()));
        assert!(!a.allows("11.0.0.1".parse().unwrap()));
        assert!(a.allows("2001:db8::1".parse().unwrap()));
        assert!(!a.allows("2001:db8::2".parse().unwrap()));
        assert!(Allowlist::new(&[]).allows("1.2.3.4".parse().unwrap()));
        let all = Allowlist::new(&["0.0.0.0/0".into()]);
        assert!(all.allows("1.2.3.4".parse().unwrap()));
    }
}
