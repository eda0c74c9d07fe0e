//! VNPay merchant API 2.1.0 (`schemas/vnpay/README.md`): the signed pay URL, verification of the
//! return URL and IPN (HMAC-SHA512 over the PHP-encoded sorted query), `querydr` for payments
//! whose IPN never came, and `refund`. One [`Client`] per merchant (`vnp_TmnCode`).

pub mod auth;
pub mod errors;
pub mod health;
pub mod translate;
pub mod wire;

use std::fmt;
use std::sync::Arc;

use crate::AdapterError;
use crate::canonical::payment::{
    CallbackError, Notification, PayOrder, RefundOrder, RefundReply, StatusReply, format_gmt7,
};

/// One merchant's settings.
#[derive(Clone)]
pub struct Settings {
    /// The pay page URL.
    pub pay_url: String,
    /// The merchant web API URL.
    pub api_url: String,
    /// `vnp_TmnCode`.
    pub tmn_code: String,
    /// `vnp_HashSecret`. Never printed.
    pub hash_secret: Vec<u8>,
    /// `vnp_IpAddr` of our API requests.
    pub ip_addr: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("pay_url", &self.pay_url)
            .field("api_url", &self.api_url)
            .field("tmn_code", &self.tmn_code)
            .field("hash_secret", &"<redacted>")
            .finish()
    }
}

/// A VNPay merchant client.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    settings: Arc<Settings>,
}

impl Client {
    /// A client; fails when a URL is not http(s).
    pub fn new(http: reqwest::Client, settings: Settings) -> Result<Self, AdapterError> {
        for u in [&settings.pay_url, &settings.api_url] {
            match reqwest::Url::parse(u) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => return Err(errors::config("a VNPay URL is not an http(s) URL")),
            }
        }
        Ok(Self {
            http,
            settings: Arc::new(settings),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The HTTP client.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// The signed pay URL the citizen is sent to.
    pub fn pay_url(&self, order: &PayOrder) -> String {
        let params = translate::pay_params(order, &self.settings.tmn_code);
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let canonical = auth::canonical_query(pairs.iter().copied());
        let hash = auth::hmac_sha512_hex(&self.settings.hash_secret, &canonical);
        let sep = if self.settings.pay_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}{canonical}&vnp_SecureHash={hash}",
            self.settings.pay_url
        )
    }

    /// Verifies a decoded IPN or return parameter set of this merchant and reads it.
    pub fn verify_notification(
        &self,
        params: &[(String, String)],
    ) -> Result<Notification, CallbackError> {
        let received = wire::param(params, "vnp_SecureHash");
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if !auth::verify_secure_hash(&self.settings.hash_secret, &pairs, received) {
            return Err(CallbackError::BadSignature);
        }
        let hash_type = wire::param(params, "vnp_SecureHashType");
        if !hash_type.is_empty() && !hash_type.eq_ignore_ascii_case("HmacSHA512") {
            return Err(CallbackError::BadSignature);
        }
        translate::notification(params)
    }

    /// `querydr`: the state of a payment whose pay URL was made at `transaction_date`
    /// (`yyyyMMddHHmmss`). A payment VNPay never saw (91) is `Pending`.
    pub async fn querydr(
        &self,
        txn_ref: &str,
        transaction_date: &str,
    ) -> Result<StatusReply, AdapterError> {
        let (v, _) = self.querydr_reply(txn_ref, transaction_date).await?;
        if wire::json_text(&v, "vnp_ResponseCode") == "91" {
            return Ok(StatusReply {
                amount_vnd: None,
                outcome: crate::canonical::payment::ProviderOutcome::Pending,
            });
        }
        Ok(translate::status_reply(&v))
    }

    /// Where a payment's latest refund stands, by `querydr`: `vnp_TransactionStatus` 05 or 06
    /// (VNPay is paying it back) is refunded, 09 (VNPay rejected it) failed; a payment without
    /// a refund (type 01) means the refund never reached VNPay.
    pub async fn refund_progress(
        &self,
        txn_ref: &str,
        transaction_date: &str,
    ) -> Result<RefundReply, AdapterError> {
        let (v, raw) = self.querydr_reply(txn_ref, transaction_date).await?;
        Ok(RefundReply {
            code: wire::json_text(&v, "vnp_ResponseCode"),
            outcome: translate::refund_progress(&v),
            raw,
        })
    }

    /// A verified `querydr` reply (00 or 91) and its raw text.
    async fn querydr_reply(
        &self,
        txn_ref: &str,
        transaction_date: &str,
    ) -> Result<(serde_json::Value, String), AdapterError> {
        let s = &self.settings;
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let create_date = format_gmt7(time::OffsetDateTime::now_utc());
        let order_info = format!("Truy van giao dich {txn_ref}");
        let hash = auth::pipe_hash(
            &s.hash_secret,
            &[
                &request_id,
                wire::VERSION,
                "querydr",
                &s.tmn_code,
                txn_ref,
                transaction_date,
                &create_date,
                &s.ip_addr,
                &order_info,
            ],
        );
        let req = wire::QuerydrRequest {
            vnp_RequestId: request_id,
            vnp_Version: wire::VERSION.into(),
            vnp_Command: "querydr".into(),
            vnp_TmnCode: s.tmn_code.clone(),
            vnp_TxnRef: txn_ref.into(),
            vnp_OrderInfo: order_info,
            vnp_TransactionDate: transaction_date.into(),
            vnp_CreateDate: create_date,
            vnp_IpAddr: s.ip_addr.clone(),
            vnp_SecureHash: hash,
        };
        let (v, raw) = self.merchant_api(&req, "querydr").await?;
        let code = wire::json_text(&v, "vnp_ResponseCode");
        if code != "00" && code != "91" {
            return Err(errors::from_response_code(&code));
        }
        self.check_reply(&v, txn_ref, "querydr")?;
        Ok((v, raw))
    }

    /// `refund`: asks VNPay to send money of a paid payment back (`vnp_TransactionType` 02 in
    /// full, 03 in part). 00 is refunded; 94 (the request id was seen: an earlier attempt
    /// arrived) is pending, to be asked with [`Client::refund_progress`]; any other code is a
    /// refusal. A success must carry VNPay's signature; a refusal's, when it has one, must be
    /// right.
    pub async fn refund(&self, order: &RefundOrder) -> Result<RefundReply, AdapterError> {
        let s = &self.settings;
        let create_date = format_gmt7(time::OffsetDateTime::now_utc());
        let transaction_type = if order.full { "02" } else { "03" };
        let amount = order.amount_vnd.saturating_mul(100).to_string();
        let order_info: String = crate::canonical::payment::ascii_fold(&format!(
            "Hoan tien {}: {}",
            order.txn_ref, order.reason
        ))
        .chars()
        .take(255)
        .collect();
        let created_by: String = order.created_by.chars().take(250).collect();
        let hash = auth::pipe_hash(
            &s.hash_secret,
            &[
                &order.request_id,
                wire::VERSION,
                "refund",
                &s.tmn_code,
                transaction_type,
                &order.txn_ref,
                &amount,
                &order.transaction_no,
                &order.transaction_date,
                &created_by,
                &create_date,
                &s.ip_addr,
                &order_info,
            ],
        );
        let req = wire::RefundRequest {
            vnp_RequestId: order.request_id.clone(),
            vnp_Version: wire::VERSION.into(),
            vnp_Command: "refund".into(),
            vnp_TmnCode: s.tmn_code.clone(),
            vnp_TransactionType: transaction_type.into(),
            vnp_TxnRef: order.txn_ref.clone(),
            vnp_Amount: amount,
            vnp_TransactionNo: order.transaction_no.clone(),
            vnp_TransactionDate: order.transaction_date.clone(),
            vnp_CreateBy: created_by,
            vnp_CreateDate: create_date,
            vnp_IpAddr: s.ip_addr.clone(),
            vnp_OrderInfo: order_info,
            vnp_SecureHash: hash,
        };
        let (v, raw) = self.merchant_api(&req, "refund").await?;
        let code = wire::json_text(&v, "vnp_ResponseCode");
        let signed = !wire::json_text(&v, "vnp_SecureHash").is_empty();
        if code == "00" || code == "94" || signed {
            self.check_reply(&v, &order.txn_ref, "refund")?;
        }
        Ok(RefundReply {
            outcome: translate::refund_answer(&code, &v),
            code,
            raw,
        })
    }

    /// Posts a merchant-API request; the reply as JSON and as received.
    async fn merchant_api(
        &self,
        req: &impl serde::Serialize,
        what: &str,
    ) -> Result<(serde_json::Value, String), AdapterError> {
        let request = self.http.post(&self.settings.api_url).json(req);
        let resp = crate::trace::propagate(request)
            .send()
            .await
            .map_err(|e| errors::from_transport(&e))?;
        let reply = crate::reply::Reply::read(resp, 256 * 1024).await?;
        if reply.status != 200 {
            return Err(errors::from_status(reply.status));
        }
        let v: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|_| errors::protocol(format!("the {what} reply is not JSON")))?;
        Ok((v, String::from_utf8_lossy(&reply.body).into_owned()))
    }

    /// Checks a merchant-API reply's signature and that it is about `txn_ref`.
    fn check_reply(
        &self,
        v: &serde_json::Value,
        txn_ref: &str,
        what: &str,
    ) -> Result<(), AdapterError> {
        let values: Vec<String> = wire::REPLY_SIGNED_FIELDS
            .iter()
            .map(|k| wire::json_text(v, k))
            .collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let expected = auth::pipe_hash(&self.settings.hash_secret, &refs);
        if !auth::hex_eq(&expected, &wire::json_text(v, "vnp_SecureHash")) {
            return Err(errors::protocol(format!(
                "the {what} reply's checksum is wrong"
            )));
        }
        if wire::json_text(v, "vnp_TxnRef") != txn_ref {
            return Err(errors::protocol(format!(
                "the {what} reply is about another payment"
            )));
        }
        Ok(())
    }
}
