//! The national payment platform (`schemas/payment-platform/README.md`): `Init` opens a payment and
//! returns its pay URL, `GetBill` reads its state, the platform POSTs a signed `Confirm` callback.
//! Every message carries `MaXacThuc`; a wrong one is refused (public client code forgets to).
//! `Refund` is ours (the platform publishes none; its README §2.3 describes it): the
//! same request id (`MaYeuCau`) sent again gets the first answer, never a second refund.
//! One [`Client`] per partner (`MaDoiTac`).

pub mod auth;
pub mod errors;
pub mod health;
pub mod statement;
pub mod translate;
pub mod wire;

use std::fmt;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::AdapterError;
use crate::canonical::payment::{
    CallbackError, Notification, PayOrder, ProviderOutcome, RefundOrder, RefundOutcome,
    RefundReply, StatusReply, format_gmt7,
};
use wire::json_text;

/// One partner's settings.
#[derive(Clone)]
pub struct Settings {
    /// The message endpoint (`…/api/v1/payment`).
    pub api_url: String,
    /// `MaDoiTac`.
    pub ma_doi_tac: String,
    /// The hash key. Never printed.
    pub hash_key: Vec<u8>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("api_url", &self.api_url)
            .field("ma_doi_tac", &self.ma_doi_tac)
            .field("hash_key", &"<redacted>")
            .finish()
    }
}

/// A platform partner client.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    settings: Arc<Settings>,
}

impl Client {
    /// A client; fails when the URL is not http(s).
    pub fn new(http: reqwest::Client, settings: Settings) -> Result<Self, AdapterError> {
        match reqwest::Url::parse(&settings.api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(errors::config("the platform URL is not an http(s) URL")),
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

    fn sign(&self, msg: &mut Value, fields: &[&str]) {
        let values = wire::signed_values(msg, fields);
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        msg["MaXacThuc"] = auth::ma_xac_thuc(&refs, &self.settings.hash_key).into();
    }

    fn verified(&self, msg: &Value, fields: &[&str]) -> bool {
        let values = wire::signed_values(msg, fields);
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        auth::verify(&refs, &self.settings.hash_key, &json_text(msg, "MaXacThuc"))
    }

    async fn post(&self, msg: &Value) -> Result<Value, AdapterError> {
        let request = self.http.post(&self.settings.api_url).json(msg);
        let resp = crate::trace::propagate(request)
            .send()
            .await
            .map_err(|e| errors::from_transport(&e))?;
        let reply = crate::reply::Reply::read(resp, 256 * 1024).await?;
        if reply.status != 200 {
            return Err(errors::from_status(reply.status));
        }
        serde_json::from_slice(&reply.body).map_err(|_| errors::protocol("the reply is not JSON"))
    }

    /// `Init`: opens the payment and returns the platform's pay URL.
    pub async fn init(&self, order: &PayOrder) -> Result<String, AdapterError> {
        let mut msg = translate::init_message(order, &self.settings.ma_doi_tac);
        self.sign(&mut msg, &wire::INIT_SIGNED);
        let outer = self.post(&msg).await?;
        let inner: Value = match outer.get("message") {
            Some(Value::String(s)) => serde_json::from_str(s)
                .map_err(|_| errors::protocol("the Init reply's message is not JSON"))?,
            Some(v @ Value::Object(_)) => v.clone(),
            _ => return Err(errors::protocol("the Init reply has no message")),
        };
        let code = json_text(&inner, "MaLoi");
        if code != "00" {
            return Err(errors::from_ma_loi(&code));
        }
        if !self.verified(&inner, &wire::SHORT_REPLY_SIGNED) {
            return Err(errors::protocol("the Init reply's MaXacThuc is wrong"));
        }
        if json_text(&inner, "MaThamChieu") != order.txn_ref {
            return Err(errors::protocol("the Init reply is about another payment"));
        }
        let url = json_text(&inner, "UrlThanhToan");
        if url.is_empty() {
            return Err(errors::protocol("the Init reply has no UrlThanhToan"));
        }
        Ok(url)
    }

    /// `GetBill`: the state of the payment opened at `created` (`ThoiGianGD` of its Init).
    pub async fn get_bill(
        &self,
        txn_ref: &str,
        created: &str,
    ) -> Result<StatusReply, AdapterError> {
        let mut msg = json!({
            "LoaiBanTin": "GetBill",
            "PhienBan": wire::VERSION,
            "MaDoiTac": self.settings.ma_doi_tac,
            "MaThamChieu": txn_ref,
            "ThoiGianGD": created,
        });
        self.sign(&mut msg, &wire::GETBILL_SIGNED);
        let reply = self.post(&msg).await?;
        let code = json_text(&reply, "MaLoi");
        if code == "03" {
            return Ok(StatusReply {
                amount_vnd: None,
                outcome: ProviderOutcome::Pending,
            });
        }
        if code != "00" {
            return Err(errors::from_ma_loi(&code));
        }
        let mut fields: Vec<&str> = wire::CONFIRM_SIGNED.to_vec();
        fields.push("TrangThaiGD");
        if !self.verified(&reply, &fields) {
            return Err(errors::protocol("the GetBill reply's MaXacThuc is wrong"));
        }
        if json_text(&reply, "MaThamChieu") != txn_ref {
            return Err(errors::protocol(
                "the GetBill reply is about another payment",
            ));
        }
        Ok(translate::get_bill(&reply))
    }

    /// `Refund` *(ours)*: sends money of a paid payment back. `MaLoi` 00 is refunded, any other
    /// a refusal; a refusal's `MaXacThuc` is checked when the platform knew us (not on 01/04).
    /// Sending the same `MaYeuCau` again is safe: the platform answers as the first time.
    pub async fn refund(&self, order: &RefundOrder) -> Result<RefundReply, AdapterError> {
        let mut msg = json!({
            "LoaiBanTin": "Refund",
            "PhienBan": wire::VERSION,
            "MaDoiTac": self.settings.ma_doi_tac,
            "MaThamChieu": order.txn_ref,
            "MaYeuCau": order.request_id,
            "SoTien": order.amount_vnd.to_string(),
            "MaGiaoDich": order.transaction_no,
            "ThoiGianGD": format_gmt7(time::OffsetDateTime::now_utc()),
            "NoiDung": crate::canonical::payment::ascii_fold(&order.reason),
        });
        self.sign(&mut msg, &wire::REFUND_SIGNED);
        let reply = self.post(&msg).await?;
        let code = json_text(&reply, "MaLoi");
        let trusted = if matches!(code.as_str(), "01" | "04") {
            true
        } else {
            self.verified(&reply, &wire::REFUND_REPLY_SIGNED)
        };
        if !trusted {
            return Err(errors::protocol("the Refund reply's MaXacThuc is wrong"));
        }
        if code == "00" && json_text(&reply, "MaYeuCau") != order.request_id {
            return Err(errors::protocol("the Refund reply is about another refund"));
        }
        let outcome = match code.as_str() {
            "00" => RefundOutcome::Refunded {
                transaction_no: Some(json_text(&reply, "MaGiaoDichHoanTien"))
                    .filter(|n| !n.is_empty()),
            },
            other => RefundOutcome::Failed {
                code: other.to_owned(),
            },
        };
        Ok(RefundReply {
            code,
            outcome,
            raw: reply.to_string(),
        })
    }

    /// Verifies a `Confirm` callback of this partner and reads it.
    pub fn verify_callback(&self, msg: &Value) -> Result<Notification, CallbackError> {
        if !self.verified(msg, &wire::CONFIRM_SIGNED) {
            return Err(CallbackError::BadSignature);
        }
        translate::confirm(msg)
    }

    /// Our signed answer to a callback: `MaLoi` 00 accepts it (the platform stops resending).
    pub fn callback_reply(&self, callback: &Value, ma_loi: &str, mo_ta_loi: &str) -> Value {
        let mut reply = json!({
            "MaLoi": ma_loi,
            "MoTaLoi": mo_ta_loi,
            "MaDoiTac": json_text(callback, "MaDoiTac"),
            "MaThamChieu": json_text(callback, "MaThamChieu"),
            "ThoiGianGD": json_text(callback, "ThoiGianGD"),
        });
        self.sign(&mut reply, &wire::SHORT_REPLY_SIGNED);
        reply
    }
}
