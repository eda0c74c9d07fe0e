//! VietQR transfers (`provider: "vietqr"`): an order is paid by an ordinary interbank transfer to
//! the agency's receiving account, started by scanning a NAPAS VietQR code. The code is dynamic:
//! it carries the amount and, as the transfer's purpose (`62/08`), the order's payment code, which
//! the receiving bank's credit notification (`credits.rs`) brings back in its description.
//!
//! No provider is called to open an order (there is no pay page), nor to query one: the receiving
//! bank says when money arrived; an order nobody paid expires.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use lienthong_adapters::AdapterError;
use lienthong_adapters::canonical::payment::{
    CallbackError, Notification, PayOrder, ProviderOutcome, StatusReply,
};
use lienthong_adapters::vietqr::TransferQr;
use serde::Deserialize;

use crate::auth::Identity;
use crate::config::{ConfigError, MIN_PARTNER_KEY_BYTES, SecretRef, valid_name};
use crate::error::ApiError;
use crate::store::{PaymentRecord, PaymentStatus, Store};

use super::provider::{Merchant, PaymentProvider};

/// The provider name VietQR orders are stored under.
pub const PROVIDER: &str = "vietqr";

/// `[payments.vietqr]`: the agencies' receiving accounts and the banks that report credits to them.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VietQrConfig {
    /// One receiving account per agency. The first is the default.
    pub accounts: Vec<VietQrAccount>,
    /// The receiving banks: each signs its credit notifications with its own secret.
    pub banks: Vec<VietQrBank>,
}

/// An agency's receiving account.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VietQrAccount {
    /// The agency's code (orders name it in `agency`).
    pub agency: String,
    /// The code of the bank holding the account: one of `banks`, and the `{bank}` of
    /// `POST /v1/providers/bank/{bank}/credits`.
    pub bank: String,
    /// The bank's six-digit NAPAS acquirer BIN (e.g. `970415`).
    pub bin: String,
    /// The account number (1 to 19 letters or digits).
    pub account_no: String,
    /// The account holder's name, as the payer's banking app shows it.
    pub account_name: String,
}

/// A receiving bank.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VietQrBank {
    /// Its code (letters, digits, `-`, `_`, `.`).
    pub code: String,
    /// The key of the `Lienthong-Signature` on its credits (`env:NAME` or `file:PATH`, at least
    /// 16 bytes).
    pub credit_secret: SecretRef,
}

impl VietQrConfig {
    /// Checks the `[payments.vietqr]` table.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let key = "payments.vietqr";
        if self.accounts.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.accounts"),
                "list at least one account",
            ));
        }
        let mut banks = HashSet::new();
        for (i, b) in self.banks.iter().enumerate() {
            if !valid_name(&b.code) || !banks.insert(b.code.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{key}.banks[{i}].code"),
                    "bank codes use letters, digits, `-`, `_`, `.`, once each",
                ));
            }
        }
        let mut agencies = HashSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let k = |f: &str| format!("{key}.accounts[{i}].{f}");
            if !valid_name(&a.agency) || !agencies.insert(a.agency.as_str()) {
                return Err(ConfigError::invalid(
                    k("agency"),
                    "agency codes use letters, digits, `-`, `_`, `.`; an agency has one account",
                ));
            }
            if !banks.contains(a.bank.as_str()) {
                return Err(ConfigError::invalid(
                    k("bank"),
                    "must be the code of one of payments.vietqr.banks",
                ));
            }
            if a.bin.len() != 6 || !a.bin.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ConfigError::invalid(k("bin"), "a NAPAS BIN is 6 digits"));
            }
            if a.account_no.is_empty()
                || a.account_no.len() > 19
                || !a.account_no.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(ConfigError::invalid(
                    k("account_no"),
                    "must be 1 to 19 letters or digits",
                ));
            }
            let name = a.account_name.trim();
            if name.is_empty() || a.account_name.chars().count() > 100 {
                return Err(ConfigError::invalid(
                    k("account_name"),
                    "must be 1 to 100 characters",
                ));
            }
        }
        Ok(())
    }
}

/// VietQR, built from its config with the banks' secrets read.
pub struct VietQrProvider {
    /// The receiving accounts, the default first.
    pub accounts: Vec<VietQrAccount>,
    /// `(bank code, credit secret)`.
    banks: Vec<(String, Vec<u8>)>,
}

impl VietQrProvider {
    /// Reads the banks' secrets.
    pub fn build(cfg: &VietQrConfig) -> Result<VietQrProvider, ConfigError> {
        let mut banks = Vec::new();
        for (i, b) in cfg.banks.iter().enumerate() {
            let secret = b.credit_secret.resolve_key(
                &format!("payments.vietqr.banks[{i}].credit_secret"),
                MIN_PARTNER_KEY_BYTES,
            )?;
            banks.push((b.code.clone(), secret));
        }
        Ok(VietQrProvider {
            accounts: cfg.accounts.clone(),
            banks,
        })
    }

    /// The credit secret of a bank.
    pub fn credit_secret(&self, bank: &str) -> Option<&[u8]> {
        self.banks
            .iter()
            .find(|(code, _)| code == bank)
            .map(|(_, s)| s.as_slice())
    }

    /// The account of an agency.
    pub fn account_of(&self, agency: &str) -> Option<&VietQrAccount> {
        self.accounts.iter().find(|a| a.agency == agency)
    }

    /// The receiving accounts held at `bank`.
    pub fn accounts_at(&self, bank: &str) -> Vec<&VietQrAccount> {
        self.accounts.iter().filter(|a| a.bank == bank).collect()
    }
}

#[async_trait]
impl PaymentProvider for VietQrProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    /// The merchant code of an account is its account number.
    fn merchants(&self) -> Vec<Merchant> {
        self.accounts
            .iter()
            .map(|a| Merchant {
                agency: a.agency.clone(),
                code: a.account_no.clone(),
            })
            .collect()
    }

    /// Nothing to open: the citizen scans the code. No pay URL.
    async fn open(&self, _merchant: &str, _order: &PayOrder) -> Result<String, AdapterError> {
        Ok(String::new())
    }

    /// Credits come signed by the receiving bank to their own endpoint, never here.
    fn verify(&self, _raw: &[u8]) -> Result<Notification, CallbackError> {
        Err(CallbackError::BadSignature)
    }

    /// No one to ask: pending until the bank reports a credit, then expired.
    async fn query(&self, _p: &PaymentRecord) -> Result<StatusReply, AdapterError> {
        Ok(StatusReply {
            amount_vnd: None,
            outcome: ProviderOutcome::Pending,
        })
    }

    fn allowed_source(&self, _ip: IpAddr) -> bool {
        true
    }
}

/// The NAPAS payload of an order: dynamic, its amount, its payment code as the purpose.
pub fn payload(account: &VietQrAccount, p: &PaymentRecord) -> Option<String> {
    TransferQr {
        acquirer_bin: account.bin.clone(),
        account_no: account.account_no.clone(),
        to_card: false,
        amount_vnd: u64::try_from(p.amount_vnd).ok(),
        purpose: p.payment_code.clone(),
    }
    .payload()
    .ok()
}

/// The `vietqr` object of a VietQR order (none for other providers or an unknown account).
pub fn transfer_json(
    provider: Option<&VietQrProvider>,
    p: &PaymentRecord,
) -> Option<serde_json::Value> {
    if p.provider != PROVIDER {
        return None;
    }
    let account = provider?.account_of(&p.agency)?;
    Some(serde_json::json!({
        "payload": payload(account, p)?,
        "bin": account.bin,
        "account_no": account.account_no,
        "account_name": account.account_name,
        "amount_vnd": p.amount_vnd,
        "payment_code": p.payment_code,
    }))
}

/// The payload of the caller's own VietQR order while it awaits payment, or 404.
async fn own_payload(
    svc: &super::PaymentsService,
    store: &dyn Store,
    identity: &Identity,
    id: &str,
) -> Result<String, ApiError> {
    let p = super::own_payment(store, identity, id).await?;
    let not_found = || {
        ApiError::new(crate::error::ErrorCode::NotFound).with_detail(
            "Khoản nộp này không chờ thanh toán bằng VietQR.",
            "This payment is not awaiting a VietQR transfer.",
        )
    };
    // A paid, expired or failed order has nothing left to pay: no code that would take money
    // again.
    if p.status != PaymentStatus::Pending {
        return Err(not_found());
    }
    let account = svc
        .vietqr
        .as_deref()
        .filter(|_| p.provider == PROVIDER)
        .and_then(|v| v.account_of(&p.agency))
        .ok_or_else(not_found)?;
    payload(account, &p).ok_or_else(not_found)
}

fn image(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (http::header::CONTENT_TYPE, content_type),
            // The order is the caller's own: no shared cache keeps it.
            (http::header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
        .into_response()
}

fn too_long() -> ApiError {
    ApiError::new(crate::error::ErrorCode::Internal)
}

/// `GET /v1/payments/{id}/qr.svg` → the order's VietQR code as SVG.
pub async fn qr_svg(
    crate::services::Live(svc): crate::services::Live<super::PaymentsService>,
    State(store): State<Arc<dyn Store>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let text = own_payload(&svc, store.as_ref(), &identity, &id).await?;
    let svg = crate::qr_image::svg(&text, 256).map_err(|_| too_long())?;
    Ok(image("image/svg+xml", svg.into_bytes()))
}

/// `GET /v1/payments/{id}/qr.png` → the order's VietQR code as PNG.
pub async fn qr_png(
    crate::services::Live(svc): crate::services::Live<super::PaymentsService>,
    State(store): State<Arc<dyn Store>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let text = own_payload(&svc, store.as_ref(), &identity, &id).await?;
    let png = crate::qr_image::png(&text, 8).map_err(|_| too_long())?;
    Ok(image("image/png", png))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> VietQrConfig {
        toml::from_str(toml_text).expect("parses")
    }

    const GOOD: &str = r#"
accounts = [{ agency = "so-tu-phap", bank = "demo-bank", bin = "970415", account_no = "1234567890", account_name = "TT PHUC VU HANH CHINH CONG" }]
banks = [{ code = "demo-bank", credit_secret = "env:LIENTHONG_TEST_UNSET" }]
"#;

    #[test]
    fn a_good_table_passes_and_each_fault_is_named_by_its_key() {
        config(GOOD).validate().expect("valid");
        for (from, to, key) in [
            ("970415", "97041", "payments.vietqr.accounts[0].bin"),
            (
                "\"1234567890\"",
                "\"12-34\"",
                "payments.vietqr.accounts[0].account_no",
            ),
            (
                "bank = \"demo-bank\"",
                "bank = \"other\"",
                "payments.vietqr.accounts[0].bank",
            ),
            (
                "\"TT PHUC VU HANH CHINH CONG\"",
                "\" \"",
                "payments.vietqr.accounts[0].account_name",
            ),
        ] {
            let e = config(&GOOD.replacen(from, to, 1))
                .validate()
                .expect_err(key);
            assert!(
                matches!(&e, ConfigError::Invalid { key: k, .. } if k == key),
                "{e:?}"
            );
        }
        let two = GOOD.replace(
            "}]\nbanks",
            "}, { agency = \"so-tu-phap\", bank = \"demo-bank\", bin = \"970415\", account_no = \"9\", account_name = \"X\" }]\nbanks",
        );
        let e = config(&two).validate().expect_err("two accounts");
        assert!(
            matches!(&e, ConfigError::Invalid { key, .. } if key == "payments.vietqr.accounts[1].agency"),
            "{e:?}"
        );
    }
}
