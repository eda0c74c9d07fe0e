//! The IPN (server-to-server notification) and the misbehaviour scenarios.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};

use super::outbound::{self, current, now_ms};
use super::sign::{self, HASH_TYPE};
use super::{IpnAttempt, Order, Outcome, Shared};

/// How VNPay delivers the IPN of the next completed payments (`ipn_mode` of the scenario).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpnMode {
    /// One IPN, retried per the schedule until the merchant answers 00 or 02.
    Normal,
    /// The same IPN sent `duplicates` times at once (then retried like `normal` if none was accepted).
    Duplicate,
    /// The IPN sent `ipn_delay_ms` after the customer was redirected back.
    Late,
    /// No IPN at all: the merchant must query (`querydr`).
    None,
    /// An IPN whose `vnp_SecureHash` is wrong (signed with another key), retried per the schedule.
    BadSignature,
    /// A correctly signed IPN whose `vnp_Amount` is 100 000 (1 000 VND) more than the order's.
    WrongAmount,
    /// Two IPNs for one paid order in a misleading order (see [`OutOfOrder`]).
    OutOfOrder,
}

/// The sequence of `ipn_mode: out_of_order` (key `out_of_order`), for a paid order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutOfOrder {
    /// `fail_first` (default): a failure IPN (24/02) first, then the success IPN.
    FailFirst,
    /// `stale_failure`: the success IPN, then a stale failure IPN (24/02) for the same order.
    StaleFailure,
}

/// The vnpay scenario, read from the shared scenario JSON (`PUT /__admin/scenario`) when a
/// customer makes a choice or a statement is fetched. Every key is optional; other keys are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// `ipn_mode`: normal | duplicate | late | none | bad_signature | wrong_amount | out_of_order.
    pub ipn_mode: IpnMode,
    /// `ipn_delay_ms` (mode `late`, default 2 000).
    pub ipn_delay_ms: u64,
    /// `duplicates`: copies sent at once (mode `duplicate`, default 3).
    pub duplicates: u32,
    /// `out_of_order`: `fail_first` | `stale_failure` (mode `out_of_order`).
    pub out_of_order: OutOfOrder,
    /// `ipn_retries`: retry delays in ms, replacing the configured schedule.
    pub ipn_retries: Option<Vec<u64>>,
    /// `ipn_timeout_ms`: replaces the configured answer timeout.
    pub ipn_timeout_ms: Option<u64>,
    /// `ipn_url`: sends every merchant's IPN here instead.
    pub ipn_url: Option<String>,
    /// `statement_discrepancies`: any of `extra_paid`, `changed_amount`, `duplicate_line`.
    pub statement_discrepancies: Vec<String>,
    /// `querydr_omit_amount`: `querydr` answers without `vnp_Amount` (a merchant must then not
    /// settle a payment from it).
    pub querydr_omit_amount: bool,
    /// `refund_response_code`: every refund is answered with this `vnp_ResponseCode` (e.g.
    /// `94`, `99`) and refunds nothing.
    pub refund_response_code: Option<String>,
    /// `refund_delay_ms`: a refund is made, then answered this late (a merchant that gives up
    /// waiting must not refund it again).
    pub refund_delay_ms: u64,
    /// `refund_status`: the `vnp_TransactionStatus` `querydr` shows for a refunded payment:
    /// `05` (default) or `06` in progress, `09` rejected.
    pub refund_status: String,
}

#[derive(Deserialize)]
struct RawScenario {
    ipn_mode: Option<String>,
    ipn_delay_ms: Option<u64>,
    duplicates: Option<u32>,
    out_of_order: Option<String>,
    ipn_retries: Option<Vec<u64>>,
    ipn_timeout_ms: Option<u64>,
    ipn_url: Option<String>,
    statement_discrepancies: Option<Vec<String>>,
    querydr_omit_amount: Option<bool>,
    refund_response_code: Option<String>,
    refund_delay_ms: Option<u64>,
    refund_status: Option<String>,
}

impl Scenario {
    /// Reads the scenario; an error names the bad key.
    pub fn from_value(v: &serde_json::Value) -> Result<Scenario, String> {
        let raw: RawScenario =
            serde_json::from_value(v.clone()).map_err(|e| format!("vnpay scenario: {e}"))?;
        let ipn_mode = match raw.ipn_mode.as_deref().unwrap_or("normal") {
            "normal" => IpnMode::Normal,
            "duplicate" => IpnMode::Duplicate,
            "late" => IpnMode::Late,
            "none" => IpnMode::None,
            "bad_signature" => IpnMode::BadSignature,
            "wrong_amount" => IpnMode::WrongAmount,
            "out_of_order" => IpnMode::OutOfOrder,
            other => return Err(format!("vnpay scenario: unknown ipn_mode {other:?}")),
        };
        let out_of_order = match raw.out_of_order.as_deref().unwrap_or("fail_first") {
            "fail_first" => OutOfOrder::FailFirst,
            "stale_failure" => OutOfOrder::StaleFailure,
            other => return Err(format!("vnpay scenario: unknown out_of_order {other:?}")),
        };
        let statement_discrepancies = raw.statement_discrepancies.unwrap_or_default();
        if let Some(bad) = statement_discrepancies.iter().find(|d| {
            !matches!(
                d.as_str(),
                "extra_paid" | "changed_amount" | "duplicate_line"
            )
        }) {
            return Err(format!(
                "vnpay scenario: unknown statement discrepancy {bad:?}"
            ));
        }
        let duplicates = raw.duplicates.unwrap_or(3);
        if duplicates == 0 || duplicates > 100 {
            return Err("vnpay scenario: duplicates must be 1–100".to_owned());
        }
        if let Some(url) = &raw.ipn_url
            && !url.starts_with("http://")
        {
            return Err("vnpay scenario: ipn_url must be an http:// URL".to_owned());
        }
        if let Some(code) = &raw.refund_response_code
            && !(code.len() == 2 && code.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err("vnpay scenario: refund_response_code must be two digits".to_owned());
        }
        let refund_status = raw.refund_status.unwrap_or_else(|| "05".to_owned());
        if !matches!(refund_status.as_str(), "05" | "06" | "09") {
            return Err("vnpay scenario: refund_status must be 05, 06 or 09".to_owned());
        }
        Ok(Scenario {
            refund_response_code: raw.refund_response_code,
            refund_delay_ms: raw.refund_delay_ms.unwrap_or(0),
            refund_status,
            ipn_mode,
            ipn_delay_ms: raw.ipn_delay_ms.unwrap_or(2_000),
            duplicates,
            out_of_order,
            ipn_retries: raw.ipn_retries,
            ipn_timeout_ms: raw.ipn_timeout_ms,
            ipn_url: raw.ipn_url,
            statement_discrepancies,
            querydr_omit_amount: raw.querydr_omit_amount.unwrap_or(false),
        })
    }

    fn mode_name(&self) -> String {
        match &self.ipn_mode {
            IpnMode::OutOfOrder => match self.out_of_order {
                OutOfOrder::FailFirst => "out_of_order/fail_first".to_owned(),
                OutOfOrder::StaleFailure => "out_of_order/stale_failure".to_owned(),
            },
            m => serde_json::to_value(m)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}

/// The result parameters VNPay sends on the return URL and in the IPN (without the hash).
pub(crate) fn result_params(
    order: &Order,
    outcome: &Outcome,
    amount: u64,
) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("vnp_Amount", amount.to_string()),
        ("vnp_BankCode", outcome.bank_code.clone()),
        ("vnp_CardType", outcome.card_type.clone()),
        ("vnp_OrderInfo", order.order_info.clone()),
        ("vnp_PayDate", outcome.pay_date.clone()),
        ("vnp_ResponseCode", outcome.response_code.to_owned()),
        ("vnp_TmnCode", order.tmn_code.clone()),
        ("vnp_TransactionNo", outcome.transaction_no.to_string()),
        (
            "vnp_TransactionStatus",
            outcome.transaction_status.to_owned(),
        ),
        ("vnp_TxnRef", order.txn_ref.clone()),
    ];
    if let Some(b) = &outcome.bank_tran_no {
        p.push(("vnp_BankTranNo", b.clone()));
    }
    p
}

/// A signed IPN query string.
fn ipn_query(
    secret: &str,
    order: &Order,
    outcome: &Outcome,
    amount: u64,
    bad_signature: bool,
) -> String {
    let mut p = result_params(order, outcome, amount);
    p.push(("vnp_SecureHashType", HASH_TYPE.to_owned()));
    let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let key = if bad_signature {
        format!("not-{secret}")
    } else {
        secret.to_owned()
    };
    sign::signed_query(&key, &pairs)
}

/// One IPN to send.
#[derive(Clone)]
struct Message {
    url: String,
    response_code: String,
    kind: &'static str,
}

/// Everything an IPN task needs, computed when the choice is made.
pub(crate) struct Plan {
    view: PlanView,
    scenario: Scenario,
    retries: Vec<u64>,
    real: Message,
    extra_failure: Option<Message>,
}

impl Plan {
    /// Builds the IPN plan of a completed order, or `None` when the mode sends nothing.
    pub(crate) fn new(
        shared: &Shared,
        scenario: Scenario,
        order: &Order,
        outcome: &Outcome,
    ) -> Option<Plan> {
        if scenario.ipn_mode == IpnMode::None {
            return None;
        }
        let merchant = shared.merchant(&order.tmn_code)?;
        let base = scenario
            .ipn_url
            .clone()
            .unwrap_or_else(|| merchant.ipn_url.clone());
        let sep = if base.contains('?') { '&' } else { '?' };
        let amount = if scenario.ipn_mode == IpnMode::WrongAmount {
            order.amount + 100_000
        } else {
            order.amount
        };
        let bad = scenario.ipn_mode == IpnMode::BadSignature;
        let q = ipn_query(&merchant.hash_secret, order, outcome, amount, bad);
        let real = Message {
            url: format!("{base}{sep}{q}"),
            response_code: outcome.response_code.to_owned(),
            kind: "ipn",
        };
        let extra_failure =
            (scenario.ipn_mode == IpnMode::OutOfOrder && outcome.paid()).then(|| {
                let failure = Outcome {
                    response_code: "24",
                    transaction_status: "02",
                    transaction_no: 0,
                    bank_code: outcome.bank_code.clone(),
                    bank_tran_no: None,
                    card_type: outcome.card_type.clone(),
                    pay_date: outcome.pay_date.clone(),
                };
                let q = ipn_query(&merchant.hash_secret, order, &failure, order.amount, false);
                let kind = match scenario.out_of_order {
                    OutOfOrder::FailFirst => "early_failure",
                    OutOfOrder::StaleFailure => "stale_failure",
                };
                Message {
                    url: format!("{base}{sep}{q}"),
                    response_code: "24".to_owned(),
                    kind,
                }
            });
        Some(Plan {
            view: PlanView {
                generation: shared.generation.load(Ordering::SeqCst),
                tmn_code: order.tmn_code.clone(),
                txn_ref: order.txn_ref.clone(),
                mode: scenario.mode_name(),
                timeout: scenario
                    .ipn_timeout_ms
                    .map(|ms| Duration::from_millis(ms.max(1)))
                    .unwrap_or(shared.ipn_timeout),
            },
            retries: scenario
                .ipn_retries
                .clone()
                .unwrap_or_else(|| shared.ipn_retries.clone()),
            scenario,
            real,
            extra_failure,
        })
    }
}

/// Runs a plan in the background. The task stops when the mock is reset or dropped.
pub(crate) fn spawn(shared: &Arc<Shared>, plan: Plan) {
    let weak = Arc::downgrade(shared);
    let generation = plan.view.generation;
    tokio::spawn(async move {
        run(weak, generation, plan).await;
    });
}

async fn run(weak: Weak<Shared>, generation: u64, plan: Plan) {
    match (&plan.scenario.ipn_mode, plan.scenario.out_of_order) {
        (IpnMode::Late, _) => {
            tokio::time::sleep(Duration::from_millis(plan.scenario.ipn_delay_ms)).await;
            deliver(&weak, generation, &plan, &plan.real, 1).await;
        }
        (IpnMode::Duplicate, _) => {
            deliver(
                &weak,
                generation,
                &plan,
                &plan.real,
                plan.scenario.duplicates,
            )
            .await;
        }
        (IpnMode::OutOfOrder, OutOfOrder::FailFirst) => {
            if let Some(extra) = &plan.extra_failure
                && let Some(s) = current(&weak, generation)
            {
                send(&s, &plan.view, extra, 1, 1).await;
            }
            deliver(&weak, generation, &plan, &plan.real, 1).await;
        }
        (IpnMode::OutOfOrder, OutOfOrder::StaleFailure) => {
            deliver(&weak, generation, &plan, &plan.real, 1).await;
            if let Some(extra) = &plan.extra_failure
                && let Some(s) = current(&weak, generation)
            {
                send(&s, &plan.view, extra, 1, 1).await;
            }
        }
        _ => {
            deliver(&weak, generation, &plan, &plan.real, 1).await;
        }
    }
}

/// Sends `msg` (first as `copies` concurrent copies), retrying per the plan until accepted.
async fn deliver(
    weak: &Weak<Shared>,
    generation: u64,
    plan: &Plan,
    msg: &Message,
    copies: u32,
) -> bool {
    outbound::deliver(
        weak,
        generation,
        &plan.retries,
        copies,
        |shared, number, copy| {
            let (msg, view) = (msg.clone(), plan.view.clone());
            async move { send(&shared, &view, &msg, number, copy).await }
        },
    )
    .await
}

/// The parts of a plan one send needs.
#[derive(Clone)]
struct PlanView {
    generation: u64,
    tmn_code: String,
    txn_ref: String,
    mode: String,
    timeout: Duration,
}

/// Sends one IPN and records the attempt; true when the merchant answered `RspCode` 00 or 02.
async fn send(shared: &Shared, plan: &PlanView, msg: &Message, attempt: u32, copy: u32) -> bool {
    let result = shared
        .outbound
        .send(Method::GET, &msg.url, None, plan.timeout)
        .await;
    let (status, body, error) = match result {
        Ok(a) => (Some(a.status), Some(a.body), None),
        Err(e) => (None, None, Some(e)),
    };
    let rsp_code = body
        .as_deref()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("RspCode").and_then(|c| c.as_str()).map(str::to_owned));
    let accepted = status == Some(200) && matches!(rsp_code.as_deref(), Some("00") | Some("02"));
    let at_ms = now_ms();
    let mut book = shared.book();
    if shared.generation.load(Ordering::SeqCst) != plan.generation {
        // The mock was reset while this IPN was in flight: it belongs to a forgotten past.
        return false;
    }
    let seq = book.ipn_log.len() as u64 + 1;
    let kind = if copy > 1 { "duplicate" } else { msg.kind };
    book.ipn_log.push(IpnAttempt {
        seq,
        at_ms,
        tmn_code: plan.tmn_code.clone(),
        txn_ref: plan.txn_ref.clone(),
        kind,
        mode: plan.mode.clone(),
        attempt,
        url: msg.url.clone(),
        response_code: msg.response_code.clone(),
        status,
        body,
        rsp_code,
        error,
        accepted,
    });
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_parses_and_refuses_typos() {
        let s = Scenario::from_value(&serde_json::json!({})).ok();
        assert_eq!(s.map(|s| s.ipn_mode), Some(IpnMode::Normal));
        let s = Scenario::from_value(
            &serde_json::json!({"ipn_mode": "duplicate", "duplicates": 5, "other_system_key": 1}),
        )
        .ok();
        assert_eq!(
            s.map(|s| (s.ipn_mode, s.duplicates)),
            Some((IpnMode::Duplicate, 5))
        );
        assert!(Scenario::from_value(&serde_json::json!({"ipn_mode": "dupliate"})).is_err());
        assert!(Scenario::from_value(&serde_json::json!({"ipn_delay_ms": "soon"})).is_err());
        assert!(
            Scenario::from_value(&serde_json::json!({"statement_discrepancies": ["nope"]}))
                .is_err()
        );
        assert!(Scenario::from_value(&serde_json::json!({"duplicates": 0})).is_err());
    }
}
